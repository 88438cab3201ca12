"""Running a validated recipe: output directory checks, provenance, the pipeline itself."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
import re
import socket
import sys
from typing import Any, Dict, List, Optional, Tuple

import apache_beam as beam
import yaml
from apache_beam.io.filesystems import FileSystems

from thresher.pipelines.run.builder import build, input_files, output_dirs
from thresher.pipelines.recipe.params import choices, expand_home
from thresher.pipelines.recipe.schema import Recipe, RecipeError
from thresher.pipelines.report.stats import RUNNING_MARKER, STATS_FILE, SUCCESS_MARKER, read_stats, write_text
from thresher.pipelines.run.progress import ProgressFiles, ProgressMonitor, progress_dir
from thresher.pipelines.run.run_log import RunLog
from thresher.pipelines.run.runners import RunnerConfig, make_runner_and_options
from thresher.transforms.redact import redact, redact_json
from thresher.transforms.io.sinks import dir_exists, remove_dir

LOCK_FILE = "recipe.lock.yaml"
REPORT_FILES = ("report.html", "report.md", "README.md")  # README.md: the dataset card
RUN_LOG = "thresher.log"
_OWNED = (STATS_FILE, SUCCESS_MARKER, LOCK_FILE, RUN_LOG, RUNNING_MARKER) + REPORT_FILES
_VERSIONED = ("apache-beam", "trafilatura", "fasttext-numpy2-wheel", "fastwarc", "warcio", "pyarrow",
              "numpy")


_INPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def _matches_files(pattern: str) -> bool:
    try:
        return bool(FileSystems.match([pattern])[0].metadata_list)
    except Exception:
        return False


def apply_overrides(recipe: Recipe, inputs: List[str], output: Optional[str]) -> Recipe:
    """Apply ``--input [NAME=]GLOB`` and ``--output DIR`` from the command line (``~/`` expanded).

    ``NAME=GLOB`` replaces input NAME's paths. A ``NAME=`` prefix that looks like an input name
    but names none is an error listing the valid inputs, unless files match the whole argument
    (a file name holding ``=``); without a prefix, a recipe with one input takes the pattern."""
    new_inputs = {name: dataclasses.replace(spec) for name, spec in recipe.inputs.items()}
    valid = ", ".join(sorted(new_inputs))
    replaced: Dict[str, List[str]] = {}
    for item in inputs:
        name, sep, pattern = item.partition("=")
        if sep and name in new_inputs:
            if not pattern:
                raise RecipeError(recipe.file, f"inputs.{name}", f"--input {item!r}: no pattern after '='")
            replaced.setdefault(name, []).append(expand_home(pattern))
        elif sep and _INPUT_NAME.match(name) and not _matches_files(expand_home(item)):
            raise RecipeError(recipe.file, "inputs", f"--input {item!r}: the recipe has no input {name!r}"
                              + choices(name, new_inputs))
        elif len(new_inputs) == 1:
            replaced.setdefault(next(iter(new_inputs)), []).append(expand_home(item))
        else:
            raise RecipeError(recipe.file, "inputs", f"--input {item!r}: the recipe has several inputs, "
                              f"say which with NAME=GLOB; valid: {valid}")
    for name, paths in replaced.items():
        new_inputs[name].paths = paths
    out = dataclasses.replace(recipe.output, path=expand_home(output)) if output else recipe.output
    return dataclasses.replace(recipe, inputs=new_inputs, output=out)


def _exists(path: str) -> bool:
    try:
        return FileSystems.exists(path)
    except Exception:
        return False


def _dir_exists(path: str) -> bool:
    try:
        return dir_exists(path)
    except Exception:
        return False


class RunFailed(Exception):
    """The run raised: ``cause`` is what it raised, ``log_path`` holds the traceback, ``where`` says
    what was being done when the cause does not (None: while the pipeline ran)."""

    def __init__(self, cause: BaseException, log_path: Optional[str], where: Optional[str] = None):
        super().__init__(str(cause))
        self.cause, self.log_path, self.where = cause, log_path, where


def _alive(pid: int) -> bool:
    """Whether process ``pid`` of this host runs (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def lock_holder(root: str) -> Optional[Tuple[str, bool]]:
    """(who, checked) of a run still writing ``root`` per its _RUNNING marker; None when there is no
    marker or its process is gone. A marker from another host or of a Dataflow job (which runs on after
    the process that submitted it) cannot be checked: held, ``checked`` False."""
    path = FileSystems.join(root, RUNNING_MARKER)
    if not _exists(path):
        return None
    try:
        with FileSystems.open(path) as f:
            info = json.loads(f.read().decode("utf-8"))
        host, pid = str(info["host"]), int(info["pid"])
    except Exception:  # unreadable or half-written: the writer died
        return None
    if info.get("runner") == "dataflow":
        return f"a Dataflow job submitted by pid {pid} on {host}", False
    if info.get("interrupted"):
        return f"a job its job service may run on after pid {pid} on {host} was interrupted", False
    if host != socket.gethostname():
        return f"pid {pid} on {host}", False
    return (f"pid {pid} on {host}", True) if _alive(pid) else None


def take_lock(root: str, runner: str = "local") -> None:
    """Write ``root/_RUNNING`` (host, pid, runner); FileExistsError when another run created it first.
    The CLI removes it when the run ends here; ``FinalizeRun`` removes it at the end of any run."""
    text = json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "runner": runner})
    path = FileSystems.join(root, RUNNING_MARKER)
    if "://" in root:
        write_text(path, text)
        return
    os.makedirs(root, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise FileExistsError(f"{root}: another run started writing it ({path})") from None
    with os.fdopen(fd, "w") as f:
        f.write(text)


def release_lock(root: str) -> None:
    path = FileSystems.join(root, RUNNING_MARKER)
    try:
        if _exists(path):
            FileSystems.delete([path])
    except Exception:  # a stale marker is recognised by its dead pid
        pass


def prepare_output(root: str, overwrite: bool) -> Optional[str]:
    """Make ``root`` ready for a run; returns a line saying what was replaced, or None.

    A directory a live run is writing (``_RUNNING``) is refused, and one holding a finished run
    (``_SUCCESS``) unless ``overwrite``; what a failed or interrupted run left is replaced.
    On gs:// a directory is a prefix: every object under ``data/``, ``rejected/``, ``errors/``,
    ``tokens/`` goes (``builder.output_dirs``)."""
    holder = lock_holder(root)
    if holder is not None and (holder[1] or not overwrite):
        who, here = holder
        raise FileExistsError(f"{root} is being written by a run still going ({who}): wait for it or stop it"
                              + ("" if here else f"; if it is gone, pass --overwrite or delete "
                                                 f"{FileSystems.join(root, RUNNING_MARKER)}"))
    files = [p for p in (FileSystems.join(root, name) for name in _OWNED) if _exists(p)]
    dirs = [p for p in list(output_dirs(root).values()) + [FileSystems.join(root, "_temporary")]
            if _dir_exists(p)]
    finished = _exists(FileSystems.join(root, SUCCESS_MARKER))
    if finished and not overwrite:
        raise FileExistsError(f"{root} already holds a finished run ({SUCCESS_MARKER}); "
                              f"pass --overwrite to replace it")
    note = None
    if files or dirs:
        note = (f"replacing the finished run in {root} (--overwrite)" if finished else
                f"replacing what an unfinished run left in {root} (no {SUCCESS_MARKER}: it failed or was interrupted)")
    if files:
        FileSystems.delete(files)
    for directory in dirs:
        remove_dir(directory)
    return note


def versions() -> Dict[str, str]:
    from importlib import metadata
    found = {"python": platform.python_version()}
    for name in ("thresher",) + _VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def write_lock(recipe: Recipe, cfg: RunnerConfig) -> None:
    lock = {"recipe": recipe.to_dict(), "source_file": recipe.file,
            "runner": {"runner": cfg.runner, "workers": cfg.workers}, "versions": versions()}
    # credentials in paths (signed URLs, user:password@) are masked: the lock is a report too
    write_text(FileSystems.join(recipe.output.path, LOCK_FILE),
               yaml.safe_dump(redact_json(lock), sort_keys=False, allow_unicode=True))  # "•", not "\u2022"


def _interrupted(result, root: str, runner: str) -> bool:
    """After Ctrl-C: cancel a job submitted to a job service and mark ``_RUNNING`` interrupted, since
    a service may run the job on (Beam's Python job service ignores cancel): its ``FinalizeRun``
    then writes no _SUCCESS, and the directory stays refused until the job ends. True when marked
    (the local runner's run() returns only when done: nothing runs on)."""
    if result is None:
        return False
    try:
        result.cancel()
    except Exception:  # best effort: the job service may be gone too
        logging.getLogger("thresher.run").info("could not cancel the job", exc_info=True)
    try:
        write_text(FileSystems.join(root, RUNNING_MARKER), json.dumps(
            {"host": socket.gethostname(), "pid": os.getpid(), "runner": runner, "interrupted": True}))
    except Exception:
        return False
    return True


def run_recipe(recipe: Recipe, cfg: RunnerConfig, overwrite: bool = False, verbose: bool = True,
               show_progress: bool = False, cache: Optional[str] = None) -> Optional[Dict[str, Any]]:
    """Build and run the pipeline; returns stats.json's content when the run finished here.

    The run holds ``OUT/_RUNNING`` while it goes and logs to ``OUT/thresher.log`` (local outputs);
    ``verbose=False`` keeps the terminal to this project's lines (``run_log``), ``show_progress``
    prints live progress; ``cache``: the prefix cache's directory (``prefix_cache``), None for none.
    RunFailed when the pipeline raised."""
    out = recipe.output.path
    here = cfg.runner != "dataflow"  # a Dataflow job runs on after this returns
    try:
        note = prepare_output(out, overwrite)
        take_lock(out, cfg.runner)
    except FileExistsError:
        raise
    except OSError as exc:  # permission denied, a file where the directory should be, a full disk
        raise RunFailed(exc, None, "the output directory") from exc
    if note:
        print(redact(note), file=sys.stderr)
    detached = False  # interrupted while a job service runs the job: _RUNNING stays, marked
    try:
        try:
            write_lock(recipe, cfg)
        except OSError as exc:
            raise RunFailed(exc, None, "the output directory") from exc
        local = "://" not in out
        log_path = os.path.join(out, RUN_LOG) if local else None
        with RunLog(log_path, verbose) as log:
            runner, options = make_runner_and_options(cfg)
            pipeline = beam.Pipeline(runner=runner, options=options)
            workers = cfg.workers or ((os.cpu_count() or 1) if cfg.runner == "local" else None)
            folder = progress_dir(out) if show_progress and here else None
            info = {"runner": cfg.runner, "workers": workers, "versions": versions()}
            if cache:
                info["cache"] = redact(str(cache))
            build(pipeline, recipe, info,
                  progress=ProgressFiles(folder) if folder else None, cache=cache)
            monitor = None
            if folder:
                listed = input_files(recipe)
                monitor = ProgressMonitor(folder, listed["count"], sys.stderr, listed["bytes"]).start()
            result = None
            try:
                result = pipeline.run()
                if not here:
                    print(f"submitted Dataflow job {result.job_id()}")
                    return None
                result.wait_until_finish()
            except KeyboardInterrupt:
                detached = _interrupted(result, out, cfg.runner)
                raise
            except Exception as exc:
                log.failed(exc)
                raise RunFailed(exc, log_path) from exc
            finally:
                if monitor:
                    monitor.stop()
        return read_stats(out)
    finally:
        if here and not detached:
            release_lock(out)
