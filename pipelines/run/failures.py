"""One line for a run that raised: where (step, input, writing) and the root cause.

Beam wraps an exception raised in a worker process in a RuntimeError holding the worker's
traceback, whose text keeps ``Type: message [while running 'LABEL/...']``; with one worker it
re-raises the original exception with `` [while running 'LABEL/...']`` added to its message.
The label's first part is the transform the builder named: ``03_c4_badwords``, ``read_web``,
``write data``.
"""
from __future__ import annotations

import re
from typing import Optional, Tuple

_WHILE = re.compile(r"(?P<cause>.*?)(?: \[while running '(?P<label>[^']+)'\])+")
_TYPED = re.compile(r"^(?:[a-z_]\w*\.)*[A-Z]\w*: ")  # "IsADirectoryError: ...", "grpc.RpcError: ..."
_WRAPPER = re.compile(r"^(?:RuntimeError|Exception): (?=[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)\b: )")
_STEP = re.compile(r"^(?P<index>\d+)_(?P<step>[^\s\[]+)(?: \[(?P<input>[^\]]+)\])?$")


def root_cause(exc: BaseException) -> Tuple[str, Optional[str]]:
    """(``Type: message`` of the first exception Beam reports, the transform label or None)."""
    seen = set()
    current: Optional[BaseException] = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for line in str(current).splitlines():
            found = _WHILE.search(line)
            if found:
                cause = found.group("cause").strip()
                while _WRAPPER.match(cause):
                    cause = _WRAPPER.sub("", cause, count=1)
                if not _TYPED.match(cause):  # one worker: the original exception, its message augmented
                    cause = f"{type(current).__name__}: {cause}"
                return cause, found.group("label")
        current = current.__cause__ or current.__context__
    first = (str(exc).strip().splitlines() or [""])[0]
    return (f"{type(exc).__name__}: {first}" if first else type(exc).__name__), None


def where(label: Optional[str]) -> str:
    """The part of the run a transform label belongs to, in words."""
    if not label:
        return "the run"
    top = label.split("/")[0].strip()
    step = _STEP.match(top)
    if step:
        on_input = f" on input '{step.group('input')}'" if step.group("input") else ""
        return f"step {step.group('index')} ({step.group('step')}){on_input}"
    if top.startswith("read_"):
        return f"reading input '{top[len('read_'):]}'"
    if top.startswith("write "):
        return f"writing {top[len('write '):]}/"
    if top == "finalize":
        return "writing stats.json and the data card"
    return f"'{top}'"


def failure_line(exc: BaseException, log_path: Optional[str] = None, doing: Optional[str] = None) -> str:
    """``error: step 01 (c4_badwords): IsADirectoryError: [Errno 21] ... (traceback: OUT/thresher.log)``;
    ``doing`` names the part of the run when no transform label does."""
    cause, label = root_cause(exc)
    tail = f" (full traceback: {log_path}; --verbose prints it)" if log_path else ""
    return f"error: {where(label) if label or not doing else doing}: {cause}{tail}"
