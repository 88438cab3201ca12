"""The step contract, for every registered step: a bad parameter raises ``ParamError`` naming it (also
through the recipe loader, as ``steps[0] (step).param``), and the annotations a step declares
(``written_annotations()``) are exactly those the documents it keeps carry."""
from __future__ import annotations

import json
from typing import Dict, List

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that

from tests.conftest import local_pipeline, require_lid_model
from thresher.pipelines.recipe.model import parse_recipe
from thresher.pipelines.recipe.schema import RecipeError
from thresher.pipelines.recipe.registry import STEPS
from thresher.transforms.base import KEPT, REJECTED, DocumentStep, FilterStep, ParamError
from thresher.transforms.document import Document

# ---------------------------------------------------------------- parameters

#: step -> parameters every constructor call needs (required ones, or a value the step cannot default)
REQUIRED = {
    "c4_badwords": {"wordlist_dir": "wordlists"},
    "decontaminate": {"benchmarks": ["gsm8k.jsonl"]},
    "mix": {"weights": {"web": 1.0}, "budget_documents": 10},
    "quality_model": {"model_path": "model.bin"},
    "perplexity": {"models": {"en": {"lm": "en.arpa", "sp": "en.sp.model"}}},
    "classifier": {"model": "model_dir"},
}

#: (step, bad parameters, the parameter the error names): at least one per registered step
BAD_PARAMS = [
    ("url_filter", {"soft_word_threshold": 0}, "soft_word_threshold"),
    ("extract", {"extractor": "nope"}, "extractor"),
    ("extract", {"max_html_bytes": 0}, "max_html_bytes"),
    ("extract", {"timeout_s": -1.0}, "timeout_s"),
    ("language", {"min_score": 1.5}, "min_score"),
    ("language", {"languages": [""]}, "languages"),
    ("language", {"languages": ["en"], "min_scores": {"de": 0.5}}, "min_scores"),
    ("language", {"languages": ["en"], "min_scores": {"en": 2.0}}, "min_scores"),
    ("language", {"languages": ["yue"]}, "languages"),
    ("gopher_repetition", {"dup_line_frac": -0.1}, "dup_line_frac"),
    ("gopher_repetition", {"top_n_grams": {0: 0.2}}, "top_n_grams"),
    ("gopher_repetition", {"ngram_method": "nope"}, "ngram_method"),
    ("gopher_quality", {"min_doc_words": -1}, "min_doc_words"),
    ("gopher_quality", {"stop_words": ["two words"]}, "stop_words"),
    ("gopher_quality", {"bullets": [""]}, "bullets"),
    ("c4", {"max_word_length": -2}, "max_word_length"),
    ("c4", {"end_marks": [""]}, "end_marks"),
    ("c4_badwords", {"keep_fraction": 1.5}, "keep_fraction"),
    ("c4_badwords", {"english_file": "a/b"}, "english_file"),
    ("fineweb_quality", {"line_punct_thr": -1.0}, "line_punct_thr"),
    ("fineweb_quality", {"stop_chars": []}, "stop_chars"),
    ("refinedweb", {"max_uppercase_ratio": 2.0}, "max_uppercase_ratio"),
    ("refinedweb", {"min_words_per_line": -1}, "min_words_per_line"),
    ("refinedweb", {"max_substring_line_words": -1}, "max_substring_line_words"),
    ("normalize", {"unicode_form": "NFX"}, "unicode_form"),
    ("normalize", {"max_consecutive_newlines": -1}, "max_consecutive_newlines"),
    ("pii", {"email_replacements": []}, "email_replacements"),
    ("quality_model", {"model_path": ""}, "model_path"),
    ("quality_model", {"threshold": 1.5}, "threshold"),
    ("quality_model", {"top_percent": 0.0}, "top_percent"),
    ("perplexity", {"models": {"en": {"lm": "en.arpa"}}}, "models"),
    ("perplexity", {"max_perplexity": 0}, "max_perplexity"),
    ("perplexity", {"cutoffs": {"de": [10.0, 20.0]}}, "cutoffs"),
    ("perplexity", {"keep_buckets": ["head"]}, "keep_buckets"),
    ("classifier", {"model": ""}, "model"),
    ("classifier", {"output": ""}, "output"),
    ("classifier", {"backend": "tf"}, "backend"),
    ("classifier", {"device": "tpu"}, "device"),
    ("classifier", {"batch_size": 0}, "batch_size"),
    ("classifier", {"int_score": [5, 0]}, "int_score"),
    ("url_dedup", {"priority": "oldest"}, "priority"),
    ("url_dedup", {"priority": "annotation"}, "priority_annotation"),
    ("url_dedup", {"tracking_params": [""]}, "tracking_params"),
    ("exact_dedup", {"normalize": "nope"}, "normalize"),
    ("exact_dedup", {"priority": "nope"}, "priority"),
    ("line_dedup", {"unit": "paragraph"}, "unit"),
    ("line_dedup", {"min_sentences": -1}, "min_sentences"),
    ("line_dedup", {"min_words": -1}, "min_words"),
    ("minhash_dedup", {"bands": 0}, "bands"),
    ("minhash_dedup", {"max_rounds": 0}, "max_rounds"),
    ("minhash_dedup", {"threshold": 1.5}, "threshold"),
    ("minhash_dedup", {"priority": "nope"}, "priority"),
    ("decontaminate", {"ngram": 0}, "ngram"),
    ("decontaminate", {"action": "nope"}, "action"),
    ("mix", {"weights": {"web": -1.0}}, "weights"),
    ("mix", {"budget_documents": 0}, "budget_documents"),
    ("mix", {"seed": -1}, "seed"),
]

