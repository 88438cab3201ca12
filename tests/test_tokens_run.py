"""Token shards end to end (``output.tokens``): ``thresher run`` on a small JSONL corpus of two inputs
writes shards that hold every output document once, decode to its Parquet text plus EOS, split by
hash, account in stats.json and the data card, equal mix's token count, and are byte-identical on
1 and 2 workers, the portable runner and gs:// (the emulator)."""
from __future__ import annotations

import collections
import hashlib
import json
import pathlib

import numpy as np
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import xxhash

from thresher.pipelines.commands.cli import main
from tests.token_readers import read_datatrove_independent, read_megatron_independent
from tests.tokenizer_fixture import default_texts, train_test_tokenizer

from tests.gcs_emulator import gcs  # noqa: F401 (a fixture)

SEED, VALIDATION = 3, 0.2
WORDS = ("river", "market", "library", "notebook", "bridge", "morning", "garden", "letter", "station", "window")


def _text(source: str, i: int) -> str:
    """A document of a few sentences, some with accents and other scripts, lengths varying with i."""
    lines = default_texts()
    picked = [lines[(i * 7 + k * 13) % len(lines)] for k in range(2 + i % 6)]
    return f"{source} {i}: " + " ".join(picked) + " " + " ".join(WORDS[(i + k) % len(WORDS)] for k in range(i % 9))


def write_corpus(root: pathlib.Path) -> dict:
    """web: two JSONL files (30 documents), books: one (12); returns {id: text}."""
    texts = {}
    root.mkdir(parents=True, exist_ok=True)
    for name, files, per_file in (("web", 2, 15), ("books", 1, 12)):
        for f in range(files):
            with open(root / f"{name}-{f}.jsonl", "w", encoding="utf-8") as out:
                for i in range(per_file):
                    doc_id = f"{name}-{f}-{i}"
                    texts[doc_id] = _text(name, f * 100 + i)
                    out.write(json.dumps({"id": doc_id, "text": texts[doc_id],
                                          "url": f"https://{name}.example/{f}/{i}"}) + "\n")
    return texts


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("tokens")
    texts = write_corpus(root / "in")
    tokenizer = train_test_tokenizer(str(root / "tokenizer.json"))
    return root, texts, tokenizer


def recipe_text(root, out, tokenizer, fmt="megatron", steps="[]", text_format="parquet", extra="") -> str:
    return f"""
version: 1
name: tokens-test
inputs:
  web: {{paths: ["{root}/in/web-*.jsonl"], format: jsonl}}
  books: {{paths: ["{root}/in/books-*.jsonl"], format: jsonl}}
steps: {steps}
output:
  path: "{out}"
  format: {text_format}
  tokens:
    tokenizer: "{tokenizer}"
    format: {fmt}
    shard_tokens: 1000
    validation_fraction: {VALIDATION}
    seed: {SEED}{extra}
"""


def run(root, name: str, text: str, *args, quiet: bool = True) -> pathlib.Path:
    recipe = root / f"{name}.yaml"
    recipe.write_text(text)
    assert main(["run", str(recipe), *(["--quiet"] if quiet else []), *args]) == 0
    return pathlib.Path(text.split('path: "')[1].split('"')[0])  # output.path


def shards(out: pathlib.Path, fmt: str = "megatron"):
    """{shard name: (provenance rows, [token arrays])} read with the independent readers."""
    found = {}
    manifest = json.loads((out / "tokens" / "tokens.json").read_text())
    for shard in manifest["shards"]:
        prefix = str(out / "tokens" / shard["name"])
        if fmt == "megatron":
            docs = read_megatron_independent(prefix)
        else:
            docs = read_datatrove_independent(prefix, np.dtype(manifest["dtype"]).itemsize)
        rows = pq.read_table(prefix + ".provenance.parquet").to_pylist()
        found[shard["name"]] = (rows, docs)
    return manifest, found


def parquet_docs(out: pathlib.Path):
    table = ds.dataset(sorted(str(p) for p in (out / "data").glob("*.parquet")), format="parquet").to_table()
    return dict(zip(table.column("id").to_pylist(), table.column("text").to_pylist()))


def base_id(doc_id: str, epoch) -> str:
    return doc_id.rsplit("#", 1)[0] if epoch else doc_id


