"""Live progress: the line's format, the workers' count files, and progress lines from real runs
(2 worker processes; the portable runner with an EXTERNAL worker pool)."""
from __future__ import annotations

import io
import json
import re

import pytest

from thresher.pipelines.commands.cli import main
from thresher.pipelines.run.progress import (INTERVAL_ENV, ProgressFiles, ProgressMonitor, format_progress, progress_dir,
                                read_progress)
from tests.portable_services import job_service_and_worker_pool

LINE = re.compile(r"^(starting|reading|finishing): (\d+)/(\d+) files  ([\d,]+) docs")


def test_format_before_any_reader_reports():
    assert format_progress({"files": 0, "docs": 0, "errors": 0, "readers": 0}, 13, 4.2) == \
        "starting: 0/13 files  0 docs  0.0 docs/s  0:04 elapsed"


def test_format_reading_estimates_what_is_left_from_the_files_done():
    line = format_progress({"files": 4, "docs": 1200, "errors": 0, "readers": 2}, 13, 60.0)
    # 4 files in 60 s: 9 files left take 135 s
    assert line == "reading: 4/13 files  1,200 docs  20.0 docs/s  1:00 elapsed  ~2:15 left"


def test_format_no_estimate_before_the_first_file_is_done_and_read_errors_shown():
    line = format_progress({"files": 0, "docs": 64, "errors": 3, "readers": 1}, 2, 3725.0)
    assert line == "reading: 0/2 files  64 docs  3 read errors  0.0 docs/s  1:02:05 elapsed"


def test_format_all_files_read_is_finishing_without_estimate():
    line = format_progress({"files": 2, "docs": 60, "errors": 0, "readers": 2}, 2, 6.0)
    assert line == "finishing: 2/2 files  60 docs  10.0 docs/s  0:06 elapsed"


def test_progress_files_of_several_readers_are_summed(tmp_path):
    folder = str(tmp_path / "progress")
    assert read_progress(folder) == {"files": 0, "docs": 0, "errors": 0, "bytes": 0, "readers": 0}  # no folder
    first, second = ProgressFiles(folder), ProgressFiles(folder)
    first(0, 64, 0)
    second(1, 100, 2, force=True)
    assert read_progress(folder) == {"files": 1, "docs": 164, "errors": 2, "bytes": 0, "readers": 2}
    first(0, 128, 0)  # within a second of its last write: not written
    assert read_progress(folder)["docs"] == 164
    first(1, 130, 0, force=True)  # a file done is always written
    assert read_progress(folder) == {"files": 2, "docs": 230, "errors": 2, "bytes": 0, "readers": 2}


def test_progress_counts_bytes_of_files_done_and_the_offset_in_a_warc(tmp_path):
    warc, jsonl = tmp_path / "a.warc.gz", tmp_path / "b.jsonl"
    warc.write_bytes(b"w" * 1000)
    jsonl.write_bytes(b"j" * 300)
    folder = str(tmp_path / "p")
    hook = ProgressFiles(folder)
    hook(0, 64, 0, str(warc), 400, force=True)  # a WARC record's offset is a byte offset
    assert read_progress(folder)["bytes"] == 400
    hook(1, 70, 0, str(warc), force=True)  # the WARC is done: its size
    assert read_progress(folder)["bytes"] == 1000
    hook(1, 134, 0, str(jsonl), 64, force=True)  # a JSONL offset is a line number: no share of the file
    assert read_progress(folder)["bytes"] == 1000
    hook(2, 140, 0, str(jsonl), force=True)
    assert read_progress(folder) == {"files": 2, "docs": 140, "errors": 0, "bytes": 1300, "readers": 1}


def test_format_reading_one_file_estimates_from_the_bytes_read():
    line = format_progress({"files": 0, "docs": 600, "errors": 0, "bytes": 250, "readers": 1}, 1, 30.0, 1000)
    assert line == "reading: 0/1 files (25%)  600 docs  20.0 docs/s  0:30 elapsed  ~1:30 left"


def test_progress_files_survive_pickling_without_their_open_state(tmp_path):
    import pickle
    hook = ProgressFiles(str(tmp_path / "p"))
    hook(1, 1, 0, force=True)
    copy = pickle.loads(pickle.dumps(hook))
    copy(1, 5, 0, force=True)  # its own file, not the original's
    assert read_progress(str(tmp_path / "p")) == {"files": 2, "docs": 6, "errors": 0, "bytes": 0, "readers": 2}


def test_remote_outputs_get_no_progress_folder(tmp_path):
    assert progress_dir("gs://bucket/out") is None
    assert progress_dir(str(tmp_path)) == str(tmp_path / "_temporary" / "progress")


def test_monitor_on_a_terminal_rewrites_one_line(tmp_path):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    monitor = ProgressMonitor(str(tmp_path), 3, stream)
    monitor.show("reading: 1/3 files  10 docs")
    monitor.show("reading: 2/3 files  9 docs")
    monitor.stop()
    text = stream.getvalue()
    assert "\n" not in text
    # each line starts with \r and covers the longer one before it; stop blanks it
    assert text == ("\rreading: 1/3 files  10 docs" + "\rreading: 2/3 files  9 docs " + "\r" + " " * 27 + "\r")


RECIPE = """
version: 1
inputs:
  web: {{paths: ["{corpus}/*.warc.gz"], format: warc}}
steps:
  - step: extract
output: {{path: "{out}"}}
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from thresher.pipelines.commands.quickstart_corpus import write_corpus
    out = tmp_path_factory.mktemp("corpus")
    write_corpus(str(out), pages=120, files=3)
    return out


def progress_lines(text: str):
    return [LINE.match(line) for line in text.splitlines() if LINE.match(line)]


def test_two_worker_run_prints_progress_lines_when_not_a_terminal(tmp_path, corpus, capsys, monkeypatch):
    monkeypatch.setenv(INTERVAL_ENV, "0.2")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.format(corpus=corpus, out=tmp_path / "out"))
    assert main(["run", str(recipe), "--workers", "2"]) == 0
    lines = progress_lines(capsys.readouterr().err)
    assert lines and all(m.group(3) == "3" for m in lines)
    read = [m for m in lines if m.group(1) != "starting"]
    assert read and max(int(m.group(4).replace(",", "")) for m in read) > 0
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["status"] == "succeeded"
    assert not (tmp_path / "out" / "_temporary").exists()  # the count files go with the run's temporary files


def test_quiet_run_prints_no_progress(tmp_path, corpus, capsys, monkeypatch):
    monkeypatch.setenv(INTERVAL_ENV, "0.2")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.format(corpus=corpus, out=tmp_path / "out"))
    assert main(["run", str(recipe), "--workers", "1", "--quiet"]) == 0
    assert not progress_lines(capsys.readouterr().err)


def test_portable_runner_prints_progress(tmp_path, corpus, capsys, monkeypatch):
    monkeypatch.setenv(INTERVAL_ENV, "0.2")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.format(corpus=corpus, out=tmp_path / "out"))
    with job_service_and_worker_pool() as (job_endpoint, pool, _):
        assert main(["run", str(recipe), "--runner", "portable", "--job-endpoint", job_endpoint,
                     "--environment-type", "EXTERNAL", "--environment-config", pool]) == 0
    read = [m for m in progress_lines(capsys.readouterr().err) if m.group(1) != "starting"]
    assert read and max(int(m.group(4).replace(",", "")) for m in read) > 0
