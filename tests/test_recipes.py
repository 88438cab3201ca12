"""Every shipped recipe is valid against the registered steps."""
from __future__ import annotations

import pytest

from thresher.pipelines.recipe.model import load_recipe
from thresher.pipelines.recipe.registry import STEPS
from tests.conftest import PROJECT_ROOT

RECIPES = sorted((PROJECT_ROOT / "recipes").glob("*.yaml"))


def test_recipes_exist():
    names = {p.stem for p in RECIPES}
    assert {"quickstart", "c4"} <= names


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_recipe_is_valid(path):
    recipe = load_recipe(str(path), STEPS)
    assert recipe.steps and recipe.name == path.stem
    for spec in recipe.steps:
        STEPS[spec.step](**spec.params)  # constructs with the recipe's parameters


def test_fineweb_edu_runs_with_a_tiny_classifier(tmp_path, capsys):
    """recipes/fineweb-edu.yaml end to end through the CLI on real WARC records, with a tiny ONNX
    regression model as {edu_model} (rejected documents written too): every document the classifier
    saw carries edu_score equal to ONNX Runtime's own score of its text truncated to 512 tokens, and
    edu_score_int = int(round(clamp(score, 0, 5))); kept exactly when that is >= 3."""
    pytest.importorskip("onnxruntime")
    import numpy as np
    import onnxruntime as ort
    import pyarrow.parquet as pq
    import yaml
    from tokenizers import Tokenizer

    from tests.conftest import SHARED_DATA, require_fineweb_lists, require_lid_model
    from tests.tiny_models import onnx_model_dir
    from thresher.pipelines.commands.cli import main

    require_lid_model()
    require_fineweb_lists()
    model = onnx_model_dir(tmp_path / "model", ["edu"])
    recipe = yaml.safe_load((PROJECT_ROOT / "recipes" / "fineweb-edu.yaml").read_text())
    recipe["output"]["rejected"] = True  # the documents the classifier drops, with their scores
    path = tmp_path / "fineweb-edu.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    out = tmp_path / "out"
    warcs = str(SHARED_DATA / "warc-samples" / "dolma" / "*.warc.gz")
    assert main(["run", str(path), "--input", warcs, "--output", str(out), "--param", f"edu_model={model}",
                 "--workers", "1", "--quiet"]) == 0
    capsys.readouterr()
    kept = pq.read_table(out / "data").to_pylist()
    rejected = [d for d in pq.read_table(out / "rejected").to_pylist() if d["drop_step"] == "classifier"]
    assert kept and rejected and all(d["drop_reason"] == "classifier_low_score" for d in rejected)

    tok = Tokenizer.from_file(str(model / "tokenizer.json"))
    tok.enable_truncation(max_length=512)
    session = ort.InferenceSession(str(model / "model.onnx"), providers=["CPUExecutionProvider"])
    kept_ids = {d["id"] for d in kept}
    for doc in kept + rejected:
        enc = tok.encode(doc["text"])
        ids = np.array([enc.ids], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.array([enc.type_ids])}
        expected = float(session.run(None, feeds)[0][0, 0])
        assert doc["edu_score"] == pytest.approx(expected, abs=1e-4), doc["id"]
        assert doc["edu_score_int"] == int(round(max(0.0, min(expected, 5.0)))), doc["id"]
        assert (doc["edu_score_int"] >= 3) == (doc["id"] in kept_ids), doc["id"]
    assert any(len(tok.encode(d["text"]).ids) == 512 for d in kept + rejected)  # some texts were truncated
