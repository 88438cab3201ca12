"""Input sources: WARC, ARC, WET, JSON Lines and Parquet files as Document records.

``ReadDocuments`` expands the path patterns inside the pipeline, reshuffles
the file list so that files are read in parallel (one file per work item) and
reads each file with the reader for its format. Every document gets
``source`` and the annotations ``file`` and ``offset`` (byte offset of the
record for WARC/ARC/WET, 1-based line number for JSONL, 0-based row for
Parquet). A record or file that cannot be read becomes one error record
(``base.error_record``, step "read") and reading goes on; in WARC, WET and
ARC files a damaged byte range is one error and reading resumes at the next
intact record (``resync``). Records that are not documents (WARC requests,
warcinfo, metadata...) are counted by type on the ``report`` output.
"""
from __future__ import annotations

import logging

from collections import Counter
from typing import Dict, Iterator, List, Optional, Union

import apache_beam as beam
from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from thresher.transforms.base import ERRORS, KEPT, METRICS_NAMESPACE, REPORT, error_record
from thresher.transforms.document import Document
from thresher.transforms.redact import redact
from thresher.transforms.io.sources.arc import read_arc
from thresher.transforms.io.sources.common import Fields, ReadError
from thresher.transforms.io.sources.jsonl import read_jsonl
from thresher.transforms.io.sources.parquet import read_parquet
from thresher.transforms.io.sources.warc import read_warc, read_wet

FORMATS = ("warc", "arc", "wet", "jsonl", "parquet")
_SUFFIXES = (  # most specific first: .warc.wet.gz must not match .warc.gz
    ((".warc.wet.gz", ".wet.gz", ".wet"), "wet"),
    ((".warc", ".warc.gz"), "warc"),
    ((".arc", ".arc.gz"), "arc"),
    ((".jsonl", ".jsonl.gz", ".jsonl.zst", ".json.gz"), "jsonl"),
    ((".parquet",), "parquet"),
)


def detect_format(path: str) -> str:
    """The input format of a file from its extension; ValueError if unknown."""
    name = path.lower()
    for suffixes, fmt in _SUFFIXES:
        if name.endswith(suffixes):
            return fmt
    raise ValueError(f"cannot tell the format of {path!r} from its extension; pass format=")


def _match(patterns: List[str], strict: bool) -> List[str]:
    results = FileSystems.match(list(patterns))
    paths = set()
    for pattern, result in zip(patterns, results):
        if not result.metadata_list and strict:
            raise FileNotFoundError(f"no file matches {pattern!r}")
        paths.update(meta.path for meta in result.metadata_list)
    return sorted(paths)


def match_paths(patterns: List[str]) -> List[str]:
    """Files matching the glob patterns (local or gs://), sorted and de-duplicated;
    FileNotFoundError naming the first pattern that matches nothing."""
    return _match(patterns, strict=True)


def read_file(path: str, source: str, fmt: str = "auto", fields: Fields = Fields(),
              skipped: Optional[Counter] = None) -> Iterator[Union[Document, ReadError]]:
    """Documents and ReadErrors of one file (``fmt="auto"``: by extension). Records that are
    not documents (WARC requests, warcinfo...; see the readers) are counted by type in ``skipped``."""
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "warc":
        return read_warc(path, source, skipped)
    if fmt == "wet":
        return read_wet(path, source, skipped)
    if fmt == "arc":
        return read_arc(path, source, skipped)
    if fmt == "jsonl":
        return read_jsonl(path, source, fields, skipped)
    if fmt == "parquet":
        return read_parquet(path, source, fields)
    raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")


PROGRESS = logging.getLogger("thresher.progress")
#: failures of the storage, not of a file's bytes (Google Cloud, HTTP client errors: by module)
_STORAGE_FAILURES = (PermissionError, FileNotFoundError, ConnectionError, TimeoutError, BeamIOError)
_STORAGE_MODULES = ("google", "requests", "urllib3", "http")


def storage_failure(exc: BaseException) -> bool:
    """Whether ``exc`` says the storage failed (no such file, permission, network) rather than the
    file's content: reading again may succeed."""
    return (isinstance(exc, _STORAGE_FAILURES)
            or type(exc).__module__.split(".")[0] in _STORAGE_MODULES)


