"""The end of a run: ``FinalizeRun`` writes ``stats.json`` with the run's status, the data card and
the dataset card, then the ``_SUCCESS`` marker (it imports both the accounting, ``stats``, and the
card writer, ``datacard``, neither of which imports it)."""
from __future__ import annotations

import json
import logging
from typing import Any, Dict

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from thresher.pipelines.report.datacard import write_report
from thresher.pipelines.report.stats import (RUNNING_MARKER, STATS_FILE, SUCCESS_MARKER, build_stats, run_status,
                                             write_text)
from thresher.transforms.io.sinks import remove_dir
from thresher.transforms.redact import redact_json


def _interrupted(running_marker: str) -> bool:
    """Whether the run's ``_RUNNING`` marker says the command that submitted it was interrupted."""
    try:
        with FileSystems.open(running_marker) as f:
            return bool(json.loads(f.read().decode("utf-8")).get("interrupted"))
    except Exception:  # no marker (gone, never written): not interrupted
        return False


class FinalizeRun(beam.DoFn):
    """Runs once, after every write: writes stats.json with the run's status, the data card, then
    the _SUCCESS marker when the run succeeded (``run_status``)."""

    def __init__(self, output_dir: str, summary: Dict[str, Any]):
        self._dir, self._summary = output_dir, summary

    def process(self, _, counts, files, facts=()):
        # the sinks removed their own parts; drop what is left
        remove_dir(FileSystems.join(self._dir, "_temporary"))
        stats = build_stats(counts, self._summary, files, facts)
        stats["status"], stats["status_reason"] = run_status(stats, self._summary)
        running = FileSystems.join(self._dir, RUNNING_MARKER)
        if _interrupted(running):  # Ctrl-C in the CLI while a job service ran the job on
            stats["status"], stats["status_reason"] = "failed", (
                "interrupted (Ctrl-C): the job service ran the job to its end after the command stopped")
        stats = redact_json(stats)  # no credentials in reports
        write_text(FileSystems.join(self._dir, STATS_FILE), json.dumps(stats, indent=2) + "\n")
        try:
            write_report(self._dir, stats)
        except Exception:  # the data card can be rebuilt with `thresher report DIR`; never lose the run
            logging.getLogger("thresher").exception("could not write the data card")
        if stats["status"] == "succeeded":
            write_text(FileSystems.join(self._dir, SUCCESS_MARKER), "")
        if FileSystems.exists(running):  # the run is over (a Dataflow job has no process here to remove it)
            FileSystems.delete([running])
        yield stats["balanced"]
