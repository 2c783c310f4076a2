"""The collection's stac-geoparquet file, made with stac-geoparquet's public API.

The catalog writer converts each scene's items as they are written (:func:`scene_rows`:
``stac_geoparquet.arrow.parse_stac_items_to_arrow``, one record batch per scene, spooled to
local disk as Arrow IPC). At the end :func:`write_geoparquet` puts the scenes of a collection
into one file: their schemas merged (a column or struct field one scene lacks is null in its
rows; an integer property that another scene holds as a float becomes a float), the rows
cut into ``chunk``-row batches in the given order (one row group each), and the file written
by ``stac_geoparquet.arrow.to_parquet`` (GeoParquet and stac-geoparquet file metadata).

The file is the one stac-geoparquet writes for the same items in one go
(``parse_stac_ndjson_to_parquet``): byte for byte for scenes of the shape a build writes, the
same columns, values and metadata where scenes differ in shape (tests/test_geoparquet.py). The
conversion runs once per scene, spread over the build, instead of twice over the whole
collection at its end (bench/bench_catalog.py). Readers use the public
``stac_geoparquet.arrow.stac_table_to_items``, DuckDB, or the columns as the stac-geoparquet
specification lays them out (``sen12stac.stream.select``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import pyarrow as pa
import pyarrow.fs  # noqa: F401 -- stac-geoparquet 0.8 names pa.fs when imported; pyarrow 16 does not load it by itself


def scene_rows(items: Sequence[Mapping[str, Any]]) -> pa.RecordBatch:
    """One scene's items (dicts, left untouched) as one stac-geoparquet record batch."""
    from stac_geoparquet.arrow import parse_stac_items_to_arrow

    if not items:
        raise ValueError("no items to convert")
    table = parse_stac_items_to_arrow(items).read_all()
    return table.combine_chunks().to_batches()[0]


def merged_schema(schemas: Sequence[pa.Schema]) -> pa.Schema:
    """The schema that holds the rows of every scene: fields in order of first appearance,
    types widened where scenes differ (``permissive``: int64 and double -> double, null -> any)."""
    return pa.unify_schemas(list(schemas), promote_options="permissive")


def _conformed_array(array: pa.Array, type: pa.DataType) -> pa.Array:
    """``array`` as ``type``, a type :func:`merged_schema` widened it to: struct fields matched
    by name (one the array lacks is all null), lists element by element, anything else cast.
    (pyarrow's own cast does this in recent releases, 26 here, but not in 16-18, which the
    declared floor admits.)"""
    if array.type.equals(type):
        return array
    mask = array.is_null() if array.null_count else None
    if pa.types.is_struct(type) and pa.types.is_struct(array.type):
        children = [
            _conformed_array(array.field(f.name), f.type) if array.type.get_field_index(f.name) >= 0 else pa.nulls(len(array), f.type)
            for f in type
        ]
        return pa.StructArray.from_arrays(children, fields=list(type), mask=mask)
    if pa.types.is_list(type) and pa.types.is_list(array.type):
        return pa.ListArray.from_arrays(array.offsets, _conformed_array(array.values, type.value_type), type=type, mask=mask)
    return array.cast(type)


def _conformed(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with exactly ``schema``'s columns (in its order) and types."""
    if batch.schema.equals(schema, check_metadata=True):
        return batch
    columns = [
        _conformed_array(batch.column(f.name), f.type) if f.name in batch.schema.names else pa.nulls(batch.num_rows, f.type)
        for f in schema
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _rebatched(batches: Sequence[pa.RecordBatch], schema: pa.Schema, chunk: int) -> Iterator[pa.RecordBatch]:
    """The rows of ``batches`` in order, ``chunk`` rows per batch (the last one shorter)."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        batch = _conformed(batch, schema)
        start = 0
        while start < batch.num_rows:
            take = min(chunk - held, batch.num_rows - start)
            pending.append(batch.slice(start, take))
            held += take
            start += take
            if held == chunk:
                yield pa.Table.from_batches(pending, schema).combine_chunks().to_batches()[0]
                pending, held = [], 0
    if held:
        yield pa.Table.from_batches(pending, schema).combine_chunks().to_batches()[0]


def write_geoparquet(batches: Sequence[pa.RecordBatch], path: str | Path, *, chunk: int, **parquet_options: Any) -> None:
    """Write the rows of ``batches`` (from :func:`scene_rows`, in the order wanted in the file)
    as one stac-geoparquet file, ``chunk`` rows per row group."""
    from stac_geoparquet.arrow import to_parquet

    if not batches or not any(b.num_rows for b in batches):
        raise ValueError("no rows to write")
    schema = merged_schema([b.schema for b in batches])
    reader = pa.RecordBatchReader.from_batches(schema, _rebatched(batches, schema, chunk))
    to_parquet(reader, str(path), **parquet_options)
