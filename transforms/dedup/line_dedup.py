"""Line dedup: C4's corpus-wide removal of repeated lines (or 3-sentence spans).

Source: Raffel et al. 2020 (C4), section 2.2: "we discarded all but one of
any three-sentence span occurring more than once in the data set". TFDS
``tensorflow_datasets/text/c4_utils.py`` built C4 with ``remove_duplicate_text``
in two versions, both followed here:

* ``unit: line`` (the current code): every line of ``text.split("\\n")``,
  stripped and lowercased, is a unit; its winner is the page whose URL has
  the smallest MD5 (Beam ``Top.PerKey(1, key=md5, reverse=True)``), so no
  domain is favoured. A page keeps the lines it won, once (later repeats in
  the page go too), in their order and spelling.
* ``unit: sentences3`` (the 2019 code): each line is split into Punkt
  sentences (lowercased); every window of 3 consecutive sentences in a line
  (the whole line when it has fewer) is a unit, windows made only of bare end
  marks excepted. The sentences of every window a page did not win are
  removed; a line that lost sentences is rebuilt from the rest joined by one
  space, a line that lost them all goes.

Then, as TFDS, a page left empty or with fewer than ``min_sentences`` (3)
sentences is dropped (line_dedup_too_short). Sentences are NLTK Punkt's with
the English model (``thresher.transforms.text.sentences``), counted as each TFDS
version did: over the whole new text (line), summed per line (sentences3).
``min_words`` (whitespace words; 0, off, by default) is an extra floor that
TFDS does not have, for text Punkt cannot count (CJK).

Deliberate differences from TFDS:

* blank lines are never units: they are kept and not counted (C4's pages have
  none by the time dedup runs; elsewhere paragraph breaks must not count as
  repeated lines);
* only pages that lost a unit are measured against the minimum (TFDS re-counts
  every page, but each had just passed the same minimum in its cleaning);
* sentences3: a page that repeats a window it won keeps the first occurrence
  (TFDS's GroupByKey lists the page once per occurrence and removes them all);
  lines that lost nothing are kept as written rather than re-joined;
* the MD5 of the URL is compared by its first 64 bits, then by the id hash
  (TFDS compares the full digest; pages there had unique URLs);
* units are 64-bit xxh3 hashes, not MD5 hex strings: among 10^10 distinct
  lines about three pairs collide and count as one line.

Data flow, as TFDS (which avoids any group of a popular line's pages): each
page emits (unit hash, page key) for its distinct units, where unit hashes
are 64-bit xxh3 and the page key is (URL MD5 prefix, id xxh64); a min combiner
picks each unit's winner; every (winner, unit hash) pair then meets its page
in a GroupByKey on the page key, so a group is one page plus the units it won.
Where the step's input is the prefix cache's entries (``input_is_entries``: the
first step after the cached prefix, as in ``recipes/c4.yaml``), the page crosses
that join without its text (``document.light``), then with the units it won
(8 bytes each) to its entry file (``io.rehydrate.by_entry``), which is read once
to remove them from the stored text: no text in any shuffle. The report holds
the bytes the shuffles carry (``shuffle_bytes``, ``shuffle_bytes_per_doc``).
"""
from __future__ import annotations

import hashlib
import itertools
import struct
from typing import Iterable, List, Optional, Set, Tuple

import apache_beam as beam
import xxhash
from apache_beam.metrics import Metrics

from thresher.transforms.base import (ERRORS, METRICS_NAMESPACE, REJECTED, ParamError, Step, StepCounters,
                                      step_outputs)
from thresher.transforms.document import Document, DocumentCoder, light
from thresher.transforms.dedup.shuffle_bytes import SIZES, ShuffleMeter, Sizer
from thresher.transforms.io.rehydrate import by_entry, filled
from thresher.transforms.dedup.priority import id_hash
from thresher.transforms.text.sentences import english_punkt, sentences as split_sentences

# TFDS c4_utils _MIN_NUM_SENTENCES, applied again after dedup.
MIN_SENTENCES = 3
WINDOW = 3  # Raffel et al. 2020: three-sentence spans
END_MARKS = frozenset({".", "?", "!", '"'})  # TFDS _END_MARKS: a window of these alone is no unit
UNITS = ("line", "sentences3")
TOO_SHORT = "line_dedup_too_short"

_CODER = DocumentCoder()
_DOC, _KEEP = 0, 1
_UNITS = "units"


# Hashes are shifted into the signed 64-bit range (order kept): Beam's default
# coder writes those as varints and pickles larger ints.
_SHIFT = 1 << 63


def url_rank(url: str) -> int:
    """First 64 bits of the URL's MD5, big-endian, shifted: orders as TFDS's hex digests do."""
    return int.from_bytes(hashlib.md5(url.encode("utf-8", "surrogatepass")).digest()[:8], "big") - _SHIFT


