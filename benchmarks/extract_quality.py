"""Extraction quality of the ``extract`` step under several settings, on real pages.

Settings (``Extract`` arguments):

* ``fineweb``: ``favor_precision=True, include_comments=False, deduplicate=True``,
  the step defaults, which recipes/fineweb.yaml, gopher and refinedweb use;
* ``recall``: ``favor_precision=False, favor_recall=True``;
* ``fast``: ``fast=True`` (no fallback extractors);
* ``resiliparse``: ``extractor="resiliparse"``, when resiliparse is importable.

Data: the 1,171 pages of ``../shared/data/bench/real-pages.warc.gz``, read and
decoded as ``benchmarks/extract_speed.py`` does, and run through
``Extract.process`` one page at a time, one core, no Beam.

* Scrapinghub (181 pages, ``extraction-scrapinghub-aeb/ground-truth.json``,
  matched by WARC-Target-URI): bag-of-words precision, recall and F1 of the
  extracted text against ``articleBody`` (lowercased ``\\w+`` tokens, multiset
  overlap, ``extract_speed.tokens``), averaged over pages. A page the step
  drops (no text, timeout) scores P = R = F1 = 0 and is also counted apart.
* trafilatura evaluation set (``extraction-trafilatura-eval/evaldata.json``:
  url -> ``with`` snippets the text must contain, ``without`` snippets it must
  not; matched by URL, surrounding whitespace of the key ignored, since 9 keys
  end in a space): scored as trafilatura's ``tests/eval_common.py`` does.
  Snippet and text are whitespace-normalised, a ``with`` snippet found is a
  true positive, one missing a false negative, a ``without`` snippet found a
  false positive, one absent a true negative; a dropped page counts all its
  ``with`` snippets as false negatives and its ``without`` snippets as true
  negatives. Counts are summed over pages, then P = tp/(tp+fp),
  R = tp/(tp+fn) (= share of ``with`` snippets found), F1 = 2tp/(2tp+fp+fn);
  ``w/o absent`` = tn/(tn+fp) is the share of ``without`` snippets absent.
* Speed: mean wall-clock and thread-CPU ms per page over all 1,171 pages
  (after a 20-page warm-up). The machine may be shared: the CPU column is the
  steadier one.

Measured on the 2-core machine, shared with other jobs (trafilatura 2.3.1,
resiliparse 2.0.1; 2.5 minutes in all):

=============  =======  ======  =====  =====  =====  =====  =====  =====  =====  =======  =====
setting        ms/page  CPU ms  SH P   SH R   SH F1  empty  ev P   ev R   ev F1  w/o abs  empty
=============  =======  ======  =====  =====  =====  =====  =====  =====  =====  =======  =====
fineweb        53.2     28.7    0.959  0.970  0.959  1      0.923  0.917  0.920  0.924    4
recall         37.4     22.8    0.931  0.966  0.943  3      0.898  0.936  0.917  0.894    6
fast           24.6     20.0    0.944  0.945  0.940  4      0.924  0.890  0.907  0.928    19
resiliparse    5.1      3.2     0.840  0.989  0.898  0      0.751  0.958  0.842  0.684    12
=============  =======  ======  =====  =====  =====  =====  =====  =====  =====  =======  =====

(990 of 990 evaluation pages found: 2,951 ``with`` and 2,966 ``without``
snippets. The first setting's wall-clock figure is the most inflated by the
other load; compare CPU ms.)

Run from the project root: ``python benchmarks/extract_quality.py``.
"""
import json
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.extract_speed import DATA, GROUND_TRUTH, read_pages, run, tokens  # noqa: E402
from thresher.transforms.extract.html import Extract  # noqa: E402

EVALDATA = os.path.join(DATA, "extraction-trafilatura-eval", "evaldata.json")


def settings():
    configs = [
        ("fineweb", Extract(favor_precision=True, include_comments=False, deduplicate=True)),
        ("recall", Extract(favor_precision=False, favor_recall=True)),
        ("fast", Extract(fast=True)),
    ]
    try:
        import resiliparse.extract.html2text  # noqa: F401
        configs.append(("resiliparse", Extract(extractor="resiliparse")))
    except ImportError:
        print("resiliparse not importable: skipped")
    return configs


