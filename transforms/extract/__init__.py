"""Extraction: HTML to main text."""
