"""Recipe -> Beam graph.

The graph reads every input, applies the steps in order, writes the kept
documents to ``OUT/data/`` (unless ``output.format: none``) and, with
``output.tokens``, as token shards to ``OUT/tokens/``; optionally the rejected ones to ``OUT/rejected/``,
every error record to ``OUT/errors/``, and finally ``OUT/stats.json`` and
``OUT/_SUCCESS``. Counts come from the PCollections themselves (not from
runner metrics), so the accounting is exact on any runner, retries included.
"""
from __future__ import annotations

import time
from collections import Counter
from typing import Any, Dict, List, Optional, Tuple

import apache_beam as beam
import xxhash
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from thresher.pipelines.report.profile import ProfileAnnotations
from thresher.pipelines.recipe.plugins import step_class
from thresher.pipelines.recipe.schema import Recipe
from thresher.pipelines.recipe.registry import STEPS
from thresher.pipelines.run.columns import (declared_annotations, needs_metadata, output_columns,
                                            rejected_annotations)
from thresher.pipelines.run.prefix_cache import COUNTS, CachedPrefix, cache_prefix
from thresher.pipelines.run.token_output import token_config, token_sink, write_tokens
from thresher.pipelines.report import count_keys as keys
from thresher.pipelines.report.finalize import FinalizeRun
from thresher.transforms.base import ERRORS, KEPT, REJECTED, REPORT, SUMMARY, DocumentStep, flatten_or_empty
from thresher.transforms.document import Document
from thresher.transforms.io.ordered_sink import WriteOrderedDocuments
from thresher.transforms.io.rehydrate import Rehydrate
from thresher.transforms.io.sinks import WriteDocuments, WriteJsonRecords
from thresher.transforms.io.sources import ReadDocuments
from thresher.transforms.text.tokens import estimate_tokens

#: steps that turn raw pages into text: the steps up to them run on each input before the inputs
#: are merged. No Reshuffle follows them: files are already spread over the workers, and keeping
#: read -> extract -> filters -> write in one fused stage measured faster on 2 workers, with less of the
#: runner's memory (benchmarks/fineweb_bench.py; a shuffle is held in the runner process).
EXTRACTING_STEPS = frozenset({"extract"})
EXAMPLES_PER_REASON = 3  # rejected documents shown per drop reason in the data card
EXAMPLE_CHARS = 300
MAX_LISTED_FILES = 1000  # input files listed by name in stats.json


def output_dirs(root: str) -> Dict[str, str]:
    from apache_beam.io.filesystems import FileSystems
    return {kind: FileSystems.join(root, kind) for kind in ("data", "rejected", "errors", "tokens")}


class _SumInBundle(beam.DoFn):
    """The (key, n) pairs ``pairs(element)`` gives for each element, summed over the bundle: the final
    sum (``build``) gets one pair per key and bundle, not one per document (the local runner holds
    whatever reaches it through the Flatten of every stage's counts)."""

    def __init__(self, pairs):
        self._pairs = pairs

    def start_bundle(self):
        self._sums: Counter = Counter()

    def process(self, element):
        for key, n in self._pairs(element):
            self._sums[key] += n

    def finish_bundle(self):
        for pair in self._sums.items():
            yield WindowedValue(pair, MIN_TIMESTAMP, [GlobalWindow()])


def _count(pcoll, label: str, key_fn):
    """(key, n) pairs of ``pcoll`` by ``key_fn``: summed once, for all counts, at the end (``build``)."""
    return pcoll | f"{label} key" >> beam.ParDo(_SumInBundle(lambda x: ((key_fn(x), 1),)))


def _count_docs(pcoll, label: str, key: keys.CountKey):
    """Documents and (estimated) tokens of ``pcoll``: ``(key, n)`` and ``(key.tokens(), t)`` pairs."""
    tokens_key = key.tokens()
    return pcoll | f"{label} key" >> beam.ParDo(_SumInBundle(
        lambda d: ((key, 1), (tokens_key, estimate_tokens(d.text)))))


