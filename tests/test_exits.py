"""Honest exits: a run that read or wrote nothing fails with one line, a run-time failure names the
step and its cause, Ctrl-C stops cleanly, and what an unfinished run left is replaced."""
from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

import thresher.pipelines.commands.cli as cli
from thresher.pipelines.commands.cli import main
from thresher.pipelines.run.failures import failure_line, root_cause, where
from thresher.pipelines.report.stats import run_status
from thresher.pipelines.run.execute import RUNNING_MARKER, prepare_output
from thresher.pipelines.run.run_log import WORKER_LOGGER, ConsoleFilter
from tests.conftest import PROJECT_ROOT, SHARED_DATA
from tests.portable_services import job_service_and_worker_pool

RECIPE = """
version: 1
name: exits
inputs:
  web:
    paths: [{paths}]
    format: {format}
steps:
  - step: extract
{more}output:
  path: {out}
"""


def write_recipe(tmp_path, paths, out, format="warc", more=""):
    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE.format(paths=", ".join(f"'{p}'" for p in paths), format=format, out=out, more=more))
    return str(path)


def no_validation(monkeypatch, then=None):
    """Skip the checks made before a run (a file can change after them), running ``then`` instead."""
    monkeypatch.setattr(cli, "check_before_run", lambda *a, **k: then() if then else None)


# --- run_status: when a finished pipeline is a failed run --------------------------------------

def stats_of(documents=0, errors=0, skipped=None, out=0, steps=()):
    return {"input": {"documents": documents, "by_source": {"web": {"documents": documents, "errors": errors,
                                                                    "skipped": skipped or {}}}},
            "output": {"documents": out}, "steps": list(steps)}


def listed(nonempty, size=4_100_000, format="wet"):
    return {"input_files": {"by_source": {"web": {"format": format, "files": 13, "bytes": size,
                                                  "nonempty_files": nonempty}}}}


def step(index, name, dropped=None, errors=0):
    dropped = dropped or {}
    return {"index": index, "step": name, "dropped": dropped, "dropped_total": sum(dropped.values()),
            "errors": errors}


def test_non_empty_files_without_a_document_fail_naming_what_was_passed_over():
    status, reason = run_status(stats_of(skipped={"request": 175, "metadata": 175, "warcinfo": 1}), listed(13))
    assert status == "failed"
    assert reason == ("input 'web': 13 non-empty file(s) (3.9 MiB) gave no document: 351 records passed over "
                      "(metadata 175, request 175, warcinfo 1) — is `format: wet` right for these files?")


def test_every_record_failing_to_read_fails():
    status, reason = run_status(stats_of(errors=40), listed(2, size=999, format="auto"))
    assert status == "failed" and "40 record(s) could not be read" in reason and "(999 B)" in reason


def test_zero_byte_files_are_a_successful_empty_run():
    assert run_status(stats_of(), listed(0, size=0)) == ("succeeded", "")


def test_one_document_read_and_written_succeeds():
    assert run_status(stats_of(documents=1, out=1, steps=[step(0, "extract")]), listed(13)) == ("succeeded", "")


def test_documents_in_and_none_written_fails_naming_the_step_that_dropped_most():
    steps = [step(0, "extract", {"extract_empty": 2}), step(1, "language", {"language_not_listed": 8})]
    status, reason = run_status(stats_of(documents=10, steps=steps), listed(13))
    assert status == "failed"
    assert reason.startswith("10 documents came in and none was written: step 01 language dropped 8 "
                             "(language_not_listed 8)")


def test_documents_in_and_every_one_raising_fails():
    status, reason = run_status(stats_of(documents=5, steps=[step(0, "extract", errors=5)]), listed(1))
    assert status == "failed" and "every one raised an error (extract 5)" in reason