def page_key(doc: Document) -> Tuple[int, int]:
    """The page's rank and identity in the shuffle: the smallest wins every unit it holds."""
    return url_rank(doc.url), id_hash(doc.id) - _SHIFT


def _hash(text: str) -> int:
    return xxhash.xxh3_64_intdigest(text.encode("utf-8", "surrogatepass")) - _SHIFT


def line_unit(line: str) -> Optional[int]:
    """Hash of a stripped, lowercased line; None for a blank line."""
    line = line.strip().lower()
    return _hash(line) if line else None


def sentence_units(sentences: List[str]) -> Iterable[Tuple[int, int, int]]:
    """(start, end, hash) of each window of ``WINDOW`` sentences of one line."""
    size = min(len(sentences), WINDOW)
    for i in range(len(sentences) - size + 1):
        window = sentences[i:i + size]
        if not all(s in END_MARKS for s in window):
            yield i, i + size, _hash("\n".join(s.lower() for s in window))


def units_of(text: str, unit: str) -> Set[int]:
    """The distinct unit hashes of a text."""
    if unit == "line":
        return {h for h in map(line_unit, text.split("\n")) if h is not None}
    return {h for line in text.splitlines() for _, _, h in sentence_units(split_sentences(line))}


def remove_lost(text: str, won: Set[int]) -> Tuple[str, int, Optional[int]]:
    """Line units: (new text, lines removed, None). A line stays if its page won it, once."""
    seen: Set[int] = set()
    out: List[str] = []
    for line in text.split("\n"):
        h = line_unit(line)
        if h is None:
            out.append(line)
        elif h in won and h not in seen:
            seen.add(h)
            out.append(line)
    return "\n".join(out), len(text.split("\n")) - len(out), None


def remove_lost_sentences(text: str, won: Set[int]) -> Tuple[str, int, int]:
    """Sentence units: (new text, sentences removed, sentences left)."""
    seen: Set[int] = set()
    out: List[str] = []
    removed = left = 0
    for line in text.splitlines():
        sentences = split_sentences(line)
        drop: Set[int] = set()
        for start, end, h in sentence_units(sentences):
            if h in won and h not in seen:
                seen.add(h)
            else:
                drop.update(range(start, end))
        removed += len(drop)
        left += len(sentences) - len(drop)
        if not drop:
            out.append(line)
        elif len(drop) < len(sentences):
            out.append(" ".join(s for i, s in enumerate(sentences) if i not in drop))
    return "\n".join(out), removed, left


def too_short(text: str, sentences_left: Optional[int], min_sentences: int, min_words: int) -> bool:
    """TFDS's test after dedup: nothing left, or fewer than ``min_sentences`` Punkt sentences."""
    if not text.strip():
        return True
    if min_words > 0 and len(text.split()) < min_words:
        return True
    if min_sentences > 0:
        if sentences_left is None:  # count lazily, stopping at the minimum
            sentences_left = sum(1 for _ in itertools.islice(english_punkt().span_tokenize(text), min_sentences))
        return sentences_left < min_sentences
    return False


class _EmitUnits(beam.DoFn):
    """Each page keyed by its page key (without its text with ``light_pages``), and (unit hash, page key)
    for its distinct units, those in the shuffle sample measured by ``sizer`` (``SIZES`` output)."""

    def __init__(self, step: str, unit: str, light_pages: bool, sizer: Sizer):
        self._step, self._unit, self._light, self._sizer = step, unit, light_pages, sizer

    def setup(self):
        self._counters = StepCounters(self._step)
        if self._unit == "sentences3":
            english_punkt()

    def process(self, doc: Document):
        self._counters.docs_in.inc()
        try:
            key = page_key(doc)
            units = units_of(doc.text, self._unit)
            encoded = _CODER.encode(light(doc) if self._light else doc)
        except Exception as exc:  # one bad record must never fail the job
            yield self._counters.error(exc, doc)
            return
        for h in units:
            record = (h, key)
            yield beam.pvalue.TaggedOutput(_UNITS, record)
            size = self._sizer(record)
            if size is not None:
                yield beam.pvalue.TaggedOutput(SIZES, size)
        yield key, (_DOC, encoded)


def _to_entries(element):
    """A page of the join, light, with the units it won (int64s): to its entry file (``by_entry``)."""
    _, values = element
    won = [payload for tag, payload in values if tag == _KEEP]
    packed = struct.pack(f"<{len(won)}q", *won)
    for tag, payload in values:
        if tag == _DOC:
            yield by_entry(_CODER.decode(payload), packed)


