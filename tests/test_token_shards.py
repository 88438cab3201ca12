"""Token shards (issue #14): round trip through an independent reader, provenance, split, shard sizes,
determinism across worker counts, and the token helpers' boundaries."""
from __future__ import annotations

import collections
import json
import pathlib
import uuid

import apache_beam as beam
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xxhash
from tokenizers import Tokenizer

from tests.conftest import local_pipeline
from tests.gcs_emulator import gcs  # noqa: F401 (a fixture)
from tests.token_readers import read_datatrove_independent, read_datatrove_metadata, read_megatron_independent
from tests.tokenizer_fixture import train_test_tokenizer
from thresher.transforms.base import ParamError
from thresher.transforms.document import Document
from thresher.transforms.io.ordered_sink import shuffle_hash
from thresher.transforms.io.schema import clean
from thresher.transforms.io.token_formats import humanize_metric, read_shard
from thresher.transforms.io.token_shards import LENGTH_BUCKETS, WriteTokenShards, length_bucket
from thresher.transforms.text.tokens import TokenCounter, eos_id, token_dtype, tokenizer_identity

ANNOTATIONS = {"score": "float64", "lang": "string", "n": "int64", "file": "string", "offset": "int64"}
WORDS = ["river", "gate", "morning", "letters", "café", "снег", "公園", "🙂", "bridge", "notebook", "de", "la"]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory) -> str:
    return train_test_tokenizer(str(tmp_path_factory.mktemp("tok") / "tokenizer.json"))


def _docs(n: int, words: int = 40):
    docs = []
    for i in range(n):
        text = " ".join(WORDS[(i * 7 + k * k) % len(WORDS)] for k in range(5 + (i * 13) % words))
        notes = {"score": i / 10, "lang": "en" if i % 2 else "fr", "n": str(i)}  # n coerced to int64
        if i % 3:
            notes.update(file=f"gs://b/f{i % 4}.warc.gz", offset=i * 100)
        if i == 5:
            text += " lone \ud800 surrogate"
        docs.append(Document(id=f"doc-{i:04d}", text=text, url=f"https://e.org/{i}" if i % 5 else "",
                             source="web" if i % 4 else "books", annotations=notes))
    return docs


def _write(out: pathlib.Path, docs, pipeline=None, **kwargs):
    """Run the sink; return (infos, manifest). Infos are dumped by the pipeline (it may run in other processes)."""
    dump = out.parent / f"{out.name}-infos"
    dump.mkdir(parents=True, exist_ok=True)

    def keep(info):
        (dump / f"{uuid.uuid4().hex}.json").write_bytes(orjson.dumps(info))

    with (pipeline or local_pipeline()) as p:
        _ = p | beam.Create(docs) | WriteTokenShards(str(out), **kwargs) | beam.Map(keep)
    infos = sorted((json.loads(f.read_text()) for f in dump.iterdir()), key=lambda i: i["path"])
    return infos, json.loads((out / "tokens.json").read_text())


def _sequences(fmt: str, prefix: str):
    if fmt == "megatron":
        return read_megatron_independent(prefix)
    return read_datatrove_independent(prefix, read_datatrove_metadata(prefix)[1])


@pytest.mark.parametrize("fmt,eos,dtype", [("megatron", True, "auto"), ("datatrove", True, "auto"),
                                           ("megatron", False, "auto"), ("megatron", True, "int32"),
                                           ("datatrove", False, "uint32")])
