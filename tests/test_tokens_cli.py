"""``thresher tokens``: a recipe with ``output.tokens`` run through the CLI, then tokens traced back to their
documents and documents to their tokens, checked against the shards read with the independent readers
(``tests/token_readers.py``), the provenance Parquet and the run's Parquet text."""
from __future__ import annotations

import json
import pathlib
import re
import shutil

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from tests.token_readers import read_datatrove_independent, read_megatron_independent
from tests.tokenizer_fixture import default_texts, train_test_tokenizer
from thresher.pipelines.commands.cli import main

from tests.gcs_emulator import gcs  # noqa: F401 (a fixture)

# ids that a lookup could confuse: a prefix of another id, regex characters, a '#' that is no copy suffix
BOOK_IDS = ["book-1", "book-10", "book-1#frag", "a+b(1)*.x", "book-2", "book-3", "book-4", "book-5"]


def _text(i: int) -> str:
    lines = default_texts()
    return f"document {i}: " + " ".join(lines[(i * 11 + k * 5) % len(lines)] for k in range(1 + i % 6))


def _write_corpus(root: pathlib.Path) -> None:
    root.mkdir(parents=True)
    with open(root / "web.jsonl", "w", encoding="utf-8") as f:
        for i in range(30):
            f.write(json.dumps({"id": f"web-{i}", "text": _text(i), "url": f"https://web.example/{i}"}) + "\n")
    with open(root / "books.jsonl", "w", encoding="utf-8") as f:  # no url
        for i, doc_id in enumerate(BOOK_IDS):
            f.write(json.dumps({"id": doc_id, "text": _text(100 + i)}, ensure_ascii=False) + "\n")


def _recipe(root, out, fmt, steps) -> str:
    path = root / f"{fmt}.yaml"
    path.write_text(f"""
version: 1
name: tokens-cli-test
inputs:
  web: {{paths: ["{root}/in/web.jsonl"], format: jsonl}}
  books: {{paths: ["{root}/in/books.jsonl"], format: jsonl}}
steps: {steps}
output:
  path: "{out}"
  tokens:
    tokenizer: "{root}/tokenizer.json"
    format: {fmt}
    shard_tokens: 1000
    validation_fraction: 0.25
    seed: 7
""")
    return str(path)


