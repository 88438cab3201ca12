"""Run a recipe from Beam-style ``--name=value`` arguments: the Dataflow flex-template entry point.

Dataflow starts the template's container and runs this file with the
template parameters (``deploy/dataflow/metadata.json``) and its own pipeline
options (``--project``, ``--region``, ``--temp_location``, ``--job_name``...)
as ``--name=value`` arguments. Airflow's ``BeamRunPythonPipelineOperator``
calls a Python file the same way, so the same file submits a recipe to Flink
(``--runner=FlinkRunner --flink_master=...``).

Template parameters (everything else goes to Beam as pipeline options):

* ``recipe``: the recipe YAML, on ``gs://`` or baked into the image (``/template/recipes/``).
* ``input``: ``[NAME=]GLOB`` replacing an input's paths; several separated by ``;``.
* ``output``: the output directory, replacing the recipe's ``output.path``.
* ``params``: recipe parameters ``NAME=VALUE;NAME=VALUE`` (``{NAME}`` in paths). Values may hold
  strftime codes (``%Y``, ``%m``, ``%d``), filled with the launch date (UTC), so that a job
  started by a fixed scheduler request writes each run to a new directory.
* ``machine_type``, ``max_num_workers``, ``disk_size_gb``: Dataflow workers
  (defaults n2-standard-4 and at most 10 workers; disk: Dataflow's default).
* ``sdk_container_image``: the image Dataflow workers run (the template's own image).
* ``allow_plugins``: ``true`` lets the recipe's steps name Python classes to import and run
  (``package.module:ClassName``, installed in the image); default ``false``: a recipe is data.

The recipe then runs through ``thresher.pipelines.run.execute.run_recipe``, as ``thresher run``
does, never with ``--overwrite``: an output directory that already holds a run
is refused.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import List, Optional, Tuple

from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions, StandardOptions

from thresher.pipelines.commands.cli import parse_params
from thresher.pipelines.recipe.checks import check_before_run
from thresher.pipelines.recipe.model import load_recipe
from thresher.pipelines.recipe.schema import Recipe
from thresher.pipelines.recipe.registry import STEPS
from thresher.pipelines.run.execute import apply_overrides, run_recipe
from thresher.pipelines.run.runners import RunnerConfig
from thresher.transforms.redact import redact_logs

#: Dataflow worker defaults: enough memory for trafilatura + fastText per core, and a cost cap.
DEFAULT_MACHINE_TYPE = "n2-standard-4"
DEFAULT_MAX_WORKERS = 10

#: Beam runner name -> ``RunnerConfig.runner``
_RUNNERS = {"dataflowrunner": "dataflow", "dataflow": "dataflow", "flinkrunner": "flink", "flink": "flink",
            "portablerunner": "portable", "portable": "portable"}


def template_parser() -> argparse.ArgumentParser:
    """The template's own parameters: exactly those declared in ``deploy/dataflow/metadata.json``."""
    parser = argparse.ArgumentParser(prog="launcher.py", description="Run a Thresher recipe (flex template).",
                                     allow_abbrev=False)
    parser.add_argument("--recipe", required=True, help="recipe YAML (gs://... or /template/recipes/...)")
    parser.add_argument("--input", default="", help="[NAME=]GLOB replacing an input's paths; several separated by ;")
    parser.add_argument("--output", default="", help="output directory (default: the recipe's output.path)")
    parser.add_argument("--params", default="", help="recipe parameters NAME=VALUE;NAME=VALUE")
    parser.add_argument("--machine_type", "--worker_machine_type", dest="machine_type", default=None,
                        help=f"Dataflow worker machine type (default {DEFAULT_MACHINE_TYPE})")
    parser.add_argument("--max_num_workers", type=int, default=None,
                        help=f"Dataflow autoscaling cap (default {DEFAULT_MAX_WORKERS})")
    parser.add_argument("--disk_size_gb", type=int, default=None, help="Dataflow worker boot disk size")
    parser.add_argument("--sdk_container_image", default=None, help="image Dataflow workers run")
    parser.add_argument("--allow_plugins", nargs="?", const="true", default="false", type=_flag,
                        help="true: recipe steps may name Python classes to import (package.module:ClassName)")
    return parser


