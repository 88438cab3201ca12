"""Damaged WARC/WET files lose nothing intact, and records passed over are counted (issue #12).

Files are built piece by piece (records, gzip members, damage) so that every intact
record's offset and every damaged byte range is known before reading.
"""
from __future__ import annotations

import gzip
import json
import random
from collections import Counter
from pathlib import Path

import apache_beam as beam
import pytest
import yaml
from apache_beam.testing.util import assert_that, equal_to

from thresher.pipelines.commands.cli import main
from tests.conftest import SHARED_DATA, local_pipeline
from tests.hostile_corpus import arc_file, warc_record, warcinfo
from thresher.transforms.base import ERRORS, KEPT, REPORT
from tests.test_sources import split
from thresher.transforms.io.sources import ReadDocuments, read_file
from thresher.transforms.io.sources.resync import DamagedBytes, is_arc_header, is_warc_header

REAL_PAGES = SHARED_DATA / "bench" / "real-pages.warc.gz"


def garbage(rng: random.Random, n: int) -> bytes:
    """Random bytes that do not start with a line end (a blank line after a record is no damage)."""
    data = bytearray(rng.randbytes(n))
    while data[0] in b"\r\n":
        data[0] = rng.randrange(256)
    return bytes(data)


class Pieces:
    """A file as a list of pieces: ("doc", url), ("other", type) or ("damage", None)."""

    def __init__(self, gz: bool, seed: int = 1):
        self.gz, self.rng = gz, random.Random(seed)
        self.parts: list = []
        self.n = 0

    def record(self, raw: bytes) -> bytes:
        return gzip.compress(raw, mtime=0) if self.gz else raw

    def doc(self) -> "Pieces":
        self.n += 1
        url = f"http://example.com/page-{self.n}"
        body = b"<p>page %d</p>" % self.n * self.rng.randint(5, 60)
        self.parts.append(("doc", url, self.record(warc_record(url, body, "text/html", f"urn:uuid:{self.n:08d}"))))
        return self

    def other(self, kind: str) -> "Pieces":
        self.n += 1
        url = f"http://example.com/page-{self.n}"
        raw = (warcinfo("x.warc", f"urn:uuid:{self.n:08d}") if kind == "warcinfo"
               else warc_record(url, b"k: v\r\n", "application/warc-fields", f"urn:uuid:{self.n:08d}", kind))
        self.parts.append(("other", kind, self.record(raw)))
        return self

    def damage(self, data: bytes) -> "Pieces":
        self.parts.append(("damage", None, data))
        return self

    def junk(self, n: int = 3000) -> "Pieces":
        return self.damage(garbage(self.rng, n))

    def bad_header(self) -> "Pieces":
        """A record whose version line is broken: the whole record is damage."""
        raw = warc_record("http://example.com/bad", b"<p>bad</p>", "text/html", "urn:uuid:bad")
        return self.damage(self.record(raw.replace(b"WARC/1.0\r\n", b"WARC/1.0 \x00\xff garbage\r\n", 1)))

    def corrupt_member(self) -> "Pieces":
        """A gzip member whose deflate data is overwritten after its first bytes."""
        raw = gzip.compress(warc_record("http://example.com/corrupt", b"<p>x</p>" * 200, "text/html",
                                        "urn:uuid:corrupt"), mtime=0)
        return self.damage(raw[:14] + self.rng.randbytes(40) + raw[54:])

    def cut_member(self) -> "Pieces":
        """A gzip member cut in half, followed by the next member."""
        raw = gzip.compress(warc_record("http://example.com/cut", b"<p>cut</p>" * 50, "text/html", "urn:uuid:cut"),
                            mtime=0)
        return self.damage(raw[:len(raw) // 2])

    def write(self, path: Path):
        """Write the file; return (expected [(url, offset)], expected [(start, end)] damaged ranges)."""
        docs, ranges, pos, open_at = [], [], 0, None
        for kind, label, data in self.parts:
            if kind == "damage":
                open_at = pos if open_at is None else open_at
            else:
                if open_at is not None:
                    ranges.append((open_at, pos))
                    open_at = None
                if kind == "doc":
                    docs.append((label, pos))
            pos += len(data)
        if open_at is not None:
            ranges.append((open_at, pos))
        path.write_bytes(b"".join(data for _, _, data in self.parts))
        return docs, ranges


def check(path: Path, expected_docs, expected_ranges, fmt="warc"):
    docs, errors = split(read_file(str(path), "s", fmt))
    assert [(d.url, d.annotations["offset"]) for d in docs] == expected_docs
    assert len({d.id for d in docs}) == len(docs)  # nothing read twice
    got = [(e.offset, str(e.exc)) for e in errors]
    assert [o for o, _ in got] == [start for start, _ in expected_ranges], got
    for (start, end), error in zip(expected_ranges, errors):
        assert isinstance(error.exc, DamagedBytes) and str(error.exc).startswith(f"damaged bytes {start}-{end}: ")
    return docs, errors


GZ_CASES = {
    "garbage between members": lambda p: p.other("warcinfo").doc().doc().junk().doc().doc(),
    "garbage at the start": lambda p: p.junk(500).other("warcinfo").doc().doc(),
    "garbage at the end": lambda p: p.other("warcinfo").doc().doc().junk(700),
    "corrupt member in the middle": lambda p: p.other("warcinfo").doc().corrupt_member().doc().doc(),
    "bad record header in a member": lambda p: p.other("warcinfo").doc().bad_header().doc(),
    "member cut in half, then the next": lambda p: p.doc().cut_member().other("request").doc(),
    "several damages in one file": lambda p: (p.junk(100).other("warcinfo").doc().junk(2000).junk(10).doc()
                                              .corrupt_member().other("metadata").doc().cut_member()
                                              .bad_header().doc().junk(300)),
    "damage right after damage": lambda p: p.doc().bad_header().corrupt_member().cut_member().doc(),
}
PLAIN_CASES = {
    "garbage between records": lambda p: p.other("warcinfo").doc().doc().junk().doc(),
    "garbage at the start": lambda p: p.junk(200).doc().doc(),
    "garbage at the end": lambda p: p.doc().doc().junk(50),
    "bad version line": lambda p: p.other("warcinfo").doc().bad_header().doc().doc(),
    "several damages in one file": lambda p: (p.junk(64).doc().bad_header().other("request").doc().junk(5000)
                                              .doc().bad_header().junk(9).doc().junk(1)),
}


@pytest.mark.parametrize("gz,case", [(True, c) for c in sorted(GZ_CASES)] + [(False, c) for c in sorted(PLAIN_CASES)])
def test_damage(tmp_path, gz, case):
    path = tmp_path / ("damaged.warc.gz" if gz else "damaged.warc")
    expected_docs, ranges = (GZ_CASES if gz else PLAIN_CASES)[case](Pieces(gz=gz)).write(path)
    assert ranges and expected_docs
    check(path, expected_docs, ranges)


@pytest.mark.parametrize("gz", [True, False])
def test_intact_files_have_no_error_and_the_same_records(tmp_path, gz):
    pieces = Pieces(gz=gz).other("warcinfo").doc().other("request").doc().other("metadata").doc()
    path = tmp_path / ("ok.warc.gz" if gz else "ok.warc")
    expected_docs, ranges = pieces.write(path)
    assert ranges == []
    skipped = Counter()
    docs, errors = split(read_file(str(path), "s", skipped=skipped))
    assert errors == [] and [(d.url, d.annotations["offset"]) for d in docs] == expected_docs
    assert skipped == {"warcinfo": 1, "request": 1, "metadata": 1}


def test_bad_record_inside_a_whole_file_gzip(tmp_path):
    """A whole-file (single-member) gzip: the records after a bad one inside the member are read, all at
    the member's offset 0; the error names the member and the decompressed bytes."""
    pieces = Pieces(gz=False).other("warcinfo").doc().doc()
    records = [data for _, _, data in pieces.parts]
    bad = warc_record("http://example.com/bad", b"<p>bad</p>", "text/html", "urn:uuid:bad").replace(
        b"WARC/1.0\r\n", b"WARX/1.0\r\n", 1)
    tail = Pieces(gz=False, seed=2)
    tail.n = 10
    tail.doc().other("request").doc()
    after = [data for _, _, data in tail.parts]
    inside = sum(map(len, records))
    for name, parts, expected, damaged in (
            ("middle", records + [bad] + after, [2, 3, 11, 13], (inside, inside + len(bad))),
            ("first", [bad] + records + after, [2, 3, 11, 13], (0, len(bad))),
            ("last", records + [bad], [2, 3], (inside, inside + len(bad)))):
        path = tmp_path / f"{name}.warc.gz"
        path.write_bytes(gzip.compress(b"".join(parts), mtime=0))
        skipped = Counter()
        docs, errors = split(read_file(str(path), "s", skipped=skipped))
        assert [(d.url, d.annotations["offset"]) for d in docs] == [
            (f"http://example.com/page-{i}", 0) for i in expected], name
        size = path.stat().st_size
        assert [str(e.exc) for e in errors] == [
            f"damaged bytes 0-{size}: inside this gzip member, decompressed bytes {damaged[0]}-{damaged[1]}: "
            "OSError: Invalid WARC header"], name
        assert skipped == ({"warcinfo": 1, "request": 1} if after[0] in parts else {"warcinfo": 1}), name
    # two multi-record members, a bad record in the first: the second member is read at its own offset
    first = gzip.compress(b"".join(records + [bad] + after[:1]), mtime=0)
    second = gzip.compress(b"".join(after[1:]), mtime=0)
    path = tmp_path / "two.warc.gz"
    path.write_bytes(first + second)
    docs, errors = split(read_file(str(path), "s"))
    assert [(d.url[-2:], d.annotations["offset"]) for d in docs] == [
        ("-2", 0), ("-3", 0), ("11", 0), ("13", len(first))]
    assert len(errors) == 1 and str(errors[0].exc).startswith(f"damaged bytes 0-{len(first)}: inside this gzip")


def test_wet_damage(tmp_path):
    """WET files take the same path: conversion records after damage are read."""
    def conversion(i):
        return gzip.compress(warc_record(f"http://example.com/{i}", b"plain text %d" % i, "text/plain",
                                         f"urn:uuid:c{i}", "conversion"), mtime=0)
    head = gzip.compress(warcinfo("x.wet", "urn:uuid:w"), mtime=0)
    junk = garbage(random.Random(5), 1000)
    parts = [head, conversion(0), junk, conversion(1), conversion(2)]
    path = tmp_path / "d.warc.wet.gz"
    path.write_bytes(b"".join(parts))
    skipped = Counter()
    docs, errors = split(read_file(str(path), "s", skipped=skipped))
    start = len(head) + len(parts[1])
    assert [(d.url, d.annotations["offset"], d.text) for d in docs] == [
        ("http://example.com/0", len(head), "plain text 0"), ("http://example.com/1", start + 1000, "plain text 1"),
        ("http://example.com/2", start + 1000 + len(parts[3]), "plain text 2")]
    assert len(errors) == 1 and str(errors[0].exc).startswith(f"damaged bytes {start}-{start + 1000}: ")
    assert skipped == {"warcinfo": 1}


def test_arc_damage(tmp_path):
    """A plain ARC resumes at the next URL line after lines warcio cannot parse."""
    pages = [(f"http://example.com/{i}", "text/html", b"<p>page %d</p>" % i * 20) for i in range(5)]
    data, offsets = arc_file("x.arc", pages)
    junk = b"garbage that is no ARC header\n" * 4
    first = b"not an ARC file at all\n"
    path = tmp_path / "d.arc"
    path.write_bytes(data[:offsets[2]] + junk + data[offsets[2]:offsets[4]] + junk + data[offsets[4]:])
    skipped = Counter()
    docs, errors = split(read_file(str(path), "s", skipped=skipped))
    n = len(junk)
    assert [(d.url, d.annotations["offset"]) for d in docs] == [
        ("http://example.com/0", offsets[0]), ("http://example.com/1", offsets[1]),
        ("http://example.com/2", offsets[2] + n), ("http://example.com/3", offsets[3] + n),
        ("http://example.com/4", offsets[4] + 2 * n)]
    assert [str(e.exc).split(":")[0] for e in errors] == [f"damaged bytes {offsets[2]}-{offsets[2] + n}",
                                                          f"damaged bytes {offsets[4] + n}-{offsets[4] + 2 * n}"]
    assert skipped == {"filedesc": 1}
    path.write_bytes(first + data)  # before the filedesc record
    docs, errors = split(read_file(str(path), "s"))
    assert len(docs) == 5 and [e.offset for e in errors] == [0]
    assert str(errors[0].exc).startswith(f"damaged bytes 0-{len(first)}: ")


def test_real_pages_with_damage_at_three_places(tmp_path):
    """bench/real-pages.warc.gz (1,171 responses, one gzip member each) with garbage before the
    first member, one member corrupted, one cut in half and garbage at the end: every other
    record is read, with its id, text and offset (shifted by the garbage in front)."""
    intact, errors = split(read_file(str(REAL_PAGES), "real"))
    assert errors == [] and len(intact) == 1171
    data = REAL_PAGES.read_bytes()
    starts = [d.annotations["offset"] for d in intact]
    ends = starts[1:] + [len(data)]
    corrupt, cut = 400, 900
    rng = random.Random(9)
    front = garbage(rng, 4096)
    member = bytearray(data[starts[corrupt]:ends[corrupt]])
    member[20:80] = rng.randbytes(60)
    pieces = [front, data[:starts[corrupt]], bytes(member), data[ends[corrupt]:starts[cut]],
              data[starts[cut]:(starts[cut] + ends[cut]) // 2], data[ends[cut]:], garbage(rng, 999)]
    damaged = tmp_path / "damaged.warc.gz"
    damaged.write_bytes(b"".join(pieces))
    docs, errors = split(read_file(str(damaged), "real"))
    shift = {i: len(front) - (0 if i < cut else ends[cut] - (starts[cut] + ends[cut]) // 2) for i in range(1171)}
    expected = [(d.id, d.text, d.annotations["offset"] + shift[i]) for i, d in enumerate(intact) if i not in (corrupt, cut)]
    assert [(d.id, d.text, d.annotations["offset"]) for d in docs] == expected
    cut_at = starts[cut] + len(front)
    total = len(b"".join(pieces))
    assert [(e.offset, str(e.exc).split(":")[0]) for e in errors] == [
        (0, f"damaged bytes 0-{len(front)}"),
        (starts[corrupt] + len(front), f"damaged bytes {starts[corrupt] + len(front)}-{ends[corrupt] + len(front)}"),
        (cut_at, f"damaged bytes {cut_at}-{cut_at + (ends[cut] - starts[cut]) // 2}"),
        (total - 999, f"damaged bytes {total - 999}-{total}")]


def test_real_broken_samples_lose_no_intact_record():
    """The broken samples in warcio/: every response record in the file is read or is the
    damaged one (an error)."""
    samples = SHARED_DATA / "warc-samples" / "warcio"
    trunc = samples / "example-trunc.warc"  # the response's Content-Length is 6 bytes short
    skipped = Counter()
    docs, errors = split(read_file(str(trunc), "s", skipped=skipped))
    assert [d.url for d in docs] == ["http://example.com/"]
    assert len(errors) == 1 and str(errors[0].exc).startswith("damaged bytes 2560-2566: ")
    assert skipped == {"warcinfo": 2, "request": 1}  # the request after the damage is read
    for name, responses in (("example-bad.warc.gz.bad", 2), ("example-bad-non-chunked.warc.gz", 1),
                            ("example-wrong-chunks.warc.gz", 1)):
        docs, errors = split(read_file(str(samples / name), "s", "warc"))
        assert (len(docs), len(errors)) == (responses, 0), name


def test_header_checks():
    head = warc_record("http://e/", b"<p>x</p>", "text/html", "urn:uuid:1")
    assert is_warc_header(head)
    assert not is_warc_header(head.replace(b"WARC-Type: response\r\n", b""))  # no WARC-Type
    assert not is_warc_header(head.replace(b"Content-Length: ", b"Content-Length: x"))
    assert not is_warc_header(head.replace(b"WARC-Type: response", b"WARC-Type response"))  # a line without a colon
    assert not is_warc_header(head.split(b"\r\n\r\n")[0])  # no end of header
    assert not is_warc_header(b"WARC/2.0\r\n" + head.split(b"\r\n", 1)[1])
    assert is_arc_header(b"http://e.com/ 192.0.2.1 20240102030405 text/html 123\n")
    assert not is_arc_header(b"http://e.com/ 192.0.2.1 2024010203 text/html 123\n")  # 10-digit date


# --------------------------------------------------------------------- records passed over

def counted_warc(path: Path, requests: int, metadata: int, warcinfos: int, responses: int) -> None:
    pieces = Pieces(gz=True)
    for _ in range(warcinfos):
        pieces.other("warcinfo")
    for i in range(max(requests, metadata, responses)):
        if i < requests:
            pieces.other("request")
        if i < responses:
            pieces.doc()
        if i < metadata:
            pieces.other("metadata")
    pieces.write(path)


def test_read_documents_reports_records_passed_over(tmp_path):
    counted_warc(tmp_path / "a.warc.gz", requests=7, metadata=3, warcinfos=1, responses=5)
    counted_warc(tmp_path / "b.warc.gz", requests=2, metadata=0, warcinfos=2, responses=2)
    (tmp_path / "c.jsonl").write_bytes(b'{"text": "a"}\n\n  \n{"text": "b"}\n')
    with local_pipeline() as p:
        out = p | ReadDocuments("s", [str(tmp_path / "*")])
        assert set(out) == {KEPT, ERRORS, REPORT}
        assert_that(out[REPORT] | beam.CombinePerKey(sum),
                    equal_to([("request", 9), ("metadata", 3), ("warcinfo", 3), ("blank-line", 2)]), label="report")
        assert_that(out[REPORT] | "per file" >> beam.combiners.Count.Globally(), equal_to([6]), label="one per type")
        assert_that(out[KEPT] | beam.combiners.Count.Globally(), equal_to([9]), label="kept")


RECIPE = {"version": 1, "name": "passed-over", "steps": [], "output": {"rejected": False}}


@pytest.mark.parametrize("workers", [1, 2])
def test_stats_count_records_passed_over(tmp_path, capsys, workers):
    web, other = tmp_path / "web", tmp_path / "other"
    web.mkdir()
    other.mkdir()
    counted_warc(web / "a.warc.gz", requests=175, metadata=4, warcinfos=1, responses=3)
    counted_warc(web / "b.warc.gz", requests=5, metadata=0, warcinfos=1, responses=2)
    counted_warc(other / "c.warc.gz", requests=0, metadata=2, warcinfos=0, responses=1)
    (other / "d.warc").write_bytes(b"")  # nothing at all: counts nothing
    recipe = dict(RECIPE, inputs={"web": {"paths": [str(web / "*")]}, "other": {"paths": [str(other / "*")],
                                                                               "format": "warc"}})
    recipe["output"] = dict(RECIPE["output"], path=str(tmp_path / "out"))
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert main(["run", str(path), "--workers", str(workers)]) == 0
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["input"]["by_source"]["web"]["skipped"] == {"metadata": 4, "request": 180, "warcinfo": 2}
    assert stats["input"]["by_source"]["other"]["skipped"] == {"metadata": 2}
    assert stats["input"]["skipped"] == {"metadata": 6, "request": 180, "warcinfo": 2}
    assert stats["input"]["documents"] == 6 and stats["balanced"] is True
    assert "read: 188 records passed over (request 180, metadata 6, warcinfo 2)" in capsys.readouterr().out


def test_stats_with_nothing_passed_over(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(b'{"text": "<p>a</p>"}\n')
    recipe = dict(RECIPE, inputs={"j": {"paths": [str(tmp_path / "a.jsonl")]}})
    recipe["output"] = dict(RECIPE["output"], path=str(tmp_path / "out"))
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    main(["run", str(path), "--workers", "1"])
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["input"]["skipped"] == {} and stats["input"]["by_source"]["j"]["skipped"] == {}
