"""Documents given their text again after a step that shuffled them without it.

A step whose ``ships_light()`` is true (the dedup steps, ``mix``, score cut-offs) sends through its
shuffles, or holds while it waits, ``document.light`` documents: id, URL, source, date and
annotations, and where the text is (``[entry file, ordinal]``: the prefix cache's entry of the
document's input file, in which the document is the ordinal-th kept record; ``entry_records`` is
their format). Its outputs are then light too; ``Rehydrate`` groups them by entry file (a shuffle of
those small records, no text), reads each entry once, front to back, and puts the stored text back.
The text is byte for byte what the document-local prefix made (the entry holds exactly the
documents the prefix emitted); the annotations are the light document's (the prefix's plus what
the step added). Documents that are not light (none, when every document came from the cache)
cross the same shuffle whole, spread over 64 keys: one path in, one out, so that the stage that
reads the entries also runs the steps and the writer after it (two paths joined by a Flatten make
the local runner hold every output document in its own process).

A step that needs the text itself after its shuffles (``line_dedup`` first after the cached prefix)
uses the same shuffle: ``by_entry`` with its own bytes per document (the units a page won), ``filled``
to get each document back with its text and those bytes.

An entry removed while the run needs it (``thresher cache prune`` during the run) fails the run with
a line saying so: the documents cannot be read again, and the next run recomputes the entry.
"""
from __future__ import annotations

import struct
import zlib
from typing import Iterable, Iterator, List, Tuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from thresher.transforms.document import REF_ANNOTATION, Document, DocumentCoder
from thresher.transforms.io.entry_records import KEPT, open_records

_WHOLE = "\0"  # keys of documents that are not light start so (no entry file's path does)
_WHOLE_KEYS = 64  # spread over this many keys: not all on one worker
_CODER = DocumentCoder()
_ORDINAL = struct.Struct("<Q")  # a light document's record: its ordinal in the entry,
_EXTRA = struct.Struct("<I")  # the length of the caller's extra bytes, those bytes, the document without text


class EntryGone(RuntimeError):
    """A light document's entry cannot be read, or holds fewer documents than it did."""


def by_entry(doc: Document, extra: bytes = b"") -> Tuple[str, bytes]:
    """(key, record) of the shuffle to the entries: a light document goes to its entry file, without
    text; another whole, to one of the ``_WHOLE`` keys. ``extra``: bytes given back with the document
    (``filled``)."""
    ref = doc.annotations.get(REF_ANNOTATION)
    if ref is None:  # whole: through the same shuffle (rare; a Flatten would hold every output in the runner)
        spread = zlib.crc32(doc.id.encode("utf-8", "surrogatepass")) % _WHOLE_KEYS
        return f"{_WHOLE}{spread}", _EXTRA.pack(len(extra)) + extra + _CODER.encode(doc)
    notes = {k: v for k, v in doc.annotations.items() if k != REF_ANNOTATION}
    light = _CODER.encode(Document(doc.id, "", doc.url, doc.source, doc.date, notes))
    return ref[0], _ORDINAL.pack(ref[1]) + _EXTRA.pack(len(extra)) + extra + light


def kept_records(path: str) -> Iterator[Tuple[Tuple[str, int], bytes]]:
    """The kept documents of the entry file at ``path``, in order: (their ``ref``, their encoding)
    (``.tmp``: the file of an entry not committed, which the run that wrote it still reads);
    ``EntryGone`` when it cannot be read."""
    if not FileSystems.exists(path) and FileSystems.exists(path + ".tmp"):
        path += ".tmp"  # not committed (a failed read or write kept it unlisted): still whole for this run
    ordinal = -1
    try:
        for tag, payload in open_records(path):
            if tag == KEPT:
                ordinal += 1
                yield (path, ordinal), payload
    except Exception as exc:
        raise EntryGone(f"the prefix cache entry {path} cannot be read again ({type(exc).__name__}: {exc}); "
                        f"was the cache pruned during the run? Run again: the entry is recomputed") from exc


def entry_documents(path: str) -> Iterator[Document]:
    """The kept documents of the entry file at ``path``, in order, each with its ``ref``."""
    for ref, payload in kept_records(path):
        doc = _CODER.decode(payload)
        doc.ref = ref
        yield doc


def filled(element: Tuple[str, Iterable[bytes]]) -> Iterator[Tuple[Document, bytes]]:
    """One group of the shuffle to the entries: each document with its text (read from the entry file,
    front to back, for light ones), and its ``extra`` bytes."""
    path, values = element
    if path.startswith(_WHOLE):
        for value in values:
            end = _EXTRA.size + _EXTRA.unpack_from(value)[0]
            yield _CODER.decode(value[end:]), value[_EXTRA.size:end]
        return
    wanted: List[Tuple[int, bytes]] = sorted((_ORDINAL.unpack_from(v)[0], v) for v in values)
    at, count = 0, 0
    for ref, payload in kept_records(path):
        count += 1
        if wanted[at][0] != ref[1]:
            continue
        text = _CODER.decode(payload).text
        while at < len(wanted) and wanted[at][0] == ref[1]:
            value = wanted[at][1]
            end = _ORDINAL.size + _EXTRA.size + _EXTRA.unpack_from(value, _ORDINAL.size)[0]
            doc = _CODER.decode(value[end:])
            doc.text, doc.ref = text, ref
            yield doc, value[_ORDINAL.size + _EXTRA.size:end]
            at += 1
        if at == len(wanted):
            return
    raise EntryGone(f"the prefix cache entry {path} holds {count} documents, this run needs document "
                    f"{wanted[at][0]}: was the cache pruned or changed during the run? Run again")


class _Fill(beam.DoFn):
    """One entry file: its kept records read in order, each light document given its record's text."""

    def process(self, element: Tuple[str, Iterable[bytes]]):
        for doc, _ in filled(element):
            yield doc


class Rehydrate(beam.PTransform):
    """Light documents (``document.light``) with their text again; other documents as they are."""

    def expand(self, docs):
        return (docs
                | "by entry" >> beam.Map(by_entry)
                | "group by entry" >> beam.GroupByKey()
                | "read entries" >> beam.ParDo(_Fill()))
