"""The classifier step on tiny model folders the tests build (tests/tiny_models.py): scores against a
direct ONNX Runtime call, batch independence, truncation, outputs, decisions, preflight, the CLI end to
end; and, where torch is installed, the torch backend against transformers and ONNX."""
from __future__ import annotations

import json
import pathlib
import random
import sys

import numpy as np
import pytest
from apache_beam.ml.inference.base import PredictionResult

from tests.step_outputs import collect_outputs
from tests.tiny_models import onnx_graph, onnx_model_dir, torch_model_dir, write_tokenizer
from thresher.transforms.base import ERRORS, KEPT, REJECTED, SUMMARY, ParamError
from thresher.transforms.document import Document
from thresher.transforms.filters import classifier_model as cm
from thresher.transforms.filters.classifier import Classifier, _AttachFn
from thresher.transforms.filters.score_decision import DecideByScore

TEXTS = [
    "The river valley was settled by farmers who grew wheat and barley.",
    "Buy now! Click here for a free casino bonus.",
    "Students learn science and math at school; the teacher reads a book.",
    "Old bridge.",
    "The museum by the old road shows how the village market sold salt, fish and bread " * 12,
    "Children helped in the fields in the harvest season of the old village.",
    "cheap offer win",
    "x",
    "Water rose over the fields every spring, and the farmers were glad of it.",
]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {"regression": onnx_model_dir(root / "regression", ["score"], seed=1),
            "labels": onnx_model_dir(root / "labels", ["low", "medium", "high"], seed=2)}


