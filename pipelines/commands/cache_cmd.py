"""``thresher cache ls|prune [--cache DIR]``: the prefix cache's entries (``run.prefix_cache``).

``ls`` prints one line per whole entry (key, size, age, recipe, input, file) and the totals;
``prune --older-than AGE`` removes entries made before AGE ago (``30d``, ``12h``, ``90m``),
``prune --max-size SIZE`` the oldest until the rest fits (``10G``, ``500M``). A prune also removes
what crashed or concurrent writers left (entry files no DONE names, temporary files) once older
than an hour. An entry's DONE goes first, so a run reading meanwhile recomputes, never half-reads.
"""
from __future__ import annotations

import json
import re
import time
from typing import Dict, List, Tuple

from apache_beam.io.filesystems import FileSystems

from thresher.pipelines.report.stats import human_bytes
from thresher.pipelines.run.cache_entries import DONE, default_cache_dir

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SIZES = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
LEFTOVER_AGE_S = 3600  # files no DONE names are removed after this long: a writer may still be at work


def add_arguments(parser) -> None:
    parser.add_argument("action", choices=("ls", "prune"))
    parser.add_argument("--cache", metavar="DIR", help="the cache (default ~/.cache/thresher/prefix-cache)")
    parser.add_argument("--older-than", metavar="AGE", help="prune: entries made before AGE ago (30d, 12h, 90m)")
    parser.add_argument("--max-size", metavar="SIZE", help="prune: remove the oldest until the rest fits (10G, 500M)")


def parse_age(text: str) -> float:
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text.lower())
    if not found:
        raise ValueError(f"--older-than {text!r}: a number and a unit, s m h d or w (e.g. 30d)")
    return float(found.group(1)) * _UNITS[found.group(2)]


def parse_size(text: str) -> int:
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", text.lower())
    if not found:
        raise ValueError(f"--max-size {text!r}: a number and an optional unit, K M G or T (e.g. 10G)")
    return int(float(found.group(1)) * _SIZES[found.group(2)])


def scan(root: str) -> Tuple[List[Dict], List[Tuple[str, int, float]]]:
    """(whole entries: their DONE plus ``dir`` and ``size``, files no readable DONE names: (path, bytes, mtime))."""
    files = FileSystems.match([FileSystems.join(root, "*", "*", "*")])[0].metadata_list
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
            entries.append({**done, "dir": directory, "size": size})
    return entries, loose


def _age(seconds: float) -> str:
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= length:
            return f"{seconds / length:.0f}{unit}"
    return f"{seconds:.0f}s"


def run(args) -> int:
    root = args.cache or default_cache_dir()
    entries, loose = scan(root)
    now = time.time()
    if args.action == "ls":
        for e in sorted(entries, key=lambda e: e.get("created_unix", 0)):
            print(f"{e['dir'].rsplit('/', 1)[1][:12]}  {human_bytes(e['size']):>10}  "
                  f"{_age(now - e.get('created_unix', now)):>4}  {e.get('recipe', '?')}  {e.get('source', '?')}  "
                  f"{e.get('file', '?')}")
        print(f"{len(entries)} entries, {human_bytes(sum(e['size'] for e in entries))} in {root}"
              + (f"; {len(loose)} loose file(s), {human_bytes(sum(s for _, s, _ in loose))}" if loose else ""))
        return 0
    if not args.older_than and not args.max_size:
        raise ValueError("thresher cache prune: say what to remove: --older-than AGE and/or --max-size SIZE")
    doomed = []
    if args.older_than:
        limit = now - parse_age(args.older_than)
        doomed = [e for e in entries if e.get("created_unix", 0) < limit]
    if args.max_size:
        left = sorted((e for e in entries if e not in doomed), key=lambda e: e.get("created_unix", 0))
        budget, total = parse_size(args.max_size), sum(e["size"] for e in left)
        while left and total > budget:
            gone = left.pop(0)
            doomed.append(gone)
            total -= gone["size"]
    for e in doomed:
        FileSystems.delete([FileSystems.join(e["dir"], DONE)])  # first: the entry stops being used
        FileSystems.delete([FileSystems.join(e["dir"], e["entry"])])
    old_loose = [path for path, _, mtime in loose if now - mtime > LEFTOVER_AGE_S]
    if old_loose:
        FileSystems.delete(old_loose)
    print(f"removed {len(doomed)} entries ({human_bytes(sum(e['size'] for e in doomed))}) and "
          f"{len(old_loose)} loose file(s); {len(entries) - len(doomed)} entries left in {root}")
    return 0