def expected_split(doc_id: str) -> str:
    return "validation" if xxhash.xxh64_intdigest(doc_id.encode("utf-8"), seed=SEED) / 2 ** 64 < VALIDATION else "train"


def test_shards_hold_every_output_document_once_and_decode_to_its_text(corpus, capsys):
    import yaml
    from tokenizers import Tokenizer
    root, texts, tokenizer_path = corpus
    out = run(root, "plain", recipe_text(root, root / "plain", tokenizer_path), quiet=False)
    printed = capsys.readouterr().out
    tok = Tokenizer.from_file(tokenizer_path)
    eos = tok.token_to_id("<|endoftext|>")
    stats = json.loads((out / "stats.json").read_text())
    assert stats["balanced"] and stats["status"] == "succeeded"
    written = parquet_docs(out)
    assert written == texts  # no step: every document, its text as read
    manifest, found = shards(out)
    seen = collections.Counter()
    by_source = collections.defaultdict(lambda: [0, 0])
    split_tokens = collections.Counter()
    for name, (rows, docs) in found.items():
        split = name.split("-")[0]
        assert len(rows) == len(docs) > 0
        offset = 0
        for k, (row, ids) in enumerate(zip(rows, docs)):
            assert (row["shard"], row["doc_index"], row["token_offset"], row["token_length"]) == \
                   (name, k, offset, len(ids))
            offset += len(ids)
            assert ids[-1] == eos and tok.decode(ids[:-1].tolist(), skip_special_tokens=False) == written[row["id"]]
            assert ids[:-1].tolist() == tok.encode(written[row["id"]], add_special_tokens=False).ids
            assert row["source"] == row["id"].split("-")[0] and row["url"].startswith(f"https://{row['source']}.")
            assert row["file"].endswith(f"{row['id'].rsplit('-', 1)[0]}.jsonl") and row["offset"] >= 1
            assert expected_split(row["id"]) == split
            seen[row["id"]] += 1
            by_source[row["source"]][0] += 1
            by_source[row["source"]][1] += len(ids)
            split_tokens[split] += len(ids)
    assert seen == collections.Counter(list(written))  # every Parquet document once
    assert 0 < split_tokens["validation"] < split_tokens["train"]
    assert sorted(found) == [s["name"] for s in sorted(manifest["shards"], key=lambda s: s["name"])]
    names = {split: sorted(n for n in found if n.startswith(split)) for split in ("train", "validation")}
    for split, listed in names.items():  # numbered contiguously
        assert listed == [f"{split}-{i:05d}-of-{len(listed):05d}" for i in range(len(listed))]
    assert len(names["train"]) >= 3

    t = stats["tokens"]
    assert t["balanced"] and t["documents"] == len(written) == stats["output"]["documents"]
    assert t["tokens"] == sum(split_tokens.values())
    assert {s: (v["tokens"], v["shards"]) for s, v in t["splits"].items()} == \
           {s: (split_tokens[s], len(names[s])) for s in ("train", "validation")}
    assert t["by_source"] == {s: {"documents": d, "tokens": n} for s, (d, n) in sorted(by_source.items())}
    assert t["copy_tokens"] == 0 and t["eos"] is True and t["eos_id"] == eos and t["dtype"] == "uint16"
    assert t["tokenizer"]["sha256"] == hashlib.sha256(pathlib.Path(tokenizer_path).read_bytes()).hexdigest()
    assert t["tokenizer"]["vocab_size"] == tok.get_vocab_size(with_added_tokens=True)
    assert sum(t["length_histogram"].values()) == len(written)
    assert manifest["eos_id"] == eos and manifest["format"] == "megatron" and manifest["dtype"] == "uint16"
    assert (out / "tokens" / "tokenizer.json").read_bytes() == pathlib.Path(tokenizer_path).read_bytes()
    assert sum(1 for f in stats["files"] if f["kind"] == "tokens") == len(found)
    report = (out / "report.md").read_text()
    assert "## Tokens" in report and f"{t['tokens']:,}" in report and "train-00000-of-" in report
    assert 'id="tokens"' in (out / "report.html").read_text()
    assert "## Token shards" in (out / "README.md").read_text()
    assert (f"tokens: {t['tokens']:,} in {len(names['train'])} train + {len(names['validation'])} validation "
            f"shard(s) (megatron uint16, tokenizer {t['tokenizer']['sha256'][:8]}…)") in printed
    lock = yaml.safe_load((out / "recipe.lock.yaml").read_text())["recipe"]["output"]["tokens"]
    assert lock == {"tokenizer": tokenizer_path, "format": "megatron", "shard_tokens": 1000, "eos": True,
                    "eos_token": None, "dtype": "auto", "validation_fraction": VALIDATION, "seed": SEED,
                    "annotations": None}


