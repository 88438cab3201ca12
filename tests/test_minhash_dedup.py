"""minhash_dedup end to end: known near-duplicates, verification, priority, reproducibility, safety."""
from __future__ import annotations

import random
from typing import List

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from thresher.pipelines.recipe.params import step_params
from tests.conftest import local_pipeline
from thresher.transforms.base import ERRORS, KEPT, REJECTED, REPORT
from thresher.transforms.document import Document
from thresher.transforms.dedup.minhash.signatures import compact_set, jaccard, shingle_hashes
from thresher.transforms.dedup.minhash.candidates import SIGNATURE_META, _ReadReference, signature_params
from thresher.transforms.dedup.minhash.step import MinHashDedup
from thresher.transforms.dedup.priority import priority_key

RND = random.Random(42)
FAST = 3  # clustering rounds for these small graphs (stars converge in 1-2): fewer Beam stages
VOCAB = ["".join(RND.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(7)) for _ in range(20_000)]


def words(n: int) -> List[str]:
    return [RND.choice(VOCAB) for _ in range(n)]


def edit(ws: List[str], replaced: int) -> List[str]:
    """Replace ``replaced`` words spread over the text (each changes <= 5 shingles)."""
    ws = list(ws)
    for i in range(replaced):
        ws[(i * 97 + 13) % len(ws)] = "typo" + "abcdefghijklmnopqrstuvwxyz"[i % 26] * (1 + i // 26)
    return ws


BASES = [words(300) for _ in range(6)]
CORPUS = []
CLUSTERS = []  # expected clusters of ids
for b, base in enumerate(BASES):
    ids = [f"b{b}-orig"]
    CORPUS.append(Document(ids[0], " ".join(base)))
    for v in range(b % 3):  # 0, 1 or 2 near-duplicates (one replaced word: Jaccard about 0.97)
        ids.append(f"b{b}-v{v}")
        CORPUS.append(Document(ids[-1], " ".join(edit(base, v + 1)).upper()))
    CLUSTERS.append(ids)
for u in range(5):
    CORPUS.append(Document(f"unique-{u}", " ".join(words(200))))
    CLUSTERS.append([f"unique-{u}"])
CORPUS.append(Document("empty", ""))  # no words: no shingle, kept
CORPUS.append(Document("short-a", "Hello there, world!"))  # 3 words: one shingle
CORPUS.append(Document("short-b", "hello THERE world"))
CORPUS.append(Document("spaces", "  \n\t  "))  # only whitespace / only symbols: no shingle, kept
CORPUS.append(Document("symbols", "!!! ??? --- ***"))
CJK = "".join(chr(0x4E00 + RND.randrange(3000)) for _ in range(200))
CORPUS.append(Document("cjk-a", CJK))  # every Han character is a word: 196 shingles
CORPUS.append(Document("cjk-b", CJK[:100] + "中" + CJK[101:]))  # one character changed: Jaccard 191/201
CLUSTERS += [["empty"], ["short-a", "short-b"], ["spaces"], ["symbols"], ["cjk-a", "cjk-b"]]


def winner(ids, rule="id_hash"):
    docs = {d.id: d for d in CORPUS}
    return min(ids, key=lambda i: priority_key(docs[i], rule))


def expected(clusters=CLUSTERS):
    kept = sorted((winner(c), len(c)) for c in clusters)
    dropped = sorted((i, "minhash_duplicate", len(c)) for c in clusters for i in c if i != winner(c))
    return kept, dropped


def check(p, docs, step, kept, dropped, label=""):
    out = p | f"create{label}" >> beam.Create(docs) | f"dedup{label}" >> step
    assert_that(out[KEPT] | f"k{label}" >> beam.Map(lambda d: (d.id, d.annotations["cluster_size"])),
                equal_to(kept), label=f"kept{label}")
    assert_that(out[REJECTED] | f"r{label}" >> beam.Map(
        lambda d: (d.id, d.annotations["drop_reason"], d.annotations["cluster_size"])),
        equal_to(dropped), label=f"rejected{label}")
    assert_that(out[ERRORS], equal_to([]), label=f"errors{label}")
    return out


def test_known_near_duplicates_one_kept_per_cluster():
    kept, dropped = expected()
    with local_pipeline() as p:
        out = check(p, CORPUS, MinHashDedup(max_rounds=FAST), kept, dropped)
        assert_that(out[REJECTED] | "of" >> beam.Map(lambda d: (d.id, d.annotations["duplicate_of"])),
                    equal_to([(i, winner(c)) for c in CLUSTERS for i in c if i != winner(c)]), label="of")
        assert_that(out[REPORT] | beam.Filter(lambda kv: kv[0] in ("converged", "clusters", "node_id_collisions")),
                    equal_to([("converged", 1), ("clusters", 6), ("node_id_collisions", 0)]), label="report")


def test_reproducible_across_input_order_and_two_workers():
    kept, dropped = expected()
    with local_pipeline() as p:
        check(p, list(reversed(CORPUS)), MinHashDedup(max_rounds=FAST), kept, dropped)
    options = PipelineOptions(["--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    with test_pipeline.TestPipeline(runner=FnApiRunner(), options=options) as p:
        check(p, CORPUS, MinHashDedup(max_rounds=FAST), kept, dropped)


def _pair(replaced: int):
    rnd = random.Random(7)
    base = [rnd.choice(VOCAB) for _ in range(400)]
    return base, edit(base, replaced)


def test_verification_threshold_boundary():
    a, b = _pair(4)  # 4 spread replacements: 20 of 396 shingles differ, Jaccard 376/416 = 0.904
    j = jaccard(compact_set(shingle_hashes(" ".join(a))), compact_set(shingle_hashes(" ".join(b))))
    assert j == pytest.approx(376 / 416)
    docs = [Document("x", " ".join(a)), Document("y", " ".join(b))]
    w = min(docs, key=lambda d: priority_key(d, "id_hash")).id
    loser = "y" if w == "x" else "x"
    with local_pipeline() as p:
        check(p, docs, MinHashDedup(threshold=j, max_rounds=FAST), [(w, 2)], [(loser, "minhash_duplicate", 2)], "at")
        check(p, docs, MinHashDedup(threshold=j + 1e-9, max_rounds=FAST), [("x", 1), ("y", 1)], [], "past")
        check(p, docs, MinHashDedup(verify=False, threshold=1.0, max_rounds=FAST),
              [(w, 2)], [(loser, "minhash_duplicate", 2)], "off")


def test_priority_annotation_keeps_the_best_document():
    base = words(300)
    docs = [Document(f"q{i}", " ".join(edit(base, i)), annotations={"quality": q})
            for i, q in enumerate([0.1, 0.9, 0.5])]
    with local_pipeline() as p:
        check(p, docs, MinHashDedup(priority="annotation", priority_annotation="quality", max_rounds=FAST),
              [("q1", 3)], [("q0", "minhash_duplicate", 3), ("q2", "minhash_duplicate", 3)])


def _chain(n: int):
    """Documents sliding over one long text: neighbours are near-duplicates, the ends are not."""
    long_text = words(4 * n + 200)
    return [Document(f"chain-{i:04d}", " ".join(long_text[4 * i:4 * i + 200])) for i in range(n)]


def test_not_converged_keeps_more_and_never_drops_a_unique_document():
    chain = _chain(300)
    uniques = [Document(f"solo-{i}", " ".join(words(150))) for i in range(20)]
    docs = chain + uniques
    solo_ids = {d.id for d in uniques}
    with local_pipeline() as p:  # unverified: clusters are the components of the candidate graph
        out = p | beam.Create(docs) | MinHashDedup(verify=False, max_rounds=1)
        kept_ids = out[KEPT] | "k" >> beam.Map(lambda d: d.id)

        def safe(ids):
            ids = set(ids)
            assert solo_ids <= ids  # no document without a duplicate is dropped
            assert len(ids - solo_ids) > 1  # the chain was split, not over-merged: more than one kept

        assert_that(kept_ids, safe)
        assert_that(out[REPORT] | beam.Filter(lambda kv: kv[0] == "converged"),
                    equal_to([("converged", 0)]), label="not converged")
        full = p | "again" >> beam.Create(docs) | "converged run" >> MinHashDedup(verify=False)
        assert_that(full[KEPT] | "k2" >> beam.Map(lambda d: d.id),
                    equal_to(sorted(solo_ids | {winner_of(chain)})), label="converged kept")


def _replaced(ws: List[str], positions, tag: str) -> str:
    ws = list(ws)
    for i in positions:
        ws[i] = f"{tag}{i}"
    return " ".join(ws)


def _greedy(docs, threshold=0.8):
    """One machine's answer: in priority order, a document is the duplicate of the first kept one it
    matches (Jaccard >= threshold), else kept. Returns {id: kept id}."""
    sets = {d.id: compact_set(shingle_hashes(d.text)) for d in docs}
    kept, of = [], {}
    for d in sorted(docs, key=lambda d: priority_key(d, "id_hash")):
        of[d.id] = next((k for k in kept if jaccard(sets[d.id], sets[k]) >= threshold), d.id)
        if of[d.id] == d.id:
            kept.append(d.id)
    return of


def test_a_duplicate_is_removed_only_when_it_matches_the_kept_document():
    base = words(400)  # B and C: 8 words replaced each, far apart: 40 of 396 shingles differ
    b_doc = _replaced(base, range(10, 200, 24), "b")
    c_doc = _replaced(base, range(210, 400, 24), "c")
    trio = [("a", " ".join(base)), ("b", b_doc), ("c", c_doc)]
    sets = {k: compact_set(shingle_hashes(t)) for k, t in trio}
    assert jaccard(sets["a"], sets["b"]) == pytest.approx(356 / 436)  # 0.817: a ~ b, a ~ c
    assert jaccard(sets["a"], sets["c"]) == pytest.approx(356 / 436)
    assert jaccard(sets["b"], sets["c"]) == pytest.approx(316 / 476)  # 0.664: b !~ c

    def docs(qualities):
        return [Document(k, t, annotations={"quality": q}) for (k, t), q in zip(trio, qualities)]

    by_quality = {"priority": "annotation", "priority_annotation": "quality", "max_rounds": FAST}
    with local_pipeline() as p:  # b is kept: a is its duplicate, c is not (only a bridges them)
        out = check(p, docs([0.5, 0.9, 0.1]), MinHashDedup(**by_quality), [("b", 2), ("c", 1)],
                    [("a", "minhash_duplicate", 2)], "b")
        assert_that(out[REJECTED] | beam.Map(lambda d: d.annotations["duplicate_of"]), equal_to(["b"]),
                    label="of b")
        assert_that(out[REPORT] | beam.Filter(lambda kv: kv[0] in ("clusters", "unmatched_after_rounds")),
                    equal_to([("clusters", 1), ("unmatched_after_rounds", 0)]), label="report b")
        check(p, docs([0.9, 0.5, 0.1]), MinHashDedup(**by_quality), [("a", 3)],  # a kept: both go
              [("b", "minhash_duplicate", 3), ("c", "minhash_duplicate", 3)], "a")
        check(p, docs([0.5, 0.9, 0.1]), MinHashDedup(verify=False, **by_quality), [("b", 3)],
              [("a", "minhash_duplicate", 3), ("c", "minhash_duplicate", 3)], "unverified")


def test_verified_clusters_match_the_greedy_answer_and_rounds_run_out_safely():
    chain = _chain(40)  # neighbours 4 words apart: Jaccard >= 0.8 up to 5 apart
    of = _greedy(chain)
    kept = sorted(k for k, v in of.items() if k == v)
    assert 4 < len(kept) < 12
    size = {k: sum(v == k for v in of.values()) for k in kept}
    first = winner_of(chain)
    with local_pipeline() as p:
        out = check(p, chain, MinHashDedup(verify_rounds=len(kept)), [(k, size[k]) for k in kept],
                    [(i, "minhash_duplicate", size[k]) for i, k in of.items() if i != k], "all")
        assert_that(out[REJECTED] | beam.Map(lambda d: (d.id, d.annotations["duplicate_of"])),
                    equal_to([(i, k) for i, k in of.items() if i != k]), label="of")
        covered = {i for i, k in of.items() if k == first}  # one round: the best and its duplicates
        left = [(d.id, 1) for d in chain if d.id not in covered]
        out = check(p, chain, MinHashDedup(verify_rounds=1), [(first, len(covered))] + left,
                    [(i, "minhash_duplicate", len(covered)) for i in covered if i != first], "one")
        assert_that(out[REPORT] | beam.Filter(lambda kv: kv[0] == "unmatched_after_rounds"),
                    equal_to([("unmatched_after_rounds", len(left))]), label="unmatched")


def winner_of(docs):
    return min(docs, key=lambda d: priority_key(d, "id_hash")).id


def test_reference_signatures_drop_matches_of_an_earlier_run(tmp_path):
    old = [Document(f"old-{i}", " ".join(words(200))) for i in range(4)]
    with local_pipeline() as p:
        p | beam.Create(old) | MinHashDedup(write_signatures=str(tmp_path / "sigs" / "part"), max_rounds=1)
    new = [Document("new-copy-0", old[0].text + " plus a footer"), Document("new-copy-1", old[1].text.upper()),
           Document("new-copy-1b", old[1].text + " different footer here"), Document("new-own", " ".join(words(200)))]
    with local_pipeline() as p:
        check(p, new, MinHashDedup(reference_signatures=str(tmp_path / "sigs" / "*.parquet"), max_rounds=FAST),
              [("new-own", 1)],
              [("new-copy-0", "minhash_reference_duplicate", 1), ("new-copy-1", "minhash_reference_duplicate", 2),
               ("new-copy-1b", "minhash_reference_duplicate", 2)])


def test_reference_signatures_with_other_parameters_are_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    import json
    path = tmp_path / "sig.parquet"
    schema = pa.schema([("id", pa.string()), ("bands", pa.list_(pa.int64()))],
                       metadata={SIGNATURE_META: json.dumps(signature_params(5, 20, 5, 1))})
    pq.write_table(pa.table({"id": ["a"], "bands": [[1] * 20]}, schema=schema), path)
    with pytest.raises(ValueError, match="were made with"):
        list(_ReadReference(signature_params(5, 14, 8, 1)).process(str(path)))


def test_parameters_are_typed_and_checked():
    params = step_params(MinHashDedup)
    assert params["bands"].default == 14 and params["rows"].default == 8 and params["ngram"].default == 5
    assert params["verify"].default is True and params["threshold"].default == 0.8
    assert params["verify_rounds"].default == 3
    for bad in ({"bands": 0}, {"threshold": 1.5}, {"max_rounds": 0}, {"verify_rounds": 0}, {"priority": "first"},
                {"priority": "annotation"}):
        with pytest.raises(ValueError):
            MinHashDedup(**bad)


def test_node_id_collision_keeps_the_whole_cluster(monkeypatch):
    import thresher.transforms.dedup.minhash.candidates as module
    real = module.current_node
    monkeypatch.setattr(module, "current_node", lambda i: real("same") if i in ("a", "b") else real(i))
    base = words(200)
    docs = [Document("a", " ".join(base)), Document("b", " ".join(words(200))),
            Document("c", " ".join(edit(base, 1)))]
    with local_pipeline() as p:  # in-process runner: the patched function is the one called
        out = check(p, docs, MinHashDedup(max_rounds=FAST), [("a", 3), ("b", 3), ("c", 3)], [])
        assert_that(out[REPORT] | beam.Filter(lambda kv: kv[0] == "node_id_collisions"),
                    equal_to([("node_id_collisions", 1)]), label="collisions")


def test_converged_counter():
    from apache_beam.metrics.metric import MetricsFilter
    p = local_pipeline()
    p | beam.Create(CORPUS[:5]) | MinHashDedup(max_rounds=1)
    result = p.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed for c in result.metrics().query(
        MetricsFilter().with_namespace("thresher"))["counters"]}
    assert counters["minhash_dedup.converged"] == 1
    assert counters["minhash_dedup.in"] == 5
