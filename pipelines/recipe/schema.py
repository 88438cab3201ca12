"""The recipe's schema: the dataclasses a validated recipe is made of (``Recipe``, ``InputSpec``,
``StepSpec``, ``OutputSpec``), the formats and orders it accepts, and ``RecipeError``, the
one error every recipe problem is reported as (``model`` reads a recipe into these)."""
from __future__ import annotations

import copy
import dataclasses
from typing import Any, Dict, List, Optional

from thresher.pipelines.recipe.params import step_params

SUPPORTED_VERSIONS = (1,)
INPUT_FORMATS = ("auto", "warc", "arc", "wet", "jsonl", "parquet")
OUTPUT_FORMATS = ("parquet", "jsonl", "none")  # none: token shards only (output.tokens)
OUTPUT_ORDERS = ("none", "shuffle", "annotation")
#: token shard formats -> the dtypes each accepts (auto: the smallest that holds the vocabulary)
TOKEN_DTYPES = {"megatron": ("auto", "uint16", "int32"), "datatrove": ("auto", "uint16", "uint32")}
MIN_SHARD_TOKENS = 1000


class RecipeError(ValueError):
    """A recipe problem: which file, where in it, and what is wrong.

    One error can carry several (``several``): ``errors`` lists them all (itself when alone),
    ``lines()`` gives one line each; ``file``, ``where`` and ``message`` are the first one's."""

    def __init__(self, file: str, where: str, message: str, errors: Optional[List["RecipeError"]] = None):
        self.file, self.where, self.message = file, where, message
        self.errors: List[RecipeError] = list(errors) if errors else [self]
        super().__init__("\n".join(e.line() for e in self.errors) if errors else self.line())

    def line(self) -> str:
        return f"{self.file}: {self.where}: {self.message}" if self.where else f"{self.file}: {self.message}"

    def lines(self) -> List[str]:
        return [e.line() for e in self.errors]

    @classmethod
    def several(cls, errors: List["RecipeError"]) -> "RecipeError":
        """One error holding ``errors`` (flattened); the error itself when there is one."""
        flat = [one for e in errors for one in e.errors]
        if len(flat) == 1:
            return flat[0]
        return cls(flat[0].file, flat[0].where, flat[0].message, errors=flat)


@dataclasses.dataclass
class InputSpec:
    name: str
    paths: List[str]
    format: str = "auto"
    text_field: str = "text"
    id_field: str = "id"
    url_field: str = "url"
    date_field: str = "date"


@dataclasses.dataclass
class StepSpec:
    index: int
    step: str  # a registered step's name, or a plugin's "package.module:ClassName"
    params: Dict[str, Any]
    cls: Optional[type] = dataclasses.field(default=None, repr=False, compare=False)  # the resolved class

    @property
    def label(self) -> str:
        return f"{self.index:02d}_{self.step}"


@dataclasses.dataclass
class RejectedSpec:
    enabled: bool = False
    sample_rate: float = 1.0  # fraction of rejected documents written (by hash of id)


@dataclasses.dataclass
class TokensSpec:
    """``output.tokens``: training shards of token ids beside (or instead of) the text."""
    tokenizer: str  # a Hugging Face tokenizer.json, local or gs://
    format: str = "megatron"  # megatron (.bin/.idx) | datatrove (.ds/.ds.index)
    shard_tokens: int = 500_000_000  # tokens per shard, about
    eos: bool = True  # append the end-of-document token to every document
    eos_token: Optional[str] = None  # None: the first of tokens.EOS_CANDIDATES in the vocabulary
    dtype: str = "auto"
    validation_fraction: float = 0.001  # share of documents in the validation split, by hash of id and seed
    seed: int = 0  # seeds the shuffle and the split
    annotations: Optional[List[str]] = None  # provenance columns; None: every annotation the recipe declares


@dataclasses.dataclass
class OutputSpec:
    path: str
    format: str = "parquet"
    shard_size_mb: float = 256.0
    row_group_rows: int = 10_000
    rejected: RejectedSpec = dataclasses.field(default_factory=RejectedSpec)
    order: str = "none"  # none | shuffle (global, by seed) | annotation (curriculum by order_by)
    order_by: str = ""
    descending: bool = False
    seed: int = 0
    tokens: Optional[TokensSpec] = None


@dataclasses.dataclass
class Recipe:
    file: str
    version: int
    inputs: Dict[str, InputSpec]
    steps: List[StepSpec]
    output: OutputSpec
    name: str = ""
    params: Dict[str, str] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        """The resolved recipe, as it would be written in YAML: every step parameter, the ones the
        recipe left out at their defaults (when the step's class is known, as after loading)."""
        return {
            "version": self.version,
            "name": self.name,
            "params": dict(self.params),
            "inputs": {n: _without(dataclasses.asdict(i), "name") for n, i in self.inputs.items()},
            "steps": [{"step": s.step, **resolved_params(s)} for s in self.steps],
            "output": dataclasses.asdict(self.output),
        }


def resolved_params(spec: StepSpec) -> Dict[str, Any]:
    """A step's parameters in constructor order, defaults filled in (copies: the lock may be edited)."""
    if spec.cls is None:
        return dict(spec.params)
    values = {name: copy.deepcopy(spec.params[name] if name in spec.params else p.default)
              for name, p in step_params(spec.cls).items() if name in spec.params or not p.required}
    values.update((k, v) for k, v in spec.params.items() if k not in values)
    return values


def _without(d: Dict[str, Any], key: str) -> Dict[str, Any]:
    return {k: v for k, v in d.items() if k != key}