def test_wrong_format_run_exits_non_zero_with_stats_and_card_but_no_success(tmp_path, shared_data, monkeypatch,
                                                                           capsys):
    warcs = sorted((shared_data / "warc-samples" / "dolma").glob("*.warc.gz"))
    out = tmp_path / "out"
    no_validation(monkeypatch)  # validation would catch this format: the run must too
    assert main(["run", write_recipe(tmp_path, warcs, out, format="wet"), "--workers", "1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"error: input 'web': {len(warcs)} non-empty file(s) (")
    assert "records passed over (" in err[-1] and err[-1].endswith("is `format: wet` right for these files?")
    stats = json.loads((out / "stats.json").read_text())
    assert stats["status"] == "failed" and stats["status_reason"] == err[-1][len("error: "):]
    assert (out / "report.html").exists() and not (out / "_SUCCESS").exists()
    card = (out / "report.html").read_text()
    assert '<p class="warning" role="alert">⚠ This run FAILED: input &#x27;web&#x27;' in card  # red, with why
    assert not (out / RUNNING_MARKER).exists()

    # the next run replaces what the failed one left, without --overwrite, and says so
    monkeypatch.undo()
    assert main(["run", write_recipe(tmp_path, warcs, out, format="warc"), "--workers", "1", "--quiet"]) == 0
    assert f"replacing what an unfinished run left in {out}" in capsys.readouterr().err
    stats = json.loads((out / "stats.json").read_text())
    assert stats["status"] == "succeeded" and stats["status_reason"] == "" and (out / "_SUCCESS").exists()


# --- failures at run time -----------------------------------------------------------------------

def test_root_cause_and_step_from_beams_wrapped_worker_error():
    wrapped = RuntimeError("IsADirectoryError: [Errno 21] Is a directory: '/w/en' "
                           "[while running '01_c4_badwords/Apply/ParDo(DocumentStepFn)']\nTraceback ...")
    assert root_cause(wrapped) == ("IsADirectoryError: [Errno 21] Is a directory: '/w/en'",
                                   "01_c4_badwords/Apply/ParDo(DocumentStepFn)")
    assert failure_line(wrapped, "/o/thresher.log") == (
        "error: step 01 (c4_badwords): IsADirectoryError: [Errno 21] Is a directory: '/w/en' "
        "(full traceback: /o/thresher.log; --verbose prints it)")
    one_worker = ValueError("/m.bin has wrong file format! [while running '01_language/Apply/ParDo(X)']")
    assert root_cause(one_worker) == ("ValueError: /m.bin has wrong file format!", "01_language/Apply/ParDo(X)")
    plain = OSError(28, "No space left on device")
    assert root_cause(plain) == ("OSError: [Errno 28] No space left on device", None)


def test_transform_labels_name_the_part_of_the_run():
    assert where("00_extract [web]/Apply") == "step 00 (extract) on input 'web'"
    assert where("read_web/Read") == "reading input 'web'"
    assert where("write data/Write") == "writing data/"
    assert where("finalize") == "writing stats.json and the data card"
    assert where(None) == "the run"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_word_list_gone_after_validation_gives_one_line_and_the_traceback_in_the_log(
        tmp_path, shared_data, monkeypatch, capsys, workers):
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "en.c4-commit-25e679f").write_bytes((shared_data / "wordlists" / "ldnoobw" / "en").read_bytes())

    def swap_for_a_directory():  # fails for root too, unlike chmod
        (lists / "en.c4-commit-25e679f").unlink()
        (lists / "en.c4-commit-25e679f").mkdir()

    out = tmp_path / "out"
    recipe = write_recipe(tmp_path, sorted((shared_data / "warc-samples" / "dolma").glob("*.warc.gz")), out,
                          more=f"  - step: c4_badwords\n    wordlist_dir: {lists}\n")
    no_validation(monkeypatch, then=swap_for_a_directory)
    assert main(["run", recipe, "--workers", workers]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: step 01 (c4_badwords): IsADirectoryError: [Errno 21] Is a directory: "
                   f"'{lists / 'en.c4-commit-25e679f'}' (full traceback: {out / 'thresher.log'}; --verbose prints it)"]
    log = (out / "thresher.log").read_text()
    assert "Traceback (most recent call last)" in log and "IsADirectoryError" in log
    assert not (out / "_SUCCESS").exists() and not (out / RUNNING_MARKER).exists()


def test_output_directory_that_cannot_be_made_gives_one_line(tmp_path, capsys, monkeypatch):
    (tmp_path / "a-file").write_text("")
    out = tmp_path / "a-file" / "out"
    warc = SHARED_DATA / "warc-samples" / "dolma" / "sample-0000.warc.gz"
    no_validation(monkeypatch)
    assert main(["run", write_recipe(tmp_path, [warc], out), "--workers", "1"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: the output directory: NotADirectoryError: [Errno 20] Not a directory: '{out}'"]


SWAP_THEN_RUN = """
import pathlib, sys
import thresher.pipelines.commands.cli as cli
check = cli.check_before_run
def check_then_swap(*args, **kwargs):
    check(*args, **kwargs)
    path = pathlib.Path(sys.argv[1])
    path.unlink()
    path.mkdir()
cli.check_before_run = check_then_swap
sys.exit(cli.main(sys.argv[2:]))
"""


def test_run_time_failure_prints_one_line_on_the_real_terminal(tmp_path, shared_data):
    """As a user sees it (a process of its own, stderr a file): one line, nothing from Beam or the workers."""
    lists = tmp_path / "lists"
    lists.mkdir()
    words = lists / "en.c4-commit-25e679f"
    words.write_bytes((shared_data / "wordlists" / "ldnoobw" / "en").read_bytes())
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path, sorted((shared_data / "warc-samples" / "dolma").glob("*.warc.gz")), out,
                          more=f"  - step: c4_badwords\n    wordlist_dir: {lists}\n")
    done = subprocess.run([sys.executable, "-c", SWAP_THEN_RUN, str(words), "run", recipe, "--workers", "2"],
                          capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [f"error: step 01 (c4_badwords): IsADirectoryError: [Errno 21] Is a "
                                        f"directory: '{words}' (full traceback: {out / 'thresher.log'}; "
                                        f"--verbose prints it)"]


def test_verbose_prints_the_traceback(tmp_path, shared_data, monkeypatch, capsys):
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path, [tmp_path / "gone.warc.gz"], out,
                          more="  - step: language\n    model_path: " + str(tmp_path / "not-a-model.bin") + "\n")
    (tmp_path / "gone.warc.gz").write_bytes((shared_data / "warc-samples" / "dolma" / "sample-0000.warc.gz")
                                            .read_bytes())
    (tmp_path / "not-a-model.bin").write_bytes(b"not a fastText model")
    no_validation(monkeypatch)
    assert main(["run", recipe, "--workers", "1", "--verbose"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.strip().splitlines()[-1].startswith("error: step 01 (language): ")


# --- the output directory -----------------------------------------------------------------------

def test_finished_run_is_refused_without_overwrite_and_replaced_with_it(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "stats.json").write_text("{}")
    (tmp_path / "_SUCCESS").write_text("")
    with pytest.raises(FileExistsError, match="already holds a finished run .*--overwrite"):
        prepare_output(str(tmp_path), overwrite=False)
    assert prepare_output(str(tmp_path), overwrite=True) == f"replacing the finished run in {tmp_path} (--overwrite)"
    assert sorted(os.listdir(tmp_path)) == []


def test_unfinished_run_is_replaced_without_overwrite(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "_temporary").mkdir()
    (tmp_path / "thresher.log").write_text("...")
    (tmp_path / "notes.txt").write_text("not a run's file")
    note = prepare_output(str(tmp_path), overwrite=False)
    assert note.startswith(f"replacing what an unfinished run left in {tmp_path} (no _SUCCESS")
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]
    assert prepare_output(str(tmp_path / "new"), overwrite=False) is None


def lock(path, pid, host=None):
    (path / RUNNING_MARKER).write_text(json.dumps({"host": host or socket.gethostname(), "pid": pid}))


def test_directory_a_live_run_writes_is_refused_even_with_overwrite(tmp_path):
    lock(tmp_path, os.getpid())
    for overwrite in (False, True):
        with pytest.raises(FileExistsError, match=f"being written by a run still going \\(pid {os.getpid()}"):
            prepare_output(str(tmp_path), overwrite=overwrite)


def test_lock_of_a_process_gone_is_stale(tmp_path):
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock(tmp_path, int(done.stdout))
    (tmp_path / "data").mkdir()
    assert "unfinished run" in prepare_output(str(tmp_path), overwrite=False)
    assert not (tmp_path / RUNNING_MARKER).exists()


def test_lock_from_another_host_needs_overwrite(tmp_path):
    lock(tmp_path, 1, host="elsewhere.example")
    with pytest.raises(FileExistsError, match="pid 1 on elsewhere.example.*if it is gone, pass --overwrite"):
        prepare_output(str(tmp_path), overwrite=False)
    prepare_output(str(tmp_path), overwrite=True)
    assert not (tmp_path / RUNNING_MARKER).exists()


def test_lock_of_a_dataflow_job_holds_after_its_submitter_is_gone(tmp_path):
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / RUNNING_MARKER).write_text(json.dumps({"host": socket.gethostname(), "pid": int(done.stdout),
                                                       "runner": "dataflow"}))
    with pytest.raises(FileExistsError, match=f"a Dataflow job .*delete {tmp_path / RUNNING_MARKER}"):
        prepare_output(str(tmp_path), overwrite=False)
    prepare_output(str(tmp_path), overwrite=True)


def test_cli_refuses_a_directory_a_run_is_writing(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    lock(out, os.getpid())
    warc = SHARED_DATA / "warc-samples" / "dolma" / "sample-0000.warc.gz"
    assert main(["run", write_recipe(tmp_path, [warc], out), "--overwrite"]) == 2
    assert "being written by a run still going" in capsys.readouterr().err
    assert (out / RUNNING_MARKER).exists()  # not ours to remove


# --- the terminal -------------------------------------------------------------------------------

def record(name, level, message, pathname="/elsewhere/x.py"):
    return logging.LogRecord(name, level, pathname, 1, message, (), None)


def worker(level, message, location):
    return record(WORKER_LOGGER, level, f'Worker: severity: WARN message: "{message}" instruction_id: "b" '
                                        f'log_location: "{location}" thread: "T"')


def test_console_keeps_third_party_noise_for_verbose():
    quiet, verbose = ConsoleFilter(False), ConsoleFilter(True)
    noise = worker(logging.WARNING, "lxml parsing failed: Document is empty", "/v/trafilatura/core.py:465")
    assert not quiet.filter(noise)
    assert verbose.filter(noise) and noise.getMessage() == "lxml parsing failed: Document is empty"
    local_noise = record("trafilatura.core", logging.ERROR, "discarding data: None")
    assert not quiet.filter(local_noise) and verbose.filter(local_noise)
    beam = record("apache_beam.runners.worker.sdk_worker", logging.ERROR, "Error processing instruction")
    assert not quiet.filter(beam) and verbose.filter(beam)


def test_console_shows_this_projects_warnings_from_workers_too():
    quiet = ConsoleFilter(False)
    ours = worker(logging.WARNING, "could not write the data card", f"{PROJECT_ROOT}/pipelines/report/stats.py:12")
    assert quiet.filter(ours) and ours.getMessage() == "could not write the data card"
    assert quiet.filter(record("thresher", logging.WARNING, "a warning"))
    assert not quiet.filter(record("thresher.progress", logging.INFO, "thresher: read x: 3 documents"))
    read = f"{PROJECT_ROOT}/transforms/io/sources/x.py:1"
    assert not quiet.filter(worker(logging.INFO, "thresher: read x", read))
    shown = worker(logging.INFO, "thresher: read x", read)
    assert ConsoleFilter(True).filter(shown) and shown.getMessage() == "thresher: read x"
    assert not ConsoleFilter(True).filter(worker(logging.INFO, "Running stage", "/v/apache_beam/x.py:1"))


def start_and_interrupt(recipe, *args):
    """Start ``thresher run RECIPE ARGS`` and send SIGINT to its process group (as a terminal does: the
    CLI and its worker processes) once progress shows documents read; (process, stderr lines, lines
    printed before the signal)."""
    env = {**os.environ, "THRESHER_PROGRESS_INTERVAL": "0.3"}
    thresher = os.path.join(os.path.dirname(sys.executable), "thresher")
    proc = subprocess.Popen([thresher, "run", recipe, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines, reading = [], threading.Event()

    def follow():
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("reading: ") and " 0 docs" not in line:
                reading.set()

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    try:
        assert reading.wait(120), "".join(lines)
        seen = len(lines)
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(60) == 130
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    follower.join(10)
    return proc, lines, seen


def pages_trafilatura_cannot_parse(path, count=6):
    """A WARC of HTML responses whose body is only a comment: trafilatura logs 'lxml parsing failed:
    Document is empty' and 'discarding data' for each, and extract drops them."""
    import io

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        for i in range(count):
            body = b"<!-- nothing here -->"
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                               ("Content-Length", str(len(body)))], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(f"https://example.com/{i}", "response",
                                                          payload=io.BytesIO(body), length=len(body),
                                                          http_headers=http))


@pytest.mark.parametrize("verbose", [False, True])
def test_trafilatura_noise_from_workers_goes_to_the_log_unless_verbose(tmp_path, verbose):
    warc = tmp_path / "empty-pages.warc.gz"
    pages_trafilatura_cannot_parse(warc)
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path, [warc, SHARED_DATA / "warc-samples" / "dolma" / "sample-0000.warc.gz"], out)
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), "thresher"), "run", recipe, "--workers",
                           "2", "--quiet"] + (["--verbose"] if verbose else []), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    stats = json.loads((out / "stats.json").read_text())
    assert stats["steps"][0]["dropped_total"] >= 6  # extract counts the pages as dropped
    assert "Document is empty" in (out / "thresher.log").read_text()
    shown = "Document is empty" in done.stderr or "discarding data" in done.stderr
    assert shown == verbose, done.stderr
    if not verbose:
        assert done.stderr == ""


