"""The regular install (a built wheel, not the editable checkout): one top-level package, ``thresher``,
with the recipes as package data, and the quickstart runs from it."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import PROJECT_ROOT, require_lid_model


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                    "-w", str(out), str(PROJECT_ROOT)], check=True, capture_output=True)
    (path,) = out.glob("thresher-*.whl")
    return str(path)


def test_the_wheel_holds_one_top_level_package_and_the_recipes(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"thresher", "thresher-0.1.0.dist-info"}
    for path in ("thresher/pipelines/commands/cli.py", "thresher/transforms/base.py",
                 "thresher/transforms/io/sources/warc.py", "thresher/recipes/quickstart.yaml",
                 "thresher/recipes/fineweb.yaml"):
        assert path in names
    assert not [n for n in names if n.startswith("thresher/") and n.endswith("setup.py")]
    entry = zipfile.ZipFile(wheel).read("thresher-0.1.0.dist-info/entry_points.txt").decode()
    assert "thresher = thresher.pipelines.commands.cli:main" in entry


def test_quickstart_runs_from_the_installed_wheel(wheel, tmp_path):
    require_lid_model()
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), wheel],
                   check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(target)}  # before the venv's editable finder of the checkout
    where = subprocess.run([sys.executable, "-c", "import thresher.transforms, thresher.recipes as r; "
                            "print(thresher.transforms.__file__); print(list(r.__path__)[0])"],
                           cwd=tmp_path, env=env, check=True, capture_output=True, text=True).stdout.split()
    assert all(p.startswith(str(target)) for p in where), where
    done = subprocess.run([sys.executable, "-m", "thresher.pipelines.commands.cli", "quickstart",
                           "--dir", str(tmp_path / "qs"), "--workers", "1"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "qs" / "output" / "_SUCCESS").exists()
    assert "balanced: True" in done.stdout
