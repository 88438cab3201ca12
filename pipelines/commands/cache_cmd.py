"""``thresher cache ls|prune [--cache DIR]``: the prefix cache's entries (``run.prefix_cache``).

``ls`` prints one line per whole entry (key, size, age, recipe, input, file) and the totals;
``prune --older-than AGE`` removes entries made before AGE ago (``30d``, ``12h``, ``90m``),
``prune --max-size SIZE`` the least recently used until the rest fits (``10G``, ``500M``; an entry
is used when made and when a run takes it: its DONE file's time). A prune also removes what crashed
or concurrent writers left (entry files no DONE names, temporary files) once older than an hour,
and the folders it empties. An entry's DONE goes first, so a run reading meanwhile recomputes,
never half-reads. After a run with the default cache (``cache_location``) the cache is pruned to
``$THRESHER_CACHE_MAX_SIZE`` (``DEFAULT_MAX_SIZE``) the same way (``after_run``).
"""
from __future__ import annotations

import json
import os
import re
import time
from typing import Dict, List, Optional, Tuple

from apache_beam.io.filesystems import FileSystems

from thresher.pipelines.report.stats import human_bytes
from thresher.pipelines.run.cache_entries import DONE, default_cache_dir

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SIZES = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
LEFTOVER_AGE_S = 3600  # files no DONE names are removed after this long: a writer may still be at work
DEFAULT_MAX_SIZE = "20G"  # the default cache's bound after each run ($THRESHER_CACHE_MAX_SIZE)


def cache_location() -> str:
    """The default cache: ``$THRESHER_CACHE_DIR``, else ``~/.cache/thresher/prefix-cache``."""
    return os.environ.get("THRESHER_CACHE_DIR") or default_cache_dir()


def add_arguments(parser) -> None:
    parser.add_argument("action", choices=("ls", "prune"))
    parser.add_argument("--cache", metavar="DIR",
                        help="the cache (default $THRESHER_CACHE_DIR, else ~/.cache/thresher/prefix-cache)")
    parser.add_argument("--older-than", metavar="AGE", help="prune: entries made before AGE ago (30d, 12h, 90m)")
    parser.add_argument("--max-size", metavar="SIZE",
                        help="prune: remove the least recently used until the rest fits (10G, 500M)")


def parse_age(text: str) -> float:
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text.lower())
    if not found:
        raise ValueError(f"--older-than {text!r}: a number and a unit, s m h d or w (e.g. 30d)")
    return float(found.group(1)) * _UNITS[found.group(2)]


def parse_size(text: str, what: str = "--max-size") -> int:
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", text.lower())
    if not found:
        raise ValueError(f"{what} {text!r}: a number and an optional unit, K M G or T (e.g. 10G)")
    return int(float(found.group(1)) * _SIZES[found.group(2)])


def _files(root: str) -> List:
    return FileSystems.match([FileSystems.join(root, "*", "*", "*")])[0].metadata_list


def scan(root: str) -> Tuple[List[Dict], List[Tuple[str, int, float]]]:
    """(whole entries: their DONE plus ``dir``, ``size`` and ``used`` (DONE's time: made or last taken),
    files no readable DONE names: (path, bytes, mtime))."""
    files = _files(root)
    by_dir: Dict[str, List] = {}
    for meta in files:
        by_dir.setdefault(meta.path.rsplit("/", 1)[0], []).append(meta)
    entries, loose = [], []
    for directory, metas in sorted(by_dir.items()):
        done = None
        if any(m.path.endswith("/" + DONE) for m in metas):
            try:
                with FileSystems.open(FileSystems.join(directory, DONE)) as f:
                    done = json.loads(f.read().decode("utf-8"))
            except Exception:  # half-written: what it names is loose
                done = None
        for meta in metas:
            name = meta.path.rsplit("/", 1)[1]
            if done is None or name not in (DONE, done.get("entry")):
                loose.append((meta.path, meta.size_in_bytes, meta.last_updated_in_seconds))
        if done is not None:
            size = sum(m.size_in_bytes for m in metas if m.path.rsplit("/", 1)[1] in (DONE, done.get("entry")))
            used = max(m.last_updated_in_seconds for m in metas if m.path.endswith("/" + DONE))
            entries.append({**done, "dir": directory, "size": size,
                            "used": max(used or 0, done.get("created_unix", 0))})
    return entries, loose


