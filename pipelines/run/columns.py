"""The output's columns, decided from the recipe before the run: the annotations sources add, what each
configured step writes on the documents it keeps (``declared_annotations``, ``data/``) and on those it
drops (``rejected_annotations``), whether the JSON ``metadata`` column is needed, and the column table
of the dataset card (``output_columns``)."""
from __future__ import annotations

from typing import Dict, List

from thresher.pipelines.recipe.plugins import step_class
from thresher.pipelines.recipe.registry import STEPS
from thresher.pipelines.recipe.schema import Recipe
from thresher.transforms.io.sources import detect_format

#: annotations sources add: ``file`` and ``offset`` on every document, ``content_type`` and
#: ``charset`` on records of WARC, ARC and WET files (RECORD_FORMATS)
SOURCE_ANNOTATIONS = {"content_type": "string", "charset": "string", "file": "string", "offset": "int64"}
RECORD_FORMATS = frozenset({"warc", "arc", "wet"})
REJECTED_ANNOTATIONS = {"drop_step": "string", "drop_reason": "string"}
#: what the base columns and the sources' annotations hold, for the dataset card
COLUMN_DOCS = {
    "id": "document id: the WARC-Record-ID, the input's id field, or a hash of file, offset and URL",
    "text": "the document's text",
    "url": "the page's URL; null when unknown",
    "source": "name of the recipe input the document came from",
    "date": "crawl or publication date in UTC; null when unknown or unparseable (then date_raw in metadata)",
    "content_type": "HTTP content type of the WARC/ARC/WET record",
    "charset": "character encoding the page was decoded with",
    "file": "input file the document was read from",
    "offset": "byte offset of the record (WARC/ARC/WET), 1-based line (JSONL) or 0-based row (Parquet)",
    "metadata": "JSON object of the document's other annotations; null when none",
}


def input_formats(inp) -> set:
    """The formats an input's files may have: its ``format``, or with ``auto`` each pattern's
    extension, else those of the files it matches (a file of no known format yields no document)."""
    from apache_beam.io.filesystems import FileSystems
    if inp.format != "auto":
        return {inp.format}
    formats = set()
    for pattern in inp.paths:
        try:
            formats.add(detect_format(pattern))
            continue
        except ValueError:
            pass
        try:
            found = FileSystems.match([pattern])[0].metadata_list
        except Exception:  # an unreadable pattern is the reader's error to report
            found = []
        for meta in found:
            try:
                formats.add(detect_format(meta.path))
            except ValueError:
                pass
    return formats


def source_annotations(recipe: Recipe) -> Dict[str, str]:
    """``file`` and ``offset``; also ``content_type`` and ``charset`` when an input may hold
    WARC, ARC or WET records (JSONL and Parquet records have neither)."""
    records = any(input_formats(inp) & RECORD_FORMATS for inp in recipe.inputs.values())
    return {name: kind for name, kind in SOURCE_ANNOTATIONS.items()
            if records or name not in ("content_type", "charset")}


def needs_metadata(recipe: Recipe) -> bool:
    """Whether the JSON ``metadata`` column can hold anything: a plugin step (it may write annotations
    it does not declare), or a JSONL/Parquet input (a date that does not parse goes there as
    ``date_raw``; WARC, ARC and WET dates are ISO 8601 by the WARC standard)."""
    if any(spec.step not in STEPS for spec in recipe.steps):
        return True
    return any(input_formats(inp) - RECORD_FORMATS for inp in recipe.inputs.values())


def _steps(recipe: Recipe):
    """(spec, configured step) for each step of the recipe."""
    return [(spec, step_class(spec, STEPS)(**spec.params)) for spec in recipe.steps]


def written_annotations(step) -> Dict[str, str]:
    """What a configured step writes on the documents it keeps: its ``written_annotations()``,
    else (a plugin PTransform without it) its class's ``ANNOTATIONS``."""
    written = getattr(step, "written_annotations", None)
    return dict(written()) if callable(written) else dict(getattr(step, "ANNOTATIONS", {}))


def declared_annotations(recipe: Recipe) -> Dict[str, str]:
    """The typed annotation columns of ``data/``: the source annotations every document has and
    what each step, as configured, writes on the documents it keeps (no column that stays null)."""
    annotations = source_annotations(recipe)
    for _, step in _steps(recipe):
        annotations.update(written_annotations(step))
    return annotations


def rejected_annotations(recipe: Recipe) -> Dict[str, str]:
    """The typed annotation columns of ``rejected/``: those of ``data/``, what steps write only on
    the documents they drop (``rejected_annotations()``), ``drop_step`` and ``drop_reason``."""
    annotations = source_annotations(recipe)
    for _, step in _steps(recipe):
        annotations.update(written_annotations(step))
        dropped_only = getattr(step, "rejected_annotations", None)
        if callable(dropped_only):
            annotations.update(dropped_only())
    annotations.update(REJECTED_ANNOTATIONS)
    return annotations


def output_columns(recipe: Recipe) -> List[Dict[str, str]]:
    """``data/``'s columns in order, each with its Arrow type, what writes it and what it holds
    (the step class's ``ANNOTATION_DOCS`` where it has one): the dataset card's column table."""
    from thresher.transforms.io.schema import document_schema
    written_by = {name: ("source", COLUMN_DOCS.get(name, "")) for name in source_annotations(recipe)}
    for spec, step in _steps(recipe):
        docs = getattr(step, "ANNOTATION_DOCS", None) or {}
        for name in written_annotations(step):
            written_by[name] = (f"{spec.index:02d} {spec.step}", docs.get(name, ""))
    jsonl = recipe.output.format == "jsonl"  # flat objects: no metadata column, the date as a string
    columns = []
    for field in document_schema(declared_annotations(recipe), needs_metadata(recipe) and not jsonl):
        by, doc = written_by.get(field.name, ("", COLUMN_DOCS.get(field.name, "")))
        kind = "string (ISO 8601, UTC)" if jsonl and field.name == "date" else str(field.type)
        columns.append({"name": field.name, "type": kind, "written_by": by or "base", "description": doc})
    return columns
