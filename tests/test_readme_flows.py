"""The README's walk-throughs after `thresher quickstart`, run as a new user runs them (in a fresh
working directory, through the CLI): token shards with a tokenizer trained by `train-tokenizer`,
and scores with a perplexity model built by `train-lm` and a classifier folder (here a tiny ONNX
model the test builds, standing in for FineWeb-Edu's, which needs the internet)."""
from __future__ import annotations

import json
import pathlib

import pyarrow.parquet as pq
import pytest

from tests.conftest import PROJECT_ROOT, require_lid_model
from tests.token_readers import read_megatron_independent
from thresher.pipelines.commands.cli import main


@pytest.fixture(scope="module")
def quickstart_dir(tmp_path_factory):
    """A working directory where `thresher quickstart` ran (corpus and curated output)."""
    require_lid_model()
    work = tmp_path_factory.mktemp("work")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(work)
        assert main(["quickstart", "--workers", "1"]) == 0
    return work


def test_tokens_walkthrough(quickstart_dir, monkeypatch, capsys):
    monkeypatch.chdir(quickstart_dir)
    assert main(["train-tokenizer", "--input", "quickstart/output/data/*.parquet", "--vocab-size", "4096",
                 "--out", "quickstart/tokenizer.json"]) == 0
    assert main(["run", str(PROJECT_ROOT / "recipes" / "quickstart-tokens.yaml"), "--workers", "1"]) == 0
    out = pathlib.Path("quickstart/tokens-output")
    stats = json.loads((out / "stats.json").read_text())
    assert stats["balanced"] and stats["tokens"]["balanced"]
    assert stats["tokens"]["documents"] == stats["output"]["documents"] == 240
    assert stats["tokens"]["splits"]["train"]["shards"] > 1 and stats["tokens"]["splits"]["validation"]["documents"]
    shard = sorted((out / "tokens").glob("train-00000-of-*.idx"))[0].with_suffix("")
    assert sum(map(len, read_megatron_independent(str(shard)))) > 100
    capsys.readouterr()
    assert main(["tokens", str(out), "--shard", "0", "--token", "100", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    first = pq.read_table(str(shard) + ".provenance.parquet").to_pylist()[0]
    assert first["token_offset"] == 0 and first["token_length"] > 100  # token 100 is in document 0
    assert found["id"] == first["id"] and found["url"] == first["url"]
    assert "Tokens" in (out / "report.md").read_text()


def test_scores_walkthrough(quickstart_dir, monkeypatch, tmp_path):
    pytest.importorskip("onnxruntime")
    from tests.tiny_models import onnx_model_dir

    monkeypatch.chdir(quickstart_dir)
    assert main(["train-lm", "--input", "quickstart/output/data/*.parquet", "--language", "en",
                 "--out", "quickstart/lm"]) == 0
    model = onnx_model_dir(tmp_path / "edu", ["edu"])
    assert main(["run", str(PROJECT_ROOT / "recipes" / "quickstart-scores.yaml"), "--workers", "1",
                 "--param", f"edu_model={model}"]) == 0
    out = pathlib.Path("quickstart/scores-output")
    stats = json.loads((out / "stats.json").read_text())
    assert stats["balanced"] and stats["output"]["documents"] == 240  # annotating only: nothing dropped
    rows = pq.ParquetDataset(str(out / "data")).read().to_pylist()
    english = [r for r in rows if r["language"] == "en"]
    assert english and all(r["perplexity"] is not None and r["perplexity"] > 0 for r in english)
    assert all(r["perplexity"] is None for r in rows if r["language"] != "en")  # no model: unscored
    assert all(r["edu_score"] is not None and r["edu_score_int"] in range(6) for r in rows)
    card = (out / "report.md").read_text()
    assert "perplexity" in card and "edu_score" in card
