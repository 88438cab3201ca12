"""Extract: turn a page's HTML into its main text, dropping boilerplate.

The defaults are FineWeb's (Penedo et al. 2024, "The FineWeb Datasets", run
through datatrove's ``Trafilatura`` extractor): trafilatura with
``favor_precision=True``, ``include_comments=False``, ``deduplicate=True``.

Two deliberate differences from datatrove:

* ``deduplicate=True`` is scoped to one page. trafilatura's default duplicate
  cache is process-wide, so a paragraph seen on earlier pages of the same
  worker disappears from later ones and a page's text depends on the order and
  number of workers. Each call here gets a fresh ``trafilatura.deduplication.
  LRUCache`` (trafilatura >= 2.0 accepts one as ``deduplicate``): a paragraph
  repeated inside the page is still removed, other pages never matter. This is
  cheaper than ``trafilatura.meta.reset_caches()``, which also empties pure
  memoisation caches and runs ``gc.collect()`` per page.
* The time budget runs in the worker's own process instead of a sandboxed
  subprocess: ``setitimer(ITIMER_REAL)`` + SIGALRM when ``process`` runs on the
  main thread (FnApiRunner in-memory mode), a shared watchdog thread that
  raises an asynchronous exception in the extracting thread otherwise (the
  FnApiRunner's ``multi_threading`` and ``multi_processing`` modes and
  Dataflow run DoFns on worker threads). Both interrupt Python code only: a
  single long C call (lxml parsing) finishes first, which the
  ``max_html_bytes`` cap keeps short; resiliparse runs wholly in C++, so for
  it the size cap is the only guard.

Measured by ``benchmarks/extract_speed.py`` on the 1,171 pages of
``bench/real-pages.warc.gz`` (one thread, trafilatura 2.3.1, resiliparse 2.0.1;
the 2-core machine was shared with other jobs, so wall-clock figures are
inflated: compare ratios, and the CPU column):

=============================  =========  =======  ======  ==========  ==================
configuration                  mean ms    median   p99     CPU mean    Scrapinghub F1
=============================  =========  =======  ======  ==========  ==================
trafilatura, FineWeb defaults  30.7       24.4     126     30.6 ms     0.959 (5 no text)
trafilatura ``fast=True``      23.5       17.3     104     18.6 ms     0.940 (23 no text)
``extractor="resiliparse"``    5.4        4.7      25      2.9 ms      0.898 (12 no text)
=============================  =========  =======  ======  ==========  ==================

F1 is the mean per-page bag-of-words F1 against ``articleBody`` on the 181
Scrapinghub pages (``tests/test_extract.py`` keeps trafilatura above 0.95).
The time budget costs 11-16 µs per document on the main thread (two
``signal.signal`` and two ``setitimer`` calls) and 3-4 µs on a worker thread
(watchdog); a page over budget is dropped 10-60 ms after its deadline.
"""
import ctypes
import os
import signal
import threading
import time
from typing import Callable, Dict, List, Optional, Union

from thresher.transforms.base import DocumentStep, ParamError
from thresher.transforms.document import Document

# Drop reasons.
NOT_HTML = "extract_not_html"
TOO_LARGE = "extract_too_large"
NO_TEXT = "extract_no_text"
TIMEOUT = "extract_timeout"

DEFAULT_CONTENT_TYPES = ("text/html", "application/xhtml+xml", "")
EXTRACTORS = ("trafilatura", "resiliparse")

# A short page whose main text is small enough for trafilatura to try its justext rescue.
_WARM_UP_PAGE = (
    "<html><head><title>Warm-up</title></head><body><header><nav><ul><li><a href='/'>Home</a></li>"
    "<li><a href='/news'>News</a></li></ul></nav></header><main><article><h1>Warm-up</h1>"
    "<p>The city library reopens on Monday after a renovation that took two years; the new reading "
    "rooms hold forty desks.</p></article></main><footer><p>Copyright. All rights reserved.</p>"
    "</footer></body></html>")


