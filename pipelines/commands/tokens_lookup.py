"""``thresher tokens``: trace a token of a run's token shards back to its document, or find a document's tokens.

    thresher tokens out/fineweb --shard train-00000-of-00003 --token 123456
    thresher tokens out/fineweb --shard 0 --split validation --token 0 --json
    thresher tokens out/fineweb --doc 'CC-MAIN-...#1'

DIR is a run's output directory or its ``tokens/`` folder (local or gs://). The
manifest ``tokens.json`` names the shards; each shard's
``NAME.provenance.parquet`` (one row per document, in shard order) gives the
document holding a token: only the row group whose ``token_offset`` range
covers it is read. ``--doc`` reads the ``id`` column of every shard's
provenance; asked for a base id it also lists the mix copies ``ID#1``,
``ID#2``... The text is decoded from the shard's token ids with the run's copy
of the tokenizer (``tokens/tokenizer.json``), without the EOS token the shards
append. Exit status 2 with one line for an unknown shard, id or directory, a
token out of range, and a missing or damaged manifest, provenance, shard or
tokenizer file.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Dict, List, Optional

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

MANIFEST = "tokens.json"
TOKENIZER = "tokenizer.json"
PROVENANCE_SUFFIX = ".provenance.parquet"
# provenance columns of every shard; any other column is an annotation the recipe chose
FIXED_COLUMNS = ("shard", "doc_index", "token_offset", "token_length", "id", "source", "url", "file", "offset")
_shards: Dict[str, tuple] = {}  # prefix -> read_shard's (lengths, offsets, tokens), for one run()


class LookupFailed(Exception):
    """A lookup that cannot be answered: reported in one line with exit status 2."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``tokens`` options."""
    parser.add_argument("dir", metavar="DIR", help="a run's output directory, or its tokens/ folder")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--shard", metavar="S", help="a shard's name (train-00000-of-00003) or its number in --split")
    what.add_argument("--doc", metavar="ID", help="a document id: where its tokens are (a base id lists its copies)")
    parser.add_argument("--token", type=int, metavar="T", help="with --shard: the token's 0-based position in it")
    parser.add_argument("--split", choices=("train", "validation"),
                        help="the split a numbered --shard counts in (default train); with --doc, search only it")
    parser.add_argument("--chars", type=int, default=2000, help="characters of decoded text printed (default 2000)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def run(args: argparse.Namespace) -> int:
    """Answer the lookup; 0 on success, 2 when it cannot be answered."""
    _shards.clear()  # shards read by an earlier call in this process may have been rewritten since
    try:
        if args.shard is not None and args.token is None:
            raise LookupFailed("--shard needs --token T")
        if args.doc is not None and args.token is not None:
            raise LookupFailed("--token goes with --shard, not --doc")
        if args.chars < 0:
            raise LookupFailed(f"--chars must be >= 0, got {args.chars}")
        folder = tokens_folder(args.dir)
        manifest = json.loads(_read(FileSystems.join(folder, MANIFEST)))
        if args.doc is not None:
            found = find_documents(folder, manifest, args.doc, args.split)
            if not found:
                raise LookupFailed(f"no document with id {args.doc!r} in the {_splits(args.split)} shards of {folder}")
            records = [_record(folder, manifest, shard, row, None, args.chars) for shard, row in found]
            out = {"query": args.doc, "documents": records}
        else:
            shard = find_shard(manifest, args.shard, args.split or "train")
            row = document_at(folder, shard, args.token)
            out = _record(folder, manifest, shard, row, args.token, args.chars)
    except LookupFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(out, ensure_ascii=False, indent=2, default=str) if args.json else _text(out))
    return 0


def tokens_folder(directory: str) -> str:
    """The folder holding tokens.json: ``DIR/tokens`` or DIR itself."""
    directory = directory.rstrip("/") or "/"
    for folder in (FileSystems.join(directory, "tokens"), directory):
        if FileSystems.exists(FileSystems.join(folder, MANIFEST)):
            return folder
    raise LookupFailed(f"{directory} has no tokens/{MANIFEST} (not the output of a run with output.tokens)")


