"""stac-geoparquet rows from item dicts, with pyarrow directly: one pass, no copies.

``stac_geoparquet.arrow.parse_stac_ndjson_to_parquet`` reads every item twice (a pass to
infer the schema, a pass to convert) and deep-copies each item dict in both: at 10k items
that was 0.4 ms per item, most of the catalog writer's time (bench/results/catalog.md). The
steps here are the same ones, in the same order, so the file is byte-identical to the
library's for the same items (``tests/test_geoparquet.py`` compares the bytes, and reads the
file back with ``stac_geoparquet.arrow.stac_table_to_items``):

1. :func:`json_rows`: the items as one arrow struct array shaped like their JSON, geometries as
   ISO WKB (stac-geoparquet's ``StacJsonBatch.from_dicts``), the type inferred by pyarrow.
   The writer calls it once per scene, as the scene's items are written.
2. :func:`unified_schema`: the per-scene types merged as the library merges its per-chunk
   types (``pa.unify_schemas(..., promote_options="permissive")``, then null ``datetime``
   as a timestamp). A scene whose type is not the merged one is converted again with it
   (the library's second pass does that for every chunk).
3. :func:`stac_batch`: properties moved to the top level, timestamps parsed, ``bbox`` as a
   struct, the geometry column tagged ``geoarrow.wkb`` (the library's ``to_arrow_batch``).
4. :func:`write_geoparquet`: rows cut into batches of ``chunk`` in the given order (one row
   group each) and written with the library's public ``stac_geoparquet.arrow.to_parquet``
   (GeoParquet and stac-geoparquet file metadata).
"""
from __future__ import annotations

import logging
import struct
import sys
from array import array
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import shapely
import shapely.geometry

log = logging.getLogger(__name__)

#: Columns stac-geoparquet stores as timestamps (microseconds, UTC) when they hold strings.
TIMESTAMP_COLUMNS = ("datetime", "start_datetime", "end_datetime", "created", "updated", "expires", "published", "unpublished")
_TIMESTAMP = pa.timestamp("us", tz="UTC")
_LITTLE_ENDIAN = sys.byteorder == "little"  # shapely writes WKB in the machine's byte order
_U32 = struct.Struct("<I")
_POLYGON = b"\x01" + _U32.pack(3)  # byte order 1 (little endian), ISO type 3
_MULTIPOLYGON = b"\x01" + _U32.pack(6)


def _ring_wkb(ring: Sequence[Sequence[float]]) -> bytes | None:
    flat = [float(v) for pt in ring if len(pt) == 2 for v in pt]
    if len(flat) != 2 * len(ring):
        return None  # a 3D (or malformed) point: shapely writes those
    return _U32.pack(len(ring)) + array("d", flat).tobytes()


def _wkb(geometry: Mapping[str, Any]) -> bytes:
    """ISO WKB of a GeoJSON geometry, as ``shapely.to_wkb(shape(g), flavor="iso")`` writes it
    (tests/test_geoparquet.py compares the bytes). 2D polygons and multipolygons, every
    footprint we write, are packed here directly (3x cheaper); anything else goes to shapely."""
    kind, coords = geometry.get("type"), geometry.get("coordinates")
    if _LITTLE_ENDIAN and kind in ("Polygon", "MultiPolygon") and isinstance(coords, list):
        polygons = [coords] if kind == "Polygon" else coords
        out = [] if kind == "Polygon" else [_MULTIPOLYGON, _U32.pack(len(polygons))]
        for rings in polygons:
            out += [_POLYGON, _U32.pack(len(rings))]
            for ring in rings:
                # shapely closes an open ring and refuses a short one: those go to shapely
                packed = _ring_wkb(ring) if len(ring) >= 4 and ring[0] == ring[-1] else None
                if packed is None:
                    return shapely.to_wkb(shapely.geometry.shape(geometry), flavor="iso")
                out.append(packed)
        return b"".join(out)
    return shapely.to_wkb(shapely.geometry.shape(geometry), flavor="iso")


