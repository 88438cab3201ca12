"""GPU deployment files checked without the cloud: the GPU image against the CPU image and setup.py's
[torch] extra, run.sh's accelerator options (a stand-in gcloud records its arguments), and the
launcher's Dataflow job for a classifier recipe with those options (DataflowRunner dry run)."""
from __future__ import annotations

import os
import re
import stat
import subprocess

import pytest

from tests.conftest import PROJECT_ROOT

DATAFLOW = PROJECT_ROOT / "deploy" / "dataflow"
GPU_DOCKERFILE = (DATAFLOW / "Dockerfile.gpu").read_text()
IMAGE = "europe-west4-docker.pkg.dev/my-project/thresher/thresher-gpu:0.1.0-abc1234"
ACCELERATOR = "worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver"
DATAFLOW_ARGS = ["--project=test-project", "--region=europe-west4", "--temp_location=gs://test-bucket/temp",
                 "--staging_location=gs://test-bucket/staging", "--job_name=thresher-gpu-test"]


def _pins(path) -> dict:
    from packaging.utils import canonicalize_name
    return {canonicalize_name(k): v for k, v in (line.split("==") for line in path.read_text().splitlines()
                                                 if "==" in line and not line.startswith("#"))}


def _extra(name: str) -> list:
    import ast
    tree = ast.parse((PROJECT_ROOT / "setup.py").read_text())
    (extras,) = [k.value for k in ast.walk(tree) if isinstance(k, ast.keyword) and k.arg == "extras_require"]
    return ast.literal_eval(extras)[name]


def test_gpu_image_is_the_cpu_image_plus_torch():
    import apache_beam
    cpu = (DATAFLOW / "Dockerfile").read_text()
    beam = f"COPY --from=apache/beam_python3.11_sdk:{apache_beam.__version__} /opt/apache/beam /opt/apache/beam"
    for line in (beam, "FROM python:3.11-slim", 'ENTRYPOINT ["/opt/apache/beam/boot"]', "RUN thresher assets",
                 "ENV FLEX_TEMPLATE_PYTHON_PY_FILE=${WORKDIR}/pipelines/commands/launcher.py",
                 "RUN pip install --no-cache-dir --no-deps -e . && pip check"):
        assert re.search(rf"^{re.escape(line)}$", cpu, re.M), line
        assert re.search(rf"^{re.escape(line)}$", GPU_DOCKERFILE, re.M), line
    assert "-r requirements.txt -r requirements-gpu.txt" in GPU_DOCKERFILE
    assert "COPY deploy/dataflow/requirements-gpu.txt requirements-gpu.txt" in GPU_DOCKERFILE
    assert "/usr/local/nvidia/lib64" in GPU_DOCKERFILE  # where Dataflow mounts the driver it installs
    assert "--overwrite" not in GPU_DOCKERFILE


def test_gpu_pins_fit_the_torch_extra_and_the_cpu_pins():
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    cpu, gpu = _pins(PROJECT_ROOT / "deploy" / "requirements.txt"), _pins(DATAFLOW / "requirements-gpu.txt")
    assert not set(cpu) & set(gpu), "requirements-gpu.txt repeats a pin of deploy/requirements.txt"
    torch_version = re.search(r"^ARG TORCH_VERSION=(\S+)$", GPU_DOCKERFILE, re.M).group(1)
    assert re.search(r"^ARG TORCH_INDEX=https://download\.pytorch\.org/whl/cu\d+$", GPU_DOCKERFILE, re.M)
    for line in _extra("torch"):
        req = Requirement(line)
        name = canonicalize_name(req.name)
        version = torch_version if name == "torch" else gpu.get(name)
        assert version, f"{req.name} (setup.py [torch]) is not in the GPU image"
        assert req.specifier.contains(version, prereleases=True), (line, version)


# ---------------------------------------------------------------- run.sh

