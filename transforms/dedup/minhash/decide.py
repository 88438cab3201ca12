"""MinHash dedup, decisions: which document of each cluster is kept, the verification rounds that check
every removal against it, and each document's fate applied where it is (stages 5-6 of ``step.py``'s data flow).
"""
from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from thresher.transforms.base import METRICS_NAMESPACE, StepCounters
from thresher.transforms.dedup.minhash.candidates import ENTRY, current_node, single_set
from thresher.transforms.dedup.minhash.lookup import outcome
from thresher.transforms.dedup.minhash.records import (DUPLICATE, KEYED, NAME, REFERENCE_DUPLICATE, Check, Decision,
                                                       KeptSet, Member, Outcome, Ranked, wire)
from thresher.transforms.dedup.minhash.signatures import jaccard
from thresher.transforms.io.rehydrate import entry_documents


def _cluster_members(element):
    """Keyed by node: (cluster label, its ``Member``)."""
    node, grouped = element
    labels = list(grouped["label"])
    if not labels:
        return
    ranks = sorted(grouped["prio"])
    collided = len({Ranked.of(r).doc_id for r in ranks}) > 1
    yield labels[0], wire(Member(node, Ranked.of(ranks[0]) if ranks else None, len(ranks), collided))


def _kept(node: int, doc_id: str, count: int, group=None):
    """A final decision, keyed by its group: (group, ``Decision``)."""
    return group or ("kept", node), wire(Decision(node, None, doc_id, count))


def _removed(kept: int, member: Member, kept_id: str):
    """A member removed as the duplicate of the kept node's document, in the kept node's group."""
    return ("kept", kept), wire(Decision(member.node, DUPLICATE, kept_id, member.documents))


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
        everyone = [Member.of(m) for m in everyone]
        members = [m for m in everyone if not m.node & 1]  # odd nodes: reference documents
        reference = len(members) < len(everyone)
        if not members:
            return
        yield beam.pvalue.TaggedOutput("cluster", 1)
        group = ("cluster", label)
        if reference:
            for m in members:
                yield group, wire(Decision(m.node, REFERENCE_DUPLICATE, "", m.documents))
            return
        if any(m.collided for m in members):
            self._collisions.inc()
            yield beam.pvalue.TaggedOutput("collided", 1)
            for m in members:
                yield _kept(m.node, m.best.doc_id, m.documents, group)
            return
        best = min(members, key=lambda m: (m.best, m.node))
        kept_id = best.best.doc_id
        yield _kept(best.node, kept_id, best.documents)
        for member in members:
            if member is best:
                continue
            if self.verify:
                yield beam.pvalue.TaggedOutput("check", (best.node, wire(Check(kept_id, label, member))))
            else:
                yield _removed(best.node, member, kept_id)


def _send_representative_set(element):
    """Keyed by a kept node: its shingle set goes to each member to be checked against it."""
    kept, grouped = element
    kept_set = single_set(list(grouped["set"]))
    for check in grouped["check"]:
        check = Check.of(check)
        yield check.member.node, wire(KeptSet(kept, check.kept_id, check.label, check.member, kept_set))


class _CheckMember(beam.DoFn):
    """A member whose Jaccard with its cluster's kept document reaches the threshold is its duplicate;
    any other goes on (``pending``, its sets in ``pending_set``) to the next round with the rest of
    its cluster."""

    def __init__(self, threshold: float):
        self.threshold = threshold

    def process(self, element):
        _, grouped = element
        sets = list(grouped["set"])
        own = single_set(sets)
        for sent in grouped["rep"]:
            sent = KeptSet.of(sent)
            if own is not None and sent.shingles is not None and jaccard(own, sent.shingles) >= self.threshold:
                yield _removed(sent.kept, sent.member, sent.kept_id)
            else:
                yield beam.pvalue.TaggedOutput("pending", (sent.label, wire(sent.member)))
                for shingle_set in sets:
                    yield beam.pvalue.TaggedOutput("pending_set", (sent.member.node, shingle_set))


def check_members(checks, sets, r: int, meter, threshold: float):
    """Round ``r`` of stage 6: each member checked against its cluster's kept document (``final``
    decisions, ``pending`` members and their ``pending_set``); ``meter`` measures each shuffle's input."""
    to_members = (meter({"set": sets, "check": checks}, f"join kept sets {r}")
                  | f"join kept sets {r}" >> beam.CoGroupByKey()
                  | f"send kept sets {r}" >> beam.FlatMap(_send_representative_set))
    return (meter({"set": sets, "rep": to_members}, f"join member sets {r}")
            | f"join member sets {r}" >> beam.CoGroupByKey()
            | f"check members {r}" >> beam.ParDo(_CheckMember(threshold))
            .with_output_types(KEYED).with_outputs("pending", "pending_set", main="final"))


def _unmatched(element):
    """A member no kept document matched within the rounds: kept, alone."""
    member = Member.of(element[1])
    return _kept(member.node, member.best.doc_id, member.documents)


def _sized(element):
    """A group's decisions with its size: (node, ``Outcome``)."""
    _, decisions = element
    decisions = [Decision.of(d) for d in decisions]
    size = sum(d.documents for d in decisions)
    for d in decisions:
        yield d.node, wire(Outcome(d.reason, size, d.kept_id))


class _Apply(beam.DoFn):
    """Applies its node's decision (``table``: a ``lookup.DecisionTable``) to each (node, doc) where the
    document is, or to each document of an (``ENTRY``, file) read there (but those in ``failed``,
    refs of documents that are error records); a node without one is in no cluster: kept,
    ``cluster_size`` 1."""

    def setup(self):
        self._counters = StepCounters(NAME)

    def process(self, element, table, failed=()):
        node, doc = element
        if node == ENTRY:  # every kept document of a prefix cache entry, read again here
            entry = doc
            passed_over = {ordinal for path, ordinal in failed if path == entry}  # error records already
            for doc in entry_documents(entry):  # (its ref may name the entry's .tmp file)
                if doc.ref[1] not in passed_over:
                    yield from self._decide(current_node(doc.id), doc, table)
            return
        yield from self._decide(node, doc, table)

    def _decide(self, node, doc, table):
        decided = outcome(table, node) or Outcome(None, 1, "")
        if decided.reason is None:
            self._counters.docs_out.inc()
            yield doc.annotate(cluster_size=decided.cluster_size)
        else:
            notes = {"cluster_size": decided.cluster_size}
            if decided.reason == DUPLICATE:
                notes["duplicate_of"] = decided.kept_id
            yield self._counters.reject(doc.annotate(**notes), decided.reason)
