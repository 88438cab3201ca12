"""The run's log file (``OUT/thresher.log``) and a quiet terminal.

Everything logged during a run (Beam, worker processes, third-party libraries) goes to the log
file. Without ``--verbose`` the terminal shows only this project's warnings and errors: the
file descriptor 2 that worker processes inherit points at the log file, so their tracebacks
(Ctrl-C) and direct writes land there, and the CLI writes to a copy of the real stderr.
"""
from __future__ import annotations

import logging
import os
import re
import sys
import threading
import traceback
from typing import Optional

import thresher.pipelines
import thresher.transforms
from thresher.pipelines.run.progress import clear_line
from thresher.transforms.redact import redact, redact_logs

_PROJECT_DIRS = tuple(os.path.dirname(os.path.abspath(package.__file__)) + os.sep
                      for package in (thresher.pipelines, thresher.transforms))
_PROJECT_LOGGERS = ("thresher", "pipelines", "transforms")
WORKER_LOGGER = "apache_beam.runners.portability.local_job_service"  # logs what worker processes send
NOISE = ("No semi_persistent_directory found",)  # Beam's workers on a directory only Dataflow provides
_FIELD = r'{}: "((?:[^"\\]|\\.)*)"'
_MESSAGE, _LOCATION = re.compile(_FIELD.format("message")), re.compile(_FIELD.format("log_location"))
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _unescape(text: str) -> str:
    """Protobuf text escapes (``\\n``, ``\\'``, octal bytes) back to text."""
    try:
        return text.encode("latin-1", "backslashreplace").decode("unicode_escape").encode("latin-1").decode(
            "utf-8", "replace")
    except (UnicodeError, ValueError):
        return text


def worker_entry(message: str):
    """(message, file:line) of a log entry a worker process sent, as the local runner logs it."""
    found, where = _MESSAGE.search(message), _LOCATION.search(message)
    return (_unescape(found.group(1)) if found else message), (where.group(1) if where else "")


def _ours(path: str) -> bool:
    return path.startswith(_PROJECT_DIRS)


class ConsoleFilter(logging.Filter):
    """What the terminal shows: this project's warnings (and, with ``verbose``, everyone's, and
    this project's info lines such as ``thresher: read FILE: N documents``); worker lines as their
    bare message."""

    def __init__(self, verbose: bool = False):
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(text in message for text in NOISE):
            return False
        if record.name == WORKER_LOGGER and message.startswith("Worker: "):
            text, where = worker_entry(message)
            ours = _ours(where.rsplit(":", 1)[0])
            warning = record.levelno >= logging.WARNING
            if not (warning and (ours or self.verbose) or self.verbose and ours):
                return False
            record.msg, record.args = text, ()
            clear_line()
            return True
        ours = record.name.startswith(_PROJECT_LOGGERS) or _ours(record.pathname)
        if self.verbose:
            shown = record.levelno >= logging.WARNING or record.name.startswith("thresher")
        else:
            shown = ours and record.levelno >= logging.WARNING
        if shown:
            clear_line()
        return shown


def _fd_of(stream) -> Optional[int]:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def _to_descriptor_2(args) -> None:
    """``threading.excepthook`` writing to descriptor 2 (the log file while the terminal is quiet)."""
    try:
        with os.fdopen(os.dup(2), "w") as out:
            traceback.print_exception(args.exc_type, args.exc_value, args.exc_traceback, file=out)
    except OSError:
        pass


class RunLog:
    """Context: log to ``path`` (None: no file) and, unless ``verbose``, keep the terminal quiet.

    On KeyboardInterrupt descriptor 2 stays on the log file, so that worker processes dying
    afterwards print nothing; ``sys.stderr`` stays the terminal for the CLI's last line."""

    def __init__(self, path: Optional[str], verbose: bool):
        self.path, self.verbose = path, verbose
        self._handler: Optional[logging.Handler] = None
        self._saved = None

    def __enter__(self) -> "RunLog":
        root = logging.getLogger()
        self._level = root.level
        if self.path:
            self._handler = logging.FileHandler(self.path, mode="a", encoding="utf-8")
            self._handler.setFormatter(logging.Formatter(LOG_FORMAT))
            redact_logs([self._handler])
            root.addHandler(self._handler)
            root.setLevel(logging.INFO)
        if self.path and not self.verbose and _fd_of(sys.stderr) == 2:
            self._quiet_terminal()
        return self

    def _quiet_terminal(self) -> None:
        """Descriptor 2 -> the log file; sys.stderr and the console handlers -> a copy of the terminal."""
        sys.stderr.flush()
        terminal = os.fdopen(os.dup(2), "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",
                             errors="backslashreplace")
        log_fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(log_fd, 2)
        os.close(log_fd)
        old = sys.stderr
        handlers = [h for h in logging.getLogger().handlers
                    if isinstance(h, logging.StreamHandler) and getattr(h, "stream", None) is old]
        for handler in handlers:
            handler.setStream(terminal)
        sys.stderr = terminal
        self._saved = (old, terminal, handlers, threading.excepthook)
        threading.excepthook = _to_descriptor_2  # Beam's threads dying on Ctrl-C: to the log file

    def failed(self, exc: BaseException) -> None:
        """The full traceback to the log file, and to the terminal with ``verbose``."""
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        text = redact(text)
        if self._handler is not None:
            self._handler.stream.write(text)
            self._handler.flush()
        if self.verbose:
            print(text, file=sys.stderr, end="")

    def __exit__(self, kind, exc, tb) -> None:
        root = logging.getLogger()
        if self._handler is not None:
            root.removeHandler(self._handler)
            self._handler.close()
        root.setLevel(self._level)
        if self._saved and kind is not KeyboardInterrupt:
            old, terminal, handlers, hook = self._saved
            threading.excepthook = hook
            terminal.flush()
            os.dup2(terminal.fileno(), 2)
            for handler in handlers:
                handler.setStream(old)
            sys.stderr = old
            terminal.close()
