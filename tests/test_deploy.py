"""Deployment files checked without the cloud: the flex template's parameters, the launcher's
Dataflow job (translated by Beam's DataflowRunner in dry-run mode, never submitted), the
scheduler's request body, the Flink manifests and the Airflow DAG."""
from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import types

import pytest
import yaml

from tests.conftest import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
METADATA = json.loads((DEPLOY / "dataflow" / "metadata.json").read_text())
PARAMS = {p["name"]: p for p in METADATA["parameters"]}
IMAGE = "europe-west4-docker.pkg.dev/my-project/thresher/thresher:0.1.0-abc1234"
RECIPE = """
version: 1
name: deploy-test
params: {{dump: none, run: none}}
inputs:
  web: {{paths: ["{corpus}/*.warc.gz"], format: warc}}
steps:
  - step: extract
output: {{path: "{out}/{{dump}}/{{run}}", rejected: true}}
"""
DATAFLOW_ARGS = ["--project=test-project", "--region=europe-west4", "--temp_location=gs://test-bucket/temp",
                 "--staging_location=gs://test-bucket/staging", "--job_name=thresher-deploy-test"]


def matches(name: str, value: str) -> bool:
    return all(re.fullmatch(regex, value) for regex in PARAMS[name].get("regexes", []))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from thresher.pipelines.commands.quickstart_corpus import write_corpus
    out = tmp_path_factory.mktemp("corpus")
    write_corpus(str(out), pages=40, files=1)
    return out


@pytest.fixture
def recipe(tmp_path, corpus):
    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE.format(corpus=corpus, out=tmp_path / "out"))
    return path


# ---------------------------------------------------------------- template parameters

def test_metadata_parameters_are_exactly_the_launchers():
    from thresher.pipelines.commands.launcher import template_parser
    actions = {a.dest: a for a in template_parser()._actions if a.dest != "help"}
    assert set(PARAMS) == set(actions)
    for name, action in actions.items():
        assert f"--{name}" in action.option_strings
        assert PARAMS[name]["helpText"] and PARAMS[name]["label"]
    # required by the template; the launcher asks for the image only on Dataflow (Flink runs without it)
    assert {n for n, p in PARAMS.items() if not p.get("isOptional")} == {"recipe", "sdk_container_image"}
    assert [n for n, a in actions.items() if a.required] == ["recipe"]


@pytest.mark.parametrize("name, good, bad", [
    ("recipe", ["gs://b/recipes/fineweb.yaml", "/template/recipes/quickstart.yml"],
     ["/tmp/r.yaml", "gs://b/r.json", "recipes/x.yaml"]),
    ("params", ["dump=CC-MAIN-2024-33", "dump=CC-MAIN-2024-33;run=%Y-%m", "a=;b=2;"], ["dump", "=x", "1a=2"]),
    ("output", ["gs://b/out/CC-MAIN-2024-33"], ["/local/out", "s3://b/out"]),
    ("machine_type", ["n2-standard-4", "e2-highmem-8", "custom-8-32768"], ["N2", "n2 standard"]),
    ("max_num_workers", ["1", "10", "999", "1000"], ["0", "1001", "-1", "ten"]),
    ("disk_size_gb", ["25", "250"], ["0", "5", "big"]),
    ("sdk_container_image", [IMAGE, "gcr.io/p/thresher@sha256:" + "a" * 64],
     ["europe-west4-docker.pkg.dev/p/thresher/thresher", "thresher:latest x"]),
])
def test_metadata_regexes(name, good, bad):
    assert all(matches(name, v) for v in good), good
    assert not any(matches(name, v) for v in bad), bad