def test_round_trip_decodes_every_document_with_its_eos(tmp_path, tokenizer, fmt, eos, dtype):
    docs = _docs(120)
    out = tmp_path / "tokens"
    infos, manifest = _write(out, docs, tokenizer=tokenizer, format=fmt, shard_tokens=2000, eos=eos,
                             validation_fraction=0.2, annotations=ANNOTATIONS, dtype=dtype)
    tok = Tokenizer.from_file(tokenizer)
    end = tok.token_to_id("<|endoftext|>")
    resolved = np.dtype("uint16" if dtype == "auto" else dtype)
    by_id = {d.id: d for d in docs}
    seen, all_ids = [], []
    for info in infos:
        sequences = _sequences(fmt, info["path"])
        own_lengths, own_offsets, own_tokens = read_shard(fmt, info["path"])  # the project's reader agrees
        assert [len(s) for s in sequences] == own_lengths.tolist() and own_tokens.dtype == resolved
        assert np.array_equal(np.concatenate(sequences), np.asarray(own_tokens))
        prov = pq.read_table(info["path"] + ".provenance.parquet")
        assert prov.column("token_offset").to_pylist() == own_offsets.tolist()
        for seq, doc_id in zip(sequences, prov.column("id").to_pylist()):
            ids = seq.tolist()
            if eos:
                assert ids[-1] == end and end not in ids[:-1]
                ids = ids[:-1]
            else:
                assert end not in ids
            assert tok.decode(ids, skip_special_tokens=False) == clean(by_id[doc_id].text)
            seen.append(doc_id)
            all_ids += seq.tolist()
    assert sorted(seen) == sorted(by_id)
    expected = [i for e in tok.encode_batch([clean(d.text) for d in docs], add_special_tokens=False)
                for i in e.ids + ([end] if eos else [])]
    assert collections.Counter(all_ids) == collections.Counter(expected)
    assert manifest["eos"] is eos and manifest["eos_id"] == (end if eos else None)
    assert manifest["eos_token"] == ("<|endoftext|>" if eos else None)
    assert manifest["dtype"] == resolved.name and manifest["format"] == fmt
    assert manifest["tokenizer"] == tokenizer_identity(tokenizer)
    assert (out / "tokenizer.json").read_bytes() == pathlib.Path(tokenizer).read_bytes()
    assert not (tmp_path / "_temporary" / "tokens").exists()
    if fmt == "datatrove":
        name, width, count = read_datatrove_metadata(infos[0]["path"])
        assert (name, width, count) == (tokenizer, resolved.itemsize, infos[0]["tokens"])


def test_provenance_rows_copy_the_document_and_its_typed_annotations(tmp_path, tokenizer):
    docs = _docs(60)
    out = tmp_path / "tokens"
    infos, _ = _write(out, docs, tokenizer=tokenizer, shard_tokens=100_000, validation_fraction=0.0,
                      annotations=ANNOTATIONS)
    assert len(infos) == 1 and infos[0]["shard"] == "train-00000-of-00001"
    table = pq.read_table(out / "train-00000-of-00001.provenance.parquet")
    assert table.schema.names == ["shard", "doc_index", "token_offset", "token_length", "id", "source", "url",
                                  "file", "offset", "lang", "n", "score"]
    assert [table.schema.field(n).type for n in ("offset", "lang", "n", "score")] == \
        [pa.int64(), pa.string(), pa.int64(), pa.float64()]
    lengths = [len(s) for s in read_megatron_independent(str(out / "train-00000-of-00001"))]
    rows = table.to_pylist()
    assert [r["token_length"] for r in rows] == lengths
    assert [r["token_offset"] for r in rows] == [sum(lengths[:i]) for i in range(len(lengths))]
    assert [r["doc_index"] for r in rows] == list(range(60))
    assert {r["shard"] for r in rows} == {"train-00000-of-00001"}
    by_id = {d.id: d for d in docs}
    for r in rows:
        d = by_id[r["id"]]
        assert r["source"] == d.source and r["url"] == (d.url or None)
        assert r["file"] == d.annotations.get("file") and r["offset"] == d.annotations.get("offset")
        assert (r["lang"], r["n"], r["score"]) == (d.annotations["lang"], int(d.annotations["n"]),
                                                 d.annotations["score"])
    # the order: (shuffle hash, id)
    assert [r["id"] for r in rows] == sorted(by_id, key=lambda i: (shuffle_hash(i, 0), i))


