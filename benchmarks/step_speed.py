"""CPU cost of each per-document step, and of all of them together against extraction.

Builds every per-document step from its class with FineWeb's parameters
(``recipes/fineweb.yaml``; the steps FineWeb does not run with their defaults),
calls ``setup()`` then ``process(doc)`` directly (one core, no Beam) and prints
CPU milliseconds (``time.process_time``, best of several repeats):

* per 2,000-word synthetic document: 100 lines of 20 words drawn with a fixed
  seed from an English vocabulary (every step keeps it);
* per real text: the mean over the 1,166 texts of
  ``bench/real-pages.texts.jsonl.gz`` (JSON lines of id, url and text: the
  extracted text of the pages of ``bench/real-pages.warc.gz``, 767 words on
  average), and the same cost per 2,000 words of those texts.

Every timed call gets a fresh copy of its text, made outside the timed loop,
so ``split_words``' per-thread cache never answers from an earlier call.

Steps: url_filter (small domain, URL and word lists written to a temporary
folder), language (lid.176 from ``thresher.transforms.assets.fetch_lid_model()``),
gopher_repetition, gopher_quality, c4, c4_badwords (LDNOOBW lists; documents
carry no language annotation, so the English list), fineweb_quality,
refinedweb, pii, normalize (with and without ``fix_unicode``), and
``thresher.transforms.text.split.split_words`` on its own. Then ``extract`` (trafilatura with
FineWeb's settings) on a 100-page sample of ``bench/real-pages.warc.gz``, read
and run by ``benchmarks/extract_speed.py``'s functions (mean CPU ms of the
thread per page), and the steps run together, one after another on each text
(each step gets the previous step's output, or the same document when a step
drops it, so every step runs on every text; consecutive filters on an
unchanged text split its words once), as a fraction of extraction time per
document. Goal: under 10%. The same for FineWeb's steps stopping at the first
drop, as in the pipeline (the language step drops the non-English texts).
Steps run together can cost more than the sum of their separate figures even
with the word split shared: run alone over a thousand texts, a step keeps its
tables (lid.176, regexes) in the CPU caches. The "no word cache" rows run the
same chains with ``split_words``' per-thread cache turned off, so each filter
splits the words again: the difference is what the cache saves.

Run from the project root: ``python benchmarks/step_speed.py``.
"""
from __future__ import annotations

import dataclasses
import gzip
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, List, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import SHARED_DATA  # noqa: E402
from benchmarks.extract_speed import read_pages  # noqa: E402
from benchmarks.extract_speed import run as run_extract  # noqa: E402
from thresher.transforms.assets import fetch_lid_model  # noqa: E402
from thresher.transforms.filters.c4 import C4Filter  # noqa: E402
from thresher.transforms.filters.c4_badwords import C4BadWords  # noqa: E402
from thresher.transforms.document import Document  # noqa: E402
from thresher.transforms.extract.html import Extract  # noqa: E402
from thresher.transforms.filters.fineweb_quality import FineWebQuality  # noqa: E402
from thresher.transforms.filters.gopher import GopherQuality  # noqa: E402
from thresher.transforms.filters.gopher_repetition import GopherRepetition  # noqa: E402
from thresher.transforms.filters.language import LanguageFilter  # noqa: E402
from thresher.transforms.rewrite.normalize import Normalize  # noqa: E402
from thresher.transforms.rewrite.pii import PiiRedact  # noqa: E402
from thresher.transforms.filters.refinedweb import RefinedWebFilter  # noqa: E402
from thresher.transforms.text import split as split_module  # noqa: E402
from thresher.transforms.text.split import split_words  # noqa: E402
from thresher.transforms.filters.url_filter import UrlFilter  # noqa: E402

REAL_TEXTS = SHARED_DATA / "bench" / "real-pages.texts.jsonl.gz"
LDNOOBW = SHARED_DATA / "wordlists" / "ldnoobw"
EXTRACT_SAMPLE = 100
GOAL = 0.10  # all other steps together, as a fraction of extraction time per document

VOCABULARY = (
    "the of and to a in that is was he for it with as his on be at by had are but from or have an they "
    "which one you were all we her she there would their will when who him been has more if no out do so "
    "can what up said about other into than its time only could new them man some these then two first "
    "may any like now my such make over our even most me state after also made many did must before back "
    "see through way where get much go well your know should down work year because come people just "
    "city library council reopens Monday renovation reading rooms forty desks children schools museum "
    "river bridge market weather report government minister election budget hospital doctors nurses "
    "“twelve” (again) 2024 3.5 Dr. Smith Anna can't don't it's well-known e.g. 10,000 per cent, however, "
    "meanwhile, according to officials; residents: visitors"
).split()


