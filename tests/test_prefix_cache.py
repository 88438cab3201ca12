"""The prefix cache (``thresher run --cache``): reruns read and extract only what is missing, and give
what an uncached run gives; damaged or stale entries are never used."""
from __future__ import annotations

import json
import os
import pathlib
import signal
import time

import pytest

from tests.gcs_emulator import BUCKET, gcs  # noqa: F401 (a fixture)
from tests.test_faults import _read_ids, _thresher
from thresher.pipelines.commands.cli import main

RECIPE = """version: 1
name: cache-test
inputs:
  web: {{paths: [{corpus}/*.warc.gz], format: warc}}
steps:
  - step: extract
    favor_precision: {precision}
  - step: gopher_repetition
  - step: gopher_quality
    min_stop_words: null
    min_doc_words: {min_words}
  - step: exact_dedup
  - step: minhash_dedup
    threshold: {threshold}
output:
  path: out
  rejected: true
  order: shuffle
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> pathlib.Path:
    from thresher.pipelines.commands.quickstart_corpus import write_corpus
    folder = tmp_path_factory.mktemp("corpus")
    write_corpus(str(folder), pages=120, files=3)
    return folder


def _recipe(folder: pathlib.Path, corpus: pathlib.Path, threshold=0.8, precision="true", min_words=50) -> str:
    path = folder / f"recipe-{threshold}-{precision}-{min_words}.yaml"
    path.write_text(RECIPE.format(corpus=corpus, threshold=threshold, precision=precision, min_words=min_words))
    return str(path)


def _run(recipe: str, out: pathlib.Path, cache=None):
    args = ["run", recipe, "--output", str(out), "--workers", "2", "--quiet", "--overwrite"]
    args += ["--cache", str(cache)] if cache is not None else ["--no-cache"]
    assert main(args) == 0
    return json.loads((out / "stats.json").read_text())


def _counts(stats):
    """What must not depend on the cache: every count of the input and of each step."""
    return (stats["input"]["documents"], stats["input"]["read_errors"], stats["input"]["skipped"],
            stats["input"]["tokens"],
            [(s["in"], s["out"], s["dropped"], s["errors"], s["tokens_out"]) for s in stats["steps"]],
            stats["output"]["documents"], stats["errors_written"], stats["rejected_written"])


def _same(out_a: pathlib.Path, out_b: pathlib.Path, stats_a, stats_b):
    assert _counts(stats_a) == _counts(stats_b)
    assert _read_ids(out_a / "data") == _read_ids(out_b / "data")
    assert _read_ids(out_a / "rejected") == _read_ids(out_b / "rejected")


WHOLE, EXTRACTED = "02_gopher_quality", "00_extract"  # the entries kept after the prefix, after extraction


def _after(done: pathlib.Path) -> str:
    try:
        return json.loads(done.read_text())["after"]
    except ValueError:  # being written
        return ""


def _entries(cache: pathlib.Path, after: str = WHOLE):
    return sorted(d for d in cache.glob("*/*/DONE") if _after(d) == after)


def _cache(stats):
    """(files whole from the cache, extracted from it, computed, damaged entries)."""
    c = stats["cache"]
    return c["files_from_cache"], c["files_partly_from_cache"], c["files_computed"], c["entries_damaged"]


def test_cold_run_then_changed_dedup_extracts_nothing_and_changed_extraction_everything(tmp_path, corpus):
    cache = tmp_path / "cache"
    plain = _run(_recipe(tmp_path, corpus), tmp_path / "plain")
    assert "cache" not in plain  # with --no-cache nothing changes
    cold = _run(_recipe(tmp_path, corpus), tmp_path / "cold", cache)
    assert _cache(cold) == (0, 0, 3, 0)
    assert len(_entries(cache)) == 3 and len(_entries(cache, EXTRACTED)) == 3 and cold["balanced"]
    _same(tmp_path / "plain", tmp_path / "cold", plain, cold)

    warm = _run(_recipe(tmp_path, corpus), tmp_path / "warm", cache)  # the same recipe again
    assert _cache(warm) == (3, 0, 0, 0)
    card = (tmp_path / "warm" / "report.md").read_text()
    # the data card says so
    assert "3 input file(s) from the cache, 0 with their extracted text from it, 0 read and processed" in card
    assert "from the cache" not in (tmp_path / "plain" / "report.md").read_text()
    _same(tmp_path / "plain", tmp_path / "warm", plain, warm)

    # a later step changed: every file from the cache, the same output as an uncached run of it
    changed = _recipe(tmp_path, corpus, threshold=0.5)
    dedup = _run(changed, tmp_path / "dedup", cache)
    assert _cache(dedup) == (3, 0, 0, 0)
    dedup_plain = _run(changed, tmp_path / "dedup_plain")
    _same(tmp_path / "dedup", tmp_path / "dedup_plain", dedup, dedup_plain)
    assert dedup["steps"][4]["dropped"] != cold["steps"][4]["dropped"]  # the threshold did change something

    # a filter changed: the extracted text from the cache, the filters run again, the same output as uncached
    filters = _recipe(tmp_path, corpus, min_words=150)
    words = _run(filters, tmp_path / "words", cache)
    assert _cache(words) == (0, 3, 0, 0)
    words_plain = _run(filters, tmp_path / "words_plain")
    _same(tmp_path / "words", tmp_path / "words_plain", words, words_plain)
    assert words["steps"][2]["dropped"] != cold["steps"][2]["dropped"]
    assert len(_entries(cache)) == 6 and len(_entries(cache, EXTRACTED)) == 3  # the new whole-prefix ones
    words_again = _run(filters, tmp_path / "words_again", cache)
    assert _cache(words_again) == (3, 0, 0, 0)
    _same(tmp_path / "words_again", tmp_path / "words_plain", words_again, words_plain)

    # an extraction setting changed: every file extracted again, new entries at both places
    recall = _run(_recipe(tmp_path, corpus, precision="false"), tmp_path / "recall", cache)
    assert _cache(recall) == (0, 0, 3, 0)
    assert len(_entries(cache)) == 9 and len(_entries(cache, EXTRACTED)) == 6


def test_damaged_partial_and_stale_entries_are_computed_again(tmp_path, corpus):
    cache = tmp_path / "cache"
    recipe = _recipe(tmp_path, corpus)
    first = _run(recipe, tmp_path / "first", cache)
    done = _entries(cache)
    entries = [d.parent / json.loads(d.read_text())["entry"] for d in done]
    data = entries[0].read_bytes()
    entries[0].write_bytes(data[: len(data) // 2])  # truncated: a crash while copying, a full disk
    done[1].write_text('{"entry": "entr')  # a half-written marker
    os.remove(done[2])  # a crash before the marker: the entry file is there, the marker is not
    again = _run(recipe, tmp_path / "again", cache)
    assert _cache(again) == (0, 3, 0, 2)  # from the entries kept after extraction
    _same(tmp_path / "first", tmp_path / "again", first, again)
    healed = _run(recipe, tmp_path / "healed", cache)
    assert _cache(healed) == (3, 0, 0, 0)
    _same(tmp_path / "first", tmp_path / "healed", first, healed)  # entries written when resuming are whole

    # the same at the entry kept after extraction: the file is read and extracted again
    extracted = _entries(cache, EXTRACTED)[0]
    file = json.loads(extracted.read_text())["file"]
    entry = extracted.parent / json.loads(extracted.read_text())["entry"]
    entry.write_bytes(entry.read_bytes()[:-10])
    whole = [d for d in _entries(cache) if json.loads(d.read_text())["file"] == file]
    os.remove(whole[0])
    damaged = _run(recipe, tmp_path / "damaged", cache)
    assert _cache(damaged) == (2, 0, 1, 1)
    _same(tmp_path / "first", tmp_path / "damaged", first, damaged)

    # a changed input file: a new key, so computed; the others still come from the cache
    moved = tmp_path / "corpus"
    moved.mkdir()
    for f in sorted(corpus.glob("*.warc.gz")):
        (moved / f.name).write_bytes(f.read_bytes())
        os.utime(moved / f.name, (f.stat().st_atime, f.stat().st_mtime))
    recipe = _recipe(tmp_path, moved)
    _run(recipe, tmp_path / "moved", cache)  # another path: new entries
    victim = sorted(moved.glob("*.warc.gz"))[1]
    os.utime(victim, (time.time(), time.time() + 5))
    touched = _run(recipe, tmp_path / "touched", cache)
    assert _cache(touched) == (2, 0, 1, 0)


def test_a_killed_run_resumes_from_the_cache_and_gives_an_uninterrupted_runs_output(tmp_path):
    from thresher.pipelines.commands.quickstart_corpus import write_corpus
    corpus = tmp_path / "corpus"
    write_corpus(str(corpus), pages=400, files=2)  # a second file of ~5 s on one worker: time to kill it
    recipe = _recipe(tmp_path, corpus)
    cache, out = tmp_path / "cache", tmp_path / "out"
    args = ["run", recipe, "--output", str(out), "--workers", "1", "--cache", str(cache)]
    run = _thresher(*args)
    deadline = time.time() + 120
    while not _entries(cache) and run.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    if run.poll() is not None:
        pytest.fail("the run ended before it was killed")
    os.killpg(run.pid, signal.SIGKILL)
    run.wait(timeout=30)
    assert len(_entries(cache)) == 1 and not (out / "_SUCCESS").exists()

    again = _thresher(*args)
    text = again.communicate(timeout=300)[0].decode()
    assert again.returncode == 0, text
    assert "cache: 1 input file(s) from the cache, 0 with their extracted text from it, 1 read and processed" in text
    resumed = json.loads((out / "stats.json").read_text())
    assert resumed["balanced"]
    fresh = _run(recipe, tmp_path / "fresh")
    _same(out, tmp_path / "fresh", resumed, fresh)


def test_two_writers_of_one_entry_leave_a_whole_one_and_a_crashed_writer_none(tmp_path):
    from thresher.pipelines.run.cache_entries import EntryWriter, complete_entry
    directory = str(tmp_path / "ab" / "abkey")
    crashed = EntryWriter(directory, {"file": "x"})
    crashed.add(b"K", b"never committed")
    assert complete_entry(directory) == (None, "missing")  # the crash left a .tmp and no DONE
    first, second = EntryWriter(directory, {"file": "x"}), EntryWriter(directory, {"file": "x"})
    for i in range(1000):  # interleaved, as two runs sharing the cache would
        first.add(b"K", b"first %d" % i)
        second.add(b"K", b"second %d" % i)
    first.commit()
    second.commit()
    entry, why = complete_entry(directory)
    assert why == "" and entry.endswith(second.name)  # the DONE written last names its own whole file
    assert (tmp_path / "ab" / "abkey" / first.name).exists()  # the other is left for prune


def test_cache_ls_and_prune(tmp_path, corpus, capsys):
    cache = tmp_path / "cache"
    _run(_recipe(tmp_path, corpus), tmp_path / "out", cache)
    done = sorted(cache.glob("*/*/DONE"))  # 3 files x (after the prefix, after extraction)
    assert len(done) == 6
    for age, marker in zip((6, 5, 4, 3, 2, 1), done):  # made 6 ... 1 days ago
        info = json.loads(marker.read_text())
        marker.write_text(json.dumps({**info, "created_unix": time.time() - age * 86400}))
        os.utime(marker, (time.time() - age * 86400, time.time() - age * 86400))  # last used then too
    leftover = done[0].parent / "entry-crashed.zst.tmp"
    leftover.write_bytes(b"x" * 100)
    os.utime(leftover, (time.time() - 7200, time.time() - 7200))
    capsys.readouterr()
    assert main(["cache", "ls", "--cache", str(cache)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 7 and all("cache-test  web  " in line for line in lines[:6])
    assert lines[6].startswith("6 entries, ") and "1 loose file(s), 100 B" in lines[6]
    sizes = [json.loads(d.read_text())["bytes"] for d in done]

    assert main(["cache", "prune", "--cache", str(cache), "--older-than", "50h"]) == 0
    assert "removed 4 entries" in capsys.readouterr().out and not leftover.exists()
    assert [d.exists() for d in done] == [False] * 4 + [True, True]
    assert main(["cache", "prune", "--cache", str(cache), "--max-size", str(sizes[5] + 1000)]) == 0
    assert [d.exists() for d in done] == [False] * 5 + [True]
    assert main(["cache", "prune", "--cache", str(cache)]) == 2  # nothing said: one line, no traceback
    assert "--older-than AGE and/or --max-size SIZE" in capsys.readouterr().err
    again = _run(_recipe(tmp_path, corpus), tmp_path / "again", cache)
    assert sum(_cache(again)[:3]) == 3 and _cache(again)[2] >= 2 and again["balanced"]


def test_a_cache_and_inputs_on_gcs(gcs, tmp_path, corpus, capsys):
    bucket, _ = gcs
    for path in sorted(corpus.glob("*.warc.gz")):
        bucket.blob(f"cache-in/{path.name}").upload_from_filename(str(path))
    cache = f"gs://{BUCKET}/prefix-cache"
    recipe = tmp_path / "gcs.yaml"
    recipe.write_text(RECIPE.format(corpus=f"gs://{BUCKET}/cache-in", threshold=0.8, precision="true", min_words=50))
    args = ["run", str(recipe), "--workers", "1", "--quiet", "--cache", cache]
    assert main([*args, "--output", str(tmp_path / "cold")]) == 0
    assert main([*args, "--output", str(tmp_path / "warm")]) == 0
    cold, warm = (json.loads((tmp_path / name / "stats.json").read_text()) for name in ("cold", "warm"))
    assert cold["cache"]["files_computed"] == 3 and warm["cache"]["files_from_cache"] == 3
    _same(tmp_path / "cold", tmp_path / "warm", cold, warm)
    assert len([b for b in bucket.list_blobs(prefix="prefix-cache/") if b.name.endswith("/DONE")]) == 6
    capsys.readouterr()
    assert main(["cache", "ls", "--cache", cache]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("6 entries, ")


def test_a_local_cache_is_refused_on_dataflow(tmp_path, corpus, capsys):
    args = ["run", _recipe(tmp_path, corpus), "--output", str(tmp_path / "out"), "--runner", "dataflow",
            "--project", "p", "--region", "r", "--temp-location", "gs://b/tmp", "--cache", str(tmp_path / "c")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "a Dataflow job's workers cannot see a local directory; give a gs:// one" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()