def test_mix_counts_in_the_shards_tokens_and_copies_stay_in_one_split(corpus):
    root, texts, tokenizer_path = corpus
    steps = "\n  - step: mix\n    weights: {web: 1, books: 1}\n    budget_tokens: 12000\n    seed: 1"
    out = run(root, "mix", recipe_text(root, root / "mix", tokenizer_path, fmt="datatrove", steps=steps))
    stats = json.loads((out / "stats.json").read_text())
    assert stats["balanced"] and stats["tokens"]["balanced"]
    (mix,) = stats["steps"]
    assert mix["summary"]["token_counting"].startswith(f"tokenizer {tokenizer_path}")
    locked = stats["run"]["recipe"]["steps"][0]
    assert (locked["tokenizer"], locked["count_eos"]) == (tokenizer_path, True)
    assert mix["added"] > 0  # books upsampled
    achieved = sum(row["achieved_tokens"] for row in mix["summary"]["sources"])
    manifest, found = shards(out, "datatrove")
    tokens = sum(len(ids) for rows, docs in found.values() for ids in docs)
    assert achieved == tokens == stats["tokens"]["tokens"]  # mix counted with the shards' tokenizer and EOS
    copy_tokens = 0
    splits = collections.defaultdict(set)
    for name, (rows, docs) in found.items():
        for row in rows:
            assert row["tokens"] == row["token_length"]  # mix's annotation, copied into the index
            copy_tokens += row["token_length"] if row["epoch"] >= 1 else 0
            splits[base_id(row["id"], row["epoch"])].add(name.split("-")[0])
    assert copy_tokens == stats["tokens"]["copy_tokens"] > 0
    assert all(len(s) == 1 for s in splits.values())  # every copy of a document in its split
    ids = collections.Counter(row["id"] for rows, _ in found.values() for row in rows)
    assert ids == collections.Counter(list(parquet_docs(out)))


def test_format_none_writes_only_the_shards(corpus):
    root, texts, tokenizer_path = corpus
    out = run(root, "none", recipe_text(root, root / "none", tokenizer_path, text_format="none"))
    stats = json.loads((out / "stats.json").read_text())
    assert not (out / "data").exists()
    assert stats["balanced"] and stats["output"]["documents"] == stats["tokens"]["documents"] == len(texts)
    _, found = shards(out)
    assert sum(len(rows) for rows, _ in found.values()) == len(texts)
    assert "configs" not in (out / "README.md").read_text().split("---")[1]  # no text split to load


