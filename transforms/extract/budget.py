"""The time budget of one extraction: run a function, raise ``_BudgetExceeded`` when it runs too long.

The budget runs in the worker's own process instead of a sandboxed subprocess (as
datatrove does): ``setitimer(ITIMER_REAL)`` + SIGALRM when the caller is the main
thread (FnApiRunner in-memory mode), a shared watchdog thread that raises an
asynchronous exception in the calling thread otherwise (the FnApiRunner's
``multi_threading`` and ``multi_processing`` modes and Dataflow run DoFns on worker
threads). Both interrupt Python code only: a single long C call (lxml parsing)
finishes first, which ``extract``'s ``max_html_bytes`` cap keeps short; resiliparse
runs wholly in C++, so for it the size cap is the only guard.
``benchmarks/extract_speed.py`` measures the cost per document on the main thread and
on a worker thread.
"""
import ctypes
import os
import signal
import threading
import time
from typing import Callable, Optional


class _BudgetExceeded(BaseException):
    """Raised inside the extracting thread when its time budget runs out. A
    BaseException, so that library code catching Exception cannot swallow it."""


def call_with_budget(timeout_s: float, fn: Callable, *args):
    """``fn(*args)``, or raise ``_BudgetExceeded`` once ``timeout_s`` seconds have passed.

    Main thread with no interval timer already running: SIGALRM via
    ``setitimer``. Any other thread: the shared watchdog thread. Without either
    (not CPython and not the main thread), no budget.
    """
    if not timeout_s or timeout_s <= 0:
        return fn(*args)
    if (_HAS_ITIMER and threading.current_thread() is threading.main_thread()
            and signal.getitimer(signal.ITIMER_REAL)[0] == 0):
        return _call_with_alarm(timeout_s, fn, args)
    if _set_async_exc is not None:
        return _WATCHDOG.call(timeout_s, fn, args)
    return fn(*args)


_HAS_ITIMER = hasattr(signal, "setitimer")


def _call_with_alarm(timeout_s: float, fn: Callable, args: tuple):
    armed = True

    def on_alarm(signum, frame):
        # the handler runs on this same thread: once disarmed it can never raise
        if armed:
            raise _BudgetExceeded

    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, timeout_s)  # one shot
        try:
            return fn(*args)
        finally:
            armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, previous)


def _make_set_async_exc():
    try:
        api = ctypes.pythonapi.PyThreadState_SetAsyncExc
    except AttributeError:  # not CPython
        return None
    api.argtypes = (ctypes.c_ulong, ctypes.py_object)
    api.restype = ctypes.c_int

    def set_async_exc(ident: int, exc) -> int:
        # exc None: clear the thread's pending asynchronous exception (a NULL pointer)
        return api(ident, ctypes.py_object() if exc is None else ctypes.py_object(exc))
    return set_async_exc


_set_async_exc = _make_set_async_exc()


class _Deadline:
    __slots__ = ("at", "fired")

    def __init__(self, at: float):
        self.at = at
        self.fired = False


class _Watchdog:
    """One daemon thread per process that raises ``_BudgetExceeded`` in threads
    whose deadline passed. Arming costs a lock and a dict write; the thread
    wakes about once per budget while documents flow, not once per document."""

    def __init__(self):
        # Threads that may receive the exception take the raw lock with a `with`
        # statement only: its C-level __enter__/__exit__ leave no bytecode
        # boundary between acquiring and the protected block, so an exception
        # arriving there cannot leave the lock held (Condition.__enter__ is Python
        # code and could). The watchdog alone waits on the condition.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._armed = {}  # thread ident -> _Deadline
        self._wake_at: Optional[float] = None  # None: sleeping until notified
        self._thread: Optional[threading.Thread] = None
        self._pid = None

    def call(self, timeout_s: float, fn: Callable, args: tuple):
        ident = threading.get_ident()
        deadline = _Deadline(time.monotonic() + timeout_s)
        with self._lock:
            if self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
                self._start()
            self._armed[ident] = deadline
            if self._wake_at is None or deadline.at < self._wake_at:
                self._cond.notify()
        try:
            return fn(*args)
        finally:
            with self._lock:
                self._armed.pop(ident, None)
                fired = deadline.fired
            if fired:
                # the exception may still be pending (fn returned first, or code
                # inside fn swallowed it): clear it and raise it here, inside the
                # caller's try, so it can never surface later
                _set_async_exc(ident, None)
                raise _BudgetExceeded

    def _start(self):
        self._pid = os.getpid()
        self._armed = {}
        self._wake_at = None
        self._thread = threading.Thread(target=self._run, name="thresher-extract-watchdog", daemon=True)
        self._thread.start()

    def _run(self):
        with self._cond:
            while True:
                now = time.monotonic()
                wake_at = None
                for ident, deadline in list(self._armed.items()):
                    if deadline.fired:
                        continue
                    if deadline.at <= now:
                        deadline.fired = True
                        _set_async_exc(ident, _BudgetExceeded)
                    elif wake_at is None or deadline.at < wake_at:
                        wake_at = deadline.at
                self._wake_at = wake_at
                self._cond.wait(None if wake_at is None else wake_at - now)


_WATCHDOG = _Watchdog()