class ReadFileFn(beam.DoFn):
    """Reads one file: Documents on the main output, error records on ERRORS, and the records
    passed over, by type, on REPORT as ``(type, count)`` pairs (one per type and file).
    ``read_failed``: whether the last file could not be read through (not opened, a reader that
    raised, a storage failure): unlike damage in its bytes, that may not happen again."""

    read_failed = False

    def __init__(self, source: str, fmt: str, fields: Fields, progress=None):
        self._source, self._fmt, self._fields = source, fmt, fields
        self._progress = progress  # called with (files done, docs, errors, file, offset) of this instance

    def setup(self):
        self._files = Metrics.counter(METRICS_NAMESPACE, "read.files")
        self._docs = Metrics.counter(METRICS_NAMESPACE, "read.out")
        self._errors = Metrics.counter(METRICS_NAMESPACE, "read.errors")
        self._totals = [0, 0, 0]  # files done, documents, errors: for the progress hook

    def process(self, path: str):
        self._files.inc()
        offset = None
        docs = errors = 0
        skipped: Counter = Counter()
        self.read_failed = False
        try:
            for item in read_file(path, self._source, self._fmt, self._fields, skipped):
                if isinstance(item, ReadError):
                    self.read_failed = self.read_failed or storage_failure(item.exc)
                    errors += 1
                    self._errors.inc()
                    record = error_record("read", item.exc, file=path, offset=item.offset)
                    yield beam.pvalue.TaggedOutput(ERRORS, record)
                else:
                    docs += 1
                    offset = item.annotations.get("offset")
                    self._docs.inc()
                    if self._progress and not docs & 63:
                        self._progress(self._totals[0], self._totals[1] + docs, self._totals[2] + errors, path, offset)
                    yield item
        except Exception as exc:  # not opened, a reader bug or unknown format: one error, the job goes on
            self.read_failed = True
            errors += 1
            self._errors.inc()
            yield beam.pvalue.TaggedOutput(ERRORS, error_record("read", exc, file=path, offset=offset))
        for kind, count in sorted(skipped.items()):
            yield beam.pvalue.TaggedOutput(REPORT, (kind, count))
        PROGRESS.info("thresher: read %s: %d documents, %d errors%s", redact(path), docs, errors,
                      f", {sum(skipped.values())} records passed over" if skipped else "")
        self.count_file_done(path, docs, errors)

    def count_file_done(self, path: str, docs: int, errors: int) -> None:
        """One more file done, with its documents and errors, in this instance's progress totals: a file it
        read, or one whose records came from elsewhere (the prefix cache)."""
        self._totals = [self._totals[0] + 1, self._totals[1] + docs, self._totals[2] + errors]
        if self._progress:
            self._progress(*self._totals, path, force=True)


class ReadDocuments(beam.PTransform):
    """Documents from files matching ``paths`` (glob patterns, local or gs://).

    ``expand`` returns ``{"kept": PCollection[Document], "errors": PCollection[dict], "report":
    PCollection[(record type, count)]}``: the records passed over (not documents), per file.
    A pattern that matches nothing at run time yields nothing; use
    ``match_paths`` at construction time to fail early.
    """

    def __init__(self, source: str, paths: List[str], format: str = "auto", text_field: str = "text",
                 id_field: str = "id", url_field: str = "url", date_field: str = "date", progress=None):
        super().__init__()
        self.progress = progress  # optional callable (files done, docs, errors, file[, offset], force=) in the readers
        if format != "auto" and format not in FORMATS:
            raise ValueError(f"unknown format {format!r}; one of auto, {', '.join(FORMATS)}")
        self.source = source
        self.paths = [paths] if isinstance(paths, str) else list(paths)
        self.format = format
        self.fields = Fields(text=text_field, id=id_field, url=url_field, date=date_field)

    def expand(self, pbegin) -> Dict[str, beam.PCollection]:
        outputs = (
            pbegin
            | "Patterns" >> beam.Create([self.paths])
            | "Match" >> beam.FlatMap(_match, strict=False)
            | "OneFilePerWorkItem" >> beam.Reshuffle()
            | "Read" >> beam.ParDo(ReadFileFn(self.source, self.format, self.fields, self.progress))
            .with_outputs(ERRORS, REPORT, main=KEPT)
        )
        return {KEPT: outputs[KEPT], ERRORS: outputs[ERRORS], REPORT: outputs[REPORT]}

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("pipeline", None)
        return state
