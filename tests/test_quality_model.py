"""Quality model: train-quality on synthetic classes, DCLM's scoring rule, the step's three modes."""
from __future__ import annotations

import argparse
import json
import math
import random

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.pvalue import TaggedOutput
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.stats import ApproximateQuantilesCombineFn

from thresher.pipelines.commands import train_quality
from thresher.pipelines.commands.train_quality import roc_auc
from tests.conftest import local_pipeline
from tests.gcs_emulator import gcs  # noqa: F401 (a fixture)
from thresher.transforms.base import ERRORS, KEPT, REJECTED, SUMMARY, ParamError
from thresher.transforms.document import Document
from thresher.transforms.filters.quality_model import (LOW_SCORE, QUANTILE_EPSILON, QUANTILE_STEPS, FastTextClassifier, QualityModel,
                                      _ScoreFn, cutoff_from_quantiles, quality_text)

SUBJECTS = ["the protein", "each cell", "the telescope", "a glacier", "the enzyme", "the neutron star",
            "the river delta", "this alloy", "the bacterium", "the magnetic field", "the catalyst", "a comet"]
VERBS = ["absorbs", "regulates", "reflects", "measures", "transports", "accelerates", "stabilises", "emits"]
OBJECTS = ["infrared light", "cellular energy", "ocean heat", "charged particles", "dissolved oxygen",
           "the reaction rate", "seismic waves", "its own mass", "genetic material", "cosmic radiation"]
CLAUSES = ["under high pressure", "over geological time", "in controlled experiments", "at low temperatures",
           "according to recent studies", "as the data suggest", "within a narrow range"]
SPAM = ["click here", "buy now", "free shipping", "best price", "home", "login", "contact us", "casino bonus",
        "cheap pills", "subscribe", "100% free", "limited offer", "sign up", "copyright 2024 all rights reserved"]


def science_sentence(rng: random.Random) -> str:
    return f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(CLAUSES)}."


def spam_line(rng: random.Random) -> str:
    links = " | ".join(f"{rng.choice(SPAM)} http://www.{rng.choice(SPAM).split()[0]}{rng.randrange(999)}.example.com"
                       for _ in range(rng.randrange(3, 7)))
    return links + " " + "!" * rng.randrange(1, 4)


def science_doc(rng: random.Random) -> str:
    return "\n".join(" ".join(science_sentence(rng) for _ in range(rng.randrange(2, 4)))
                     for _ in range(rng.randrange(1, 4)))


def spam_doc(rng: random.Random) -> str:
    return " ".join(spam_line(rng) for _ in range(rng.randrange(1, 4)))


def train_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    train_quality.add_arguments(parser)
    return parser.parse_args(list(argv))


