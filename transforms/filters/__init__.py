"""Filters: URL, language, Gopher, C4, FineWeb, RefinedWeb rules and the fastText quality model."""
