"""Where ``thresher run`` keeps its prefix cache: on by default for the local runner (the folder of
``$THRESHER_CACHE_DIR``, pruned to ``$THRESHER_CACHE_MAX_SIZE``), ``--cache DIR``, ``--no-cache``;
what the summary and the cards say of it; ``cache prune`` leaves no empty folder."""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import time

import pytest

from thresher.pipelines.commands.cli import _cache_dir, main

RECIPE = """version: 1
name: cache-cli-test
inputs:
  web: {{paths: [{corpus}], format: warc}}
steps:
  - step: extract
  - step: gopher_quality
    min_stop_words: null
  - step: exact_dedup
output:
  path: out
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> pathlib.Path:
    from thresher.pipelines.commands.quickstart_corpus import write_corpus
    folder = tmp_path_factory.mktemp("corpus")
    write_corpus(str(folder), pages=80, files=4)
    return folder


def _run(tmp_path, pattern: str, out: str, *flags: str):
    recipe = tmp_path / f"recipe-{out}.yaml"
    recipe.write_text(RECIPE.format(corpus=pattern))
    code = main(["run", str(recipe), "--output", str(tmp_path / out), "--workers", "1", "--overwrite", *flags])
    stats_file = tmp_path / out / "stats.json"
    return code, json.loads(stats_file.read_text()) if stats_file.exists() else None


def _done(folder: pathlib.Path):
    return sorted(folder.glob("*/*/DONE"))


def test_a_local_run_caches_by_default_and_no_cache_turns_it_off(tmp_path, corpus, own_prefix_cache, capsys):
    code, stats = _run(tmp_path, f"{corpus}/*.warc.gz", "first")
    assert code == 0 and stats["balanced"]
    assert stats["cache"]["files_computed"] == 4 and stats["run"]["cache"] == str(own_prefix_cache)
    assert len(_done(own_prefix_cache)) == 4 * 2  # after the prefix and after extraction
    out = capsys.readouterr().out
    assert "cache: 0 input file(s) from the cache, 0 with their extracted text from it, 4 read and processed" in out
    assert f"cache folder: {own_prefix_cache}, " in out
    card = (tmp_path / "first" / "README.md").read_text()  # the Hugging Face dataset card
    assert "- prefix cache: 0 input file(s) from the cache" in card

    code, again = _run(tmp_path, f"{corpus}/*.warc.gz", "again")
    assert code == 0 and again["cache"]["files_from_cache"] == 4 and again["cache"]["files_computed"] == 0
    assert again["output"] == stats["output"]

    capsys.readouterr()
    code, plain = _run(tmp_path, f"{corpus}/*.warc.gz", "plain", "--no-cache")
    assert code == 0 and "cache" not in plain and "cache" not in plain["run"]
    assert "\ncache" not in capsys.readouterr().out  # neither the summary line nor the folder line
    assert plain["output"] == stats["output"] and len(_done(own_prefix_cache)) == 8


def test_cache_and_no_cache_together_is_one_line(tmp_path, corpus, capsys):
    with pytest.raises(SystemExit) as stop:
        _run(tmp_path, f"{corpus}/*.warc.gz", "both", "--cache", str(tmp_path / "c"), "--no-cache")
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "not allowed with argument" in err and "Traceback" not in err


def test_only_the_local_runner_has_a_default_cache(own_prefix_cache):
    def args(**given):
        return argparse.Namespace(**{"cache": None, "no_cache": False, "runner": "local", **given})
    assert _cache_dir(args()) == str(own_prefix_cache)
    assert _cache_dir(args(no_cache=True)) is None
    for runner in ("portable", "flink", "dataflow"):  # their workers may not see this machine's folder
        assert _cache_dir(args(runner=runner)) is None
    assert _cache_dir(args(runner="portable", cache="~/c")) == os.path.expanduser("~/c")


def test_the_default_cache_is_pruned_to_its_bound_least_recently_used_first(tmp_path, corpus, own_prefix_cache,
                                                                          monkeypatch, capsys):
    files = sorted(corpus.glob("*.warc.gz"))
    code, _ = _run(tmp_path, str(files[0]), "old")
    assert code == 0
    old = _done(own_prefix_cache)
    assert len(old) == 2
    long_ago = time.time() - 10 * 86400
    for done in old:  # made and last used ten days ago
        info = json.loads(done.read_text())
        done.write_text(json.dumps({**info, "created_unix": long_ago}))
        os.utime(done, (long_ago, long_ago))
    old_size = sum(p.stat().st_size for p in own_prefix_cache.rglob("*") if p.is_file())
    monkeypatch.setenv("THRESHER_CACHE_MAX_SIZE", str(old_size + 100))  # room for about one file's entries

    code, stats = _run(tmp_path, str(files[1]), "new")
    assert code == 0 and stats["cache"]["files_computed"] == 1
    out = capsys.readouterr().out
    assert "least recently used entries removed" in out and f"to stay under {old_size + 100}" in out
    left = _done(own_prefix_cache)  # the old entries went first
    assert left and not set(left) & set(old)
    assert sum(p.stat().st_size for p in own_prefix_cache.rglob("*") if p.is_file()) <= old_size + 100
    assert all(not done.parent.exists() for done in old)  # prune leaves no empty folder
    assert all(any(p.iterdir()) for p in own_prefix_cache.iterdir())

    code, again = _run(tmp_path, str(files[0]), "old-again")  # computed anew, after its entries were pruned
    assert code == 0 and again["cache"]["files_computed"] == 1


def test_an_explicit_cache_is_never_pruned_by_a_run(tmp_path, corpus, monkeypatch):
    monkeypatch.setenv("THRESHER_CACHE_MAX_SIZE", "1K")
    cache = tmp_path / "mine"
    code, stats = _run(tmp_path, f"{corpus}/*.warc.gz", "explicit", "--cache", str(cache))
    assert code == 0 and stats["cache"]["files_computed"] == 4
    assert len(_done(cache)) == 8


def test_a_bad_bound_is_a_note_not_a_failure(tmp_path, corpus, monkeypatch, capsys):
    monkeypatch.setenv("THRESHER_CACHE_MAX_SIZE", "lots")
    code, stats = _run(tmp_path, f"{corpus}/*.warc.gz", "bound")
    assert code == 0 and stats["balanced"]
    assert "THRESHER_CACHE_MAX_SIZE 'lots': a number and an optional unit" in capsys.readouterr().out