def _flag(value: str) -> bool:
    """``true``/``false`` (a template parameter's text; Airflow passes a bare ``--allow_plugins``)."""
    text = str(value).strip().lower()
    if text not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")
    return text == "true"


def split_list(value: str) -> List[str]:
    """``"a; b;"`` -> ``["a", "b"]``."""
    return [item.strip() for item in value.split(";") if item.strip()]


def launch_params(value: str, now: Optional[time.struct_time] = None) -> dict:
    """``"dump=CC-MAIN-2024-33;run=%Y-%m"`` -> ``{"dump": "CC-MAIN-2024-33", "run": "2024-08"}``."""
    now = now or time.gmtime()
    return {name: time.strftime(text, now) if "%" in text else text
            for name, text in parse_params(split_list(value)).items()}


def runner_config(args: argparse.Namespace, beam_args: List[str]):
    """A ``RunnerConfig`` for the runner named by ``--runner`` (default Dataflow); Beam arguments pass through."""
    options = PipelineOptions(beam_args)
    name = (options.view_as(StandardOptions).runner or "DataflowRunner").lower()
    if name not in _RUNNERS:
        raise ValueError(f"--runner={name}: the launcher runs DataflowRunner, FlinkRunner or PortableRunner")
    runner = _RUNNERS[name]
    if runner != "dataflow":
        return RunnerConfig(runner=runner, extra_args=tuple(beam_args))
    gcp = options.view_as(GoogleCloudOptions)
    if not args.sdk_container_image:
        raise ValueError("--sdk_container_image is required: the template's image, which Dataflow workers run")
    worker = [f"--sdk_container_image={args.sdk_container_image}",
              f"--machine_type={args.machine_type or DEFAULT_MACHINE_TYPE}"]
    if args.disk_size_gb:
        worker.append(f"--disk_size_gb={args.disk_size_gb}")
    return RunnerConfig(runner="dataflow", workers=args.max_num_workers or DEFAULT_MAX_WORKERS,
                        project=gcp.project, region=gcp.region,
                        temp_location=gcp.temp_location or gcp.staging_location,
                        extra_args=tuple(worker + beam_args))


def prepare(argv: List[str]) -> Tuple[Recipe, RunnerConfig]:
    """(validated recipe with overrides applied, RunnerConfig) from the launcher's arguments."""
    args, beam_args = template_parser().parse_known_args(argv)
    recipe = load_recipe(args.recipe, STEPS, params=launch_params(args.params), allow_plugins=args.allow_plugins)
    recipe = apply_overrides(recipe, split_list(args.input), args.output or None)
    check_before_run(recipe, STEPS)
    return recipe, runner_config(args, beam_args)


def main(argv: Optional[List[str]] = None) -> int:
    """Exit status 0 when the job was submitted (Dataflow) or ran balanced; 1 when the run failed (stats.json's
    status); 2 on a recipe, input or output problem."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    redact_logs()  # no credentials (signed URLs, user:password@) in the job's log
    try:
        recipe, cfg = prepare(list(sys.argv[1:] if argv is None else argv))
        logging.info("thresher: running %s (%s) to %s on %s", recipe.file, recipe.name, recipe.output.path,
                     cfg.runner)
        stats = run_recipe(recipe, cfg, overwrite=False)  # scheduled runs never replace an earlier run's output
    except (FileExistsError, ValueError) as exc:  # RecipeError is a ValueError
        logging.error("thresher: error: %s", exc)
        return 2
    if stats is not None and stats.get("status") == "failed":
        logging.error("thresher: error: %s", stats.get("status_reason"))
        return 1
    return 0 if stats is None or stats["balanced"] else 1


if __name__ == "__main__":
    sys.exit(main())
