"""Near-duplicate removal: MinHash LSH candidates, optional Jaccard check, connected components.

Reference: datatrove's four MinHash stages (``pipeline/dedup/minhash.py``),
which FineWeb ran with 5-gram shingles, 14 bands x 8 rows, 64-bit hashes and
no verification; FineWeb-2 kept each cluster's size to upsample by it.

Data flow (every shuffle carries integers or compact byte strings, never a
document; the records are named in ``records.py``; stages 1-3 are in
``candidates.py``, 4 in ``components.py``, 5-7 in ``decide.py``, the side
inputs in ``lookup.py``; this module holds the step, its parameters and ``expand``):

1. signatures (``thresher.transforms.dedup.minhash.signatures``): per document a node id, its band keys
   and its priority key;
2. buckets: documents sharing a band key form a bucket; each member is linked
   to the bucket's smallest node (a star: n members cost n - 1 edges); edges
   found in several bands count once; the band records cross their shuffle
   packed, a block of int64 pairs per bundle and key partition (``buckets.py``);
3. verification (optional): an edge is kept only if the true Jaccard of its
   two shingle sets reaches ``threshold`` (sets of the upper 32 bits of the
   shingle hashes: 4 bytes a shingle). The nodes of the candidate edges (a
   sorted array, side input) tell which documents recompute their set from
   the text (``verification_sets``: about 125 us a set for 100 words, the
   signature 170 us, paid by the 20% of documents with an edge instead of 395
   bytes a document shuffled); each set joins its star, and a centre's goes
   once to each of its members, where the Jaccard is computed. No worker holds
   more than a member's own set and one set per band, or a centre's member
   ids. Only star edges are checked, so two members similar to each other but
   not to their bucket's centre may stay apart in that bucket (more documents
   kept, never fewer);
4. clusters: connected components of the edges (``ConnectedComponents``,
   large-star / small-star, ``max_rounds`` rounds); only clustered nodes (those
   of a kept edge, a second side input) send their priority and set on;
5. decision without verification (FineWeb): per cluster the document with the
   smallest ``priority_key`` is kept, the others are rejected as
   ``minhash_duplicate``;
6. decision with verification: a component is a chain of verified edges, so
   two of its documents can each be >= ``threshold`` from a third and not from
   each other. Each cluster is therefore split the way one machine would do it
   greedily in priority order: the best document is kept, every member whose
   Jaccard with it reaches ``threshold`` is its duplicate, and the rest start
   the next round, where their best document is kept, and so on. Each round
   joins only the shingle sets of the documents it decides and ships the kept
   document's set to the members checked against it.
   After ``verify_rounds`` rounds the members still unmatched are kept
   (report ``unmatched_after_rounds``: more documents kept, never a wrong
   removal). Every removed document thus has Jaccard >= ``threshold`` with the
   kept document named in its ``duplicate_of``;
7. apply: the clustered nodes' decisions, one sorted table (``lookup.DecisionTable``,
   report ``decision_table_bytes``: about 21 bytes a clustered document and
   8 + len(id) a cluster), are a side input of a ParDo over the documents; a
   document whose node is not in it is kept with ``cluster_size`` 1. At 100M
   documents with 10% in clusters the table is about 0.3-0.6 GB in every worker.
   Where the documents wait: when the step's input is the prefix cache's kept
   documents (``input_is_entries``, the first step after the cached prefix), in
   the entries: each entry crosses as one (``ENTRY``, file) record and is read
   again for the candidates' sets and for the decisions (``READS_ENTRIES``);
   else in the runner's buffer, light where the cache holds the text
   (``document.light``, ``LIGHT_SHUFFLES``), whole without a cache.

Bytes per document across the shuffles (report ``shuffle_bytes_per_doc``, ``shuffle_bytes.py``;
``benchmarks/minhash_scale.py``, 100-word documents, 10% edited copies so 20% in a cluster, default
parameters): buckets 297 (band records one by one; packed: 16 a record), candidate edges 14, sets
joined to stars 82 (each clustered document's set, about 400 bytes, once), sets sent to members 84,
connected components 109 (12 rounds), priorities 15, decision rounds 250 (the clustered sets twice
more), decisions and table 22, node arrays 4: 867 in all, from 2,050 when every document sent its
set (387) and its text to the final join (840). They scale with the share of documents in clusters
(sets) and with ``bands`` (buckets).

Kept documents are annotated ``cluster_size``: 1 + the documents removed as
their duplicates (1 for documents in no cluster); removed ones carry their kept
document's ``cluster_size`` and ``duplicate_of`` (its id).

Node ids are the xxh64 of the document id with the lowest bit 0 (reference
signatures: bit 1). Two different ids with one node id (a 63-bit collision,
about 5% likely somewhere in a billion documents) are detected when the cluster is
decided: every document of such a cluster is kept (counted as
``node_id_collisions``). Documents that share an id share a node and a fate
(run exact dedup first). Documents without words have no shingle and are kept.

Convergence: the step's ``report`` output holds ``("converged", 1 or 0)`` and
``("unconverged_nodes", n)``, also as Beam counters ``minhash_dedup.converged``
(1 or 0) and ``minhash_dedup.unconverged_nodes``. Not converged, clusters are
split, never merged: more documents are kept, none without a duplicate is dropped.

Reference signatures: ``write_signatures`` writes Parquet files
(``{path}-SSSSS-of-NNNNN.parquet``) with columns ``id`` (string) and ``bands``
(list<int64>, the band keys) and the parameters in the schema metadata key
``thresher.minhash``. ``reference_signatures`` (a glob of such files, same
ngram/bands/rows/seed) adds their documents to the buckets: a cluster holding a
reference document loses all its documents of this run
(``minhash_reference_duplicate``); reference documents are never output.
Edges to reference documents are not verified (their shingles are not stored).
"""
from __future__ import annotations

