"""Thresher, monthly: curate the newest Common Crawl dump on Dataflow (flex template) and on Flink.

Tasks:
  crawl_dump  -- the dump to process: the ``dump`` DAG parameter when given (trigger with
                 ``{"dump": "CC-MAIN-2024-33"}``), else the newest crawl listed at
                 https://index.commoncrawl.org/collinfo.json.
  dataflow    -- launches the flex template (``deploy/dataflow``) and waits for the job.
  flink       -- runs the same recipe on the Flink session cluster (``deploy/flink``) with
                 Airflow's Beam operator, which calls ``pipelines/commands/launcher.py``.

Every path carries the dump, and the launcher never overwrites a directory that already
holds a run: a month with no new dump fails fast instead of replacing data.

Airflow Variables (Admin -> Variables):
  thresher_project, thresher_region    -- where Dataflow jobs run
  thresher_template                    -- gs:// flex template spec written by deploy/dataflow/build.sh
  thresher_image                       -- the template's image (workers run it too)
  thresher_recipe                      -- gs:// recipe whose input paths use {dump}
  thresher_output_root                 -- gs:// folder; runs go to ROOT/DUMP/dataflow and ROOT/DUMP/flink
  thresher_temp_location               -- gs:// folder for Dataflow's temporary and staged files
  thresher_flink_master                -- Flink REST address, e.g. thresher-flink-rest.thresher.svc:8081
  thresher_launcher_py                 -- pipelines/commands/launcher.py of the installed thresher version
                                          (the Airflow workers need thresher installed to run it)

Needs apache-airflow-providers-google and apache-airflow-providers-apache-beam.
"""
from __future__ import annotations

import datetime as dt
import json
import urllib.request

try:  # Airflow 3
    from airflow.sdk import DAG, Param, task
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.decorators import task
    from airflow.models.param import Param

from airflow.providers.apache.beam.operators.beam import BeamRunPythonPipelineOperator
from airflow.providers.google.cloud.operators.dataflow import DataflowStartFlexTemplateOperator

COLLINFO_URL = "https://index.commoncrawl.org/collinfo.json"
DUMP = "{{ ti.xcom_pull(task_ids='crawl_dump') }}"
OUTPUT = "{{ var.value.thresher_output_root }}/" + DUMP
RECIPE = "{{ var.value.thresher_recipe }}"
#: worker options for Dataflow (the launcher's defaults, written out so the cost is visible here)
DATAFLOW_WORKERS = {"machine_type": "n2-standard-4", "max_num_workers": "10"}
#: the Flink session cluster of deploy/flink: 2 task managers x 2 slots
FLINK_PARALLELISM = 4


def newest_dump(collinfo: list) -> str:
    """The id of the newest main crawl in Common Crawl's collinfo.json (newest first)."""
    for crawl in collinfo:
        if str(crawl.get("id", "")).startswith("CC-MAIN-"):
            return crawl["id"]
    raise ValueError("no CC-MAIN crawl listed")


with DAG(
    dag_id="thresher_monthly",
    description="Curate the newest Common Crawl dump with Thresher on Dataflow and on Flink",
    schedule="@monthly",
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    params={"dump": Param("", type="string", pattern=r"^(CC-MAIN-\d{4}-\d{2})?$",
                          description="Crawl to process, e.g. CC-MAIN-2024-33; empty = newest")},
    tags=["thresher"],
) as dag:

    @task
    def crawl_dump(params=None) -> str:
        if params and params.get("dump"):
            return params["dump"]
        with urllib.request.urlopen(COLLINFO_URL, timeout=60) as response:
            return newest_dump(json.load(response))

    dump = crawl_dump()

    dataflow = DataflowStartFlexTemplateOperator(
        task_id="dataflow",
        project_id="{{ var.value.thresher_project }}",
        location="{{ var.value.thresher_region }}",
        wait_until_finished=True,
        body={"launchParameter": {
            "jobName": "thresher-" + "{{ ti.xcom_pull(task_ids='crawl_dump') | lower }}",
            "containerSpecGcsPath": "{{ var.value.thresher_template }}",
            "parameters": {
                "recipe": RECIPE,
                "params": "dump=" + DUMP,
                "output": OUTPUT + "/dataflow",
                "sdk_container_image": "{{ var.value.thresher_image }}",
                **DATAFLOW_WORKERS,
            },
            "environment": {
                "tempLocation": "{{ var.value.thresher_temp_location }}/temp",
                "stagingLocation": "{{ var.value.thresher_temp_location }}/staging",
                "additionalUserLabels": {"app": "thresher"},
            },
        }},
    )

    flink = BeamRunPythonPipelineOperator(
        task_id="flink",
        runner="FlinkRunner",
        py_file="{{ var.value.thresher_launcher_py }}",
        pipeline_options={
            "recipe": RECIPE,
            "params": "dump=" + DUMP,
            "output": OUTPUT + "/flink",
            "flink_master": "{{ var.value.thresher_flink_master }}",
            "flink_submit_uber_jar": True,  # no Java on the Airflow worker: Beam uploads one jar to Flink
            "environment_type": "EXTERNAL",
            "environment_config": "localhost:50000",  # the worker pool beside each task manager
            "parallelism": FLINK_PARALLELISM,
        },
    )

    dump >> [dataflow, flink]
