"""mix: weighted, deterministic sampling to a budget; upsampling, repetition cap, weight tables, preflight."""
from __future__ import annotations

import gzip
import json
import random

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xxhash
from apache_beam.testing.util import assert_that

from thresher.pipelines.recipe.params import step_params
from tests.conftest import local_pipeline
from thresher.transforms.select import input_bounds
from thresher.transforms.base import ERRORS, KEPT, REJECTED, REPORT, SUMMARY, ParamError
from thresher.transforms.document import Document
from thresher.transforms.select.input_bounds import DEFLATE_MAX_RATIO, Supply, source_supply
from thresher.transforms.select.mix import Mix
from thresher.transforms.select.mix_plan import DocWeight, copies

FINEWEB2_TABLE = {1: 1, 2: 2, 3: 3, 5: 5, 100: 8, 1000: 1}


def hash_fraction(doc_id, seed=0):
    """Computed here independently of the module: xxh64 of the UTF-8 id, seeded, over 2^64."""
    return xxhash.xxh64_intdigest(doc_id.encode("utf-8"), seed) / 2 ** 64


def check_outputs(out, label, check):
    """One assertion on all outputs of a step: ``check`` gets {"kept": [(id, epoch, tokens)],
    "rejected": [(id, drop_step, drop_reason, tokens)], "errors": [(step, id, exception type)],
    "report": [(name, n)], "summary": [dict]}, each list sorted (the summary unsorted)."""
    tagged = (
        out[KEPT] | f"{label} kept" >> beam.Map(
            lambda d: ("kept", (d.id, d.annotations["epoch"], d.annotations["tokens"]))),
        out[REJECTED] | f"{label} rejected" >> beam.Map(lambda d: ("rejected", (
            d.id, d.annotations["drop_step"], d.annotations["drop_reason"], d.annotations.get("tokens")))),
        out[ERRORS] | f"{label} errors" >> beam.Map(lambda e: ("errors", (e["step"], e["id"], e["error"].split(":")[0]))),
        out[REPORT] | f"{label} report" >> beam.Map(lambda kv: ("report", kv)),
        out[SUMMARY] | f"{label} summary" >> beam.Map(lambda d: ("summary", d)),
    ) | f"{label} all" >> beam.Flatten()

    def match(actual):
        got = {tag: [] for tag in ("kept", "rejected", "errors", "report", "summary")}
        for tag, value in actual:
            got[tag].append(value)
        for tag in ("kept", "rejected", "errors", "report"):
            got[tag].sort()
        assert len(got["summary"]) == 1, got["summary"]
        check(got)

    assert_that(tagged, match, label=f"{label} check")


def rows(summary):
    return {row["source"]: row for row in summary["sources"]}


# ---------------------------------------------------------------- parameters

def test_parameters_are_typed_and_checked():
    params = step_params(Mix)
    assert params["weights"].required and not params["budget_tokens"].required
    assert set(params) == {"weights", "budget_tokens", "budget_documents", "seed", "max_epochs", "tokenizer",
                           "weight_by", "weight_table", "count_eos"}
    assert Mix({"a": 3, "b": 1}, budget_tokens=10).shares == {"a": 0.75, "b": 0.25}
    bad = [
        (dict(weights={"a": 0, "b": 0}, budget_tokens=10), "weights"),
        (dict(weights={"a": -1, "b": 2}, budget_tokens=10), "weights"),
        (dict(weights={}, budget_tokens=10), "weights"),
        (dict(weights={"a": 1}), "budget_tokens"),
        (dict(weights={"a": 1}, budget_tokens=10, budget_documents=10), "budget_tokens"),
        (dict(weights={"a": 1}, budget_documents=0), "budget_documents"),
        (dict(weights={"a": 1}, budget_tokens=10, seed=-1), "seed"),
        (dict(weights={"a": 1}, budget_tokens=10, max_epochs=0), "max_epochs"),
        (dict(weights={"a": 1}, budget_tokens=10, weight_by="cluster_size"), "weight_table"),
        (dict(weights={"a": 1}, budget_tokens=10, weight_table={1: 1.0}), "weight_by"),
        (dict(weights={"a": 1}, budget_tokens=10, weight_by="c", weight_table={1: -1.0}), "weight_table"),
    ]
    for kwargs, param in bad:
        with pytest.raises(ParamError) as err:
            Mix(**kwargs)
        assert err.value.param == param, kwargs


