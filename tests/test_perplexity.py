"""The ``perplexity`` step (CCNet): its normaliser on boundary cases, its number equal to KenLM's own scoring
of the normalised, encoded lines combined as CCNet combines them (and a hand-written ARPA's known answer),
unscored documents, max_perplexity and bucket decisions at their boundaries, preflight and parameter errors
one line each, and a CLI run (language step, then perplexity) whose Parquet and stats carry the scores."""
from __future__ import annotations

import gzip
import json
import sys

import pytest

from tests.conftest import SHARED_DATA, require_lid_model
from tests.step_outputs import collect_outputs
from tests.tiny_lm import build_lm
from thresher.transforms.base import ERRORS, KEPT, REJECTED, SUMMARY, ParamError
from thresher.transforms.document import Document
from thresher.transforms.filters.perplexity import Perplexity, bucket_of
from thresher.transforms.text.ccnet_normalize import ccnet_normalize

kenlm = pytest.importorskip("kenlm")
sentencepiece = pytest.importorskip("sentencepiece")


def real_texts(n: int):
    path = SHARED_DATA / "bench" / "real-pages.texts.jsonl.gz"
    if not path.exists():
        pytest.fail(f"real data missing: {path}")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line)["text"] for _, line in zip(range(n), f)]


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    return build_lm(tmp_path_factory.mktemp("lm"), real_texts(200), vocab_size=1500)


# ---------------------------------------------------------------- normaliser


@pytest.mark.parametrize("text,expected", [
    ("  Hello World  ", "hello world"),                      # ends stripped, lower case
    ("Café Ürün naïve", "cafe urun naive"),                  # accents (NFD, Mn dropped)
    ("Straße ŁÓDŹ", "straße łodz"),                          # ß and ł have no combining mark: kept
    ("Tel 0123-456, ٣ and １", "tel 0000-000, 0 and 0"),      # every \d, fullwidth too, before punctuation
    ("«Bonjour»，“ok”…—x", '"bonjour","ok"... - x'),          # CCNet's punctuation table
    ("a\x00b\x1fc\x7fd\x85e\x9ff", "abcdef"),                # C0 and C1 controls removed
    ("line one\nline two\tend", "line oneline twoend"),      # newlines and tabs are controls too
    ("\u00a0x\u00a0", "x"),                                  # NBSP is stripped at the ends (str.strip), kept inside
    ("a\u00a0b", "a\u00a0b"),
    ("", ""), ("   ", ""),
])
def test_normaliser(text, expected):
    assert ccnet_normalize(text) == expected


@pytest.mark.parametrize("text", [
    "ends with a dash —\n— starts with one", "ΟΔΟΣ\nΣΑ", "e\u0301\n\u0301a", "A\r\nB\x85\n\u2028C",
    "tab\t\n  \n", "İstanbul\n１２", "\n\n", "mixed ascii\nand ünïcödé\nlines 42",
])
def test_whole_text_normalisation_equals_line_by_line(text):
    from thresher.transforms.text.ccnet_normalize import ccnet_normalize_lines

    assert ccnet_normalize_lines(text) == [ccnet_normalize(line) for line in text.split("\n")]


# ---------------------------------------------------------------- the number


def ccnet_reference(text: str, pair, per_line: bool = True) -> float:
    """CCNet's DocLM, written out: KenLM's own score of each normalised, SentencePiece-encoded line."""
    sp = sentencepiece.SentencePieceProcessor(model_file=pair["sp"])
    model = kenlm.Model(pair["lm"])
    lines = text.split("\n") if per_line else [text]
    log_score, length = 0.0, 0
    for line in lines:
        pieces = " ".join(sp.encode_as_pieces(ccnet_normalize(line)))
        log_score += model.score(pieces)
        length += len(pieces.split()) + 1
    return round(10.0 ** (-log_score / length), 1)


def run_step(docs, **params):
    """(kept, rejected, errors, summaries) of the step over ``docs``."""
    out = collect_outputs(Perplexity(**params), docs)
    return out[KEPT], out[REJECTED], out[ERRORS], out[SUMMARY]


