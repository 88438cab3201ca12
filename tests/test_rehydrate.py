"""``Rehydrate``: light documents get the text of their record in a prefix cache entry back; others
pass as they are; an entry gone during the run is one clear failure."""
from __future__ import annotations

import json
import zlib

import pytest
from apache_beam.testing.util import assert_that, equal_to

import apache_beam as beam
from tests.conftest import local_pipeline
from thresher.pipelines.run.cache_entries import EntryWriter
from thresher.transforms.io.rehydrate import Rehydrate, by_entry, entry_documents, filled
from thresher.transforms.document import REF_ANNOTATION, Document, DocumentCoder, light

DOCS = [Document(f"d{i}", f"text of document {i} " * (i + 1), f"https://x.test/{i}", "web", "2024-01-0{}".format(i + 1),
                 {"language": "en", "n": i}) for i in range(5)]


def _entry(folder) -> str:
    writer = EntryWriter(str(folder), {"file": "in.warc.gz"})
    coder = DocumentCoder()
    for i, doc in enumerate(DOCS):
        writer.add(b"K", coder.encode(doc))
        if i == 1:  # other records between the kept ones
            writer.add(b"E", b'{"step": "read"}')
            writer.add(b"R", b"\0\0\0\0" + coder.encode(Document("r", "rejected")))
    writer.add(b"C", b"[]")
    writer.commit()
    return f"{folder}/{writer.name}"


def _light(path: str, ordinal: int, **notes) -> Document:
    doc = DOCS[ordinal].annotate(**notes)
    doc.ref = (path, ordinal)
    return light(doc)


def test_light_documents_get_their_text_back_and_keep_their_annotations(tmp_path):
    path = _entry(tmp_path / "entry")
    shipped = [_light(path, 3, cluster_size=2), _light(path, 0), _light(path, 4, exact_copies=1)]
    assert all(d.text == "" and d.annotations[REF_ANNOTATION] == [path, o] for d, o in zip(shipped, (3, 0, 4)))
    whole = Document("w", "never in the cache", annotations={"language": "de"})
    expected = [DOCS[3].annotate(cluster_size=2), DOCS[0], DOCS[4].annotate(exact_copies=1), whole]
    with local_pipeline() as p:
        out = p | beam.Create(shipped + [whole]) | Rehydrate()
        assert_that(out, equal_to(expected))
        assert_that(out | beam.Map(lambda d: REF_ANNOTATION in d.annotations), equal_to([False] * 4), label="no ref")


def test_the_shuffle_to_the_entries_gives_each_document_back_with_its_text_and_its_own_bytes(tmp_path):
    path = _entry(tmp_path / "entry")
    whole = Document("w", "never in the cache")
    records = [by_entry(_light(path, 4, n=9), b"\x01" * 16), by_entry(_light(path, 1)), by_entry(whole, b"ab")]
    assert [key for key, _ in records[:2]] == [path, path] and records[2][0] != path
    assert all(DOCS[4].text.encode() not in value for _, value in records)  # no text crosses
    got = list(filled((path, [records[0][1], records[1][1]]))) + list(filled((records[2][0], [records[2][1]])))
    assert got == [(DOCS[1], b""), (DOCS[4].annotate(n=9), b"\x01" * 16), (whole, b"ab")]  # in entry order
    assert [doc.ref for doc, _ in got[:2]] == [(path, 1), (path, 4)]


def test_a_document_without_a_ref_is_never_made_light():
    doc = DOCS[1].annotate(x=1)
    assert light(doc) is doc
    doc.ref = ("e", 1)
    assert doc.with_text(doc.text).ref == ("e", 1)  # the same text: still where the entry says
    assert doc.with_text("other").ref is None  # changed: the entry no longer holds it
    assert doc.annotate(y=2).ref == ("e", 1) and doc == DOCS[1].annotate(x=1)  # ref is not compared


@pytest.mark.parametrize("gone", ["deleted", "shorter"])
def test_an_entry_gone_during_the_run_fails_it_with_a_line_saying_so(tmp_path, gone):
    path = _entry(tmp_path / "entry")
    if gone == "deleted":
        (tmp_path / "entry" / path.rsplit("/", 1)[1]).unlink()
        shipped, words = [_light(path, 1)], "cannot be read again"
    else:
        doc = DOCS[0].annotate()
        doc.ref = (path, 7)
        shipped, words = [light(doc)], "holds 5 documents, this run needs document 7"
    with pytest.raises(Exception, match=words):
        with local_pipeline() as p:
            p | beam.Create(shipped) | Rehydrate()