class _RemoveLost(beam.DoFn):
    """Per page: drop the units it did not win, then the page if too little is left. A group is a page
    and the units it won, or with ``from_entries`` an entry file's pages and the units each won."""

    def __init__(self, step: str, unit: str, min_sentences: int, min_words: int, from_entries: bool):
        self._step, self._unit, self._min_sentences, self._min_words = step, unit, min_sentences, min_words
        self._from_entries = from_entries

    def setup(self):
        self._counters = StepCounters(self._step)
        self._removed = Metrics.counter(METRICS_NAMESPACE, f"{self._step}.removed_units")
        if self._unit == "sentences3" or self._min_sentences > 0:
            english_punkt()

    def process(self, element):
        if self._from_entries:
            for doc, won in filled(element):
                yield from self._one(doc, set(struct.unpack(f"<{len(won) // 8}q", won)))
            return
        _, values = element
        won = {payload for tag, payload in values if tag == _KEEP}  # bounded by the page's own units
        for tag, payload in values:
            if tag == _DOC:
                yield from self._one(_CODER.decode(payload), won)

    def _one(self, doc: Document, won: Set[int]):
        try:
            if self._unit == "line":
                text, removed, left = remove_lost(doc.text, won)
            else:
                text, removed, left = remove_lost_sentences(doc.text, won)
            short = removed > 0 and too_short(text, left, self._min_sentences, self._min_words)
        except Exception as exc:  # one bad record must never fail the job
            yield self._counters.error(exc, doc)
            return
        self._removed.inc(removed)
        if short:
            yield self._counters.reject(doc, TOO_SHORT)
            return
        self._counters.docs_out.inc()
        if removed:
            yield doc.with_text(text, line_dedup_removed_lines=removed)
        else:
            yield doc.annotate(line_dedup_removed_lines=0)


class LineDedup(Step):
    """Remove lines (or 3-sentence spans) repeated across the corpus from all pages but one, as C4 did.

    The page that keeps a repeated unit is the one whose URL has the smallest
    MD5 (TFDS C4). Kept pages are annotated with ``line_dedup_removed_lines``
    (lines removed; sentences removed with unit sentences3). Pages that lost
    units and are left empty or too short are rejected as line_dedup_too_short.
    Run it after exact and URL dedup: pages with the same URL and id count as one.

    unit: line (TFDS's current code) or sentences3 (3-sentence windows within lines, TFDS 2019 and the paper).
    min_sentences: drop a page that lost units and has fewer Punkt sentences left (TFDS: 3; 0: off).
    min_words: drop a page that lost units and has fewer whitespace-separated words left (0: off).
    """

    name = "line_dedup"
    READS_ENTRIES = True  # first after the cached prefix: pages cross without text, read again where applied
    ANNOTATIONS = {"line_dedup_removed_lines": "int64"}
    ANNOTATION_DOCS = {"line_dedup_removed_lines": "lines (sentences with unit sentences3) removed as repeated "
                                                   "on another page"}
    DROP_REASONS = {"line_dedup_too_short": "after removing repeated units, empty or below min_sentences / "
                                            "min_words"}

    def __init__(self, unit: str = "line", min_sentences: int = MIN_SENTENCES, min_words: int = 0):
        super().__init__()
        if unit not in UNITS:
            raise ParamError("unit", f"line_dedup: unknown unit {unit!r}; valid: {', '.join(UNITS)}")
        if min_sentences < 0 or min_words < 0:
            raise ParamError("min_sentences" if min_sentences < 0 else "min_words",
                             f"line_dedup: min_sentences and min_words must be >= 0, "
                             f"got {min_sentences} and {min_words}")
        self.unit = unit
        self.min_sentences = min_sentences
        self.min_words = min_words

    def expand(self, docs):
        meter = ShuffleMeter(self.name)
        entries = self.input_is_entries
        pages = docs | "emit units" >> beam.ParDo(
            _EmitUnits(self.name, self.unit, entries, meter.sizer("winner per unit"))).with_outputs(
            _UNITS, SIZES, ERRORS, main="pages")
        meter.add(pages[SIZES])
        winners = pages[_UNITS] | "winner per unit" >> beam.CombinePerKey(min)
        keep = meter.flat_map(winners, "to winner page", lambda kv: [(kv[1], (_KEEP, kv[0]))])
        joined = ((meter(pages["pages"], "join pages"), keep)
                  | "pages and won units" >> beam.Flatten()
                  | "join on page" >> beam.GroupByKey())
        if entries:  # the pages are light: the units they won go to their entries, read once
            joined = meter.flat_map(joined, "to entries", _to_entries) | "group by entry" >> beam.GroupByKey()
        result = joined | "remove lost units" >> beam.ParDo(
            _RemoveLost(self.name, self.unit, self.min_sentences, self.min_words, entries)).with_outputs(
            REJECTED, ERRORS, main="kept")
        errors = (pages[ERRORS], result[ERRORS]) | "errors" >> beam.Flatten()
        return step_outputs(result["kept"], result[REJECTED], errors, meter.report(docs))
