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
      format: parquet            # parquet | jsonl
      shard_size_mb: 256

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
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import importlib
import inspect
import os
import re
import typing
from typing import Any, Dict, List, Optional, Tuple

import yaml

SUPPORTED_VERSIONS = (1,)
INPUT_FORMATS = ("auto", "warc", "arc", "wet", "jsonl", "parquet")
OUTPUT_FORMATS = ("parquet", "jsonl")
OUTPUT_ORDERS = ("none", "shuffle", "annotation")
PLUGIN_FLAG = "--allow-plugins"
_PLUGIN_REF = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_STEP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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


# ---------------------------------------------------------------- type checks

def type_name(hint: Any) -> str:
    """A readable name for a parameter's type hint (``list[str]``, ``float``...)."""
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return f"{type_name(args[0])} or null" if len(args) == 1 else " or ".join(map(type_name, args))
    if origin in (list, List):
        return f"list[{type_name(typing.get_args(hint)[0])}]"
    if origin in (dict, Dict):
        k, v = typing.get_args(hint)
        return f"dict[{type_name(k)}, {type_name(v)}]"
    return getattr(hint, "__name__", str(hint))


def check_type(value: Any, hint: Any) -> Optional[Any]:
    """Return ``value`` converted to ``hint`` when it fits (int → float), else raise TypeError."""
    if hint is Any:
        return value
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return check_type(value, arg)
            except TypeError:
                pass
        raise TypeError(f"expected {type_name(hint)}, got {_show(value)}")
    if origin in (list, List):
        (item,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise TypeError(f"expected {type_name(hint)}, got {_show(value)}")
        return [check_type(v, item) for v in value]
    if origin in (dict, Dict):
        k_hint, v_hint = typing.get_args(hint)
        if not isinstance(value, dict):
            raise TypeError(f"expected {type_name(hint)}, got {_show(value)}")
        return {check_type(k, k_hint): check_type(v, v_hint) for k, v in value.items()}
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    else:
        raise TypeError(f"unsupported parameter type {type_name(hint)}")
    raise TypeError(f"expected {type_name(hint)}, got {_show(value)}")


def _show(value: Any) -> str:
    return "null" if value is None else f"{type(value).__name__} {value!r}"[:80]


@dataclasses.dataclass
class Param:
    name: str
    hint: Any
    default: Any  # inspect.Parameter.empty when required

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty


def step_params(cls: type) -> Dict[str, Param]:
    """A step's typed parameters, read from its constructor's signature.

    A constructor that ends in ``**kwargs`` forwards them to its base class,
    whose parameters (``annotate``, ``dry_run``...) are then included too. Beam's own
    classes (``PTransform``'s ``label``) are not the step's parameters.
    """
    params: Dict[str, Param] = {}
    for klass in cls.__mro__:
        if klass.__module__.split(".")[0] == "apache_beam":
            break
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        hints = typing.get_type_hints(init)
        forwards = False
        for p in inspect.signature(init).parameters.values():
            if p.kind == p.VAR_KEYWORD:
                forwards = True
            elif p.name != "self" and p.kind != p.VAR_POSITIONAL and p.name not in params:
                params[p.name] = Param(p.name, hints.get(p.name, Any), p.default)
        if not forwards:
            break
    return params


def _choices(given: str, valid: typing.Iterable[str]) -> str:
    valid = sorted(valid)
    close = difflib.get_close_matches(given, valid, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"{hint}; valid: {', '.join(valid) if valid else '(none)'}"


# ---------------------------------------------------------------- loading

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
    """Replace ``{name}`` by the recipe's or the caller's params: in input paths and the output path
    (an unknown name is an error) and in step parameters (only declared names are replaced)."""
    declared = data.get("params") or {}
    if not isinstance(declared, dict) or not all(isinstance(v, (str, int)) for v in declared.values()):
        raise RecipeError(file, "params", "expected a mapping of name -> string default")
    values = {str(k): str(v) for k, v in declared.items()}
    for key, value in (overrides or {}).items():
        if key not in values:
            raise RecipeError(file, f"params.{key}", "not a parameter of this recipe" + _choices(key, values))
        values[key] = value

    def fill(text: Any, where: str, strict: bool = True) -> Any:
        if not isinstance(text, str) or "{" not in text:
            return text

        def one(match):
            name = match.group(1)
            if name in values:
                return values[name]
            if strict:
                raise RecipeError(file, where, f"unknown parameter {{{name}}}" + _choices(name, values))
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
    if isinstance(data.get("steps"), list):  # step parameters: declared names only, other braces kept
        data["steps"] = [
            {k: ([fill(v, "", False) for v in value] if isinstance(value, list) else fill(value, "", False))
             for k, value in step.items()} if isinstance(step, dict) else step
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
            raise RecipeError(file, str(key), "unknown top-level field" + _choices(str(key), known))
    for key in ("version", "inputs", "steps", "output"):
        if key not in data:
            raise RecipeError(file, key, "missing required field")
    data = _substitute(data, file, params)
    version = data["version"]
    if version not in SUPPORTED_VERSIONS:
        raise RecipeError(file, "version", f"unsupported version {version!r}; supported: {SUPPORTED_VERSIONS}")
    name = data.get("name") or ""
    if not isinstance(name, str):
        raise RecipeError(file, "name", f"expected str, got {_show(name)}")
    return Recipe(file=file, version=version, name=name, params=data["params"],
                  inputs=_parse_inputs(data["inputs"], file),
                  steps=_parse_steps(data["steps"], file, steps, allow_plugins),
                  output=_parse_output(data["output"], file))


def _fill(cls: type, raw: Any, file: str, where: str, fixed: Dict[str, Any] = None):
    """Build dataclass ``cls`` from mapping ``raw``, checking names and types."""
    if not isinstance(raw, dict):
        raise RecipeError(file, where, f"expected a mapping, got {_show(raw)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in (fixed or {})}
    hints = typing.get_type_hints(cls)
    values = dict(fixed or {})
    for key, value in raw.items():
        if key not in fields:
            raise RecipeError(file, f"{where}.{key}", "unknown field" + _choices(str(key), fields))
        if dataclasses.is_dataclass(hints[key]):
            values[key] = _fill(hints[key], {"enabled": value} if isinstance(value, bool) else value,
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
            raise RecipeError(file, f"{where}.format", f"unknown format {inp.format!r}" + _choices(inp.format, INPUT_FORMATS))
        inputs[str(name)] = inp
    return inputs


def is_plugin(name: Any) -> bool:
    """Whether a recipe's ``step`` names a Python class (``package.module:ClassName``)."""
    return isinstance(name, str) and ":" in name


def import_plugin(ref: str) -> type:
    """The step class ``package.module:ClassName`` names, imported and checked:
    a ``beam.PTransform`` subclass with its own ``name``. ValueError says what is wrong."""
    if not _PLUGIN_REF.match(ref):
        raise ValueError(f"plugin {ref!r}: write a plugin step as 'package.module:ClassName'")
    module_name, _, attr = ref.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # whatever the module raises while importing
        raise ValueError(f"cannot import plugin module {module_name!r}: {type(exc).__name__}: {exc}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"module {module_name!r} has no {attr!r}")
        obj = getattr(obj, part)
    import apache_beam as beam
    if not (isinstance(obj, type) and issubclass(obj, beam.PTransform)):
        raise ValueError(f"{ref} is not a step: a step is a subclass of beam.PTransform")
    owner = next((k for k in obj.__mro__ if "name" in vars(k)), None)
    name = getattr(obj, "name", None)
    if owner is None or owner.__module__ == "thresher.transforms.base" or not isinstance(name, str) \
            or not _STEP_NAME.match(name):
        raise ValueError(f"{ref} sets no step name: give the class a `name` (letters, digits, _)")
    return obj


def _supported(hint: Any) -> bool:
    """Whether ``check_type`` can check a value against ``hint``."""
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        return all(a is type(None) or _supported(a) for a in typing.get_args(hint))
    if origin in (list, List, dict, Dict):
        return all(_supported(a) for a in typing.get_args(hint)) and bool(typing.get_args(hint))
    return hint in (bool, int, float, str)


def _plugin_params(cls: type, file: str, where: str) -> Dict[str, Param]:
    """A plugin's parameters, each with a type the recipe can check."""
    try:
        params = step_params(cls)
    except Exception as exc:  # unresolvable annotations
        raise RecipeError(file, where, f"cannot read the constructor's parameters: {exc}") from None
    for p in params.values():
        if not _supported(p.hint):
            raise RecipeError(file, f"{where}.{p.name}",
                              f"parameter type {type_name(p.hint)} is not supported: annotate it as bool, int, "
                              "float, str, List[...], Dict[..., ...] or Optional[...]")
    return params


def resolve_step(name: Any, registry: Dict[str, type], file: str, where: str,
                 allow_plugins: bool = False) -> type:
    """The class a recipe's ``step`` names: a registered step, or (only with ``allow_plugins``)
    a plugin class, imported. A disallowed plugin is refused before anything is imported."""
    if is_plugin(name):
        if not allow_plugins:
            raise RecipeError(file, where, f"step {name!r} names Python code to import and run (a plugin); "
                                           f"recipes run such code only when you pass {PLUGIN_FLAG}")
        try:
            return import_plugin(name)
        except ValueError as exc:
            raise RecipeError(file, where, str(exc)) from None
    if not isinstance(name, str) or name not in registry:
        raise RecipeError(file, where, f"unknown step {name!r}" + _choices(str(name), registry))
    return registry[name]


def step_class(spec: StepSpec, registry: Dict[str, type]) -> type:
    """The class of a validated step: the one resolved when the recipe was read
    (plugins included), else the registered step of that name."""
    return spec.cls if spec.cls is not None else registry[spec.step]


def _parse_steps(raw: Any, file: str, registry: Dict[str, type], allow_plugins: bool = False) -> List[StepSpec]:
    if not isinstance(raw, list):
        raise RecipeError(file, "steps", f"expected a list of {{step: NAME, ...}}, got {_show(raw)}")
    specs = []
    for index, item in enumerate(raw):
        where = f"steps[{index}]"
        if not isinstance(item, dict) or "step" not in item:
            raise RecipeError(file, where, "each step is a mapping with a 'step' field naming it")
        name = item["step"]
        cls = resolve_step(name, registry, file, f"{where}.step", allow_plugins)
        where = f"{where} ({name})"
        params = _plugin_params(cls, file, where) if is_plugin(name) else step_params(cls)
        values = {}
        for key, value in item.items():
            if key == "step":
                continue
            if key not in params:
                raise RecipeError(file, f"{where}.{key}", "unknown parameter" + _choices(str(key), params))
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
            raise RecipeError(file, _param_where(where, exc), str(exc)) from None
        specs.append(StepSpec(index=index, step=name, params=values, cls=cls))
    return specs


def expand_home(value: Any) -> Any:
    """A path (or list of paths) starting with ``~/`` (or ``~`` alone) in the user's home;
    anything else as it is. Relative paths stay relative to the current directory."""
    if isinstance(value, str) and (value == "~" or value.startswith("~/")):
        return os.path.expanduser(value)
    if isinstance(value, list):
        return [expand_home(v) for v in value]
    return value


def _param_where(where: str, exc: Exception) -> str:
    """``steps[3] (mix).weights`` when the step named the bad parameter (``ParamError.param``)."""
    param = getattr(exc, "param", None)
    return f"{where}.{param}" if param else where


def _parse_output(raw: Any, file: str) -> OutputSpec:
    out = _fill(OutputSpec, raw, file, "output")
    out.path = expand_home(out.path)
    if out.format not in OUTPUT_FORMATS:
        raise RecipeError(file, "output.format", f"unknown format {out.format!r}" + _choices(out.format, OUTPUT_FORMATS))
    if out.shard_size_mb <= 0:
        raise RecipeError(file, "output.shard_size_mb", "must be > 0")
    if out.row_group_rows < 1:
        raise RecipeError(file, "output.row_group_rows", "must be >= 1")
    if out.order not in OUTPUT_ORDERS:
        raise RecipeError(file, "output.order", f"unknown order {out.order!r}" + _choices(out.order, OUTPUT_ORDERS))
    if out.order == "annotation" and not out.order_by:
        raise RecipeError(file, "output.order_by", "order: annotation needs the annotation to sort by")
    if out.order_by and out.order != "annotation":
        raise RecipeError(file, "output.order_by", "only used with order: annotation")
    if not 0.0 <= out.rejected.sample_rate <= 1.0:
        raise RecipeError(file, "output.rejected.sample_rate", "must be within [0, 1]")
    return out


# ---------------------------------------------------------------- before a run

#: input files whose first records are compared with the declared format, per path pattern
SNIFFED_FILES_PER_PATTERN = 2


def _input_problems(recipe: Recipe) -> List[RecipeError]:
    """Every input pattern matches files (local or gs://), and the first files of each hold what
    the input's ``format`` says (``thresher.transforms.io.sources.sniff``). With ``format: auto``, an input none
    of whose files has a known extension is a problem; a stray file among known ones is read as one
    error at run time."""
    from apache_beam.io.filesystems import FileSystems

    from thresher.transforms.preflight import is_local, resolution_note
    from thresher.transforms.io.sources import detect_format
    from thresher.transforms.io.sources.common import Fields
    from thresher.transforms.io.sources.sniff import check_format, unknown_extension

    problems = []
    for name, inp in recipe.inputs.items():
        fields = Fields(text=inp.text_field, id=inp.id_field, url=inp.url_field, date=inp.date_field)
        matched: List[str] = []
        for i, pattern in enumerate(inp.paths):
            where = f"inputs.{name}.paths[{i}]"
            try:
                found = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
            except Exception as exc:
                problems.append(RecipeError(recipe.file, where, f"cannot list {pattern!r}: {exc}"))
                continue
            if not found:
                note = f"; {resolution_note(pattern)}" if is_local(pattern) else ""
                problems.append(RecipeError(recipe.file, where, f"no file matches {pattern!r}{note}"))
                continue
            matched += found
            if inp.format == "auto":
                found = [path for path in found if _known_extension(detect_format, path)]
            for path in found[:SNIFFED_FILES_PER_PATTERN]:
                try:
                    problem = check_format(path, inp.format, fields)
                except Exception as exc:  # unreadable: permission, a vanished file...
                    problem = f"{path}: cannot read it: {type(exc).__name__}: {exc}"
                if problem:  # the first file with a problem speaks for its pattern
                    problems.append(RecipeError(recipe.file, f"inputs.{name}.format", problem))
                    break
        if inp.format == "auto" and matched and not any(_known_extension(detect_format, p) for p in matched):
            problems.append(RecipeError(recipe.file, f"inputs.{name}.format", unknown_extension(matched)))
    return problems


def _known_extension(detect, path: str) -> bool:
    try:
        detect(path)
    except ValueError:
        return False
    return True


def check_inputs_exist(recipe: Recipe) -> None:
    """Every input pattern must match at least one file whose first records fit the input's format."""
    problems = _input_problems(recipe)
    if problems:
        raise RecipeError.several(problems)


def _output_problems(recipe: Recipe) -> List[RecipeError]:
    """A local output directory can be created or written (its nearest existing parent is a
    writable folder). Whether it already holds a run is decided when the run starts."""
    from thresher.transforms.preflight import is_local
    path = recipe.output.path
    if not path or not is_local(path):
        return []
    absolute = os.path.abspath(path)
    existing = absolute
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    shown = path if existing == absolute else f"{path}: its parent {existing}"
    if not os.path.isdir(existing):
        message = f"{shown} is a file, not a folder"
    elif not os.access(existing, os.W_OK | os.X_OK):
        message = f"{shown} is not writable (permission denied)"
    else:
        return []
    return [RecipeError(recipe.file, "output.path", f"{message}; relative paths are resolved from the "
                                                    f"current directory {os.getcwd()}")]


def _preflight_errors(exc: BaseException) -> List[BaseException]:
    """The errors a step's preflight raised: several (``PreflightErrors``) or one."""
    return list(getattr(exc, "errors", None) or [exc])


def _run_preflight(step: Any, inputs: Dict[str, List[str]], earlier: List[Any]) -> List[BaseException]:
    """Call ``step.preflight(inputs)`` (with ``earlier=`` the steps before it when it takes them)."""
    check = getattr(step, "preflight", None)
    if check is None:
        return []
    try:
        takes_earlier = "earlier" in inspect.signature(check).parameters
    except (TypeError, ValueError):
        takes_earlier = False
    try:
        check(inputs, earlier=earlier) if takes_earlier else check(inputs)
    except Exception as exc:  # every failure of a preflight is a line of the report, never a traceback
        return _preflight_errors(exc)
    return []


def _message(exc: BaseException) -> str:
    known = (ValueError, OSError, TypeError)
    return str(exc) if isinstance(exc, known) and str(exc) else f"{type(exc).__name__}: {exc}"


def written_annotations(step: Any) -> Dict[str, str]:
    """Annotations this configured step writes (``written_annotations()``, else the class's
    ``ANNOTATIONS``), with ``{name}_drop`` for a filter in dry run."""
    method = getattr(step, "written_annotations", None)
    found = dict(method()) if callable(method) else dict(getattr(type(step), "ANNOTATIONS", {}))
    if getattr(step, "dry_run", False) is True:
        found.setdefault(f"{type(step).name}_drop", "string")
    return found


def read_annotations(step: Any) -> Dict[str, str]:
    """Annotations this configured step reads -> the parameter naming each: ``read_annotations()``
    when the step has it, else ``weight_by`` (mix) and ``priority_annotation`` under
    ``priority: annotation`` (the dedup steps)."""
    method = getattr(step, "read_annotations", None)
    if callable(method):
        return dict(method())
    reads = {}
    if isinstance(getattr(step, "weight_by", None), str) and step.weight_by:
        reads[step.weight_by] = "weight_by"
    if getattr(step, "priority", None) == "annotation" and getattr(step, "priority_annotation", None):
        reads[step.priority_annotation] = "priority_annotation"
    return reads


_NUMERIC = ("float64", "int64")


def _annotation_problems(recipe: Recipe, steps: List[Any]) -> List[RecipeError]:
    """Each annotation a step or ``output.order_by`` reads is written by an earlier step (numeric)."""
    from thresher.pipelines.run.builder import SOURCE_ANNOTATIONS  # the readers' own annotations

    problems = []
    written: Dict[str, str] = dict(SOURCE_ANNOTATIONS)
    for spec, step in zip(recipe.steps, steps):
        where = f"steps[{spec.index}] ({spec.step})"
        for name, param in read_annotations(step).items():
            if name not in written:
                problems.append(RecipeError(recipe.file, f"{where}.{param}", (
                    f"annotation {name!r} is written by no earlier step" + _choices(name, written))))
            elif written[name] not in _NUMERIC:
                problems.append(RecipeError(recipe.file, f"{where}.{param}",
                                            f"annotation {name!r} is {written[name]}, not a number"))
        written.update(written_annotations(step))
    out = recipe.output
    if out.order == "annotation":
        numeric = {name for name, kind in written.items() if kind in _NUMERIC} - set(SOURCE_ANNOTATIONS)
        if out.order_by not in numeric:
            problems.append(RecipeError(recipe.file, "output.order_by", (
                f"{out.order_by!r} is not a numeric annotation of this recipe's steps (as configured)"
                + _choices(out.order_by, numeric))))
    return problems


def _step_problems(recipe: Recipe, registry: Dict[str, type]) -> Tuple[List[RecipeError], List[Any]]:
    """Each step's ``preflight``: the files it names, values against what they refer to."""
    inputs = {name: list(inp.paths) for name, inp in recipe.inputs.items()}
    problems: List[RecipeError] = []
    steps: List[Any] = []
    for spec in recipe.steps:
        where = f"steps[{spec.index}] ({spec.step})"
        step = step_class(spec, registry)(**spec.params)
        for exc in _run_preflight(step, inputs, list(steps)):
            problems.append(RecipeError(recipe.file, _param_where(where, exc), _message(exc)))
        steps.append(step)
    return problems, steps


def find_problems(recipe: Recipe, registry: Dict[str, type]) -> List[RecipeError]:
    """Every problem found before a pipeline is built, in recipe order: inputs (files match and hold
    the declared format), the output directory, each step's preflight (files it names, values
    against what they refer to), and annotations read by a step or ``output.order_by`` that no
    earlier step writes."""
    problems = _input_problems(recipe) + _output_problems(recipe)
    step_problems, steps = _step_problems(recipe, registry)
    return problems + step_problems + _annotation_problems(recipe, steps)


def check_before_run(recipe: Recipe, registry: Dict[str, type]) -> None:
    """``find_problems``, raised as one RecipeError listing them all (``thresher validate`` and
    ``thresher run`` both call it before building anything)."""
    problems = find_problems(recipe, registry)
    if problems:
        raise RecipeError.several(problems)
