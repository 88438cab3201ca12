"""Plugins and step resolution: the class a recipe's ``step`` names, a registered step or, only
when the caller allows it (``--allow-plugins``), a ``package.module:ClassName`` imported and
checked (a ``beam.PTransform`` with its own ``name``, parameters of checkable types). A plugin
that is not allowed is refused before its module is imported."""
from __future__ import annotations

import importlib
import re
import typing
from typing import Any, Dict, List

from thresher.pipelines.recipe.params import Param, choices, step_params, type_name
from thresher.pipelines.recipe.schema import RecipeError, StepSpec

PLUGIN_FLAG = "--allow-plugins"
_PLUGIN_REF = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_STEP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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


def plugin_params(cls: type, file: str, where: str) -> Dict[str, Param]:
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
        raise RecipeError(file, where, f"unknown step {name!r}" + choices(str(name), registry))
    return registry[name]


def step_class(spec: StepSpec, registry: Dict[str, type]) -> type:
    """The class of a validated step: the one resolved when the recipe was read
    (plugins included), else the registered step of that name."""
    return spec.cls if spec.cls is not None else registry[spec.step]