def test_perplexity_equals_kenlms_own_scoring(lm):
    texts = real_texts(260)[200:260] + ["One line.", "Two\n\nlines with an empty one between.\n"]
    docs = [Document(f"d{i}", t, annotations={"language": "en"}) for i, t in enumerate(texts)]
    for per_line in (True, False):
        kept, rejected, errors, (summary,) = run_step(docs, models={"en": lm}, per_line=per_line)
        assert not rejected and not errors and len(kept) == len(docs)
        for doc in kept:
            assert doc.annotations["perplexity"] == ccnet_reference(doc.text, lm, per_line), doc.id
        assert summary == {"kind": "perplexity", "scored": len(docs), "unscored": 0, "languages": {"en": len(docs)}}
    # a lone surrogate (SentencePiece cannot take it) is scored as "?", not an error
    (kept,), _, errors, _ = run_step([Document("s", "bad \ud800 char", annotations={"language": "en"})],
                                     models={"en": lm})
    assert not errors and kept.annotations["perplexity"] == ccnet_reference("bad ? char", lm)
    # per line and whole text differ on a multi-line text (the mined numbers glue lines together)
    text = texts[0]
    assert ccnet_reference(text, lm, True) != ccnet_reference(text, lm, False)


def test_hand_written_arpa_known_answer(lm, tmp_path):
    """A bigram ARPA where every piece is <unk> (log10 -1): a line of k > 0 pieces scores
    backoff(<s>) -0.3 + k * -1 + p(</s>) -0.5 over length k + 1; an empty line p(</s> | <s>) = -0.2 over 1."""
    (tmp_path / "b.arpa").write_text("\\data\\\nngram 1=3\nngram 2=1\n\n\\1-grams:\n-1.0\t<unk>\t0\n-99\t<s>\t-0.3\n"
                                     "-0.5\t</s>\t0\n\n\\2-grams:\n-0.2\t<s> </s>\n\n\\end\\\n")
    pair = {"lm": str(tmp_path / "b.arpa"), "sp": lm["sp"]}
    sp = sentencepiece.SentencePieceProcessor(model_file=lm["sp"])
    text = "The River rose.\n\nIt rained 12 days."
    k1, k3 = (len(sp.encode_as_pieces(ccnet_normalize(line))) for line in text.split("\n")[::2])
    log_score = (-0.3 - k1 - 0.5) + (-0.2) + (-0.3 - k3 - 0.5)
    expected = round(10 ** (-log_score / (k1 + 1 + 1 + k3 + 1)), 1)
    (kept,), _, _, _ = run_step([Document("a", text, annotations={"language": "en"})], models={"en": pair})
    assert kept.annotations["perplexity"] == expected and k1 > 2 and k3 > 2


# ---------------------------------------------------------------- unscored and decisions


def _docs(lm):
    texts = real_texts(220)[200:220]
    return [Document(f"d{i}", t, annotations={"language": "en"}) for i, t in enumerate(texts)]


def test_unscored_documents(lm):
    docs = [Document("en", "A plain English sentence.", annotations={"language": "en"}),
            Document("de", "Ein deutscher Satz.", annotations={"language": "de"}),
            Document("none", "No language annotation."),
            Document("empty", "  \n ", annotations={"language": "en"})]
    kept, rejected, errors, (summary,) = run_step(docs, models={"en": lm})
    assert sorted(d.id for d in kept) == ["de", "empty", "en", "none"] and not rejected and not errors
    assert [d.id for d in kept if "perplexity" in d.annotations] == ["en"]
    assert summary["scored"] == 1 and summary["unscored"] == 3
    kept, rejected, _, (summary,) = run_step(docs, models={"en": lm}, max_perplexity=1e9)
    assert [d.id for d in kept] == ["en"]
    assert sorted((d.id, d.annotations["drop_reason"]) for d in rejected) == [
        ("de", "perplexity_unscored"), ("empty", "perplexity_unscored"), ("none", "perplexity_unscored")]
    kept, rejected, _, _ = run_step(docs, models={"en": lm}, max_perplexity=1e9, keep_unscored=True)
    assert len(kept) == 4 and not rejected
    # default_language scores documents without the annotation; language_field reads another one
    kept, _, _, _ = run_step(docs, models={"en": lm}, default_language="en")
    assert sorted(d.id for d in kept if "perplexity" in d.annotations) == ["en", "none"]
    kept, _, _, _ = run_step([Document("x", "Some text.", annotations={"lang": "en"})], models={"en": lm},
                             language_field="lang")
    assert "perplexity" in kept[0].annotations


