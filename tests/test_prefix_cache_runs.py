"""The prefix cache beyond one local run: a file that could not be read is read again next time, model
files and folders (local or on an object store) in the key, the portable runner, two runs sharing a
cache at once, and a changed rejected-documents sample rate."""
from __future__ import annotations

import gzip
import json
import os
import pathlib
import time
from typing import Set

from apache_beam.io.filesystem import FileMetadata, MatchResult
from apache_beam.io.localfilesystem import LocalFileSystem

from tests.gcs_emulator import BUCKET, gcs  # noqa: F401 (a fixture)
from tests.test_faults import _read_ids
from tests.test_prefix_cache import EXTRACTED, _cache, _entries, _same, corpus  # noqa: F401 (a fixture)
from thresher.pipelines.commands import cli
from thresher.pipelines.commands.cli import main

RECIPE = """version: 1
name: cache-runs
inputs:
  web: {{paths: [{corpus}/*.warc.gz], format: warc}}
steps:
  - step: extract
  - step: gopher_repetition
  - step: gopher_quality
    min_stop_words: null
  - step: exact_dedup
output:
  path: out
  rejected: {rejected}
  order: shuffle
"""


def _recipe(folder: pathlib.Path, corpus: pathlib.Path, rejected="true", name="recipe") -> str:
    path = folder / f"{name}.yaml"
    path.write_text(RECIPE.format(corpus=corpus, rejected=rejected))
    return str(path)


class FlakyFileSystem(LocalFileSystem):
    """``flaky:///abs/path``: the local file ``/abs/path``, except that opening a path in ``broken``
    fails as a dropped connection would (registered with Beam by being defined)."""

    broken: Set[str] = set()

    @classmethod
    def scheme(cls):
        return "flaky"

    @staticmethod
    def local(path: str) -> str:
        return path[len("flaky://"):] if path.startswith("flaky://") else path

    def match(self, patterns, limits=None):
        found = super().match([self.local(p) for p in patterns], limits)
        return [MatchResult(pattern, [FileMetadata("flaky://" + m.path, m.size_in_bytes, m.last_updated_in_seconds)
                                      for m in result.metadata_list]) for pattern, result in zip(patterns, found)]

    def open(self, path, mime_type="application/octet-stream", compression_type="auto"):
        if self.local(path) in self.broken:
            raise ConnectionResetError(104, f"Connection reset by peer while opening {path}")
        return super().open(self.local(path), mime_type, compression_type)

    def exists(self, path):
        return super().exists(self.local(path))

    def size(self, path):
        return super().size(self.local(path))

    def last_updated(self, path):
        return super().last_updated(self.local(path))

    def checksum(self, path):
        return super().checksum(self.local(path))

    def metadata(self, path):
        return super().metadata(self.local(path))


def _stats(out: pathlib.Path):
    return json.loads((out / "stats.json").read_text())


def test_a_file_that_could_not_be_read_keeps_no_entry_and_is_read_by_the_next_run(tmp_path, corpus, monkeypatch):
    files = sorted(corpus.glob("*.warc.gz"))
    recipe = _recipe(tmp_path, f"flaky://{corpus}")
    cache = tmp_path / "cache"
    args = ["run", recipe, "--workers", "1", "--quiet", "--overwrite"]  # one worker: in this process
    assert main([*args, "--output", str(tmp_path / "plain"), "--no-cache"]) == 0
    plain = _stats(tmp_path / "plain")
    checks = cli.check_before_run

    def checked_then_broken(*a, **k):  # the checks before the run read the file; then the connection drops
        checks(*a, **k)
        monkeypatch.setattr(FlakyFileSystem, "broken", {str(files[1])})
    monkeypatch.setattr(cli, "check_before_run", checked_then_broken)
    assert main([*args, "--output", str(tmp_path / "first"), "--cache", str(cache)]) == 0
    first = _stats(tmp_path / "first")
    assert first["input"]["read_errors"] == plain["input"]["read_errors"] + 1 and first["balanced"]
    errors = [json.loads(line) for f in sorted((tmp_path / "first" / "errors").glob("*.jsonl.gz"))
              for line in gzip.decompress(f.read_bytes()).splitlines()]
    assert [(e["step"], e["error"].split(":")[0]) for e in errors if e["file"] == f"flaky://{files[1]}"] == [
        ("read", "ConnectionResetError")]  # the run reports it, as without the cache
    assert _cache(first) == (0, 0, 3, 0)
    kept_of = {json.loads(d.read_text())["file"] for d in _entries(cache) + _entries(cache, EXTRACTED)}
    assert kept_of == {f"flaky://{files[0]}", f"flaky://{files[2]}"}  # nothing of the file that failed
    assert not list(cache.glob("*/*/*.tmp"))  # its entry files abandoned, not left half written

    monkeypatch.setattr(cli, "check_before_run", checks)
    monkeypatch.setattr(FlakyFileSystem, "broken", set())  # readable again
    assert main([*args, "--output", str(tmp_path / "second"), "--cache", str(cache)]) == 0
    second = _stats(tmp_path / "second")
    assert _cache(second) == (2, 0, 1, 0) and second["balanced"]
    _same(tmp_path / "second", tmp_path / "plain", second, plain)