# books upsampled about 2.5 times (copies book-1#1, book-1#2...), web sampled at about 0.75
MIX = "\n  - step: mix\n    weights: {web: 1, books: 1}\n    budget_documents: 44\n    seed: 3"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{format: (output dir, {id: Parquet text})}: megatron with a mix step, datatrove without."""
    root = tmp_path_factory.mktemp("tokens-cli")
    _write_corpus(root / "in")
    train_test_tokenizer(str(root / "tokenizer.json"))
    done = {}
    for fmt, steps in (("megatron", MIX), ("datatrove", "[]")):
        out = root / f"out-{fmt}"
        assert main(["run", _recipe(root, out, fmt, steps), "--workers", "1", "--quiet"]) == 0
        table = ds.dataset(str(out / "data"), format="parquet").to_table(columns=["id", "text"])
        done[fmt] = out, dict(zip(table.column("id").to_pylist(), table.column("text").to_pylist()))
    return done


def _shards(out: pathlib.Path):
    """[(manifest entry, sequences by the independent reader, provenance rows)] of a run."""
    manifest = json.loads((out / "tokens" / "tokens.json").read_text())
    found = []
    for shard in manifest["shards"]:
        prefix = str(out / "tokens" / shard["name"])
        if manifest["format"] == "megatron":
            sequences = read_megatron_independent(prefix)
        else:
            sequences = read_datatrove_independent(prefix, 2 if manifest["dtype"] == "uint16" else 4)
        rows = pq.read_table(prefix + ".provenance.parquet").to_pylist()
        assert len(rows) == len(sequences) == shard["documents"]
        found.append((shard, sequences, rows))
    return manifest, found


def _lookup(capsys, *argv):
    rc = main(["tokens", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _json(capsys, *argv) -> dict:
    rc, out, err = _lookup(capsys, *argv, "--json", "--chars", "1000000")
    assert rc == 0, err
    return json.loads(out)


@pytest.mark.parametrize("fmt", ["megatron", "datatrove"])
def test_token_to_document(runs, capsys, fmt):
    out, texts = runs[fmt]
    manifest, shards = _shards(out)
    eos = manifest["eos_id"]
    assert manifest["eos"] and eos is not None
    assert {shard["split"] for shard, _, _ in shards} == {"train", "validation"}
    checked = 0
    for shard, sequences, rows in shards:
        starts = [0]
        for seq in sequences:
            starts.append(starts[-1] + len(seq))
        assert starts[-1] == shard["tokens"]
        middle = len(sequences) // 2
        picks = {0: 0, starts[-1] - 1: len(sequences) - 1,  # first token; last token (an EOS)
                 starts[1] - 1: 0,  # the first document's EOS
                 starts[middle] + len(sequences[middle]) // 2: middle}  # inside a document
        for token, k in picks.items():
            got = _json(capsys, str(out), "--shard", shard["name"], "--token", str(token))
            row = rows[k]
            assert (got["split"], got["shard"], got["doc_index"]) == (shard["split"], shard["name"], k)
            assert got["token_range"] == [starts[k], starts[k + 1]] == \
                [row["token_offset"], row["token_offset"] + row["token_length"]]
            assert got["id"] == row["id"] and got["source"] == row["source"] and got["url"] == row["url"]
            assert got["file"] == row["file"] and got["offset"] == row["offset"]
            at = token - starts[k]
            assert got["token"]["in_document"] == at and got["token"]["id"] == int(sequences[k][at])
            assert got["token"]["eos"] == (at == len(sequences[k]) - 1)
            assert int(sequences[k][-1]) == eos
            assert got["text"] == texts[row["id"]]  # decoded from the shard: the Parquet text, EOS left out
            assert got["text_chars"] == len(texts[row["id"]])
            checked += 1
    assert checked >= 3 * len(shards)
    # a shard by its number in a split; the tokens/ folder as DIR
    shard, sequences, rows = next(s for s in shards if s[0]["split"] == "validation")
    number = [s[0]["name"] for s in shards if s[0]["split"] == "validation"].index(shard["name"])
    got = _json(capsys, str(out / "tokens"), "--shard", str(number), "--split", "validation", "--token", "0")
    assert (got["shard"], got["id"]) == (shard["name"], rows[0]["id"])


def test_token_lookup_prints_the_document(runs, capsys):
    out, texts = runs["megatron"]
    _, shards = _shards(out)
    shard, sequences, rows = shards[0]
    last = shard["tokens"] - 1
    rc, printed, err = _lookup(capsys, str(out), "--shard", shard["name"], "--token", str(last), "--chars", "25")
    assert rc == 0, err
    row = rows[-1]
    text = texts[row["id"]]
    lines = printed.splitlines()
    assert lines[0] == (f"{shard['split']} shard {shard['name']}, document {len(rows) - 1}, tokens "
                        f"[{row['token_offset']}, {shard['tokens']}) ({row['token_length']} tokens)")
    assert lines[1].startswith(f"token {last}: token {row['token_length'] - 1} of the document, id ")
    assert lines[1].endswith("(end of document)")
    assert f"id: {row['id']}" in lines and f"source: {row['source']}" in lines
    assert f"file: {row['file']}" in lines and f"offset: {row['offset']}" in lines
    assert (f"url: {row['url']}" if row["url"] else "url: -") in lines
    assert lines[-2] == f"text ({len(text)} characters, first 25 shown):" and lines[-1] == text[:25]


def _expected_copies(texts, base):
    return sorted((i for i in texts if i == base or re.fullmatch(re.escape(base) + r"#[1-9][0-9]*", i)),
                  key=lambda i: 0 if i == base else int(i.rsplit("#", 1)[1]))


def _epoch(doc_id: str) -> int:
    """The mix copy number of an output id: k for CORPUS_ID#k, 0 for a corpus id."""
    corpus = set(BOOK_IDS) | {f"web-{i}" for i in range(30)}
    if doc_id in corpus:
        return 0
    base, _, k = doc_id.rpartition("#")
    assert base in corpus and re.fullmatch(r"[1-9][0-9]*", k), doc_id
    return int(k)


def test_document_to_tokens(runs, capsys):
    out, texts = runs["megatron"]
    _, shards = _shards(out)
    where = {row["id"]: (shard, k, row) for shard, _, rows in shards for k, row in enumerate(rows)}
    assert set(where) == set(texts)  # every output document is in one shard, once
    copied = [i for i in BOOK_IDS if f"{i}#1" in texts]
    assert "book-1" in copied and "book-10" in copied and "a+b(1)*.x" in copied  # the mix upsampled books
    web = sorted(i for i in texts if i.startswith("web-"))
    asked = copied + [web[0], "book-1#1", "book-1#frag#1"]
    for doc_id in asked:
        expected = _expected_copies(texts, doc_id)
        got = _json(capsys, str(out), "--doc", doc_id)
        assert got["query"] == doc_id
        assert [d["id"] for d in got["documents"]] == expected, doc_id  # never book-10 for book-1
        splits = set()
        for found in got["documents"]:
            shard, k, row = where[found["id"]]
            assert (found["split"], found["shard"], found["doc_index"]) == (shard["split"], shard["name"], k)
            assert found["token_range"] == [row["token_offset"], row["token_offset"] + row["token_length"]]
            assert found["text"] == texts[found["id"]] and "token" not in found
            assert found["source"] == ("web" if doc_id.startswith("web-") else "books")
            assert found["annotations"]["epoch"] == _epoch(found["id"])
            splits.add(found["split"])
        assert len(splits) == 1  # copies of a document share its split
    # text output: one block per copy
    rc, printed, err = _lookup(capsys, str(out), "--doc", "book-1", "--chars", "10")
    assert rc == 0, err
    n = len(_expected_copies(texts, "book-1"))
    assert printed.startswith(f"book-1: {n} document(s)\n")
    assert [line for line in printed.splitlines() if line.startswith("id: ")] == \
        [f"id: {i}" for i in _expected_copies(texts, "book-1")]
    # restricted to a split
    split = where["book-1"][0]["split"]
    other = "train" if split == "validation" else "validation"
    assert len(_json(capsys, str(out), "--doc", "book-1", "--split", split)["documents"]) == n
    rc, _, err = _lookup(capsys, str(out), "--doc", "book-1", "--split", other)
    assert rc == 2 and f"no document with id 'book-1' in the {other} shards" in err