def test_copies_floor_or_ceil_by_hash_fraction():
    assert copies(0.0, "any", 0) == 0
    assert copies(1.0, "any", 0) == 1 and copies(3.0, "any", 5) == 3  # integers are exact
    for doc_id in ("a", "b", "doc-17", "中文"):
        u = hash_fraction(doc_id)
        assert copies(2.5, doc_id, 0) == (3 if u < 0.5 else 2)
        assert copies(u, doc_id, 0) == 0          # fraction exactly at the hash: not taken
        assert copies(u + 1e-9, doc_id, 0) == 1   # just past it: taken
    ups = [copies(2.5, f"d{i}", 0) for i in range(2000)]
    assert set(ups) == {2, 3} and 0.46 < ups.count(3) / 2000 < 0.54
    assert [copies(0.5, f"d{i}", 1) for i in range(50)] != [copies(0.5, f"d{i}", 0) for i in range(50)]


def test_weight_table_lower_bounds_fineweb2():
    weight = DocWeight("cluster_size", FINEWEB2_TABLE)
    expect = {1: 1, 2: 2, 3: 3, 4: 3, 5: 5, 99: 5, 100: 8, 999: 8, 1000: 1, 5000: 1, 0: 1, 2.5: 2}
    for size, w in expect.items():
        assert weight.value(Document("x", "", annotations={"cluster_size": size})) == w, size
    assert weight.value(Document("x", "")) == 1  # missing: weight 1
    with pytest.raises(TypeError):
        weight.of(Document("x", "", annotations={"cluster_size": "big"}))
    halves = DocWeight("q", {0: 0.5, 10: 0.1})  # exact integers over a common denominator
    assert isinstance(halves.of(Document("x", "", annotations={"q": 3})), int)
    assert halves.value(Document("x", "", annotations={"q": 3})) == 0.5
    assert halves.value(Document("y", "", annotations={"q": 11})) == 0.1
    assert DocWeight(None, {}).value(Document("x", "", annotations={"q": 3})) == 1


# ---------------------------------------------------------------- sampling in a pipeline

WEB = [Document(f"web-{i}", "x" * 40, source="web") for i in range(2000)]      # 10 tokens each: 20,000
BOOKS = [Document(f"book-{i}", "y" * 80, source="books") for i in range(1000)]  # 20 tokens each: 20,000


def expected_sample(docs, rates, seed):
    return sorted(d.id for d in docs if hash_fraction(d.id, seed) < rates[d.source])


def test_weighted_sample_to_token_budget_is_deterministic():
    rates = {"web": 7_500 / 20_000, "books": 2_500 / 20_000}  # budget 10,000 x 0.75 / 0.25
    want = {seed: expected_sample(WEB + BOOKS, rates, seed) for seed in (0, 1)}
    assert want[0] != want[1]
    tokens = {d.id: 10 if d.source == "web" else 20 for d in WEB + BOOKS}
    shuffled = WEB + BOOKS
    random.Random(3).shuffle(shuffled)

    def check(seed):
        def run(got):
            kept = want[seed]
            assert got["kept"] == sorted((i, 0, tokens[i]) for i in kept)
            assert got["rejected"] == sorted((i, "mix", "mix_not_sampled", tokens[i]) for i in set(tokens) - set(kept))
            assert got["errors"] == [] and got["report"] == [("copies_added", 0)]
            summary = got["summary"][0]
            assert summary["kind"] == "mix" and summary["unit"] == "tokens" and summary["budget"] == 10_000
            assert summary["token_counting"] == "estimate: UTF-8 bytes / 4" and summary["max_epochs"] is None
            assert summary["seed"] == seed and [r["source"] for r in summary["sources"]] == ["books", "web"]
            web, books = rows(summary)["web"], rows(summary)["books"]
            assert (web["weight"], web["target"], web["rate"]) == (0.75, 7_500, 0.375)
            assert (books["weight"], books["target"], books["rate"]) == (0.25, 2_500, 0.125)
            assert (web["available_tokens"], web["available_documents"]) == (20_000, 2000)
            assert (books["available_tokens"], books["available_documents"]) == (20_000, 1000)
            n_web = sum(i.startswith("web") for i in kept)
            assert (web["achieved_documents"], web["achieved_tokens"]) == (n_web, 10 * n_web)
            assert (books["achieved_documents"], books["achieved_tokens"]) == (len(kept) - n_web, 20 * (len(kept) - n_web))
            for row in (web, books):
                # binomial noise (sd 2.7% for web, 8% for books); these hashes land within 4%
                assert abs(row["achieved_tokens"] - row["target"]) <= 0.04 * row["target"]
                assert row["epochs"] == row["achieved_tokens"] / 20_000
                assert row["shortfall"] == max(0, row["target"] - row["achieved_tokens"]) and not row["capped"]
        return run

    with local_pipeline() as p:
        out = p | "docs" >> beam.Create(WEB + BOOKS) | "mix" >> Mix({"web": 3, "books": 1}, budget_tokens=10_000)
        check_outputs(out, "seed 0", check(0))
        again = p | "shuffled" >> beam.Create(shuffled) | "mix again" >> Mix({"web": 3, "books": 1}, budget_tokens=10_000)
        check_outputs(again, "permuted", check(0))
        other = p | "docs 1" >> beam.Create(WEB + BOOKS) | "mix seed 1" >> Mix({"web": 0.75, "books": 0.25},
                                                                                 budget_tokens=10_000, seed=1)
        check_outputs(other, "seed 1", check(1))


