"""The prefix cache's entries (``run.prefix_cache``): their keys and their files.

The key (``entry_key``) is a SHA-256 of the file's identity (``file_identity``) and of the prefix's
fingerprint (``prefix_fingerprint``): the input's settings, each prefix step with every resolved
parameter, the identity of the files and folders the steps' parameters name (models, model folders,
word lists; local or on an object store: ``_model_files``), the versions of the packages that decide
the result, and a hash of the steps' source (``code_hash``: Thresher's version does not change with
every edit). Layout: ``DIR/ab/<key>/entry-<uuid>.zst`` (written as ``.tmp``, then renamed)
and ``DIR/ab/<key>/DONE`` (JSON: which entry file, its size and xxh64, the recipe, input, file and
the step it was kept after), written last. An entry is used only when DONE parses and names a file
of that size and checksum (``complete_entry``). Two runs writing the same key write different entry
files; the DONE written last wins, and names a whole file. An entry file is zstd-compressed records
(``transforms.io.entry_records``; the counts record last).
"""
from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any, Dict, Iterator, List, Optional, Tuple

import xxhash
from apache_beam.io.filesystems import FileSystems

from thresher.pipelines.recipe.plugins import step_class
from thresher.pipelines.recipe.registry import STEPS
from thresher.pipelines.recipe.schema import InputSpec, Recipe, StepSpec, resolved_params
from thresher.transforms.io.entry_records import RAW, record

FORMAT_VERSION = 1  # bump when the entry layout or what it holds changes
DONE = "DONE"
#: packages whose version can change what the prefix keeps (python is added)
DECIDING_PACKAGES = ("thresher", "trafilatura", "fasttext-numpy2-wheel", "fastwarc", "warcio", "numpy",
                     "resiliparse")
MAX_FOLDER_FILES = 10_000  # a folder a parameter names is in the key by its files, up to this many


def default_cache_dir() -> str:
    """``$XDG_CACHE_HOME/thresher/prefix-cache`` (``~/.cache/...`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "thresher", "prefix-cache")


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


def _strings(value: Any) -> Iterator[str]:
    """The strings in a parameter's value, in lists and mappings too (perplexity's ``models``)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def _model_files(spec: StepSpec, params: Dict[str, Any]) -> Dict[str, Any]:
    """Identity of the files and folders a step's parameters name (models, model folders, word lists),
    local or on an object store; the language step's default model too."""
    named = [v for v in _strings(params) if v]
    if spec.step == "language" and not params.get("model_path"):
        try:
            from thresher.transforms.assets import find_lid_model
            named.append(find_lid_model())
        except Exception:  # no model: the step fails its preflight anyway
            pass
    found = {}
    for path in named:
        identity = _remote_identity(path) if "://" in path else _local_identity(os.path.expanduser(path))
        if identity is not None:
            found[path] = identity
    return found


def _local_identity(path: str) -> Optional[Dict[str, Any]]:
    """Size and modification time of the file, or of every file under the folder (a model folder);
    None when ``path`` names neither."""
    def stat(file: str) -> Dict[str, int]:
        st = os.stat(file)
        return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    if os.path.isfile(path):
        return stat(path)
    if not os.path.isdir(path) or not path.strip("."):  # ".": a parameter's punctuation, not a folder
        return None
    files = {}
    for root, dirs, names in os.walk(path):
        dirs.sort()
        for name in sorted(names):
            full = os.path.join(root, name)
            if len(files) == MAX_FOLDER_FILES:  # not a model's folder: what it holds decides nothing
                return {"folder": f"more than {MAX_FOLDER_FILES} files"}
            try:
                files[os.path.relpath(full, path)] = stat(full)
            except OSError:  # a dangling link
                files[os.path.relpath(full, path)] = None
    return {"folder": files}