FAST = ["--dim", "16", "--bucket", "20000", "--epoch", "5", "--thread", "1", "--verbose", "0"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model trained by train-quality: 300 science documents (JSONL) against 300 spam documents (.txt)."""
    root = tmp_path_factory.mktemp("quality")
    rng = random.Random(7)
    with open(root / "hq.jsonl", "w") as f:
        for i in range(300):
            f.write(json.dumps({"id": f"hq{i}", "text": science_doc(rng)}) + "\n")
        f.write(json.dumps({"id": "blank", "text": " \n "}) + "\n")  # empty after normalisation: skipped
    with open(root / "cc.txt", "w") as f:
        f.write("\n".join(spam_doc(rng) for _ in range(300)) + "\n\n")
    out = root / "models" / "quality.bin"
    code = train_quality.run(train_args("--positive", str(root / "hq.jsonl"), "--negative", str(root / "cc.txt"),
                                        "--out", str(out), "--validation-fraction", "0.2", *FAST))
    assert code == 0
    return out


# ---------------------------------------------------------------- normalisation and metrics

def test_quality_text_is_dclm_line_joining():
    assert quality_text("a\nb") == "a b"
    assert quality_text("  a\r\nb\n\n c ") == "a b   c"  # stripped, lines joined, inner spaces kept
    assert quality_text("x\u2028y\x0bz\x85w") == "x y z w"  # every str.splitlines break
    assert quality_text("Tab\tStays CASE") == "Tab\tStays CASE"
    assert quality_text("") == "" and quality_text(" \n\t ") == ""
    assert quality_text("中文\n文本") == "中文 文本"
    assert quality_text(quality_text("a\n\nb ")) == quality_text("a\n\nb ")  # idempotent


def test_roc_auc_rank_based_with_ties():
    assert roc_auc(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.3, 0.1])) == 0.75  # 3 of 4 pairs ordered
    assert roc_auc(np.array([1, 1, 0]), np.array([0.9, 0.8, 0.1])) == 1.0
    assert roc_auc(np.array([0, 1]), np.array([0.9, 0.1])) == 0.0
    assert roc_auc(np.array([1, 0]), np.array([0.5, 0.5])) == 0.5  # a tie counts half
    assert roc_auc(np.array([1, 0, 0]), np.array([0.5, 0.5, 0.1])) == 0.75
    assert roc_auc(np.array([1, 1]), np.array([0.2, 0.3])) is None  # one class only


def beam_quantiles(scores, parts=1):
    """Beam's approximate quantiles of ``scores`` as the step computes them (``parts`` bundles merged)."""
    combine = ApproximateQuantilesCombineFn.create(QUANTILE_STEPS + 1, epsilon=QUANTILE_EPSILON)
    accumulators = []
    for part in range(parts):
        acc = combine.create_accumulator()
        for s in scores[part::parts]:
            acc = combine.add_input(acc, float(s))
        accumulators.append(acc)
    return combine.extract_output(combine.merge_accumulators(accumulators))


def test_cutoff_exact_up_to_the_quantile_grid():
    scores = [i / 100 for i in range(20)]
    quantiles = beam_quantiles(scores, parts=3)
    assert len(quantiles) == QUANTILE_STEPS + 1  # always Q + 1 values, repeated for small inputs
    assert cutoff_from_quantiles(quantiles, 10.0, 20) == 0.18  # top ceil(2.0) kept
    assert cutoff_from_quantiles(quantiles, 7.0, 20) == 0.18  # ceil(1.4) = 2
    assert cutoff_from_quantiles(quantiles, 5.0, 20) == 0.19
    assert cutoff_from_quantiles(quantiles, 100.0, 20) == 0.0
    assert cutoff_from_quantiles(quantiles, 0.001, 20) == 0.19  # at least one kept
    assert cutoff_from_quantiles(beam_quantiles([0.5]), 10.0, 1) == 0.5
    assert cutoff_from_quantiles([], 10.0, 0) is None
    rng = random.Random(4)
    values = [rng.random() for _ in range(QUANTILE_STEPS + 1)]
    quantiles = beam_quantiles(values, parts=2)
    for percent in (50.0, 10.0, 0.1):
        cut = cutoff_from_quantiles(quantiles, percent, len(values))
        assert sum(v >= cut for v in values) == math.ceil(len(values) * percent / 100 - 1e-9)


def test_cutoff_from_approximate_quantiles_within_bound():
    rng = np.random.default_rng(3)
    scores = rng.beta(0.5, 3.0, size=60_000)
    quantiles = beam_quantiles(scores, parts=4)
    for percent in (10.0, 1.0, 50.0, 100.0):
        kept = float(np.mean(scores >= cutoff_from_quantiles(quantiles, percent, len(scores))))
        assert abs(kept - percent / 100) <= QUANTILE_EPSILON + 1 / QUANTILE_STEPS


# ---------------------------------------------------------------- train-quality

def test_train_quality_writes_model_and_metrics(trained):
    report = json.loads((trained.parent / "quality.bin.metrics.json").read_text())
    counts = report["counts"]
    assert counts["hq"]["train"] + counts["hq"]["validation"] == 300 and counts["hq"]["empty"] == 1
    assert counts["cc"]["train"] + counts["cc"]["validation"] == 300
    assert 30 < counts["hq"]["validation"] < 90 and 30 < counts["cc"]["validation"] < 90
    assert report["fasttext"]["wordNgrams"] == 2 and report["fasttext"]["dim"] == 16
    assert report["labels"] == {"positive": "__label__hq", "negative": "__label__cc"}
    metrics = report["validation"]
    assert metrics["documents"] == counts["hq"]["validation"] + counts["cc"]["validation"]
    assert metrics["roc_auc"] > 0.95 and metrics["f1"] > 0.9
    model = FastTextClassifier(str(trained))
    rng = random.Random(99)
    assert model.score(science_doc(rng), "__label__hq") > 0.5 > model.score(spam_doc(rng), "__label__hq")


def test_train_quality_usage_errors(tmp_path, capsys):
    (tmp_path / "hq.txt").write_text("one good document\n")
    (tmp_path / "blank.txt").write_text("\n  \n")
    out = str(tmp_path / "m.bin")
    assert train_quality.run(train_args("--positive", str(tmp_path / "nothing*.jsonl"),
                                        "--negative", str(tmp_path / "hq.txt"), "--out", out)) == 2
    assert "no file matches" in capsys.readouterr().err
    assert train_quality.run(train_args("--positive", str(tmp_path / "hq.txt"),
                                        "--negative", str(tmp_path / "blank.txt"), "--out", out)) == 2
    assert "class 'cc' has no documents" in capsys.readouterr().err
    assert train_quality.run(train_args("--positive", str(tmp_path / "hq.txt"), "--negative", str(tmp_path / "hq.txt"),
                                        "--out", out, "--validation-fraction", "1")) == 2
    assert train_quality.run(train_args("--positive", str(tmp_path / "hq.txt"), "--negative", str(tmp_path / "hq.txt"),
                                        "--out", out, "--validation-fraction", "0.999999")) == 2
    assert "no training document (all 1 held out)" in capsys.readouterr().err
    (tmp_path / "x.csv").write_text("a,b\n")
    assert train_quality.run(train_args("--positive", str(tmp_path / "x.csv"),
                                        "--negative", str(tmp_path / "hq.txt"), "--out", out)) == 2
    assert "cannot tell the format" in capsys.readouterr().err


def test_fasttext_spelling_of_options():
    args = train_args("--positive", "a", "--negative", "b", "--out", "m.bin", "--wordNgrams", "3", "--min-count", "2")
    assert (args.wordNgrams, args.minCount, args.lr, args.dim, args.loss) == (3, 2, 0.1, 100, "softmax")


# ---------------------------------------------------------------- scoring rule

def test_scores_match_dclm_rule_and_labels(trained):
    import fasttext
    reference = fasttext.load_model(str(trained))
    model = FastTextClassifier(str(trained))
    assert model.resolve_label("hq") == model.resolve_label("__label__hq") == "__label__hq"
    with pytest.raises(ValueError, match="not a label"):
        model.resolve_label("wiki")
    rng = random.Random(5)
    texts = [science_doc(rng), spam_doc(rng), science_doc(rng) + "\n" + spam_doc(rng), "", "  \n ", "中文 文本"]
    for text in texts:
        labels, probs = reference.predict(" ".join(text.strip().splitlines()))  # DCLM's classify_fasttext_hq_prob
        dclm = probs[0] if labels[0] == "__label__hq" else 1 - probs[0]
        assert model.score(text, "__label__hq") == dclm  # to the bit
        assert abs(model.score(text, "__label__hq") + model.score(text, "__label__cc") - 1) < 1e-9
    replaced = "bad \ud800 surrogate".encode("utf-8", "replace").decode()  # "bad ? surrogate"
    assert model.score("bad \ud800 surrogate", "__label__hq") == model.score(replaced, "__label__hq")


def test_score_errors_go_to_errors_output(trained):
    fn = _ScoreFn(str(trained), "hq")
    fn.setup()
    (out,) = list(fn.process(Document(id="bad", text=None)))
    assert isinstance(out, TaggedOutput) and out.tag == ERRORS and out.value["id"] == "bad"
    (ok,) = list(fn.process(Document(id="ok", text="Each cell absorbs infrared light.")))
    assert 0.5 < ok.annotations["quality_score"] < 1.0


# ---------------------------------------------------------------- step parameters

def test_bad_parameters_raise_param_error(tmp_path):
    cases = [({"model_path": ""}, "model_path"),
             ({"model_path": "m.bin", "threshold": 0.5, "top_percent": 10.0}, "top_percent"),
             ({"model_path": "m.bin", "top_percent": 0.0}, "top_percent"),
             ({"model_path": "m.bin", "top_percent": 100.5}, "top_percent"),
             ({"model_path": "m.bin", "threshold": -0.01}, "threshold"),
             ({"model_path": "m.bin", "threshold": 1.01}, "threshold"),
             ({"model_path": "m.bin", "threshold": math.nan}, "threshold"),
             ({"model_path": "m.bin", "positive_label": ""}, "positive_label")]
    for params, name in cases:
        with pytest.raises(ParamError) as exc:
            QualityModel(**params)
        assert exc.value.param == name, params
    QualityModel(model_path="m.bin", threshold=0.0)
    QualityModel(model_path="m.bin", threshold=1.0)
    QualityModel(model_path="m.bin", top_percent=100.0)


def test_preflight_checks_the_model_file(tmp_path, trained):
    with pytest.raises(ParamError) as exc:
        QualityModel(model_path=str(tmp_path / "missing.bin"), threshold=0.5).preflight({"web": ["x"]})
    assert exc.value.param == "model_path" and "missing.bin: no such file" in str(exc.value)
    QualityModel(model_path=str(trained), top_percent=10.0).preflight({"web": ["x"]})
    (tmp_path / "text.bin").write_text("not a model\n")
    with pytest.raises(ParamError, match="text.bin: does not load as a fastText model") as exc:
        QualityModel(model_path=str(tmp_path / "text.bin"), threshold=0.5).preflight({})
    assert exc.value.param == "model_path"
    with pytest.raises(ParamError, match="label 'good' is not a label of the model .*__label__cc, __label__hq") as exc:
        QualityModel(model_path=str(trained), positive_label="good", threshold=0.5).preflight({})
    assert exc.value.param == "positive_label"


# ---------------------------------------------------------------- the step in Beam

def _ids(expected):
    def check(docs):
        assert sorted(d.id for d in docs) == sorted(expected)
    return check


def test_step_threshold_top_percent_and_annotate_only(trained):
    model = FastTextClassifier(str(trained))
    rng = random.Random(11)
    small = [Document(id="good", text=science_doc(rng)), Document(id="spam", text=spam_doc(rng)),
             Document(id="empty", text=""), Document(id="surrogate", text="Each cell \ud800 absorbs light.")]
    score = {d.id: model.score(d.text, "__label__hq") for d in small}
    assert score["good"] > score["spam"]
    at = score["good"]  # threshold exactly at a score: kept (>=); just past it: dropped
    above_at = {d.id for d in small if score[d.id] >= at}
    above_next = {d.id for d in small if score[d.id] >= math.nextafter(at, 1.0)}
    assert "good" in above_at and "good" not in above_next

    # 2,000 documents mixing science and spam sentences in random proportions: scores spread over (0, 1)
    mixed = []
    for i in range(2000):
        parts = [science_sentence(rng) for _ in range(rng.randrange(0, 5))] + \
                [spam_line(rng) for _ in range(rng.randrange(0, 3))]
        rng.shuffle(parts)
        mixed.append(Document(id=f"m{i}", text=" ".join(parts)))
    mixed_scores = sorted(model.score(d.text, "__label__hq") for d in mixed)
    cutoff = mixed_scores[2000 - 200]  # exact below 10,001 documents: top ceil(10%) = 200

    with local_pipeline() as p:
        docs = p | "small" >> beam.Create(small)
        big = p | "mixed" >> beam.Create(mixed)
        at_t = docs | "at" >> QualityModel(model_path=str(trained), positive_label="hq", threshold=at)
        past_t = docs | "past" >> QualityModel(model_path=str(trained), threshold=math.nextafter(at, 1.0))
        only = docs | "only" >> QualityModel(model_path=str(trained))
        top = big | "top" >> QualityModel(model_path=str(trained), top_percent=10.0)

        assert_that(at_t[KEPT], _ids(above_at), label="at kept")
        assert_that(at_t[REJECTED], _ids({d.id for d in small} - above_at), label="at rejected")
        assert_that(past_t[KEPT], _ids(above_next), label="past kept")
        assert_that(at_t[SUMMARY], equal_to([{"kind": "quality", "threshold": at, "scored": 4, "unscored": 0}]), label="at summary")

        def rejected_annotated(docs):
            assert docs and all(d.annotations["drop_reason"] == LOW_SCORE and d.annotations["drop_step"] ==
                                "quality_model" and d.annotations["quality_score"] == score[d.id] for d in docs)
        assert_that(past_t[REJECTED], rejected_annotated, label="rejected keep score")
        assert_that(at_t[ERRORS], equal_to([]), label="no errors")

        def all_annotated(docs):
            assert sorted(d.id for d in docs) == sorted(score)
            assert all(d.annotations["quality_score"] == score[d.id] for d in docs)
        assert_that(only[KEPT], all_annotated, label="only kept")
        assert_that(only[REJECTED], equal_to([]), label="only rejected")
        assert_that(only[SUMMARY], equal_to([{"kind": "quality", "scored": 4, "unscored": 0}]), label="only summary")

        def about_ten_percent(docs):
            # exact up to 10,001 documents: the top ceil(10% of 2,000), plus any tie at the cutoff
            assert len(docs) == sum(s >= cutoff for s in mixed_scores) and 200 <= len(docs) <= 202
            assert all(d.annotations["quality_score"] >= cutoff for d in docs)
        assert_that(top[KEPT], about_ten_percent, label="top kept")
        assert_that(top[SUMMARY], equal_to([{"kind": "quality", "top_percent": 10.0, "cutoff": cutoff,
                                             "scored": 2000, "unscored": 0}]), label="top summary")


# ---------------------------------------------------------------- gs:// (emulated)

def test_model_on_gcs(gcs, trained, tmp_path):
    gcs_bucket = gcs[0].name
    remote = f"gs://{gcs_bucket}/models/quality.bin"
    hq, cc = tmp_path / "hq.txt", tmp_path / "cc.txt"
    rng = random.Random(3)
    hq.write_text("\n".join(quality_text(science_doc(rng)) for _ in range(100)))
    cc.write_text("\n".join(spam_doc(rng) for _ in range(100)))
    assert train_quality.run(train_args("--positive", str(hq), "--negative", str(cc), "--out", remote, *FAST)) == 0
    QualityModel(model_path=remote, threshold=0.5).preflight({})
    with pytest.raises(ParamError):
        QualityModel(model_path=f"gs://{gcs_bucket}/models/missing.bin", threshold=0.5).preflight({})
    from apache_beam.io.filesystems import FileSystems
    with FileSystems.open(remote + ".metrics.json") as f:
        assert json.loads(f.read())["counts"]["hq"]["train"] > 0
    loaded = FastTextClassifier(remote)  # copied to the temp folder, then loaded
    assert loaded.score("Each cell absorbs infrared light.", "__label__hq") > 0.5


def test_training_is_deterministic_despite_fasttext_uninitialised_rows(trained, tmp_path):
    """fastText leaves 90% of its input matrix uninitialised with one thread (see
    train_quality.zeroed_allocations): without zeroed allocations these runs raise
    "Encountered NaN" or differ from each other once the heap holds leftovers."""
    import os
    positive, negative = trained.parent.parent / "hq.jsonl", trained.parent.parent / "cc.txt"
    digests = set()
    for run in range(4):
        leftovers = [bytearray(os.urandom(4096)) for _ in range(2000)]  # junk for malloc to hand back
        del leftovers
        out = tmp_path / f"m{run}.bin"
        assert train_quality.run(train_args("--positive", str(positive), "--negative", str(negative),
                                            "--out", str(out), "--word-ngrams", "1", *FAST)) == 0
        digests.add(out.read_bytes())
    assert len(digests) == 1