def test_validation_split_by_hash_keeps_every_copy_with_its_original(tmp_path, tokenizer):
    docs = _docs(200, words=10)
    copies = [Document(id=f"{d.id}#{k}", text=d.text, source=d.source, annotations={"epoch": k})
              for d in docs[:50] for k in (1, 2)]
    infos, manifest = _write(tmp_path / "tokens", docs + copies, tokenizer=tokenizer, shard_tokens=1000,
                             validation_fraction=0.3, seed=3)
    split = {}
    for info in infos:
        ids = pq.read_table(info["path"] + ".provenance.parquet").column("id").to_pylist()
        split.update({i: info["split"] for i in ids})
    assert len(split) == 300
    expected = {d.id for d in docs if xxhash.xxh64_intdigest(d.id.encode(), seed=3) / 2 ** 64 < 0.3}
    assert {i for i, s in split.items() if s == "validation" and "#" not in i} == expected
    assert 40 <= len(expected) <= 80  # about 30% of 200
    for c in copies:
        assert split[c.id] == split[c.id.split("#")[0]], c.id
    copy_tokens = sum(i["copy_tokens"] for i in infos)
    tok = TokenCounter(str(tokenizer), count_eos=True)
    assert copy_tokens == sum(tok.count(c.text) for c in copies)
    infos0, manifest0 = _write(tmp_path / "none", docs, tokenizer=tokenizer, shard_tokens=1000,
                               validation_fraction=0.0)
    assert {i["split"] for i in infos0} == {"train"}
    assert not list((tmp_path / "none").glob("validation-*"))


