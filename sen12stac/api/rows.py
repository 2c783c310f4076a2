"""Items as pgstac table rows: the work of pypgstac's ``Loader.format_item``, faster.

A pgstac ``items`` row is ``(id, collection, datetime, end_datetime, geometry, content,
private)``: ``content`` is the item *dehydrated* against its collection's base item (what every
item shares with the collection's ``item_assets`` is left out and added back when the item is
read), as JSON text; ``geometry`` is hex EWKB (SRID 4326).

Same rows as pypgstac's ``format_item`` (tested on real items against it), three things faster:

* :func:`dehydrate`: the same recursive difference as ``pypgstac.hydration.dehydrate`` (and
  its ``DO_NOT_MERGE`` markers for keys the base has and the item lacks), without its second
  pass of markers per nested dict; any base value that is not a dict is handed to pypgstac's
  own code, so odd shapes give its answer too.
* :func:`ewkb_hex`: a geometry that is already WKB (a stac-geoparquet column) gets its SRID
  spliced in, instead of GeoJSON -> plpygis -> EWKB.
* no ``partition`` bookkeeping per item: the caller knows the collection's partition.
"""
from __future__ import annotations

import struct
from typing import Any

import orjson
from pypgstac.hydration import DO_NOT_MERGE_MARKER
from pypgstac.hydration import apply_marked_keys as _py_apply_marked_keys
from pypgstac.hydration import dehydrate as _py_dehydrate
from pypgstac.load import as_utc

Row = tuple[str, str, str, str, "str | None", str, "str | None"]

_SRID_FLAG = 0x20000000


def _strip_marked(base: Any, item: dict[str, Any]) -> dict[str, Any]:
    """pypgstac's ``strip(base, item)`` followed by ``apply_marked_keys(base, item, ...)``."""
    if type(base) is not dict:
        out = _py_dehydrate(base, item)
        _py_apply_marked_keys(base, item, out)
        return out
    return _strip(base, item)  # marks already applied (applying them twice changes nothing)


def _strip(base: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in item.items():
        if key not in base:
            out[key] = value
            continue
        bv = base[key]
        if bv == value:
            continue
        if isinstance(bv, list) and isinstance(value, list):
            if len(bv) == len(value):
                out[key] = [_strip_marked(b, v) if isinstance(b, dict) and isinstance(v, dict) else v for b, v in zip(bv, value)]
            else:
                out[key] = value
            continue
        if value is None or value == []:
            continue
        if isinstance(value, dict):
            out[key] = _strip_marked(bv, value)
        else:
            out[key] = value
    for key in base:
        if key not in item:
            out[key] = DO_NOT_MERGE_MARKER
    return out


def dehydrate(base_item: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """``pypgstac.hydration.dehydrate(base_item, item)``: the same dict, faster."""
    if type(base_item) is not dict:
        return _py_dehydrate(base_item, item)
    return _strip(base_item, item)


def ewkb_hex(wkb: bytes, srid: int = 4326) -> str:
    """Hex EWKB with ``srid``, as plpygis writes it, from WKB: for little-endian 2D WKB (what
    shapely and stac-geoparquet write) the SRID flag and value are spliced in after the geometry
    type; anything else (big-endian, Z/M, an SRID already) goes through plpygis."""
    if wkb[0] == 1:
        (typ,) = struct.unpack_from("<I", wkb, 1)
        if typ < 1000:  # plain 2D type code, no EWKB flags
            return (wkb[:1] + struct.pack("<II", typ | _SRID_FLAG, srid) + wkb[5:]).hex()
    from plpygis.geometry import Geometry

    geom = Geometry(wkb)
    geom.srid = srid
    return str(geom.ewkb)


def geojson_ewkb_hex(geojson: dict[str, Any] | None) -> str | None:
    """As pypgstac: GeoJSON -> plpygis -> hex EWKB."""
    if geojson is None:
        return None
    from plpygis.geometry import Geometry

    geom = Geometry.from_geojson(geojson)
    if geom is None:
        raise ValueError(f"Invalid geometry encountered: {geojson}")
    return str(geom.ewkb)


def item_row(item: dict[str, Any], geometry: str | None, base_item: dict[str, Any], base_item_id: int | None) -> Row:
    """The pgstac row of ``item`` (``geometry``: its hex EWKB), as ``Loader.format_item``."""
    props = item.get("properties", {})
    dt, edt, sdt = props.get("datetime"), props.get("end_datetime"), props.get("start_datetime")
    if edt is not None and sdt is not None:
        start_s, end_s = sdt, edt
        start, end = as_utc(sdt), as_utc(edt)
        if start is not None and end is not None and start > end:
            raise ValueError(f"item {item.get('id')}: start_datetime must be < end_datetime")
    elif dt is not None:
        start_s = end_s = dt
    else:
        raise ValueError(f"item {item.get('id')}: no datetime")
    content = dehydrate(base_item, item)
    content.pop("id", None)
    content.pop("collection", None)
    content.pop("geometry", None)
    content.pop("pgstac:base_item", None)
    if base_item_id is not None:
        content["pgstac:base_item"] = base_item_id
    private = content.pop("private", None)
    return (
        item.get("id"),
        item.get("collection"),
        start_s,
        end_s,
        geometry,
        orjson.dumps(content).decode(),
        orjson.dumps(private).decode() if private is not None else None,
    )
