"""Live progress of a run: workers write small count files, a thread of the CLI sums and prints them.

``ProgressFiles`` is handed to ``ReadDocuments`` (``progress=``): each reader instance keeps its
files done, documents and errors in one JSON file under ``OUT/_temporary/progress/``, rewritten at
most once a second and after each file. This works wherever the workers share the output's
filesystem (local runner, a portable runner's workers on this machine; their log lines reach the job
service, not this process); outputs on ``gs://`` get no live progress. ``ProgressMonitor`` polls
that folder and prints one line: in place (``\\r``) on a terminal, every 0.5 s, else a new line
every ``THRESHER_PROGRESS_INTERVAL`` seconds (30).
"""
from __future__ import annotations

import json
import os
import threading
import time
import uuid
from typing import Dict, List, Optional, TextIO

PROGRESS_DIR = os.path.join("_temporary", "progress")
INTERVAL_ENV = "THRESHER_PROGRESS_INTERVAL"
TERMINAL_INTERVAL_S = 0.5
PIPE_INTERVAL_S = 30.0
WRITE_EVERY_S = 1.0
BYTE_OFFSET_FORMATS = frozenset({"warc", "wet", "arc"})  # record offsets are byte offsets in the file


class ProgressFiles:
    """Called by the reader: ``(files_done, docs, errors, file, offset)`` of this instance, written to its
    own file with ``bytes``: the sizes of the files done plus, in WARC, WET and ARC files (whose offsets
    are byte offsets), the offset reached in the file being read."""

    def __init__(self, directory: str):
        self.directory = directory
        self._path: Optional[str] = None
        self._next = 0.0
        self._files, self._done_bytes = 0, 0
        self._reading: Optional[str] = None
        self._size, self._by_bytes = 0, False

    def __getstate__(self):
        return {"directory": self.directory}

    def __setstate__(self, state):
        self.__init__(state["directory"])

    def _start(self, path: str) -> None:
        from thresher.transforms.io.sources import detect_format
        self._reading, self._size = path, _size_of(path)
        try:
            self._by_bytes = detect_format(path) in BYTE_OFFSET_FORMATS
        except ValueError:
            self._by_bytes = False

    def __call__(self, files_done: int, docs: int, errors: int, path: Optional[str] = None,
                 offset: Optional[int] = None, force: bool = False) -> None:
        if path is not None and path != self._reading:
            self._start(path)
        if files_done > self._files:  # the file being read is done
            self._files, self._done_bytes, self._reading = files_done, self._done_bytes + self._size, None
            self._size = 0
        now = time.monotonic()
        if not force and now < self._next:
            return
        self._next = now + WRITE_EVERY_S
        partial = min(offset or 0, self._size) if self._by_bytes and self._reading else 0
        try:
            if self._path is None:
                os.makedirs(self.directory, exist_ok=True)
                self._path = os.path.join(self.directory, f"{os.getpid()}-{uuid.uuid4().hex}.json")
            temp = self._path + ".tmp"
            with open(temp, "w") as f:
                json.dump({"files": files_done, "docs": docs, "errors": errors,
                           "bytes": self._done_bytes + partial}, f)
            os.replace(temp, self._path)
        except OSError:  # progress is best effort: never fail a run for it
            pass


def _size_of(path: str) -> int:
    """Size in bytes of a local or remote file; 0 when it cannot be told."""
    try:
        if "://" not in path:
            return os.path.getsize(path)
        from apache_beam.io.filesystems import FileSystems
        return FileSystems.match([path])[0].metadata_list[0].size_in_bytes
    except Exception:
        return 0


def progress_dir(output: str) -> Optional[str]:
    """Where workers write progress for this output, or None when it is not a local path."""
    if "://" in output:
        return None
    return os.path.join(os.path.abspath(output), PROGRESS_DIR)


