"""Deduplication: exact text, URL, lines (C4) and MinHash near-duplicates."""
