"""Running a validated recipe: output directory checks, provenance, the pipeline itself."""
from __future__ import annotations

import dataclasses
import os
import platform
import re
from typing import Any, Dict, List, Optional

import apache_beam as beam
import yaml
from apache_beam.io.filesystems import FileSystems

from pipelines.builder import build, output_dirs
from pipelines.recipe import Recipe, RecipeError, _choices, expand_home
from pipelines.report import STATS_FILE, SUCCESS_MARKER, read_stats, write_text
from pipelines.runners import RunnerConfig, make_runner_and_options
from transforms.redact import redact_json
from transforms.sinks import dir_exists, remove_dir

LOCK_FILE = "recipe.lock.yaml"
REPORT_FILES = ("report.html", "report.md", "README.md")  # README.md: the dataset card
_OWNED = (STATS_FILE, SUCCESS_MARKER, LOCK_FILE) + REPORT_FILES
_VERSIONED = ("apache-beam", "trafilatura", "fasttext-numpy2-wheel", "fastwarc", "warcio", "pyarrow",
              "datasketch", "numpy")


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
                              + _choices(name, new_inputs))
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


def prepare_output(root: str, overwrite: bool) -> None:
    """Refuse to mix runs in one directory; with ``overwrite``, remove the previous run's files.
    On gs:// a directory is a prefix: every object under ``data/``, ``rejected/``, ``errors/`` goes."""
    files = [p for p in (FileSystems.join(root, name) for name in _OWNED) if _exists(p)]
    dirs = [p for p in output_dirs(root).values() if _dir_exists(p)]
    present = files + dirs
    if present and not overwrite:
        raise FileExistsError(f"{root} already holds a run's output ({present[0]}); pass --overwrite to replace it")
    if files:
        FileSystems.delete(files)
    for directory in dirs:
        remove_dir(directory)


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
    write_text(FileSystems.join(recipe.output.path, LOCK_FILE), yaml.safe_dump(redact_json(lock), sort_keys=False))


def run_recipe(recipe: Recipe, cfg: RunnerConfig, overwrite: bool = False) -> Optional[Dict[str, Any]]:
    """Build and run the pipeline; returns stats.json's content when the run finished here."""
    prepare_output(recipe.output.path, overwrite)
    write_lock(recipe, cfg)
    runner, options = make_runner_and_options(cfg)
    pipeline = beam.Pipeline(runner=runner, options=options)
    workers = cfg.workers or ((os.cpu_count() or 1) if cfg.runner == "local" else None)
    build(pipeline, recipe, {"runner": cfg.runner, "workers": workers, "versions": versions()})
    result = pipeline.run()
    if cfg.runner == "dataflow":  # the job runs on; stats.json appears in the output when it ends
        print(f"submitted Dataflow job {result.job_id()}")
        return None
    result.wait_until_finish()
    return read_stats(recipe.output.path)
