"""Checks a step's ``preflight`` makes before the pipeline starts: files it names.

``check_path`` says, as one ``ParamError`` naming the parameter, that a file or
folder is missing, unreadable or of the wrong kind, what was expected there,
and how a relative path was resolved. ``Problems`` collects several errors of
one step and raises them together, so that a recipe's every mistake is listed.
"""
from __future__ import annotations

import os
from typing import Callable, List, Optional

from thresher.transforms.base import ParamError


class PreflightErrors(ValueError):
    """Several problems found by one step's ``preflight``: ``errors`` (ParamError each)."""

    def __init__(self, errors: List[ParamError]):
        self.errors = list(errors)
        super().__init__("; ".join(str(e) for e in self.errors))


class Problems:
    """Collects a step's preflight errors: ``add`` one, ``check`` runs a callable and keeps what it
    raises, ``raise_if_any`` raises one ParamError or ``PreflightErrors``."""

    def __init__(self):
        self.errors: List[ParamError] = []

    def add(self, error: Optional[ParamError]) -> None:
        if error is not None:
            self.errors.append(error)

    def check(self, param: str, call: Callable[[], object]) -> bool:
        """Run ``call``; a ParamError it raises is kept, any other exception becomes one for ``param``.
        True when it passed."""
        try:
            call()
        except PreflightErrors as exc:
            self.errors.extend(exc.errors)
        except ParamError as exc:
            self.errors.append(exc)
        except Exception as exc:  # what the step's own loader raised on this file
            plain = isinstance(exc, (ValueError, OSError)) and str(exc)
            self.errors.append(ParamError(param, str(exc) if plain else f"{type(exc).__name__}: {exc}"))
        else:
            return True
        return False

    def raise_if_any(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise PreflightErrors(self.errors)


def is_local(path: str) -> bool:
    from apache_beam.io.filesystems import FileSystems
    return FileSystems.get_scheme(path) in (None, "file")


def resolution_note(path: str) -> str:
    """How a local path was read: relative paths from the current directory."""
    if not is_local(path) or os.path.isabs(path):
        return f"relative paths are resolved from the current directory {os.getcwd()}"
    return f"resolved to {os.path.abspath(path)} from the current directory {os.getcwd()}"


def check_path(param: str, path: str, expected: str, kind: str = "file") -> Optional[ParamError]:
    """None when ``path`` exists as ``kind`` (``file``, ``dir`` or ``any``) and can be read,
    else a ParamError: ``PATH: no such file (expected EXPECTED); relative paths are resolved...``."""
    if not path:
        return ParamError(param, f"empty path (expected {expected})")
    if not is_local(path):
        from apache_beam.io.filesystems import FileSystems
        try:
            found = FileSystems.exists(path)
        except Exception as exc:  # no credentials, no such bucket...
            return ParamError(param, f"{path}: cannot check it: {exc} (expected {expected})")
        if not found and kind != "dir":
            return ParamError(param, f"{path}: no such file (expected {expected})")
        return None
    noun = {"file": "file", "dir": "folder"}.get(kind, "file or folder")
    if not os.path.exists(path):
        return ParamError(param, f"{path}: no such {noun} (expected {expected}); {resolution_note(path)}")
    if kind == "file" and os.path.isdir(path):
        return ParamError(param, f"{path}: is a folder, not a file (expected {expected})")
    if kind == "dir" and not os.path.isdir(path):
        return ParamError(param, f"{path}: is a file, not a folder (expected {expected})")
    if not os.access(path, os.R_OK | (os.X_OK if os.path.isdir(path) else 0)):
        return ParamError(param, f"{path}: permission denied: cannot read it (expected {expected})")
    return None
