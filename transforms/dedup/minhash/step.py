"""Near-duplicate removal: MinHash LSH candidates, optional Jaccard check, connected components.

Reference: datatrove's four MinHash stages (``pipeline/dedup/minhash.py``),
which FineWeb ran with 5-gram shingles, 14 bands x 8 rows, 64-bit hashes and
no verification; FineWeb-2 kept each cluster's size to upsample by it.

Data flow (every shuffle carries integers or compact byte strings except the
last join, which ships each document once):

1. signatures (``thresher.transforms.dedup.minhash.signatures``): per document a node id, its band keys,
   its priority key and, with ``verify``, its compact shingle set;
2. buckets: documents sharing a band key form a bucket; each member is linked
   to the bucket's smallest node (a star: n members cost n - 1 edges); edges
   found in several bands count once;
3. verification (optional): an edge is kept only if the true Jaccard of its
   two shingle sets reaches ``threshold`` (sets of the upper 32 bits of the
   shingle hashes: 4 bytes a shingle). Every shingle set is shuffled once,
   keyed by node and joined to the node's star; a centre's set is then sent
   once to each of its members, where the Jaccard is computed. No worker holds
   more than a member's own set and one set per band, or a centre's member
   ids. Only star edges are checked, so two members similar to each other but
   not to their bucket's centre may stay apart in that bucket (more documents
   kept, never fewer);
4. clusters: connected components of the edges (``ConnectedComponents``,
   large-star / small-star, ``max_rounds`` rounds);
5. decision without verification (FineWeb): per cluster the document with the
   smallest ``priority_key`` is kept, the others are rejected as
   ``minhash_duplicate``;
6. decision with verification: a component is a chain of verified edges, so
   two of its documents can each be >= ``threshold`` from a third and not from
   each other. Each cluster is therefore split the way one machine would do it
   greedily in priority order: the best document is kept, every member whose
   Jaccard with it reaches ``threshold`` is its duplicate, and the rest start
   the next round, where their best document is kept, and so on. Each round
   joins only the shingle sets of the documents it decides (those with an
   edge, then those still unmatched) and ships the kept document's set to the
   members checked against it.
   After ``verify_rounds`` rounds the members still unmatched are kept
   (report ``unmatched_after_rounds``: more documents kept, never a wrong
   removal). Every removed document thus has Jaccard >= ``threshold`` with the
   kept document named in its ``duplicate_of``.

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
from typing import Any, Dict, List, Optional, Tuple

import apache_beam as beam
from apache_beam.metrics import Metrics

from thresher.transforms.base import ERRORS, KEPT, METRICS_NAMESPACE, REJECTED, ParamError, Step, StepCounters, step_outputs
from thresher.transforms.dedup.minhash.components import LABELS, UNCONVERGED, ConnectedComponents
from thresher.transforms.document import Document
from thresher.transforms.dedup.minhash.signatures import (band_keys, compact_set, jaccard, node_id, shingle_hashes,
                                signature)
from thresher.transforms.dedup.priority import check_rule, priority_key

NAME = "minhash_dedup"
DUPLICATE = "minhash_duplicate"
REFERENCE_DUPLICATE = "minhash_reference_duplicate"
# datatrove MinhashConfig / FineWeb: 5-grams, 14 bands x 8 rows, seed 1.
NGRAM, BANDS, ROWS, SEED = 5, 14, 8, 1
# FineWeb verified nothing; 0.8 is where 14 x 8 LSH finds 92% of pairs (s_curve).
THRESHOLD = 0.8
MAX_ROUNDS = 12  # a 10,000-node chain needs 11 (transforms/dedup/minhash/components.py)
# benchmarks/minhash_quality.py: 96 real-page documents unmatched after 1 round, 6 after 2, 0 after 3.
VERIFY_ROUNDS = 3
SIGNATURE_META = "thresher.minhash"

_BANDS, _SETS, _PRIO, _SIGS = "bands", "sets", "prio", "sigs"
_KEYED = Tuple[Any, Any]  # Beam infers a union with TaggedOutput from the yields otherwise


def current_node(doc_id: str) -> int:
    return node_id(doc_id) & ~1


def reference_node(doc_id: str) -> int:
    return node_id(doc_id) | 1


def signature_params(ngram: int, bands: int, rows: int, seed: int) -> dict:
    return {"ngram": ngram, "bands": bands, "rows": rows, "seed": seed, "normalisation": 3}


class _Signatures(beam.DoFn):
    """Document -> (node, doc) and the compact records the later stages shuffle."""

    def __init__(self, ngram, bands, rows, seed, verify, rule, annotation, write):
        self.ngram, self.bands, self.rows, self.seed = ngram, bands, rows, seed
        self.verify, self.rule, self.annotation, self.write = verify, rule, annotation, write

    def setup(self):
        self._counters = StepCounters(NAME)

    def process(self, doc: Document):
        self._counters.docs_in.inc()
        try:
            node = current_node(doc.id)
            shingles = shingle_hashes(doc.text, self.ngram)
            sig = signature(shingles, self.bands * self.rows, self.seed)
            keys = band_keys(sig, self.bands, self.rows) if sig is not None else []
            prio = priority_key(doc, self.rule, self.annotation)
            shingle_set = compact_set(shingles) if self.verify and keys else None
        except Exception as exc:  # one bad record must never fail the job
            yield self._counters.error(exc, doc)
            return
        yield node, doc
        if not keys:
            return
        yield beam.pvalue.TaggedOutput(_PRIO, (node, (prio, doc.id)))
        for key in keys:
            yield beam.pvalue.TaggedOutput(_BANDS, (key, node))
        if shingle_set is not None:
            yield beam.pvalue.TaggedOutput(_SETS, (node, shingle_set))
        if self.write:
            yield beam.pvalue.TaggedOutput(_SIGS, {"id": doc.id, "bands": keys})


def _star_edges(element):
    """A bucket's members linked to its smallest node; buckets of reference nodes only give nothing."""
    _, nodes = element
    centre = None
    current = False
    for n in nodes:
        centre = n if centre is None or n < centre else centre
        current = current or not n & 1
    if not current:
        return
    for n in nodes:
        if n != centre:
            yield centre, n