def test_max_perplexity_boundary(lm):
    docs = _docs(lm)
    scores = {d.id: ccnet_reference(d.text, lm) for d in docs}
    limit = sorted(scores.values())[len(scores) // 2]
    kept, rejected, _, (summary,) = run_step(docs, models={"en": lm}, max_perplexity=limit)
    assert {d.id for d in kept} == {i for i, s in scores.items() if s <= limit}  # at the limit: kept
    assert {d.id for d in rejected} == {i for i, s in scores.items() if s > limit}
    assert {d.annotations["drop_reason"] for d in rejected} == {"perplexity_too_high"}
    assert all("perplexity" in d.annotations for d in rejected)
    assert summary["max_perplexity"] == limit and summary["scored"] == len(docs)
    # per language: en above its limit dropped, xx (same model) under a high limit kept, yy (no limit) kept
    mixed = docs[:6] + [Document(f"x{i}", d.text, annotations={"language": "xx"}) for i, d in enumerate(docs[:6])]
    mixed += [Document("y", docs[0].text, annotations={"language": "yy"}), Document("z", "zz", annotations={})]
    models = {"en": lm, "xx": lm, "yy": lm}
    kept, rejected, _, (summary,) = run_step(mixed, models=models, max_perplexity={"en": limit, "xx": 1e9})
    expected_kept = {d.id for d in docs[:6] if scores[d.id] <= limit} | {f"x{i}" for i in range(6)} | {"y"}
    assert {d.id for d in kept} == expected_kept
    assert sorted(d.annotations["drop_reason"] for d in rejected if d.id == "z") == ["perplexity_unscored"]
    assert summary["max_perplexity"] == {"en": limit, "xx": 1e9} and summary["languages"] == {"en": 6, "xx": 6, "yy": 1}


def test_buckets_at_their_boundaries(lm):
    assert [bucket_of(p, [10.0, 20.0]) for p in (9.9, 10.0, 19.9, 20.0, 1e6)] == \
        ["head", "middle", "middle", "tail", "tail"]
    assert bucket_of(5.0, None) == "all"
    docs = _docs(lm)
    scores = sorted({ccnet_reference(d.text, lm) for d in docs})
    head, tail = scores[3], scores[10]
    others = [Document("other", docs[0].text, annotations={"language": "xx"})]
    kept, rejected, _, (summary,) = run_step(docs + others, models={"en": lm, "xx": lm},
                                             cutoffs={"en": [head, tail]}, keep_buckets=["head", "all"])
    for doc in kept + rejected:
        p = doc.annotations["perplexity"]
        expected = "all" if doc.id == "other" else "head" if p < head else "middle" if p < tail else "tail"
        assert doc.annotations["perplexity_bucket"] == expected
    assert {d.annotations["perplexity_bucket"] for d in kept} == {"head", "all"}
    assert {d.annotations["drop_reason"] for d in rejected} == {"perplexity_bucket"}
    assert any(d.annotations["perplexity"] == head for d in rejected)  # head cut-off itself is middle
    assert summary["keep_buckets"] == ["head", "all"] and sum(summary["buckets"].values()) == len(docs) + 1


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("params,param,words", [
    ({"models": {}}, "models", "models is required"),
    ({"models": {"en": {"lm": "a.arpa"}}}, "models", "models.en must be"),
    ({"cutoffs": {"de": [1.0, 2.0]}}, "cutoffs", "without a model: de"),
    ({"cutoffs": {"en": [3.0, 2.0]}}, "cutoffs", "0 < head <= tail"),
    ({"max_perplexity": {"de": 10.0}}, "max_perplexity", "without a model: de"),
    ({"max_perplexity": -1.0}, "max_perplexity", "positive"),
    ({"keep_buckets": ["head"]}, "keep_buckets", "needs cutoffs"),
    ({"keep_buckets": ["best"], "cutoffs": {"en": [1.0, 2.0]}}, "keep_buckets", "head, middle, tail, all"),
    ({"keep_buckets": ["head"], "cutoffs": {"en": [1.0, 2.0]}, "max_perplexity": 5.0}, "keep_buckets", "not both"),
])
def test_parameter_errors(params, param, words):
    if params and "models" not in params:
        params = {"models": {"en": {"lm": "en.arpa", "sp": "en.sp.model"}}, **params}
    with pytest.raises(ParamError) as err:
        Perplexity(**params)
    assert err.value.param == param and words in str(err.value) and "\n" not in str(err.value)


def test_preflight_errors(lm, tmp_path, monkeypatch):
    from thresher.transforms.preflight import PreflightErrors

    def error(models):
        with pytest.raises((ParamError, PreflightErrors)) as err:
            Perplexity(models=models).preflight({})
        return err.value

    err = error({"en": {"lm": str(tmp_path / "missing.arpa"), "sp": lm["sp"]}})
    assert err.param == "models.en.lm" and "no such file" in str(err) and "\n" not in str(err)
    (tmp_path / "bad.model").write_bytes(b"not a sentencepiece model")
    err = error({"en": {"lm": lm["lm"], "sp": str(tmp_path / "bad.model")}})
    assert err.param == "models.en" and "does not load" in str(err) and "\n" not in str(err)
    (tmp_path / "bad.arpa").write_text("\\data\\\nngram 1=2\n")
    err = error({"en": {"lm": str(tmp_path / "bad.arpa"), "sp": lm["sp"]}})
    assert err.param == "models.en" and "does not load" in str(err) and "\n" not in str(err)
    both = error({"en": {"lm": str(tmp_path / "x.arpa"), "sp": lm["sp"]},
                  "de": {"lm": lm["lm"], "sp": str(tmp_path / "y.model")}})
    assert isinstance(both, PreflightErrors) and len(both.errors) == 2
    Perplexity(models={"en": lm}).preflight({})  # a good pair passes
    monkeypatch.setitem(sys.modules, "kenlm", None)  # import fails as when it is not installed
    err = error({"en": lm})
    assert err.param == "models" and "pip install 'thresher[perplexity]'" in str(err) and "kenlm" in str(err)


def test_bad_record_goes_to_errors(lm, monkeypatch):
    import thresher.transforms.filters.perplexity as step_module
    from thresher.transforms.filters.ccnet_lm import CCNetLanguageModel

    class Broken(CCNetLanguageModel):
        def perplexity(self, text, per_line=True):
            if "boom" in text:
                raise RuntimeError("boom")
            return super().perplexity(text, per_line)

    monkeypatch.setattr(step_module, "shared_language_model", Broken)
    kept, _, errors, _ = run_step([Document("ok", "fine text", annotations={"language": "en"}),
                                   Document("bad", "boom", annotations={"language": "en"})], models={"en": lm})
    assert [d.id for d in kept] == ["ok"] and [e["id"] for e in errors] == ["bad"] and "boom" in errors[0]["error"]


# ---------------------------------------------------------------- CLI end to end


def test_cli_run_language_then_perplexity(lm, tmp_path):
    import pyarrow.dataset as ds

    from thresher.pipelines.commands import cli

    require_lid_model()
    texts = real_texts(240)[200:240]
    src = tmp_path / "in"
    src.mkdir()
    with open(src / "part.jsonl", "w", encoding="utf-8") as f:
        for i, text in enumerate(texts):
            f.write(json.dumps({"id": f"d{i}", "text": text}) + "\n")
    out = tmp_path / "out"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"version: 1\nname: ccnet\ninputs:\n  docs: {{paths: ['{src}/*.jsonl']}}\n"
                      f"steps:\n  - step: language\n    languages: []\n"
                      f"  - step: perplexity\n    models:\n      en: {{lm: {lm['lm']}, sp: {lm['sp']}}}\n"
                      f"    cutoffs: {{en: [11.5, 13.0]}}\n    keep_buckets: [head, middle]\n"
                      f"output: {{path: {out}, rejected: true}}\n")
    assert cli.main(["run", str(recipe), "--workers", "1"]) == 0
    kept = ds.dataset(str(out / "data"), format="parquet").to_table().to_pylist()
    dropped = ds.dataset(str(out / "rejected"), format="parquet").to_table().to_pylist()
    assert len(kept) + len(dropped) == len(texts)
    for row in kept + dropped:
        if row["language"] != "en":  # real pages: some are not English; no model for them
            assert row["perplexity"] is None and row["drop_reason"] == "perplexity_unscored"
            continue
        assert row["perplexity"] == ccnet_reference(row["text"], lm)
        assert row["perplexity_bucket"] == bucket_of(row["perplexity"], [11.5, 13.0])
    assert {r["perplexity_bucket"] for r in kept} == {"head", "middle"}
    assert {r["drop_reason"] for r in dropped} == {"perplexity_unscored", "perplexity_bucket"}
    assert all(r["perplexity_bucket"] == "tail" for r in dropped if r["drop_reason"] == "perplexity_bucket")
    stats = json.loads((out / "stats.json").read_text())
    step = next(s for s in stats["steps"] if s.get("step") == "perplexity" or s.get("name") == "perplexity")
    summary = step["summary"]
    assert summary["scored"] + summary["unscored"] == len(texts) and summary["languages"]["en"] == summary["scored"]
    assert stats["profile"]["perplexity"]["kind"] == "numeric"


def test_cli_validate_reports_a_missing_model_in_one_line(lm, tmp_path, capsys):
    from thresher.pipelines.commands import cli

    (tmp_path / "in.jsonl").write_text(json.dumps({"id": "a", "text": "x"}) + "\n")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"version: 1\ninputs:\n  docs: {{paths: ['{tmp_path}/in.jsonl']}}\n"
                      f"steps:\n  - step: perplexity\n    models:\n      en: {{lm: {tmp_path}/nope.arpa, sp: {lm['sp']}}}\n"
                      f"output: {{path: {tmp_path / 'out'}}}\n")
    assert cli.main(["validate", str(recipe)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "steps[0] (perplexity).models.en.lm" in err and "nope.arpa: no such file" in err
