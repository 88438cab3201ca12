"""The recipe: its schema, validation before a run, and the registry of steps it can name."""