import json
from typing import Dict, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import AsList, AsSingleton

from thresher.transforms.base import ERRORS, KEPT, METRICS_NAMESPACE, REJECTED, ParamError, Step, step_outputs
from thresher.transforms.dedup.minhash.candidates import (SIGNATURE_META, TAG_BANDS, TAG_FAILED, TAG_PRIO, TAG_SIGS,
                                                          EdgeSets, _ReadReference, _Signatures, check_edges,
                                                          in_nodes, match_references, signature_params)
from thresher.transforms.dedup.minhash.buckets import Buckets
from thresher.transforms.dedup.minhash.components import LABELS, UNCONVERGED, ConnectedComponents
from thresher.transforms.dedup.minhash.decide import (_Apply, _cluster_members, _Representative, _sized, _unmatched,
                                                      check_members)
from thresher.transforms.dedup.minhash.lookup import DecisionTable, nodes_of, table_bytes
from thresher.transforms.dedup.minhash.records import DUPLICATE, KEYED, NAME, REFERENCE_DUPLICATE
from thresher.transforms.dedup.priority import check_rule
from thresher.transforms.dedup.shuffle_bytes import ShuffleMeter

# datatrove MinhashConfig / FineWeb: 5-grams, 14 bands x 8 rows, seed 1.
NGRAM, BANDS, ROWS, SEED = 5, 14, 8, 1
# FineWeb verified nothing; 0.8 is where 14 x 8 LSH finds 92% of pairs (s_curve).
THRESHOLD = 0.8
MAX_ROUNDS = 12  # enough for chains far longer than a cluster's (tests/test_connected_components.py)
# benchmarks/minhash_quality.py: the rounds after which no real-page document is left unmatched.
VERIFY_ROUNDS = 3


def _converged(unconverged_nodes: int):
    converged = int(unconverged_nodes == 0)
    Metrics.counter(METRICS_NAMESPACE, f"{NAME}.converged").inc(converged)
    return "converged", converged


def _nodes(edges, label: str, meter):
    """The ``lookup.NodeSet`` of the nodes of ``edges``."""
    return nodes_of(meter.flat_map(edges, f"{label} of edges", _both_nodes, keyed=False), label)


def _both_nodes(edge):
    return edge


def _count(pcoll, label: str, name: str):
    return (pcoll | f"{label} count" >> beam.combiners.Count.Globally()
            | f"{label} report" >> beam.Map(lambda n: (name, n)))


