"""How the local runner (Beam 2.77's FnApiRunner) and its workers keep their memory down.
``limit_local_runner_memory`` applies both; the local preset and the tests call it.

* ``return_freed_memory``: glibc's malloc thresholds. The runner and its workers keep allocating and
  freeing buffers of a few MB (gRPC messages, encoded bundles, grouped values). glibc raises its mmap
  threshold each time a block that size is freed, up to 32 MiB; after that such buffers come from the
  heap, where memory freed between live objects stays with the process. ``MALLOC_MMAP_THRESHOLD_`` and
  ``MALLOC_TRIM_THRESHOLD_`` at 1 MiB fix both thresholds: blocks of 1 MiB or more are mapped and
  unmapped on their own, and the heap is trimmed once 1 MiB at its top is free. Workers read the
  variables when they start (they inherit the environment), this process gets them through ``mallopt``;
  a value the user set is kept; without glibc (macOS, musl) nothing changes. ``MALLOC_ARENA_MAX``
  made no further difference.
* ``stream_stage_inputs``: Beam's runner writes a worker its share of a stage's input into one
  output stream that it flushes only when closed, and only then asks the worker to process the bundle:
  the whole share became one gRPC message, copied four or five times on the way (stream, bytes,
  message, serialised) and refused by gRPC beyond 2 GB. Flushing chunk by chunk alone deadlocks (a
  3M-document run hung): the worker queues at most 5 messages of a bundle it has not started, the
  runner's send queue then fills, and the runner never gets to ask. Here a thread per worker and
  input writes it in messages of ``MESSAGE_BYTES`` or a chunk more (whole elements) while the runner
  asks the worker to start and reads its outputs; a writer's error is raised when the bundle ends.
  Workers in this process (``in_memory``, one worker) read their input as a list: unchanged.
* ``chunk_grouped_output``: a grouped PCollection (the output of a GroupByKey) is encoded for the
  workers as one bytes object per worker while the whole table is still held; here each group leaves
  the table as it is encoded, into chunks of ``CHUNK_BYTES`` at element boundaries.

``benchmarks/dedup_scale.py`` measures the peak memory of all processes of a run.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import threading

#: environment variable -> mallopt parameter (glibc's malloc.h: M_TRIM_THRESHOLD -1, M_MMAP_THRESHOLD -3)
MALLOC_SETTINGS = {"MALLOC_TRIM_THRESHOLD_": -1, "MALLOC_MMAP_THRESHOLD_": -3}
MALLOC_BYTES = 1 << 20
CHUNK_BYTES = 8 << 20  # a grouped PCollection's chunks sent to a worker
MESSAGE_BYTES = 10 << 20  # a stage input's messages to a worker: whole chunks from this size on


def limit_local_runner_memory() -> None:
    """Apply everything below (idempotent)."""
    return_freed_memory()
    stream_stage_inputs()
    chunk_grouped_output()


def return_freed_memory() -> bool:
    """Set the malloc thresholds here and, through the environment, in the workers this process starts.
    True when glibc took them."""
    values = {}
    for name in MALLOC_SETTINGS:
        os.environ.setdefault(name, str(MALLOC_BYTES))
        try:
            values[name] = int(os.environ[name])
        except ValueError:  # the user's own setting, unreadable: glibc ignores it too
            return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    return all(mallopt(MALLOC_SETTINGS[name], value) == 1 for name, value in values.items())


def stream_stage_inputs() -> None:
    """Make ``BundleManager.process_bundle`` stream a gRPC worker its input from a thread, in messages of ~10 MB."""
    from apache_beam.runners.portability.fn_api_runner import fn_runner, worker_handlers

    manager = fn_runner.BundleManager
    if getattr(manager.process_bundle, "_streamed", False):
        return
    original_process, original_send = manager.process_bundle, manager._send_input_to_worker

    def _send_input_to_worker(self, process_bundle_id, read_transform_id, byte_streams):
        writers = getattr(self, "_input_writers", None)
        if writers is None:  # not a bundle started here: as Beam does
            return original_send(self, process_bundle_id, read_transform_id, byte_streams)
        data_out = self._worker_handler.data_conn.output_stream(process_bundle_id, read_transform_id)

        def write():
            try:
                for byte_stream in byte_streams or []:
                    data_out.write(byte_stream)
                    if data_out.size() >= MESSAGE_BYTES:  # a chunk holds whole elements: a message may end here
                        data_out.flush()
                data_out.close()
            except BaseException as error:  # raised by process_bundle once the bundle has ended
                writers.errors.append(error)
                with contextlib.suppress(Exception):  # the input's end, so that the worker ends the bundle
                    data_out._clear()
                    data_out.close()

        writer = threading.Thread(target=write, name=f"input-{process_bundle_id}-{read_transform_id}", daemon=True)
        writers.append(writer)
        writer.start()

    def process_bundle(self, *args, **kwargs):
        handlers = self.bundle_context_manager.worker_handlers
        if (not all(isinstance(h, worker_handlers.GrpcWorkerHandler) for h in handlers)
                or self._select_split_manager()):
            return original_process(self, *args, **kwargs)
        self._input_writers = writers = _Writers()
        try:
            result = original_process(self, *args, **kwargs)
        except BaseException:
            writers.join(timeout=5)  # the worker discards the input of a failed bundle
            raise
        finally:
            self._input_writers = None
        writers.join()
        if writers.errors:
            raise writers.errors[0]
        return result

    process_bundle._streamed = True
    manager.process_bundle, manager._send_input_to_worker = process_bundle, _send_input_to_worker


class _Writers(list):
    """The threads writing one bundle's inputs, and their errors."""

    def __init__(self):
        super().__init__()
        self.errors = []

    def join(self, timeout=None):
        for writer in self:
            writer.join(timeout)


def chunk_grouped_output() -> None:
    """Make ``GroupingBuffer.partition`` (default windowing) give each worker chunks of ``CHUNK_BYTES``."""
    from apache_beam.coders.coder_impl import create_OutputStream
    from apache_beam.runners.portability.fn_api_runner import execution
    from apache_beam.transforms.window import GlobalWindow, GlobalWindows
    from apache_beam.utils.windowed_value import PaneInfo, PaneInfoTiming

    original = execution.GroupingBuffer.partition
    if getattr(original, "_chunked", False):
        return

    def partition(self, n):
        if self._grouped_output or not self._windowing.is_default():
            return original(self, n)
        pane = PaneInfo(is_first=True, is_last=True, timing=PaneInfoTiming.ON_TIME, index=0, nonspeculative_index=0)
        in_window = GlobalWindows.windowed_value(None, timestamp=GlobalWindow().max_timestamp(), pane_info=pane)
        coder_impl = self._post_grouped_coder.get_impl()
        key_coder_impl = self._key_coder.get_impl()
        chunks = [[] for _ in range(n)]
        streams = [create_OutputStream() for _ in range(n)]
        table, self._table = self._table, type(self._table)(list)
        for idx in range(len(table)):
            encoded_key, values = table.popitem()  # the group leaves the table as it is encoded
            stream = streams[idx % n]
            coder_impl.encode_to_stream(in_window.with_value((key_coder_impl.decode(encoded_key), values)),
                                        stream, True)
            if stream.size() >= CHUNK_BYTES:
                chunks[idx % n].append(stream.get())
                streams[idx % n] = create_OutputStream()
        for ix, stream in enumerate(streams):
            if stream.size() or not chunks[ix]:
                chunks[ix].append(stream.get())
        self._grouped_output = chunks
        return chunks

    partition._chunked = True
    execution.GroupingBuffer.partition = partition
