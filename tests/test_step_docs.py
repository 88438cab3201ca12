"""Every registered step explains itself: each parameter, annotation and drop reason has a description,
and ``thresher steps`` shows them with the allowed values and the right types."""
from __future__ import annotations

import ast
import importlib
import inspect
import re

import pytest

from thresher.pipelines.recipe.params import check_type, step_params
from thresher.pipelines.recipe.registry import (PARAM_CHOICES, STEPS, annotation_doc, describe_step, describe_steps, param_docs,
                                reason_doc)
from thresher.transforms.base import FilterStep
from thresher.transforms.filters.gopher_repetition import GopherRepetition

#: constructor arguments a step needs before it can be built at all
REQUIRED = {"decontaminate": {"benchmarks": ["items.jsonl"]}, "mix": {"weights": {"web": 1.0}}, "classifier": {"model": "model_dir"},
            "perplexity": {"models": {"en": {"lm": "en.arpa", "sp": "en.sp.model"}}}}
_SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")


def _string_constants(tree: ast.Module):
    return {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
            and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
            for t in n.targets if isinstance(t, ast.Name)}


def _returned(value: ast.expr, exact: set, patterns: set) -> None:
    """String literals in a returned expression (``X if c else None`` too); f-strings as regexes."""
    if isinstance(value, ast.JoinedStr):
        patterns.add("".join(re.escape(p.value) if isinstance(p, ast.Constant) else "[a-z0-9_]+"
                             for p in value.values))
    elif isinstance(value, ast.Constant) and isinstance(value.value, str):
        exact.add(value.value)
    elif isinstance(value, ast.IfExp):
        _returned(value.body, exact, patterns)
        _returned(value.orelse, exact, patterns)


def _own_imported_constants(tree: ast.Module, module) -> dict:
    """String constants the step's module imports from modules of its own package that register no
    step (a step split over files, e.g. minhash's records), by the name they are imported as."""
    package, found = module.__name__.rpartition(".")[0], {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ImportFrom) and node.module and node.module.rpartition(".")[0] == package):
            continue
        if any(c.__module__ == node.module for c in STEPS.values()):
            continue
        consts = _string_constants(ast.parse(inspect.getsource(importlib.import_module(node.module))))
        found.update({a.asname or a.name: consts[a.name] for a in node.names if a.name in consts})
    return found


def emitted_reasons(cls):
    """The drop reasons a step's source can produce: string literals and f-strings returned by its
    ``decide``/``process``, and module constants with reason-like values used in its code (the whole
    module when it registers one step, else the class only). f-strings come back as regexes."""
    module = inspect.getmodule(cls)
    tree = ast.parse(inspect.getsource(module))
    consts = _string_constants(tree)
    registered = [c for c in STEPS.values() if c.__module__ == cls.__module__]
    scope = tree if len(registered) == 1 else next(
        n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls.__name__)
    # a step split over modules of its own package (minhash: records) imports its reasons as constants
    # (those named like the step's reasons: minhash_..., not report keys such as unconverged_nodes)
    prefix = cls.name.split("_")[0] + "_"
    exact = {v for v in _own_imported_constants(tree, module).values() if v != cls.name and v.startswith(prefix)}
    patterns = set()
    for fn in ast.walk(scope):
        if not isinstance(fn, ast.FunctionDef):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in consts \
                    and consts[node.id] != cls.name:  # NAME = "minhash_dedup" names the step, not a reason
                exact.add(consts[node.id])
            if fn.name in ("decide", "process") and isinstance(node, ast.Return) and node.value is not None:
                _returned(node.value, exact, patterns)
    return {s for s in exact if _SNAKE.match(s)}, patterns


@pytest.mark.parametrize("name", sorted(STEPS))
def test_every_emitted_drop_reason_is_documented_and_every_documented_one_exists(name):
    cls = STEPS[name]
    exact, patterns = emitted_reasons(cls)
    documented = set(cls.DROP_REASONS)
    for reason in exact:
        assert reason_doc(name, reason), f"{name}: drop reason {reason!r} has no DROP_REASONS entry"
    for pattern in patterns:
        assert any(re.fullmatch(pattern, r.replace("{n}", "2")) for r in documented), (name, pattern)
    for reason in documented:
        concrete = reason.replace("{n}", "2")
        assert concrete in exact or any(re.fullmatch(p, concrete) for p in patterns), \
            f"{name}: documented reason {reason!r} is never produced"
        assert cls.DROP_REASONS[reason].strip() and "\n" not in cls.DROP_REASONS[reason]


def test_the_scan_finds_reasons_of_each_kind():
    """The source scan above sees constants, literals, f-strings and reasons passed to helpers."""
    assert emitted_reasons(STEPS["language"])[0] == {"language_not_kept", "language_low_score"}
    assert "gopher_too_few_stop_words" in emitted_reasons(STEPS["gopher_quality"])[0]
    assert "c4_badwords" not in emitted_reasons(STEPS["c4"])[0]  # a sibling class's reason
    assert emitted_reasons(STEPS["minhash_dedup"])[0] == {"minhash_duplicate", "minhash_reference_duplicate"}
    assert "gopher_top_[a-z0-9_]+_gram" in emitted_reasons(STEPS["gopher_repetition"])[1]


def test_gopher_repetition_reasons_for_every_statistic_are_documented():
    step = GopherRepetition(top_n_grams={2: 0.2, 7: 0.1}, dup_n_grams={5: 0.1, 11: 0.1})
    names = step._stat_names()
    for stat in names:
        stats = dict.fromkeys(names, 0.0)
        stats[stat] = 0.99
        reason = step.decide(stats)
        assert reason and reason_doc("gopher_repetition", reason), (stat, reason)
    assert reason_doc("gopher_repetition", "gopher_top_x_gram") is None
    assert reason_doc("gopher_repetition", "gopher_top_3_gram") == \
        "characters in the most frequent 3-gram above top_n_grams[3]"


