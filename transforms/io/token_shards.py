"""Token shards for a trainer: documents tokenized, globally shuffled, in Megatron or datatrove files.

Every document's text (as the Parquet output holds it: ``schema.clean``) is encoded with a Hugging
Face ``tokenizers`` file (``encode_batch``, no special tokens), plus the end-of-document id when
``eos``. A document goes to the validation split when ``xxh64(base id, seed) / 2**64 <
validation_fraction``; the base id drops a mix copy's ``#k`` suffix (annotation ``epoch`` = k), so
every copy of a document lands in the same split. Each split is cut into
``max(1, min(documents, ceil(tokens / shard_tokens)))`` shards by equal ranges of the shuffle hash
(``ordered_sink.shuffle_hash``); inside a shard documents are sorted by (hash, id). The order depends
only on the seed and the ids: the files are byte-identical on any runner and worker count.

What crosses the shuffle is the token ids and a small provenance tuple, never the text. One worker
writes one shard and holds it in memory meanwhile (its ids, about ``shard_tokens`` x bytes per
token, plus each document's id and provenance): size ``shard_tokens`` with that in mind. Empty hash ranges get no file: shards are numbered contiguously
``{split}-{i:05d}-of-{n:05d}``. Beside each shard, ``.provenance.parquet`` has one row per document
(shard, doc_index, token_offset, token_length, id, source, url, file, offset and the chosen
annotations). Files are written under ``_temporary/`` and renamed by a final step, which also
writes ``tokenizer.json`` (a byte copy) and the manifest ``tokens.json``.
"""
from __future__ import annotations

import uuid
from typing import Dict, List, Optional, Tuple

import apache_beam as beam
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from thresher.transforms.base import ParamError
from thresher.transforms.io.ordered_sink import shuffle_hash
from thresher.transforms.io.schema import ARROW_TYPES, clean, coerce
from thresher.transforms.io.sinks import make_dir, remove_dir, temp_dir_of
from thresher.transforms.io.token_formats import FORMATS, extensions, open_shard_writer
from thresher.transforms.text.tokens import eos_id, load_tokenizer, token_dtype, tokenizer_identity

MIN_SHARD_TOKENS = 1000
SPLITS = ("train", "validation")
BATCH = 256  # documents per encode_batch call
PROVENANCE_ROW_GROUP = 65536
LENGTH_BUCKETS = tuple(f"<={1 << k}" for k in range(6, 17)) + (">65536",)
PROVENANCE_FIELDS = [("shard", pa.string()), ("doc_index", pa.int64()), ("token_offset", pa.int64()),
                     ("token_length", pa.int64()), ("id", pa.string()), ("source", pa.string()),
                     ("url", pa.string()), ("file", pa.string()), ("offset", pa.int64())]
_BASE = {name for name, _ in PROVENANCE_FIELDS}


def length_bucket(n: int) -> str:
    """The histogram label of a document of ``n`` tokens: ``<=64``, ``<=128``, ... ``<=65536``, ``>65536``."""
    if n > 1 << 16:
        return LENGTH_BUCKETS[-1]
    return f"<={max(64, 1 << max(0, n - 1).bit_length())}"


def base_id(doc_id: str, epoch) -> str:
    """The id without a mix copy's ``#k`` suffix (only when annotation ``epoch`` is k >= 1)."""
    if isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= 1:
        suffix = f"#{epoch}"
        if doc_id.endswith(suffix):
            return doc_id[: -len(suffix)]
    return doc_id


def split_of(doc_id: str, epoch, seed: int, validation_fraction: float) -> str:
    h = xxhash.xxh64_intdigest(base_id(doc_id, epoch).encode("utf-8", "surrogatepass"),
                               seed=seed & 0xFFFFFFFFFFFFFFFF)
    return "validation" if h / 2 ** 64 < validation_fraction else "train"