def test_the_reader_tells_a_storage_failure_from_damage_in_the_file(tmp_path, monkeypatch):
    from thresher.transforms.io.sources import ReadFileFn
    from thresher.transforms.io.sources.common import Fields
    good = tmp_path / "good.jsonl"
    good.write_text('{"id": "a", "text": "one"}\nnot json\n{"id": "b", "text": "two"}\n')
    reader = ReadFileFn("web", "jsonl", Fields())
    reader.setup()
    out = list(reader.process(str(good)))
    assert len(out) == 3 and not reader.read_failed  # a damaged line is a fact of the file: cacheable
    monkeypatch.setattr(FlakyFileSystem, "broken", {str(good)})
    out = list(reader.process(f"flaky://{good}"))  # the JSONL reader catches it: an error record
    assert len(out) == 1 and "ConnectionResetError" in out[0].value["error"] and reader.read_failed
    monkeypatch.setattr(FlakyFileSystem, "broken", set())
    assert len(list(reader.process(f"flaky://{good}"))) == 3 and not reader.read_failed
    assert len(list(reader.process(str(tmp_path / "gone.jsonl")))) == 1 and reader.read_failed


MODELS = """version: 1
inputs:
  web: {{paths: [in/*.warc.gz], format: warc}}
steps:
  - step: extract
  - step: language
    model_path: {model}
  - step: c4_badwords
    wordlist_dir: {lists}
output: {{path: out}}
"""


def _key(model: str, lists: str) -> str:
    """The key of one input file's entry kept after the prefix of a recipe naming these model paths."""
    from thresher.pipelines.recipe.model import load_recipe
    from thresher.pipelines.recipe.registry import STEPS
    from thresher.pipelines.run.cache_entries import entry_key, prefix_fingerprint
    recipe = load_recipe("models.yaml", STEPS, text=MODELS.format(model=model, lists=lists))
    fingerprint = prefix_fingerprint(recipe, recipe.inputs["web"], recipe.steps)
    return entry_key(fingerprint, {"path": "in/a.warc.gz", "size": 1, "mtime": 1.0})


def test_model_files_and_folders_named_by_parameters_are_in_the_key(tmp_path):
    model, lists = tmp_path / "lid.bin", tmp_path / "lists"
    model.write_bytes(b"model one")
    (lists / "sub").mkdir(parents=True)
    (lists / "en").write_text("badword\n")
    first = _key(str(model), str(lists))
    assert _key(str(model), str(lists)) == first  # nothing changed: the same key
    model.write_bytes(b"model two")
    os.utime(model, ns=(1, 1))
    second = _key(str(model), str(lists))
    assert second != first  # a changed model file
    (lists / "sub" / "de").write_text("schimpfwort\n")  # a file more in the folder, deep down
    third = _key(str(model), str(lists))
    assert third != second
    os.utime(lists / "en", ns=(2, 2))  # a list rewritten: a new time
    assert _key(str(model), str(lists)) not in (first, second, third)


def test_model_files_and_folders_on_an_object_store_are_in_the_key(gcs):
    bucket, _ = gcs
    model, lists = f"gs://{BUCKET}/keyed/lid.bin", f"gs://{BUCKET}/keyed/lists"
    bucket.blob("keyed/lid.bin").upload_from_string(b"model one")
    bucket.blob("keyed/lists/en").upload_from_string(b"badword\n")
    first = _key(model, lists)
    assert _key(model, lists) == first
    bucket.blob("keyed/lid.bin").upload_from_string(b"model two")  # same size, new content
    second = _key(model, lists)
    assert second != first
    bucket.blob("keyed/lists/de").upload_from_string(b"schimpfwort\n")  # a file more in the folder
    third = _key(model, lists)
    assert third != second
    bucket.blob("keyed/lists/en").upload_from_string(b"swearword\n")
    assert _key(model, lists) not in (first, second, third)


def test_the_portable_runner_takes_every_file_from_the_cache_on_a_rerun(tmp_path, corpus):
    from tests.portable_services import job_service_and_worker_pool
    recipe, cache = _recipe(tmp_path, corpus), tmp_path / "cache"
    with job_service_and_worker_pool() as (job_endpoint, pool, _):
        for name in ("cold", "warm"):  # SDK workers in processes of their own: the cache is plain files
            assert main(["run", recipe, "--output", str(tmp_path / name), "--quiet", "--cache", str(cache),
                         "--runner", "portable", "--job-endpoint", job_endpoint, "--environment-type", "EXTERNAL",
                         "--environment-config", pool]) == 0
    cold, warm = _stats(tmp_path / "cold"), _stats(tmp_path / "warm")
    assert _cache(cold) == (0, 0, 3, 0) and _cache(warm) == (3, 0, 0, 0)
    assert cold["balanced"] and warm["balanced"] and warm["output"]["documents"] > 0
    _same(tmp_path / "cold", tmp_path / "warm", cold, warm)


