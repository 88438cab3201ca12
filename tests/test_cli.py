"""End-to-end: the thresher CLI on real and generated WARCs, stats that balance."""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pyarrow.dataset as ds
import pytest
import yaml

from thresher.pipelines.commands.cli import main
from tests.conftest import PROJECT_ROOT

RECIPE = """
version: 1
name: cli-test
inputs:
  web:
    paths: [{paths}]
steps:
  - step: extract
output:
  path: {out}
  rejected: true
"""


def write_recipe(tmp_path, paths, out=None, text=RECIPE) -> str:
    path = tmp_path / "recipe.yaml"
    path.write_text(text.format(paths=", ".join(f"'{p}'" for p in paths), out=out or tmp_path / "out"))
    return str(path)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> pathlib.Path:
    from thresher.pipelines.commands.quickstart_corpus import write_corpus
    out = tmp_path_factory.mktemp("corpus")
    write_corpus(str(out), pages=60, files=2)
    return out


def read_output(out: pathlib.Path):
    table = ds.dataset(str(out / "data"), format="parquet").to_table()
    return sorted(zip(table.column("id").to_pylist(), table.column("text").to_pylist()))


def test_steps_lists_parameters(capsys):
    assert main(["steps"]) == 0
    text = capsys.readouterr().out
    assert "extract:" in text and "favor_precision: bool (default true)" in text  # as YAML writes it


def test_validate_reports_bad_recipe(tmp_path, capsys):
    bad = write_recipe(tmp_path, ["x"], text=RECIPE.replace("step: extract", "step: extrct"))
    assert main(["validate", bad]) == 2
    err = capsys.readouterr().err
    assert "recipe.yaml: steps[0].step: unknown step 'extrct'" in err and "did you mean 'extract'" in err


def test_validate_reports_missing_input(tmp_path, capsys):
    assert main(["validate", write_recipe(tmp_path, [str(tmp_path / "none*.warc.gz")])]) == 2
    assert "inputs.web.paths[0]: no file matches" in capsys.readouterr().err


def test_input_takes_the_paths_a_shell_glob_expanded_to(tmp_path, corpus, capsys):
    files = sorted(str(p) for p in corpus.glob("*.warc.gz"))  # `--input corpus/*.warc.gz`, unquoted
    assert len(files) == 2
    recipe = write_recipe(tmp_path, [str(tmp_path / "none*.warc.gz")])
    assert main(["validate", recipe, "--input", *files]) == 0
    out = tmp_path / "out"
    assert main(["run", recipe, "--input", *files, "--output", str(out), "--workers", "1", "--quiet"]) == 0
    lock = yaml.safe_load((out / "recipe.lock.yaml").read_text())
    assert lock["recipe"]["inputs"]["web"]["paths"] == files
    # a recipe with several inputs: each path needs its NAME=, none is read as a recipe
    several = write_recipe(tmp_path, [files[0]], text=RECIPE.replace("inputs:", "inputs:\n  more:\n    paths: [x]"))
    assert main(["validate", several, "--input", f"web={files[0]}", files[1]]) == 2
    assert "the recipe has several inputs, say which with NAME=GLOB" in capsys.readouterr().err


def test_run_writes_layout_and_balanced_stats(tmp_path, corpus, capsys):
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path, [corpus / "*.warc.gz"], out)
    assert main(["run", recipe, "--workers", "2"]) == 0
    printed = capsys.readouterr().out
    assert "00 extract" in printed and "balanced: True" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md", "_SUCCESS", "data", "errors", "recipe.lock.yaml", "rejected", "report.html", "report.md",
        "stats.json", "thresher.log"]
    stats = json.loads((out / "stats.json").read_text())
    manifest = json.loads((corpus / "manifest.json").read_text())
    assert stats["balanced"] is True
    assert stats["input"]["documents"] == manifest["response_records"]
    assert stats["input"]["read_errors"] == 1  # the truncated record at the end
    extract = stats["steps"][0]
    assert extract["dropped"].get("extract_not_html", 0) >= 1
    assert stats["output"]["documents"] == len(read_output(out)) == extract["out"]
    assert stats["rejected_written"] == extract["dropped_total"]
    lock = yaml.safe_load((out / "recipe.lock.yaml").read_text())
    assert lock["recipe"]["steps"][0]["step"] == "extract" and "apache-beam" in lock["versions"]
    assert lock["recipe"]["steps"][0]["max_html_bytes"] == 5_000_000  # a default the recipe left out

    # a second run into the same directory refuses without --overwrite
    assert main(["run", recipe]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_same_output_with_one_and_two_workers(tmp_path, corpus):
    outputs = []
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        assert main(["run", write_recipe(tmp_path, [corpus / "*.warc.gz"], out), "--workers", str(workers),
                     "--quiet"]) == 0
        outputs.append(read_output(out))
    assert outputs[0] == outputs[1] and len(outputs[0]) > 10


def test_empty_input_gives_empty_output_and_stats(tmp_path):
    empty = tmp_path / "empty.warc.gz"
    empty.write_bytes(b"")
    out = tmp_path / "out"
    assert main(["run", write_recipe(tmp_path, [empty], out), "--workers", "1", "--quiet"]) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["input"]["total"] == 0 and stats["output"]["documents"] == 0 and stats["balanced"]
    assert stats["status"] == "succeeded" and (out / "_SUCCESS").exists()  # zero bytes: an empty run, not a failure
    assert ds.dataset(str(out / "data"), format="parquet").count_rows() == 0


def test_real_warc_samples_balance(tmp_path, shared_data):
    samples = shared_data / "warc-samples"
    paths = sorted(str(p) for p in samples.rglob("*") if p.suffix in (".gz", ".warc", ".arc", ".bad"))
    assert len(paths) >= 20
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path, paths, out, text=RECIPE.replace("paths: [{paths}]", "paths: [{paths}]\n    format: auto"))
    # .bad and wat files are not auto-detectable: give the WARC ones explicitly
    recipe_data = yaml.safe_load(pathlib.Path(recipe).read_text())
    recipe_data["inputs"] = {
        "warc": {"paths": [p for p in paths if ".warc" in p and "wet" not in p and "wat" not in p], "format": "warc"},
        "arc": {"paths": [p for p in paths if ".arc" in p], "format": "arc"},
        "wet": {"paths": [p for p in paths if ".wet" in p], "format": "wet"},
    }
    pathlib.Path(recipe).write_text(yaml.safe_dump(recipe_data))
    assert main(["run", recipe, "--workers", "2", "--quiet"]) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["balanced"] is True
    assert stats["input"]["read_errors"] >= 1  # the deliberately broken files
    assert stats["input"]["documents"] > 100
    errors = stats["errors_written"]
    assert errors == stats["errors_total"]


def test_console_script_is_installed():
    thresher = pathlib.Path(sys.executable).parent / "thresher"
    done = subprocess.run([str(thresher), "steps"], capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert done.returncode == 0 and "extract:" in done.stdout


def test_s_curve_command(capsys):
    assert main(["s-curve", "--bands", "14", "--rows", "8"]) == 0
    out = capsys.readouterr().out
    assert "14 bands x 8 rows = 112 permutations" in out
    assert "   0.85  0.9884" in out  # 1 - (1 - 0.85^8)^14