def _example(doc: Document, label: str) -> Tuple[Tuple[str, str], Tuple[int, Dict[str, str]]]:
    """((step label, reason), (rank, example)): the examples shown are the smallest ranks (id hash)."""
    rank = xxhash.xxh64_intdigest(doc.id.encode("utf-8", "surrogatepass"))
    return ((label, str(doc.annotations.get("drop_reason", "?"))),
            (-rank, {"id": doc.id, "url": doc.url, "text": doc.text[:EXAMPLE_CHARS]}))


def build(pipeline: beam.Pipeline, recipe: Recipe, run_info: Optional[Dict[str, Any]] = None,
          progress=None, cache: Optional[str] = None) -> None:
    """Add the whole recipe to ``pipeline``; ``run_info`` (runner, workers, versions) goes to stats.json;
    ``progress`` (``thresher.pipelines.run.progress.ProgressFiles``) is called by the readers; ``cache``:
    the prefix cache's directory (``prefix_cache``), None for none."""
    out = recipe.output
    dirs = output_dirs(out.path)
    counts: List[beam.PCollection] = []
    errors: List[beam.PCollection] = []
    rejected: List[beam.PCollection] = []
    facts: List[beam.PCollection] = []  # (kind, key, JSON-able value): summaries, profile, examples
    examples: List[beam.PCollection] = []

    def apply(docs, spec, where: str = ""):
        """Apply one step and collect its counts, facts, rejected documents and errors."""
        step = step_class(spec, STEPS)(**spec.params)
        label, index = spec.label + where, spec.index
        if cache and index == cached and step.READS_ENTRIES:  # its input: the entries' kept documents, all
            step.input_is_entries = True
        result = docs | label >> step
        kept, dropped = result[KEPT], result[REJECTED]
        if cache and step.ships_light():  # it shuffled documents without their text: read it again
            kept = kept | f"{label} text" >> Rehydrate()
            if out.rejected.enabled:
                dropped = dropped | f"{label} rejected text" >> Rehydrate()
        counts.append(_count_docs(kept, f"count {label} out", keys.step_out(index)))
        counts.append(_count(dropped, f"count {label} dropped",
                             lambda d, i=index: keys.dropped(i, d.annotations.get("drop_reason", "?"))))
        counts.append(_count(result[ERRORS], f"count {label} errors", lambda e, i=index: keys.step_errors(i)))
        if REPORT in result:  # step facts, e.g. whether clustering converged
            counts.append(result[REPORT]
                          | f"{label} report" >> beam.Map(lambda kv, i=index: (keys.step_report(i, kv[0]), kv[1])))
        if SUMMARY in result:  # one dict: a contamination report, a mix table...
            facts.append(result[SUMMARY] | f"{label} summary" >> beam.Map(lambda d, i=index: ("summary", i, d)))
        if out.rejected.enabled:
            examples.append(dropped | f"{label} examples" >> beam.Map(_example, spec.label))
        errors.append(result[ERRORS])
        rejected.append(dropped)
        return kept

    # Steps up to extraction run on each input before the inputs are merged, so that raw HTML is
    # turned into text in the stage that read it.
    per_input = per_input_steps(recipe)
    cached = cache_prefix(recipe)  # with a cache: the steps before the first global one (maybe none)
    several = len(recipe.inputs) > 1
    sources = []
    for name, inp in recipe.inputs.items():
        if cache:  # read and the document-local prefix, file by file through the cache
            got = pipeline | f"cached_{name}" >> CachedPrefix(cache, recipe, inp, recipe.steps[:cached], progress,
                                                                 boundaries=(per_input,))
            counts.append(got[COUNTS])
            errors.append(got[ERRORS])
            rejected.append(got[REJECTED] | f"rejected_{name}" >> beam.Values())
            if out.rejected.enabled:
                labels = {s.index: s.label for s in recipe.steps}
                examples.append(got[REJECTED] | f"examples_{name}"
                                >> beam.Map(lambda kv, l=labels: _example(kv[1], l[kv[0]])))
            sources.append(got[KEPT])
            continue
        read = pipeline | f"read_{name}" >> ReadDocuments(
            source=name, paths=inp.paths, format=inp.format, text_field=inp.text_field,
            id_field=inp.id_field, url_field=inp.url_field, date_field=inp.date_field, progress=progress)
        errors.append(read[ERRORS])
        counts.append(_count_docs(read[KEPT], f"count read_{name} docs", keys.read_docs(name)))
        counts.append(_count(read[ERRORS], f"count read_{name} errors", lambda e, n=name: keys.read_errors(n)))
        counts.append(read[REPORT] | f"count read_{name} skipped"  # records passed over, by type
                      >> beam.Map(lambda kv, n=name: (keys.read_skipped(n, kv[0]), kv[1])))
        docs = read[KEPT]
        for spec in recipe.steps[:per_input]:
            docs = apply(docs, spec, f" [{name}]" if several else "")
        sources.append(docs)
    docs = flatten_or_empty(pipeline, sources, "all inputs")
    for spec in recipe.steps[cached if cache else per_input:]:
        docs = apply(docs, spec)

    facts.append(docs
                 | "profile output" >> beam.CombineGlobally(ProfileAnnotations())
                 | "profile fact" >> beam.Map(lambda p: ("profile", 0, p)))
    if examples:
        facts.append(flatten_or_empty(pipeline, examples, "all examples")
                     | "pick examples" >> beam.combiners.Top.PerKey(EXAMPLES_PER_REASON, key=lambda v: v[0])
                     | "example facts" >> beam.Map(lambda kv: ("examples", kv[0], [v[1] for v in kv[1]])))

    annotations = declared_annotations(recipe)  # one schema for every shard, decided before the run
    metadata = needs_metadata(recipe)
    shard_bytes = int(out.shard_size_mb * (1 << 20))
    files = []
    if out.format != "none":  # none: token shards only
        files.append(docs | "write data" >> _data_sink(recipe, annotations, metadata)
                     | "tag data" >> beam.Map(_tag, "data"))
    tokens = token_sink(recipe) if out.tokens is not None else None  # made once: reads the tokenizer
    if tokens is not None:
        files.append(write_tokens(docs, tokens))

    if out.rejected.enabled:
        sample = out.rejected.sample_rate
        dropped = (flatten_or_empty(pipeline, rejected, "all rejected")
                   | "sample rejected" >> beam.Filter(_sampled, sample))
        files.append(dropped | "write rejected" >> WriteDocuments(
            dirs["rejected"], text_format(out.format), rejected_annotations(recipe), shard_bytes, out.row_group_rows,
            metadata=metadata)
            | "tag rejected" >> beam.Map(_tag, "rejected"))
    files.append(flatten_or_empty(pipeline, errors, "all errors")
                 | "write errors" >> WriteJsonRecords(dirs["errors"])
                 | "tag errors" >> beam.Map(_tag, "errors"))

    all_counts = (flatten_or_empty(pipeline, counts, "all counts")
                  | "sum counts" >> beam.CombinePerKey(sum)  # one shuffle for every count of the run
                  | "counts to dict" >> beam.combiners.ToDict())
    all_facts = flatten_or_empty(pipeline, facts, "all facts")
    all_files = flatten_or_empty(pipeline, files, "all files")
    (pipeline
     | "finalize trigger" >> beam.Create([None])
     | "finalize" >> beam.ParDo(
         FinalizeRun(out.path, run_summary(recipe, run_info, tokens)),
         beam.pvalue.AsSingleton(all_counts), beam.pvalue.AsList(all_files), beam.pvalue.AsList(all_facts)))


