"""The run's token shards (``output.tokens``): the resolved configuration recorded in stats.json
(tokenizer identity, dtype, EOS id) and the ``WriteTokenShards`` sink on the final documents."""
from __future__ import annotations

from typing import Any, Dict

from thresher.pipelines.recipe.schema import Recipe
from thresher.pipelines.run.columns import declared_annotations

#: the provenance index's own columns: an annotation of the same name is not copied again
PROVENANCE_COLUMNS = frozenset({"shard", "doc_index", "token_offset", "token_length", "id", "source", "url",
                                "file", "offset"})


def tokens_dir(root: str) -> str:
    from apache_beam.io.filesystems import FileSystems
    return FileSystems.join(root, "tokens")


def provenance_annotations(recipe: Recipe) -> Dict[str, str]:
    """The typed annotations copied into the provenance index: ``output.tokens.annotations`` (every
    declared one when null), less those the index holds as its own columns (``file``, ``offset``)."""
    declared = declared_annotations(recipe)
    chosen = recipe.output.tokens.annotations
    names = list(declared) if chosen is None else [n for n in chosen if n in declared]
    return {name: declared[name] for name in names if name not in PROVENANCE_COLUMNS}


def token_sink(recipe: Recipe):
    """The ``WriteTokenShards`` sink ``output.tokens`` asks for, writing to ``OUT/tokens``."""
    from thresher.transforms.io.token_shards import WriteTokenShards
    spec = recipe.output.tokens
    return WriteTokenShards(tokens_dir(recipe.output.path), spec.tokenizer, format=spec.format,
                            shard_tokens=spec.shard_tokens, eos=spec.eos, eos_token=spec.eos_token, dtype=spec.dtype,
                            validation_fraction=spec.validation_fraction, seed=spec.seed,
                            annotations=provenance_annotations(recipe))


def token_config(recipe: Recipe, sink=None) -> Dict[str, Any]:
    """``output.tokens`` resolved, as the sink's manifest has it: the tokenizer's identity (path, sha256,
    vocabulary size), the dtype ``auto`` stands for, the EOS token's id and text (None without
    ``eos``), and the annotations copied into the provenance index. ``sink``: the run's
    ``token_sink(recipe)`` when it is already made (its tokenizer is then not read again)."""
    return {**(sink or token_sink(recipe)).manifest, "annotations": sorted(provenance_annotations(recipe))}


def write_tokens(docs, sink):
    """``docs | sink`` (a ``token_sink``): one file info per shard, tagged ``kind: tokens``."""
    import apache_beam as beam
    return (docs
            | "write tokens" >> sink
            | "tag tokens" >> beam.Map(lambda info: {**info, "kind": "tokens"}))