def _single(sets: list):
    """A node's one shingle set, or None: no set (a reference document) or several (documents sharing
    an id, or an id collision) leave its edges and removals unchecked."""
    return sets[0] if len(sets) == 1 else None


def _send_sets(element):
    """Keyed by a node: its set goes to each member of its star, and to itself if it is a member;
    a node with an edge also keeps its sets for the decision (``candidate_set`` output)."""
    node, grouped = element
    sets = list(grouped["set"])
    own = _single(sets)
    linked = False
    for member in grouped["members"]:
        linked = True
        yield member, ("centre", node, own)
    if any(True for _ in grouped["centres"]):
        linked = True
        yield node, ("own", node, own)
    if linked:
        for shingle_set in sets:
            yield beam.pvalue.TaggedOutput("candidate_set", (node, shingle_set))


class _CheckEdges(beam.DoFn):
    """Keeps the edges of one member whose Jaccard with their centre reaches the threshold."""

    def __init__(self, threshold: float):
        self.threshold = threshold

    def setup(self):
        self._dropped = Metrics.counter(METRICS_NAMESPACE, f"{NAME}.edges_below_threshold")

    def process(self, element):
        member, values = element
        values = list(values)  # its own set and at most one centre set per band
        own = next((s for kind, _, s in values if kind == "own"), None)
        for kind, centre, centre_set in values:
            if kind != "centre":
                continue
            if own is None or centre_set is None or jaccard(own, centre_set) >= self.threshold:
                yield centre, member
            else:
                self._dropped.inc()


def _cluster_members(element):
    """Keyed by node: (cluster label, (node, best (priority, id), documents, collided))."""
    node, grouped = element
    labels = list(grouped["label"])
    if not labels:
        return
    prios = sorted(grouped["prio"])
    collided = len({doc_id for _, doc_id in prios}) > 1
    yield labels[0], (node, prios[0] if prios else None, len(prios), collided)


def _kept(node: int, doc_id: str, count: int, group=None):
    """A final decision, keyed by its group: (group, (node, reason, kept id, documents))."""
    return group or ("kept", node), (node, None, doc_id, count)


class _Representative(beam.DoFn):
    """Per cluster (or, in later rounds, per cluster's unmatched rest): the best document is kept.

    Without verification every other member is its duplicate. With it, every other member goes to
    the check against the kept one (``check`` output). A cluster holding a reference document loses
    all its documents; a cluster with a node-id collision keeps all of them.
    """

    def __init__(self, verify: bool):
        self.verify = verify

    def setup(self):
        self._collisions = Metrics.counter(METRICS_NAMESPACE, f"{NAME}.node_id_collisions")

    def process(self, element):
        label, everyone = element
        everyone = list(everyone)
        members = [m for m in everyone if not m[0] & 1]  # odd nodes: reference documents
        reference = len(members) < len(everyone)
        if not members:
            return
        yield beam.pvalue.TaggedOutput("cluster", 1)
        group = ("cluster", label)
        if reference:
            for node, _, count, _ in members:
                yield group, (node, REFERENCE_DUPLICATE, "", count)
            return
        if any(collided for _, _, _, collided in members):
            self._collisions.inc()
            yield beam.pvalue.TaggedOutput("collided", 1)
            for node, prio, count, _ in members:
                yield _kept(node, prio[1], count, group)
            return
        best = min(members, key=lambda m: (m[1], m[0]))
        rep, rep_id = best[0], best[1][1]
        yield _kept(rep, rep_id, best[2])
        for member in members:
            if member is best:
                continue
            if self.verify:
                yield beam.pvalue.TaggedOutput("check", (rep, (rep_id, label, member)))
            else:
                yield ("kept", rep), (member[0], DUPLICATE, rep_id, member[2])


