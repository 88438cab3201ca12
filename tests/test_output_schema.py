"""Output columns: only what the configured steps write, typed url/date, a train split from the directory alone."""
from __future__ import annotations

import datetime
import gzip
import json
import pathlib

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from thresher.pipelines.run.columns import (declared_annotations, needs_metadata, rejected_annotations, source_annotations,
                                            written_annotations)
from thresher.pipelines.commands.cli import main
from thresher.pipelines.recipe.model import load_recipe
from thresher.pipelines.recipe.registry import STEPS
from thresher.transforms.filters.c4 import C4Filter
from thresher.transforms.select.decontaminate import Decontaminate
from thresher.transforms.extract.html import Extract
from thresher.transforms.filters.gopher import GopherQuality
from thresher.transforms.dedup.minhash.step import MinHashDedup
from thresher.transforms.rewrite.pii import PiiRedact

BASE = ["id", "text", "url", "source", "date"]
GOPHER_STATS = {k for k in GopherQuality.ANNOTATIONS if k != "gopher_quality_drop"}

FINEWEB_LIKE = """
version: 1
name: fineweb-like
inputs:
  web:
    paths: ['{inputs}']
steps:
  - step: url_filter
    banned_words: [casino]
  - step: extract
  - step: gopher_repetition
  - step: gopher_quality{annotate}
  - step: c4
    filter_no_terminal_punct: false
  - step: fineweb_quality{annotate}
  - step: minhash_dedup
  - step: pii
output:
  path: {out}
  rejected: true
"""


