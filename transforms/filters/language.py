"""Language: identify each document's language with fastText lid.176 and keep
the languages a recipe asks for.

The model and defaults are FineWeb's (Penedo et al. 2024, §3.2: lid.176,
English kept when its score is above 0.65), run the way datatrove's
``LanguageFilter`` / ``FT176LID`` runs them: newlines replaced by spaces, the
whole document predicted at once, the top label is the language, and a
document is kept when that score is strictly greater than the threshold.

Where this departs from datatrove, deliberately:

* datatrove keeps a document when *any* listed language scores above the
  threshold; here the *top* language must be listed and score above its
  minimum. With minimums of 0.5 or more (FineWeb's 0.65) the two rules decide
  identically, since at most one language can score above 0.5; below 0.5
  datatrove can keep a document whose top language is not listed.
* ``map_chinese`` (on by default) merges the Chinese varieties lid.176 knows,
  Wu (``wuu``) and Cantonese (``yue``), into ``zh`` and sums their
  probabilities. lid.176 has no other Chinese-variety label (no gan, hak,
  nan, cdo, lzh). Off, the labels and scores are the model's own.
* an empty ``languages`` list only annotates (datatrove's ``label_only``);
  datatrove's ``languages=None`` (any language scoring above the threshold)
  is not offered.

``benchmarks/langid_accuracy.py`` measures its top-label accuracy on the lingua
test sentences (per language, English and Chinese among them) and its speed per
sentence and per document (details in its docstring).
"""
from __future__ import annotations

import difflib
from typing import Dict, FrozenSet, List, Optional, Tuple, Union

from thresher.transforms.assets import find_lid_model
from thresher.transforms.base import DocumentStep, ParamError, Rejection
from thresher.transforms.document import Document
from thresher.transforms.per_process import per_process

# FineWeb (Penedo et al. 2024) keeps English documents whose lid.176 score is above 0.65.
FINEWEB_MIN_SCORE = 0.65
DEFAULT_LANGUAGES = ("en",)
#: lid.176 labels of Chinese varieties, merged into "zh" by map_chinese
CHINESE_VARIETIES = frozenset({"zh", "wuu", "yue"})

# Drop reasons.
NOT_KEPT = "language_not_kept"
LOW_SCORE = "language_low_score"

_LABEL_PREFIX = "__label__"
FASTTEXT_OFFSET = 1e-5  # fastText's predict adds this to every probability before its log


class LidModel:
    """A loaded fastText language-ID model: ``predict(text) -> [(label, prob)]``, best first."""

    def __init__(self, path: str):
        from fasttext.FastText import _FastText  # the class behind fasttext.load_model, without its warning

        self.path = path
        self._ft = _FastText(model_path=path)
        self.labels = frozenset(label[len(_LABEL_PREFIX):] for label in self._ft.get_labels())

    def predict(self, text: str, k: int = 1) -> List[Tuple[str, float]]:
        """Scores of the ``k`` most likely labels (all when ``k`` is -1) for one line of text."""
        line = text.replace("\n", " ") + "\n"
        try:
            pairs = self._ft.f.predict(line, k, 0.0, "strict")
        except (TypeError, UnicodeEncodeError):  # lone surrogates: pybind cannot encode the str
            pairs = self._ft.f.predict(line.encode("utf-8", "replace"), k, 0.0, "strict")
        return [(label[len(_LABEL_PREFIX):], prob) for prob, label in pairs]


def _native_names(labels: FrozenSet[str]) -> Dict[str, str]:
    """Each label's name in its own language, lowercased -> label (babel; about 1.5 s, so only
    looked at when a language was not found otherwise)."""
    from babel import Locale
    names = {}
    for code in labels:
        try:
            names[Locale.parse(code).get_language_name(code).lower()] = code
        except Exception:  # babel has no locale data for some lid.176 labels
            continue
    return names


def suggest_label(given: str, labels: FrozenSet[str]) -> str:
    """``; did you mean 'en'?`` for a language name in English or in itself (``english``,
    ``Deutsch``), a code in another case or with a region (``EN``, ``en-US``) or a near miss."""
    text = given.strip()
    candidates = [text.lower(), text.replace("_", "-").split("-")[0].lower()]
    names: Dict[str, str] = {}
    try:  # English names of languages (babel, which trafilatura's courlan installs)
        from babel import Locale
        names = {name.lower(): code for code, name in Locale("en").languages.items() if code in labels}
        candidates.append(names.get(text.lower(), ""))
    except ImportError:
        pass
    for candidate in candidates:
        if candidate in labels and candidate != given:
            return f"; did you mean {candidate!r}?"
    native = _native_names(labels).get(text.lower()) if names else None  # Deutsch, français...
    if native:
        return f"; did you mean {native!r}?"
    named = difflib.get_close_matches(text.lower(), sorted(names), n=1, cutoff=0.8) if names else []
    if named:
        return f"; did you mean {names[named[0]]!r}?"
    close = difflib.get_close_matches(text.lower(), sorted(labels), n=1)
    return f"; did you mean {close[0]!r}?" if close else "; labels are ISO 639 codes such as 'en', 'de', 'zh'"


def shared_lid_model(path: str) -> LidModel:
    """The model at ``path``, loaded once per worker process and shared by its threads."""
    return per_process(("LidModel", path), lambda: LidModel(path))


