"""Runner presets: the right runner and options, never the DirectRunner (Prism download)."""
from __future__ import annotations

import threading

import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from thresher.pipelines.run.runners import SETUP_FILE, RunnerConfig, make_runner_and_options


def options_of(**kwargs):
    runner, options = make_runner_and_options(RunnerConfig(**kwargs))
    return runner, options.get_all_options(drop_default=True)


def test_local_uses_the_fn_api_runner_one_process_per_worker():
    runner, opts = options_of(runner="local", workers=2)
    assert isinstance(runner, FnApiRunner)
    assert opts["direct_num_workers"] == 2 and opts["direct_running_mode"] == "multi_processing"
    runner, opts = options_of(runner="local", workers=1)
    assert isinstance(runner, FnApiRunner) and opts.get("direct_running_mode", "in_memory") == "in_memory"


def test_portable_and_flink_flags():
    runner, opts = options_of(runner="portable", job_endpoint="127.0.0.1:8099")
    assert runner == "PortableRunner" and opts["environment_type"] == "LOOPBACK"
    runner, opts = options_of(runner="flink", flink_master="jm:8081", flink_version="1.20", workers=4,
                              environment_type="EXTERNAL", environment_config="localhost:50000")
    assert runner == "FlinkRunner"
    assert (opts["flink_master"], opts["flink_version"], opts["parallelism"]) == ("jm:8081", "1.20", 4)
    assert opts["environment_config"] == "localhost:50000"
    with pytest.raises(ValueError, match="--job-endpoint"):
        make_runner_and_options(RunnerConfig(runner="portable"))


def test_dataflow_needs_project_region_temp_location_and_ships_setup_py():
    with pytest.raises(ValueError, match="--region"):
        make_runner_and_options(RunnerConfig(runner="dataflow", project="p", temp_location="gs://b/t"))
    runner, opts = options_of(runner="dataflow", project="p", region="europe-west4", temp_location="gs://b/t",
                              workers=8, extra_args=("--machine_type=n2-standard-4",))
    assert runner == "DataflowRunner" and opts["setup_file"] == SETUP_FILE
    assert opts["max_num_workers"] == 8 and opts["machine_type"] == "n2-standard-4"
    _, opts = options_of(runner="dataflow", project="p", region="r", temp_location="gs://b/t",
                         extra_args=("--sdk_container_image=img",))
    assert "setup_file" not in opts


def test_unknown_runner():
    with pytest.raises(ValueError, match="valid: local, portable, flink, dataflow"):
        make_runner_and_options(RunnerConfig(runner="spark"))


def test_local_preset_serialises_fn_api_buffer_creation(monkeypatch):
    """Beam 2.77's FnApiRunner creates shuffle buffers with an unlocked check-then-set; with two
    workers a 1M-document run lost data (benchmarks/minhash_scale.py). The preset locks it."""
    import threading

    from apache_beam.runners.portability.fn_api_runner import execution

    make_runner_and_options(RunnerConfig(runner="local", workers=2))
    patched = execution.BundleContextManager.get_buffer
    assert getattr(patched, "_serialised", False)
    make_runner_and_options(RunnerConfig(runner="local", workers=2))  # idempotent: not wrapped twice
    assert execution.BundleContextManager.get_buffer is patched

    class Context:  # the state get_buffer reads and writes, with a slow check-then-set
        def __init__(self):
            self.pcoll_buffers = {}

    class Slow(dict):
        def __contains__(self, key):
            found = dict.__contains__(self, key)
            threading.Event().wait(0.05)  # the other threads check before this one sets
            return found

    created = []

    class CountingBuffer:
        def __init__(self, coder_impl):
            created.append(self)

    monkeypatch.setattr(execution, "ListBuffer", CountingBuffer)
    manager = execution.BundleContextManager.__new__(execution.BundleContextManager)
    manager.execution_context = Context()
    manager.execution_context.pcoll_buffers = Slow()
    manager.get_input_coder_impl = lambda transform_id: None
    threads = [threading.Thread(target=manager.get_buffer, args=(b"materialize:pc", "t")) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(created) == 1  # unlocked, all 8 threads pass the check and each creates (and replaces) it


def test_local_preset_turns_off_the_racy_timed_data_flush():
    """Beam 2.77's runner flushes data-plane streams from a timer thread without the writer's lock: bytes
    written between the flush's get() and _clear() are lost (200,000-document soak runs lost thousands of
    documents). Reproduced here on the stream itself; the preset makes the runner use size-based flushing."""
    from apache_beam.runners.portability.fn_api_runner import worker_handlers
    from apache_beam.runners.worker.data_plane import ClosableOutputStream, TimeBasedBufferingClosableOutputStream

    # The race made deterministic: the flush (the timer thread's call) is held between its get() and
    # _clear() until the writer has written, as a slow flush callback lets happen in a real run.
    chunk = b"x" * (1 << 20)
    flushing, written, got = threading.Event(), threading.Event(), []

    def slow_flush(data):
        got.append(data)
        flushing.set()
        written.wait(10)

    stream = TimeBasedBufferingClosableOutputStream(got.append, flush_callback=slow_flush,
                                                    time_flush_threshold_ms=3_600_000)
    stream.write(chunk)
    flusher = threading.Thread(target=stream.flush)
    flusher.start()
    assert flushing.wait(10)
    stream.write(chunk)  # write() takes no lock: it lands between the flush's get() and _clear()
    written.set()
    flusher.join()
    stream.close()
    assert sum(map(len, got)) == len(chunk)  # the race, as shipped: the second chunk is lost

    make_runner_and_options(RunnerConfig(runner="local", workers=2))
    assert worker_handlers.DATA_BUFFER_TIME_LIMIT_MS == 0
    got = []
    stream = ClosableOutputStream.create(got.append, got.append, worker_handlers.DATA_BUFFER_TIME_LIMIT_MS)
    for _ in range(100):
        stream.write(chunk)
    stream.close()
    assert sum(map(len, got)) == 100 * len(chunk)  # what the runner now uses: nothing lost
