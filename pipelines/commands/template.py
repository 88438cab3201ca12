"""Request bodies for Dataflow's ``flexTemplates.launch``: what a scheduler POSTs to start a recipe.

    POST https://dataflow.googleapis.com/v1b3/projects/PROJECT/locations/REGION/flexTemplates:launch

``template_body`` returns ``{"launchParameter": {jobName, containerSpecGcsPath,
parameters, environment}}``; ``parameters`` holds only the template's own
parameters (``deploy/dataflow/metadata.json``, read by ``pipelines/commands/launcher.py``),
``environment`` where Dataflow keeps temporary and staging files and which
service account the job runs as. ``thresher template-body`` prints one as JSON
(``deploy/scheduler/create-job.sh`` sends it from Cloud Scheduler).

A scheduler sends the same body every time: put strftime codes in a
parameter value (``--param run=%Y-%m``; the launcher fills them with the
launch date) so that each run writes to a new directory. The launcher never
overwrites an existing run's output.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Dict, List, Optional

LAUNCH_URL = "https://dataflow.googleapis.com/v1b3/projects/{project}/locations/{region}/flexTemplates:launch"
JOB_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")  # Dataflow's rule for job names
PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def launch_url(project: str, region: str) -> str:
    return LAUNCH_URL.format(project=project, region=region)


def job_name_for(recipe_path: str, suffix: str = "") -> str:
    """``gs://b/recipes/FineWeb_v2.yaml`` -> ``thresher-fineweb-v2`` (a valid Dataflow job name)."""
    stem = recipe_path.rstrip("/").rsplit("/", 1)[-1].split(".", 1)[0]
    name = re.sub(r"[^a-z0-9]+", "-", f"thresher-{stem}-{suffix}".lower()).strip("-")
    return name[:63].rstrip("-")


def template_body(recipe_gcs_path: str, template_gcs_path: str, job_name: str,
                  params: Optional[Dict[str, str]] = None, *, sdk_container_image: str,
                  inputs: Optional[List[str]] = None, output: Optional[str] = None,
                  machine_type: Optional[str] = None, max_num_workers: Optional[int] = None,
                  disk_size_gb: Optional[int] = None, temp_location: Optional[str] = None,
                  staging_location: Optional[str] = None, service_account_email: Optional[str] = None,
                  labels: Optional[Dict[str, str]] = None, allow_plugins: bool = False) -> dict:
    """The ``flexTemplates.launch`` request body that runs ``recipe_gcs_path`` from the template.

    params: recipe parameters ({name} in the recipe's paths), e.g. ``{"dump": "CC-MAIN-2024-33"}``.
    inputs: ``[NAME=]GLOB`` replacing inputs' paths; output: replaces the recipe's output.path.
    machine_type, max_num_workers, disk_size_gb: Dataflow workers (launcher defaults when None).
    temp_location, staging_location: gs:// folders for Dataflow's temporary and staged files.
    allow_plugins: let the recipe's steps name Python classes (in the image) to import and run.
    """
    if not JOB_NAME.match(job_name):
        raise ValueError(f"job name {job_name!r}: lowercase letters, digits and '-', starting with a letter, "
                         "at most 63 characters")
    for name, value in (("template", template_gcs_path), ("temp_location", temp_location),
                        ("staging_location", staging_location), ("output", output)):
        if value is not None and not value.startswith("gs://"):
            raise ValueError(f"{name} must be a gs:// path, got {value!r}")
    if not recipe_gcs_path.startswith(("gs://", "/template/recipes/")):
        raise ValueError(f"recipe must be on gs:// or in the image (/template/recipes/), got {recipe_gcs_path!r}")
    parameters = {"recipe": recipe_gcs_path, "sdk_container_image": sdk_container_image}
    if params:
        for name, value in params.items():
            if not PARAM_NAME.match(name) or ";" in str(value):
                raise ValueError(f"recipe parameter {name}={value!r}: NAME is an identifier, VALUE has no ';'")
        parameters["params"] = ";".join(f"{k}={v}" for k, v in params.items())
    if inputs:
        parameters["input"] = ";".join(inputs)
    for name, value in (("output", output), ("machine_type", machine_type),
                        ("max_num_workers", max_num_workers), ("disk_size_gb", disk_size_gb)):
        if value is not None:
            parameters[name] = str(value)
    if allow_plugins:
        parameters["allow_plugins"] = "true"
    environment = {"additionalUserLabels": {"app": "thresher", **(labels or {})}}
    for key, value in (("tempLocation", temp_location), ("stagingLocation", staging_location),
                       ("serviceAccountEmail", service_account_email)):
        if value:
            environment[key] = value
    return {"launchParameter": {"jobName": job_name, "containerSpecGcsPath": template_gcs_path,
                                "parameters": parameters, "environment": environment}}


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The ``thresher template-body`` options."""
    parser.add_argument("recipe", help="the recipe on gs:// (or /template/recipes/NAME.yaml in the image)")
    parser.add_argument("--template", required=True, help="gs:// path of the flex template spec (build.sh)")
    parser.add_argument("--image", required=True, help="the template's image, which the workers run")
    parser.add_argument("--job-name", help="Dataflow job name (default: thresher-RECIPE)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="recipe parameter; strftime codes are filled at launch (run=%%Y-%%m); repeatable")
    parser.add_argument("--input", action="append", default=[], metavar="[NAME=]GLOB")
    parser.add_argument("--output", help="gs:// output directory (default: the recipe's output.path)")
    parser.add_argument("--machine-type", help="worker machine type (launcher default n2-standard-4)")
    parser.add_argument("--max-workers", type=int, help="autoscaling cap (launcher default 10)")
    parser.add_argument("--disk-size-gb", type=int, help="worker boot disk (Dataflow's default when unset)")
    parser.add_argument("--temp-location", help="gs:// folder for Dataflow's temporary files")
    parser.add_argument("--staging-location", help="gs:// folder for staged files")
    parser.add_argument("--service-account", help="service account the job's VMs run as")
    parser.add_argument("--allow-plugins", action="store_true",
                        help="let the recipe's steps name Python classes (installed in the image) to import and run")
    return parser


def print_template_body(args: argparse.Namespace) -> int:
    """``thresher template-body``: print the launch request body as JSON."""
    params = {}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--param takes NAME=VALUE, got {item!r}")
        params[name] = value
    body = template_body(
        args.recipe, args.template, args.job_name or job_name_for(args.recipe), params,
        sdk_container_image=args.image, inputs=args.input, output=args.output,
        machine_type=args.machine_type, max_num_workers=args.max_workers, disk_size_gb=args.disk_size_gb,
        temp_location=args.temp_location, staging_location=args.staging_location,
        service_account_email=args.service_account, allow_plugins=args.allow_plugins)
    print(json.dumps(body, indent=2))
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = add_arguments(argparse.ArgumentParser(prog="thresher template-body", description=__doc__.split("\n")[0]))
    try:
        return print_template_body(parser.parse_args(argv))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