def _send_representative_set(element):
    """Keyed by a kept node: its shingle set goes to each member to be checked against it."""
    rep, grouped = element
    rep_set = _single(list(grouped["set"]))
    for rep_id, label, member in grouped["check"]:
        yield member[0], (rep, rep_id, label, member, rep_set)


class _CheckMember(beam.DoFn):
    """A member whose Jaccard with its cluster's kept document reaches the threshold is its duplicate;
    any other goes on (``pending``, its sets in ``pending_set``) to the next round with the rest of
    its cluster."""

    def __init__(self, threshold: float):
        self.threshold = threshold

    def process(self, element):
        _, grouped = element
        sets = list(grouped["set"])
        own = _single(sets)
        for rep, rep_id, label, member, rep_set in grouped["rep"]:
            if own is not None and rep_set is not None and jaccard(own, rep_set) >= self.threshold:
                yield ("kept", rep), (member[0], DUPLICATE, rep_id, member[2])
            else:
                yield beam.pvalue.TaggedOutput("pending", (label, member))
                for shingle_set in sets:
                    yield beam.pvalue.TaggedOutput("pending_set", (member[0], shingle_set))


def _unmatched(element):
    """A member no kept document matched within the rounds: kept, alone."""
    _, (node, prio, count, _) = element
    return _kept(node, prio[1], count)


def _sized(element):
    """A group's decisions with its size: (node, (reason, documents in the group, kept id))."""
    _, decisions = element
    decisions = list(decisions)
    size = sum(count for _, _, _, count in decisions)
    for node, reason, kept_id, _ in decisions:
        yield node, (reason, size, kept_id)


class _Apply(beam.DoFn):
    """Joins each document to its cluster decision."""

    def setup(self):
        self._counters = StepCounters(NAME)

    def process(self, element):
        _, grouped = element
        decisions = list(grouped["decision"])
        reason, size, kept_id = decisions[0] if decisions else (None, 1, "")
        for doc in grouped["doc"]:
            if reason is None:
                self._counters.docs_out.inc()
                yield doc.annotate(cluster_size=size)
            else:
                notes = {"cluster_size": size}
                if reason == DUPLICATE:
                    notes["duplicate_of"] = kept_id
                yield self._counters.reject(doc.annotate(**notes), reason)


class _ReadReference(beam.DoFn):
    """One signature file -> (band key, reference node), after checking its parameters."""

    def __init__(self, params: dict):
        self.params = params

    def process(self, path: str):
        import pyarrow.parquet as pq
        from apache_beam.io.filesystems import FileSystems

        with FileSystems.open(path) as f:
            table = pq.read_table(f, columns=["id", "bands"])
        meta = json.loads((table.schema.metadata or {}).get(SIGNATURE_META.encode(), b"{}"))
        if meta != self.params:
            raise ValueError(f"reference signatures {path} were made with {meta}, this step uses {self.params}")
        for doc_id, keys in zip(table.column("id").to_pylist(), table.column("bands").to_pylist()):
            node = reference_node(doc_id)
            for key in keys:
                yield key, node


def _match(pattern: str) -> List[str]:
    from apache_beam.io.filesystems import FileSystems

    files = sorted(m.path for r in FileSystems.match([pattern]) for m in r.metadata_list)
    if not files:
        raise ValueError(f"no reference signature file matches {pattern}")
    return files