def _read(path: str) -> bytes:
    try:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            return f.read()
    except (OSError, IOError) as exc:
        raise LookupFailed(f"cannot read {path}: {exc}") from None


def _splits(split: Optional[str]) -> str:
    return split if split else "train and validation"


def find_shard(manifest: dict, name: str, split: str) -> dict:
    """The manifest entry of ``name``: a shard name, or a number among ``split``'s shards."""
    shards = manifest.get("shards", [])
    for shard in shards:
        if shard["name"] == name:
            return shard
    in_split = [s for s in shards if s["split"] == split]
    if re.fullmatch(r"\d+", name.strip()):
        number = int(name)
        if number < len(in_split):
            return in_split[number]
        if not in_split:
            raise LookupFailed(f"no shard number {number}: split {split} has no shard")
        raise LookupFailed(f"no shard number {number} in {split}: it has {len(in_split)} shard(s) "
                           f"(0..{len(in_split) - 1})")
    names = ", ".join(s["name"] for s in shards[:6]) + (", ..." if len(shards) > 6 else "")
    raise LookupFailed(f"no shard {name!r}; shards: {names or 'none'}")


def _provenance(folder: str, shard: dict):
    import pyarrow.parquet as pq
    path = FileSystems.join(folder, shard["name"] + PROVENANCE_SUFFIX)
    try:
        return pq.ParquetFile(FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED))
    except (OSError, IOError) as exc:
        raise LookupFailed(f"cannot read {path}: {exc}") from None


def document_at(folder: str, shard: dict, token: int) -> dict:
    """The provenance row of the document holding token ``token`` of ``shard``."""
    if not 0 <= token < shard["tokens"]:
        raise LookupFailed(f"token {token} is out of range: shard {shard['name']} has {shard['tokens']} tokens "
                           f"(0..{shard['tokens'] - 1})")
    pf = _provenance(folder, shard)
    offsets = pf.schema_arrow.get_field_index("token_offset")
    group = 0
    for i in range(pf.num_row_groups):  # rows are in token order: the last group starting at or before the token
        stats = pf.metadata.row_group(i).column(offsets).statistics
        if stats is None or not stats.has_min_max:
            group = None
            break
        if stats.min <= token:
            group = i
    table = pf.read() if group is None else pf.read_row_group(group)
    rows = table.to_pylist()
    for row in rows:
        if row["token_offset"] <= token < row["token_offset"] + row["token_length"]:
            return row
    raise LookupFailed(f"{shard['name']}{PROVENANCE_SUFFIX} has no document covering token {token}")


def find_documents(folder: str, manifest: dict, doc_id: str, split: Optional[str]) -> List[tuple]:
    """[(shard entry, provenance row)] of ``doc_id`` and of its mix copies ``doc_id#k``."""
    import pyarrow.compute as pc
    copies = re.compile(re.escape(doc_id) + r"#[1-9][0-9]*")
    found = []
    for shard in manifest.get("shards", []):
        if split and shard["split"] != split:
            continue
        pf = _provenance(folder, shard)
        for group in range(pf.num_row_groups):
            ids = pf.read_row_group(group, columns=["id"]).column("id")
            hit = pc.or_(pc.equal(ids, doc_id), pc.starts_with(ids, doc_id + "#"))
            if not pc.any(hit).as_py():
                continue
            table = pf.read_row_group(group).filter(hit)
            found += [(shard, row) for row in table.to_pylist()
                      if row["id"] == doc_id or copies.fullmatch(row["id"])]
    return sorted(found, key=lambda item: (_copy_number(item[1]["id"], doc_id), item[0]["name"]))


def _copy_number(found_id: str, doc_id: str) -> int:
    return 0 if found_id == doc_id else int(found_id[len(doc_id) + 1:])