def read_progress(directory: str) -> Dict[str, int]:
    """Files done, documents and errors summed over every worker's file (missing folder: zeros)."""
    total = {"files": 0, "docs": 0, "errors": 0, "bytes": 0, "readers": 0}
    try:
        names = [n for n in os.listdir(directory) if n.endswith(".json")]
    except OSError:
        return total
    for name in names:
        try:
            with open(os.path.join(directory, name)) as f:
                counts = json.load(f)
        except (OSError, ValueError):
            continue
        total["readers"] += 1
        for key in ("files", "docs", "errors", "bytes"):
            total[key] += int(counts.get(key, 0))
    return total


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def format_progress(counts: Dict[str, int], files_total: int, elapsed_s: float, bytes_total: int = 0) -> str:
    """One line: stage, files done / total (and the share of the input's bytes read, where known),
    documents read, documents/s, elapsed, estimate of what is left. The estimate assumes the rest reads
    as fast as what was read: by bytes where readers know their offset in a file, else by files."""
    done, docs = min(counts.get("files", 0), files_total), counts.get("docs", 0)
    read = min(counts.get("bytes", 0), bytes_total)
    if not counts.get("readers"):
        stage = "starting"
    elif done < files_total:
        stage = "reading"
    else:
        stage = "finishing"  # every file read: shuffles, dedup, writing
    rate = docs / elapsed_s if elapsed_s > 0 else 0.0
    files = f"{stage}: {done}/{files_total} files" + (f" ({read / bytes_total:.0%})" if stage == "reading" and read
                                                       else "")
    parts = [files, f"{docs:,} docs", f"{rate:,.1f} docs/s", f"{_clock(elapsed_s)} elapsed"]
    if stage == "reading" and read:
        parts.append(f"~{_clock(elapsed_s * (bytes_total - read) / read)} left")
    elif stage == "reading" and done:
        parts.append(f"~{_clock(elapsed_s * (files_total - done) / done)} left")
    if counts.get("errors"):
        parts.insert(2, f"{counts['errors']:,} read errors")
    return "  ".join(parts)


def _interval(terminal: bool) -> float:
    value = os.environ.get(INTERVAL_ENV)
    if value:
        try:
            return max(float(value), 0.05)
        except ValueError:
            pass
    return TERMINAL_INTERVAL_S if terminal else PIPE_INTERVAL_S


_SHOWN: List["ProgressMonitor"] = []  # the monitor running now, whose line other output clears first


def clear_line() -> None:
    """Blank the progress line on the terminal before something else is printed there."""
    for monitor in list(_SHOWN):
        with monitor._lock:
            monitor.clear()


class ProgressMonitor:
    """A daemon thread printing ``format_progress`` of ``directory`` to ``stream`` until ``stop``."""

    def __init__(self, directory: str, files_total: int, stream: TextIO, bytes_total: int = 0):
        self.directory, self.files_total, self.stream, self.bytes_total = directory, files_total, stream, bytes_total
        try:
            self.terminal = stream.isatty()
        except (AttributeError, ValueError):
            self.terminal = False
        self.interval = _interval(self.terminal)
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._width = 0
        self._thread = threading.Thread(target=self._loop, name="thresher-progress", daemon=True)

    def start(self) -> "ProgressMonitor":
        _SHOWN.append(self)
        self._thread.start()
        return self

    def _loop(self) -> None:
        last = read_progress(self.directory)
        while not self._stop.wait(self.interval):
            counts = read_progress(self.directory)
            if counts["readers"] or not last["readers"]:  # the files go when the run finalises: keep the last
                last = counts
            self.show(format_progress(last, self.files_total, time.monotonic() - self.started, self.bytes_total))

    def show(self, line: str) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            try:
                if self.terminal:
                    self.stream.write("\r" + line.ljust(self._width))
                    self._width = max(self._width, len(line))  # what the terminal shows
                else:
                    self.stream.write(line + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass

    def clear(self) -> None:
        """Blank the in-place line (before other output, and at the end)."""
        if self.terminal and self._width:
            try:
                self.stream.write("\r" + " " * self._width + "\r")
                self.stream.flush()
            except (OSError, ValueError):
                pass
            self._width = 0

    def stop(self) -> None:
        if self in _SHOWN:
            _SHOWN.remove(self)
        with self._lock:
            self._stop.set()
            self.clear()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