def _converged(unconverged_nodes: int):
    converged = int(unconverged_nodes == 0)
    Metrics.counter(METRICS_NAMESPACE, f"{NAME}.converged").inc(converged)
    return "converged", converged


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
    ANNOTATIONS = {"cluster_size": "int64", "duplicate_of": "string"}
    ANNOTATION_DOCS = {
        "cluster_size": "documents in the document's cluster (verified: its group), the kept one included",
        "duplicate_of": "on a removed duplicate: the id of the document kept for its cluster",
    }
    DROP_REASONS = {
        "minhash_duplicate": "near-duplicate of the document kept for its cluster",
        "minhash_reference_duplicate": "near-duplicate of a document in reference_signatures",
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

        from thresher.transforms.base import ParamError
        from thresher.transforms.preflight import Problems, is_local, resolution_note

        try:
            files = _match(self.reference_signatures)
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
        sig = docs | "signatures" >> beam.ParDo(_Signatures(
            self.ngram, self.bands, self.rows, self.seed, self.verify, self.priority,
            self.priority_annotation, bool(self.write_signatures))).with_outputs(
            _BANDS, _SETS, _PRIO, _SIGS, ERRORS, main="docs")
        if self.write_signatures:
            self._write(sig[_SIGS], params)

        bands = sig[_BANDS]
        if self.reference_signatures:
            reference = (docs.pipeline
                         | "reference glob" >> beam.Create([self.reference_signatures])
                         | "reference files" >> beam.FlatMap(_match)
                         | "spread reference files" >> beam.Reshuffle()
                         | "reference bands" >> beam.ParDo(_ReadReference(params)))
            bands = (bands, reference) | "all bands" >> beam.Flatten()
        edges = (bands
                 | "buckets" >> beam.GroupByKey()
                 | "star edges" >> beam.FlatMap(_star_edges)
                 | "distinct edges" >> beam.Distinct())
        report = [_count(edges, "candidate edges", "candidate_edges")]
        if self.verify:
            edges, round_sets = self._check(edges, sig[_SETS])
            report.append(_count(edges, "verified edges", "verified_edges"))

        cc = edges | "clusters" >> ConnectedComponents(self.max_rounds, counter_prefix=NAME)
        pending = ({"label": cc[LABELS], "prio": sig[_PRIO]}
                   | "join priorities" >> beam.CoGroupByKey()
                   | "cluster members" >> beam.FlatMap(_cluster_members))
        finals = []
        for r in range(self.verify_rounds if self.verify else 1):
            chosen = (pending
                      | f"group clusters {r}" >> beam.GroupByKey()
                      | f"representatives {r}" >> beam.ParDo(_Representative(self.verify))
                      .with_output_types(_KEYED).with_outputs("check", "cluster", "collided", main="final"))
            finals.append(chosen["final"])
            if r == 0:
                report += [_count(chosen["cluster"], "clusters", "clusters"),
                           _count(chosen["collided"], "collisions", "node_id_collisions")]
            if self.verify:
                checked = self._check_members(chosen["check"], round_sets, r)
                finals.append(checked["final"])
                pending, round_sets = checked["pending"], checked["pending_set"]
        if self.verify:
            finals.append(pending | "unmatched kept" >> beam.Map(_unmatched))
            report.append(_count(pending, "unmatched", "unmatched_after_rounds"))
        decisions = (tuple(finals) | "all decisions" >> beam.Flatten()
                     | "group decisions" >> beam.GroupByKey()
                     | "sizes" >> beam.FlatMap(_sized))
        out = ({"doc": sig["docs"], "decision": decisions}
               | "join decisions" >> beam.CoGroupByKey()
               | "apply" >> beam.ParDo(_Apply()).with_outputs(REJECTED, main=KEPT))

        unconverged = cc[UNCONVERGED]
        report += [
            unconverged | "unconverged report" >> beam.Map(lambda n: ("unconverged_nodes", n)),
            unconverged | "converged report" >> beam.Map(_converged),
        ]
        report = tuple(report) | "report" >> beam.Flatten()
        return step_outputs(out[KEPT], out[REJECTED], sig[ERRORS], report)

    def _check_members(self, checks, sets, r: int):
        to_members = ({"set": sets, "check": checks}
                      | f"join kept sets {r}" >> beam.CoGroupByKey()
                      | f"send kept sets {r}" >> beam.FlatMap(_send_representative_set))
        return ({"set": sets, "rep": to_members}
                | f"join member sets {r}" >> beam.CoGroupByKey()
                | f"check members {r}" >> beam.ParDo(_CheckMember(self.threshold))
                .with_output_types(_KEYED).with_outputs("pending", "pending_set", main="final"))

    def _check(self, edges, sets):
        members = edges | "members of centre" >> beam.Map(lambda e: (e[0], e[1]))
        centres = edges | "centres of member" >> beam.Map(lambda e: (e[1], e[0]))
        sent = ({"set": sets, "members": members, "centres": centres}
                | "join sets" >> beam.CoGroupByKey()
                | "send sets" >> beam.FlatMap(_send_sets).with_output_types(_KEYED).with_outputs(
                    "candidate_set", main="sent"))
        verified = (sent["sent"]
                    | "group by member" >> beam.GroupByKey()
                    | "check jaccard" >> beam.ParDo(_CheckEdges(self.threshold)))
        return verified, sent["candidate_set"]

    def _write(self, sigs, params):
        import pyarrow as pa

        schema = pa.schema([("id", pa.string()), ("bands", pa.list_(pa.int64()))],
                           metadata={SIGNATURE_META: json.dumps(params, sort_keys=True)})
        sigs | "write signatures" >> beam.io.WriteToParquet(
            self.write_signatures, schema, file_name_suffix=".parquet")