def _shard(folder: str, manifest: dict, shard: dict) -> tuple:
    """(lengths, offsets, tokens) of a shard, read once (``token_formats.read_shard``)."""
    from thresher.transforms.io.token_formats import read_shard
    prefix = FileSystems.join(folder, shard["name"])
    if prefix not in _shards:
        try:
            _shards[prefix] = tuple(read_shard(manifest["format"], prefix))
        except (OSError, IOError, ValueError) as exc:
            raise LookupFailed(f"cannot read the shard {prefix}: {exc}") from None
    return _shards[prefix]


def _record(folder: str, manifest: dict, shard: dict, row: dict, token: Optional[int], chars: int) -> dict:
    """Everything printed about one document (and the token asked for)."""
    from thresher.transforms.text.tokens import load_tokenizer
    start, length = int(row["token_offset"]), int(row["token_length"])
    lengths, offsets, tokens = _shard(folder, manifest, shard)
    index = int(row["doc_index"])
    if not (0 <= index < len(lengths) and (int(offsets[index]), int(lengths[index])) == (start, length)):
        raise LookupFailed(f"{shard['name']}: the provenance of document {index} (tokens [{start}, {start + length})) "
                           "does not match the shard's index")
    ids = tokens[start:start + length].tolist()
    if len(ids) != length:
        raise LookupFailed(f"{shard['name']}: the token file holds {len(tokens)} tokens, its index says more")
    path = FileSystems.join(folder, TOKENIZER)
    try:
        tokenizer = load_tokenizer(path)
    except Exception as exc:  # missing file (OSError) or not a tokenizer (the tokenizers library's Exception)
        raise LookupFailed(f"cannot load the tokenizer {path}: {exc}") from None
    eos_id = manifest.get("eos_id") if manifest.get("eos") else None
    body = ids[:-1] if eos_id is not None and ids and ids[-1] == eos_id else ids
    text = tokenizer.decode(body, skip_special_tokens=False)
    record = {
        "split": shard["split"], "shard": shard["name"], "doc_index": row["doc_index"],
        "token_range": [start, start + length], "tokens": length,
    }
    if token is not None:
        at = token - start
        record["token"] = {"position": token, "in_document": at, "id": ids[at], "piece": tokenizer.id_to_token(ids[at]),
                           "text": tokenizer.decode([ids[at]], skip_special_tokens=False),
                           "eos": eos_id is not None and at == length - 1 and ids[at] == eos_id}
    record.update({key: row.get(key) for key in ("id", "source", "url", "file", "offset")})
    record["annotations"] = {k: v for k, v in row.items() if k not in FIXED_COLUMNS}
    record["text"] = text[:chars]
    record["text_chars"] = len(text)
    return record


def _text(out: dict) -> str:
    if "documents" in out:
        found = out["documents"]
        head = f"{out['query']}: {len(found)} document(s)"
        return "\n\n".join([head] + [_text(record) for record in found])
    lines = [f"{out['split']} shard {out['shard']}, document {out['doc_index']}, "
             f"tokens [{out['token_range'][0]}, {out['token_range'][1]}) ({out['tokens']} tokens)"]
    if "token" in out:
        t = out["token"]
        lines.append(f"token {t['position']}: token {t['in_document']} of the document, id {t['id']} "
                     f"{t['piece']!r} (text {t['text']!r})"
                     + (" (end of document)" if t["eos"] else ""))
    fields = [(key, out[key]) for key in ("id", "source", "url", "file", "offset")] + list(out["annotations"].items())
    lines += [f"{key}: {'-' if value is None else value}" for key, value in fields]
    more = out["text_chars"] - len(out["text"])
    lines.append(f"text ({out['text_chars']} characters" + (f", first {len(out['text'])} shown):" if more else "):"))
    lines.append(out["text"])
    return "\n".join(lines)
