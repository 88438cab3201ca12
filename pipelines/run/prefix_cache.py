"""The prefix cache (``thresher run --cache DIR``): the output of a recipe's document-local prefix,
one entry per input file, so that a rerun reads and extracts only the files whose entries are missing.

The prefix is the longest run of leading ``DocumentStep``s (read -> extract -> filters -> annotations,
up to the first step that needs the corpus). An entry holds the file's kept documents, its error
records, the rejected documents when the recipe writes them, and the file's counts (read documents,
errors and skipped records; per step out, dropped by reason, errors, tokens). An entry is kept
after the whole prefix and after extraction (when steps follow it in the prefix): a run with a
changed filter takes the extracted text from the cache and runs only the steps after it.

The key (``entry_key``) is a SHA-256 of the file's identity (``file_identity``) and of the prefix's
fingerprint (``prefix_fingerprint``): the input's settings, each prefix step with every resolved
parameter, the identity of model files the steps name, the versions of the packages that decide
the result, and a hash of the steps' source (``code_hash``: Thresher's version does not change with
every edit). Layout: ``DIR/ab/<key>/entry-<uuid>.zst`` (written as ``.tmp``, then renamed)
and ``DIR/ab/<key>/DONE`` (JSON: which entry file, its size and xxh64), written last. An entry
is used only when DONE parses and names a file of that size and checksum; anything else is
reported (a warning, the ``corrupt`` count) and the file is computed again. Two runs writing the
same key write different entry files; the DONE written last wins, and names a whole file.
"""
from __future__ import annotations

import json
import logging
import os
import struct
import time
import uuid
from collections import Counter
from typing import Any, Dict, Iterator, List, Optional, Tuple

import apache_beam as beam
import orjson
import xxhash
from apache_beam.io.filesystems import CompressionTypes, FileSystems

from thresher.pipelines.recipe.plugins import step_class
from thresher.pipelines.recipe.registry import STEPS
from thresher.pipelines.recipe.schema import InputSpec, Recipe, StepSpec, resolved_params
from thresher.pipelines.report import count_keys as keys
from thresher.transforms.base import ERRORS, KEPT, REJECTED, REPORT, DocumentStep, _DocumentStepFn
from thresher.transforms.document import DocumentCoder
from thresher.transforms.io.sources import _ReadFileFn
from thresher.transforms.io.sources.common import Fields
from thresher.transforms.text.tokens import estimate_tokens

FORMAT_VERSION = 1  # bump when the entry layout or what it holds changes
COUNTS = "counts"  # the output of (CountKey, n) pairs
DONE = "DONE"
#: packages whose version can change what the prefix keeps (python is added)
DECIDING_PACKAGES = ("thresher", "trafilatura", "fasttext-numpy2-wheel", "fastwarc", "warcio", "numpy",
                     "resiliparse")
_HEAD = struct.Struct("<cI")  # record tag, payload length
_RAW = CompressionTypes.UNCOMPRESSED  # not .zst by its name: the entry is checked as stored
LOG = logging.getLogger("thresher.cache")


