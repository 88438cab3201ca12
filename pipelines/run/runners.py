"""Runner presets: the same pipeline on the local machine, a portable job
service (the path Flink uses), Flink or Dataflow.

``local`` runs Beam's FnApiRunner directly — never the DirectRunner, which in
Beam 2.77 first tries to download the Prism runner from the internet — with
one worker process per core (``direct_running_mode=multi_processing``), with the memory settings
of ``local_runner_memory``.
"""
from __future__ import annotations

import dataclasses
import os
from typing import List, Optional, Tuple

from apache_beam.options.pipeline_options import PipelineOptions

from thresher.pipelines.run.local_runner_fix import fix_local_runner
from thresher.pipelines.run.loopback import bind_grpc_to_loopback
from thresher.pipelines.run.local_runner_memory import limit_local_runner_memory

RUNNERS = ("local", "portable", "flink", "dataflow")
#: the checkout's setup.py, which Dataflow workers install from (absent in an installed wheel)
SETUP_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "setup.py")


@dataclasses.dataclass
class RunnerConfig:
    runner: str = "local"
    workers: Optional[int] = None  # local: processes (default: one per core); dataflow: max workers
    job_endpoint: Optional[str] = None  # portable
    environment_type: Optional[str] = None  # portable/flink: LOOPBACK, EXTERNAL, DOCKER, PROCESS
    environment_config: Optional[str] = None
    flink_master: Optional[str] = None
    flink_version: Optional[str] = None
    flink_job_server_jar: Optional[str] = None
    project: Optional[str] = None
    region: Optional[str] = None
    temp_location: Optional[str] = None
    extra_args: Tuple[str, ...] = ()


def _flags(**options) -> List[str]:
    """Beam flags for the options that are set: ``--name=value``."""
    return [f"--{name}={value}" for name, value in options.items() if value]


def make_runner_and_options(cfg: RunnerConfig):
    """(runner, PipelineOptions) for a preset; extra Beam arguments are passed through."""
    args: List[str] = []
    runner = None
    if cfg.runner == "local":
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner
        bind_grpc_to_loopback()  # the runner's control/data ports stay on this machine
        fix_local_runner()  # without it, several workers can lose data (see the module)
        limit_local_runner_memory()  # freed memory given back, grouped outputs in chunks (see the module)
        runner = FnApiRunner()
        workers = cfg.workers or os.cpu_count() or 1
        args += [f"--direct_num_workers={workers}",
                 f"--direct_running_mode={'multi_processing' if workers > 1 else 'in_memory'}"]
    elif cfg.runner == "portable":
        if not cfg.job_endpoint:
            raise ValueError("--runner portable needs --job-endpoint HOST:PORT")
        runner = "PortableRunner"
        args += _flags(job_endpoint=cfg.job_endpoint, environment_type=cfg.environment_type or "LOOPBACK",
                       environment_config=cfg.environment_config)
    elif cfg.runner == "flink":
        runner = "FlinkRunner"
        args += _flags(flink_master=cfg.flink_master, flink_version=cfg.flink_version,
                       flink_job_server_jar=cfg.flink_job_server_jar, environment_type=cfg.environment_type,
                       environment_config=cfg.environment_config, parallelism=cfg.workers)
    elif cfg.runner == "dataflow":
        runner = "DataflowRunner"
        for flag, value in (("project", cfg.project), ("region", cfg.region), ("temp_location", cfg.temp_location)):
            if not value:
                raise ValueError(f"--runner dataflow needs --{flag.replace('_', '-')}")
            args.append(f"--{flag}={value}")
        if cfg.workers:
            args.append(f"--max_num_workers={cfg.workers}")
        if not any(a.startswith(("--setup_file", "--sdk_container_image")) for a in cfg.extra_args):
            if not os.path.exists(SETUP_FILE):
                raise ValueError("--runner dataflow installs the workers from the checkout's setup.py, and this "
                                 "thresher was installed from a wheel: pass -- --sdk_container_image=IMAGE "
                                 "(deploy/dataflow) or --setup_file=PATH")
            args.append(f"--setup_file={SETUP_FILE}")
    else:
        raise ValueError(f"unknown runner {cfg.runner!r}; valid: {', '.join(RUNNERS)}")
    return runner, PipelineOptions(args + list(cfg.extra_args))