def _tree(folder: pathlib.Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_bytes_on_one_and_two_workers_and_the_portable_runner(corpus):
    from tests.portable_services import job_service_and_worker_pool
    root, _, tokenizer_path = corpus
    trees = {}
    for workers in ("1", "2"):
        out = run(root, f"w{workers}", recipe_text(root, root / f"w{workers}", tokenizer_path), "--workers", workers)
        trees[workers] = _tree(out / "tokens")
    with job_service_and_worker_pool() as (job_endpoint, pool, _):
        out = run(root, "portable", recipe_text(root, root / "portable", tokenizer_path), "--runner", "portable",
                  "--job-endpoint", job_endpoint, "--environment-type", "EXTERNAL", "--environment-config", pool)
        trees["portable"] = _tree(out / "tokens")
    assert len(trees["1"]) > 6 and trees["1"] == trees["2"] == trees["portable"]


def test_shards_written_to_gcs_equal_the_local_ones(corpus, gcs, tmp_path):
    bucket, _ = gcs
    root, _, tokenizer_path = corpus
    local = run(root, "local", recipe_text(root, root / "local", tokenizer_path), "--workers", "1")
    bucket.blob("models/tokenizer.json").upload_from_filename(tokenizer_path)
    remote, remote_tokenizer = f"gs://{bucket.name}/tokens-run", f"gs://{bucket.name}/models/tokenizer.json"
    run(root, "remote", recipe_text(root, remote, remote_tokenizer), "--workers", "1")
    blobs = {b.name.split("/tokens/", 1)[1]: b.download_as_bytes()
             for b in bucket.list_blobs(prefix="tokens-run/tokens/")}
    manifest = json.loads(blobs.pop("tokens.json"))
    assert manifest["tokenizer"]["path"] == remote_tokenizer
    manifest["tokenizer"]["path"] = tokenizer_path
    assert manifest == json.loads((local / "tokens" / "tokens.json").read_text())
    local_files = _tree(local / "tokens")
    del local_files["tokens.json"]
    assert {name: hashlib.sha256(data).hexdigest() for name, data in blobs.items()} == local_files
    stats = json.loads(bucket.blob("tokens-run/stats.json").download_as_bytes())
    assert stats["balanced"] and stats["tokens"]["balanced"]
    sha = hashlib.sha256(pathlib.Path(tokenizer_path).read_bytes()).hexdigest()
    assert stats["tokens"]["tokenizer"]["sha256"] == sha
    assert all(s["path"].startswith(remote + "/tokens/") for s in stats["tokens"]["shards"])
    missing = f"gs://{bucket.name}/models/nothing.json"
    recipe = root / "missing.yaml"
    recipe.write_text(recipe_text(root, f"gs://{bucket.name}/never", missing))
    assert main(["validate", str(recipe)]) == 2


def test_stats_and_card_from_shard_infos():
    """Unit level: an output document missing from the shards unbalances the run; the card lists 50 shards."""
    from thresher.pipelines.report.datacard import render_markdown
    from thresher.pipelines.report.token_stats import token_stats
    summary = {"tokens": {"tokenizer": {"path": "t.json", "sha256": "ab" * 32, "vocab_size": 512},
                          "format": "datatrove", "dtype": "uint16", "eos": False, "eos_id": None}}
    infos = [{"kind": "tokens", "path": f"o/tokens/train-{i:05d}-of-00060", "shard": f"train-{i:05d}-of-00060",
              "split": "train", "rows": 2, "tokens": 10 + i, "by_source": {"web": {"documents": 2, "tokens": 10 + i}},
              "copy_tokens": i % 2, "length_histogram": {">65536": 1, "<=64": 1}} for i in range(60)]
    section = token_stats(summary, infos + [{"kind": "data", "path": "o/data/x", "rows": 120}], 121)
    assert section["documents"] == 120 and section["balanced"] is False
    assert section["tokens"] == sum(10 + i for i in range(60)) == section["by_source"]["web"]["tokens"]
    assert section["splits"]["train"]["shards"] == 60 and section["splits"]["validation"]["shards"] == 0
    assert section["copy_tokens"] == 30 and list(section["length_histogram"]) == ["<=64", ">65536"]
    assert token_stats(summary, infos, 120)["balanced"] and token_stats({}, infos, 120) is None
    card = render_markdown({"tokens": section})
    assert "| train-00049-of-00060 |" in card and "train-00050-of-00060" not in card
    assert "10 more shard(s)" in card and "Shards hold every output document: NO" in card


def test_an_unfinished_runs_shards_are_replaced(corpus, capsys):
    """A folder an interrupted run left (recipe.lock.yaml, no _SUCCESS) is replaced, its tokens/ too;
    the same shards without a Thresher run beside them are refused before the run (test_preflight)."""
    root, texts, tokenizer_path = corpus
    out = root / "unfinished"
    (out / "tokens").mkdir(parents=True)
    (out / "recipe.lock.yaml").write_text("recipe: {}\n")
    (out / "tokens" / "train-00007-of-00009.bin").write_bytes(b"\1\2")
    run(root, "unfinished", recipe_text(root, out, tokenizer_path))
    assert "replacing what an unfinished run left" in capsys.readouterr().err
    assert not (out / "tokens" / "train-00007-of-00009.bin").exists()
    assert json.loads((out / "stats.json").read_text())["tokens"]["documents"] == len(texts)