def token_prf(predicted: str, truth: str):
    """Bag-of-words (precision, recall, F1) of one page; no predicted tokens -> zeros."""
    pred, true = tokens(predicted), tokens(truth)
    overlap = sum((pred & true).values())
    if not overlap:
        return 0.0, 0.0, 0.0
    precision, recall = overlap / sum(pred.values()), overlap / sum(true.values())
    return precision, recall, 2 * precision * recall / (precision + recall)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def snippet_counts(text: str, item: dict):
    """(tp, fp, fn, tn) of one evaluation page, as trafilatura's evaluation counts them."""
    if text:
        normed = _norm(text)
        tp = sum(_norm(s) in normed for s in item["with"])
        fp = sum(_norm(s) in normed for s in item["without"])
    else:
        tp = fp = 0
    return tp, fp, len(item["with"]) - tp, len(item["without"]) - fp


def main():
    pages = read_pages()
    urls = {p.url for p in pages}
    truth = {v["url"]: v["articleBody"] for v in json.load(open(GROUND_TRUTH, encoding="utf-8")).values()}
    truth = {url: body for url, body in truth.items() if url in urls}
    evaldata = {url.strip(): item for url, item in json.load(open(EVALDATA, encoding="utf-8")).items()}
    n_eval = len(evaldata)
    evaldata = {url: item for url, item in evaldata.items() if url in urls}
    n_with = sum(len(item["with"]) for item in evaldata.values())
    n_without = sum(len(item["without"]) for item in evaldata.values())

    rows, drops = [], {}
    for label, step in settings():
        run(step, pages[:20])  # warm-up: imports, lazy tables
        times, cpu, texts, outcomes = run(step, pages)
        drops[label] = {k: v for k, v in outcomes.items() if k != "kept"}
        sh = [token_prf(texts[url], body) for url, body in truth.items()]
        sh_empty = sum(not texts[url] for url in truth)
        tp = fp = fn = tn = 0
        for url, item in evaldata.items():
            a, b, c, d = snippet_counts(texts[url], item)
            tp, fp, fn, tn = tp + a, fp + b, fn + c, tn + d
        ev_empty = sum(not texts[url] for url in evaldata)
        rows.append((label, statistics.mean(times), statistics.mean(cpu),
                     statistics.mean(p for p, _, _ in sh), statistics.mean(r for _, r, _ in sh),
                     statistics.mean(f for _, _, f in sh), sh_empty,
                     tp / (tp + fp) if tp + fp else 0.0, tp / (tp + fn) if tp + fn else 0.0,
                     2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
                     tn / (tn + fp) if tn + fp else 0.0, ev_empty))

    print()
    print(f"{len(pages)} pages; Scrapinghub {len(truth)} pages; trafilatura eval {len(evaldata)}/{n_eval} "
          f"pages found ({n_with} with / {n_without} without snippets)")
    head = (f"{'setting':<12} {'ms/page':>7} {'CPU ms':>6} | {'SH P':>5} {'SH R':>5} {'SH F1':>5} {'empty':>5} "
            f"| {'ev P':>5} {'ev R':>5} {'ev F1':>5} {'w/o abs':>7} {'empty':>5}")
    print(head)
    print("-" * len(head))
    for (label, ms, cpu_ms, sp, sr, sf, se, ep, er, ef, wo, ee) in rows:
        print(f"{label:<12} {ms:>7.1f} {cpu_ms:>6.1f} | {sp:>5.3f} {sr:>5.3f} {sf:>5.3f} {se:>5} "
              f"| {ep:>5.3f} {er:>5.3f} {ef:>5.3f} {wo:>7.3f} {ee:>5}")
    print("SH = Scrapinghub, mean per page (empty pages score 0); ev = trafilatura eval, summed snippet "
          "counts; ev R = share of `with` snippets found; w/o abs = share of `without` snippets absent; "
          "empty = pages dropped by the step")
    print("drops over all pages:", "; ".join(f"{k} {dict(v) or '-'}" for k, v in drops.items()))


if __name__ == "__main__":
    main()
