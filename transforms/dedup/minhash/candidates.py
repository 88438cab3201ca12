"""MinHash dedup, candidates: signatures per document, LSH buckets to star edges, the edges' Jaccard
check, and the reference signatures of an earlier run (stages 1-3 of ``step.py``'s data flow).

Node ids are the xxh64 of the document id with the lowest bit 0 (``current_node``);
reference signatures' documents have bit 1 (``reference_node``).
"""
from __future__ import annotations

import json
from typing import List

import apache_beam as beam
from apache_beam.metrics import Metrics

from thresher.transforms.base import METRICS_NAMESPACE, ParamError, StepCounters
from thresher.transforms.dedup.minhash.lookup import has
from thresher.transforms.dedup.minhash.records import KEYED, NAME, Ranked, SentSet, wire
from thresher.transforms.dedup.minhash.signatures import band_keys, compact_set, jaccard, node_id, shingle_hashes, signature
from thresher.transforms.document import REF_ANNOTATION, Document, light
from thresher.transforms.io.rehydrate import Rehydrate, entry_documents
from thresher.transforms.dedup.priority import priority_key

SIGNATURE_META = "thresher.minhash"  # schema metadata key of a signature file: its parameters
TAG_BANDS, TAG_PRIO, TAG_SIGS, TAG_FAILED = "bands", "prio", "sigs", "failed"  # _Signatures' tagged outputs
FETCH = "fetch"  # light documents whose shingle set is needed: text read again first
ENTRY = -1  # (ENTRY, entry file): stands for the kept documents of a prefix cache entry (no node id is negative)


def current_node(doc_id: str) -> int:
    return node_id(doc_id) & ~1


def reference_node(doc_id: str) -> int:
    return node_id(doc_id) | 1


def signature_params(ngram: int, bands: int, rows: int, seed: int) -> dict:
    return {"ngram": ngram, "bands": bands, "rows": rows, "seed": seed, "normalisation": 3}


class _Signatures(beam.DoFn):
    """Document -> (node, doc) and the compact records the later stages shuffle. With ``entries`` (the
    step's input is the prefix cache's kept documents), a document in an entry is not handed on: the
    entry is, once, as (``ENTRY``, its file) with its first document, and is read again where the
    documents are needed (``entry_documents``); the ``ref`` of a document that failed here (an error
    record) goes to ``TAG_FAILED``, so that it is passed over there."""

    def __init__(self, ngram, bands, rows, seed, rule, annotation, write, entries=False):
        self.ngram, self.bands, self.rows, self.seed = ngram, bands, rows, seed
        self.rule, self.annotation, self.write, self.entries = rule, annotation, write, entries

    def setup(self):
        self._counters = StepCounters(NAME)

    def process(self, doc: Document):
        self._counters.docs_in.inc()
        in_entry = self.entries and doc.ref is not None
        if in_entry and doc.ref[1] == 0:
            yield ENTRY, doc.ref[0]
        try:
            node = current_node(doc.id)
            sig = signature(shingle_hashes(doc.text, self.ngram), self.bands * self.rows, self.seed)
            keys = band_keys(sig, self.bands, self.rows) if sig is not None else []
            prio = priority_key(doc, self.rule, self.annotation)
        except Exception as exc:  # one bad record must never fail the job
            yield self._counters.error(exc, doc)
            if in_entry:  # an error record already: passed over where its entry is read again
                yield beam.pvalue.TaggedOutput(TAG_FAILED, doc.ref)
            return
        if not in_entry:
            yield node, light(doc)  # no text in the shuffles when it can be read again (document.light)
        if not keys:
            return
        yield beam.pvalue.TaggedOutput(TAG_PRIO, (node, wire(Ranked(prio, doc.id))))
        for key in keys:
            yield beam.pvalue.TaggedOutput(TAG_BANDS, (key, node))
        if self.write:
            yield beam.pvalue.TaggedOutput(TAG_SIGS, {"id": doc.id, "bands": keys})


class _EdgeSets(beam.DoFn):
    """(node, doc) of a node with a candidate edge (``nodes``: a ``lookup.NodeSet``) -> (node, its
    compact shingle set), recomputed here from the text (``sets`` output), or, for a light document
    (no text: ``document.light``), the document on the ``fetch`` output to have its text read again
    first; the other documents send nothing. Every (node, doc) passes through (main output), for the
    decision: the local runner stalls when two stages that wait for side inputs read one PCollection."""

    def __init__(self, ngram: int):
        self.ngram = ngram

    def setup(self):
        self._sets = Metrics.counter(METRICS_NAMESPACE, f"{NAME}.verification_sets")

    def process(self, element, nodes):
        yield element
        node, doc = element
        if node == ENTRY:  # the entry's documents with an edge: their sets, from the text stored there
            for doc in entry_documents(doc):
                node = current_node(doc.id)
                if has(nodes, node):
                    yield from self._set(node, doc)
            return
        if not has(nodes, node):
            return
        if not doc.text and REF_ANNOTATION in doc.annotations:
            yield beam.pvalue.TaggedOutput(FETCH, doc)
            return
        yield from self._set(node, doc)

    def _set(self, node: int, doc: Document):
        shingles = shingle_hashes(doc.text, self.ngram)
        if len(shingles):  # a document without words has no band, hence no edge of its own
            self._sets.inc()
            yield beam.pvalue.TaggedOutput("sets", (node, compact_set(shingles)))


