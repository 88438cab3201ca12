"""MinHash near-duplicate removal: signatures, connected components, the step."""