def recipe_at(tmp_path: pathlib.Path, text: str, name: str = "recipe.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path), load_recipe(str(path), STEPS)


# ---------------------------------------------------------------- what a configured step writes

def test_filters_write_statistics_only_with_annotate_or_dry_run():
    assert GopherQuality().written_annotations() == {}
    assert set(GopherQuality(annotate=True).written_annotations()) == GOPHER_STATS
    dry = GopherQuality(dry_run=True).written_annotations()
    assert set(dry) == GOPHER_STATS | {"gopher_quality_drop"} and dry["gopher_quality_drop"] == "string"
    assert PiiRedact().written_annotations() == {}  # never drops: its counts only with annotate
    assert PiiRedact(annotate=True).written_annotations() == PiiRedact.ANNOTATIONS
    assert C4Filter().written_annotations() == {} and C4Filter(dry_run=True).written_annotations()["c4_drop"] == "string"


def test_composite_steps_declare_what_kept_documents_carry():
    assert Extract().written_annotations() == Extract.ANNOTATIONS
    assert MinHashDedup().written_annotations() == {"cluster_size": "int64"}
    assert MinHashDedup().rejected_annotations() == {"duplicate_of": "string"}
    assert Decontaminate(benchmarks=["b.txt"]).written_annotations() == {}
    assert Decontaminate(benchmarks=["b.txt"], action="annotate").written_annotations() == Decontaminate.ANNOTATIONS


def test_every_registered_step_writes_a_subset_of_its_class_annotations():
    required = {"quality_model": {"model_path": "m.bin"}, "decontaminate": {"benchmarks": ["b.txt"]},
                "mix": {"weights": {"web": 1}, "budget_documents": 10}, "c4_badwords": {"wordlist_dir": "w"},
                "classifier": {"model": "m"}, "perplexity": {"models": {"en": {"lm": "en.arpa", "sp": "en.model"}}}}
    for name, cls in STEPS.items():
        written = written_annotations(cls(**required.get(name, {})))  # class ANNOTATIONS without the method
        assert set(written) <= set(cls.ANNOTATIONS) | {f"{name}_drop"}, name
        assert all(written[k] == cls.ANNOTATIONS[k] for k in written if k in cls.ANNOTATIONS), name


def test_source_columns_follow_the_input_formats(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n')
    (tmp_path / "noext").write_text("")
    base = "version: 1\ninputs:\n{inputs}steps: []\noutput: {{path: {out}}}\n"
    cases = {  # inputs -> (content_type and charset declared, metadata column)
        "  a: {paths: ['*.jsonl'], format: jsonl}\n": (False, True),
        "  a: {paths: ['*.warc.gz']}\n": (True, False),
        "  a: {paths: ['x/*'], format: wet}\n": (True, False),
        f"  a: {{paths: ['{tmp_path}/*']}}\n": (False, True),  # auto: by the files matched (a.jsonl)
        "  a: {paths: ['*.warc.gz']}\n  b: {paths: ['*.parquet']}\n": (True, True),
    }
    for inputs, (records, metadata) in cases.items():
        _, recipe = recipe_at(tmp_path, base.format(inputs=inputs, out=tmp_path / "o"))
        assert set(source_annotations(recipe)) == ({"file", "offset"} | ({"content_type", "charset"} if records
                                                                          else set())), inputs
        assert needs_metadata(recipe) is metadata, inputs


def test_declared_and_rejected_columns_of_a_recipe(tmp_path):
    text = FINEWEB_LIKE.format(inputs="c/*.warc.gz", out=tmp_path / "o", annotate="")
    _, recipe = recipe_at(tmp_path, text)
    assert declared_annotations(recipe) == {
        "content_type": "string", "charset": "string", "file": "string", "offset": "int64",
        "extractor": "string", "html_bytes": "int64", "cluster_size": "int64"}
    assert set(rejected_annotations(recipe)) == set(declared_annotations(recipe)) | {
        "duplicate_of", "drop_step", "drop_reason"}
    _, annotated = recipe_at(tmp_path, FINEWEB_LIKE.format(inputs="c/*.warc.gz", out=tmp_path / "o",
                                                           annotate="\n    annotate: true"))
    assert GOPHER_STATS <= set(declared_annotations(annotated))


# ---------------------------------------------------------------- end to end

@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> pathlib.Path:
    from thresher.pipelines.commands.quickstart_corpus import write_corpus
    out = tmp_path_factory.mktemp("corpus")
    write_corpus(str(out), pages=60, files=2)
    return out


def load_train(out: pathlib.Path, cache: pathlib.Path):
    datasets = pytest.importorskip("datasets")
    loaded = datasets.load_dataset(str(out), cache_dir=str(cache))
    assert list(loaded) == ["train"]
    return loaded["train"]


def all_null(table: pa.Table):
    return [name for name in table.column_names if table.column(name).null_count == table.num_rows]


def test_fineweb_like_run_has_no_all_null_column_and_annotate_brings_statistics(tmp_path, corpus):
    out = tmp_path / "plain"
    recipe, _ = recipe_at(tmp_path, FINEWEB_LIKE.format(inputs=corpus / "*.warc.gz", out=out, annotate=""))
    assert main(["run", recipe, "--workers", "1"]) == 0
    stats = json.loads((out / "stats.json").read_text())
    table = ds.dataset(str(out / "data"), format="parquet").to_table()
    assert table.column_names == BASE + ["charset", "cluster_size", "content_type", "extractor", "file",
                                         "html_bytes", "offset"]
    assert table.num_rows == stats["output"]["documents"] > 0 and all_null(table) == []
    rejected = ds.dataset(str(out / "rejected"), format="parquet").to_table()
    assert {"duplicate_of", "drop_step", "drop_reason"} <= set(rejected.column_names)
    assert not GOPHER_STATS & set(rejected.column_names)

    train = load_train(out, tmp_path / "hf")  # rejected/ is not part of it
    assert train.num_rows == stats["output"]["documents"] and train.column_names == table.column_names
    assert train.features["date"].dtype == "timestamp[us, tz=UTC]"

    annotated = tmp_path / "annotated"
    recipe, _ = recipe_at(tmp_path, FINEWEB_LIKE.format(inputs=corpus / "*.warc.gz", out=annotated,
                                                        annotate="\n    annotate: true"), "annotated.yaml")
    assert main(["run", recipe, "--workers", "1"]) == 0
    table = ds.dataset(str(annotated / "data"), format="parquet").to_table()
    stats = GOPHER_STATS | {k for k in STEPS["fineweb_quality"].ANNOTATIONS if k != "fineweb_quality_drop"}
    assert stats <= set(table.column_names) and not stats & set(all_null(table))
    assert "gopher_repetition_dup_line_frac" not in table.column_names  # not annotated there


def write_jsonl(path: pathlib.Path, records):
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")


DATED = [  # (url, date) -> expected (url, UTC date or None, date_raw or None)
    ("https://a.test/1", "2024-05-01T12:00:00+02:00"),
    ("", "2024-05-01"),
    (None, None),
    ("https://a.test/4", "the day before yesterday"),
    ("https://a.test/5", "2023-12-31T23:30:00-01:00"),
]


def jsonl_recipe(tmp_path, out, fmt="parquet"):
    src = tmp_path / "in"
    src.mkdir(exist_ok=True)
    records = [{"id": f"d{i}", "text": f"Report {i} says that the river and the hills are green with new grass. " * 6}
               for i in range(len(DATED))]
    for record, (url, date) in zip(records, DATED):
        if url is not None:
            record["url"] = url
        if date is not None:
            record["date"] = date
    write_jsonl(src / "part.jsonl.gz", records + [{"id": "short", "text": "x"}])
    text = (f"version: 1\nname: jsonl-dates\ninputs:\n  docs: {{paths: ['{src}/*.jsonl.gz']}}\n"
            f"steps:\n  - step: gopher_quality\n"
            f"output: {{path: {out}, format: {fmt}, rejected: true}}\n")
    return recipe_at(tmp_path, text, f"{fmt}.yaml")[0]


def test_jsonl_input_null_url_and_date_timestamp_and_date_raw(tmp_path):
    out = tmp_path / "out"
    assert main(["run", jsonl_recipe(tmp_path, out), "--workers", "1"]) == 0
    train = load_train(out, tmp_path / "hf")
    assert train.num_rows == len(DATED)  # "short" was dropped and sits in rejected/, not in train
    assert train.column_names == BASE + ["file", "offset", "metadata"]
    assert train.features["date"].dtype == "timestamp[us, tz=UTC]"
    table = ds.dataset(str(out / "data"), format="parquet").to_table()
    assert table.schema.field("date").type == pa.timestamp("us", tz="UTC")
    rows = {r["id"]: r for r in table.to_pylist()}
    utc = datetime.timezone.utc
    assert rows["d0"]["url"] == "https://a.test/1"
    assert rows["d0"]["date"] == datetime.datetime(2024, 5, 1, 10, tzinfo=utc)
    assert rows["d1"]["url"] is None and rows["d1"]["date"] == datetime.datetime(2024, 5, 1, tzinfo=utc)
    assert rows["d2"]["url"] is None and rows["d2"]["date"] is None and rows["d2"]["metadata"] is None
    assert rows["d3"]["date"] is None and json.loads(rows["d3"]["metadata"]) == {
        "date_raw": "the day before yesterday"}
    assert rows["d4"]["date"] == datetime.datetime(2024, 1, 1, 0, 30, tzinfo=utc)


def test_jsonl_output_loads_as_train_with_iso_dates(tmp_path):
    out = tmp_path / "out"
    assert main(["run", jsonl_recipe(tmp_path, out, "jsonl"), "--workers", "1"]) == 0
    card = (out / "README.md").read_text()
    assert "path: data/*.jsonl.gz" in card and "| date | string (ISO 8601, UTC) | base |" in card
    assert "| metadata |" not in card  # JSONL is flat: date_raw and the rest are keys of their own
    (data,) = (out / "data").iterdir()
    lines = {r["id"]: r for r in map(json.loads, gzip.decompress(data.read_bytes()).splitlines())}
    assert lines["d0"]["date"] == "2024-05-01T10:00:00Z" and lines["d1"]["url"] is None
    assert lines["d2"]["date"] is None and lines["d3"]["date_raw"] == "the day before yesterday"
    train = load_train(out, tmp_path / "hf")
    rows = {r["id"]: r for r in train}
    assert sorted(rows) == sorted(lines) and rows["d1"]["url"] is None
    assert rows["d3"]["date"] is None and rows["d3"]["date_raw"] == "the day before yesterday"


def test_dataset_card_header_body_and_report_rewrites_it(tmp_path):
    import yaml
    out = tmp_path / "out"
    assert main(["run", jsonl_recipe(tmp_path, out), "--workers", "1"]) == 0
    text = (out / "README.md").read_text()
    assert text.startswith("---\n")
    header = yaml.safe_load(text.split("---\n")[1])
    assert header["configs"] == [{"config_name": "default",
                                  "data_files": [{"split": "train", "path": "data/*.parquet"}]}]
    assert header["task_categories"] == ["text-generation"] and header["size_categories"] == ["n<1K"]
    assert "| 00 | gopher_quality | 6 | 5 | 1 | 0 | gopher_short_doc 1" in text
    assert "| date | timestamp[us, tz=UTC] | base |" in text and "| offset | int64 | source |" in text
    assert "| metadata | string | base |" in text and "| charset |" not in text
    assert "report.html" in text and "Warning" not in text
    (out / "README.md").unlink()
    assert main(["report", str(out)]) == 0
    assert (out / "README.md").read_text() == text


def test_dataset_card_size_categories_and_warnings():
    from thresher.pipelines.report.dataset_card import render, size_category
    assert [size_category(n) for n in (0, 999, 1000, 9999, 10_000, 10 ** 12 - 1, 10 ** 12)] == [
        "n<1K", "n<1K", "1K<n<10K", "1K<n<10K", "10K<n<100K", "100B<n<1T", "n>1T"]
    stats = {"recipe": "r", "input": {"documents": 3}, "output": {"documents": 2}, "steps": [],
             "profile": {"language": {"kind": "categorical", "values": {"de": 1, "en": 2}}}}
    text = render(stats)
    assert "Warning" not in text and "language:\n- en\n- de\n" in text
    assert "**Warning: this run wrote no document.**" in render({**stats, "output": {"documents": 0}})
    failed = render({**stats, "status": "failed", "status_reason": "input web: 0 of 13 records read"})
    assert "**Warning: this run failed** (input web: 0 of 13 records read)" in failed
