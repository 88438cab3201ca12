"""Work-arounds for two races in Beam 2.77's local FnApiRunner that lose data with several workers.
``fix_local_runner`` applies both; the local preset, the tests and the test job service call it."""
from __future__ import annotations


def fix_local_runner() -> None:
    """Apply every work-around below (idempotent)."""
    serialise_buffer_creation()
    disable_timed_data_flush()


def disable_timed_data_flush() -> None:
    """Make the runner's data-plane streams flush by size and on close only.

    With ``DATA_BUFFER_TIME_LIMIT_MS = 1000`` every stream the runner writes a
    stage's input into has a timer thread that flushes it each second; the
    flush (``get()`` then ``_clear()``) holds a lock that ``write()`` does not
    take, so chunks written between the two are dropped. It bites when sending
    one stage's input takes over a second: 4 of 5 runs of 200,000 documents on
    2 workers lost 3,321 to 33,676 documents (``benchmarks/soak.py``) and none
    did with this setting. One worker (in_memory) has no data plane.
    """
    from apache_beam.runners.portability.fn_api_runner import worker_handlers

    worker_handlers.DATA_BUFFER_TIME_LIMIT_MS = 0


def serialise_buffer_creation() -> None:
    """Lock ``BundleContextManager.get_buffer``.

    It creates a PCollection's buffer with an unlocked check-then-set; with
    ``multi_processing`` the bundles of a stage run in parallel threads, and
    when both create the buffer at once one of them writes its first output
    chunks into a buffer that is then replaced. (Runs of 1,000,000 documents on
    2 workers lost 17,000 to 29,000 documents before this lock and the data-plane
    setting above; which of the two races caused which loss was not separated.)
    """
    import threading

    from apache_beam.runners.portability.fn_api_runner import execution

    original = execution.BundleContextManager.get_buffer
    if getattr(original, "_serialised", False):
        return
    lock = threading.Lock()

    def get_buffer(self, buffer_id, transform_id):
        with lock:
            return original(self, buffer_id, transform_id)

    get_buffer._serialised = True
    execution.BundleContextManager.get_buffer = get_buffer
