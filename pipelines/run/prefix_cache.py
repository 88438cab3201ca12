"""The prefix cache (``thresher run --cache DIR``): the output of a recipe's document-local prefix,
one entry per input file, so that a rerun reads and extracts only the files whose entries are missing.

The prefix is the longest run of leading ``DocumentStep``s (read -> extract -> filters -> annotations,
up to the first step that needs the corpus; none when a recipe starts with one: the entry then
holds the documents as read). A kept document handed on names its record in the entry
(``Document.ref``): steps that shuffle documents without text (``transforms.io.rehydrate``) read it there
again. An entry holds the file's kept documents, its error
records, the rejected documents when the recipe writes them, and the file's counts (read documents,
errors and skipped records; per step out, dropped by reason, errors, tokens). An entry is kept
after the whole prefix and after extraction (when steps follow it in the prefix): a run with a
changed filter takes the extracted text from the cache and runs only the steps after it. A missing
entry is computed and written; a damaged one is reported (a warning, the ``corrupt`` count) and
computed again (``cache_entries`` says what an entry is and when it is whole).
"""
from __future__ import annotations

import logging
import struct
from collections import Counter
from typing import List, Tuple

import apache_beam as beam
import orjson
from apache_beam.io.filesystems import FileSystems

from thresher.pipelines.recipe.plugins import step_class
from thresher.pipelines.recipe.registry import STEPS
from thresher.pipelines.recipe.schema import InputSpec, Recipe, StepSpec
from thresher.pipelines.report import count_keys as keys
from thresher.pipelines.run.cache_entries import (EntryWriter, complete_entry, entry_dir, entry_key,
                                                  file_identity, mark_used, prefix_fingerprint)
from thresher.transforms.base import ERRORS, KEPT, REJECTED, REPORT, DocumentStep, DocumentStepFn
from thresher.transforms.document import DocumentCoder
from thresher.transforms.io.entry_records import open_records
from thresher.transforms.io.sources import ReadFileFn
from thresher.transforms.io.sources.common import Fields
from thresher.transforms.text.tokens import estimate_tokens

COUNTS = "counts"  # the output of (CountKey, n) pairs
LOG = logging.getLogger("thresher.cache")


def cache_prefix(recipe: Recipe) -> int:
    """How many leading steps are document-local (``DocumentStep``s): the cached prefix."""
    for i, spec in enumerate(recipe.steps):
        if not issubclass(step_class(spec, STEPS), DocumentStep):
            return i
    return len(recipe.steps)


def _in_step(exc: Exception, label: str) -> Exception:
    """``exc`` named for the step it came from, as Beam names the transform it raised in
    (`` [while running 'LABEL']``, marked so that Beam adds no label of its own): a step's failed
    setup is reported as the step's, not as the cached prefix's (``run.failures``)."""
    import traceback
    note = f" [while running '{label}']"
    try:  # as Beam does (apache_beam.runners.common): the same type, else a RuntimeError saying which
        tagged = type(exc)(exc.args[0] + note, *exc.args[1:])
        tagged._tagged_with_step = True  # Beam's mark: labelled already
    except Exception:  # no str message first (OSError's errno...)
        tagged = RuntimeError(traceback.format_exception_only(type(exc), exc)[-1].strip() + note)
        tagged._tagged_with_step = True
    return tagged.with_traceback(exc.__traceback__)