class Extract(DocumentStep):
    """Replace a page's HTML with its main text (trafilatura with FineWeb's settings by default).

    Drops pages that are not HTML, too large, empty after extraction or too slow to extract.

    Parameters:
        favor_precision: trafilatura keeps less text when unsure whether it is main content (FineWeb: True).
        favor_recall: trafilatura keeps more text when unsure (FineWeb: False).
        include_comments: also keep the page's user-comment section (FineWeb: False).
        include_tables: keep the text of HTML tables.
        deduplicate: keep at most three copies of a text segment within the page (FineWeb: True);
            other pages never count.
        fast: skip trafilatura's fallback extractors (faster, slightly less text recovered).
        max_html_bytes: drop pages whose HTML is larger than this many UTF-8 bytes, before extracting.
        timeout_s: per-page extraction time budget in seconds; slower pages are dropped (0 disables it).
        content_types: HTTP content types treated as HTML ("" = unknown); pages without the annotation count as HTML.
        extractor: "trafilatura", or "resiliparse" (needs ``pip install resiliparse``; ignores the trafilatura options).
    """

    name = "extract"
    WORKER_STATE = ("_extract_fn",)
    ANNOTATIONS = {"extractor": "string", "html_bytes": "int64"}
    ANNOTATION_DOCS = {"extractor": "the extractor that produced the text",
                       "html_bytes": "UTF-8 bytes of the page's HTML before extraction"}
    DROP_REASONS = {
        "extract_not_html": "content type not in content_types",
        "extract_too_large": "HTML larger than max_html_bytes",
        "extract_no_text": "the extractor found no main text",
        "extract_timeout": "extraction took longer than timeout_s",
    }

    def __init__(self, favor_precision: bool = True, favor_recall: bool = False,
                 include_comments: bool = False, include_tables: bool = True,
                 deduplicate: bool = True, fast: bool = False,
                 max_html_bytes: int = 5_000_000, timeout_s: float = 10.0,
                 content_types: Optional[List[str]] = None,
                 extractor: str = "trafilatura"):
        super().__init__()
        if extractor not in EXTRACTORS:
            raise ParamError("extractor", f"extract: extractor must be one of {EXTRACTORS}, got {extractor!r}")
        if max_html_bytes <= 0:
            raise ParamError("max_html_bytes", f"extract: max_html_bytes must be positive, got {max_html_bytes}")
        if timeout_s < 0:
            raise ParamError("timeout_s", f"extract: timeout_s must be >= 0, got {timeout_s}")
        self.favor_precision = favor_precision
        self.favor_recall = favor_recall
        self.include_comments = include_comments
        self.include_tables = include_tables
        self.deduplicate = deduplicate
        self.fast = fast
        self.max_html_bytes = max_html_bytes
        self.timeout_s = timeout_s
        self.content_types = list(DEFAULT_CONTENT_TYPES if content_types is None else content_types)
        self.extractor = extractor
        self._extract_fn: Optional[Callable[[str], Optional[str]]] = None

    def preflight(self, inputs: Dict[str, List[str]]) -> None:
        """The chosen extractor imports (resiliparse is an optional package)."""
        if self.extractor == "resiliparse":
            try:
                import resiliparse.extract.html2text  # noqa: F401
            except ImportError:
                raise ParamError("extractor", 'extractor "resiliparse" needs the resiliparse package: '
                                              "pip install 'thresher[resiliparse]' (or use trafilatura)") from None

    def setup(self) -> None:
        self._accepted_types = frozenset(t.strip().lower() for t in self.content_types)
        if self.extractor == "resiliparse":
            try:
                from resiliparse.extract.html2text import extract_plain_text
            except ImportError as exc:
                raise ImportError(
                    'extract: extractor "resiliparse" needs the resiliparse package: '
                    "pip install resiliparse") from exc
            self._extract_fn = lambda html: extract_plain_text(html, main_content=True)
            return
        import trafilatura
        from trafilatura.deduplication import LRUCache
        from trafilatura.settings import LRU_SIZE

        options = dict(favor_precision=self.favor_precision, favor_recall=self.favor_recall,
                       include_comments=self.include_comments, include_tables=self.include_tables,
                       fast=self.fast)
        deduplicate = self.deduplicate

        def extract(html: str) -> Optional[str]:
            # a fresh cache per page: duplicates inside the page go, other pages never matter
            return trafilatura.extract(
                html, deduplicate=LRUCache(maxsize=LRU_SIZE) if deduplicate else False, **options)
        self._extract_fn = extract
        self._warm_up()

    def _warm_up(self) -> None:
        # trafilatura loads justext's stoplists for 100 languages on first use
        # (about 0.2 s): pay that here, not against the first page's time budget
        try:
            self._extract_fn(_WARM_UP_PAGE)
        except Exception:  # a warm-up failure only costs time later
            pass

    def process(self, doc: Document) -> Union[Document, str]:
        if self._extract_fn is None:
            self.setup()
        content_type = doc.annotations.get("content_type")
        if content_type is not None:
            content_type = str(content_type).split(";", 1)[0].strip().lower()
            if content_type not in self._accepted_types:
                return NOT_HTML
        html = doc.text
        # every code point is at least one UTF-8 byte: skip encoding hopeless pages
        if len(html) > self.max_html_bytes:
            return TOO_LARGE
        html_bytes = len(html.encode("utf-8", "surrogatepass"))
        if html_bytes > self.max_html_bytes:
            return TOO_LARGE
        try:
            text = call_with_budget(self.timeout_s, self._extract_fn, html)
        except _BudgetExceeded:
            return TIMEOUT
        if not text or not text.strip():
            return NO_TEXT
        return doc.with_text(text, extractor=self.extractor, html_bytes=html_bytes)



# --- Time budget -------------------------------------------------------------


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