def _remote_identity(path: str) -> Optional[Dict[str, Any]]:
    """``file_identity`` (size, time, checksum) of the object, or of every object under the folder;
    None when no file system of Beam's serves the scheme (``https://``) or nothing is there."""
    try:
        if FileSystems.get_scheme(path) is None:  # "://" inside some other text (a URL pattern)
            return None
        FileSystems.get_filesystem(path)
    except ValueError:
        return None
    try:
        exact = [m for m in FileSystems.match([path])[0].metadata_list if m.path == path]
        if exact:
            return file_identity(exact[0])
        under = FileSystems.match([FileSystems.join(path.rstrip("/"), "**")])[0].metadata_list
    except Exception as exc:  # unreachable: the step's own checks say so; the key says it was not seen
        return {"unlisted": type(exc).__name__}
    if not under:
        return None
    return {"folder": {m.path: file_identity(m) for m in sorted(under, key=lambda m: m.path)}}


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


class EntryWriter:
    """Writes one entry: zstd-compressed records to a temporary file, renamed, then DONE."""

    def __init__(self, directory: str, meta: Dict[str, Any]):
        import zstandard
        self.directory, self.meta = directory, meta
        self.name = f"entry-{uuid.uuid4().hex}.zst"
        self.temp = FileSystems.join(directory, self.name + ".tmp")
        self._raw = FileSystems.create(self.temp, compression_type=RAW)
        self._hash, self._bytes = xxhash.xxh64(), 0
        self._zstd = zstandard.ZstdCompressor(level=3).stream_writer(self, closefd=False)

    def write(self, data: bytes) -> int:  # the compressor's sink: hash and count what is written
        self._hash.update(data)
        self._bytes += len(data)
        self._raw.write(data)
        return len(data)

    def add(self, tag: bytes, payload: bytes) -> None:
        self._zstd.write(record(tag, payload))

    def commit(self) -> None:
        self._zstd.close()
        self._raw.close()
        FileSystems.rename([self.temp], [self.path])
        done = {**self.meta, "entry": self.name, "bytes": self._bytes, "xxh64": self._hash.hexdigest(),
                "created_unix": time.time()}
        _publish(FileSystems.join(self.directory, DONE), json.dumps(done).encode("utf-8"))

    @property
    def path(self) -> str:
        """Where the entry file is once committed (``.tmp`` after it until then)."""
        return FileSystems.join(self.directory, self.name)

    def abandon(self) -> None:
        try:
            self._raw.close()
            FileSystems.delete([self.temp])
        except Exception:
            pass

    def keep_unlisted(self) -> None:
        """Close the file but list it in no DONE: no later run uses it, this run may still read the
        documents it handed on (``transforms.io.rehydrate``); ``cache prune`` removes it after an hour."""
        try:
            self._zstd.close()
            self._raw.close()
        except Exception:
            pass


def _publish(path: str, data: bytes) -> None:
    """``path`` written whole or not at all, as a concurrent reader sees it: a local file is written
    beside it and renamed over it (two runs committing one entry at once would otherwise interleave
    their DONE); an object store publishes an object whole when it is closed."""
    if "://" in path:
        with FileSystems.create(path) as f:
            f.write(data)
        return
    temp = f"{path}.{uuid.uuid4().hex}.tmp"
    with FileSystems.create(temp) as f:
        f.write(data)
    FileSystems.rename([temp], [path])


def mark_used(directory: str) -> None:
    """DONE's time set to now: ``cache prune --max-size`` removes the least recently used entries first.
    Local entries only (an object's time changes only when it is rewritten); best effort."""
    if "://" not in directory:
        try:
            os.utime(os.path.join(directory, DONE))
        except OSError:
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
        with FileSystems.open(path, compression_type=RAW) as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
                size += len(chunk)
    except Exception as exc:
        return None, f"unreadable ({type(exc).__name__}: {exc})"
    if size != done["bytes"] or digest.hexdigest() != done["xxh64"]:
        return None, f"damaged ({size} bytes, checksum {digest.hexdigest()}; DONE says {done['bytes']}, {done['xxh64']})"
    return path, ""
