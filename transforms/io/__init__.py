"""Reading documents (sources) and writing them (sinks, their columns in schema, ordered sink)."""