def json_rows(items: Sequence[Mapping[str, Any]], type: pa.DataType | None = None) -> pa.StructArray:
    """The items (dicts, left untouched) as one struct array shaped like their JSON, with
    ``geometry`` and any ``proj:geometry`` (in properties or assets) as ISO WKB. ``type``:
    convert to this struct type instead of inferring one."""
    if not items:
        raise ValueError("no items to convert")
    rows = []
    for item in items:
        row = dict(item)  # a shallow copy: only the geometries are replaced
        row["geometry"] = _wkb(item["geometry"])
        props = item.get("properties") or {}
        if "proj:geometry" in props:
            row["properties"] = dict(props, **{"proj:geometry": _wkb(props["proj:geometry"])})
        assets = item.get("assets") or {}
        if any("proj:geometry" in a for a in assets.values()):
            row["assets"] = {k: (dict(a, **{"proj:geometry": _wkb(a["proj:geometry"])}) if "proj:geometry" in a else a) for k, a in assets.items()}
        rows.append(row)
    return pa.array(rows, type=type) if type is not None else pa.array(rows)


def unified_schema(types: Iterable[pa.DataType]) -> pa.Schema:
    """The schema of rows of these struct types, merged in order; a ``datetime`` (and
    ``proj:epsg``, ``proj:wkt2``) that is null in every row gets its real type."""
    schema = pa.schema([])
    for t in types:
        schema = pa.unify_schemas([schema, pa.schema(t)], promote_options="permissive")
    props_field = schema.field("properties")
    props = pa.schema(props_field.type)
    for name, real in (("datetime", _TIMESTAMP), ("proj:epsg", pa.int64()), ("proj:wkt2", pa.string())):
        if name in props.names and pa.types.is_null(props.field(name).type):
            i = props.get_field_index(name)
            props = props.set(i, props.field(i).with_type(real))
    return schema.set(schema.get_field_index("properties"), props_field.with_type(pa.struct(props)))


def conform(rows: pa.StructArray, schema: pa.Schema) -> pa.StructArray:
    """``rows`` with the struct type of ``schema``: as they are when the type already is that,
    else converted again from their values (absent and null are the same in an arrow row)."""
    target = pa.struct(schema)
    if rows.type.equals(target):
        return rows
    return pa.array(rows.to_pylist(), type=target)


def stac_batch(rows: pa.StructArray, *, crs_json: bytes) -> pa.RecordBatch:
    """JSON-shaped rows as a stac-geoparquet record batch."""
    batch = pa.RecordBatch.from_struct_array(rows)
    props_type = batch.schema.field("properties").type
    props = batch["properties"]
    top = set(batch.schema.names)
    for i in range(props_type.num_fields):
        field = props_type.field(i)
        if field.name in top:  # stac-geoparquet drops a property named like a top-level field
            log.warning("item properties contain %r, which collides with a top-level field; dropped from the geoparquet", field.name)
            continue
        batch = batch.append_column(field, pc.struct_field(props, i))
    batch = batch.drop_columns(["properties"])
    for name in TIMESTAMP_COLUMNS:
        if name not in batch.schema.names:
            continue
        i = batch.schema.get_field_index(name)
        col = batch.column(i)
        if pa.types.is_timestamp(col.type):
            continue
        if pa.types.is_null(col.type):
            batch = batch.set_column(i, name, col.cast(_TIMESTAMP))
        elif pa.types.is_string(col.type):
            batch = batch.set_column(i, name, pa.array(col, _TIMESTAMP))
        else:
            raise ValueError(f"column {name!r} holds {col.type}, not timestamps")
    i = batch.schema.get_field_index("bbox")
    bbox = batch.column(i)
    width = set(pc.list_value_length(bbox).to_pylist())
    if width not in ({4}, {6}):
        raise ValueError(f"bbox with {sorted(width)} values: expected 4 (or 6) in every item")
    names = ("xmin", "ymin", "xmax", "ymax") if width == {4} else ("xmin", "ymin", "zmin", "xmax", "ymax", "zmax")
    coords = bbox.flatten().to_numpy().reshape(-1, len(names))
    batch = batch.set_column(i, "bbox", pa.StructArray.from_arrays([coords[:, k] for k in range(len(names))], names=list(names)))
    i = batch.schema.get_field_index("geometry")
    field = batch.schema.field(i).with_metadata({b"ARROW:extension:name": b"geoarrow.wkb", b"ARROW:extension:metadata": crs_json})
    return batch.set_column(i, field, batch.column(i))


