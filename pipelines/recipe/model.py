"""Recipe schema and validation.

A recipe is YAML, loaded with a safe loader and validated completely before
any pipeline is built::

    version: 1
    params: {dump: CC-MAIN-2024-10}  # optional; {dump} in paths, --param dump=... overrides
    inputs:                      # named inputs
      web:
        paths: [crawl/*.warc.gz] # a glob or a list of globs, local or gs://
        format: auto             # auto | warc | arc | wet | jsonl | parquet
    steps:                       # applied in order
      - step: extract
        favor_precision: true
    output:
      path: out/web              # the run's output directory
      format: parquet            # parquet | jsonl | none (token shards only)
      shard_size_mb: 256
      tokens:                    # optional: training shards of token ids (OUT/tokens/)
        tokenizer: tokenizer.json
        format: megatron         # megatron | datatrove

Relative paths are taken relative to the working directory; a path may start
with ``~/`` (the user's home). A problem is reported as a ``RecipeError``
naming the file, the place (``steps[2] (gopher_quality).min_words``) and,
where it helps, the valid choices. Reading stops at the first problem of the
recipe's text; ``check_before_run`` then lists every problem of the run it
describes (input files and their formats, the output directory, each step's
``preflight``, annotations read before any step writes them) in one error.

A recipe is data: no YAML tag can build a Python object (``yaml.safe_load``), and
a step that names a Python class (``step: "package.module:ClassName"``, a plugin)
is imported only when the caller allows it (``allow_plugins``, the command
line's ``--allow-plugins``); otherwise the module is never imported. A value
given for a ``{name}`` parameter cannot add ``..`` segments to ``output.path``
nor make it absolute.

This module reads a recipe (``load_recipe``, ``parse_recipe``); ``schema`` holds what it builds,
``params`` the parameter types and checks, ``plugins`` step resolution, ``checks`` the checks
before a run.
"""
from __future__ import annotations

import dataclasses
import re
import typing
from typing import Any, Dict, List, Optional

import yaml

from thresher.pipelines.recipe.params import check_type, choices, expand_home, param_where, show, step_params, type_name
from thresher.pipelines.recipe.plugins import plugin_params, is_plugin, resolve_step
from thresher.pipelines.recipe.schema import (INPUT_FORMATS, MIN_SHARD_TOKENS, OUTPUT_FORMATS, OUTPUT_ORDERS,
                                              SUPPORTED_VERSIONS, TOKEN_DTYPES, InputSpec, OutputSpec, Recipe,
                                              RecipeError, StepSpec, TokensSpec)