def reference(model_dir: pathlib.Path, texts, max_tokens: int = 512) -> np.ndarray:
    """Logits from a direct ONNX Runtime session, one text at a time, truncated as the step truncates."""
    import onnxruntime
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.enable_truncation(max_length=max_tokens)
    session = onnxruntime.InferenceSession(str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    rows = []
    for text in texts:
        enc = tok.encode(text)
        feeds = {"input_ids": np.array([enc.ids], np.int64), "attention_mask": np.array([enc.attention_mask], np.int64),
                 "token_type_ids": np.array([enc.type_ids], np.int64)}
        rows.append(session.run(None, feeds)[0][0])
    return np.array(rows, np.float64)


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def docs_of(texts):
    return [Document(f"d{i}", t) for i, t in enumerate(texts)]


def run_step(step, docs):
    """(kept, rejected, errors, summaries) of ``step`` over ``docs``, collected from the pipeline."""
    out = collect_outputs(step, docs)
    return out[KEPT], out[REJECTED], out[ERRORS], out[SUMMARY]


def scores(docs, annotation="classifier_score"):
    return {d.id: d.annotations.get(annotation) for d in docs}


# ---------------------------------------------------------------- scores


def test_regression_scores_equal_a_direct_onnx_runtime_call(models):
    expected = reference(models["regression"], TEXTS)[:, 0]
    kept, rejected, errors, summary = run_step(Classifier(model=str(models["regression"])), docs_of(TEXTS))
    assert not rejected and not errors and len(kept) == len(TEXTS)
    got = scores(kept)
    np.testing.assert_allclose([got[f"d{i}"] for i in range(len(TEXTS))], expected, atol=1e-4, rtol=0)
    assert len(set(np.round(expected, 3))) == len(TEXTS)  # the texts really score differently
    assert summary == [{"kind": "quality", "scored": len(TEXTS), "unscored": 0}]


def test_label_probability_and_argmax_outputs(models):
    logits = reference(models["labels"], TEXTS)
    kept, _, _, _ = run_step(Classifier(model=str(models["labels"]), output="high", annotation="p_high"), docs_of(TEXTS))
    got = scores(kept, "p_high")
    np.testing.assert_allclose([got[f"d{i}"] for i in range(len(TEXTS))], softmax(logits)[:, 2], atol=1e-4, rtol=0)
    kept, _, _, _ = run_step(Classifier(model=str(models["labels"]), output="argmax", annotation="best"), docs_of(TEXTS))
    by_id = {d.id: d for d in kept}
    best = logits.argmax(axis=1)
    assert len(set(best)) > 1
    for i in range(len(TEXTS)):
        assert by_id[f"d{i}"].annotations["best"] == float(best[i])
        assert by_id[f"d{i}"].annotations["best_label"] == ["low", "medium", "high"][best[i]]


@pytest.mark.parametrize("batch_size,batch_tokens", [(1, None), (2, None), (3, 64), (32, 512), (32, None)])
def test_scores_do_not_depend_on_batch_size_or_order(models, batch_size, batch_tokens):
    expected = reference(models["regression"], TEXTS)[:, 0]
    docs = docs_of(TEXTS) * 3  # the same texts again, in other batches
    docs = [Document(f"{d.id}#{k}", d.text) for k, d in enumerate(docs)]
    random.Random(batch_size).shuffle(docs)
    kept, _, _, _ = run_step(Classifier(model=str(models["regression"]), batch_size=batch_size,
                                        batch_tokens=batch_tokens), docs)
    assert len(kept) == len(docs)
    for doc in kept:
        i = int(doc.id.split("#")[0][1:])
        assert abs(doc.annotations["classifier_score"] - expected[i]) < 1e-5, (doc.id, batch_size)


def test_batches_are_sorted_by_length_and_cut_by_rows_or_padded_tokens(models):
    tokenizer = cm.BatchTokenizer((models["regression"] / "tokenizer.json").read_text(), 512)
    encodings = tokenizer.encode(TEXTS)
    lengths = [len(e.ids) for e in encodings]
    batches = tokenizer.batches(encodings, batch_size=3, batch_tokens=60)
    assert sorted(i for rows, _ in batches for i in rows) == list(range(len(TEXTS)))
    order = [i for rows, _ in batches for i in rows]
    assert [lengths[i] for i in order] == sorted(lengths)
    for rows, array in batches:
        assert len(rows) <= 3 and array.shape == (3, len(rows), max(lengths[i] for i in rows))
        assert len(rows) == 1 or array.shape[1] * array.shape[2] <= 60
        assert array[1].sum() == sum(lengths[i] for i in rows)  # the attention mask covers the tokens only


def test_a_long_text_is_truncated_to_max_tokens(models):
    long = " ".join(["the river valley farmers grew wheat"] * 400)  # about 2,400 tokens
    truncated = reference(models["regression"], [long], max_tokens=16)[0, 0]
    whole = reference(models["regression"], [long], max_tokens=512)[0, 0]
    assert abs(truncated - whole) > 1e-3
    kept, _, errors, _ = run_step(Classifier(model=str(models["regression"]), max_tokens=16), docs_of([long]))
    assert not errors and abs(kept[0].annotations["classifier_score"] - truncated) < 1e-4
    kept, _, errors, _ = run_step(Classifier(model=str(models["regression"])), docs_of([long]))
    assert not errors and abs(kept[0].annotations["classifier_score"] - whole) < 1e-4


def test_empty_texts_are_unscored_counted_and_dropped_only_when_deciding(models):
    docs = docs_of(TEXTS[:3]) + [Document("empty", ""), Document("blank", " \n\t ")]
    kept, rejected, _, summary = run_step(Classifier(model=str(models["regression"])), docs)
    assert len(kept) == 5 and not rejected
    assert {d.id for d in kept if "classifier_score" in d.annotations} == {"d0", "d1", "d2"}
    assert summary == [{"kind": "quality", "scored": 3, "unscored": 2}]
    kept, rejected, _, summary = run_step(Classifier(model=str(models["regression"]), threshold=-1e9), docs)
    assert {d.id for d in kept} == {"d0", "d1", "d2"}
    assert {(d.id, d.annotations["drop_reason"]) for d in rejected} == {("empty", "classifier_no_text"),
                                                                      ("blank", "classifier_no_text")}
    assert summary == [{"kind": "quality", "threshold": -1e9, "scored": 3, "unscored": 2}]


# ---------------------------------------------------------------- decisions


def test_threshold_and_top_percent(models):
    expected = reference(models["regression"], TEXTS)[:, 0]
    cut = float(np.sort(expected)[3:5].mean())  # between the fourth and fifth lowest: five scores reach it
    kept, rejected, _, summary = run_step(Classifier(model=str(models["regression"]), threshold=cut), docs_of(TEXTS))
    assert {d.id for d in kept} == {f"d{i}" for i, s in enumerate(expected) if s >= cut}
    assert all(d.annotations["drop_reason"] == "classifier_low_score" for d in rejected)
    assert len(kept) + len(rejected) == len(TEXTS)
    kept, rejected, _, summary = run_step(Classifier(model=str(models["regression"]), top_percent=34.0), docs_of(TEXTS))
    top = set(np.argsort(-expected)[:4])  # ceil(9 * 0.34) = 4
    assert {d.id for d in kept} == {f"d{i}" for i in top}
    assert summary[0]["top_percent"] == 34.0 and abs(summary[0]["cutoff"] - np.sort(expected)[-4]) < 1e-4


def test_int_score_rounds_as_python_and_the_threshold_applies_to_it(models):
    step = Classifier(model=str(models["regression"]), annotation="edu_score", int_score=[0, 5], threshold=3)
    attach = _AttachFn(step)
    attach.setup()
    docs = docs_of(["a", "b", "c", "d", "e", "f"])
    logits = np.array([[2.5], [2.5000001], [3.5], [-1.0], [7.2], [2.4999]], np.float64)  # (float32 has no 2.5000001)
    out = list(attach.process((docs, PredictionResult(None, logits))))
    ints = [d.annotations["edu_score_int"] for d in out]
    assert ints == [2, 3, 4, 0, 5, 2]  # round(2.5) == 2 (Python rounds half to even), round(3.5) == 4
    assert step.written_annotations() == {"edu_score": "float64", "edu_score_int": "int64"}
    # end to end: the threshold applies to the int score
    expected = reference(models["regression"], TEXTS)[:, 0]
    as_int = [int(round(max(-2.0, min(s, 0.0)))) for s in expected]
    kept, rejected, _, _ = run_step(Classifier(model=str(models["regression"]), annotation="edu", int_score=[-2, 0],
                                               threshold=-1), docs_of(TEXTS))
    assert {d.id for d in kept} == {f"d{i}" for i, v in enumerate(as_int) if v >= -1}
    assert 0 < len(kept) < len(TEXTS)
    assert all(d.annotations["edu_int"] == as_int[int(d.id[1:])] for d in kept + rejected)


def test_a_failing_batch_becomes_error_records_not_a_failed_job(tmp_path):
    import onnx

    folder = tmp_path / "broken"
    folder.mkdir()
    write_tokenizer(folder)
    (folder / "config.json").write_text(json.dumps({"num_labels": 1, "id2label": {"0": "score"}}))
    onnx.save(onnx_graph(vocab_size=5, num_labels=1), str(folder / "model.onnx"))  # ids past 5: Gather fails
    kept, rejected, errors, summary = run_step(Classifier(model=str(folder), batch_size=2), docs_of(TEXTS[:4]))
    assert not kept and not rejected and len(errors) == 4
    assert {e["id"] for e in errors} == {"d0", "d1", "d2", "d3"} and all(e["step"] == "classifier" for e in errors)
    assert summary == [{"kind": "quality", "scored": 0, "unscored": 0}]


def scored_docs():
    """Ten documents scored 0..9 under ``s``, and two unscored."""
    return [Document(f"s{i}", "t", annotations={"s": float(i)}) for i in range(10)] + \
        [Document("u1", ""), Document("u2", "", annotations={"s": None})]


@pytest.mark.parametrize("params,kept_ids,summary", [
    ({"threshold": 7.0}, {"s7", "s8", "s9"}, {"threshold": 7.0}),
    ({"threshold": 2.0, "higher_is_better": False}, {"s0", "s1", "s2"}, {"threshold": 2.0}),
    ({"top_percent": 20.0}, {"s8", "s9"}, {"top_percent": 20.0, "cutoff": 8.0}),
    ({"top_percent": 30.0, "higher_is_better": False}, {"s0", "s1", "s2"}, {"top_percent": 30.0, "cutoff": 2.0}),
    ({"threshold": 8.0, "unscored_reason": None}, {"s8", "s9", "u1", "u2"}, {"threshold": 8.0}),
    ({}, {f"s{i}" for i in range(10)} | {"u1", "u2"}, {}),  # annotate only: all kept
])
def test_decide_by_score(params, kept_ids, summary):
    params = {"unscored_reason": "x_no_text", **params}
    kept, rejected, _, summaries = _decide(params)
    assert {d.id for d in kept} == kept_ids
    reasons = {d.id: d.annotations["drop_reason"] for d in rejected}
    assert set(reasons) == {d.id for d in scored_docs()} - kept_ids
    assert all(r == ("x_no_text" if i.startswith("u") else "x_low_score") for i, r in reasons.items())
    assert summaries == [{"kind": "k", **summary, "scored": 10, "unscored": 2}]


def _decide(params):
    out = collect_outputs(DecideByScore("x", "s", kind="k", **params), scored_docs(), (KEPT, REJECTED, SUMMARY))
    return out[KEPT], out[REJECTED], [], out[SUMMARY]


# ---------------------------------------------------------------- preflight


def preflight_error(**params) -> ParamError:
    with pytest.raises(ParamError) as err:
        Classifier(**params).preflight({})
    message = str(err.value)
    assert message and "\n" not in message and "Traceback" not in message
    return err.value


def test_preflight_errors_are_one_line(models, tmp_path, monkeypatch):
    assert "no such folder" in str(preflight_error(model=str(tmp_path / "nope")))
    for missing in ("tokenizer.json", "config.json"):
        folder = onnx_model_dir(tmp_path / missing, ["score"])
        (folder / missing).unlink()
        assert f"no {missing}" in str(preflight_error(model=str(folder)))
    err = preflight_error(model=str(models["labels"]), output="great")
    assert err.param == "output" and "'great' is not a label" in str(err) and "low, medium, high" in str(err)
    err = preflight_error(model=str(models["labels"]))  # regression by default, three labels
    assert err.param == "output" and "one output" in str(err)
    assert preflight_error(model=str(models["regression"]), backend="torch").param in ("backend", "model")
    assert preflight_error(model=str(models["regression"]), max_tokens=4096).param == "max_tokens"
    assert preflight_error(model=str(models["regression"]), half=True).param == "half"
    Classifier(model=str(models["labels"]), output="medium").preflight({})  # a good one passes
    monkeypatch.setattr(cm, "gpu_present", lambda: False)
    err = preflight_error(model=str(models["regression"]), device="cuda")
    assert err.param == "device" and "no CUDA GPU" in str(err)
    import onnxruntime

    monkeypatch.setattr(cm, "gpu_present", lambda: True)
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    err = preflight_error(model=str(models["regression"]), device="cuda")
    assert err.param == "device" and "pip install onnxruntime-gpu" in str(err)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as when it is not installed
    err = preflight_error(model=str(models["regression"]))
    assert err.param == "backend" and "pip install 'thresher[onnx]'" in str(err)


def test_hub_names_are_fetched_for_the_torch_backend(models, tmp_path, monkeypatch):
    import huggingface_hub

    assert cm.is_hub_name("HuggingFaceFW/fineweb-edu-classifier")
    assert not any(cm.is_hub_name(p) for p in (str(tmp_path), "gs://bucket/model", "a/../b", "model", "a/b/c"))
    assert cm.resolve(str(models["labels"])) == str(models["labels"])

    def offline(*args, **kwargs):
        raise OSError("no internet\nsecond line")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    err = preflight_error(model="someone/edu-classifier")
    assert err.param == "model" and "not reachable as a Hugging Face hub model (OSError: no internet)" in str(err)
    assert "backend torch" in str(preflight_error(model="someone/edu-classifier", backend="onnx"))
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *a, **k: str(models["labels"]))
    err = preflight_error(model="someone/edu-classifier", output="high")  # auto: torch for a hub model
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
        assert err.param == "model" and "model.safetensors" in str(err)  # the stand-in folder has model.onnx only
    except ImportError:
        assert err.param == "backend" and "pip install 'thresher[torch]'" in str(err)


