"""Running a recipe: the builder (recipe -> Beam graph), runner presets, progress, logs, failures."""
