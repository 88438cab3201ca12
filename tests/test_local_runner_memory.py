"""The local runner's memory settings: malloc thresholds for the runner and its workers, grouped outputs
cut at element boundaries (``pipelines/run/local_runner_memory.py``)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import apache_beam as beam
from apache_beam import coders
from apache_beam.coders.coder_impl import create_InputStream
from apache_beam.coders.coders import GlobalWindowCoder
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner, execution
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import core
from apache_beam.transforms.window import GlobalWindows

from thresher.pipelines.run import local_runner_memory
from thresher.pipelines.run.runners import RunnerConfig, make_runner_and_options


def test_the_local_preset_sets_malloc_thresholds_for_itself_and_its_workers(monkeypatch):
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "4194304")  # the user's own value is kept
    make_runner_and_options(RunnerConfig(runner="local", workers=2))
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == str(1 << 20) and os.environ["MALLOC_MMAP_THRESHOLD_"] == "4194304"
    assert local_runner_memory.return_freed_memory()  # glibc took them (this machine is Linux with glibc)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "lots")
    assert not local_runner_memory.return_freed_memory()  # unreadable: left to glibc, which ignores it too


def _grouping_buffer():
    kv = coders.TupleCoder([coders.StrUtf8Coder(), coders.BytesCoder()])
    pre = coders.WindowedValueCoder(kv, GlobalWindowCoder())
    post = coders.WindowedValueCoder(coders.TupleCoder([coders.StrUtf8Coder(), coders.IterableCoder(coders.BytesCoder())]),
                                     GlobalWindowCoder())
    buffer = execution.GroupingBuffer(pre, post, core.Windowing(GlobalWindows()))
    return buffer, pre, post


def test_grouped_output_is_cut_into_chunks_of_whole_groups(monkeypatch):
    monkeypatch.setattr(local_runner_memory, "CHUNK_BYTES", 1000)
    local_runner_memory.chunk_grouped_output()
    buffer, pre, post = _grouping_buffer()
    expected = {}
    out = pre.get_impl()
    for i in range(500):
        key, value = f"key-{i % 97}", bytes([i % 251]) * (i % 40)
        expected.setdefault(key, []).append(value)
        stream = beam.coders.coder_impl.create_OutputStream()
        out.encode_to_stream(GlobalWindows.windowed_value((key, value)), stream, True)
        buffer.append(stream.get())
    parts = buffer.partition(2)
    assert len(parts) == 2 and all(len(chunks) > 3 for chunks in parts)  # several chunks per worker
    got = {}
    for chunks in parts:
        for chunk in chunks:
            assert len(chunk) < 1000 + 2000  # at most one group past the limit
            stream = create_InputStream(chunk)
            while stream.size() > 0:  # every chunk decodes on its own: whole groups only
                key, values = post.get_impl().decode_from_stream(stream, True).value
                assert key not in got
                got[key] = list(values)
    assert got == expected
    assert buffer.partition(2) is parts  # partitioned once, as Beam's


def test_a_pipeline_with_chunked_groups_gives_every_group_once(monkeypatch):
    monkeypatch.setattr(local_runner_memory, "CHUNK_BYTES", 200)
    local_runner_memory.chunk_grouped_output()
    options = PipelineOptions(["--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    with TestPipeline(runner=FnApiRunner(), options=options) as p:
        out = (p | beam.Create([(i % 50, "v" * (i % 7)) for i in range(2000)])
               | beam.GroupByKey() | beam.MapTuple(lambda k, vs: (k, len(list(vs)))))
        assert_that(out, equal_to([(k, 40) for k in range(50)]))


#: A pipeline whose grouped stage input (80 MB, 40 MB a worker) is many times what the runner's send queues
#: (shrunk to 256 KB) and a worker's queue of a bundle it has not started (5 messages) hold: the runner
#: must stream it while the worker runs, in messages of about 64 KB. Run in its own process, so that a
#: deadlock is a timeout and not a hung test session; prints the sizes of the runner's data messages.
#: With the argument ``fail`` the runner's writes fail.
STREAMED_STAGE = """
import json
import sys
import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.runners.worker import data_plane
from apache_beam.testing.util import assert_that, equal_to
from thresher.pipelines.run import local_runner_memory
from thresher.pipelines.run.local_runner_fix import fix_local_runner

data_plane._DEFAULT_SEND_QUEUE_MAX_BYTES = 256 << 10
local_runner_memory.CHUNK_BYTES = local_runner_memory.MESSAGE_BYTES = 64 << 10
fix_local_runner()
local_runner_memory.limit_local_runner_memory()
sizes = []
enqueue = data_plane._GrpcDataChannel._enqueue_to_send

def spy(self, element):
    if isinstance(element, data_plane.beam_fn_api_pb2.Elements.Data) and element.data:
        sizes.append(len(element.data))
    enqueue(self, element)

data_plane._GrpcDataChannel._enqueue_to_send = spy
if sys.argv[1:] == ["fail"]:  # the runner cannot write the grouped input: the run fails with its error
    write = data_plane.SizeBasedBufferingClosableOutputStream.write

    def failing_write(self, b, nested=False):  # the grouped stage's chunks only: by then both workers are up
        if len(b) > 20_000:  # (Beam 2.77 hangs closing a worker that never connected)
            raise ValueError("no room to write the input")
        write(self, b, nested)
    data_plane.SizeBasedBufferingClosableOutputStream.write = failing_write
options = PipelineOptions(["--direct_num_workers=2", "--direct_running_mode=multi_processing"])
with beam.Pipeline(runner=FnApiRunner(), options=options) as p:
    out = (p | beam.Create(range(4000)) | beam.Map(lambda i: (i % 1000, bytes([i % 256]) * 20_000))
           | beam.GroupByKey() | beam.MapTuple(lambda k, vs: (k, sum(len(v) for v in vs))))
    assert_that(out, equal_to([(k, 80_000) for k in range(1000)]))
print(json.dumps(sizes))
"""


def _run_streamed_stage(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", STREAMED_STAGE, *args], capture_output=True, text=True,
                          timeout=180)


def test_a_stage_input_is_streamed_to_the_workers_in_small_messages_without_deadlock():
    done = _run_streamed_stage()
    assert done.returncode == 0, done.stderr[-3000:]
    sizes = json.loads(done.stdout.strip().splitlines()[-1])
    big = [size for size in sizes if size > 20_000]  # the grouped stage's messages (others: Create's)
    assert sum(big) > 80_000_000 and max(big) < 64 * 1024 + 80_100  # a message: 64 KB and a group (80 KB) more


def test_a_failed_input_write_fails_the_run_with_its_error():
    done = _run_streamed_stage("fail")
    assert done.returncode != 0 and "ValueError: no room to write the input" in done.stderr