def _wgs84_metadata() -> bytes:
    from pyproj import CRS

    return orjson.dumps({"crs": CRS.from_epsg(4326).to_json_dict()})


def _batches(parts: Sequence[pa.StructArray], schema: pa.Schema, chunk: int) -> Iterator[pa.RecordBatch]:
    """The rows of ``parts`` in order, ``chunk`` rows per batch (the last one shorter)."""
    crs = _wgs84_metadata()
    pending: list[pa.StructArray] = []
    held = 0
    for part in parts:
        part = conform(part, schema)
        start = 0
        while start < len(part):
            take = min(chunk - held, len(part) - start)
            pending.append(part.slice(start, take))
            held += take
            start += take
            if held == chunk:
                yield stac_batch(pa.concat_arrays(pending), crs_json=crs)
                pending, held = [], 0
    if held:
        yield stac_batch(pa.concat_arrays(pending), crs_json=crs)


def write_geoparquet(parts: Sequence[pa.StructArray], path: str | Path, *, chunk: int, **parquet_options: Any) -> None:
    """Write the rows of ``parts`` (from :func:`json_rows`, in the order wanted in the file)
    as one stac-geoparquet file, ``chunk`` rows per row group."""
    from stac_geoparquet.arrow import to_parquet

    if not parts:
        raise ValueError("no rows to write")
    schema = unified_schema(p.type for p in parts)
    first = next(_batches(parts[:1], schema, chunk))  # the output schema (columns, metadata)
    reader = pa.RecordBatchReader.from_batches(first.schema, _batches(parts, schema, chunk))
    to_parquet(reader, str(path), **parquet_options)


# ----------------------------------------------------------------------------- reading back
# The column transforms stac-geoparquet applies when it turns a table back into items
# (``stac_table_to_items``), done here on whole record batches through its public format only
# (its own helpers are private): the API loader converts a batch in one Arrow call instead of
# one per row. tests/test_api_rows.py checks the items equal the library's own.

_TIMESTAMP_COLUMNS = ("datetime", "start_datetime", "end_datetime", "created", "updated", "expires", "published", "unpublished")
_TOP_LEVEL = frozenset({"stac_version", "stac_extensions", "type", "id", "bbox", "geometry", "collection", "links", "assets"})


def timestamps_as_text(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Timestamp columns as ``%Y-%m-%dT%H:%M:%SZ`` text (moved to the end, as the library does)."""
    for name in _TIMESTAMP_COLUMNS:
        if name in batch.schema.names:
            column = batch[name]
            batch = batch.drop_columns([name]).append_column(name, pc.strftime(column, format="%Y-%m-%dT%H:%M:%SZ"))
    return batch


def properties_as_struct(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Every column that is not a top-level item key, wrapped into one ``properties`` struct."""
    names = [n for n in batch.schema.names if n not in _TOP_LEVEL]
    fields = [batch.schema.field(n) for n in names]
    struct = pa.StructArray.from_arrays(batch.select(names).columns, fields=fields)
    return batch.drop_columns(names).append_column("properties", struct)


def bbox_as_list(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The ``bbox`` struct column (xmin, ymin[, zmin], xmax, ymax[, zmax]) as a list column."""
    import numpy as np

    i = batch.schema.get_field_index("bbox")
    col = batch.column(i)
    if not pa.types.is_struct(col.type) or col.type.num_fields not in (4, 6):
        raise ValueError("expected a bbox struct of 4 or 6 fields")
    order = ("xmin", "ymin", "xmax", "ymax") if col.type.num_fields == 4 else ("xmin", "ymin", "zmin", "xmax", "ymax", "zmax")
    coords = np.column_stack([col.field(k).to_numpy() for k in order])
    return batch.set_column(i, "bbox", pa.FixedSizeListArray.from_arrays(coords.flatten("C"), len(order)))


def tuples_to_lists(t: Any) -> Any:
    """Nested tuples (shapely's ``__geo_interface__`` coordinates) as nested lists."""
    return list(map(tuples_to_lists, t)) if isinstance(t, (list, tuple)) else t
