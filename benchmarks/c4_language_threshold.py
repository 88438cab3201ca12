"""The lid.176 English threshold that reproduces C4's language decision.

C4 (TFDS ``c4_utils.is_language``) kept a page when langdetect's top language
was ``en`` with probability >= 0.99 (``DetectorFactory.seed = 0``; a
langdetect exception drops the page). Thresher's ``language`` step keeps a
page when lid.176's top label is ``en`` and its score is strictly above
``min_score``. This script scores the same texts both ways and prints, per
``min_score``, the share of texts on which the two decisions agree, and the
threshold with the most agreement (ties: the most agreement on the lingua
paragraphs, then the lowest threshold).

Texts: the 1,166 real page texts (``bench/real-pages.texts.jsonl.gz``), which
decide the choice, and paragraphs of 5 consecutive lingua test sentences
(``langid-lingua/sentences``, at most 100 per language), a check.

langdetect is not a Thresher dependency; run it in a separate environment
(never the project's), which writes its decisions to a JSON file, then score
lid.176 with the project's environment:

    python3 -m venv /tmp/ld && /tmp/ld/bin/pip install langdetect
    /tmp/ld/bin/python benchmarks/c4_language_threshold.py langdetect /tmp/c4_langdetect.json
    .venv/bin/python benchmarks/c4_language_threshold.py thresholds /tmp/c4_langdetect.json [model_path]

The results are in ``recipes/c4.yaml``'s header.
"""
from __future__ import annotations

import gzip
import json
import pathlib
import sys
from typing import Dict, List, Tuple

SHARED_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
REAL_TEXTS = SHARED_DATA / "bench" / "real-pages.texts.jsonl.gz"
SENTENCES = SHARED_DATA / "langid-lingua" / "sentences"
C4_MIN_PROBABILITY = 0.99  # TFDS c4_utils.is_language
PARAGRAPH_SENTENCES = 5
PARAGRAPHS_PER_LANGUAGE = 100
THRESHOLDS = [round(i / 100, 2) for i in range(100)] + [0.995, 0.999]


def texts() -> Dict[str, List[Tuple[str, str]]]:
    """{"real pages": [(id, text)], "lingua paragraphs": [(id, text)]}."""
    with gzip.open(REAL_TEXTS, "rt", encoding="utf-8") as f:
        pages = [(page["id"], page["text"]) for page in map(json.loads, f)]
    paragraphs = []
    for path in sorted(SENTENCES.glob("*.txt")):
        lines = [line for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
        for i in range(0, min(len(lines), PARAGRAPH_SENTENCES * PARAGRAPHS_PER_LANGUAGE), PARAGRAPH_SENTENCES):
            paragraphs.append((f"{path.stem}:{i}", " ".join(lines[i:i + PARAGRAPH_SENTENCES])))
    return {"real pages": pages, "lingua paragraphs": paragraphs}


def run_langdetect(out_path: str) -> None:
    """Write {set: {id: [lang, prob]}} (lang "" on a langdetect exception) to ``out_path``."""
    from langdetect import DetectorFactory, detect_langs
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0  # as C4
    results: Dict[str, Dict[str, list]] = {}
    for name, items in texts().items():
        results[name] = {}
        for key, text in items:
            try:
                best = detect_langs(text)[0]
                results[name][key] = [best.lang, best.prob]
            except (LangDetectException, IndexError):
                results[name][key] = ["", 0.0]
    pathlib.Path(out_path).write_text(json.dumps(results), encoding="utf-8")
    print(f"langdetect decisions for {sum(map(len, results.values()))} texts written to {out_path}")


def agreement(c4: List[bool], lid: List[Tuple[str, float]], threshold: float) -> float:
    same = sum(keep == (lang == "en" and score > threshold) for keep, (lang, score) in zip(c4, lid))
    return same / len(c4)


def run_thresholds(langdetect_path: str, model_path: str = "") -> float:
    """Print agreement per threshold, the real pages decided differently, and return the chosen threshold."""
    from thresher.transforms.assets import fetch_lid_model
    from thresher.transforms.filters.language import LanguageFilter

    decided = json.loads(pathlib.Path(langdetect_path).read_text(encoding="utf-8"))
    step = LanguageFilter(languages=[], model_path=model_path or fetch_lid_model())
    step.setup()
    table: Dict[str, Dict[float, float]] = {}
    scored: Dict[str, list] = {}
    for name, items in texts().items():
        c4 = [decided[name][key][0] == "en" and decided[name][key][1] >= C4_MIN_PROBABILITY for key, _ in items]
        lid = [step.identify(text) for _, text in items]
        table[name] = {t: agreement(c4, lid, t) for t in THRESHOLDS}
        scored[name] = [(key, decided[name][key], keep, pair) for (key, _), keep, pair in zip(items, c4, lid)]
        print(f"{name}: {len(items)} texts, {sum(c4)} English for C4 (langdetect en, p >= {C4_MIN_PROBABILITY}), "
              f"{sum(lang == 'en' for lang, _ in lid)} with lid.176 top label en")
    real, lingua = table["real pages"], table["lingua paragraphs"]
    chosen = max(THRESHOLDS, key=lambda t: (real[t], lingua[t], -t))
    print(f"{'min_score':>9}  {'real pages':>10}  {'lingua':>7}")
    for t in THRESHOLDS:
        if round(t * 100) % 5 == 0 or abs(t - chosen) <= 0.03 or t >= C4_MIN_PROBABILITY:
            print(f"{t:9.3f}  {real[t]:10.2%}  {lingua[t]:7.2%}{'  <- chosen' if t == chosen else ''}")
    best = [t for t in THRESHOLDS if real[t] == real[chosen]]
    print(f"chosen min_score: {chosen} (agreement {real[chosen]:.2%} on real pages, {lingua[chosen]:.2%} on lingua "
          f"paragraphs; the same real-page agreement for {best[0]}..{best[-1]})")
    for threshold in (chosen, C4_MIN_PROBABILITY):
        c4_en = [row for row in scored["real pages"] if row[2]]
        lost = sum(not (lang == "en" and score > threshold) for _, _, _, (lang, score) in c4_en)
        print(f"min_score {threshold}: drops {lost} of the {len(c4_en)} real pages C4 keeps as English")
    print(f"real pages decided differently at {chosen} (langdetect / lid.176):")
    for key, (ld_lang, ld_prob), keep, (lang, score) in scored["real pages"]:
        if keep != (lang == "en" and score > chosen):
            print(f"  {key}: {ld_lang or 'exception'} {ld_prob:.3f} / {lang} {score:.3f}")
    return chosen


def main(argv: List[str]) -> None:
    if len(argv) >= 2 and argv[0] == "langdetect":
        run_langdetect(argv[1])
    elif len(argv) >= 2 and argv[0] == "thresholds":
        run_thresholds(argv[1], argv[2] if len(argv) > 2 else "")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