def text_format(fmt: str) -> str:
    """The format of written documents: the output's, Parquet when it writes token shards only."""
    return "parquet" if fmt == "none" else fmt


def _data_sink(recipe: Recipe, annotations: Dict[str, str], metadata: bool):
    """The sink of ``data/``: where the documents are (``order: none``) or ordered in shards."""
    out = recipe.output
    shard_bytes = int(out.shard_size_mb * (1 << 20))
    if out.order == "none":  # written where they are, no shuffle
        return WriteDocuments(output_dirs(out.path)["data"], out.format, annotations, shard_bytes,
                              out.row_group_rows, metadata=metadata)
    return WriteOrderedDocuments(output_dirs(out.path)["data"], out.format, annotations, shard_bytes,
                                 out.row_group_rows, order=out.order, seed=out.seed, order_by=out.order_by,
                                 descending=out.descending, metadata=metadata)


def per_input_steps(recipe: Recipe) -> int:
    """How many leading steps run on each input separately: those up to the first step that
    shrinks documents (extract), when every one of them decides one document at a time."""
    for i, spec in enumerate(recipe.steps):
        if not issubclass(step_class(spec, STEPS), DocumentStep):
            return 0
        if spec.step in EXTRACTING_STEPS:
            return i + 1
    return 0


def run_summary(recipe: Recipe, run_info: Optional[Dict[str, Any]] = None, sink=None) -> Dict[str, Any]:
    """What the report needs to know of the recipe and the run (provenance for the data card); with
    ``output.tokens``, ``tokens``: its resolved configuration (``token_output.token_config``, from the
    run's token ``sink`` when given)."""
    summary = {
        "recipe": recipe.name or recipe.file,
        "inputs": list(recipe.inputs),
        "steps": [{"index": s.index, "step": s.step} for s in recipe.steps],
        "input_files": input_files(recipe),
        "run": {"started_unix": time.time(), "recipe_file": recipe.file, "recipe": recipe.to_dict(),
                "output_columns": output_columns(recipe), **(run_info or {})},
    }
    if recipe.output.tokens is not None:
        summary["tokens"] = token_config(recipe, sink)
    return summary