def test_ctrl_c_stops_with_one_line_exit_130_and_no_success(tmp_path, shared_data):
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path, [shared_data / "bench" / "real-pages.warc.gz"], out)
    proc, lines, seen = start_and_interrupt(recipe, "--workers", "2")
    after = [line for line in lines[seen:] if not line.startswith(("reading: ", "starting: "))]
    assert after == [f"interrupted: no _SUCCESS written; {out} left incomplete (the next run into it replaces it)\n"]
    assert not any("Traceback" in line or "lxml" in line or "discarding" in line for line in lines)
    assert not (out / "_SUCCESS").exists() and not (out / RUNNING_MARKER).exists()
    for _ in range(100):  # no worker process left behind (they may take a moment to exit)
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)


def test_ctrl_c_on_a_job_service_that_runs_the_job_on_leaves_no_success(tmp_path, shared_data, capsys):
    """Beam's Python job service ignores cancel: the job ends there, marked failed, and until then
    the directory is refused."""
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path, [shared_data / "bench" / "real-pages.warc.gz"], out)
    with job_service_and_worker_pool() as (job_endpoint, pool, _):
        proc, lines, seen = start_and_interrupt(recipe, "--runner", "portable", "--job-endpoint", job_endpoint,
                                                "--environment-type", "EXTERNAL", "--environment-config", pool)
        assert [line for line in lines[seen:] if line.startswith("interrupted")] == [
            "interrupted: the job was cancelled where its job service can; if it runs on, it writes no _SUCCESS "
            f"and {out} is refused until it ends\n"]
        assert not any("Traceback" in line for line in lines)
        held = json.loads((out / RUNNING_MARKER).read_text())
        assert held["interrupted"] is True
        assert main(["run", recipe, "--workers", "1", "--quiet"]) == 2  # the job may still be writing
        assert "its job service may run on" in capsys.readouterr().err
        for _ in range(240):  # the job service runs it to its end
            if not (out / RUNNING_MARKER).exists():
                break
            time.sleep(0.5)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["status"] == "failed" and stats["status_reason"].startswith("interrupted (Ctrl-C)")
    assert not (out / "_SUCCESS").exists() and not (out / RUNNING_MARKER).exists()
