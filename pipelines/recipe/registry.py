"""The step registry: recipe step name -> PTransform class, and what ``thresher steps`` says of each.

Steps are listed here explicitly (``transforms/`` knows nothing of recipes).
A step class has a ``name``, a docstring whose first line says what it does,
typed constructor parameters with defaults (the recipe's parameters), each
described by a ``name: description`` line of the docstring (of the class or,
for inherited parameters such as ``annotate``, of its base class),
``ANNOTATIONS`` (name -> Arrow type) for what it adds, ``ANNOTATION_DOCS``
(name -> meaning) and ``DROP_REASONS`` (reason -> meaning; ``{n}`` in a
reason stands for a number taken from a parameter).
"""
from __future__ import annotations

import inspect
import json
import re
from typing import Dict, List, Optional, Sequence, Tuple

from thresher.pipelines.recipe.params import step_params, type_name
from thresher.transforms.select.benchmark_files import FORMATS as BENCHMARK_FORMATS
from thresher.transforms.filters.c4 import C4Filter
from thresher.transforms.filters.c4_badwords import C4BadWords
from thresher.transforms.filters.classifier import BACKENDS as CLASSIFIER_BACKENDS, DEVICES as CLASSIFIER_DEVICES, Classifier
from thresher.transforms.select.decontaminate import ACTIONS, Decontaminate
from thresher.transforms.dedup.exact_dedup import NORMALIZATIONS, ExactDedup
from thresher.transforms.extract.html import EXTRACTORS, Extract
from thresher.transforms.filters.fineweb_quality import FineWebQuality
from thresher.transforms.filters.gopher import GopherQuality
from thresher.transforms.filters.gopher_repetition import GopherRepetition
from thresher.transforms.filters.language import LanguageFilter
from thresher.transforms.dedup.line_dedup import UNITS, LineDedup
from thresher.transforms.dedup.minhash.step import MinHashDedup
from thresher.transforms.select.mix import Mix
from thresher.transforms.rewrite.normalize import FORMS, Normalize
from thresher.transforms.rewrite.pii import PiiRedact
from thresher.transforms.dedup.priority import RULES as PRIORITIES
from thresher.transforms.filters.perplexity import Perplexity
from thresher.transforms.filters.quality_model import QualityModel
from thresher.transforms.filters.refinedweb import RefinedWebFilter
from thresher.transforms.dedup.url_dedup import UrlDedup
from thresher.transforms.filters.url_filter import UrlFilter

_STEP_CLASSES = (
    UrlFilter,
    Extract,
    LanguageFilter,
    GopherRepetition,
    GopherQuality,
    C4Filter,
    C4BadWords,
    FineWebQuality,
    RefinedWebFilter,
    Normalize,
    PiiRedact,
    QualityModel,
    Perplexity,
    Classifier,
    UrlDedup,
    ExactDedup,
    LineDedup,
    MinHashDedup,
    Decontaminate,
    Mix,
)

STEPS: Dict[str, type] = {cls.name: cls for cls in _STEP_CLASSES}

#: (step, parameter) -> the values its constructor accepts, for parameters with a fixed set of values
PARAM_CHOICES: Dict[Tuple[str, str], Sequence[str]] = {
    ("exact_dedup", "normalize"): NORMALIZATIONS,
    ("exact_dedup", "priority"): PRIORITIES,
    ("url_dedup", "priority"): PRIORITIES,
    ("minhash_dedup", "priority"): PRIORITIES,
    ("decontaminate", "action"): ACTIONS,
    ("decontaminate", "format"): BENCHMARK_FORMATS,
    ("line_dedup", "unit"): UNITS,
    ("extract", "extractor"): EXTRACTORS,
    ("normalize", "unicode_form"): FORMS,
    ("gopher_repetition", "ngram_method"): ("datatrove", "gopher"),
    ("classifier", "backend"): CLASSIFIER_BACKENDS,
    ("classifier", "device"): CLASSIFIER_DEVICES,
}