class MinHashDedup(Step):
    """Removes near-duplicate documents: MinHash LSH, connected components, one document kept per cluster
    (verified: per group of documents with Jaccard >= threshold to the kept one).

    Source: datatrove MinHash dedup (FineWeb: 5-grams, 14 x 8, no verification); Kiveris et al. 2014 for
    the clustering; FineWeb-2 for ``cluster_size``.
    ngram: words per shingle (documents with fewer words have one shingle of all of them).
    bands: LSH bands (bands x rows permutations).
    rows: minima per band.
    seed: seed of the permutations (same seed = same signatures; datatrove's draws).
    verify: check each candidate edge's true Jaccard on the shingle sets, and each removal against the
        kept document (FineWeb did neither).
    threshold: smallest Jaccard of a verified edge or removal.
    verify_rounds: rounds of the verified decision; members still unmatched after them are kept.
    max_rounds: large-star/small-star rounds of the clustering (see report "converged").
    priority: which document of a cluster is kept: id_hash (smallest id hash), newest (newest date) or
        annotation (highest value of priority_annotation).
    priority_annotation: the annotation read by the ``annotation`` priority.
    reference_signatures: glob of signature files of an earlier run; their near-duplicates are dropped.
    write_signatures: path prefix where this run's signatures are written (Parquet).
    """

    name = NAME
    LIGHT_SHUFFLES = True  # documents cross without their text where it can be read again (document.light)
    READS_ENTRIES = True  # documents of the prefix cache's entries wait there (input_is_entries)
    ANNOTATIONS = {"cluster_size": "int64", "duplicate_of": "string"}
    ANNOTATION_DOCS = {
        "cluster_size": "documents in the document's cluster (verified: its group), the kept one included",
        "duplicate_of": "on a removed duplicate: the id of the document kept for its cluster",
    }
    DROP_REASONS = {
        DUPLICATE: "near-duplicate of the document kept for its cluster",
        REFERENCE_DUPLICATE: "near-duplicate of a document in reference_signatures",
    }

    def written_annotations(self) -> Dict[str, str]:
        """On kept documents: ``cluster_size`` (``duplicate_of`` is written on removed ones only)."""
        return {"cluster_size": "int64"}

    def rejected_annotations(self) -> Dict[str, str]:
        """On removed documents only: ``duplicate_of``."""
        return {"duplicate_of": "string"}

    def __init__(self, ngram: int = NGRAM, bands: int = BANDS, rows: int = ROWS, seed: int = SEED,
                 verify: bool = True, threshold: float = THRESHOLD, max_rounds: int = MAX_ROUNDS,
                 verify_rounds: int = VERIFY_ROUNDS,
                 priority: str = "id_hash", priority_annotation: Optional[str] = None,
                 reference_signatures: Optional[str] = None, write_signatures: Optional[str] = None):
        super().__init__()
        for key, value in (("ngram", ngram), ("bands", bands), ("rows", rows), ("max_rounds", max_rounds),
                           ("verify_rounds", verify_rounds)):
            if value < 1:
                raise ParamError(key, f"{key} must be at least 1, got {value}")
        if not 0.0 <= threshold <= 1.0:
            raise ParamError("threshold", f"threshold must be within [0, 1], got {threshold}")
        check_rule(priority, priority_annotation)
        self.ngram, self.bands, self.rows, self.seed = ngram, bands, rows, seed
        self.verify, self.threshold, self.max_rounds = verify, threshold, max_rounds
        self.verify_rounds = verify_rounds
        self.priority, self.priority_annotation = priority, priority_annotation
        self.reference_signatures, self.write_signatures = reference_signatures, write_signatures


    def preflight(self, inputs) -> None:
        """``reference_signatures`` matches signature files whose schema (read alone) has ``id`` and
        ``bands`` and whose parameters are this step's."""
        if not self.reference_signatures:
            return
        import pyarrow.parquet as pq
        from apache_beam.io.filesystems import FileSystems

        from thresher.transforms.preflight import Problems, is_local, resolution_note

        try:
            files = match_references(self.reference_signatures)
        except ValueError as exc:
            note = f"; {resolution_note(self.reference_signatures)}" if is_local(self.reference_signatures) else ""
            raise ParamError("reference_signatures", f"{exc} (expected the Parquet files write_signatures "
                                                     f"wrote){note}") from None
        params = signature_params(self.ngram, self.bands, self.rows, self.seed)
        problems = Problems()

        def check(path: str) -> None:
            try:
                with FileSystems.open(path, compression_type="uncompressed") as f:
                    schema = pq.read_schema(f)
            except Exception as exc:  # not Parquet, a damaged footer
                raise ParamError("reference_signatures", f"{path}: cannot read its Parquet schema: {exc}") from None
            if not {"id", "bands"} <= set(schema.names):
                raise ParamError("reference_signatures", f"{path}: not a signature file (columns: "
                                                         f"{', '.join(schema.names)}; expected id and bands)")
            meta = json.loads((schema.metadata or {}).get(SIGNATURE_META.encode(), b"{}"))
            if meta != params:
                raise ParamError("reference_signatures", f"{path}: made with {meta}, this step uses {params}")
        for path in files:
            problems.check("reference_signatures", lambda: check(path))
        problems.raise_if_any()

    def expand(self, docs):
        params = signature_params(self.ngram, self.bands, self.rows, self.seed)
        meter = ShuffleMeter(NAME)
        sig = docs | "signatures" >> beam.ParDo(_Signatures(
            self.ngram, self.bands, self.rows, self.seed, self.priority,
            self.priority_annotation, bool(self.write_signatures), self.input_is_entries)).with_outputs(
            TAG_BANDS, TAG_PRIO, TAG_SIGS, TAG_FAILED, ERRORS, main="docs")
        if self.write_signatures:
            self._write(sig[TAG_SIGS], params)

        bands = [sig[TAG_BANDS]]  # packed, grouped, made star edges: buckets.py
        if self.reference_signatures:
            bands.append(docs.pipeline
                         | "reference glob" >> beam.Create([self.reference_signatures])
                         | "reference files" >> beam.FlatMap(match_references)
                         | "spread reference files" >> beam.Reshuffle()
                         | "reference bands" >> beam.ParDo(_ReadReference(params)))
        edges = tuple(bands) | "buckets" >> Buckets(meter)
        edges = edges | "distinct edges" >> beam.Distinct()
        report = [_count(edges, "candidate edges", "candidate_edges")]
        documents = sig["docs"]
        if self.verify:
            edge_nodes = _nodes(edges, "candidate nodes", meter)
            sets = sig["docs"] | "edge sets" >> EdgeSets(self.ngram, AsSingleton(edge_nodes))
            report.append(_count(sets["sets"], "verification sets", "verification_sets"))
            edges, candidate_sets = check_edges(edges, sets["sets"], meter, self.threshold)
            documents = sets["docs"]
            report.append(_count(edges, "verified edges", "verified_edges"))
        clustered = AsSingleton(_nodes(edges, "cluster nodes", meter))
        if self.verify:
            round_sets = candidate_sets | "clustered sets" >> beam.FlatMap(in_nodes, clustered)

        cc = edges | "clusters" >> ConnectedComponents(self.max_rounds, counter_prefix=NAME, meter=meter)
        prio = sig[TAG_PRIO] | "clustered priorities" >> beam.FlatMap(in_nodes, clustered)
        pending = (meter({"label": cc[LABELS], "prio": prio}, "join priorities")
                   | "join priorities" >> beam.CoGroupByKey()
                   | "cluster members" >> beam.FlatMap(_cluster_members))
        finals = []
        for r in range(self.verify_rounds if self.verify else 1):
            chosen = (meter(pending, f"group clusters {r}")
                      | f"group clusters {r}" >> beam.GroupByKey()
                      | f"representatives {r}" >> beam.ParDo(_Representative(self.verify))
                      .with_output_types(KEYED).with_outputs("check", "cluster", "collided", main="final"))
            finals.append(chosen["final"])
            if r == 0:
                report += [_count(chosen["cluster"], "clusters", "clusters"),
                           _count(chosen["collided"], "collisions", "node_id_collisions")]
            if self.verify:
                checked = check_members(chosen["check"], round_sets, r, meter, self.threshold)
                finals.append(checked["final"])
                pending, round_sets = checked["pending"], checked["pending_set"]
        if self.verify:
            finals.append(pending | "unmatched kept" >> beam.Map(_unmatched))
            report.append(_count(pending, "unmatched", "unmatched_after_rounds"))
        decisions = (meter(tuple(finals) | "all decisions" >> beam.Flatten(), "group decisions")
                     | "group decisions" >> beam.GroupByKey()
                     | "sizes" >> beam.FlatMap(_sized))
        table = meter(decisions, "decision table", keyed=False) | "decision table" >> beam.CombineGlobally(DecisionTable())
        out = documents | "apply" >> beam.ParDo(_Apply(), AsSingleton(table), AsList(sig[TAG_FAILED])).with_outputs(
            REJECTED, main=KEPT)

        unconverged = cc[UNCONVERGED]
        report += [
            unconverged | "unconverged report" >> beam.Map(lambda n: ("unconverged_nodes", n)),
            unconverged | "converged report" >> beam.Map(_converged),
            table | "table report" >> beam.Map(lambda t: ("decision_table_bytes", table_bytes(t))),
            meter.report(docs),
        ]
        report = tuple(report) | "report" >> beam.Flatten()
        return step_outputs(out[KEPT], out[REJECTED], sig[ERRORS], report)

    def _write(self, sigs, params):
        import pyarrow as pa

        schema = pa.schema([("id", pa.string()), ("bands", pa.list_(pa.int64()))],
                           metadata={SIGNATURE_META: json.dumps(params, sort_keys=True)})
        sigs | "write signatures" >> beam.io.WriteToParquet(
            self.write_signatures, schema, file_name_suffix=".parquet")
