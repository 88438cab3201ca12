"""Selection over the corpus: decontamination against benchmarks, weighted mixing."""
