"""The soak benchmark's corpus generator (benchmarks/soak.py): its planted near-duplicates are what it says."""
import gzip
import json

from benchmarks import soak
from thresher.transforms.filters.c4 import C4Filter
from thresher.transforms.document import Document
from thresher.transforms.filters.fineweb_quality import FineWebQuality
from thresher.transforms.filters.gopher import GopherQuality
from thresher.transforms.filters.gopher_repetition import GopherRepetition


def _read(manifest):
    records = []
    for path in manifest["files"]:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            records += [json.loads(line) for line in f]
    return {r["id"]: r for r in records}


def test_corpus_counts_pairs_and_jaccard(tmp_path):
    manifest = soak.generate(str(tmp_path), documents=500, files=4, near_dup=0.1, seed=3, processes=1)
    docs = _read(manifest)
    assert len(docs) == 500 and len(manifest["files"]) == 4
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest
    pairs = manifest["pairs"]
    assert len(pairs) == 50  # 10% of the documents are copies
    copies, originals = {p[0] for p in pairs}, {p[1] for p in pairs}
    assert len(copies) == len(originals) == 50 and not copies & originals  # distinct pairs, no chains
    for copy, orig, sim in pairs:
        assert docs[copy]["text"] != docs[orig]["text"]
        assert soak.MIN_JACCARD <= sim < 1.0
        assert abs(soak.shingle_jaccard(docs[copy]["text"], docs[orig]["text"]) - sim) < 1e-4
    # an unrelated pair shares almost nothing
    ids = sorted(set(docs) - copies - originals)
    assert soak.shingle_jaccard(docs[ids[0]]["text"], docs[ids[1]]["text"]) < 0.1


def test_documents_are_deterministic_and_pass_the_filters():
    assert soak.document(1, 42) == soak.document(1, 42)
    assert soak.document(1, 42) != soak.document(1, 43)
    assert soak.plan(1000, 0.1, 1) == soak.plan(1000, 0.1, 1)
    steps = [GopherRepetition(), GopherQuality(), C4Filter(filter_no_terminal_punct=False), FineWebQuality()]
    for step in steps:
        step.setup()
    for k in range(60):
        record = soak.document(1, k)[1] if k % 2 else soak.near_duplicate(1, k, k + 1000)[0]
        words = len(record["text"].split())
        assert 170 <= words <= 800
        doc = Document(id=record["id"], text=record["text"])
        for step in steps:
            assert not isinstance(step.process(doc), str), (step.name, record["id"])