def test_launcher_passes_beam_options_through_and_fills_dates(recipe):
    import time

    from thresher.pipelines.commands.launcher import launch_params, prepare
    assert launch_params("dump=CC-MAIN-2024-33;run=%Y-%m", time.gmtime(0)) == {"dump": "CC-MAIN-2024-33",
                                                                               "run": "1970-01"}
    rec, cfg = prepare([f"--recipe={recipe}", "--params=dump=CC-MAIN-2024-33;run=r%Y", f"--sdk_container_image={IMAGE}",
                        "--max_num_workers=3", "--disk_size_gb=50", *DATAFLOW_ARGS])
    assert rec.output.path.endswith(f"CC-MAIN-2024-33/r{time.gmtime().tm_year}")
    assert (cfg.runner, cfg.workers, cfg.project, cfg.region) == ("dataflow", 3, "test-project", "europe-west4")
    assert cfg.temp_location == "gs://test-bucket/temp"
    assert {f"--sdk_container_image={IMAGE}", "--machine_type=n2-standard-4", "--disk_size_gb=50",
            "--job_name=thresher-deploy-test"} <= set(cfg.extra_args)
    with pytest.raises(ValueError, match="sdk_container_image"):
        prepare([f"--recipe={recipe}", *DATAFLOW_ARGS])

    # what Airflow's Beam operator sends for Flink: the same launcher, the FlinkRunner preset
    from thresher.pipelines.run.runners import make_runner_and_options
    _, cfg = prepare([f"--recipe={recipe}", "--runner=FlinkRunner", "--flink_master=thresher-flink-rest:8081",
                      "--flink_submit_uber_jar", "--environment_type=EXTERNAL", "--environment_config=localhost:50000",
                      "--parallelism=4"])
    runner, options = make_runner_and_options(cfg)
    opts = options.get_all_options()
    assert runner == "FlinkRunner" and cfg.runner == "flink"
    assert (opts["flink_master"], opts["environment_config"], opts["parallelism"]) == ("thresher-flink-rest:8081",
                                                                                      "localhost:50000", 4)


def test_launcher_never_overwrites(recipe, tmp_path, caplog):
    from thresher.pipelines.commands import launcher
    out = tmp_path / "out" / "CC-1" / "r1"
    out.mkdir(parents=True)
    (out / "stats.json").write_text("{}")
    (out / "_SUCCESS").write_text("")
    argv = [f"--recipe={recipe}", "--params=dump=CC-1;run=r1", f"--sdk_container_image={IMAGE}", *DATAFLOW_ARGS]
    assert launcher.main(argv + ["--overwrite"]) == 2  # not a launcher option: Beam ignores it, the refusal stands
    assert "already holds a finished run" in caplog.text
    assert (out / "stats.json").read_text() == "{}"
    assert launcher.main([f"--recipe={tmp_path / 'missing.yaml'}", *DATAFLOW_ARGS]) == 2
    assert "cannot read recipe" in caplog.text


def test_launcher_job_translates_for_dataflow(recipe, monkeypatch):
    """Beam's DataflowRunner turns the launcher's pipeline into a Dataflow job (dry run: nothing is
    submitted); the job's workers run the template image with the requested machine type and cap."""
    import apache_beam as beam
    from apache_beam.runners.dataflow.internal import apiclient

    from thresher.pipelines.run.builder import build
    from thresher.pipelines.commands.launcher import prepare
    from thresher.pipelines.run.runners import make_runner_and_options

    rec, cfg = prepare([f"--recipe={recipe}", "--params=dump=CC-1", f"--sdk_container_image={IMAGE}",
                        "--machine_type=n2-highmem-4", *DATAFLOW_ARGS, "--dry_run=True"])
    runner, options = make_runner_and_options(cfg)
    assert runner == "DataflowRunner" and options.get_all_options()["setup_file"] is None
    pipeline = beam.Pipeline(runner=runner, options=options)
    build(pipeline, rec)
    job = pipeline.run().job  # dry run: translated, not submitted
    environments = job.proto_pipeline.components.environments
    assert environments and all(env.urn == "beam:env:docker:v1" and IMAGE.encode() in env.payload
                                for env in environments.values())
    assert len(job.proto_pipeline.components.transforms) > 50
    env = apiclient.Environment(packages=[], options=job.options, environment_version="8",
                                proto_pipeline_staged_url="gs://test-bucket/staging/pipeline.pb",
                                proto_pipeline=job.proto_pipeline).proto
    pool = env.worker_pools[0]
    assert pool.machine_type == "n2-highmem-4" and pool.autoscaling_settings.max_num_workers == 10
    assert [i.container_image for i in pool.sdk_harness_container_images] == [IMAGE]
    assert env.temp_storage_prefix.startswith("storage.googleapis.com/test-bucket/temp/thresher-deploy-test.")


