"""``thresher train-tokenizer``: end to end through the CLI on JSONL, Parquet and text files the tests write."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xxhash
from tokenizers import Tokenizer

from tests.tokenizer_fixture import default_texts, train_test_tokenizer
from thresher.pipelines.commands.cli import main
from thresher.pipelines.commands.train_tokenizer import sample_texts, train_bpe

TRICKY = [
    "plain ascii",
    "  two leading spaces and a trailing one ",
    "tabs\tinside\t\tand\ttrailing\t",
    "windows\r\nline\r\nendings\r\n",
    "emoji 🙂👍🏽🇯🇵 and ZWJ 👩‍👩‍👧 family",
    "CJK 漢字仮名交じり文 한국어 中文",
    "combining: e\u0301 a\u0308 n\u0303 \u0301lone mark, Z\u0351\u0352\u0353algo",
    "Thai ภาษาไทย and Devanagari हिन्दी, not in the training text ૐ",
    "\u00a0nbsp, zero\u200bwidth, bidi \u202etxet\u202c, NUL \x00 and \x7f",
    "\n\n\nonly newlines around\n\n",
    " ",
    "",
]


def _write_jsonl(path, texts, start=0):
    with open(path, "w", encoding="utf-8") as f:
        for i, text in enumerate(texts, start):
            f.write(json.dumps({"id": f"doc-{i}", "text": text}, ensure_ascii=False) + "\n")
    return str(path)


def _write_parquet(path, texts, start=0, field="text"):
    table = pa.table({"id": [f"doc-{i}" for i in range(start, start + len(texts))], field: texts})
    pq.write_table(table, str(path))
    return str(path)


def _train(capsys, *argv):
    rc = main(["train-tokenizer", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_jsonl_and_parquet_end_to_end(tmp_path, capsys):
    texts = default_texts()
    half = len(texts) // 2
    jsonl = _write_jsonl(tmp_path / "a.jsonl", texts[:half])
    parquet = _write_parquet(tmp_path / "b.parquet", texts[half:], start=half, field="text")
    out = tmp_path / "tok" / "tokenizer.json"
    rc, printed, err = _train(capsys, "--input", jsonl, "--input", parquet, "--vocab-size", "400", "--out", str(out))
    assert rc == 0, err
    assert err == ""
    data = out.read_bytes()
    assert f"documents sampled: {len(texts)} of {len(texts)} read from 2 file(s)\n" in printed
    assert f"sha256: {hashlib.sha256(data).hexdigest()}" in printed
    assert "vocab size: 400 (asked 400)" in printed
    assert "special tokens: <|endoftext|>=0, <|pad|>=1" in printed
    tok = Tokenizer.from_str(data.decode("utf-8"))
    assert tok.get_vocab_size(with_added_tokens=True) == 400
    assert tok.token_to_id("<|endoftext|>") == 0 and tok.token_to_id("<|pad|>") == 1
    # trained on these texts: they take fewer tokens than bytes
    sample = texts[0]
    assert len(tok.encode(sample, add_special_tokens=False).ids) < len(sample.encode("utf-8")) / 2
    # the same tokenizer as the training function gives on the same sample (sorted by hash)
    assert json.loads(data) == json.loads(train_bpe(sample_texts([jsonl, parquet], "auto", "text", 10**6, 0)[0],
                                                      400).to_str())


def test_text_field(tmp_path, capsys):
    texts = default_texts()
    parquet = _write_parquet(tmp_path / "b.parquet", texts, field="content")
    jsonl = _write_jsonl(tmp_path / "a.jsonl", texts[:10])  # "text", not "content": read errors
    rc, printed, err = _train(capsys, "--input", parquet, jsonl, "--text-field", "content",
                              "--vocab-size", "300", "--out", str(tmp_path / "t.json"))
    assert rc == 0, err
    assert f"documents sampled: {len(texts)} of {len(texts)} read from 2 file(s) (10 read errors)" in printed
    assert err.count("warning: ") == 10 and "'content' is missing" in err


def test_round_trip_on_tricky_text(tmp_path):
    tok = Tokenizer.from_file(train_test_tokenizer(str(tmp_path / "tokenizer.json")))
    for text in TRICKY + default_texts()[::25]:
        ids = tok.encode(text, add_special_tokens=False).ids
        assert tok.decode(ids, skip_special_tokens=False) == text, repr(text)
    # special tokens are single ids, and decoding keeps them when asked
    ids = tok.encode("end<|endoftext|>", add_special_tokens=False).ids
    assert ids[-1] == tok.token_to_id("<|endoftext|>")
    assert tok.decode(ids, skip_special_tokens=False) == "end<|endoftext|>"


def test_same_file_whatever_the_file_order(tmp_path, capsys):
    texts = default_texts()
    one = tmp_path / "one"
    two = tmp_path / "two"
    one.mkdir(), two.mkdir()
    for i in range(3):  # three files in order
        _write_jsonl(one / f"part-{i}.jsonl", texts[i::3])
    reordered = list(reversed(texts))  # the same documents, other files, other order, other ids
    _write_jsonl(two / "z.jsonl", reordered[:50], start=1000)
    _write_parquet(two / "a.parquet", reordered[50:], start=0)
    outs = []
    for folder in (one, two):
        out = tmp_path / f"{folder.name}.json"
        rc, printed, err = _train(capsys, "--input", str(folder / "*"), "--vocab-size", "450",
                                  "--out", str(out), "--sample-docs", "200")
        assert rc == 0, err
        assert f"documents sampled: 200 of {len(texts)} read" in printed
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    # another seed samples other documents: another tokenizer
    rc, _, err = _train(capsys, "--input", str(one / "*"), "--vocab-size", "450", "--out", str(tmp_path / "s1.json"),
                        "--sample-docs", "200", "--seed", "1")
    assert rc == 0, err
    assert (tmp_path / "s1.json").read_bytes() != outs[0]


def test_sample_is_the_smallest_hashes(tmp_path):
    texts = default_texts() + ["   ", ""]  # blank texts are not documents
    path = _write_jsonl(tmp_path / "a.jsonl", texts)
    sample, read, errors = sample_texts([path], "auto", "text", 37, seed=5)
    assert (read, errors) == (len(texts) - 2, 0)
    by_hash = sorted(texts[:-2], key=lambda t: xxhash.xxh64_intdigest(t.encode("utf-8"), seed=5))
    assert sample == by_hash[:37]


def test_text_files_one_document_per_line(tmp_path, capsys):
    lines = [text for text in default_texts() if "\n" not in text]
    (tmp_path / "corpus.txt").write_text("\n".join(lines) + "\n\n  \n", encoding="utf-8")
    rc, printed, err = _train(capsys, "--input", str(tmp_path / "corpus.txt"), "--vocab-size", "300",
                              "--out", str(tmp_path / "t.json"))
    assert rc == 0, err
    assert f"documents sampled: {len(lines)} of {len(lines)} read from 1 file(s)\n" in printed


@pytest.mark.parametrize("vocab_size", [258, 300, 700])
def test_vocab_size_respected(tmp_path, capsys, vocab_size):
    path = _write_jsonl(tmp_path / "a.jsonl", default_texts())
    rc, printed, err = _train(capsys, "--input", path, "--vocab-size", str(vocab_size),
                              "--out", str(tmp_path / "t.json"), "--min-frequency", "1")
    assert rc == 0, err
    tok = Tokenizer.from_file(str(tmp_path / "t.json"))
    assert tok.get_vocab_size(with_added_tokens=True) == vocab_size  # the corpus has enough pairs for 700
    assert f"vocab size: {vocab_size} (asked {vocab_size})" in printed


def test_training_is_deterministic_across_processes(tmp_path, capsys):
    path = _write_jsonl(tmp_path / "a.jsonl", default_texts())
    rc, _, err = _train(capsys, "--input", path, "--vocab-size", "500", "--out", str(tmp_path / "here.json"))
    assert rc == 0, err
    done = subprocess.run([sys.executable, "-m", "thresher.pipelines.commands.cli", "train-tokenizer",
                           "--input", path, "--vocab-size", "500", "--out", str(tmp_path / "there.json")],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONHASHSEED": "123", "RAYON_NUM_THREADS": "2"})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "here.json").read_bytes() == (tmp_path / "there.json").read_bytes()
    assert train_bpe(default_texts(), 500).to_str() == train_bpe(default_texts(), 500).to_str()


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_errors(tmp_path, capsys):
    good = _write_jsonl(tmp_path / "a.jsonl", default_texts()[:20])
    out = str(tmp_path / "t.json")
    rc, _, err = _train(capsys, "--input", str(tmp_path / "missing-*.jsonl"), "--vocab-size", "300", "--out", out)
    assert rc == 2 and "no file matches" in _one_error_line(err) and "missing-*.jsonl" in err
    rc, _, err = _train(capsys, "--input", good, "--vocab-size", "257", "--out", out)
    assert rc == 2 and "--vocab-size must be at least 258" in _one_error_line(err)
    rc, _, err = _train(capsys, "--input", good, "--vocab-size", "300", "--out", out, "--special-token", "<a>",
                        "--special-token", "<b>", "--special-token", "<c>")
    assert rc == 0, err  # 259 needed with three special tokens
    rc, _, err = _train(capsys, "--input", good, "--vocab-size", "258", "--out", out, "--special-token", "<a>",
                        "--special-token", "<b>", "--special-token", "<c>")
    assert rc == 2 and "at least 259" in _one_error_line(err)
    rc, _, err = _train(capsys, "--input", good, "--vocab-size", "300", "--out", str(tmp_path))
    assert rc == 2 and "is a directory" in _one_error_line(err)
    rc, _, err = _train(capsys, "--input", good, "--vocab-size", "300", "--out", good + "/tokenizer.json")
    assert rc == 2 and "cannot create the folder" in _one_error_line(err)
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    rc, _, err = _train(capsys, "--input", str(tmp_path / "empty.jsonl"), "--vocab-size", "300", "--out", out)
    assert rc == 2 and "no document with text in 1 file(s)" in _one_error_line(err)
    (tmp_path / "data.bin").write_bytes(b"x")
    rc, _, err = _train(capsys, "--input", str(tmp_path / "data.bin"), "--vocab-size", "300", "--out", out)
    assert rc == 2 and "cannot tell the format" in _one_error_line(err)
    rc, _, err = _train(capsys, "--input", good, "--vocab-size", "300", "--out", out, "--sample-docs", "0")
    assert rc == 2 and "--sample-docs must be at least 1" in _one_error_line(err)