def _one_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def test_errors(runs, capsys, tmp_path):
    out, texts = runs["megatron"]
    manifest, shards = _shards(out)
    first = shards[0][0]
    train = [s for s, _, _ in shards if s["split"] == "train"]
    cases = [
        (["--shard", first["name"], "--token", str(first["tokens"])],
         f"token {first['tokens']} is out of range: shard {first['name']} has {first['tokens']} tokens"),
        (["--shard", first["name"], "--token", "-1"], "token -1 is out of range"),
        (["--shard", "train-00099-of-00100", "--token", "0"], "no shard 'train-00099-of-00100'; shards: "),
        (["--shard", str(len(train)), "--token", "0"],
         f"no shard number {len(train)} in train: it has {len(train)} shard(s)"),
        (["--doc", "web-unknown"], "no document with id 'web-unknown' in the train and validation shards"),
        (["--doc", "book-"], "no document with id 'book-'"),
        (["--shard", first["name"]], "--shard needs --token T"),
        (["--shard", first["name"], "--token", "0", "--chars", "-1"], "--chars must be >= 0"),
    ]
    for argv, message in cases:
        rc, printed, err = _lookup(capsys, str(out), *argv)
        assert rc == 2 and message in _one_error(err), (argv, err)
        assert printed == ""
    rc, _, err = _lookup(capsys, str(tmp_path), "--doc", "x")
    assert rc == 2 and f"{tmp_path} has no tokens/tokens.json" in _one_error(err)
    rc, _, err = _lookup(capsys, str(tmp_path / "missing"), "--shard", "0", "--token", "0")
    assert rc == 2 and "has no tokens/tokens.json" in _one_error(err)


def test_damaged_tokens_folder(runs, capsys, tmp_path):
    out, _ = runs["megatron"]
    copy = tmp_path / "tokens"
    shutil.copytree(out / "tokens", copy)
    _, shards = _shards(out)
    shard, _, rows = shards[0]
    (copy / f"{shard['name']}.provenance.parquet").unlink()
    rc, _, err = _lookup(capsys, str(tmp_path), "--shard", shard["name"], "--token", "0")
    assert rc == 2 and f"cannot read {copy / shard['name']}.provenance.parquet" in _one_error(err)
    shutil.copy(out / "tokens" / f"{shard['name']}.provenance.parquet", copy)
    (copy / "tokenizer.json").write_text("{not json", encoding="utf-8")
    rc, _, err = _lookup(capsys, str(tmp_path), "--doc", rows[0]["id"])
    assert rc == 2 and f"cannot load the tokenizer {copy / 'tokenizer.json'}" in _one_error(err)
    (copy / "tokenizer.json").unlink()
    rc, _, err = _lookup(capsys, str(tmp_path), "--doc", rows[0]["id"])
    assert rc == 2 and f"cannot load the tokenizer {copy / 'tokenizer.json'}" in _one_error(err)
    shutil.copy(out / "tokens" / "tokenizer.json", copy)
    (copy / f"{shard['name']}.bin").write_bytes(b"")
    rc, _, err = _lookup(capsys, str(tmp_path), "--shard", shard["name"], "--token", "0")
    assert rc == 2 and f"{shard['name']}: the token file holds 0 tokens, its index says more" in _one_error(err)


def test_gcs_paths(runs, capsys, gcs):
    bucket, _ = gcs
    out, _ = runs["datatrove"]
    for path in sorted((out / "tokens").iterdir()):
        bucket.blob(f"lookup/tokens/{path.name}").upload_from_filename(str(path))
    remote = f"gs://{bucket.name}/lookup"
    _, shards = _shards(out)
    shard, _, rows = shards[-1]
    for argv in (["--shard", shard["name"], "--token", str(shard["tokens"] - 1)], ["--doc", rows[0]["id"]]):
        assert _json(capsys, remote, *argv) == _json(capsys, str(out), *argv)
    rc, _, err = _lookup(capsys, f"gs://{bucket.name}/nothing", "--doc", "x")
    assert rc == 2 and "has no tokens/tokens.json" in _one_error(err)