ONE_INPUT = """version: 1
name: light
inputs:
  web: {{paths: [{corpus}/*.warc.gz], format: warc}}
steps:
  - step: extract
{steps}output:
  path: out
  rejected: true
"""
STEPS = {
    "dedup": "  - step: url_dedup\n  - step: exact_dedup\n",
    "minhash": "  - step: minhash_dedup\n",  # verified: the sets of candidate documents need their text again
    # second after the prefix: its input is exact_dedup's output, not the entries' documents
    "minhash second": "  - step: exact_dedup\n  - step: minhash_dedup\n",
    "quality": "  - step: quality_model\n    model_path: {model}\n    positive_label: hq\n    top_percent: 40\n",
    # first after the prefix: pages cross without text, the units they won go to their entries
    "line": "  - step: line_dedup\n",
}

MIX = """version: 1
name: light-mix
inputs:
  a: {{paths: [{corpus}/quickstart-00000.warc.gz], format: warc}}
  b: {{paths: [{corpus}/quickstart-00001.warc.gz], format: warc}}
steps:
  - step: extract
  - step: mix
    weights: {{a: 0.8, b: 0.2}}
    budget_documents: 60      # a: more than it has (copies), b: a sample
    max_epochs: 3
output:
  path: out
  rejected: true
"""


@pytest.fixture(scope="module")
def quality_model(tmp_path_factory):
    """A small fastText classifier (English hq, German cc sentences of the real lingua data)."""
    from tests.conftest import SHARED_DATA
    from thresher.pipelines.commands.cli import main
    out = tmp_path_factory.mktemp("model") / "quality.bin"
    sentences = SHARED_DATA / "langid-lingua" / "sentences"
    assert main(["train-quality", "--positive", str(sentences / "en.txt"), "--negative", str(sentences / "de.txt"),
                 "--out", str(out), "--dim", "8", "--epoch", "1", "--thread", "1", "--verbose", "0"]) == 0
    return out