UP = [Document(f"u{i}", "abcd" * 3, source="s") for i in range(200)]  # 3 tokens each


def test_upsampling_cap_weight_table_and_unknown_sources():
    n_up = {d.id: 3 if hash_fraction(d.id) < 0.5 else 2 for d in UP}  # rate 500 / 200 = 2.5
    up_kept = sorted((d if k == 0 else f"{d}#{k}", k, 3) for d, n in n_up.items() for k in range(n))
    sizes = [1, 2, 3, 4, 5, 99, 100, 999, 1000, 5000, None, 0]  # FineWeb-2 table: 39 copies in all
    fw = [Document(f"c{i}", "text", source="fw", annotations={} if s is None else {"cluster_size": s})
          for i, s in enumerate(sizes)]
    table_copies = [1, 2, 3, 3, 5, 5, 8, 8, 1, 1, 1, 1]
    fw_kept = sorted((f"c{i}" if k == 0 else f"c{i}#{k}", k, 1) for i, n in enumerate(table_copies) for k in range(n))
    others = [Document("z1", "zero weight", source="zero"), Document("t1", "no weight", source="stray"),
              Document("bad", "bad size", source="fw", annotations={"cluster_size": "big"})]

    def check_up(got):
        assert got["kept"] == up_kept and got["rejected"] == [] and got["errors"] == []
        assert 400 < len(up_kept) < 600 and got["report"] == [("copies_added", len(up_kept) - 200)]
        summary = got["summary"][0]
        row = rows(summary)["s"]
        assert summary["unit"] == "documents" and row["rate"] == 2.5 and not row["capped"]
        assert row["achieved_documents"] == len(up_kept) and row["achieved_tokens"] == 3 * len(up_kept)
        assert row["epochs"] == len(up_kept) / 200 and row["shortfall"] == max(0, 500 - len(up_kept))

    def check_capped(got):
        assert got["kept"] == sorted([(d.id, 0, 3) for d in UP] + [(f"{d.id}#1", 1, 3) for d in UP])
        assert got["report"] == [("copies_added", 200)]
        summary = got["summary"][0]
        row = rows(summary)["s"]
        assert summary["max_epochs"] == 2 and row["capped"] and row["rate"] == 2.0
        assert (row["target"], row["achieved_documents"], row["epochs"], row["shortfall"]) == (500, 400, 2.0, 100)

    def check_table(got):
        assert got["kept"] == fw_kept
        assert got["rejected"] == [("t1", "mix", "mix_unweighted_source", 3), ("z1", "mix", "mix_not_sampled", 3)]
        assert got["errors"] == [("mix", "bad", "TypeError")]
        assert got["report"] == [("copies_added", 39 - 12)]
        summary = got["summary"][0]
        fw_row, zero, stray = rows(summary)["fw"], rows(summary)["zero"], rows(summary)["stray"]
        assert fw_row["rate"] == 1.0 and fw_row["achieved_documents"] == 39 and fw_row["shortfall"] == 0
        assert (fw_row["available_documents"], fw_row["weighted_documents"]) == (12, 39.0)
        assert (zero["weight"], zero["target"], zero["achieved_documents"], zero["available_documents"]) == (0.0, 0, 0, 1)
        assert (stray["weight"], stray["rate"], stray["achieved_documents"]) == (0.0, 0.0, 0)

    def check_tenth(got):  # rate 20 / (200 x 0.1) = 1: a document is taken when its hash is below 0.1
        assert got["kept"] == sorted((d.id, 0, 3) for d in UP if hash_fraction(d.id) < 0.1) and got["errors"] == []
        row = rows(got["summary"][0])["s"]
        assert row["weighted_documents"] == 20.0 and row["rate"] == 1.0

    with local_pipeline() as p:
        up = p | "up docs" >> beam.Create(UP) | "upsample" >> Mix({"s": 1}, budget_documents=500)
        check_outputs(up, "up", check_up)
        capped = p | "cap docs" >> beam.Create(UP) | "capped" >> Mix({"s": 1}, budget_documents=500, max_epochs=2)
        check_outputs(capped, "capped", check_capped)
        table = (p | "fw docs" >> beam.Create(fw + others)
                 | "table" >> Mix({"fw": 1, "zero": 0}, budget_documents=39, weight_by="cluster_size",
                                  weight_table=FINEWEB2_TABLE))
        check_outputs(table, "table", check_table)
        tenth = (p | "tenth docs" >> beam.Create([d.annotate(q=5) for d in UP])  # weight 0.1: exact big-integer sums
                 | "tenth" >> Mix({"s": 1}, budget_documents=20, weight_by="q", weight_table={0: 0.1}))
        check_outputs(tenth, "tenth", check_tenth)


