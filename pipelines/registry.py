"""The step registry: recipe step name -> PTransform class.

Steps are listed here explicitly (``transforms/`` knows nothing of recipes).
A step class has a ``name``, a docstring whose first line says what it does,
typed constructor parameters with defaults (the recipe's parameters) and
``ANNOTATIONS`` (name -> Arrow type) for the scores it adds.
"""
from __future__ import annotations

import inspect
from typing import Dict, List

from pipelines.recipe import step_params, type_name
from transforms.c4 import C4BadWords, C4Filter
from transforms.decontaminate import Decontaminate
from transforms.exact_dedup import ExactDedup
from transforms.extract import Extract
from transforms.fineweb_quality import FineWebQuality
from transforms.gopher import GopherQuality, GopherRepetition
from transforms.language import LanguageFilter
from transforms.normalize import Normalize
from transforms.pii import PiiRedact
from transforms.quality_model import QualityModel
from transforms.line_dedup import LineDedup
from transforms.minhash_dedup import MinHashDedup
from transforms.mix import Mix
from transforms.refinedweb import RefinedWebFilter
from transforms.url_dedup import UrlDedup
from transforms.url_filter import UrlFilter

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
    UrlDedup,
    ExactDedup,
    LineDedup,
    MinHashDedup,
    Decontaminate,
    Mix,
)

STEPS: Dict[str, type] = {cls.name: cls for cls in _STEP_CLASSES}


def describe_steps() -> List[str]:
    """Human-readable lines: each step, its summary and its typed parameters."""
    lines = []
    for name in sorted(STEPS):
        cls = STEPS[name]
        doc = inspect.getdoc(cls) or ""
        summary = " ".join(doc.split("\n\n")[0].split())  # the docstring's first paragraph
        lines.append(f"{name}: {summary}")
        for p in step_params(cls).values():
            default = "required" if p.required else f"default {p.default!r}"
            lines.append(f"    {p.name}: {type_name(p.hint)} ({default})")
    return lines