#: registered steps none of whose parameters has a value its constructor refuses (every value of
#: the right type is valid): none today. A step listed here is exempt from the check below.
NO_CHECKABLE_PARAMETER: List[str] = []


def test_every_registered_step_has_a_bad_parameter_case():
    covered = {step for step, _, _ in BAD_PARAMS}
    assert covered | set(NO_CHECKABLE_PARAMETER) == set(STEPS), set(STEPS) - covered
    assert not covered & set(NO_CHECKABLE_PARAMETER)


@pytest.mark.parametrize("step,bad,param", BAD_PARAMS, ids=[f"{s}.{p}" for s, _, p in BAD_PARAMS])
def test_bad_parameter_raises_param_error_naming_it(step, bad, param):
    cls = STEPS[step]
    cls(**REQUIRED.get(step, {}))  # the same step with only the required values is fine
    with pytest.raises(ParamError) as err:
        cls(**{**REQUIRED.get(step, {}), **bad})
    assert err.value.param == param
    assert str(err.value)


@pytest.mark.parametrize("step,bad,param", BAD_PARAMS, ids=[f"{s}.{p}" for s, _, p in BAD_PARAMS])
def test_recipe_loader_names_the_step_and_parameter(step, bad, param):
    recipe = {"version": 1, "inputs": {"web": {"paths": ["in/*.jsonl"], "format": "jsonl"}},
              "steps": [{"step": step, **REQUIRED.get(step, {}), **bad}], "output": {"path": "out"}}
    with pytest.raises(RecipeError) as err:
        parse_recipe(recipe, "recipe.yaml", STEPS)
    assert err.value.where == f"steps[0] ({step}).{param}"


# ---------------------------------------------------------------- annotations

GOOD = """The river valley was settled by farmers who grew wheat and barley along the fertile banks.
Every spring the water rose and covered the low fields with a thin layer of rich silt.
Children helped their parents to carry baskets of grain from the fields to the stone barns.
In the autumn the village held a market where traders from the coast sold salt and fish.
Historians have studied the old records of that market to learn how prices changed over time.
The records show that a poor harvest could double the price of bread within a single season.
Most families kept a small garden with beans, onions and herbs that they used in daily meals.
Today the valley is known for its quiet roads, old bridges and the long walking path by the river."""

SECOND = """A small museum near the old bridge keeps tools, letters and maps from the early farms.
Visitors can read how the first families built their houses from wood and river stones.
The museum also shows how the markets grew when a new road reached the valley from the coast.
Teachers bring their classes there each year to learn about the history of the region.
A volunteer guide explains how the mill worked and why it closed after the great flood.
The gardens behind the museum grow the same beans and herbs that the farmers once grew."""