def synthetic_document(words_per_line: int = 20, lines: int = 100, seed: int = 2000) -> Document:
    """A 2,000-word English document: ``lines`` sentences of ``words_per_line`` words drawn with a fixed seed."""
    rng = random.Random(seed)
    sentences = []
    for _ in range(lines):
        words = [rng.choice(VOCABULARY) for _ in range(words_per_line)]
        sentences.append(" ".join([words[0][:1].upper() + words[0][1:]] + words[1:]) + ".")
    return Document("synthetic", "\n".join(sentences),
                    url="https://www.example.com/news/2024/05/city-library-reopens-after-renovation.html")


def read_real_texts(path: Path = REAL_TEXTS) -> List[Document]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [Document(d["id"], d["text"], url=d["url"]) for d in map(json.loads, f)]


def write_url_lists(folder: Path) -> Path:
    """A few entries of each kind, laid out as FineWeb's recipe expects under {blocklists}."""
    adult = folder / "ut1" / "adult"
    words = folder / "datatrove"
    adult.mkdir(parents=True)
    words.mkdir(parents=True)
    (adult / "domains").write_text("example-adult.com\nbad.example.org\nnsfw.example.net\nxxx-videos.test\n")
    (adult / "urls").write_text("example.net/adult\nhosting.example.com/~user/private\nfree.example.org/x/y\n")
    (words / "banned_words.txt").write_text("porn\nxxx\nsex\nhentai\nescort\n")
    (words / "soft_banned_words.txt").write_text("adult\nnude\nhot\ngirls\ncam\nlive\n")
    (words / "banned_subwords.txt").write_text("porn\nxvideos\nonlyfans\n")
    return folder


def fineweb_steps(blocklists: Path) -> List[Tuple[str, object]]:
    """The steps of recipes/fineweb.yaml after extract, with its parameters, in its order."""
    return [
        ("url_filter", UrlFilter(
            domain_blocklists=[str(blocklists / "ut1" / "adult")],
            url_blocklists=[str(blocklists / "ut1" / "adult")],
            banned_words_files=[str(blocklists / "datatrove" / "banned_words.txt")],
            soft_banned_words_files=[str(blocklists / "datatrove" / "soft_banned_words.txt")],
            banned_subwords_files=[str(blocklists / "datatrove" / "banned_subwords.txt")])),
        ("language", LanguageFilter(languages=["en"], min_score=0.65, model_path=fetch_lid_model())),
        ("gopher_repetition", GopherRepetition()),
        ("gopher_quality", GopherQuality()),
        ("c4", C4Filter(filter_no_terminal_punct=False)),
        ("fineweb_quality", FineWebQuality()),
        ("pii", PiiRedact()),
    ]


def fresh(doc: Document) -> Document:
    """A copy with a new text object (the word cache keys on identity) and its own annotations."""
    return dataclasses.replace(doc, text=(doc.text + " ")[:-1], annotations=dict(doc.annotations))


def best_ms(call: Callable[[Document], object], docs: Sequence[Document], repeat: int) -> float:
    """Best of ``repeat`` runs of ``call`` over ``docs``, in CPU milliseconds per document
    (steadier than wall time on a shared machine). Copies are made outside the timed loop."""
    best = float("inf")
    for _ in range(repeat):
        copies = [fresh(d) for d in docs]
        start = time.process_time()
        for doc in copies:
            call(doc)
        best = min(best, (time.process_time() - start) / len(copies))
    return best * 1000


def chain(steps: Sequence[object], stop_at_drop: bool = False) -> Callable[[Document], object]:
    """Run ``steps`` one after another on a document, each on the previous one's output. A dropped
    document goes on unchanged to the next step (every step runs), or stops (as in a pipeline)."""
    def run(doc: Document) -> object:
        for step in steps:
            out = step.process(doc)
            if isinstance(out, Document):
                doc = out
            elif stop_at_drop:
                return out
        return doc
    return run


class _NoWordCache:
    """Stands in for ``split_words``' per-thread cache: remembers nothing."""

    def __setattr__(self, name, value):
        pass