def default_cache_dir() -> str:
    """``$XDG_CACHE_HOME/thresher/prefix-cache`` (``~/.cache/...`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "thresher", "prefix-cache")


def cache_prefix(recipe: Recipe) -> int:
    """How many leading steps are document-local (``DocumentStep``s): the cached prefix."""
    for i, spec in enumerate(recipe.steps):
        if not issubclass(step_class(spec, STEPS), DocumentStep):
            return i
    return len(recipe.steps)


def versions() -> Dict[str, str]:
    import platform
    from importlib import metadata
    found = {"python": platform.python_version()}
    for name in DECIDING_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def code_hash(steps: List[StepSpec]) -> str:
    """SHA-256 of the source of ``thresher.transforms`` (readers, steps, Document) and of the modules
    of plugin steps: a changed step invalidates entries even while the package version stays."""
    import hashlib
    import inspect
    import pathlib

    import thresher.transforms as transforms
    root = pathlib.Path(transforms.__file__).parent
    files = sorted(root.rglob("*.py"))
    files += [pathlib.Path(inspect.getfile(step_class(spec, STEPS))) for spec in steps]
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.name).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def file_identity(meta) -> Dict[str, Any]:
    """Path, size and modification time from ``FileSystems.match``; on object stores also
    ``FileSystems.checksum`` (gs://: the object's checksum), which changes with the content."""
    found = {"path": meta.path, "size": meta.size_in_bytes, "mtime": meta.last_updated_in_seconds}
    if "://" in meta.path:
        try:
            found["checksum"] = FileSystems.checksum(meta.path)
        except Exception:  # no checksum: path, size and time still tell a rewritten object
            pass
    return found


def _model_files(spec: StepSpec, params: Dict[str, Any]) -> Dict[str, Any]:
    """Identity of the files a step's parameters name (models, word lists); the language step's
    default model too."""
    named = [v for v in params.values() if isinstance(v, str) and v and os.path.isfile(os.path.expanduser(v))]
    if spec.step == "language" and not params.get("model_path"):
        try:
            from thresher.transforms.assets import find_lid_model
            named.append(find_lid_model())
        except Exception:  # no model: the step fails its preflight anyway
            pass
    found = {}
    for path in named:
        st = os.stat(os.path.expanduser(path))
        found[path] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return found


def prefix_fingerprint(recipe: Recipe, inp: InputSpec, steps: List[StepSpec]) -> Dict[str, Any]:
    """What, besides the file, decides a prefix entry: the input's settings, the steps with every
    resolved parameter and the files they name, the versions, and whether rejected documents are kept."""
    described = []
    for spec in steps:
        params = resolved_params(spec)
        described.append({"step": spec.step, "params": params, "files": _model_files(spec, params)})
    return {"format_version": FORMAT_VERSION, "source": inp.name, "format": inp.format,
            "fields": [inp.text_field, inp.id_field, inp.url_field, inp.date_field], "steps": described,
            "versions": versions(), "code": code_hash(steps), "rejected": recipe.output.rejected.enabled}


def entry_key(fingerprint: Dict[str, Any], identity: Dict[str, Any]) -> str:
    import hashlib
    text = json.dumps({"prefix": fingerprint, "file": identity}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def entry_dir(root: str, key: str) -> str:
    return FileSystems.join(root, key[:2], key)


def _record(tag: bytes, payload: bytes) -> bytes:
    return _HEAD.pack(tag, len(payload)) + payload


def _records(stream) -> Iterator[Tuple[bytes, bytes]]:
    while True:
        head = stream.read(_HEAD.size)
        if not head:
            return
        tag, size = _HEAD.unpack(head)
        yield tag, stream.read(size)


class _EntryWriter:
    """Writes one entry: zstd-compressed records to a temporary file, renamed, then DONE."""

    def __init__(self, directory: str, meta: Dict[str, Any]):
        import zstandard
        self.directory, self.meta = directory, meta
        self.name = f"entry-{uuid.uuid4().hex}.zst"
        self.temp = FileSystems.join(directory, self.name + ".tmp")
        self._raw = FileSystems.create(self.temp, compression_type=_RAW)
        self._hash, self._bytes = xxhash.xxh64(), 0
        self._zstd = zstandard.ZstdCompressor(level=3).stream_writer(self, closefd=False)

    def write(self, data: bytes) -> int:  # the compressor's sink: hash and count what is written
        self._hash.update(data)
        self._bytes += len(data)
        self._raw.write(data)
        return len(data)

    def add(self, tag: bytes, payload: bytes) -> None:
        self._zstd.write(_record(tag, payload))

    def commit(self) -> None:
        self._zstd.close()
        self._raw.close()
        FileSystems.rename([self.temp], [FileSystems.join(self.directory, self.name)])
        done = {**self.meta, "entry": self.name, "bytes": self._bytes, "xxh64": self._hash.hexdigest(),
                "created_unix": time.time()}
        with FileSystems.create(FileSystems.join(self.directory, DONE)) as f:
            f.write(json.dumps(done).encode("utf-8"))

    def abandon(self) -> None:
        try:
            self._raw.close()
            FileSystems.delete([self.temp])
        except Exception:
            pass


def complete_entry(directory: str) -> Tuple[Optional[str], str]:
    """(entry file, "") when the entry in ``directory`` is whole; (None, why) when missing or not."""
    done_path = FileSystems.join(directory, DONE)
    if not FileSystems.exists(done_path):
        return None, "missing"
    try:
        with FileSystems.open(done_path) as f:
            done = json.loads(f.read().decode("utf-8"))
        path = FileSystems.join(directory, done["entry"])
        digest, size = xxhash.xxh64(), 0
        with FileSystems.open(path, compression_type=_RAW) as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
                size += len(chunk)
    except Exception as exc:
        return None, f"unreadable ({type(exc).__name__}: {exc})"
    if size != done["bytes"] or digest.hexdigest() != done["xxh64"]:
        return None, f"damaged ({size} bytes, checksum {digest.hexdigest()}; DONE says {done['bytes']}, {done['xxh64']})"
    return path, ""


class _PrefixFn(beam.DoFn):
    """One input file through the prefix, from its last whole entry: replayed when that is the entry of
    the whole prefix; else the rest (after extraction, or everything: ``_ReadFileFn`` and
    ``_DocumentStepFn``, as without the cache) computed, and the missing entries written."""

    def __init__(self, root: str, inp: InputSpec, steps: List[StepSpec], boundaries: List[int],
                 keep_rejected: bool, meta, progress=None):
        self._root, self._source, self._keep_rejected, self._meta = root, inp.name, keep_rejected, meta
        self._boundaries = boundaries  # step positions an entry is kept after, ascending; the last: len(steps)
        self._reader = _ReadFileFn(inp.name, inp.format, Fields(text=inp.text_field, id=inp.id_field,
                                   url=inp.url_field, date=inp.date_field), progress)
        self._steps = [(spec.index, _DocumentStepFn(step_class(spec, STEPS)(**spec.params))) for spec in steps]
        self._labels = [spec.label for spec in steps]

    def setup(self):
        self._reader.setup()
        for _, fn in self._steps:
            fn.setup()
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
                break
            if why != "missing":
                LOG.warning("thresher: cache entry of %s is %s: computing it again", path, why)
                yield self._count("corrupt")
        if found and found[0] == len(entry_keys) - 1:
            yield from self._replay(found[1])
            yield self._count("hit")
            totals = self._reader._totals
            totals[0] += 1
            if self._reader._progress:
                self._reader._progress(*totals, path, force=True)
            return
        start = found[0] + 1 if found else 0
        writers = {}
        for at in range(start, len(entry_keys)):
            try:
                boundary = self._boundaries[at]
                writers[boundary] = _EntryWriter(entry_dir(self._root, entry_keys[at]),
                                                 {**self._meta, "file": path, "after": self._labels[boundary - 1]})
            except Exception as exc:  # the cache is best effort: the run goes on without it
                LOG.warning("thresher: cannot write the cache entry of %s: %s", path, exc)
        counts: Counter = Counter()
        if found:
            yield from self._resume(found[1], self._boundaries[found[0]], writers, counts)
            yield self._count("partial")
        else:
            yield from self._compute(path, writers, counts)
            yield self._count("computed")
        for boundary, writer in writers.items():
            within = {spec_index for spec_index, _ in self._steps[:boundary]}
            try:
                writer.add(b"C", orjson.dumps([[list(k), n] for k, n in counts.items()
                                               if k.kind == "read" or k.owner in within]))
                writer.commit()
            except Exception as exc:
                LOG.warning("thresher: cannot write the cache entry of %s: %s", path, exc)
                writer.abandon()
        for key, n in counts.items():
            yield beam.pvalue.TaggedOutput(COUNTS, (key, n))

    def _entry_records(self, entry: str):
        import zstandard
        with FileSystems.open(entry, compression_type=_RAW) as raw, \
                zstandard.ZstdDecompressor().stream_reader(raw) as stream:
            yield from _records(stream)

    def _replay(self, entry: str):
        for tag, payload in self._entry_records(entry):
            if tag == b"K":
                yield self._coder.decode(payload)
            elif tag == b"R":
                index, = struct.unpack_from("<I", payload)
                yield beam.pvalue.TaggedOutput(REJECTED, (index, self._coder.decode(payload[4:])))
            elif tag == b"E":
                yield beam.pvalue.TaggedOutput(ERRORS, orjson.loads(payload))
            elif tag == b"C":
                for key, n in orjson.loads(payload):
                    yield beam.pvalue.TaggedOutput(COUNTS, (keys.CountKey(*key), n))

    def _resume(self, entry: str, boundary: int, writers, counts: Counter):
        """The entry kept after step position ``boundary``, its documents through the steps after it."""
        for tag, payload in self._entry_records(entry):
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
                       self.progress)
        outputs = (pbegin
                   | "Files" >> beam.Create(items)
                   | "OneFilePerWorkItem" >> beam.Reshuffle()
                   | "Prefix" >> beam.ParDo(fn).with_outputs(REJECTED, ERRORS, COUNTS, main=KEPT))
        return {KEPT: outputs[KEPT], REJECTED: outputs[REJECTED], ERRORS: outputs[ERRORS], COUNTS: outputs[COUNTS]}

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("pipeline", None)
        return state
