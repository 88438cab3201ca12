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
  subprocess (``thresher.transforms.extract.budget``): a page over budget is
  interrupted in Python code, a single long C call (lxml parsing) finishes
  first, which the ``max_html_bytes`` cap keeps short; resiliparse runs wholly
  in C++, so for it the size cap is the only guard.

Speed per page and the cost of the time budget are measured by
``benchmarks/extract_speed.py`` on the 1,171 pages of ``bench/real-pages.warc.gz``,
extraction quality (bag-of-words F1 against ``articleBody`` on the 181 Scrapinghub
pages) by ``benchmarks/extract_quality.py``; ``tests/test_extract.py`` keeps
trafilatura's F1 above its floor.
"""
from typing import Callable, Dict, List, Optional, Union

from thresher.transforms.base import DocumentStep, ParamError
from thresher.transforms.document import Document
from thresher.transforms.extract.budget import _BudgetExceeded, call_with_budget

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