def param_docs(cls: type) -> Dict[str, str]:
    """Parameter -> description, from ``name: description`` lines of the docstrings of ``cls`` and its
    bases (a description goes on over the following lines indented deeper than its first)."""
    params = step_params(cls)
    docs: Dict[str, str] = {}
    for klass in cls.__mro__:
        lines = (inspect.cleandoc(klass.__dict__.get("__doc__") or "")).splitlines()
        for i, line in enumerate(lines):
            match = re.match(r"^(\s*)([A-Za-z_]\w*): (.+)$", line)
            if not match or match.group(2) not in params or match.group(2) in docs:
                continue
            indent, parts = len(match.group(1)), [match.group(3).strip()]
            for more in lines[i + 1:]:
                if not more.strip() or len(more) - len(more.lstrip()) <= indent:
                    break
                parts.append(more.strip())
            docs[match.group(2)] = " ".join(parts)
    return docs


def _lookup(table: Dict[str, str], key: str) -> Optional[str]:
    """``table[key]``, or the entry whose ``{n}`` placeholder matches a number in ``key``, with that
    number put in for ``{n}`` in its text too."""
    if key in table:
        return table[key]
    for pattern, text in table.items():
        match = "{n}" in pattern and re.fullmatch(re.escape(pattern).replace(r"\{n\}", r"(\d+)"), key)
        if match:
            return text.replace("{n}", match.group(1))
    return None


def reason_doc(step: str, reason: str) -> Optional[str]:
    """The one-line meaning of a drop reason of a registered step; None when unknown."""
    cls = STEPS.get(step)
    return _lookup(getattr(cls, "DROP_REASONS", {}), reason) if cls else None


def annotation_doc(cls: type, annotation: str) -> Optional[str]:
    """The one-line meaning of one of a step's annotations; None when undocumented."""
    return _lookup(getattr(cls, "ANNOTATION_DOCS", {}), annotation)


def _show_default(value) -> str:
    """The default as a recipe writes it (JSON is YAML): true, null, "newest", ["en"]."""
    if isinstance(value, dict):  # keys keep their type: {2: 0.2}, not JSON's {"2": 0.2}
        return "{" + ", ".join(f"{_show_default(k)}: {_show_default(v)}" for k, v in value.items()) + "}"
    try:
        return json.dumps(value, ensure_ascii=False)
    except TypeError:
        return repr(value)


def describe_step(name: str) -> List[str]:
    """``thresher steps`` lines of one step: summary, parameters, annotations, drop reasons."""
    cls = STEPS[name]
    summary = " ".join((inspect.getdoc(cls) or "").split("\n\n")[0].split())  # the docstring's first paragraph
    lines = [f"{name}: {summary}"]
    docs = param_docs(cls)
    params = step_params(cls)
    if params:
        lines.append("  parameters:")
    for p in params.values():
        default = "required" if p.required else f"default {_show_default(p.default)}"
        lines.append(f"    {p.name}: {type_name(p.hint)} ({default})")
        choices = PARAM_CHOICES.get((name, p.name))
        if choices:
            lines.append(f"        one of: {', '.join(choices)}")
        lines.append(f"        {docs.get(p.name, '(undocumented)')}")
    annotations = getattr(cls, "ANNOTATIONS", {})
    if annotations:
        lines.append("  annotations:")
        lines += [f"    {a} ({kind}): {annotation_doc(cls, a) or '(undocumented)'}" for a, kind in annotations.items()]
    reasons = getattr(cls, "DROP_REASONS", {})
    lines.append("  drop reasons:" if reasons else "  drop reasons: none (never drops)")
    lines += [f"    {r}: {text}" for r, text in reasons.items()]
    return lines


def describe_steps() -> List[str]:
    """Human-readable lines: each step, its summary, typed and described parameters (with the allowed
    values where they are fixed), its annotations and its drop reasons."""
    lines: List[str] = []
    for name in sorted(STEPS):
        lines += describe_step(name)
    return lines
