"""The checks before a run (``check_before_run``): every problem of the run a recipe describes,
listed in one ``RecipeError`` before any pipeline is built: input files match and hold the
declared format, the output directory can be written, the token shards' tokenizer (``output.tokens``),
each step's ``preflight``, and the annotations a step or ``output.order_by`` reads are written by an
earlier step."""
from __future__ import annotations

import inspect
import os
from typing import Any, Dict, List, Tuple

from thresher.pipelines.recipe.params import choices, param_where
from thresher.pipelines.recipe.plugins import step_class
from thresher.pipelines.recipe.schema import Recipe, RecipeError

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


SHARD_PATTERNS = ("*.bin", "*.idx", "*.ds")  # what token shard files are named


def _tokens_problems(recipe: Recipe) -> List[RecipeError]:
    """``output.tokens``: the tokenizer file loads with ``tokenizers``, has the EOS token when ``eos``,
    its vocabulary fits ``dtype``; the annotations named exist; ``OUT/tokens`` holds no shards of
    something other than a Thresher run."""
    tokens = recipe.output.tokens
    if tokens is None:
        return []
    from thresher.transforms.preflight import check_path
    from thresher.transforms.text.tokens import eos_id, load_tokenizer, token_dtype

    where = "output.tokens"
    problems: List[RecipeError] = []
    missing = check_path("tokenizer", tokens.tokenizer, "a Hugging Face tokenizer.json")
    tokenizer = None
    if missing:
        problems.append(RecipeError(recipe.file, f"{where}.tokenizer", str(missing)))
    else:
        try:
            tokenizer = load_tokenizer(tokens.tokenizer)
        except Exception as exc:
            problems.append(RecipeError(recipe.file, f"{where}.tokenizer", (
                f"cannot load {tokens.tokenizer!r} with the tokenizers library (expected a Hugging Face "
                f"tokenizer.json): {_message(exc).splitlines()[0] if str(exc) else type(exc).__name__}")))
    if tokenizer is not None:
        for param, check in (("eos_token", lambda: eos_id(tokenizer, tokens.eos_token) if tokens.eos else None),
                             ("dtype", lambda: token_dtype(tokens.format, tokenizer.get_vocab_size(
                                 with_added_tokens=True), tokens.dtype))):
            try:
                check()
            except Exception as exc:
                problems.append(RecipeError(recipe.file, f"{where}.{getattr(exc, 'param', None) or param}",
                                            _message(exc)))
    if tokens.annotations:
        from thresher.pipelines.run.columns import declared_annotations
        declared = declared_annotations(recipe)
        for name in tokens.annotations:
            if name not in declared:
                problems.append(RecipeError(recipe.file, f"{where}.annotations", (
                    f"annotation {name!r} is written by no source or step of this recipe" + choices(name, declared))))
    return problems + _foreign_shards(recipe)


def _foreign_shards(recipe: Recipe) -> List[RecipeError]:
    """``OUT/tokens`` holding shard files while OUT holds no Thresher run (no lock, stats or _RUNNING):
    they would be mixed with, or replaced by, this run's."""
    from apache_beam.io.filesystems import FileSystems

    from thresher.pipelines.report.stats import RUNNING_MARKER, STATS_FILE
    root = recipe.output.path
    try:
        if any(FileSystems.exists(FileSystems.join(root, name))
               for name in ("recipe.lock.yaml", STATS_FILE, RUNNING_MARKER)):
            return []
        folder = FileSystems.join(root, "tokens")
        found = [m.path for r in FileSystems.match([FileSystems.join(folder, p) for p in SHARD_PATTERNS])
                 for m in r.metadata_list]
    except Exception:  # an unreadable output is the run's error to report
        return []
    if not found:
        return []
    return [RecipeError(recipe.file, "output.path", (
        f"{FileSystems.join(root, 'tokens')} holds token shards not written by a Thresher run "
        f"({len(found)} file(s), e.g. {sorted(found)[0]}); choose another output.path or remove them"))]


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
    from thresher.pipelines.run.columns import SOURCE_ANNOTATIONS  # the readers' own annotations

    problems = []
    written: Dict[str, str] = dict(SOURCE_ANNOTATIONS)
    for spec, step in zip(recipe.steps, steps):
        where = f"steps[{spec.index}] ({spec.step})"
        for name, param in read_annotations(step).items():
            if name not in written:
                problems.append(RecipeError(recipe.file, f"{where}.{param}", (
                    f"annotation {name!r} is written by no earlier step" + choices(name, written))))
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
                + choices(out.order_by, numeric))))
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
            problems.append(RecipeError(recipe.file, param_where(where, exc), _message(exc)))
        steps.append(step)
    return problems, steps


def find_problems(recipe: Recipe, registry: Dict[str, type]) -> List[RecipeError]:
    """Every problem found before a pipeline is built, in recipe order: inputs (files match and hold
    the declared format), the output directory, each step's preflight (files it names, values
    against what they refer to), and annotations read by a step or ``output.order_by`` that no
    earlier step writes."""
    problems = _input_problems(recipe) + _output_problems(recipe) + _tokens_problems(recipe)
    step_problems, steps = _step_problems(recipe, registry)
    return problems + step_problems + _annotation_problems(recipe, steps)


def check_before_run(recipe: Recipe, registry: Dict[str, type]) -> None:
    """``find_problems``, raised as one RecipeError listing them all (``thresher validate`` and
    ``thresher run`` both call it before building anything)."""
    problems = find_problems(recipe, registry)
    if problems:
        raise RecipeError.several(problems)
