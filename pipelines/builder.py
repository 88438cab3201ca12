"""Recipe -> Beam graph.

The graph reads every input, applies the steps in order, writes the kept
documents to ``OUT/data/``, optionally the rejected ones to ``OUT/rejected/``,
every error record to ``OUT/errors/``, and finally ``OUT/stats.json`` and
``OUT/_SUCCESS``. Counts come from the PCollections themselves (not from
runner metrics), so the accounting is exact on any runner, retries included.
"""
from __future__ import annotations

from typing import Any, Dict, List

import apache_beam as beam

from pipelines.recipe import Recipe
from pipelines.registry import STEPS
from pipelines.report import FinalizeRun
from transforms.base import ERRORS, KEPT, REJECTED, REPORT, flatten_or_empty
from transforms.sinks import WriteDocuments, WriteJsonRecords
from transforms.sources import ReadDocuments

#: annotations every source may add
SOURCE_ANNOTATIONS = {"content_type": "string", "charset": "string", "file": "string", "offset": "int64"}
REJECTED_ANNOTATIONS = {"drop_step": "string", "drop_reason": "string"}
#: steps that shrink documents a lot (HTML -> text): redistribute work after them
RESHUFFLE_AFTER = frozenset({"extract"})


def output_dirs(root: str) -> Dict[str, str]:
    from apache_beam.io.filesystems import FileSystems
    return {kind: FileSystems.join(root, kind) for kind in ("data", "rejected", "errors")}


def declared_annotations(recipe: Recipe) -> Dict[str, str]:
    annotations = dict(SOURCE_ANNOTATIONS)
    for spec in recipe.steps:
        annotations.update(getattr(STEPS[spec.step], "ANNOTATIONS", {}))
        if spec.params.get("dry_run"):  # FilterStep: the reason it would have dropped
            annotations[f"{spec.step}_drop"] = "string"
    return annotations


def _count(pcoll, label: str, key_fn):
    """(key, n) pairs counting ``pcoll`` by ``key_fn``."""
    return (pcoll
            | f"{label} key" >> beam.Map(lambda x: (key_fn(x), 1))
            | f"{label} count" >> beam.CombinePerKey(sum))


def build(pipeline: beam.Pipeline, recipe: Recipe) -> None:
    """Add the whole recipe to ``pipeline``."""
    out = recipe.output
    dirs = output_dirs(out.path)
    counts: List[beam.PCollection] = []
    errors: List[beam.PCollection] = []
    rejected: List[beam.PCollection] = []

    sources = []
    for name, inp in recipe.inputs.items():
        read = pipeline | f"read_{name}" >> ReadDocuments(
            source=name, paths=inp.paths, format=inp.format, text_field=inp.text_field,
            id_field=inp.id_field, url_field=inp.url_field, date_field=inp.date_field)
        sources.append(read[KEPT])
        errors.append(read[ERRORS])
        counts.append(_count(read[KEPT], f"count read_{name} docs", lambda d, n=name: ("read", n, "docs")))
        counts.append(_count(read[ERRORS], f"count read_{name} errors", lambda e, n=name: ("read", n, "errors")))
    docs = flatten_or_empty(pipeline, sources, "all inputs")

    for spec in recipe.steps:
        step = STEPS[spec.step](**spec.params)
        result = docs | spec.label >> step
        index = spec.index
        counts.append(_count(result[KEPT], f"count {spec.label} out", lambda d, i=index: ("step", i, "out")))
        counts.append(_count(result[REJECTED], f"count {spec.label} dropped",
                             lambda d, i=index: ("step", i, "dropped", d.annotations.get("drop_reason", "?"))))
        counts.append(_count(result[ERRORS], f"count {spec.label} errors", lambda e, i=index: ("step", i, "errors")))
        if REPORT in result:  # step facts, e.g. whether clustering converged
            counts.append(result[REPORT]
                          | f"{spec.label} report" >> beam.Map(lambda kv, i=index: (("step", i, "report", kv[0]), kv[1]))
                          | f"{spec.label} report sum" >> beam.CombinePerKey(sum))
        errors.append(result[ERRORS])
        rejected.append(result[REJECTED])
        docs = result[KEPT]
        if spec.step in RESHUFFLE_AFTER:
            docs = docs | f"{spec.label} rebalance" >> beam.Reshuffle()

    annotations = declared_annotations(recipe)
    shard_bytes = int(out.shard_size_mb * (1 << 20))
    files = [docs | "write data" >> WriteDocuments(
        dirs["data"], out.format, annotations, shard_bytes, out.row_group_rows)
        | "tag data" >> beam.Map(_tag, "data")]

    if out.rejected.enabled:
        sample = out.rejected.sample_rate
        dropped = (flatten_or_empty(pipeline, rejected, "all rejected")
                   | "sample rejected" >> beam.Filter(_sampled, sample))
        files.append(dropped | "write rejected" >> WriteDocuments(
            dirs["rejected"], out.format, {**annotations, **REJECTED_ANNOTATIONS}, shard_bytes, out.row_group_rows)
            | "tag rejected" >> beam.Map(_tag, "rejected"))
    files.append(flatten_or_empty(pipeline, errors, "all errors")
                 | "write errors" >> WriteJsonRecords(dirs["errors"])
                 | "tag errors" >> beam.Map(_tag, "errors"))

    all_counts = (flatten_or_empty(pipeline, counts, "all counts")
                  | "counts to dict" >> beam.combiners.ToDict())
    all_files = flatten_or_empty(pipeline, files, "all files")
    (pipeline
     | "finalize trigger" >> beam.Create([None])
     | "finalize" >> beam.ParDo(
         FinalizeRun(out.path, run_summary(recipe)),
         beam.pvalue.AsSingleton(all_counts), beam.pvalue.AsList(all_files)))


def run_summary(recipe: Recipe) -> Dict[str, Any]:
    """What the report needs to know of the recipe."""
    return {
        "recipe": recipe.name or recipe.file,
        "inputs": list(recipe.inputs),
        "steps": [{"index": s.index, "step": s.step} for s in recipe.steps],
    }


def _tag(file_info: Dict[str, Any], kind: str) -> Dict[str, Any]:
    return {**file_info, "kind": kind}


def _sampled(doc, rate: float) -> bool:
    if rate >= 1.0:
        return True
    import xxhash
    return xxhash.xxh64_intdigest(doc.id.encode("utf-8", "surrogatepass")) / 2**64 < rate