BAD = [
    "Buy now!!! Buy now!!! Buy now!!!",
    "CLICK HERE\nCLICK HERE\nCLICK HERE\nCLICK HERE\nCLICK HERE",
    GOOD + "\nThis line holds a badword in it and ends with a full stop.",
    "1234 5678 9012\n{ var x = 1; }\nlorem ipsum dolor sit amet",
]


def html(text: str) -> str:
    body = "".join(f"<p>{line}</p>" for line in text.splitlines())
    return f"<html><head><title>Valley</title></head><body><main><article>{body}</article></main></body></html>"


def documents() -> List[Document]:
    docs = [Document("good", GOOD, url="https://example.org/valley", source="web", date="2024-01-01"),
            Document("second", SECOND, url="https://example.org/museum", source="web", date="2024-01-02"),
            Document("contact", GOOD.replace("fish.", "fish, write to anna.smith@mail.example.com or call 8.8.8.8."),
                     url="https://example.org/contact", source="web"),
            Document("copy", GOOD, url="https://example.org/valley?utm_source=x", source="web", date="2023-01-01")]
    docs += [Document(f"bad{i}", text, url=f"https://example.org/casino-{i}", source="web") for i, text in enumerate(BAD)]
    return docs


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> Dict[str, str]:
    """Tiny files the steps read: a bad-words list, a benchmark and a quality model."""
    root = tmp_path_factory.mktemp("contract")
    (root / "wordlists").mkdir()
    (root / "wordlists" / "en.c4-commit-25e679f").write_text("badword\n")
    gsm8k = root / "gsm8k.jsonl"
    question = " ".join(GOOD.split()[:30])
    gsm8k.write_text(json.dumps({"question": question, "answer": "#### 4"}) + "\n"
                     + json.dumps({"question": "How many apples are left when Tom eats two of five?",
                                   "answer": "#### 3"}) + "\n")
    import fasttext

    from thresher.pipelines.commands.train_quality import zeroed_allocations

    train = root / "train.txt"
    lines = [f"__label__hq {line}" for line in (GOOD + "\n" + SECOND).splitlines()] * 5
    lines += [f"__label__cc {text}" for text in ("buy now cheap", "click here win", "casino bonus free")] * 15
    train.write_text("\n".join(lines) + "\n")
    with zeroed_allocations():  # as train-quality trains (fastText reads memory it never wrote)
        model = fasttext.train_supervised(input=str(train), dim=16, epoch=5, minCount=1, bucket=20000, thread=1,
                                          verbose=0)
    model.save_model(str(root / "quality.bin"))
    from tests.tiny_lm import build_lm

    lm = build_lm(root / "lm", [GOOD, SECOND])
    from tests.tiny_models import onnx_model_dir

    classifier = onnx_model_dir(root / "classifier", ["low", "high"])
    return {"wordlist_dir": str(root / "wordlists"), "benchmark": str(gsm8k), "model": str(root / "quality.bin"),
            "lm": lm,
            "classifier": str(classifier)}


def document_configs(assets) -> Dict[str, List[dict]]:
    """Step -> the configurations whose kept documents are checked, for every document step."""
    filters = [{"annotate": True}, {"dry_run": True}, {}]
    return {
        "url_filter": [{"banned_words": ["casino"], **c} for c in filters],
        "extract": [{}],
        "language": [{}],
        "gopher_repetition": filters,
        "gopher_quality": filters,
        "c4": filters,
        "c4_badwords": [{"wordlist_dir": assets["wordlist_dir"], **c} for c in filters],
        "fineweb_quality": filters,
        "refinedweb": filters,
        "normalize": [{}],
        "pii": [{"redact_phones": True, **c} for c in filters],
    }


def composite_configs(assets) -> Dict[str, List[dict]]:
    """Step -> the configurations run through a pipeline, for every step that is not a document step."""
    return {
        "quality_model": [{"model_path": assets["model"]}, {"model_path": assets["model"], "threshold": 0.5}],
        "perplexity": [{"models": {"en": assets["lm"]}, "default_language": "en"},
                       {"models": {"en": assets["lm"]}, "default_language": "en", "cutoffs": {"en": [10.0, 50.0]},
                        "keep_buckets": ["head", "middle"]}],
        "classifier": [{"model": assets["classifier"], "output": "argmax"},
                       {"model": assets["classifier"], "output": "high", "int_score": [0, 1], "threshold": 0}],
        "url_dedup": [{}],
        "exact_dedup": [{}],
        "line_dedup": [{}, {"unit": "sentences3"}],
        "minhash_dedup": [{}, {"verify": False}],
        "decontaminate": [{"benchmarks": [assets["benchmark"]], "ngram": 8},
                          {"benchmarks": [assets["benchmark"]], "ngram": 8, "action": "annotate"}],
        "mix": [{"weights": {"web": 1.0}, "budget_documents": 4}, {"weights": {"web": 1.0}, "budget_documents": 30}],
    }