def _texts(folder):
    import pyarrow.parquet as pq
    rows = [r for f in sorted(folder.glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    return sorted((r["id"], r["text"], r.get("exact_copies"), r.get("epoch"), r.get("cluster_size"),
                   r.get("duplicate_of"), r.get("drop_reason"), r.get("line_dedup_removed_lines")) for r in rows)


SHIPPED = []  # text lengths of the documents a step holds across a shuffle or a wait (1 worker: this process)


def _light_spy(doc):
    """``light`` as the step calls it, recording what it gives (module level: pickled by reference)."""
    out = light(doc)
    SHIPPED.append(len(out.text))
    return out


READ_AGAIN = []  # entries minhash_dedup read again where it needs its documents (input_is_entries)


def _entries_spy(path):
    READ_AGAIN.append(path)
    return entry_documents(path)


class _CoderSpy(DocumentCoder):  # what KeepOnePerKey or line_dedup sends through its join
    def encode(self, doc):
        SHIPPED.append(len(doc.text))
        return super().encode(doc)


def _spy(monkeypatch, recipe: str) -> None:
    from thresher.transforms.dedup import keep_one
    from thresher.transforms.dedup.minhash import candidates
    from thresher.transforms.filters import score_decision
    from thresher.transforms.select import mix
    from thresher.transforms.dedup.minhash import decide
    from thresher.transforms.dedup import line_dedup
    if recipe in ("dedup", "minhash second"):
        monkeypatch.setattr(keep_one, "_CODER", _CoderSpy())
    if recipe == "line":  # what crosses its join (the units each page won then go to the entries, no text)
        monkeypatch.setattr(line_dedup, "_CODER", _CoderSpy())
    if recipe == "minhash":  # the step's input is the entries' documents: it hands on entries, not documents
        monkeypatch.setattr(candidates, "entry_documents", _entries_spy)
        monkeypatch.setattr(decide, "entry_documents", _entries_spy)
    if recipe not in ("dedup", "line"):  # minhash: documents wait for the decision; mix: for the plan; quality_model with
        # top_percent: the cut-off
        module = {"minhash": candidates, "minhash second": candidates, "mix": mix, "quality": score_decision}[recipe]
        monkeypatch.setattr(module, "light", _light_spy)


@pytest.mark.parametrize("recipe", ["dedup", "minhash", "minhash second", "mix", "quality", "line"])
def test_global_steps_ship_no_text_after_the_cached_prefix_and_the_output_is_unchanged(tmp_path, monkeypatch,
                                                                                        recipe, request):
    from thresher.pipelines.commands.cli import main
    from thresher.pipelines.commands.quickstart_corpus import write_corpus

    write_corpus(str(tmp_path / "corpus"), pages=60, files=2)
    path = tmp_path / "recipe.yaml"
    model = request.getfixturevalue("quality_model") if recipe == "quality" else None
    text = MIX if recipe == "mix" else ONE_INPUT.replace("{steps}", STEPS[recipe])
    path.write_text(text.format(corpus=tmp_path / "corpus", model=model))
    _spy(monkeypatch, recipe)
    outs, reports = {}, {}
    for flag in ("--no-cache", "--cache"):
        args = ["run", str(path), "--output", str(tmp_path / flag), "--workers", "1", "--quiet", flag]
        assert main(args + ([str(tmp_path / "cache")] if flag == "--cache" else [])) == 0
        outs[flag] = [_texts(tmp_path / flag / sub) for sub in ("data", "rejected")]
        stats = json.loads((tmp_path / flag / "stats.json").read_text())
        reports[flag] = [{k: v for k, v in (s.get("report") or {}).items() if not k.startswith("shuffle_bytes")}
                         for s in stats["steps"]]
        with_text = sum(1 for n in SHIPPED if n)
        if recipe == "minhash" and flag == "--cache":  # no document held anywhere: each entry read again
            assert not SHIPPED and len(READ_AGAIN) == 4, READ_AGAIN  # 2 files: candidates' sets, decisions
        else:
            assert SHIPPED and (with_text == 0) == (flag == "--cache"), (flag, with_text, len(SHIPPED))
            assert not READ_AGAIN
        SHIPPED.clear()
        READ_AGAIN.clear()
    assert outs["--cache"] == outs["--no-cache"] and outs["--cache"][0] and outs["--cache"][1]
    assert reports["--cache"] == reports["--no-cache"]  # e.g. minhash: as many sets verified
    if recipe == "mix":  # copies of one document all got its text back
        assert any(row[3] for row in outs["--cache"][0])
    if recipe.startswith("minhash"):  # near-copies were found and verified, their sets from read-again texts
        assert reports["--cache"][-1]["verification_sets"] > 0 and outs["--cache"][1]
    if recipe == "line":  # lines were removed from texts read again, and pages left too short
        assert any(row[7] for row in outs["--cache"][0])
        assert any(row[6] == "line_dedup_too_short" for row in outs["--cache"][1])


def _failing_priority(doc, rule, annotation=None):
    """``priority_key`` failing for about one document in five (by id): their signatures fail."""
    from thresher.transforms.dedup.priority import priority_key
    if zlib.crc32(doc.id.encode()) % 5 == 0:
        raise ValueError("no priority for this one")
    return priority_key(doc, rule, annotation)


def test_documents_that_failed_before_the_entries_are_read_again_stay_error_records(tmp_path, monkeypatch):
    """minhash_dedup after the cached prefix reads its documents again from the entries: one whose
    signature failed is an error record, and is passed over there, not output as well."""
    from thresher.pipelines.commands.cli import main
    from thresher.pipelines.commands.quickstart_corpus import write_corpus
    from thresher.transforms.dedup.minhash import candidates

    write_corpus(str(tmp_path / "corpus"), pages=60, files=2)
    path = tmp_path / "recipe.yaml"
    path.write_text(ONE_INPUT.replace("{steps}", STEPS["minhash"]).format(corpus=tmp_path / "corpus"))
    monkeypatch.setattr(candidates, "priority_key", _failing_priority)
    monkeypatch.setattr(candidates, "entry_documents", _entries_spy)
    outs = {}
    for flag in ("--no-cache", "--cache"):
        args = ["run", str(path), "--output", str(tmp_path / flag), "--workers", "1", "--quiet", flag]
        assert main(args + ([str(tmp_path / "cache")] if flag == "--cache" else [])) == 0
        stats = json.loads((tmp_path / flag / "stats.json").read_text())
        step = stats["steps"][1]
        assert stats["balanced"] and step["errors"] > 0, step
        outs[flag] = (_texts(tmp_path / flag / "data"), step["errors"], step["out"])
    assert READ_AGAIN  # the cached run read its entries again
    READ_AGAIN.clear()
    assert outs["--cache"] == outs["--no-cache"]