# ---------------------------------------------------------------- scheduler

def test_template_body_matches_metadata_and_launcher(capsys):
    from thresher.pipelines.commands.launcher import template_parser
    from thresher.pipelines.commands.template import job_name_for, launch_url, main, template_body

    body = template_body("gs://b/recipes/fineweb.yaml", "gs://b/templates/thresher.json",
                         job_name_for("gs://b/recipes/FineWeb_v2.yaml"), {"dump": "CC-MAIN-2024-33", "run": "%Y-%m"},
                         sdk_container_image=IMAGE, inputs=["web=gs://b/crawl/*.warc.gz"], output="gs://b/out/x",
                         max_num_workers=20, temp_location="gs://b/temp",
                         service_account_email="w@p.iam.gserviceaccount.com")
    launch = body["launchParameter"]
    assert set(launch) == {"jobName", "containerSpecGcsPath", "parameters", "environment"}
    assert launch["jobName"] == "thresher-fineweb-v2"
    parameters = launch["parameters"]
    assert set(parameters) <= set(PARAMS)
    assert {n for n, p in PARAMS.items() if not p.get("isOptional")} <= set(parameters)
    assert all(isinstance(v, str) and matches(k, v) for k, v in parameters.items()), parameters
    assert parameters["params"] == "dump=CC-MAIN-2024-33;run=%Y-%m"
    args, unknown = template_parser().parse_known_args([f"--{k}={v}" for k, v in parameters.items()])
    assert not unknown and args.max_num_workers == 20
    assert launch["environment"]["tempLocation"] == "gs://b/temp"
    assert set(launch["environment"]) <= {"tempLocation", "stagingLocation", "serviceAccountEmail",
                                          "additionalUserLabels", "maxWorkers", "machineType"}
    assert launch_url("p", "europe-west4") == \
        "https://dataflow.googleapis.com/v1b3/projects/p/locations/europe-west4/flexTemplates:launch"
    for bad in ({"job_name": "Thresher_Job"}, {"template_gcs_path": "/local/spec.json"}):
        kwargs = dict(recipe_gcs_path="gs://b/r.yaml", template_gcs_path="gs://b/t.json", job_name="ok",
                      sdk_container_image=IMAGE)
        with pytest.raises(ValueError):
            template_body(**{**kwargs, **bad})

    assert main(["gs://b/r.yaml", "--template", "gs://b/t.json", "--image", IMAGE, "--param", "run=%Y-%m"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["launchParameter"]["parameters"]["params"] == "run=%Y-%m"
    assert printed["launchParameter"]["jobName"] == "thresher-r"


def test_scripts_parse_and_never_overwrite():
    scripts = [DEPLOY / "dataflow" / "build.sh", DEPLOY / "dataflow" / "run.sh", DEPLOY / "scheduler" / "create-job.sh"]
    for script in scripts:
        subprocess.run(["bash", "-n", str(script)], check=True)
    create = (DEPLOY / "scheduler" / "create-job.sh").read_text()
    assert "gcloud scheduler jobs create http" in create and "--oauth-service-account-email" in create
    assert "https://dataflow.googleapis.com/v1b3/projects/$PROJECT/locations/$REGION/flexTemplates:launch" in create
    assert "thresher template-body" in create
    build_sh = (DEPLOY / "dataflow" / "build.sh").read_text()
    assert "gcloud builds submit" in build_sh and "gcloud dataflow flex-template build" in build_sh
    assert "--metadata-file deploy/dataflow/metadata.json" in build_sh
    run_sh = (DEPLOY / "dataflow" / "run.sh").read_text()
    for name in re.findall(r'--parameters "(\w+)=', run_sh):
        assert name in PARAMS, name
    for path in DEPLOY.rglob("*"):
        if path.is_file() and path.suffix in (".sh", ".yaml", ".json", ".py", ""):
            assert "--overwrite" not in path.read_text().replace("Never add --overwrite", ""), path


# ---------------------------------------------------------------- images

def _pins() -> dict:
    return dict(line.split("==") for line in (DEPLOY / "requirements.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))


def _install_requires() -> list:
    import ast
    tree = ast.parse((PROJECT_ROOT / "setup.py").read_text())
    (found,) = [k.value for k in ast.walk(tree) if isinstance(k, ast.keyword) and k.arg == "install_requires"]
    return [ast.literal_eval(e) for e in found.elts]


def test_pinned_requirements_cover_setup_py():
    """deploy/requirements.txt (what the images install) pins every runtime dependency within setup.py's bounds."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    pins = {canonicalize_name(k): v for k, v in _pins().items()}
    for line in _install_requires():
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is in setup.py but not pinned in deploy/requirements.txt"
        assert req.specifier.contains(pins[name], prereleases=True), (line, pins[name])


def test_images_match_the_tested_versions():
    import apache_beam
    assert _pins()["apache-beam"] == apache_beam.__version__
    for name in ("dataflow", "flink"):
        text = (DEPLOY / name / "Dockerfile").read_text()
        assert f"COPY --from=apache/beam_python3.11_sdk:{apache_beam.__version__} /opt/apache/beam /opt/apache/beam" \
            in text, name
        assert re.search(r"^FROM python:3\.11-slim$", text, re.M), name
        assert 'ENTRYPOINT ["/opt/apache/beam/boot"]' in text and "-r requirements.txt" in text
        assert "--overwrite" not in text
    dataflow = (DEPLOY / "dataflow" / "Dockerfile").read_text()
    assert "python311-template-launcher-base" in dataflow
    assert "/opt/google/dataflow/python_template_launcher" in dataflow
    assert "ENV FLEX_TEMPLATE_PYTHON_PY_FILE=${WORKDIR}/pipelines/commands/launcher.py" in dataflow
    assert (PROJECT_ROOT / "pipelines" / "commands" / "launcher.py").is_file()


# ---------------------------------------------------------------- Flink

def _flink_docs():
    docs = list(yaml.safe_load_all((DEPLOY / "flink" / "flink-deployment.yaml").read_text()))
    job = yaml.safe_load((DEPLOY / "flink" / "submit-job.yaml").read_text())
    return {d["kind"]: d for d in docs}, job


def _option(args, flag):
    return args[args.index(flag) + 1]


def test_flink_manifests_agree():
    from apache_beam.options.pipeline_options import FlinkRunnerOptions
    docs, job = _flink_docs()
    flink = docs["FlinkDeployment"]
    assert flink["apiVersion"] == "flink.apache.org/v1beta1"
    spec = flink["spec"]
    version = re.fullmatch(r"v(\d+)_(\d+)", spec["flinkVersion"]).groups()
    dotted = ".".join(version)
    assert dotted in FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS
    assert spec["image"].startswith(f"flink:{dotted}")

    containers = {c["name"]: c for c in spec["taskManager"]["podTemplate"]["spec"]["containers"]}
    assert "flink-main-container" in containers
    pool = containers["beam-worker-pool"]
    assert pool["args"] == ["--worker_pool"]
    assert [p["containerPort"] for p in pool["ports"]] == [50000]

    assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job"
    pod = job["spec"]["template"]["spec"]
    (submit,) = pod["containers"]
    args = submit["args"]
    assert submit["command"] == ["thresher"] and args[0] == "run" and "--overwrite" not in args
    assert submit["image"] == pool["image"]  # the submitter and the workers run the same code
    assert submit["image"].rsplit(":", 1)[1].startswith(_setup_version())
    assert _option(args, "--runner") == "flink" and _option(args, "--flink-version") == dotted
    assert _option(args, "--environment-type") == "EXTERNAL"
    assert _option(args, "--environment-config") == f"localhost:{pool['ports'][0]['containerPort']}"
    assert _option(args, "--flink-master") == f"{flink['metadata']['name']}-rest:8081"
    slots = int(spec["flinkConfiguration"]["taskmanager.numberOfTaskSlots"])
    assert int(_option(args, "--workers")) == slots * spec["taskManager"]["replicas"]
    assert "--flink_submit_uber_jar" in args[args.index("--"):]
    assert pod["serviceAccountName"] == spec["serviceAccount"]
    assert job["spec"]["backoffLimit"] == 0

    policy = docs["NetworkPolicy"]["spec"]
    assert policy["podSelector"]["matchLabels"]["app"] == flink["metadata"]["name"]

    # the submit Job's arguments parse as a thresher run command line
    from thresher.pipelines.commands.cli import _parser
    cut = args.index("--")
    parsed = _parser().parse_args(args[:cut])
    assert (parsed.runner, parsed.workers, parsed.overwrite) == ("flink", slots * spec["taskManager"]["replicas"],
                                                                 False)


def _setup_version() -> str:
    return re.search(r'version="([^"]+)"', (PROJECT_ROOT / "setup.py").read_text()).group(1)


# ---------------------------------------------------------------- Airflow

def test_airflow_dag_parses(tmp_path, monkeypatch):
    """Runs where apache-airflow and its Google and Beam providers are installed (not in the dev extra)."""
    for module in ("airflow", "airflow.providers.google.cloud.operators.dataflow",
                   "airflow.providers.apache.beam.operators.beam"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            pytest.skip(f"{module} not installed: pip install apache-airflow apache-airflow-providers-google "
                        "apache-airflow-providers-apache-beam to check deploy/airflow/thresher_dag.py")
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    spec = importlib.util.spec_from_file_location("thresher_dag", DEPLOY / "airflow" / "thresher_dag.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.dag
    tasks = {t.task_id: t for t in dag.tasks}
    assert set(tasks) == {"crawl_dump", "dataflow", "flink"}
    assert tasks["crawl_dump"].downstream_task_ids == {"dataflow", "flink"}
    assert type(tasks["dataflow"]).__name__ == "DataflowStartFlexTemplateOperator"
    assert type(tasks["flink"]).__name__ == "BeamRunPythonPipelineOperator"
    assert module.newest_dump([{"id": "CC-NEWS-2024-08"}, {"id": "CC-MAIN-2024-33"}]) == "CC-MAIN-2024-33"

    # rendered with a dump and Variables, the launch body fits the template and the launcher
    from thresher.pipelines.commands.launcher import template_parser
    variables = types.SimpleNamespace(
        thresher_project="p", thresher_region="europe-west4", thresher_template="gs://b/templates/t.json",
        thresher_image=IMAGE, thresher_recipe="gs://b/recipes/fineweb.yaml", thresher_output_root="gs://b/out",
        thresher_temp_location="gs://b/dataflow", thresher_flink_master="thresher-flink-rest:8081",
        thresher_launcher_py="/opt/thresher/pipelines/commands/launcher.py")
    context = {"ti": types.SimpleNamespace(xcom_pull=lambda task_ids=None, **_: "CC-MAIN-2024-33"),
               "var": {"value": variables}}
    jinja = dag.get_template_env()
    body = tasks["dataflow"].render_template(tasks["dataflow"].body, context, jinja)
    launch = body["launchParameter"]
    assert launch["jobName"] == "thresher-cc-main-2024-33"
    assert set(launch["parameters"]) <= set(PARAMS)
    assert all(matches(k, v) for k, v in launch["parameters"].items()), launch["parameters"]
    assert launch["parameters"]["output"] == "gs://b/out/CC-MAIN-2024-33/dataflow"
    options = tasks["flink"].render_template(tasks["flink"].pipeline_options, context, jinja)
    assert options["output"] == "gs://b/out/CC-MAIN-2024-33/flink" and "overwrite" not in options
    argv = [f"--{k}={v}" for k, v in options.items() if not isinstance(v, bool)]
    args, beam_args = template_parser().parse_known_args(argv)
    assert args.params == "dump=CC-MAIN-2024-33" and args.recipe == "gs://b/recipes/fineweb.yaml"
    assert {"--environment_type=EXTERNAL", "--environment_config=localhost:50000", "--parallelism=4"} <= set(beam_args)