def test_every_registered_step_is_run(assets):
    document, composite = document_configs(assets), composite_configs(assets)
    assert set(document) | set(composite) == set(STEPS) and not set(document) & set(composite)
    for name in document:
        assert issubclass(STEPS[name], DocumentStep), name
    for name in composite:
        assert not issubclass(STEPS[name], DocumentStep), name


def _input(name: str) -> List[Document]:
    docs = documents()
    if name == "extract":
        return [Document(d.id, html(d.text), url=d.url) for d in docs]
    return docs


def _check_kept(name: str, step, kept: List[Document], inputs: Dict[str, Document], would_drop=None):
    """Each kept document carries what ``written_annotations()`` declares, no more and no less
    (``{name}_drop`` only on the documents a dry run would have dropped)."""
    written = set(step.written_annotations())
    drop = f"{name}_drop"
    assert kept, f"{name}: no document kept; the check needs some"
    for doc in kept:
        before = set(inputs[doc.id.split("#")[0]].annotations)
        added = set(doc.annotations) - before
        expected = set(written)
        if getattr(step, "dry_run", False) and would_drop is not None and not would_drop(doc.id):
            expected.discard(drop)
        assert added == expected, (name, doc.id, sorted(added ^ expected))


@pytest.mark.parametrize("name", ["url_filter", "extract", "language", "gopher_repetition", "gopher_quality", "c4",
                                  "c4_badwords", "fineweb_quality", "refinedweb", "normalize", "pii"])
def test_document_step_writes_what_it_declares(name, assets):
    if name == "language":
        require_lid_model()
    for params in document_configs(assets)[name]:
        step = STEPS[name](**params)
        step.setup()
        docs = _input(name)
        inputs = {d.id: d for d in docs}
        outcomes = {d.id: step.process(d) for d in docs}
        kept = [out for out in outcomes.values() if not isinstance(out, str)]
        would_drop = None
        if isinstance(step, FilterStep) and step.dry_run:
            strict = STEPS[name](**{k: v for k, v in params.items() if k != "dry_run"})
            strict.setup()
            dropped = {d.id for d in docs if isinstance(strict.process(d), str)}
            if step.DROP_REASONS:
                assert dropped, f"{name}: no crafted document exercises a drop"
            would_drop = dropped.__contains__
        _check_kept(name, step, kept, inputs, would_drop)


def test_composite_steps_write_what_they_declare(assets):
    docs = documents()
    inputs = {d.id: d for d in docs}
    with local_pipeline() as p:
        source = p | "docs" >> beam.Create(docs)
        for name, configs in composite_configs(assets).items():
            for i, params in enumerate(configs):
                step = STEPS[name](**params)
                out = source | f"{name} {i}" >> step

                def check(kept, name=name, step=step):
                    _check_kept(name, step, list(kept), inputs)

                assert_that(out[KEPT], check, label=f"check {name} {i}")
                rejected_annotations = getattr(step, "rejected_annotations", None)
                if callable(rejected_annotations) and getattr(step, "action", "drop") == "drop":
                    # what it writes on every document, what only on those it drops, and why it dropped them
                    declared = (set(step.written_annotations()) | set(rejected_annotations())
                                | {"drop_step", "drop_reason"})

                    def check_rejected(dropped, name=name, declared=declared):
                        dropped = list(dropped)
                        assert dropped, f"{name}: no crafted document is dropped; the check needs some"
                        for doc in dropped:
                            added = set(doc.annotations) - set(inputs[doc.id].annotations)
                            assert added == declared, (name, doc.id, sorted(added ^ declared))

                    assert_that(out[REJECTED], check_rejected, label=f"check rejected {name} {i}")