class LanguageFilter(DocumentStep):
    """Identify each document's language with fastText lid.176 and keep the listed languages.

    Annotates ``language`` and ``language_score`` on every document, dropped ones included; drops
    documents whose top language is not listed (``language_not_kept``) or scores too low
    (``language_low_score``).

    Source: FineWeb (Penedo et al. 2024) via datatrove's LanguageFilter: English, score > 0.65.
    The model file is looked for in ``model_path``, $THRESHER_LID_MODEL, then ~/.cache/thresher
    (``thresher assets`` downloads it).

    Parameters:
        languages: lid.176 codes to keep (``en``, ``de``, ``zh``...); an empty list keeps every document
            and only annotates.
        min_score: keep a document only when its top language is listed and scores strictly above this
            (FineWeb: 0.65).
        min_scores: per-language minimums that override ``min_score`` (e.g. {"zh": 0.5}).
        map_chinese: label Wu (wuu) and Cantonese (yue) as ``zh``, their probabilities summed with zh's.
        model_path: path of lid.176.bin or lid.176.ftz; empty: $THRESHER_LID_MODEL, then the user cache.
    """

    name = "language"
    WORKER_STATE = ("_model",)
    ANNOTATIONS = {"language": "string", "language_score": "float64"}
    ANNOTATION_DOCS = {"language": "the model's top language label (wuu and yue as zh with map_chinese)",
                       "language_score": "the model's probability of that label"}
    DROP_REASONS = {NOT_KEPT: "the top language is not in languages",
                    LOW_SCORE: "the top language is listed but scores at or below its minimum"}

    def __init__(self, languages: List[str] = list(DEFAULT_LANGUAGES), min_score: float = FINEWEB_MIN_SCORE,
                 min_scores: Optional[Dict[str, float]] = None, map_chinese: bool = True,
                 model_path: Optional[str] = None):
        super().__init__()
        languages = list(DEFAULT_LANGUAGES if languages is None else languages)
        min_scores = dict(min_scores or {})
        for lang in languages:
            if not isinstance(lang, str) or not lang.strip():
                raise ParamError("languages", f"language: languages must be non-empty codes, got {lang!r}")
        if map_chinese and set(languages) & (CHINESE_VARIETIES - {"zh"}):
            raise ParamError("languages", "language: with map_chinese, wuu and yue are labelled zh: list zh instead")
        for lang, score in [("min_score", min_score), *min_scores.items()]:
            if not 0.0 <= score <= 1.0:
                raise ParamError("min_score" if lang == "min_score" else "min_scores",
                                 f"language: minimum score for {lang} must be within [0, 1], got {score}")
        unknown = sorted(set(min_scores) - set(languages))
        if unknown:
            raise ParamError("min_scores", f"language: min_scores names languages not in languages: {unknown}")
        self.languages = languages
        self.min_score = float(min_score)
        self.min_scores = {lang: float(score) for lang, score in min_scores.items()}
        self.map_chinese = map_chinese
        self.model_path = model_path
        self._kept = frozenset(languages)
        self._model: Optional[LidModel] = None

    def setup(self) -> None:
        self._model = shared_lid_model(find_lid_model(self.model_path))
        unknown = sorted(set(self.languages) - self._model.labels)
        if unknown:
            raise ParamError("languages", f"language: {unknown} are not labels of the model {self._model.path}")

    def preflight(self, inputs: Dict[str, List[str]]) -> None:
        """The model is found and loads (once per process), and every language is one of its labels."""
        from thresher.transforms.base import ParamError
        from thresher.transforms.preflight import Problems, check_path

        if self.model_path:
            missing = check_path("model_path", self.model_path, "fastText lid.176.bin or lid.176.ftz")
            if missing:
                raise missing
        try:
            path = find_lid_model(self.model_path)
        except FileNotFoundError as exc:
            raise ParamError("model_path", str(exc)) from None
        try:
            model = shared_lid_model(path)
        except Exception as exc:  # not a fastText model, a truncated file...
            raise ParamError("model_path", f"{path}: does not load as a fastText model (expected lid.176.bin "
                                           f"or lid.176.ftz): {type(exc).__name__}: {exc}") from None
        problems = Problems()
        for lang in self.languages:
            if lang not in model.labels:
                problems.add(ParamError("languages", f"{lang!r} is not a label of lid.176 ({path})"
                                                     + suggest_label(lang, model.labels)))
        problems.raise_if_any()

    def identify(self, text: str) -> Tuple[str, float]:
        """(language, score) of ``text``: the model's top label, Chinese varieties merged if asked."""
        best_lang, best_score = best = self._model.predict(text, k=1)[0]
        if not self.map_chinese or (best_lang not in CHINESE_VARIETIES and best_score > 0.5):
            return best  # above 0.5 nothing can outscore it, merged or not
        pairs = self._model.predict(text, k=-1)  # every label, to sum the Chinese ones
        chinese_scores = [score for lang, score in pairs if lang in CHINESE_VARIETIES]
        # fastText reports exp(log(p + 1e-5)) per label: keep one offset, not one per label summed
        chinese = min(1.0, sum(chinese_scores) - FASTTEXT_OFFSET * max(0, len(chinese_scores) - 1))
        other = next(((lang, score) for lang, score in pairs if lang not in CHINESE_VARIETIES), ("", 0.0))
        return ("zh", chinese) if chinese >= other[1] else other

    def process(self, doc: Document) -> Union[Document, str]:
        if self._model is None:
            self.setup()
        lang, score = self.identify(doc.text)
        doc = doc.annotate(language=lang, language_score=score)
        if self.languages:
            if lang not in self._kept:
                return Rejection(doc, NOT_KEPT)
            if not score > self.min_scores.get(lang, self.min_score):
                return Rejection(doc, LOW_SCORE)
        return doc

