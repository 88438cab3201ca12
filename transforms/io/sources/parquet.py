"""Parquet files with pyarrow, one record batch at a time.

Same field mapping as JSONL; ``offset`` is the 0-based row index. A file
without a string text column is one error; a row whose text is null is one
error; a file that fails mid-way keeps the rows read before and ends with one
error at the first row it could not read.
"""
from __future__ import annotations

from typing import Iterator, Union

import pyarrow as pa
import pyarrow.parquet as pq

from thresher.transforms.document import Document
from thresher.transforms.io.sources.common import Fields, ReadError, as_str, basename, open_raw

Item = Union[Document, ReadError]
BATCH_ROWS = 1024


class BadSchema(ValueError):
    """The file has no usable text column."""


class NullText(ValueError):
    """A row whose text is null."""


def read_parquet(path: str, source: str, fields: Fields = Fields()) -> Iterator[Item]:
    """Documents from one Parquet file."""
    row = 0
    try:
        with open_raw(path) as raw:
            if raw.seek(0, 2) == 0:  # a zero-byte file holds no rows
                return
            raw.seek(0)
            parquet = pq.ParquetFile(raw)
            schema = parquet.schema_arrow
            if fields.text not in schema.names:
                raise BadSchema(f"no column {fields.text!r} (columns: {', '.join(schema.names)})")
            text_type = schema.field(fields.text).type
            if not (pa.types.is_string(text_type) or pa.types.is_large_string(text_type)):
                raise BadSchema(f"column {fields.text!r} is {text_type}, not a string")
            columns = [name for name in (fields.text, fields.id, fields.url, fields.date) if name in schema.names]
            name = basename(path)
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=list(dict.fromkeys(columns))):
                values = batch.to_pydict()
                absent = [None] * batch.num_rows
                ids, urls, dates = (values.get(field, absent) for field in (fields.id, fields.url, fields.date))
                for i, text in enumerate(values[fields.text]):
                    if text is None:
                        yield ReadError(NullText(f"column {fields.text!r} is null"), row + i)
                        continue
                    yield Document(id=as_str(ids[i]) or f"{name}:{row + i}", text=text, url=as_str(urls[i]),
                                   source=source, date=as_str(dates[i]), annotations={"file": path, "offset": row + i})
                row += batch.num_rows
    except Exception as exc:  # unreadable file or batch
        yield ReadError(exc, row)