def load_recipe(path: str, steps: Dict[str, type], text: Optional[str] = None,
                params: Optional[Dict[str, str]] = None, allow_plugins: bool = False) -> Recipe:
    """Read and validate a recipe file against the registered ``steps``.

    ``params`` override the recipe's ``params`` (e.g. ``--param dump=CC-MAIN-2024-33``).
    ``allow_plugins``: steps may name a Python class to import (``package.module:ClassName``).
    """
    if text is None:
        from apache_beam.io.filesystems import FileSystems  # gs:// recipes too
        try:
            with FileSystems.open(path) as f:
                text = f.read().decode("utf-8")
        except Exception as exc:
            raise RecipeError(path, "", f"cannot read recipe: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RecipeError(path, "", f"not valid YAML: {exc}") from None
    return parse_recipe(data, path, steps, params, allow_plugins=allow_plugins)


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _substitute(data: Dict[str, Any], file: str, overrides: Optional[Dict[str, str]]) -> Dict[str, Any]:
    """Replace ``{name}`` by the recipe's or the caller's params: in input paths, the output path and
    ``output.tokens.tokenizer`` (an unknown name is an error) and in step parameters (only declared
    names are replaced)."""
    declared = data.get("params") or {}
    if not isinstance(declared, dict) or not all(isinstance(v, (str, int)) for v in declared.values()):
        raise RecipeError(file, "params", "expected a mapping of name -> string default")
    values = {str(k): str(v) for k, v in declared.items()}
    for key, value in (overrides or {}).items():
        if key not in values:
            raise RecipeError(file, f"params.{key}", "not a parameter of this recipe" + choices(key, values))
        values[key] = value

    def fill(text: Any, where: str, strict: bool = True) -> Any:
        if not isinstance(text, str) or "{" not in text:
            return text

        def one(match):
            name = match.group(1)
            if name in values:
                return values[name]
            if strict:
                raise RecipeError(file, where, f"unknown parameter {{{name}}}" + choices(name, values))
            return match.group(0)
        return _PLACEHOLDER.sub(one, text)

    data = dict(data)
    if isinstance(data.get("inputs"), dict):
        inputs = {}
        for name, spec in data["inputs"].items():
            if isinstance(spec, dict):
                spec = dict(spec)
                paths = spec.get("paths")
                if isinstance(paths, list):
                    spec["paths"] = [fill(p, f"inputs.{name}.paths[{i}]") for i, p in enumerate(paths)]
                else:
                    spec["paths"] = fill(paths, f"inputs.{name}.paths")
            inputs[name] = spec
        data["inputs"] = inputs
    if isinstance(data.get("output"), dict):
        template = data["output"].get("path")
        data["output"] = {**data["output"], "path": fill(template, "output.path")}
        _check_output_path(template, data["output"]["path"], values, file)
        tokens = data["output"].get("tokens")
        if isinstance(tokens, dict) and "tokenizer" in tokens:
            data["output"]["tokens"] = {**tokens, "tokenizer": fill(tokens["tokenizer"], "output.tokens.tokenizer")}
    def fill_nested(value: Any) -> Any:  # a step parameter: strings in lists and mappings too
        if isinstance(value, list):
            return [fill_nested(v) for v in value]
        if isinstance(value, dict):
            return {k: fill_nested(v) for k, v in value.items()}
        return fill(value, "", False)

    if isinstance(data.get("steps"), list):  # step parameters: declared names only, other braces kept
        data["steps"] = [{k: fill_nested(value) for k, value in step.items()} if isinstance(step, dict) else step
                         for step in data["steps"]]
    data["params"] = values
    return data


_SEPARATORS = re.compile(r"[/\\]")
_ABSOLUTE = re.compile(r"^([/\\~]|[A-Za-z][A-Za-z0-9+.-]*:)")  # /x, \\x, ~x, C:x, gs://x


def _check_output_path(template: Any, filled: Any, values: Dict[str, str], file: str) -> None:
    """A parameter's value must keep ``output.path`` where the recipe puts it: no ``..``
    segment the recipe itself does not have, and not absolute unless the recipe's text is."""
    if not isinstance(template, str) or template == filled:
        return
    plain = _PLACEHOLDER.sub("x", template)  # the recipe's own path, each value a plain name

    def ups(path: str) -> int:
        return sum(1 for segment in _SEPARATORS.split(path) if segment == "..")
    if ups(filled) <= ups(plain) and (bool(_ABSOLUTE.match(filled)) <= bool(_ABSOLUTE.match(plain))):
        return
    used = [m.group(1) for m in _PLACEHOLDER.finditer(template) if m.group(1) in values]
    unsafe = [n for n in used if ".." in _SEPARATORS.split(values[n]) or _ABSOLUTE.match(values[n])]
    name = (unsafe or used)[0]
    raise RecipeError(file, f"params.{name}",
                      f"value {values[name]!r} would move output.path out of its directory ({filled!r}): "
                      "values used in output.path cannot hold '..' segments nor be absolute paths")


def parse_recipe(data: Any, file: str, steps: Dict[str, type],
                 params: Optional[Dict[str, str]] = None, allow_plugins: bool = False) -> Recipe:
    if not isinstance(data, dict):
        raise RecipeError(file, "", "a recipe is a mapping with version, inputs, steps and output")
    known = {"version", "name", "params", "inputs", "steps", "output"}
    for key in data:
        if key not in known:
            raise RecipeError(file, str(key), "unknown top-level field" + choices(str(key), known))
    for key in ("version", "inputs", "steps", "output"):
        if key not in data:
            raise RecipeError(file, key, "missing required field")
    data = _substitute(data, file, params)
    version = data["version"]
    if version not in SUPPORTED_VERSIONS:
        raise RecipeError(file, "version", f"unsupported version {version!r}; supported: {SUPPORTED_VERSIONS}")
    name = data.get("name") or ""
    if not isinstance(name, str):
        raise RecipeError(file, "name", f"expected str, got {show(name)}")
    recipe = Recipe(file=file, version=version, name=name, params=data["params"],
                    inputs=_parse_inputs(data["inputs"], file),
                    steps=_parse_steps(data["steps"], file, steps, allow_plugins),
                    output=_parse_output(data["output"], file))
    _count_mix_with_shard_tokenizer(recipe)
    return recipe


def _count_mix_with_shard_tokenizer(recipe: Recipe) -> None:
    """A ``mix`` step without a ``tokenizer`` in a recipe writing token shards counts with the shards'
    tokenizer, the EOS they append included (``count_eos``): its budget is then in the shards' tokens."""
    tokens = recipe.output.tokens
    if tokens is None:
        return
    for spec in recipe.steps:
        if spec.step == "mix" and not spec.params.get("tokenizer"):
            spec.params["tokenizer"] = tokens.tokenizer
            spec.params["count_eos"] = tokens.eos


def _fill(cls: type, raw: Any, file: str, where: str, fixed: Dict[str, Any] = None):
    """Build dataclass ``cls`` from mapping ``raw``, checking names and types."""
    if not isinstance(raw, dict):
        raise RecipeError(file, where, f"expected a mapping, got {show(raw)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in (fixed or {})}
    hints = typing.get_type_hints(cls)
    values = dict(fixed or {})
    for key, value in raw.items():
        if key not in fields:
            raise RecipeError(file, f"{where}.{key}", "unknown field" + choices(str(key), fields))
        nested = _dataclass_in(hints[key])
        if nested is not None:
            if value is None and nested is not hints[key]:  # Optional[...]: null leaves it out
                values[key] = None
                continue
            values[key] = _fill(nested, {"enabled": value} if isinstance(value, bool) else value,
                                file, f"{where}.{key}")
            continue
        try:
            values[key] = check_type(value, hints[key])
        except TypeError as exc:
            raise RecipeError(file, f"{where}.{key}", str(exc)) from None
    for fname, f in fields.items():
        if fname not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise RecipeError(file, f"{where}.{fname}", "missing required field")
    return cls(**values)


def _dataclass_in(hint: Any) -> Optional[type]:
    """The dataclass ``hint`` is, or the one an ``Optional[...]`` holds; None for other hints."""
    if dataclasses.is_dataclass(hint):
        return hint
    if typing.get_origin(hint) is typing.Union:
        found = [a for a in typing.get_args(hint) if dataclasses.is_dataclass(a)]
        return found[0] if found else None
    return None


def _parse_inputs(raw: Any, file: str) -> Dict[str, InputSpec]:
    if not isinstance(raw, dict) or not raw:
        raise RecipeError(file, "inputs", "expected a non-empty mapping of input name -> {paths, format}")
    inputs = {}
    for name, spec in raw.items():
        where = f"inputs.{name}"
        if isinstance(spec, dict) and isinstance(spec.get("paths"), str):
            spec = {**spec, "paths": [spec["paths"]]}
        inp = _fill(InputSpec, spec, file, where, fixed={"name": str(name)})
        inp.paths = expand_home(inp.paths)
        if not inp.paths:
            raise RecipeError(file, f"{where}.paths", "no paths given")
        if inp.format not in INPUT_FORMATS:
            raise RecipeError(file, f"{where}.format", f"unknown format {inp.format!r}" + choices(inp.format, INPUT_FORMATS))
        inputs[str(name)] = inp
    return inputs


def _parse_steps(raw: Any, file: str, registry: Dict[str, type], allow_plugins: bool = False) -> List[StepSpec]:
    if not isinstance(raw, list):
        raise RecipeError(file, "steps", f"expected a list of {{step: NAME, ...}}, got {show(raw)}")
    specs = []
    for index, item in enumerate(raw):
        where = f"steps[{index}]"
        if not isinstance(item, dict) or "step" not in item:
            raise RecipeError(file, where, "each step is a mapping with a 'step' field naming it")
        name = item["step"]
        cls = resolve_step(name, registry, file, f"{where}.step", allow_plugins)
        where = f"{where} ({name})"
        params = plugin_params(cls, file, where) if is_plugin(name) else step_params(cls)
        values = {}
        for key, value in item.items():
            if key == "step":
                continue
            if key not in params:
                raise RecipeError(file, f"{where}.{key}", "unknown parameter" + choices(str(key), params))
            try:
                values[key] = expand_home(check_type(value, params[key].hint))
            except TypeError as exc:
                raise RecipeError(file, f"{where}.{key}", str(exc)) from None
        for p in params.values():
            if p.required and p.name not in values:
                raise RecipeError(file, f"{where}.{p.name}", f"missing required parameter ({type_name(p.hint)})")
        try:
            cls(**values)  # constructors check values (ranges, choices); no heavy loading
        except (ValueError, TypeError) as exc:
            raise RecipeError(file, param_where(where, exc), str(exc)) from None
        specs.append(StepSpec(index=index, step=name, params=values, cls=cls))
    return specs


def _parse_output(raw: Any, file: str) -> OutputSpec:
    out = _fill(OutputSpec, raw, file, "output")
    out.path = expand_home(out.path)
    if out.format not in OUTPUT_FORMATS:
        raise RecipeError(file, "output.format", f"unknown format {out.format!r}" + choices(out.format, OUTPUT_FORMATS))
    if out.shard_size_mb <= 0:
        raise RecipeError(file, "output.shard_size_mb", "must be > 0")
    if out.row_group_rows < 1:
        raise RecipeError(file, "output.row_group_rows", "must be >= 1")
    if out.order not in OUTPUT_ORDERS:
        raise RecipeError(file, "output.order", f"unknown order {out.order!r}" + choices(out.order, OUTPUT_ORDERS))
    if out.order == "annotation" and not out.order_by:
        raise RecipeError(file, "output.order_by", "order: annotation needs the annotation to sort by")
    if out.order_by and out.order != "annotation":
        raise RecipeError(file, "output.order_by", "only used with order: annotation")
    if not 0.0 <= out.rejected.sample_rate <= 1.0:
        raise RecipeError(file, "output.rejected.sample_rate", "must be within [0, 1]")
    if out.format == "none" and out.tokens is None:
        raise RecipeError(file, "output.format", "format: none writes only token shards: it needs output.tokens "
                                                 "(tokenizer, format...)")
    if out.format == "none" and out.order != "none":
        raise RecipeError(file, "output.order", "orders the text files, and format: none writes none; token shards "
                                                "are shuffled by output.tokens.seed")
    if out.tokens is not None:
        _check_tokens(out.tokens, file)
    return out


def _check_tokens(tokens: TokensSpec, file: str) -> None:
    """``output.tokens``' values: format, dtype for that format, shard size, validation share."""
    tokens.tokenizer = expand_home(tokens.tokenizer)
    where = "output.tokens"
    if not tokens.tokenizer:
        raise RecipeError(file, f"{where}.tokenizer", "empty path (expected a Hugging Face tokenizer.json)")
    if tokens.format not in TOKEN_DTYPES:
        raise RecipeError(file, f"{where}.format", f"unknown format {tokens.format!r}"
                          + choices(tokens.format, TOKEN_DTYPES))
    dtypes = TOKEN_DTYPES[tokens.format]
    if tokens.dtype not in dtypes:
        raise RecipeError(file, f"{where}.dtype", f"{tokens.format} shards have no dtype {tokens.dtype!r}"
                          + choices(tokens.dtype, dtypes))
    if tokens.shard_tokens < MIN_SHARD_TOKENS:
        raise RecipeError(file, f"{where}.shard_tokens", (
            f"{tokens.shard_tokens:,} is below the minimum {MIN_SHARD_TOKENS:,}: a shard holds whole documents "
            f"and {MIN_SHARD_TOKENS:,} tokens is below one web page — did you mean a larger number "
            f"(e.g. 500000000, the default)?"))
    if not 0.0 <= tokens.validation_fraction < 1.0:
        raise RecipeError(file, f"{where}.validation_fraction",
                          f"must be within [0, 1), got {tokens.validation_fraction:g}")
    if not 0 <= tokens.seed < 1 << 64:
        raise RecipeError(file, f"{where}.seed", f"must be in [0, 2^64), got {tokens.seed}")
    if tokens.eos_token is not None and not tokens.eos_token:
        raise RecipeError(file, f"{where}.eos_token", "empty; leave it out (null) to use the tokenizer's own")
    if tokens.annotations is not None and len(set(tokens.annotations)) != len(tokens.annotations):
        raise RecipeError(file, f"{where}.annotations", "an annotation is named twice")