class _FetchedSets(_EdgeSets):
    """A fetched document (text read again) -> (node, its compact shingle set)."""

    def process(self, doc: Document):
        for out in self._set(current_node(doc.id), doc):
            yield out.value


class EdgeSets(beam.PTransform):
    """(node, doc) -> {"docs": every (node, doc), "sets": (node, compact shingle set) of the nodes in
    ``nodes`` (an ``AsSingleton`` of a ``lookup.NodeSet``)}: light documents among those have their
    text read again from the prefix cache (``io.rehydrate``), only they."""

    def __init__(self, ngram: int, nodes):
        super().__init__()
        self.ngram, self.nodes = ngram, nodes

    def expand(self, pairs):
        found = pairs | "sets here" >> beam.ParDo(_EdgeSets(self.ngram), self.nodes).with_outputs(
            "sets", FETCH, main="docs")
        fetched = (found[FETCH]
                   | "candidate text" >> Rehydrate()
                   | "sets there" >> beam.ParDo(_FetchedSets(self.ngram)))
        return {"docs": found["docs"], "sets": (found["sets"], fetched) | "all sets" >> beam.Flatten()}


def in_nodes(element, nodes):
    """Keeps a (node, value) record whose node is in the ``lookup.NodeSet`` ``nodes``."""
    if has(nodes, element[0]):
        yield element


def single_set(sets: list):
    """A node's one shingle set, or None: no set (a reference document) or several (documents sharing
    an id, or an id collision) leave its edges and removals unchecked."""
    return sets[0] if len(sets) == 1 else None


def _send_sets(element):
    """Keyed by a node: its set goes to each member of its star, and to itself if it is a member;
    a node with an edge also keeps its sets for the decision (``candidate_set`` output)."""
    node, grouped = element
    sets = list(grouped["set"])
    own = single_set(sets)
    linked = False
    for member in grouped["members"]:
        linked = True
        yield member, wire(SentSet("centre", node, own))
    if any(True for _ in grouped["centres"]):
        linked = True
        yield node, wire(SentSet("own", node, own))
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
        sent = [SentSet.of(v) for v in values]  # its own set and at most one centre set per band
        own = next((s.shingles for s in sent if s.kind == "own"), None)
        for centre in sent:
            if centre.kind != "centre":
                continue
            if own is None or centre.shingles is None or jaccard(own, centre.shingles) >= self.threshold:
                yield centre.node, member
            else:
                self._dropped.inc()



def check_edges(edges, sets, meter, threshold: float):
    """Stage 3: (the verified edges, the sets of the nodes with an edge) from the candidate edges and
    the (node, set) of their documents; ``meter`` measures each shuffle's input."""
    members = edges | "members of centre" >> beam.Map(lambda e: (e[0], e[1]))
    centres = edges | "centres of member" >> beam.Map(lambda e: (e[1], e[0]))
    sent = (meter({"set": sets, "members": members, "centres": centres}, "join sets")
            | "join sets" >> beam.CoGroupByKey()
            | "send sets" >> beam.FlatMap(_send_sets).with_output_types(KEYED).with_outputs(
                "candidate_set", main="sent"))
    verified = (meter(sent["sent"], "group by member")
                | "group by member" >> beam.GroupByKey()
                | "check jaccard" >> beam.ParDo(_CheckEdges(threshold)))
    return verified, sent["candidate_set"]


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
            raise ParamError("reference_signatures",
                             f"reference signatures {path} were made with {meta}, this step uses {self.params}")
        for doc_id, keys in zip(table.column("id").to_pylist(), table.column("bands").to_pylist()):
            node = reference_node(doc_id)
            for key in keys:
                yield key, node


def match_references(pattern: str) -> List[str]:
    from apache_beam.io.filesystems import FileSystems

    files = sorted(m.path for r in FileSystems.match([pattern]) for m in r.metadata_list)
    if not files:
        raise ParamError("reference_signatures", f"no reference signature file matches {pattern}")
    return files

