"""A training mixture end to end through the CLI: train-quality, quality_model, decontaminate, mix,
an output ordered by the quality score, and the data card that reports all of it."""
from __future__ import annotations

import json
import random

import pyarrow.dataset as ds

from thresher.pipelines.commands.cli import main
from thresher.pipelines.commands.quickstart_pages import _Writer
from tests.conftest import SHARED_DATA
from tests.test_quality_model import FAST, spam_doc

RECIPE = """
version: 1
name: mixture
inputs:
  web: {{paths: ["{root}/web.jsonl"], format: jsonl}}
  books: {{paths: ["{root}/books.jsonl"], format: jsonl}}
steps:
  - step: quality_model
    model_path: "{root}/quality.bin"
    positive_label: hq
    threshold: 0.5
  - step: decontaminate
    benchmarks: ["{gsm8k}"]
  - step: mix
    weights: {{web: 0.5, books: 0.5}}
    budget_documents: 80      # books has 30 documents: about 1.3 copies each, web under 1
    max_epochs: 2
    seed: 1
output:
  path: "{root}/out"
  order: annotation
  order_by: quality_score
  descending: true
  rejected: true
"""


def _article(writer: _Writer) -> str:
    title, paras = writer.article()
    return title + "\n\n" + "\n\n".join(" ".join(p) for p in paras)


def test_mixture_recipe_end_to_end(tmp_path, capsys):
    rng = random.Random(3)
    writer = _Writer("en", rng)
    with open(SHARED_DATA / "decontam-benchmarks" / "gsm8k" / "test.jsonl") as f:
        item = json.loads(f.readline())
    # training data for the classifier: articles against link spam
    (tmp_path / "train_hq.txt").write_text("\n".join(_article(writer).replace("\n", " ") for _ in range(150)))
    (tmp_path / "train_cc.txt").write_text("\n".join(spam_doc(rng) for _ in range(150)))
    assert main(["train-quality", "--positive", str(tmp_path / "train_hq.txt"), "--negative",
                 str(tmp_path / "train_cc.txt"), "--out", str(tmp_path / "quality.bin"), *FAST]) == 0
    metrics = json.loads((tmp_path / "quality.bin.metrics.json").read_text())
    assert metrics["validation"]["roc_auc"] > 0.95, metrics

    web = [{"id": f"web-{i}", "text": _article(writer) if i % 2 else spam_doc(rng)} for i in range(40)]
    contaminated = _article(writer) + "\n\n" + item["question"].upper().replace(" ", "  ") + " " + item["answer"]
    web.append({"id": "web-leak", "text": contaminated})
    books = [{"id": f"book-{i}", "text": _article(writer)} for i in range(30)]
    for name, rows in (("web", web), ("books", books)):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = tmp_path / "mixture.yaml"
    recipe.write_text(RECIPE.format(root=tmp_path, gsm8k=SHARED_DATA / "decontam-benchmarks" / "gsm8k" / "test.jsonl"))
    assert main(["run", str(recipe), "--workers", "1"]) == 0, capsys.readouterr()

    out = tmp_path / "out"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["balanced"] and all(s["balanced"] for s in stats["steps"])
    quality, decontam, mix = stats["steps"]
    assert quality["dropped"] == {"quality_model_low_score": 20}  # the spam pages
    assert quality["summary"]["kind"] == "quality"
    assert decontam["dropped"] == {"decontaminate_benchmark_overlap": 1}
    found = decontam["summary"]["items"]
    assert [(i["benchmark"], i["documents"], i["examples"]) for i in found] == [("gsm8k", 1, ["web-leak"])]
    table = {s["source"]: s for s in mix["summary"]["sources"]}
    assert table["books"]["available_documents"] == 30 and table["web"]["available_documents"] == 20
    assert mix["added"] > 0 and table["books"]["epochs"] <= 2
    assert abs(stats["output"]["documents"] - 80) <= 8

    rows = ds.dataset(sorted(str(p) for p in (out / "data").glob("*.parquet")), format="parquet").to_table()
    scores = rows.column("quality_score").to_pylist()
    assert scores == sorted(scores, reverse=True)  # curriculum order, hardest... best first
    assert set(rows.column("epoch").to_pylist()) <= {0, 1}
    html = (out / "report.html").read_text()
    md = (out / "report.md").read_text()
    for text in (html, md):
        assert "gsm8k" in text and "web-leak" in text and "books" in text and "quality_model_low_score" in text
    assert "quality_score" in html and "<svg" in html