def test_bad_parameters_name_themselves():
    for bad, param in [({"model": ""}, "model"), ({"annotation": "a b"}, "annotation"), ({"backend": "tf"}, "backend"),
                       ({"device": "tpu"}, "device"), ({"max_tokens": 1}, "max_tokens"), ({"batch_size": 0}, "batch_size"),
                       ({"batch_tokens": 0}, "batch_tokens"), ({"half": True, "device": "cpu"}, "half"),
                       ({"threshold": 1, "top_percent": 5}, "top_percent"), ({"top_percent": 0}, "top_percent"),
                       ({"int_score": [5, 0]}, "int_score"), ({"int_score": [0, 5], "output": "argmax"}, "int_score")]:
        with pytest.raises(ParamError) as err:
            Classifier(**{"model": "m", **bad})
        assert err.value.param == param and "\n" not in str(err.value)


# ---------------------------------------------------------------- CLI end to end


def test_cli_run_writes_scores_to_parquet_and_histogram_to_stats(models, tmp_path):
    import pyarrow.dataset as ds

    from thresher.pipelines.commands import cli

    src = tmp_path / "in"
    src.mkdir()
    texts = TEXTS + [""]
    with open(src / "part.jsonl", "w") as f:
        for i, text in enumerate(texts):
            f.write(json.dumps({"id": f"d{i}", "text": text}) + "\n")
    out = tmp_path / "out"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"version: 1\nname: classify\ninputs:\n  docs: {{paths: ['{src}/*.jsonl']}}\n"
                      f"steps:\n  - step: classifier\n    model: {models['regression']}\n    annotation: edu_score\n"
                      f"    int_score: [0, 5]\n    batch_size: 4\n"
                      f"output: {{path: {out}, rejected: true}}\n")
    assert cli.main(["run", str(recipe), "--workers", "1"]) == 0
    table = ds.dataset(str(out / "data"), format="parquet").to_table().to_pylist()
    expected = reference(models["regression"], TEXTS)[:, 0]
    assert len(table) == len(texts)
    for row in table:
        i = int(row["id"][1:])
        if texts[i]:
            assert abs(row["edu_score"] - expected[i]) < 1e-4
            assert row["edu_score_int"] == int(round(max(0, min(expected[i], 5))))
        else:
            assert row["edu_score"] is None and row["edu_score_int"] is None
    stats = json.loads((out / "stats.json").read_text())
    profile = stats["profile"]["edu_score"]
    assert profile["kind"] == "numeric" and profile["count"] == len(TEXTS)
    assert sum(profile["bins"].values()) == len(TEXTS) if isinstance(profile["bins"], dict) else True
    step = next(s for s in stats["steps"] if s.get("step") == "classifier" or s.get("name") == "classifier")
    assert step["summary"]["scored"] == len(TEXTS) and step["summary"]["unscored"] == 1
    card = "\n".join(p.read_text() for p in out.glob("*.md"))
    assert "edu_score" in card