def test_misleading_reasons_are_renamed():
    reasons = STEPS["gopher_quality"].DROP_REASONS
    assert "gopher_enough_stop_words" not in reasons and "fewer" in reasons["gopher_too_few_stop_words"]
    step = STEPS["gopher_quality"]()
    stats = {"words": 60, "mean_word_length": 5.0, "hash_ratio": 0, "ellipsis_ratio": 0, "bullet_lines_ratio": 0,
             "ellipsis_lines_ratio": 0, "alpha_words_ratio": 1.0}
    assert step.decide({**stats, "stop_words": 1}) == "gopher_too_few_stop_words"  # boundary: min_stop_words 2
    assert step.decide({**stats, "stop_words": 2}) is None


@pytest.mark.parametrize("name", sorted(STEPS))
def test_every_annotation_is_documented(name):
    cls = STEPS[name]
    for annotation in cls.ANNOTATIONS:
        text = annotation_doc(cls, annotation)
        assert text and "\n" not in text, f"{name}: annotation {annotation!r} has no ANNOTATION_DOCS entry"
    assert set(cls.ANNOTATION_DOCS) <= set(cls.ANNOTATIONS), f"{name}: documents annotations it never writes"


def test_filters_that_drop_declare_their_dry_run_annotation():
    """dry_run writes ``{name}_drop``: a filter that can drop lists (and so documents) it."""
    for name, cls in STEPS.items():
        if issubclass(cls, FilterStep):
            assert (f"{name}_drop" in cls.ANNOTATIONS) == bool(cls.DROP_REASONS), name


def test_copy_counts_cannot_be_misread():
    """datatrove's duplicate_count counts removed copies only: Thresher's names differ and say 'kept included'."""
    for name, annotation in (("exact_dedup", "exact_copies"), ("url_dedup", "url_copies"),
                             ("minhash_dedup", "cluster_size")):
        assert "duplicate_count" not in STEPS[name].ANNOTATIONS
        assert "kept one included" in annotation_doc(STEPS[name], annotation)


@pytest.mark.parametrize("name", sorted(STEPS))
def test_every_parameter_has_a_description(name):
    params, docs = step_params(STEPS[name]), param_docs(STEPS[name])
    missing = sorted(set(params) - set(docs))
    assert not missing, f"{name}: parameters without a 'name: description' docstring line: {missing}"
    assert all(len(docs[p]) > 10 for p in params)


@pytest.mark.parametrize("name", sorted(STEPS))
def test_a_null_default_is_allowed_by_the_type(name):
    for p in step_params(STEPS[name]).values():
        if not p.required and p.default is None:
            assert check_type(None, p.hint) is None, f"{name}.{p.name}: default None but typed {p.hint}"


def test_param_docs_reads_continuation_lines_and_base_classes():
    docs = param_docs(STEPS["gopher_quality"])
    assert docs["min_stop_words"] == "drop when fewer than this many words (occurrences, case-sensitive) " \
                                     "are in ``stop_words``."
    assert docs["dry_run"].startswith("annotate only and drop nothing")  # FilterStep's docstring
    assert param_docs(STEPS["minhash_dedup"])["rows"] == "minima per band."


@pytest.mark.parametrize("step, param", sorted(PARAM_CHOICES))
def test_choices_are_exactly_what_the_constructor_accepts(step, param):
    cls = STEPS[step]
    assert param in step_params(cls)
    for value in PARAM_CHOICES[(step, param)]:
        extra = {"priority_annotation": "score"} if value == "annotation" else {}
        cls(**REQUIRED.get(step, {}), **extra, **{param: value})
    with pytest.raises(ValueError):
        cls(**REQUIRED.get(step, {}), **{param: "no-such-value"})


def test_every_fixed_choice_parameter_is_listed():
    """A str parameter whose constructor refuses an unknown value naming the valid ones is in PARAM_CHOICES."""
    for name, cls in STEPS.items():
        for p in step_params(cls).values():
            if p.hint is not str:
                continue
            try:
                cls(**{**REQUIRED.get(name, {}), p.name: "no-such-value"})
            except ValueError as exc:
                if re.search(r"valid|one of|must be '", str(exc)):
                    assert (name, p.name) in PARAM_CHOICES, (name, p.name, str(exc))


def test_describe_shows_types_choices_annotations_and_reasons():
    lines = describe_step("url_dedup")
    text = "\n".join(lines)
    assert lines[0].startswith("url_dedup: Keep one document per normalised URL")
    assert "    priority: str (default \"newest\")\n        one of: newest, annotation, id_hash\n" in text
    assert "    priority_annotation: str or null (default null)" in text
    assert "    url_copies (int64): documents that had this normalised URL, the kept one included" in text
    assert "    url_duplicate: same normalised URL as the kept document" in text
    url_filter = "\n".join(describe_step("url_filter"))
    assert "banned_words_files: list[str] or null (default null)" in url_filter
    assert "drop reasons: none (never drops)" in "\n".join(describe_step("pii"))
    assert "(undocumented)" not in "\n".join(describe_steps())


def test_thresher_steps_prints_every_reason(capsys):
    from thresher.pipelines.commands import cli
    assert cli.main(["steps"]) == 0
    out = capsys.readouterr().out
    for name, cls in STEPS.items():
        assert f"\n{name}: " in "\n" + out
        for reason, text in cls.DROP_REASONS.items():
            assert f"    {reason}: {text}\n" in out
    assert "gopher_too_few_stop_words: fewer stop words than min_stop_words" in out
