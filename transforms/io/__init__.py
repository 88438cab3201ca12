"""Reading documents (sources) and writing them (sinks, ordered sink)."""
