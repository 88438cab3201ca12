"""The shipped recipes (YAML), installed as package data of ``thresher.recipes``."""