@pytest.fixture
def fake_gcloud(tmp_path):
    """A gcloud on PATH that writes its arguments, one a line, to tmp_path/args."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "gcloud"
    script.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$@" > {tmp_path / "args"}\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)

    def run(**env):
        full = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PROJECT": "p", "REGION": "europe-west4",
                "BUCKET": "b", "IMAGE": IMAGE, "TEMPLATE": "gs://b/templates/t.json", **env}
        for name in ("ACCELERATOR", "MACHINE_TYPE"):
            if name not in env:
                full.pop(name, None)
        done = subprocess.run(["bash", str(DATAFLOW / "run.sh"), "gs://b/recipes/fineweb-edu.yaml",
                               "edu_model=gs://b/models/edu"], env=full, capture_output=True, text=True)
        args = (tmp_path / "args").read_text().splitlines() if done.returncode == 0 else None
        return done, args
    return run


def _after(args, flag):
    return [args[i + 1] for i, a in enumerate(args[:-1]) if a == flag]


def test_run_sh_gpu_options(fake_gcloud):
    done, args = fake_gcloud(ACCELERATOR="nvidia-l4:1")
    assert done.returncode == 0, done.stderr
    assert "machine_type=g2-standard-4" in _after(args, "--parameters")
    assert f"sdk_container_image={IMAGE}" in _after(args, "--parameters")
    assert _after(args, "--additional-experiments") == ["use_runner_v2"]
    assert _after(args, "--additional-pipeline-options") == [f"dataflow_service_options={ACCELERATOR}"]

    done, args = fake_gcloud(ACCELERATOR="nvidia-tesla-t4:2", MACHINE_TYPE="n1-standard-8")
    assert "machine_type=n1-standard-8" in _after(args, "--parameters")
    assert _after(args, "--additional-pipeline-options") == [
        "dataflow_service_options=worker_accelerator=type:nvidia-tesla-t4;count:2;install-nvidia-driver"]

    done, args = fake_gcloud()  # a CPU job: no accelerator options
    assert "machine_type=n2-standard-4" in _after(args, "--parameters")
    assert not {"--additional-experiments", "--additional-pipeline-options"} & set(args)


@pytest.mark.parametrize("env, message", [
    ({"ACCELERATOR": "nvidia-l4"}, "ACCELERATOR must be TYPE:COUNT, e.g. nvidia-l4:1 (got 'nvidia-l4')"),
    ({"ACCELERATOR": "nvidia-l4:0"}, "ACCELERATOR must be TYPE:COUNT"),
    ({"ACCELERATOR": "nvidia-tesla-t4:1"}, "set MACHINE_TYPE for nvidia-tesla-t4"),
])
def test_run_sh_gpu_mistakes_are_one_line(fake_gcloud, env, message):
    done, _ = fake_gcloud(**env)
    assert done.returncode == 2 and message in done.stderr and len(done.stderr.splitlines()) == 1


# ---------------------------------------------------------------- the launcher's GPU job

def test_launcher_gpu_job_translates_for_dataflow(tmp_path):
    """The options run.sh passes reach the Dataflow job: the workers' accelerator as a service option,
    the g2 machine type, Runner v2 and the GPU image, for a recipe with the classifier step."""
    pytest.importorskip("onnxruntime")
    import apache_beam as beam
    from apache_beam.runners.dataflow.internal import apiclient

    from tests.tiny_models import onnx_model_dir
    from thresher.pipelines.commands.launcher import prepare
    from thresher.pipelines.run.builder import build
    from thresher.pipelines.run.runners import make_runner_and_options

    model = onnx_model_dir(tmp_path / "model", ["edu"])
    corpus = tmp_path / "texts.jsonl"
    corpus.write_text('{"id": "a", "text": "the river valley school"}\n')
    recipe = tmp_path / "gpu.yaml"
    recipe.write_text(f"version: 1\nname: gpu-test\ninputs:\n  texts: {{paths: ['{corpus}'], format: jsonl}}\n"
                      f"steps:\n  - step: classifier\n    model: {model}\n    annotation: edu_score\n"
                      f"    device: auto\n    threshold: 3\n    int_score: [0, 5]\n"
                      f"output: {{path: '{tmp_path / 'out'}'}}\n")
    rec, cfg = prepare([f"--recipe={recipe}", f"--sdk_container_image={IMAGE}", "--machine_type=g2-standard-4",
                        f"--dataflow_service_options={ACCELERATOR}", "--experiments=use_runner_v2",
                        *DATAFLOW_ARGS, "--dry_run=True"])
    runner, options = make_runner_and_options(cfg)
    pipeline = beam.Pipeline(runner=runner, options=options)
    build(pipeline, rec)
    job = pipeline.run().job  # dry run: translated, not submitted
    env = apiclient.Environment(packages=[], options=job.options, environment_version="8",
                                proto_pipeline_staged_url="gs://test-bucket/staging/pipeline.pb",
                                proto_pipeline=job.proto_pipeline).proto
    assert list(env.service_options) == [ACCELERATOR]
    assert "use_runner_v2" in env.experiments
    pool = env.worker_pools[0]
    assert pool.machine_type == "g2-standard-4"
    assert [i.container_image for i in pool.sdk_harness_container_images] == [IMAGE]
    assert any("RunInference" in t.unique_name for t in job.proto_pipeline.components.transforms.values())