# ---------------------------------------------------------------- torch backend (where torch is installed)


def test_torch_backend_equals_transformers_and_onnx_export(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    for labels, output in ((["score"], "regression"), (["bad", "good"], "good")):
        folder = torch_model_dir(tmp_path / output, labels, seed=3)
        model = AutoModelForSequenceClassification.from_pretrained(str(folder)).eval()
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        with torch.no_grad():
            logits = np.stack([model(**tokenizer(t, truncation=True, max_length=512, return_tensors="pt")).logits[0]
                               .numpy() for t in TEXTS]).astype(np.float64)
        want = logits[:, 0] if output == "regression" else softmax(logits)[:, 1]
        step = Classifier(model=str(folder), output=output, backend="torch", device="cpu", batch_size=4)
        step.preflight({})
        kept, _, errors, _ = run_step(step, docs_of(TEXTS))
        assert not errors
        got = scores(kept)
        np.testing.assert_allclose([got[f"d{i}"] for i in range(len(TEXTS))], want, atol=1e-4, rtol=0)

        # the same model exported to ONNX scores the same through the onnx backend
        example = tokenizer(["a b c", "the river"], padding=True, return_tensors="pt")
        torch.onnx.export(model, (example["input_ids"], example["attention_mask"], example["token_type_ids"]),
                          str(folder / "model.onnx"), input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["logits"], dynamo=False, opset_version=17,
                          dynamic_axes={n: {0: "batch", 1: "sequence"} for n in
                                        ("input_ids", "attention_mask", "token_type_ids")} | {"logits": {0: "batch"}})
        onnx_kept, _, errors, _ = run_step(Classifier(model=str(folder), output=output, backend="onnx", batch_size=4),
                                           docs_of(TEXTS))
        assert not errors
        via_onnx = scores(onnx_kept)
        np.testing.assert_allclose([via_onnx[f"d{i}"] for i in range(len(TEXTS))], want, atol=1e-4, rtol=0)
