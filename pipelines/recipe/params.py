"""Step parameters: a step's typed parameters read from its constructor (``step_params``), the
check of a recipe's value against a type hint (``check_type``), and the small helpers every
recipe message uses (``choices``: the valid names and the closest one; ``show``; ``expand_home``)."""
from __future__ import annotations

import dataclasses
import difflib
import inspect
import os
import typing
from typing import Any, Dict, List, Optional

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
        raise TypeError(f"expected {type_name(hint)}, got {show(value)}")
    if origin in (list, List):
        (item,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise TypeError(f"expected {type_name(hint)}, got {show(value)}")
        return [check_type(v, item) for v in value]
    if origin in (dict, Dict):
        k_hint, v_hint = typing.get_args(hint)
        if not isinstance(value, dict):
            raise TypeError(f"expected {type_name(hint)}, got {show(value)}")
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
    raise TypeError(f"expected {type_name(hint)}, got {show(value)}")


def show(value: Any) -> str:
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


def choices(given: str, valid: typing.Iterable[str]) -> str:
    valid = sorted(valid)
    close = difflib.get_close_matches(given, valid, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"{hint}; valid: {', '.join(valid) if valid else '(none)'}"


def expand_home(value: Any) -> Any:
    """A path (or list of paths) starting with ``~/`` (or ``~`` alone) in the user's home;
    anything else as it is. Relative paths stay relative to the current directory."""
    if isinstance(value, str) and (value == "~" or value.startswith("~/")):
        return os.path.expanduser(value)
    if isinstance(value, list):
        return [expand_home(v) for v in value]
    return value


def param_where(where: str, exc: Exception) -> str:
    """``steps[3] (mix).weights`` when the step named the bad parameter (``ParamError.param``)."""
    param = getattr(exc, "param", None)
    return f"{where}.{param}" if param else where
