"""The item fields users filter on, registered as pgstac queryables with their types.

``/queryables`` lists them (JSON Schema per field), and a queryable with a
``property_index_type`` gets a per-partition index from pgstac's triggers on the typed
expression its filters compile to (``to_text``/``to_float``/``to_int`` by the definition's
``type``), so filters on it are index scans. Fields that only describe a patch (row, col,
ROI coordinates, the seed) are listed but not indexed: every index costs load time.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Queryable:
    name: str
    definition: dict[str, Any]
    index: str | None = "BTREE"


def _q(name: str, title: str, typ: str, index: str | None = "BTREE", **schema: Any) -> Queryable:
    return Queryable(name, {"title": title, "type": typ, **schema}, index)


QUERYABLES: tuple[Queryable, ...] = (
    # Core fields, defined inline: pgstac's defaults point `$ref`s at schemas.stacspec.org and
    # geojson.org, which STAC Browser's search form then fetches from the internet. Not
    # indexed here (pgstac handles id and geometry natively), as in pgstac's defaults.
    Queryable("id", {"title": "Item ID", "description": "The pair id, e.g. ROIs1158_spring_7_p42", "type": "string"}, None),
    Queryable("geometry", {"title": "Item Geometry", "description": "The patch footprint (GeoJSON, WGS84)", "type": "object",
                           "properties": {"type": {"enum": ["Polygon", "MultiPolygon"]}, "coordinates": {"type": "array"}}}, None),
    _q("ml-aoi:split", "ML split (by scene)", "string", enum=["train", "validate", "test"]),
    _q("eo:cloud_cover", "Cloud cover of the patch (%)", "number", minimum=0, maximum=100),
    _q("sat:orbit_state", "Sentinel-1 orbit direction", "string", enum=["ascending", "descending"]),
    _q("sat:relative_orbit", "Sentinel-1 relative orbit", "integer", minimum=1),
    # scene fields
    _q("sen12:scene_id", "Scene (ROI and season), e.g. ROIs1158_spring_7", "string"),
    _q("sen12:scene_index", "Scene number within its season", "integer", minimum=0),
    _q("sen12:season", "Season", "string", None, enum=["spring", "summer", "fall", "winter"]),
    _q("sen12:roi_kind", "ROI sampled over land or urban areas", "string", enum=["land", "urban"]),
    _q("sen12:source", "Where the scene's pixels came from", "string"),
    _q("sen12:s2_product_cloud_cover", "Cloud cover of the Sentinel-2 product (%)", "number", minimum=0, maximum=100),
    # patch QC fields
    _q("sen12:cloud_fraction", "Cloudy share of the patch's pixels (patch QC)", "number", minimum=0, maximum=1),
    _q("sen12:nodata_fraction", "No-data share of the patch's pixels (patch QC)", "number", minimum=0, maximum=1),
    _q("sen12:seamline", "The patch crosses a mosaic seamline", "boolean"),
    _q("sen12:qc_reasons", "Patch QC reason codes (empty: clean)", "array", None, items={"type": "string"}),
    _q("sen12:patch_index", "Patch number within its scene", "integer", None, minimum=0),
    _q("sen12:row", "Patch row in the scene grid", "integer", None, minimum=0),
    _q("sen12:col", "Patch column in the scene grid", "integer", None, minimum=0),
)


def _v2_queryables() -> tuple[Queryable, ...]:
    """A v2 release's item fields (issue #22): the land-cover majority class, each WorldCover
    class's fraction of the patch's valid label pixels, and the L2A scene classification's cloud
    and shadow fractions. The majority and the SCL fractions are indexed (the filters one starts
    with); the eleven class fractions are listed, not indexed (each index costs load time), so
    ``"sen12:lc_built_up" > 0.5`` scans a season's partition."""
    from ..recipe.recipes import WORLDCOVER_CLASSES

    codes = sorted(WORLDCOVER_CLASSES)
    out = [_q("sen12:lc_majority", "Majority land-cover class of the patch (ESA WorldCover code)", "integer", enum=codes,
              description="; ".join(f"{c} {WORLDCOVER_CLASSES[c][0]}" for c in codes))]
    for code in codes:
        name = WORLDCOVER_CLASSES[code][0]
        out.append(_q(f"sen12:lc_{name}", f"Share of the patch's labelled pixels in WorldCover class {code} ({name.replace('_', ' ')})", "number", None,
                      minimum=0, maximum=1))
    out.append(_q("sen12:scl_cloud_fraction", "Cloudy share of the patch in the Sentinel-2 L2A scene classification (SCL 8, 9, 10)", "number", minimum=0, maximum=1))
    out.append(_q("sen12:scl_shadow_fraction", "Cloud-shadow share of the patch in the Sentinel-2 L2A scene classification (SCL 3)", "number", minimum=0, maximum=1))
    return tuple(out)


V2_QUERYABLES: tuple[Queryable, ...] = _v2_queryables()


def queryables_for(recipe: str | None) -> tuple[Queryable, ...]:
    """The queryables of a release of ``recipe`` (its root catalog's ``sen12:recipe``; none: v1)."""
    return QUERYABLES + V2_QUERYABLES if recipe == "v2" else QUERYABLES


def register_queryables(dsn: str, queryables: tuple[Queryable, ...] = QUERYABLES, *, analyze: bool = False) -> int:
    """Insert or update the queryables (for every collection); returns how many changed.

    Unchanged rows are left alone, so re-running does not rebuild indexes. When any changed,
    the items are analyzed again (and always with ``analyze``, e.g. after a load): the planner's
    statistics on the indexed expressions are gathered only for indexes that exist when ANALYZE runs."""
    from .database import connect

    changed = 0
    with connect(dsn) as conn:
        with conn.transaction():
            conn.execute("SET LOCAL search_path TO pgstac, public")  # pgstac's triggers resolve their helpers by search_path
            for q in queryables:
                row = conn.execute("SELECT id, definition, property_index_type FROM queryables WHERE name = %s AND collection_ids IS NULL", (q.name,)).fetchone()
                if row is None:
                    conn.execute("INSERT INTO queryables (name, definition, property_index_type) VALUES (%s, %s, %s)", (q.name, json.dumps(q.definition), q.index))
                    changed += 1
                elif row[1] != q.definition or row[2] != q.index:
                    conn.execute("UPDATE queryables SET definition = %s, property_index_type = %s WHERE id = %s", (json.dumps(q.definition), q.index, row[0]))
                    changed += 1
        if changed or analyze:
            conn.execute("ANALYZE pgstac.items")
    return changed