def test_two_runs_sharing_a_cache_at_once_both_balance_and_leave_whole_entries(tmp_path, corpus):
    from tests.test_faults import _thresher
    from thresher.pipelines.run.cache_entries import complete_entry
    recipe, cache = _recipe(tmp_path, corpus), tmp_path / "cache"
    assert main(["run", recipe, "--output", str(tmp_path / "plain"), "--workers", "1", "--quiet", "--no-cache"]) == 0
    plain = _stats(tmp_path / "plain")
    runs = {name: _thresher("run", recipe, "--output", str(tmp_path / name), "--workers", "1", "--quiet",
                            "--cache", str(cache)) for name in ("a", "b")}  # started together: same files, same keys
    for name, run in runs.items():
        text = run.communicate(timeout=300)[0].decode()
        assert run.returncode == 0, text
        stats = _stats(tmp_path / name)
        assert stats["balanced"] and stats["cache"]["entries_damaged"] == 0
        _same(tmp_path / name, tmp_path / "plain", stats, plain)
    folders = sorted(cache.glob("*/*"))
    assert len(folders) == 6  # 3 files x (after the prefix, after extraction)
    assert [complete_entry(str(folder))[1] for folder in folders] == [""] * 6  # every entry whole
    day_ago = time.time() - 86400
    for done in cache.glob("*/*/DONE"):
        os.utime(done, (day_ago, day_ago))
    assert main(["run", recipe, "--output", str(tmp_path / "third"), "--workers", "1", "--quiet",
                 "--cache", str(cache)]) == 0
    third = _stats(tmp_path / "third")
    assert _cache(third) == (3, 0, 0, 0)
    used = sorted(d.stat().st_mtime > day_ago + 3600 for d in _entries(cache) + _entries(cache, EXTRACTED))
    assert used == [False] * 3 + [True] * 3  # the entries it took are marked used (prune keeps them longest)
    _same(tmp_path / "third", tmp_path / "plain", third, plain)


def test_a_rerun_with_another_rejected_sample_rate_samples_the_cached_rejected_documents(tmp_path, corpus):
    """An entry holds every rejected document (the rate is not in the key); the sample is drawn after."""
    cache = tmp_path / "cache"
    every = _recipe(tmp_path, corpus, rejected="{enabled: true, sample_rate: 1.0}", name="every")
    some = _recipe(tmp_path, corpus, rejected="{enabled: true, sample_rate: 0.3}", name="some")
    args = ["--workers", "1", "--quiet"]
    assert main(["run", every, "--output", str(tmp_path / "every"), "--cache", str(cache), *args]) == 0
    assert main(["run", some, "--output", str(tmp_path / "some"), "--cache", str(cache), *args]) == 0
    assert main(["run", some, "--output", str(tmp_path / "plain"), "--no-cache", *args]) == 0
    stats = {name: _stats(tmp_path / name) for name in ("every", "some", "plain")}
    assert _cache(stats["some"]) == (3, 0, 0, 0)
    _same(tmp_path / "some", tmp_path / "plain", stats["some"], stats["plain"])
    all_rejected, sampled = (_read_ids(tmp_path / name / "rejected") for name in ("every", "some"))
    assert set(sampled) < set(all_rejected) and 0.15 < len(sampled) / len(all_rejected) < 0.45


def test_an_entry_stays_whole_while_a_second_writer_commits_it(tmp_path, monkeypatch):
    from apache_beam.io.filesystems import FileSystems
    from thresher.pipelines.run.cache_entries import EntryWriter, complete_entry
    directory = str(tmp_path / "ab" / "abkey")
    first = EntryWriter(directory, {"file": "x"})
    first.add(b"K", b"first")
    first.commit()
    seen, create = [], FileSystems.create

    def create_and_look(path, *args, **kwargs):  # what a concurrent run reading the entry sees then
        made = create(path, *args, **kwargs)
        seen.append(complete_entry(directory)[1])
        return made
    monkeypatch.setattr(FileSystems, "create", create_and_look)
    second = EntryWriter(directory, {"file": "x", "note": "a longer DONE than the first"})
    second.add(b"K", b"second")
    second.commit()
    assert len(seen) == 2 and seen == ["", ""]  # its entry file, then its DONE: never a DONE half written
    entry, why = complete_entry(directory)
    assert why == "" and entry.endswith(second.name)