def _age(seconds: float) -> str:
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= length:
            return f"{seconds / length:.0f}{unit}"
    return f"{seconds:.0f}s"


def prune(root: str, older_than: Optional[float] = None, max_size: Optional[int] = None) -> Tuple[int, int, int, int]:
    """Remove entries made more than ``older_than`` seconds ago, then the least recently used until
    ``max_size`` bytes are left, and old loose files. Returns (entries removed, their bytes, loose
    files removed, entries left)."""
    entries, loose = scan(root)
    now = time.time()
    doomed = []
    if older_than is not None:
        doomed = [e for e in entries if e.get("created_unix", 0) < now - older_than]
    if max_size is not None:
        left = sorted((e for e in entries if e not in doomed), key=lambda e: e["used"])
        total = sum(e["size"] for e in left)
        while left and total > max_size:
            gone = left.pop(0)
            doomed.append(gone)
            total -= gone["size"]
    for e in doomed:
        FileSystems.delete([FileSystems.join(e["dir"], DONE)])  # first: the entry stops being used
        FileSystems.delete([FileSystems.join(e["dir"], e["entry"])])
    old_loose = [path for path, _, mtime in loose if now - mtime > LEFTOVER_AGE_S]
    if old_loose:
        FileSystems.delete(old_loose)
    _remove_empty_folders([e["dir"] for e in doomed] + [p.rsplit("/", 1)[0] for p in old_loose])
    return len(doomed), sum(e["size"] for e in doomed), len(old_loose), len(entries) - len(doomed)


def _remove_empty_folders(folders: List[str]) -> None:
    """An entry's folder and its ``ab/`` parent, once empty (local caches: object stores have no folders);
    a folder a writer has just filled again is left (``rmdir`` refuses)."""
    for folder in sorted(set(folders)):
        if "://" in folder:
            continue
        for path in (folder, os.path.dirname(folder)):
            try:
                os.rmdir(path)
            except OSError:
                break


def after_run(root: str, auto_prune: bool) -> Optional[str]:
    """The line printed after a run with a cache: where it is and its size; with ``auto_prune`` (the
    default cache) it is first pruned to ``$THRESHER_CACHE_MAX_SIZE``. None when it cannot be listed."""
    try:
        size = sum(m.size_in_bytes for m in _files(root))
        note = ""
        if auto_prune:
            text = os.environ.get("THRESHER_CACHE_MAX_SIZE") or DEFAULT_MAX_SIZE
            limit = parse_size(text, "THRESHER_CACHE_MAX_SIZE")
            if size > limit:
                removed, freed, _, _ = prune(root, max_size=limit)
                size -= freed
                note = f"; {removed} least recently used entries removed ({human_bytes(freed)}) to stay under {text}"
    except Exception as exc:  # the run is done: a cache that cannot be listed is a note, not a failure
        return f"cache: {root} ({type(exc).__name__}: {exc})"
    return f"cache folder: {root}, {human_bytes(size)}{note} (thresher cache ls|prune)"


def run(args) -> int:
    root = args.cache or cache_location()
    if args.action == "ls":
        entries, loose = scan(root)
        now = time.time()
        for e in sorted(entries, key=lambda e: e.get("created_unix", 0)):
            print(f"{e['dir'].rsplit('/', 1)[1][:12]}  {human_bytes(e['size']):>10}  "
                  f"{_age(now - e.get('created_unix', now)):>4}  {e.get('recipe', '?')}  {e.get('source', '?')}  "
                  f"{e.get('file', '?')}")
        print(f"{len(entries)} entries, {human_bytes(sum(e['size'] for e in entries))} in {root}"
              + (f"; {len(loose)} loose file(s), {human_bytes(sum(s for _, s, _ in loose))}" if loose else ""))
        return 0
    if not args.older_than and not args.max_size:
        raise ValueError("thresher cache prune: say what to remove: --older-than AGE and/or --max-size SIZE")
    removed, freed, loose, left = prune(root, parse_age(args.older_than) if args.older_than else None,
                                        parse_size(args.max_size) if args.max_size else None)
    print(f"removed {removed} entries ({human_bytes(freed)}) and {loose} loose file(s); {left} entries left in {root}")
    return 0
