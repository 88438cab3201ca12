"""Recipes, the builder that turns them into Beam pipelines, runners, CLI, report."""
