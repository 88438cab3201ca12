"""Cloud Storage without the cloud (``tests/gcs_emulator.py``): a recipe read from gs://, inputs on
gs://, output to gs://. ``--workers 1`` keeps the SDK worker in this process, where the emulator's
anonymous-credentials mark holds.
"""
from __future__ import annotations

import gzip
import io
import json
import os

import pyarrow.parquet as pq

from tests.gcs_emulator import BUCKET, gcs  # noqa: F401 (a fixture)
from thresher.pipelines.commands.cli import main

RECIPE = """
version: 1
name: gcs-test
params: {{dump: none}}
inputs:
  web: {{paths: ["{root}/in/*.warc.gz"], format: warc}}
  notes: {{paths: ["{root}/in/notes.jsonl"], format: jsonl}}
steps:
  - step: extract
output: {{path: "{root}/out/{{dump}}", rejected: true, shard_size_mb: {shard_mb}}}
"""
NOTES = (b'{"id": "note-1", "text": "<html><body><article><p>'
         + b"The river bends twice before it reaches the old mill, and the path follows it. " * 8
         + b'</p></article></body></html>", "url": "https://example.org/note-1"}\n'
         + b"this line is not JSON\n")


def _gcs_docs(bucket, prefix):
    rows = []
    for blob in bucket.list_blobs(prefix=prefix):
        table = pq.read_table(io.BytesIO(blob.download_as_bytes()))
        rows += zip(table.column("id").to_pylist(), table.column("text").to_pylist())
    return sorted(rows)


def _local_docs(directory):
    table = pq.read_table(str(directory))
    return sorted(zip(table.column("id").to_pylist(), table.column("text").to_pylist()))


def _error_lines(blobs_or_paths):
    lines = []
    for raw in blobs_or_paths:
        lines += [json.loads(line) for line in gzip.decompress(raw).splitlines()]
    return sorted((e["step"], e.get("exception", "")[:40]) for e in lines)


def test_recipe_on_gcs_matches_local_disk(gcs, tmp_path, capsys, caplog):
    from thresher.pipelines.commands.quickstart_corpus import write_corpus

    bucket, emulator_url = gcs
    local = tmp_path / "local"
    corpus = local / "in"
    write_corpus(str(corpus), pages=40, files=2)
    (corpus / "notes.jsonl").write_bytes(NOTES)
    for path in sorted(corpus.iterdir()):
        bucket.blob(f"in/{path.name}").upload_from_filename(str(path))
    bucket.blob("recipes/gcs.yaml").upload_from_string(RECIPE.format(root=f"gs://{BUCKET}", shard_mb=0.01))
    (local / "recipe.yaml").write_text(RECIPE.format(root=local, shard_mb=0.01))

    run = ["--param", "dump=CC-TEST-1", "--workers", "1"]
    assert main(["run", str(local / "recipe.yaml"), *run]) == 0
    assert main(["run", f"gs://{BUCKET}/recipes/gcs.yaml", *run, "--", "--project", "test-project"]) == 0

    names = sorted(b.name for b in bucket.list_blobs(prefix="out/CC-TEST-1/"))
    top = sorted({n.split("/")[2] for n in names})
    assert top == ["README.md", "_SUCCESS", "data", "errors", "recipe.lock.yaml", "rejected", "report.html", "report.md",
                   "stats.json"], names
    data = [n for n in names if n.startswith("out/CC-TEST-1/data/")]
    assert len(data) > 1 and all(n.endswith(f"-of-{len(data):05d}.parquet") for n in data)

    # same documents, same accounting, same errors as on local disk
    out_local = local / "out" / "CC-TEST-1"
    docs = _gcs_docs(bucket, "out/CC-TEST-1/data/")
    assert docs == _local_docs(out_local / "data") and len(docs) > 20
    assert "note-1" in {doc_id for doc_id, _ in docs}
    stats = json.loads(bucket.blob("out/CC-TEST-1/stats.json").download_as_bytes())
    stats_local = json.loads((out_local / "stats.json").read_text())
    listed = stats["input"].pop("files")
    assert [(f["source"], f["path"].rsplit("/", 1)[1], f["bytes"]) for f in listed] == [
        (f["source"], f["path"].rsplit("/", 1)[1], f["bytes"]) for f in stats_local["input"].pop("files")]
    assert all(f["path"].startswith(f"gs://{BUCKET}/in/") for f in listed)
    assert stats["balanced"] and stats["input"] == stats_local["input"] and stats["steps"] == stats_local["steps"]
    assert bucket.blob("out/CC-TEST-1/report.html").exists()  # the data card, written to gs:// too
    assert stats["input"]["read_errors"] == 2  # the truncated WARC record and the line that is not JSON
    assert all(f["path"].startswith(f"gs://{BUCKET}/out/CC-TEST-1/") for f in stats["files"])
    errors = [b.download_as_bytes() for b in bucket.list_blobs(prefix="out/CC-TEST-1/errors/")]
    assert _error_lines(errors) == _error_lines(p.read_bytes() for p in sorted((out_local / "errors").iterdir()))
    assert list(bucket.list_blobs(prefix="out/CC-TEST-1/rejected/"))

    # nothing printed or written echoes the environment (the emulator address stands in for a secret)
    lock = bucket.blob("out/CC-TEST-1/recipe.lock.yaml").download_as_text()
    printed = capsys.readouterr()
    for text in (printed.out, printed.err, caplog.text, lock):
        assert emulator_url not in text and os.environ["STORAGE_EMULATOR_HOST"] not in text
        assert "Bearer" not in text and "access_token" not in text


def test_gcs_output_is_not_mixed_and_overwrite_replaces_every_object(gcs, tmp_path, capsys):
    bucket, _ = gcs
    from thresher.pipelines.commands.quickstart_corpus import write_corpus
    corpus = tmp_path / "in"
    write_corpus(str(corpus), pages=40, files=1)
    for path in sorted(corpus.glob("*.warc.gz")):
        bucket.blob(f"ow/in/{path.name}").upload_from_filename(str(path))
    (corpus / "notes.jsonl").write_bytes(NOTES)
    bucket.blob("ow/in/notes.jsonl").upload_from_filename(str(corpus / "notes.jsonl"))
    root = f"gs://{BUCKET}/ow"
    many = tmp_path / "many.yaml"
    many.write_text(RECIPE.format(root=root, shard_mb=0.01))
    assert main(["run", str(many), "--workers", "1", "--quiet"]) == 0
    before = sorted(b.name for b in bucket.list_blobs(prefix="ow/out/none/data/"))
    assert len(before) > 1

    assert main(["run", str(many), "--workers", "1", "--quiet"]) == 2  # refused: the directory holds a run
    assert "already holds a finished run" in capsys.readouterr().err

    # a stray object under _temporary/ (what a failed attempt leaves) and bigger shards
    bucket.blob("ow/out/none/_temporary/data/stray.tmp").upload_from_string(b"x")
    one = tmp_path / "one.yaml"
    one.write_text(RECIPE.format(root=root, shard_mb=64))
    assert main(["run", str(one), "--workers", "1", "--quiet", "--overwrite"]) == 0
    after = sorted(b.name for b in bucket.list_blobs(prefix="ow/out/none/"))
    data = [n for n in after if n.startswith("ow/out/none/data/")]
    assert data == ["ow/out/none/data/part-00000-of-00001.parquet"], after
    assert not [n for n in after if "_temporary" in n], after