def test_small_shards_are_contiguous_non_empty_and_sum_to_the_total(tmp_path, tokenizer):
    docs = _docs(300)
    tok = TokenCounter(str(tokenizer), count_eos=True)
    total = sum(tok.count(d.text) for d in docs)
    out = tmp_path / "tokens"
    infos, manifest = _write(out, docs, tokenizer=tokenizer, format="datatrove", shard_tokens=total // 6,
                             validation_fraction=0.0)
    names = [i["shard"] for i in infos]
    assert names == [f"train-{k:05d}-of-{len(names):05d}" for k in range(len(names))]
    assert 5 <= len(names) <= 7
    assert all(i["rows"] > 0 and total // 12 < i["tokens"] < total // 3 for i in infos), \
        [i["tokens"] for i in infos]
    assert sum(i["tokens"] for i in infos) == total and sum(i["rows"] for i in infos) == 300
    assert sum(sum(h.values()) for h in (i["length_histogram"] for i in infos)) == 300
    assert sum(v["tokens"] for i in infos for v in i["by_source"].values()) == total
    books = [d for d in docs if d.source == "books"]
    assert sum(i["by_source"].get("books", {}).get("documents", 0) for i in infos) == len(books)
    first = infos[0]
    assert first["path"] == str(out / names[0]) and first["split"] == "train"
    assert first["files"] == [str(out / names[0]) + ext for ext in
                              (".ds", ".ds.index", ".ds.metadata", ".provenance.parquet")]
    assert [(s["name"], s["documents"], s["tokens"]) for s in manifest["shards"]] == \
        [(i["shard"], i["rows"], i["tokens"]) for i in infos]
    assert manifest["shards"][0]["files"] == [f.rpartition("/")[2] for f in first["files"]]
    # each document is in the shard of its hash range
    for k, info in enumerate(infos):
        for doc_id in pq.read_table(info["path"] + ".provenance.parquet").column("id").to_pylist():
            assert (shuffle_hash(doc_id, 0) * len(infos)) >> 64 == k


def test_empty_hash_ranges_get_no_file_and_the_rest_are_renumbered(tmp_path, tokenizer):
    # three long documents -> three shards asked; two ids share a hash range, so one range is empty
    ranges = {}
    for i in range(100):
        ranges.setdefault((shuffle_hash(f"d{i}", 0) * 3) >> 64, []).append(f"d{i}")
    assert len(ranges) == 3
    first, second = sorted(ranges)[:2]
    ids = ranges[first][:2] + ranges[second][:1]  # shard `third` stays empty
    docs = [Document(id=i, text=" ".join(WORDS) * 200) for i in ids]
    assert all(TokenCounter(tokenizer).count(d.text) > 1000 for d in docs)
    infos, _ = _write(tmp_path / "tokens", docs, tokenizer=tokenizer, shard_tokens=1000, validation_fraction=0.0)
    names = sorted(p.name for p in (tmp_path / "tokens").iterdir())
    assert [i["shard"] for i in infos] == ["train-00000-of-00002", "train-00001-of-00002"]
    assert [i["rows"] for i in infos] == [2, 1]
    assert names == sorted([f"train-{k:05d}-of-00002{e}" for k in range(2)
                            for e in (".bin", ".idx", ".provenance.parquet")] + ["tokenizer.json", "tokens.json"])


def test_empty_input_writes_only_the_manifest(tmp_path, tokenizer):
    infos, manifest = _write(tmp_path / "tokens", [], tokenizer=tokenizer, shard_tokens=1000)
    assert infos == [] and manifest["shards"] == []
    assert sorted(p.name for p in (tmp_path / "tokens").iterdir()) == ["tokenizer.json", "tokens.json"]


def _files(folder: pathlib.Path):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_same_bytes_for_one_and_two_workers_and_any_input_order(tmp_path, tokenizer):
    from thresher.pipelines.run.runners import RunnerConfig, make_runner_and_options

    docs = _docs(250)
    kwargs = dict(tokenizer=tokenizer, shard_tokens=3000, validation_fraction=0.1, seed=11, annotations=ANNOTATIONS)
    _write(tmp_path / "one", docs, **kwargs)
    _write(tmp_path / "again", list(reversed(docs)), **kwargs)
    runner, options = make_runner_and_options(RunnerConfig(runner="local", workers=2))
    _write(tmp_path / "two", docs, pipeline=beam.Pipeline(runner=runner, options=options), **kwargs)
    one = _files(tmp_path / "one")
    assert len(one) > 8
    assert _files(tmp_path / "again") == one
    assert _files(tmp_path / "two") == one


def test_token_dtype_boundaries_and_errors(tokenizer):
    assert token_dtype("megatron", 65499) == np.uint16 and token_dtype("megatron", 65500) == np.int32
    assert token_dtype("datatrove", 65536) == np.uint16 and token_dtype("datatrove", 65537) == np.uint32
    assert token_dtype("megatron", 70000, "int32") == np.int32
    with pytest.raises(ParamError, match="70000") as err:
        token_dtype("megatron", 70000, "uint16")
    assert err.value.param == "dtype" and "65536" in str(err.value)
    with pytest.raises(ParamError, match="uint32") as err:
        token_dtype("megatron", 10, "uint32")
    assert err.value.param == "dtype"
    tok = Tokenizer.from_file(tokenizer)
    assert eos_id(tok, None) == tok.token_to_id("<|endoftext|>")
    with pytest.raises(ParamError, match="<nope>") as err:
        eos_id(tok, "<nope>")
    assert err.value.param == "eos_token"


@pytest.mark.parametrize("kwargs,param", [
    ({"format": "arrow"}, "format"), ({"shard_tokens": 999}, "shard_tokens"),
    ({"validation_fraction": 1.0}, "validation_fraction"), ({"eos_token": "<nope>"}, "eos_token"),
    ({"dtype": "int32", "format": "datatrove"}, "dtype")])
def test_bad_parameters_are_param_errors(tmp_path, tokenizer, kwargs, param):
    with pytest.raises(ParamError) as err:
        WriteTokenShards(str(tmp_path / "t"), tokenizer, **kwargs)
    assert err.value.param == param and "\n" not in str(err.value)
    WriteTokenShards(str(tmp_path / "t"), tokenizer, eos=False, eos_token="<nope>")  # no EOS needed


def test_length_buckets_counts_and_humanized_metadata(tokenizer):
    assert LENGTH_BUCKETS[0] == "<=64" and LENGTH_BUCKETS[-2:] == ("<=65536", ">65536")
    assert [length_bucket(n) for n in (0, 64, 65, 128, 129, 65536, 65537)] == \
        ["<=64", "<=64", "<=128", "<=128", "<=256", "<=65536", ">65536"]
    assert [humanize_metric(n) for n in (0, 7, 220, 1500, 123456, 2_500_000_000)] == \
        ["0.00 T", "7.00 T", "220 T", "1.50 kT", "123 kT", "2.50 GT"]
    plain, with_eos = TokenCounter(tokenizer), TokenCounter(tokenizer, count_eos=True)
    assert with_eos.count("the river") == plain.count("the river") + 1
    assert with_eos.count_batch(["a", "bb"]) == [n + 1 for n in plain.count_batch(["a", "bb"])]
    assert TokenCounter(None, count_eos=True).count("abcd") == 2


def test_a_retried_shard_and_a_retried_finalize_leave_one_clean_copy(tmp_path, tokenizer):
    from thresher.transforms.io.token_shards import _Encode, _Finalize, _WriteShard

    sink = WriteTokenShards(str(tmp_path / "tokens"), tokenizer, shard_tokens=1000, validation_fraction=0.0)
    encode = _Encode(sink._cfg)
    encode.setup()
    encode.start_bundle()
    records = [r for d in _docs(10) for r in encode.process(d)] + [w.value for w in encode.finish_bundle()]
    assert len(records) == 10
    write = _WriteShard(sink._directory, sink._cfg)
    key, occupied = ("train", 0), [("train", 0)]
    failed = next(write.process((key, list(reversed(records))), occupied))  # an attempt whose output is lost
    info = next(write.process((key, records), occupied))
    assert failed["temp"] != info["temp"]
    finalize = _Finalize(sink._directory, sink._cfg, sink.manifest)
    first = list(finalize.process(None, [info]))
    assert list(finalize.process(None, [info])) == first  # sources already renamed: kept as they are
    assert sorted(p.name for p in (tmp_path / "tokens").iterdir()) == [
        "tokenizer.json", "tokens.json", "train-00000-of-00001.bin", "train-00000-of-00001.idx",
        "train-00000-of-00001.provenance.parquet"]
    assert not (tmp_path / "_temporary" / "tokens").exists()
    assert len(read_megatron_independent(first[0]["path"])) == 10


def test_shards_on_gcs_are_the_local_bytes(tmp_path, tokenizer, gcs):
    gcs_bucket, _ = gcs
    gcs_bucket.blob("tok/tokenizer.json").upload_from_filename(tokenizer)
    docs = _docs(80)
    kwargs = dict(shard_tokens=1500, validation_fraction=0.2, format="datatrove", annotations=ANNOTATIONS)
    _write(tmp_path / "local", docs, tokenizer=tokenizer, **kwargs)
    out = "gs://thresher-test/out/tokens"
    dump = tmp_path / "gcs-infos"
    dump.mkdir()
    with local_pipeline() as p:
        _ = (p | beam.Create(docs) | WriteTokenShards(out, "gs://thresher-test/tok/tokenizer.json", **kwargs)
             | beam.Map(lambda info: (dump / f"{info['shard']}.json").write_bytes(orjson.dumps(info))))
    remote = {b.name.rpartition("/")[2]: b.download_as_bytes() for b in gcs_bucket.list_blobs(prefix="out/")}
    local = _files(tmp_path / "local")
    manifest = json.loads(remote.pop("tokens.json"))
    local_manifest = json.loads(local.pop("tokens.json"))
    assert manifest["tokenizer"]["path"] == "gs://thresher-test/tok/tokenizer.json"
    manifest["tokenizer"]["path"] = local_manifest["tokenizer"]["path"]
    assert manifest == local_manifest
    metadata = sorted(n for n in remote if n.endswith(".metadata"))
    for name in metadata:  # the metadata names the tokenizer as given
        assert remote.pop(name).split(b"\n")[1:] == local.pop(name).split(b"\n")[1:]
    assert remote == local and len(remote) > 6
    assert not list(gcs_bucket.list_blobs(prefix="out/_temporary/"))
    info = json.loads(sorted(dump.iterdir())[0].read_text())
    assert info["path"].startswith(out + "/") and all(f.startswith("gs://") for f in info["files"])
    lengths, offsets, ids = read_shard("datatrove", info["path"])  # the project's reader, on gs://
    assert lengths.sum() == len(ids) == info["tokens"] and len(lengths) == info["rows"]