# ---------------------------------------------------------------- tokenizer

TRAIN = ["the quick brown fox jumps over the lazy dog", "the dog sleeps", "a quick fox", "brown dogs and foxes"]


def train_tokenizer(path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(TRAIN * 20, trainers.BpeTrainer(vocab_size=80, special_tokens=["[UNK]"]))
    tok.save(str(path))
    return tok


def test_token_counts_use_the_tokenizer_file(tmp_path):
    path = tmp_path / "tokenizer.json"
    tok = train_tokenizer(path)
    texts = ["the quick brown fox", "the lazy dog sleeps over the fox", "dogs", ""]  # empty: 0 tokens
    counts = [len(tok.encode(t, add_special_tokens=False).ids) for t in texts]
    assert counts != [-(-len(t.encode()) // 4) for t in texts]  # not the estimate
    docs = [Document(f"d{i}", t, source="a") for i, t in enumerate(texts)]
    Mix({"a": 1}, budget_tokens=10, tokenizer=str(path)).preflight({"a": ["unused"]})

    def check(got):  # rate 2: two copies of each
        assert got["kept"] == sorted((f"d{i}{s}", k, c) for i, c in enumerate(counts) for k, s in ((0, ""), (1, "#1")))
        summary = got["summary"][0]
        row = rows(summary)["a"]
        assert summary["token_counting"] == f"tokenizer {path}"
        assert row["available_tokens"] == sum(counts) and row["achieved_tokens"] == 2 * sum(counts)

    with local_pipeline() as p:
        out = p | beam.Create(docs) | Mix({"a": 1}, budget_tokens=2 * sum(counts), tokenizer=str(path))
        check_outputs(out, "tok", check)


# ---------------------------------------------------------------- preflight

def test_preflight_checks_weights_and_tokenizer(tmp_path):
    inputs = {"web": ["w*"], "books": ["b*"]}
    Mix({"web": 1, "books": 0}, budget_tokens=10).preflight(inputs)
    with pytest.raises(ParamError, match="'wiki' is not an input; valid: books, web") as err:
        Mix({"web": 1, "books": 1, "wiki": 1}, budget_tokens=10).preflight(inputs)
    assert err.value.param == "weights"
    with pytest.raises(ParamError, match="input 'books' has no weight") as err:
        Mix({"web": 1}, budget_tokens=10).preflight(inputs)
    assert err.value.param == "weights"
    with pytest.raises(ParamError, match="no tokenizer file") as err:
        Mix({"web": 1, "books": 1}, budget_tokens=10, tokenizer=str(tmp_path / "missing.json")).preflight(inputs)
    assert err.value.param == "tokenizer"
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ParamError, match="cannot load tokenizer") as err:
        Mix({"web": 1, "books": 1}, budget_tokens=10, tokenizer=str(tmp_path / "broken.json")).preflight(inputs)
    assert err.value.param == "tokenizer"


def write_jsonl(path, n_bytes):
    """A JSON Lines file of exactly ``n_bytes`` bytes."""
    line = json.dumps({"text": "x" * (n_bytes - 13)}) + "\n"
    assert len(line) == n_bytes
    path.write_text(line)
    return str(path)


def test_preflight_refuses_a_budget_beyond_the_repetition_cap(tmp_path):
    small = write_jsonl(tmp_path / "small.jsonl", 700)        # <= 700 tokens (estimate), <= 100 documents
    big = write_jsonl(tmp_path / "big.jsonl", 70_000)
    inputs = {"small": [small], "big": [big]}
    # small's share is 1/4 of the budget; its bound x max_epochs = 700 x 2 = 1400
    Mix({"small": 1, "big": 3}, budget_tokens=5600, max_epochs=2).preflight(inputs)   # exactly at the bound
    with pytest.raises(ParamError, match=r"input 'small' can supply at most 700 tokens .* x max_epochs 2 = 1,400") as err:
        Mix({"small": 1, "big": 3}, budget_tokens=5604, max_epochs=2).preflight(inputs)  # asks 1401
    assert err.value.param == "budget_tokens"
    Mix({"small": 1, "big": 3}, budget_tokens=10 ** 9).preflight(inputs)  # no cap: no check
    Mix({"small": 0, "big": 3}, budget_tokens=140_000, max_epochs=2).preflight(inputs)  # weight 0: never asked
    # documents: 700 // 7 = 100 at most
    Mix({"small": 1, "big": 0}, budget_documents=300, max_epochs=3).preflight(inputs)
    with pytest.raises(ParamError, match="at most 100 documents") as err:
        Mix({"small": 1, "big": 0}, budget_documents=301, max_epochs=3).preflight(inputs)
    assert err.value.param == "budget_documents"
    # a tokenizer may split finer than bytes / 4: 4 tokens a byte
    path = tmp_path / "tokenizer.json"
    train_tokenizer(path)
    Mix({"small": 1, "big": 0}, budget_tokens=2800, max_epochs=1, tokenizer=str(path)).preflight(inputs)
    with pytest.raises(ParamError, match="at most 2,800 tokens"):
        Mix({"small": 1, "big": 0}, budget_tokens=2801, max_epochs=1, tokenizer=str(path)).preflight(inputs)


def test_supply_bounds_by_file_kind(tmp_path, monkeypatch):
    plain = write_jsonl(tmp_path / "a.jsonl", 700)
    assert source_supply([plain]) == Supply(700, 100)
    gz = tmp_path / "a.jsonl.gz"
    gz.write_bytes(gzip.compress(b'{"text": "' + b"y" * 9990 + b'"}\n'))
    assert source_supply([str(gz)]) == Supply(10_003, 10_003 // 7)           # decompressed and measured
    hidden = tmp_path / "b.jsonl"  # gzip behind a plain name: found by its first bytes
    hidden.write_bytes(gz.read_bytes())
    assert source_supply([str(hidden)]) == Supply(10_003, 10_003 // 7)
    warc = tmp_path / "c.warc"
    warc.write_bytes(b"W" * 1000)
    assert source_supply([str(warc)]) == Supply(1000 * DEFLATE_MAX_RATIO, 142)  # HTTP bodies may be compressed
    table = pa.table({"text": ["a" * 100, "b" * 50, "a" * 100], "n": [1, 2, 3]})
    pq.write_table(table, tmp_path / "d.parquet")
    assert source_supply([str(tmp_path / "d.parquet")]) == Supply(250, 3)  # dictionary-encoded: measured
    pq.write_table(table, tmp_path / "e.parquet", use_dictionary=False, compression="none")
    plain_pq = source_supply([str(tmp_path / "e.parquet")])
    assert plain_pq.documents == 3 and plain_pq.text_bytes >= 250 + 3 * 4  # footer sizes, not read
    monkeypatch.setattr(input_bounds, "MEASURE_BYTES", 0)  # too big to measure
    assert source_supply([str(gz)]) == Supply(gz.stat().st_size * DEFLATE_MAX_RATIO,
                                               gz.stat().st_size * DEFLATE_MAX_RATIO // 7)
    assert source_supply([str(tmp_path / "d.parquet")]) == Supply(None, 3)
    zst = tmp_path / "f.jsonl.zst"
    zst.write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 20)
    assert source_supply([str(zst)]) == Supply(None, None)
    assert source_supply([str(zst), plain]) == Supply(None, None)  # one unbounded file: no bound
    empty = tmp_path / "g.jsonl.gz"
    empty.write_bytes(b"")
    assert source_supply([str(empty)]) == Supply(0, 0)