def shards_for(documents: int, tokens: int, shard_tokens: int) -> int:
    return max(1, min(documents, -(-tokens // shard_tokens)))


def provenance_schema(annotations: Dict[str, str]) -> pa.Schema:
    return pa.schema(PROVENANCE_FIELDS + [(name, ARROW_TYPES[annotations[name]]) for name in sorted(annotations)])


class _Encode(beam.DoFn):
    """Documents -> (split, hash, id, ids bytes, is a copy, provenance tuple), encoded in batches."""

    def __init__(self, cfg: dict):
        self._cfg = cfg

    def setup(self):
        self._tok = load_tokenizer(self._cfg["tokenizer"])

    def start_bundle(self):
        self._docs = []

    def process(self, doc):
        self._docs.append(doc)
        if len(self._docs) >= BATCH:
            yield from self._flush()

    def finish_bundle(self):
        for record in self._flush():
            yield WindowedValue(record, MIN_TIMESTAMP, [GlobalWindow()])

    def _flush(self):
        docs, self._docs = self._docs, []
        if not docs:
            return
        cfg = self._cfg
        dtype, eos, names = np.dtype(cfg["dtype"]).newbyteorder("<"), cfg["eos_id"], cfg["annotations"]
        encoded = self._tok.encode_batch([clean(d.text) for d in docs], add_special_tokens=False)
        for doc, enc in zip(docs, encoded):
            n = len(enc.ids)
            ids = np.empty(n + (eos is not None), dtype=dtype)
            ids[:n] = enc.ids
            if eos is not None:
                ids[n] = eos
            notes = doc.annotations
            epoch = notes.get("epoch")
            copy = isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= 1
            provenance = (clean(doc.source), clean(doc.url) if doc.url else None,
                          coerce(notes.get("file"), "string"), coerce(notes.get("offset"), "int64"),
                          *(coerce(notes.get(n), t) for n, t in names))
            yield (split_of(doc.id, epoch, cfg["seed"], cfg["validation_fraction"]),
                   shuffle_hash(doc.id, cfg["seed"]), clean(doc.id), ids.tobytes(), copy, provenance)


def _count(record) -> Tuple[str, Tuple[int, int]]:
    return record[0], (1, len(record[3]))


def _sum_pairs(pairs) -> Tuple[int, int]:
    documents = nbytes = 0
    for d, b in pairs:
        documents, nbytes = documents + d, nbytes + b
    return documents, nbytes


class _AssignShard:
    def __init__(self, shard_tokens: int, itemsize: int):
        self.shard_tokens, self.itemsize = shard_tokens, itemsize

    def __call__(self, record, totals):
        documents, nbytes = totals[record[0]]
        shards = shards_for(documents, nbytes // self.itemsize, self.shard_tokens)
        return (record[0], (record[1] * shards) >> 64), record


def _shard_name(split: str, occupied: List[Tuple[str, int]], shard: int) -> str:
    """The shard's final name: its rank among the split's non-empty shards."""
    mine = sorted(i for s, i in occupied if s == split)
    return f"{split}-{mine.index(shard):05d}-of-{len(mine):05d}"


class _WriteShard(beam.DoFn):
    """Sorts one shard's records and writes its token files and provenance under ``_temporary/``."""

    def __init__(self, directory: str, cfg: dict):
        self._directory, self._cfg = directory, cfg

    def process(self, keyed, occupied):
        (split, shard), records = keyed
        cfg = self._cfg
        records = sorted(records, key=lambda r: (r[1], r[2]))
        name = _shard_name(split, occupied, shard)
        temp_dir = temp_dir_of(self._directory)
        make_dir(temp_dir)
        temp = FileSystems.join(temp_dir, f"{name}.{uuid.uuid4().hex}")
        dtype = np.dtype(cfg["dtype"]).newbyteorder("<")
        writer = open_shard_writer(cfg["format"], temp, dtype, cfg["tokenizer"])
        lengths, by_source, histogram, copy_tokens = [], {}, {}, 0
        for _, _, _, data, copy, provenance in records:
            ids = np.frombuffer(data, dtype=dtype)
            writer.write(ids)
            n = len(ids)
            lengths.append(n)
            counts = by_source.setdefault(provenance[0], {"documents": 0, "tokens": 0})
            counts["documents"] += 1
            counts["tokens"] += n
            label = length_bucket(n)
            histogram[label] = histogram.get(label, 0) + 1
            copy_tokens += n if copy else 0
        writer.close()
        self._write_provenance(temp + ".provenance.parquet", name, records, lengths)
        exts = extensions(cfg["format"]) + (".provenance.parquet",)
        yield {"name": name, "split": split, "temp": temp, "extensions": list(exts), "rows": len(records),
               "tokens": int(sum(lengths)), "by_source": dict(sorted(by_source.items())),
               "copy_tokens": copy_tokens,
               "length_histogram": {b: histogram[b] for b in LENGTH_BUCKETS if b in histogram}}

    def _write_provenance(self, path: str, name: str, records, lengths: List[int]):
        names = self._cfg["annotations"]
        schema = provenance_schema(dict(names))
        offsets = np.concatenate([[0], np.cumsum(lengths[:-1], dtype=np.int64)]) if lengths else []
        columns = {"shard": [name] * len(records), "doc_index": list(range(len(records))),
                   "token_offset": [int(o) for o in offsets], "token_length": lengths,
                   "id": [r[2] for r in records]}
        for i, column in enumerate(("source", "url", "file", "offset")):
            columns[column] = [r[5][i] for r in records]
        for i, (column, _) in enumerate(names):
            columns[column] = [r[5][4 + i] for r in records]
        table = pa.table(columns, schema=schema)
        with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            pq.write_table(table, f, row_group_size=PROVENANCE_ROW_GROUP, compression="zstd")


class _Finalize(beam.DoFn):
    """Renames the committed shards into place; writes tokenizer.json and tokens.json; cleans up."""

    def __init__(self, directory: str, cfg: dict, manifest: dict):
        self._directory, self._cfg, self._manifest = directory, cfg, manifest

    def process(self, _, infos):
        directory = self._directory
        make_dir(directory)
        infos = sorted(infos, key=lambda i: (SPLITS.index(i["split"]), i["name"]))
        results, shards = [], []
        for info in infos:
            final = FileSystems.join(directory, info["name"])
            sources = [info["temp"] + ext for ext in info["extensions"]]
            files = [final + ext for ext in info["extensions"]]
            for source, target in zip(sources, files):
                if not FileSystems.exists(source) and FileSystems.exists(target):
                    continue  # a retried finalize: the failed attempt renamed this one
                if FileSystems.exists(target):
                    FileSystems.delete([target])
                FileSystems.rename([source], [target])
            results.append({"path": final, "rows": info["rows"], "split": info["split"], "shard": info["name"],
                            "tokens": info["tokens"], "files": files, "by_source": info["by_source"],
                            "copy_tokens": info["copy_tokens"], "length_histogram": info["length_histogram"]})
            shards.append({"name": info["name"], "split": info["split"], "documents": info["rows"],
                           "tokens": info["tokens"], "files": [f.rpartition("/")[2] for f in files]})
        with FileSystems.open(self._cfg["tokenizer"], compression_type=CompressionTypes.UNCOMPRESSED) as f:
            tokenizer_bytes = f.read()
        with FileSystems.create(FileSystems.join(directory, "tokenizer.json"),
                                compression_type=CompressionTypes.UNCOMPRESSED) as f:
            f.write(tokenizer_bytes)
        manifest = {**self._manifest, "shards": shards}
        with FileSystems.create(FileSystems.join(directory, "tokens.json"),
                                compression_type=CompressionTypes.UNCOMPRESSED) as f:
            f.write(orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
        remove_dir(temp_dir_of(directory))  # what failed attempts left
        yield from results


class WriteTokenShards(beam.PTransform):
    """Tokenize documents into globally shuffled token shards (``megatron`` or ``datatrove``) in ``directory``.

    tokenizer: a tokenizer.json (local or gs://). shard_tokens: tokens per shard, about.
    eos: append the end-of-document token (``eos_token``, or the first of ``EOS_CANDIDATES``).
    dtype: auto or an explicit id dtype (``token_dtype``). validation_fraction, seed: the split and the order.
    annotations: name -> Arrow type name, copied into the provenance index (``file``/``offset`` are base columns).
    Returns one dict per shard written: path (prefix), rows, split, shard, tokens, files, by_source,
    copy_tokens, length_histogram.
    """

    def __init__(self, directory: str, tokenizer: str, format: str = "megatron", shard_tokens: int = 500_000_000,
                 eos: bool = True, eos_token: Optional[str] = None, dtype: str = "auto",
                 validation_fraction: float = 0.001, seed: int = 0,
                 annotations: Optional[Dict[str, str]] = None):
        super().__init__()
        if format not in FORMATS:
            raise ParamError("format", f"tokens: format must be one of {', '.join(FORMATS)}, got {format!r}")
        if isinstance(shard_tokens, bool) or not isinstance(shard_tokens, int) or shard_tokens < MIN_SHARD_TOKENS:
            raise ParamError("shard_tokens", f"tokens: shard_tokens must be an integer >= {MIN_SHARD_TOKENS}, "
                                             f"got {shard_tokens!r}")
        if not 0 <= validation_fraction < 1:
            raise ParamError("validation_fraction",
                             f"tokens: validation_fraction must be in [0, 1), got {validation_fraction!r}")
        annotations = {k: v for k, v in (annotations or {}).items() if k not in _BASE}
        for name, type_name in annotations.items():
            if type_name not in ARROW_TYPES:
                raise ParamError("annotations", f"tokens: annotation {name!r} has unknown type {type_name!r}")
        identity = tokenizer_identity(tokenizer)
        resolved = token_dtype(format, identity["vocab_size"], dtype)
        eos_value = eos_id(load_tokenizer(tokenizer), eos_token) if eos else None
        eos_text = load_tokenizer(tokenizer).id_to_token(eos_value) if eos else None
        self._directory = directory.rstrip("/")
        self._cfg = {"tokenizer": tokenizer, "format": format, "dtype": resolved.name, "eos_id": eos_value,
                     "seed": seed, "validation_fraction": validation_fraction, "shard_tokens": shard_tokens,
                     "annotations": sorted(annotations.items())}
        self.manifest = {"format": format, "dtype": resolved.name, "eos": bool(eos), "eos_id": eos_value,
                         "eos_token": eos_text, "seed": seed, "validation_fraction": validation_fraction,
                         "shard_tokens": shard_tokens, "tokenizer": identity}

    def expand(self, docs):
        cfg = self._cfg
        records = docs | "Encode" >> beam.ParDo(_Encode(cfg))
        totals = beam.pvalue.AsDict(
            records | "Count" >> beam.Map(_count) | "Totals" >> beam.CombinePerKey(_sum_pairs))
        keyed = records | "Assign shard" >> beam.Map(
            _AssignShard(cfg["shard_tokens"], np.dtype(cfg["dtype"]).itemsize), totals)
        occupied = beam.pvalue.AsList(
            keyed | "Shard keys" >> beam.Keys() | "Occupied" >> beam.Distinct())
        written = (keyed
                   | "Group shard" >> beam.GroupByKey()
                   | "Write shard" >> beam.ParDo(_WriteShard(self._directory, cfg), occupied))
        return (docs.pipeline
                | "Once" >> beam.Create([None])
                | "Finalize" >> beam.ParDo(_Finalize(self._directory, cfg, self.manifest),
                                           beam.pvalue.AsList(written)))
