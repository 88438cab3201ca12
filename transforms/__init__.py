"""Thresher's curation steps: each a Beam PTransform over Document records."""