class _PrefixFn(beam.DoFn):
    """One input file through the prefix, from its last whole entry: replayed when that is the entry of
    the whole prefix; else the rest (after extraction, or everything: ``ReadFileFn`` and
    ``DocumentStepFn``, as without the cache) computed, and the missing entries written."""

    def __init__(self, root: str, inp: InputSpec, steps: List[StepSpec], boundaries: List[int],
                 keep_rejected: bool, meta, progress=None, several: bool = False):
        self._root, self._source, self._keep_rejected, self._meta = root, inp.name, keep_rejected, meta
        self._several = several  # more than one input: a step's label names this one, as the builder's do
        self._boundaries = boundaries  # step positions an entry is kept after, ascending; the last: len(steps)
        self._reader = ReadFileFn(inp.name, inp.format, Fields(text=inp.text_field, id=inp.id_field,
                                  url=inp.url_field, date=inp.date_field), progress)
        self._steps = [(spec.index, DocumentStepFn(step_class(spec, STEPS)(**spec.params))) for spec in steps]
        self._labels = [spec.label for spec in steps]

    def setup(self):
        self._reader.setup()
        for (_, fn), label in zip(self._steps, self._labels):
            try:
                fn.setup()
            except Exception as exc:
                raise _in_step(exc, f"{label} [{self._source}]" if self._several else label) from None
        self._coder = DocumentCoder()

    def teardown(self):
        for _, fn in self._steps:
            fn.teardown()

    def _count(self, what: str):
        return beam.pvalue.TaggedOutput(COUNTS, (keys.CountKey("cache", self._source, "files", what), 1))

    def process(self, item: Tuple[str, List[str]]):
        path, entry_keys = item
        found = None  # (boundary's position in self._boundaries, entry file)
        for at in reversed(range(len(entry_keys))):
            entry, why = complete_entry(entry_dir(self._root, entry_keys[at]))
            if entry is not None:
                found = (at, entry)
                mark_used(entry_dir(self._root, entry_keys[at]))
                break
            if why != "missing":
                LOG.warning("thresher: cache entry of %s is %s: computing it again", path, why)
                yield self._count("corrupt")
        if found and found[0] == len(entry_keys) - 1:
            replayed: Counter = Counter()
            yield from self._replay(found[1], replayed)
            yield self._count("hit")
            self._file_done(path, replayed)
            return
        start = found[0] + 1 if found else 0
        writers = {}
        for at in range(start, len(entry_keys)):
            try:
                boundary = self._boundaries[at]
                after = self._labels[boundary - 1] if boundary else "read"
                writers[boundary] = EntryWriter(entry_dir(self._root, entry_keys[at]),
                                                 {**self._meta, "file": path, "after": after})
            except Exception as exc:  # the cache is best effort: the run goes on without it
                LOG.warning("thresher: cannot write the cache entry of %s: %s", path, exc)
        counts: Counter = Counter()
        self._ordinal = 0  # kept documents written to the whole prefix's entry: their ``ref``
        if found:
            yield from self._resume(found[1], self._boundaries[found[0]], writers, counts)
            yield self._count("partial")
            self._file_done(path, counts)
        else:
            yield from self._compute(path, writers, counts)
            yield self._count("computed")
        if not found and self._reader.read_failed:  # may read next time: no entry says it did not
            LOG.warning("thresher: %s could not be read: no cache entry kept of it", path)
            for boundary, writer in writers.items():
                self._drop(writer, boundary)
            writers = {}
        for boundary, writer in writers.items():
            within = {spec_index for spec_index, _ in self._steps[:boundary]}
            try:
                writer.add(b"C", orjson.dumps([[list(k), n] for k, n in counts.items()
                                               if k.kind == "read" or k.owner in within]))
                writer.commit()
            except Exception as exc:
                LOG.warning("thresher: cannot write the cache entry of %s: %s", path, exc)
                self._drop(writer, boundary)
        for key, n in counts.items():
            yield beam.pvalue.TaggedOutput(COUNTS, (key, n))

    def _drop(self, writer: EntryWriter, boundary: int) -> None:
        """An entry not to be used: deleted, unless documents handed on name it (``Document.ref``)."""
        if boundary == len(self._steps) and self._ordinal:
            writer.keep_unlisted()
        else:
            writer.abandon()

    def _file_done(self, path: str, counts: Counter) -> None:
        """A file not read here (its records from an entry) in the reader's progress totals."""
        name = self._source
        self._reader.count_file_done(path, counts[keys.read_docs(name)], counts[keys.read_errors(name)])

    def _replay(self, entry: str, counts: Counter):
        ordinal = 0
        for tag, payload in open_records(entry):
            if tag == b"K":
                doc = self._coder.decode(payload)
                doc.ref = (entry, ordinal)
                ordinal += 1
                yield doc
            elif tag == b"R":
                index, = struct.unpack_from("<I", payload)
                yield beam.pvalue.TaggedOutput(REJECTED, (index, self._coder.decode(payload[4:])))
            elif tag == b"E":
                yield beam.pvalue.TaggedOutput(ERRORS, orjson.loads(payload))
            elif tag == b"C":
                for key, n in orjson.loads(payload):
                    counts[keys.CountKey(*key)] += n
                    yield beam.pvalue.TaggedOutput(COUNTS, (keys.CountKey(*key), n))

    def _resume(self, entry: str, boundary: int, writers, counts: Counter):
        """The entry kept after step position ``boundary``, its documents through the steps after it."""
        for tag, payload in open_records(entry):
            if tag == b"K":
                yield from self._chain(self._coder.decode(payload), boundary, counts, writers)
                continue
            if tag == b"C":  # the counts so far: the new entries get them with their own, in one record
                counts.update({keys.CountKey(*key): n for key, n in orjson.loads(payload)})
                continue
            for writer in writers.values():
                writer.add(tag, payload)
            if tag == b"R":
                index, = struct.unpack_from("<I", payload)
                yield beam.pvalue.TaggedOutput(REJECTED, (index, self._coder.decode(payload[4:])))
            elif tag == b"E":
                yield beam.pvalue.TaggedOutput(ERRORS, orjson.loads(payload))

    def _compute(self, path: str, writers, counts: Counter):
        name = self._source
        for item in self._reader.process(path):
            if isinstance(item, beam.pvalue.TaggedOutput) and item.tag == REPORT:
                counts[keys.read_skipped(name, item.value[0])] += item.value[1]
                continue
            if isinstance(item, beam.pvalue.TaggedOutput):  # a read error
                counts[keys.read_errors(name)] += 1
                self._add(writers, -1, b"E", orjson.dumps(item.value))
                yield item
                continue
            counts[keys.read_docs(name)] += 1
            counts[keys.read_docs(name).tokens()] += estimate_tokens(item.text)
            yield from self._chain(item, 0, counts, writers)

    @staticmethod
    def _add(writers, position: int, tag: bytes, payload: bytes) -> None:
        """A record made at step ``position`` (-1: the reader) goes to the entries kept after it."""
        for boundary, writer in writers.items():
            if boundary > position:
                writer.add(tag, payload)

    def _chain(self, doc, at: int, counts: Counter, writers):
        """``doc`` through the prefix's steps from position ``at`` on."""
        if at in writers:
            writers[at].add(b"K", self._coder.encode(doc))
        if at == len(self._steps):
            if at in writers:  # the entry that will hold it: it can be read again from there
                doc.ref = (writers[at].path, self._ordinal)
                self._ordinal += 1
            yield doc
            return
        index, fn = self._steps[at]
        for out in fn.process(doc):
            if isinstance(out, beam.pvalue.TaggedOutput) and out.tag == REJECTED:
                counts[keys.dropped(index, out.value.annotations.get("drop_reason", "?"))] += 1
                if self._keep_rejected:
                    self._add(writers, at, b"R", struct.pack("<I", index) + self._coder.encode(out.value))
                    yield beam.pvalue.TaggedOutput(REJECTED, (index, out.value))
            elif isinstance(out, beam.pvalue.TaggedOutput):
                counts[keys.step_errors(index)] += 1
                self._add(writers, at, b"E", orjson.dumps(out.value))
                yield out
            else:
                counts[keys.step_out(index)] += 1
                counts[keys.step_out(index).tokens()] += estimate_tokens(out.text)
                yield from self._chain(out, at + 1, counts, writers)