def input_files(recipe: Recipe) -> Dict[str, Any]:
    """The input files and their sizes (the first ``MAX_LISTED_FILES`` by name, totals for all), and per
    input ``by_source``: files, bytes and non-empty files."""
    from apache_beam.io.filesystems import FileSystems
    listed, count, size = [], 0, 0
    by_source: Dict[str, Dict[str, int]] = {}
    for inp in recipe.inputs.values():
        mine = by_source.setdefault(inp.name, {"format": inp.format, "files": 0, "bytes": 0, "nonempty_files": 0})
        seen = set()  # a file two patterns match is read once
        for pattern in inp.paths:
            try:
                found = FileSystems.match([pattern])[0].metadata_list
            except Exception:  # an unreadable pattern is the reader's error to report
                continue
            for meta in sorted(found, key=lambda m: m.path):
                if meta.path in seen:
                    continue
                seen.add(meta.path)
                count += 1
                size += meta.size_in_bytes
                mine["files"] += 1
                mine["bytes"] += meta.size_in_bytes
                mine["nonempty_files"] += meta.size_in_bytes > 0
                if len(listed) < MAX_LISTED_FILES:
                    listed.append({"source": inp.name, "path": meta.path, "bytes": meta.size_in_bytes})
    return {"count": count, "bytes": size, "listed": listed, "by_source": by_source}


def _tag(file_info: Dict[str, Any], kind: str) -> Dict[str, Any]:
    return {**file_info, "kind": kind}


def _sampled(doc, rate: float) -> bool:
    if rate >= 1.0:
        return True
    import xxhash
    return xxhash.xxh64_intdigest(doc.id.encode("utf-8", "surrogatepass")) / 2**64 < rate