def without_word_cache(call: Callable) -> Callable:
    """``call`` with ``split_words``' per-thread cache off: every filter splits the words again."""
    def run(doc: Document):
        saved, split_module._last = split_module._last, _NoWordCache()
        try:
            return call(doc)
        finally:
            split_module._last = saved
    return run


def main() -> None:
    synthetic = synthetic_document()
    real = read_real_texts()
    words_per_text = statistics.mean(len(d.text.split()) for d in real)
    print(f"synthetic document: {len(synthetic.text.split())} words; real texts: {len(real)} "
          f"({words_per_text:.0f} words on average) from {REAL_TEXTS.name}")
    print("CPU ms (time.process_time), best of 7 x 100 calls on the synthetic document (7 x 10 with fix_unicode) "
          "and of 3 passes over every real text")

    with tempfile.TemporaryDirectory() as tmp:
        fineweb = fineweb_steps(write_url_lists(Path(tmp)))
        others = [("c4_badwords", C4BadWords(wordlist_dir=str(LDNOOBW))),
                  ("refinedweb", RefinedWebFilter()),
                  ("normalize", Normalize())]
        ftfy = ("normalize fix_unicode=True", Normalize(fix_unicode=True))
        steps = dict(fineweb + others + [ftfy])
        for step in steps.values():
            step.setup()

        rows = []  # (label, call, synthetic calls per repeat)
        order = ["url_filter", "language", "gopher_repetition", "gopher_quality", "c4", "c4_badwords",
                 "fineweb_quality", "refinedweb", "pii", "normalize", "normalize fix_unicode=True"]
        for name in order:
            rows.append((name, steps[name].process, 10 if "fix_unicode" in name else 100))
        rows.append(("split_words", lambda doc: split_words(doc.text), 100))
        fineweb_names = [name for name, _ in fineweb]
        all_names = ["url_filter", "normalize", "language", "gopher_repetition", "gopher_quality", "c4",
                     "c4_badwords", "fineweb_quality", "refinedweb", "pii"]
        rows.append(("together: FineWeb's steps", chain([steps[n] for n in fineweb_names]), 100))
        rows.append(("together: all steps", chain([steps[n] for n in all_names]), 100))
        rows.append(("together: FineWeb's, stop at drop", chain([steps[n] for n in fineweb_names], True), 100))
        rows.append(("FineWeb's steps, no word cache", without_word_cache(chain([steps[n] for n in fineweb_names])),
                     100))
        rows.append(("all steps, no word cache", without_word_cache(chain([steps[n] for n in all_names])), 100))

        print(f"{'step':<32} {'synthetic 2,000 words':>22} {'real, per text':>15} {'real, per 2,000 words':>22}")
        results = {}
        for label, call, number in rows:
            synthetic_ms = best_ms(call, [synthetic] * number, repeat=7)
            real_ms = best_ms(call, real, repeat=3)
            results[label] = real_ms
            print(f"{label:<32} {synthetic_ms:>22.3f} {real_ms:>15.3f} {real_ms / words_per_text * 2000:>22.3f}")
        separate = sum(results[n] for n in all_names)
        print(f"(sum of the separate real-text figures of the steps in 'all steps': {separate:.3f} ms per text)")

    pages = read_pages()
    sample = pages[::len(pages) // EXTRACT_SAMPLE][:EXTRACT_SAMPLE]
    extract = Extract(favor_precision=True, include_comments=False, deduplicate=True)
    run_extract(extract, sample[:10])  # warm-up: imports, lazy tables
    wall, cpu, _, outcomes = run_extract(extract, sample)
    extract_ms = statistics.mean(cpu)
    print(f"extract (trafilatura, FineWeb settings) on {len(sample)} of {len(pages)} real pages: "
          f"CPU mean {extract_ms:.1f} ms per page, median {statistics.median(cpu):.1f} "
          f"(wall mean {statistics.mean(wall):.1f}); outcomes {dict(outcomes)}")
    for label in ("together: FineWeb's steps", "together: all steps", "together: FineWeb's, stop at drop"):
        ratio = results[label] / extract_ms
        print(f"{label[len('together: '):]} / extraction, per document: {results[label]:.2f} / "
              f"{extract_ms:.1f} ms = {ratio:.1%} (goal under {GOAL:.0%}: {'met' if ratio < GOAL else 'NOT met'})")


if __name__ == "__main__":
    main()