class CachedPrefix(beam.PTransform):
    """Input ``inp`` through ``steps`` (the cached prefix), file by file through the cache at ``root``;
    an entry is kept after the whole prefix and after each position in ``boundaries`` (after
    extraction: a changed filter then extracts nothing). Returns ``{kept: Document, rejected: (step
    index, Document), errors: dict, counts: (CountKey, n)}``; files are listed, and keyed, at build time."""

    def __init__(self, root: str, recipe: Recipe, inp: InputSpec, steps: List[StepSpec], progress=None,
                 boundaries: Tuple[int, ...] = ()):
        super().__init__()
        self.root, self.recipe, self.inp, self.steps, self.progress = str(root), recipe, inp, steps, progress
        self.boundaries = sorted({b for b in boundaries if 0 < b < len(steps)} | {len(steps)})

    def expand(self, pbegin):
        prints = [prefix_fingerprint(self.recipe, self.inp, self.steps[:b]) for b in self.boundaries]
        items, seen = [], set()
        for result in FileSystems.match(list(self.inp.paths)):
            for meta in sorted(result.metadata_list, key=lambda m: m.path):
                if meta.path not in seen:
                    seen.add(meta.path)
                    identity = file_identity(meta)
                    items.append((meta.path, [entry_key(p, identity) for p in prints]))
        meta = {"recipe": self.recipe.name or self.recipe.file, "source": self.inp.name}
        fn = _PrefixFn(self.root, self.inp, self.steps, self.boundaries, self.recipe.output.rejected.enabled, meta,
                       self.progress, several=len(self.recipe.inputs) > 1)
        outputs = (pbegin
                   | "Files" >> beam.Create(items)
                   | "OneFilePerWorkItem" >> beam.Reshuffle()
                   | "Prefix" >> beam.ParDo(fn).with_outputs(REJECTED, ERRORS, COUNTS, main=KEPT))
        return {KEPT: outputs[KEPT], REJECTED: outputs[REJECTED], ERRORS: outputs[ERRORS], COUNTS: outputs[COUNTS]}

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("pipeline", None)
        return state
