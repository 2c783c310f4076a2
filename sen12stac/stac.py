"""STAC builders: plain dicts from records. Nothing here writes.

Like stactools' ``create_item``: builders return objects, :mod:`sen12stac.catalog_writer`
writes them. Items are built as dicts (no pystac tree, no href resolution) so writing
300k items stays linear; ``pystac.Item.from_dict`` reads every one of them, with the
extension helpers (``SarExtension.ext(item)`` etc.) working.

Store layout of the catalog (keys relative to the output root)::

    catalog.json                                   root catalog "sen1-2"
    LICENSE-CC-BY-4.0.txt                          license text (linked, rel "license")
    ROIs1158_spring/collection.json                one collection per season
    ROIs1158_spring/items.parquet                  stac-geoparquet of the collection's items
    ROIs1158_spring/7/catalog.json                 one sub-catalog per scene (id = scene id)
    ROIs1158_spring/7/ROIs1158_spring_7_p42.json   one item per patch pair (id = pair id)
    ROIs1158_spring/s1_7/..., s2_7/..., thumbs_7/... assets (written by the pipeline)

Every link and asset href is relative; no ``self`` links, so a release can be copied
anywhere. See docs/stac.md for the field reference and the ``sen12:`` namespace.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping
from urllib.parse import quote

try:  # required by stac-geoparquet, so normally present
    import orjson as _orjson
except ImportError:  # pragma: no cover
    _orjson = None

from .cog import COG_MEDIA_TYPE
from .config import BuildConfig
from .errors import ConfigError, ValidationFailed
from .models import Acquisition, AssetRecord, BandStats, Grid, PatchRecord, format_datetime
from .seasons import season_by_set_name

STAC_VERSION = "1.1.0"

#: Extension schema URIs, all carried in ``sen12stac/schemas`` (pystac 1.15's defaults where pystac has a class).
EXT: dict[str, str] = {
    "eo": "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "file": "https://stac-extensions.github.io/file/v2.1.0/schema.json",
    "ml-aoi": "https://stac-extensions.github.io/ml-aoi/v0.2.0/schema.json",
    "processing": "https://stac-extensions.github.io/processing/v1.2.0/schema.json",
    "proj": "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
    "raster": "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "sar": "https://stac-extensions.github.io/sar/v1.0.0/schema.json",
    "sat": "https://stac-extensions.github.io/sat/v1.0.0/schema.json",
    "sci": "https://stac-extensions.github.io/scientific/v1.0.0/schema.json",
}

JSON_MEDIA_TYPE = "application/json"
GEOJSON_MEDIA_TYPE = "application/geo+json"
PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"

#: SAR fields of every item (Sentinel-1 IW GRD, VV, C band at 5.405 GHz).
SAR_FIELDS: dict[str, Any] = {
    "sar:instrument_mode": "IW",
    "sar:frequency_band": "C",
    "sar:center_frequency": 5.405,
    "sar:polarizations": ["VV"],
    "sar:product_type": "GRD",
}

ROOT_KEY = "catalog.json"
COORD_DIGITS = 7  # ~1 cm at the equator: small files, stable across PROJ versions
DENSIFY = 4  # segments per patch edge in the WGS84 footprint

# ----------------------------------------------------------------------------- keys


def collection_key(set_name: str) -> str:
    return f"{set_name}/collection.json"


def geoparquet_key(set_name: str) -> str:
    return f"{set_name}/items.parquet"


def scene_catalog_key(set_name: str, scene_index: int) -> str:
    return f"{set_name}/{scene_index}/catalog.json"


def item_key(set_name: str, scene_index: int, pair_id: str) -> str:
    return f"{set_name}/{scene_index}/{pair_id}.json"


def _key_parts(key: str) -> list[str]:
    parts = [p for p in key.split("/") if p and p != "."]
    if ".." in parts:
        raise ValueError(f"store key {key!r} must not contain '..'")
    return parts


def relative_href(from_key: str, to_key: str) -> str:
    """The href of ``to_key`` as seen from the object at ``from_key`` (both store keys).

    Pure string work (``posixpath.relpath`` consults the working directory and was the
    writer's hottest call)."""
    base = _key_parts(from_key)[:-1]
    target = _key_parts(to_key)
    common = 0
    for a, b in zip(base, target[:-1]):
        if a != b:
            break
        common += 1
    ups = len(base) - common
    rest = "/".join(target[common:])
    return "../" * ups + rest if ups else "./" + rest


def resolve_href(from_key: str, href: str) -> str | None:
    """The store key an href of the object at ``from_key`` points to (a ``#fragment`` or
    ``?query`` ignored); None for absolute URLs and paths, and for hrefs leaving the store root.
    The one resolver: validation, catalog writing and releases all use it."""
    if "://" in href or href.startswith("/") or re.match(r"^[a-zA-Z]:[\\/]", href):
        return None
    href = href.split("#", 1)[0].split("?", 1)[0]
    parts = _key_parts(from_key)[:-1]
    for p in href.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(p)
    return "/".join(parts) if parts else None


# ----------------------------------------------------------------------------- texts


@dataclass(frozen=True)
class CatalogTexts:
    """The metadata kept as data in ``catalog/`` (see catalog/README.md)."""

    root: dict[str, Any]
    collections: dict[str, Any]
    license: dict[str, Any]
    citation: dict[str, Any]
    providers: list[dict[str, Any]]
    item_assets: dict[str, dict[str, Any]]
    collection_only: dict[str, list[str]]  # item-asset fields kept in the collection only ("asset", "band")
    collection_assets: dict[str, dict[str, Any]]
    derived_from: dict[str, dict[str, Any]]
    license_text: bytes
    folder: str


_REQUIRED: dict[str, tuple[str, ...]] = {
    "root.json": ("id", "title", "description"),
    "collections.json": (
        "title_template",
        "description_template",
        "keywords",
        "season_titles",
        "scene_title_template",
        "scene_description_template",
        "processing_lineage_template",
    ),
    "license.json": ("license", "title", "href", "text_file", "attribution"),
    "citation.json": ("doi", "citation"),
    "providers.json": ("providers",),
    "item_assets.json": ("s1", "s2", "thumbnail"),
    "collection_assets.json": ("items", "default"),
    "derived_from.json": ("s1", "s2"),
}


def default_catalog_dir() -> Path:
    """The repository's ``catalog/``: in a checkout the folder itself; in an installed wheel the
    copy packaged as ``sen12stac.catalog_texts`` (pyproject maps the one onto the other)."""
    here = Path(__file__).resolve().parent
    checkout = here.parent / "catalog"
    return checkout if checkout.is_dir() else here / "catalog_texts"


def load_catalog_texts(folder: str | Path | None = None) -> CatalogTexts:
    """Read the catalog texts (JSON) from ``folder`` (default: the checkout's ``catalog/``)."""
    path = Path(folder) if folder is not None else default_catalog_dir()
    if not path.is_dir():
        raise ConfigError(
            f"catalog texts folder {path} does not exist",
            fix="pass the folder holding root.json, collections.json, ... (the repository's catalog/)",
        )
    loaded: dict[str, Any] = {}
    for name, required in _REQUIRED.items():
        f = path / name
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"catalog text file {f} is missing", fix=f"restore {name} in {path}") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"catalog text file {f} is not valid JSON ({exc})", fix="correct the JSON syntax") from None
        if not isinstance(data, dict):
            raise ConfigError(f"catalog text file {f} must hold a JSON object", fix="wrap the content in {...}")
        missing = [k for k in required if k not in data]
        if missing:
            raise ConfigError(f"catalog text file {f} lacks {', '.join(missing)}", fix=f"add the key(s) to {name}")
        data.pop("$comment", None)
        loaded[name] = data
    text_file = path / loaded["license.json"]["text_file"]
    try:
        license_text = text_file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"license text {text_file} is missing", fix="restore it or correct text_file in license.json") from None
    return CatalogTexts(
        root=loaded["root.json"],
        collections=loaded["collections.json"],
        license=loaded["license.json"],
        citation=loaded["citation.json"],
        providers=list(loaded["providers.json"]["providers"]),
        item_assets={k: v for k, v in loaded["item_assets.json"].items() if not k.startswith("$")},
        collection_only={k: list(v) for k, v in loaded["item_assets.json"].get("$collection_only", {}).items()},
        collection_assets=loaded["collection_assets.json"],
        derived_from=loaded["derived_from.json"],
        license_text=license_text,
        folder=str(path),
    )


# ----------------------------------------------------------------------------- helpers


def to_json_bytes(obj: Mapping[str, Any], *, compact: bool = False) -> bytes:
    """Deterministic JSON: the builders' key order, UTF-8, trailing newline.

    Items are written compact (300k files) with orjson (a stac-geoparquet dependency,
    faster than the json module; same key order, shortest float repr); catalogs and
    collections indented with the json module.
    """
    if compact:
        if _orjson is not None:
            return _orjson.dumps(obj) + b"\n"
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    else:
        text = json.dumps(obj, ensure_ascii=False, indent=2, allow_nan=False)
    return (text + "\n").encode("utf-8")


def parse_datetime(value: str, what: str) -> datetime:
    """An ISO 8601 string as an aware UTC datetime (naive values are taken as UTC)."""
    try:
        d = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except (ValueError, AttributeError, TypeError):
        raise ValidationFailed(
            f"{what} {value!r} is not an ISO 8601 datetime",
            [f"{what}: {value!r} is not ISO 8601"],
            fix="give datetimes as e.g. 2017-04-12T10:20:31Z",
        ) from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    return d.astimezone(timezone.utc)


def _num(x: float, digits: int = 6) -> float:
    """A JSON-safe rounded number (NaN/inf are refused: they are not JSON)."""
    if x is None or not math.isfinite(x):
        raise ValidationFailed(f"number {x!r} is not finite", [f"non-finite value {x!r}"], fix="check the band statistics of the scene")
    return round(float(x), digits)


def split_software(software: str) -> dict[str, str]:
    """``"sen12stac 0.1.0"`` -> ``{"sen12stac": "0.1.0"}`` (processing:software)."""
    parts = software.strip().rsplit(" ", 1)
    if len(parts) == 2 and parts[0] and parts[1]:
        return {parts[0]: parts[1]}
    return {software.strip() or "sen12stac": "unknown"}


_EPSG_CODE = re.compile(r"^[A-Za-z]+:\d+$")


@lru_cache(maxsize=128)
def _transformer(crs: str):
    from pyproj import Transformer

    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True)


@lru_cache(maxsize=128)
def _proj_fields(crs: str) -> tuple[tuple[str, Any], ...]:
    if _EPSG_CODE.match(crs):
        return (("proj:code", crs.upper()),)
    from pyproj import CRS

    c = CRS.from_user_input(crs)
    epsg = c.to_epsg()
    if epsg is not None:
        return (("proj:code", f"EPSG:{epsg}"),)
    return (("proj:code", None), ("proj:wkt2", c.to_wkt()))


def grid_bounds(grid: Grid) -> list[float]:
    """[minx, miny, maxx, maxy] of a grid in its own CRS (corners of the outer pixel edges)."""
    ta, tb, tc, td, te, tf = grid.transform
    xs = [tc + ta * c + tb * r for c, r in ((0, 0), (grid.width, 0), (0, grid.height), (grid.width, grid.height))]
    ys = [tf + td * c + te * r for c, r in ((0, 0), (grid.width, 0), (0, grid.height), (grid.width, grid.height))]
    return [float(min(xs)), float(min(ys)), float(max(xs)), float(max(ys))]


def _ring_ccw(ring: list[list[float]]) -> bool:
    area = 0.0
    for (x0, y0), (x1, y1) in zip(ring, ring[1:]):
        area += x0 * y1 - x1 * y0
    return area > 0


def footprint(grid: Grid, densify: int = DENSIFY) -> tuple[dict[str, Any], list[float]]:
    """The grid's outline in WGS84 (lon/lat) as a GeoJSON geometry and its bbox.

    Each edge is densified into ``densify`` segments before reprojection (pyproj), the
    ring is counter-clockwise (RFC 7946), coordinates are rounded to 7 decimals. A
    footprint crossing the antimeridian becomes a MultiPolygon split at +-180 with a
    bbox whose west > east (RFC 7946 section 5.2).
    """
    ta, tb, tc, td, te, tf = grid.transform
    w, h = grid.width, grid.height
    n = max(1, int(densify))
    # pixel-space ring: top-left -> bottom-left -> bottom-right -> top-right -> top-left
    pts: list[tuple[float, float]] = []
    for i in range(n):
        pts.append((0.0, h * i / n))
    for i in range(n):
        pts.append((w * i / n, float(h)))
    for i in range(n):
        pts.append((float(w), h - h * i / n))
    for i in range(n):
        pts.append((w - w * i / n, 0.0))
    xs = [tc + ta * col + tb * row for col, row in pts]
    ys = [tf + td * col + te * row for col, row in pts]
    lons, lats = _transformer(grid.crs).transform(xs, ys)
    ring = [[round(float(x), COORD_DIGITS), round(float(y), COORD_DIGITS)] for x, y in zip(lons, lats)]
    if not all(math.isfinite(v) for pt in ring for v in pt):
        raise ValidationFailed(
            f"footprint of grid {grid.crs} {grid.transform} does not reproject to WGS84",
            [f"grid {grid.crs} {grid.transform}: non-finite WGS84 coordinates"],
            fix="check the patch grid's CRS and transform",
        )
    ring.append(list(ring[0]))
    if not _ring_ccw(ring):
        ring.reverse()
    lon_values = [p[0] for p in ring]
    lat_values = [p[1] for p in ring]
    if max(lon_values) - min(lon_values) <= 180.0:
        bbox = [min(lon_values), min(lat_values), max(lon_values), max(lat_values)]
        return {"type": "Polygon", "coordinates": [ring]}, bbox
    return _split_antimeridian(ring)


def _split_antimeridian(ring: list[list[float]]) -> tuple[dict[str, Any], list[float]]:
    from shapely.geometry import Polygon, box
    from shapely.geometry.polygon import orient

    shifted = [[x + 360.0 if x < 0 else x, y] for x, y in ring]
    poly = Polygon(shifted)
    east = poly.intersection(box(0.0, -90.0, 180.0, 90.0))  # lon in [0, 180]
    west = poly.intersection(box(180.0, -90.0, 540.0, 90.0))  # lon in [180, 540) -> shift back
    parts = []
    for part, shift in ((east, 0.0), (west, -360.0)):
        for p in getattr(part, "geoms", [part]):
            if p.is_empty or p.geom_type != "Polygon":
                continue
            p = orient(p, sign=1.0)
            coords = [[round(x + shift, COORD_DIGITS), round(y, COORD_DIGITS)] for x, y in p.exterior.coords]
            parts.append([coords])
    lats = [y for _x, y in ring]
    west_edge = min(x for x, _ in shifted if x >= 0.0)
    east_edge = max(x - 360.0 for x, _ in shifted if x > 180.0) if any(x > 180.0 for x, _ in shifted) else 180.0
    return {"type": "MultiPolygon", "coordinates": parts}, [round(west_edge, COORD_DIGITS), min(lats), round(east_edge, COORD_DIGITS), max(lats)]


def _asset_base(template: Mapping[str, Any], *, drop: Iterable[str] = ()) -> dict[str, Any]:
    out = {}
    for k, v in template.items():
        if k in drop or k.startswith("$"):
            continue
        out[k] = json.loads(json.dumps(v))  # deep copy of plain JSON
    return out


def asset_from_record(
    record: AssetRecord, from_key: str, template: Mapping[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """An asset dict for ``record`` as seen from the object at ``from_key`` (relative href):
    the template's fields, the record's media type, ``extra``, then file:size/file:checksum."""
    d: dict[str, Any] = {"href": relative_href(from_key, record.key)}
    d.update(_asset_base(template or {}))
    if record.media_type:
        d["type"] = record.media_type  # the record knows what was written
    d.update(extra)
    d["file:size"] = int(record.size)
    d["file:checksum"] = record.checksum
    return d


def item_asset_template(texts: CatalogTexts, name: str) -> dict[str, Any]:
    """The item_assets template of asset ``name`` minus the fields kept in the collection only."""
    drop_asset = set(texts.collection_only.get("asset", ()))
    drop_band = set(texts.collection_only.get("band", ()))
    out = _asset_base(texts.item_assets[name], drop=drop_asset)
    for bands_key in ("eo:bands", "raster:bands", "bands"):
        if isinstance(out.get(bands_key), list):
            out[bands_key] = [{k: v for k, v in b.items() if k not in drop_band} for b in out[bands_key]]
    return out


def band_stats_dict(stats: BandStats) -> dict[str, Any]:
    """All of a BandStats, JSON-safe (the scene catalogs carry these)."""
    return {
        "band": stats.band,
        "mean": _num(stats.mean),
        "std": _num(stats.std),
        "clip_min": _num(stats.clip_min),
        "clip_max": _num(stats.clip_max),
        "stretch_min": _num(stats.stretch_min),
        "stretch_max": _num(stats.stretch_max),
        "scale": _num(stats.scale, 9),
        "offset": _num(stats.offset, 9),
        "valid_pixels": int(stats.valid_pixels),
    }


def _band_fields(stats: BandStats, valid_total: int | None) -> dict[str, Any]:
    statistics: dict[str, Any] = {
        "mean": _num(stats.mean),
        "stddev": _num(stats.std),
        "minimum": _num(stats.stretch_min),
        "maximum": _num(stats.stretch_max),
    }
    if valid_total:
        statistics["valid_percent"] = _num(100.0 * stats.valid_pixels / valid_total, 4)
    return {
        "scale": _num(stats.scale, 9),
        "offset": _num(stats.offset, 9),
        "statistics": statistics,
    }


def _raster_bands(template: list[dict[str, Any]], stats: tuple[BandStats, ...], what: str) -> list[dict[str, Any]]:
    if len(stats) != len(template):
        raise ValidationFailed(
            f"{what}: {len(stats)} band statistics for {len(template)} bands",
            [f"{what}: expected {len(template)} BandStats, got {len(stats)}"],
            fix="give one BandStats per published band, in band order",
        )
    bands = []
    for tmpl, st in zip(template, stats):
        b = dict(tmpl)
        if "name" in b and st.band and b["name"] != st.band:
            raise ValidationFailed(
                f"{what}: band statistics for {st.band!r} where {b['name']!r} is expected",
                [f"{what}: band order {st.band} != {b['name']}"],
                fix="give BandStats in the published band order (S1: VV; S2: B04, B03, B02)",
            )
        b.update(_band_fields(st, None))
        bands.append(b)
    return bands


def _acquisition_asset_fields(acq: Acquisition, what: str) -> dict[str, Any]:
    """Per-asset acquisition fields. An unknown time of day (a local scene whose sidecar gives
    only a date, or only a season) leaves ``datetime`` out; the range must then be known."""
    d: dict[str, Any] = {}
    if acq.datetime:
        d["datetime"] = format_datetime(parse_datetime(acq.datetime, f"{what}.datetime"))
    elif not (acq.start_datetime and acq.end_datetime):
        raise ConfigError(
            f"{what} has no datetime and no start_datetime/end_datetime",
            fix="give the acquisition time, or at least the date range, in the scene's metadata",
        )
    if acq.start_datetime:
        d["start_datetime"] = format_datetime(parse_datetime(acq.start_datetime, f"{what}.start_datetime"))
    if acq.end_datetime:
        d["end_datetime"] = format_datetime(parse_datetime(acq.end_datetime, f"{what}.end_datetime"))
    if acq.platform:
        d["platform"] = acq.platform
    d["constellation"] = acq.constellation
    d["instruments"] = [acq.instrument]
    if acq.orbit_state:
        d["sat:orbit_state"] = acq.orbit_state
    if acq.relative_orbit is not None:
        d["sat:relative_orbit"] = int(acq.relative_orbit)
    return d


def _derived_from_links(acq: Acquisition, templates: Mapping[str, Any]) -> list[dict[str, Any]]:
    t = templates.get(acq.sensor)
    links = []
    for pid in acq.product_ids:
        if not pid:
            continue
        if pid.startswith(("http://", "https://")):
            links.append({"rel": "derived_from", "href": pid})
            continue
        if not t:
            continue
        name = pid.rsplit("/", 1)[-1]
        if name.endswith(".SAFE"):
            name = name[: -len(".SAFE")]
        link = {
            "rel": "derived_from",
            "href": t["href_template"].format(name=quote(name, safe=""), product_id=quote(pid, safe="")),
        }
        if t.get("type"):
            link["type"] = t["type"]
        links.append(link)
    return links


# ----------------------------------------------------------------------------- items


@dataclass
class SceneContext:
    """What every item of one scene shares, built once per scene (the per-item cost is
    then the footprint and a few dict copies)."""

    record: PatchRecord  # the record this context was built from
    split: str
    properties: dict[str, Any]
    s1_asset: dict[str, Any]
    s2_asset: dict[str, Any]
    thumbnail_asset: dict[str, Any]
    derived_from: list[dict[str, Any]]
    extensions: list[str]

    def matches(self, record: PatchRecord) -> bool:
        r = self.record
        return record is r or (
            record.scene_id == r.scene_id
            and record.s1 == r.s1
            and record.s2 == r.s2
            and record.s1_stats == r.s1_stats
            and record.s2_stats == r.s2_stats
            and record.scene_qc == r.scene_qc
            and record.roi == r.roi
            and record.source == r.source
            and record.software == r.software
            and record.seed == r.seed
            and record.season == r.season
        )


def scene_context(
    record: PatchRecord, split: str, texts: CatalogTexts, config: BuildConfig | None = None
) -> SceneContext:
    """The shared part of the items of ``record``'s scene."""
    s1f = _acquisition_asset_fields(record.s1, f"{record.pair_id} s1")
    s2f = _acquisition_asset_fields(record.s2, f"{record.pair_id} s2")
    times = []
    for f in (s1f, s2f):
        for k in ("datetime", "start_datetime", "end_datetime"):
            if k in f:
                times.append(parse_datetime(f[k], k))
    props: dict[str, Any] = {
        "datetime": s2f.get("datetime"),  # the S2 acquisition; null when only its date range is known
        "start_datetime": format_datetime(min(times)),
        "end_datetime": format_datetime(max(times)),
        "instruments": sorted({record.s1.instrument, record.s2.instrument}),
        "gsd": _num(abs(record.grid.transform[0])),
    }
    props.update(SAR_FIELDS)
    if record.s1.orbit_state:
        props["sat:orbit_state"] = record.s1.orbit_state
    if record.s1.relative_orbit is not None:
        props["sat:relative_orbit"] = int(record.s1.relative_orbit)
    props["ml-aoi:split"] = split
    props["processing:software"] = split_software(record.software)
    props["sen12:set"] = record.set_name
    props["sen12:season"] = record.season
    props["sen12:seed"] = int(record.seed)
    props["sen12:scene_id"] = record.scene_id
    props["sen12:scene_index"] = int(record.scene_index)
    props["sen12:roi_lon"] = _num(record.roi.lon)
    props["sen12:roi_lat"] = _num(record.roi.lat)
    props["sen12:roi_kind"] = record.roi.kind
    props["sen12:source"] = record.source
    if record.s2.cloud_cover is not None:
        props["sen12:s2_product_cloud_cover"] = _num(record.s2.cloud_cover, 3)
    sqc = record.scene_qc
    scene_qc: dict[str, Any] = {
        "accepted": bool(sqc.accepted),
        "reasons": list(sqc.reasons),
        "metrics": {k: _num(v) for k, v in sorted(sqc.metrics.items())},
    }
    if sqc.override is not None:
        scene_qc["override"] = sqc.override
    if sqc.override_note is not None:
        scene_qc["override_note"] = sqc.override_note
    props["sen12:scene_qc"] = scene_qc

    s1_asset = item_asset_template(texts, "s1")
    s1_asset.update(s1f)
    s1_asset["raster:bands"] = _raster_bands(s1_asset["raster:bands"], record.s1_stats, f"{record.scene_id} s1")
    s2_asset = item_asset_template(texts, "s2")
    s2_asset.update(s2f)
    s2_asset["raster:bands"] = _raster_bands(s2_asset["raster:bands"], record.s2_stats, f"{record.scene_id} s2")
    thumb = item_asset_template(texts, "thumbnail")

    if record.source in texts.derived_from.get("skip_sources", ()):
        derived = []
    else:
        derived = _derived_from_links(record.s1, texts.derived_from) + _derived_from_links(record.s2, texts.derived_from)
    exts = ["eo", "file", "ml-aoi", "processing", "proj", "raster", "sar"]
    if "sat:orbit_state" in props or "sat:relative_orbit" in props:
        exts.append("sat")
    return SceneContext(
        record=record,
        split=split,
        properties=props,
        s1_asset=s1_asset,
        s2_asset=s2_asset,
        thumbnail_asset=thumb,
        derived_from=derived,
        extensions=sorted(EXT[e] for e in exts),
    )


def build_item(
    record: PatchRecord,
    split: str,
    *,
    texts: CatalogTexts | None = None,
    config: BuildConfig | None = None,
    context: SceneContext | None = None,
) -> dict[str, Any]:
    """The STAC item (dict) of one published patch pair, with hrefs relative to its key
    :func:`item_key`. Pass ``context`` (from :func:`scene_context`) to share the
    scene-level work between the items of a scene."""
    if context is None or not context.matches(record) or context.split != split:
        context = scene_context(record, split, texts or load_catalog_texts(), config)
    key = item_key(record.set_name, record.scene_index, record.pair_id)
    geometry, bbox = footprint(record.grid)
    props = dict(context.properties)
    qc = record.qc
    props["eo:cloud_cover"] = _num(100.0 * qc.cloud_fraction, 4)
    props.update(dict(_proj_fields(record.grid.crs)))
    props["proj:shape"] = [int(record.grid.height), int(record.grid.width)]
    props["proj:transform"] = [float(v) for v in record.grid.transform]
    props["proj:bbox"] = grid_bounds(record.grid)
    props["sen12:patch_index"] = int(record.patch_index)
    props["sen12:row"] = int(record.row)
    props["sen12:col"] = int(record.col)
    props["sen12:nodata_fraction"] = _num(qc.nodata_fraction)
    props["sen12:cloud_fraction"] = _num(qc.cloud_fraction)
    props["sen12:seamline"] = bool(qc.seamline)
    props["sen12:qc_reasons"] = list(qc.reasons)

    assets: dict[str, Any] = {}
    for name, base in (("s1", context.s1_asset), ("s2", context.s2_asset), ("thumbnail", context.thumbnail_asset)):
        rec = record.assets.get(name)
        if rec is None:
            if name == "thumbnail":
                continue
            raise ValidationFailed(
                f"patch {record.pair_id} has no {name!r} asset record",
                [f"{record.pair_id}: missing asset record {name}"],
                fix="publish both COGs before adding the scene to the catalog",
            )
        a: dict[str, Any] = {"href": relative_href(key, rec.key)}
        a.update(base)
        if rec.media_type and name == "thumbnail":
            a["type"] = rec.media_type
        a["file:size"] = int(rec.size)
        a["file:checksum"] = rec.checksum
        assets[name] = a

    links = [
        {"rel": "root", "href": relative_href(key, ROOT_KEY), "type": JSON_MEDIA_TYPE},
        {"rel": "parent", "href": "./catalog.json", "type": JSON_MEDIA_TYPE},
        {"rel": "collection", "href": relative_href(key, collection_key(record.set_name)), "type": JSON_MEDIA_TYPE},
    ]
    links.extend(dict(link) for link in context.derived_from)
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": list(context.extensions),
        "id": record.pair_id,
        "geometry": geometry,
        "bbox": bbox,
        "properties": props,
        "links": links,
        "assets": assets,
        "collection": record.set_name,
    }


def rebase_item(item: Mapping[str, Any], from_key: str, to_key: str) -> dict[str, Any]:
    """A copy of ``item`` (stored at ``from_key``) whose relative hrefs are relative to
    ``to_key`` instead -- used for the geoparquet rows (hrefs relative to the parquet file)."""
    out = dict(item)

    def fix(href: str) -> str:
        target = resolve_href(from_key, href)
        return href if target is None else relative_href(to_key, target)

    out["links"] = [dict(link, href=fix(link["href"])) for link in item.get("links", [])]
    out["assets"] = {k: dict(a, href=fix(a["href"])) for k, a in item.get("assets", {}).items()}
    return out


# ----------------------------------------------------------------------------- summaries


_SPLIT_ORDER = {"train": 0, "validate": 1, "test": 2}


@dataclass
class CollectionSummary:
    """Everything a collection needs from its items, kept small: O(scenes), not O(items)."""

    set_name: str
    n_items: int = 0
    west: float = math.inf
    south: float = math.inf
    east: float = -math.inf
    north: float = -math.inf
    crosses_antimeridian: bool = False
    start: datetime | None = None
    end: datetime | None = None
    scenes: dict[int, str] = field(default_factory=dict)  # scene index -> scene id
    scene_bboxes: dict[int, list[float]] = field(default_factory=dict)  # scene index -> union of its items' bboxes
    splits: dict[str, int] = field(default_factory=dict)  # items per split
    scene_splits: dict[str, int] = field(default_factory=dict)  # scenes per split
    platforms: set[str] = field(default_factory=set)
    constellations: set[str] = field(default_factory=set)
    instruments: set[str] = field(default_factory=set)
    orbit_states: set[str] = field(default_factory=set)
    relative_orbits: set[int] = field(default_factory=set)
    proj_codes: set[str] = field(default_factory=set)
    roi_kinds: set[str] = field(default_factory=set)
    gsd: set[float] = field(default_factory=set)
    cloud_min: float = math.inf
    cloud_max: float = -math.inf
    software: dict[str, str] = field(default_factory=dict)
    sources: set[str] = field(default_factory=set)
    scene_status: dict[str, int] = field(default_factory=dict)
    patch_positions: int = 0
    patch_rejections: dict[str, int] = field(default_factory=dict)

    def add_scene_result(self, status: str, patch_positions: int, rejections: Mapping[str, int]) -> None:
        self.scene_status[status] = self.scene_status.get(status, 0) + 1
        self.patch_positions += int(patch_positions)
        for k, v in rejections.items():
            self.patch_rejections[k] = self.patch_rejections.get(k, 0) + int(v)

    def add_scene(self, scene_index: int, scene_id: str, split: str) -> None:
        self.scenes[int(scene_index)] = scene_id
        self.scene_splits[split] = self.scene_splits.get(split, 0) + 1

    def add_item(self, item: Mapping[str, Any]) -> None:
        self.n_items += 1
        w, s, e, n = item["bbox"][:4]
        p = item["properties"]
        if w > e:
            self.crosses_antimeridian = True
            w, e = -180.0, 180.0
        else:
            self.west, self.east = min(self.west, w), max(self.east, e)
        self.south, self.north = min(self.south, s), max(self.north, n)
        idx = p.get("sen12:scene_index")
        if idx is not None:
            sb = self.scene_bboxes.get(idx)
            if sb is None:
                self.scene_bboxes[idx] = [w, s, e, n]
            else:
                sb[0], sb[1], sb[2], sb[3] = min(sb[0], w), min(sb[1], s), max(sb[2], e), max(sb[3], n)
        st = parse_datetime(p.get("start_datetime") or p["datetime"], "start_datetime")
        en = parse_datetime(p.get("end_datetime") or p["datetime"], "end_datetime")
        self.start = st if self.start is None else min(self.start, st)
        self.end = en if self.end is None else max(self.end, en)
        split = p.get("ml-aoi:split")
        if split:
            self.splits[split] = self.splits.get(split, 0) + 1
        for a in item["assets"].values():
            if "platform" in a:
                self.platforms.add(a["platform"])
            if "constellation" in a:
                self.constellations.add(a["constellation"])
            self.instruments.update(a.get("instruments", ()))
        if "sat:orbit_state" in p:  # the item-level sat fields are Sentinel-1's
            self.orbit_states.add(p["sat:orbit_state"])
        if "sat:relative_orbit" in p:
            self.relative_orbits.add(int(p["sat:relative_orbit"]))
        if p.get("proj:code"):
            self.proj_codes.add(p["proj:code"])
        if "sen12:roi_kind" in p:
            self.roi_kinds.add(p["sen12:roi_kind"])
        if "gsd" in p:
            self.gsd.add(p["gsd"])
        if "eo:cloud_cover" in p:
            self.cloud_min = min(self.cloud_min, p["eo:cloud_cover"])
            self.cloud_max = max(self.cloud_max, p["eo:cloud_cover"])
        self.software.update(p.get("processing:software", {}))
        if "sen12:source" in p:
            self.sources.add(p["sen12:source"])

    def bbox(self) -> list[float]:
        if self.n_items == 0:
            raise ValidationFailed(f"collection {self.set_name} has no items", [f"{self.set_name}: no items"], fix="publish at least one scene")
        if self.crosses_antimeridian or not math.isfinite(self.west):
            return [-180.0, self.south, 180.0, self.north]
        return [self.west, self.south, self.east, self.north]

    def extent_bboxes(self) -> list[list[float]]:
        """The overall box, then one box per scene when there are several scenes (STAC 1.1:
        further boxes describe sub-extents, and a single sub-extent is not allowed)."""
        boxes = [self.bbox()]
        if len(self.scene_bboxes) > 1:
            boxes.extend(self.scene_bboxes[i] for i in sorted(self.scene_bboxes))
        return boxes

    def summaries(self) -> dict[str, Any]:
        s: dict[str, Any] = {
            "platform": sorted(self.platforms),
            "constellation": sorted(self.constellations),
            "instruments": sorted(self.instruments),
            "gsd": sorted(self.gsd),
        }
        s = {k: v for k, v in s.items() if v}  # STAC: a summary list is never empty (unknown platforms)
        for k, v in SAR_FIELDS.items():
            s[k] = list(v) if isinstance(v, list) else [v]
        if self.orbit_states:
            s["sat:orbit_state"] = sorted(self.orbit_states)
        if self.relative_orbits:
            s["sat:relative_orbit"] = {"minimum": min(self.relative_orbits), "maximum": max(self.relative_orbits)}
        if math.isfinite(self.cloud_min):
            s["eo:cloud_cover"] = {"minimum": self.cloud_min, "maximum": self.cloud_max}
        if self.proj_codes:
            s["proj:code"] = sorted(self.proj_codes)
        s["ml-aoi:split"] = sorted(self.splits, key=lambda k: _SPLIT_ORDER.get(k, 9))
        if self.roi_kinds:
            s["sen12:roi_kind"] = sorted(self.roi_kinds)
        return s


def _fmt_template(template: str, **values: Any) -> str:
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"catalog text template {template[:60]!r}... cannot be filled ({exc})",
            fix=f"use only the placeholders {', '.join(sorted(values))}",
        ) from None


def build_scene_catalog(
    set_name: str,
    scene_index: int,
    scene_id: str,
    item_ids: list[str],
    *,
    texts: CatalogTexts,
    roi: Any,
    split: str,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The sub-catalog of one scene, with an ``item`` link per item (in the given order)."""
    key = scene_catalog_key(set_name, scene_index)
    c = texts.collections
    values = dict(
        set_name=set_name,
        scene_index=scene_index,
        scene_id=scene_id,
        lon=roi.lon,
        lat=roi.lat,
        kind=roi.kind,
        n_items=len(item_ids),
        split=split,
    )
    links = [
        {"rel": "root", "href": relative_href(key, ROOT_KEY), "type": JSON_MEDIA_TYPE},
        {"rel": "parent", "href": relative_href(key, collection_key(set_name)), "type": JSON_MEDIA_TYPE},
    ]
    for iid in item_ids:
        links.append({"rel": "item", "href": relative_href(key, item_key(set_name, scene_index, iid)), "type": GEOJSON_MEDIA_TYPE})
    out: dict[str, Any] = {
        "type": "Catalog",
        "stac_version": STAC_VERSION,
        "stac_extensions": [],
        "id": scene_id,
        "title": _fmt_template(c["scene_title_template"], **values),
        "description": _fmt_template(c["scene_description_template"], **values),
        "sen12:scene_index": int(scene_index),
        "sen12:split": split,
        "sen12:roi_lon": _num(roi.lon),
        "sen12:roi_lat": _num(roi.lat),
        "sen12:roi_kind": roi.kind,
    }
    if extra:
        out.update(extra)
    out["links"] = links
    return out


def build_collection(
    summary: CollectionSummary,
    *,
    texts: CatalogTexts,
    assets: Mapping[str, dict[str, Any]],
    counts: Mapping[str, Any] | None = None,
    config: BuildConfig | None = None,
) -> dict[str, Any]:
    """The collection of one season set, with extents and summaries from ``summary``."""
    set_name = summary.set_name
    key = collection_key(set_name)
    season = season_by_set_name(set_name)
    c = texts.collections
    values = dict(
        set_name=set_name,
        season=season.name,
        season_title=c["season_titles"].get(season.name, season.name),
        seed=season.seed,
        start=season.start.isoformat(),
        end=season.end.isoformat(),
    )
    providers = []
    for p in texts.providers:
        if "sources" in p and not (set(p["sources"]) & summary.sources):
            continue
        q = {k: v for k, v in p.items() if k != "sources" and not k.startswith("$")}
        if "processor" in q.get("roles", ()) and q.get("name") == "sen12stac" and summary.software:
            q["processing:software"] = dict(sorted(summary.software.items()))
            if config is not None:
                q["processing:lineage"] = _fmt_template(
                    c["processing_lineage_template"],
                    source="/".join(sorted(summary.sources)) or "unknown",
                    clip_sigma=config.preprocess.clip_sigma,
                    p_low=config.preprocess.stretch_percentiles[0],
                    p_high=config.preprocess.stretch_percentiles[1],
                    stride=config.stride,
                )
        providers.append(q)
    has_processing = any(k.startswith("processing:") for p in providers for k in p)

    lic = texts.license
    links: list[dict[str, Any]] = [
        {"rel": "root", "href": relative_href(key, ROOT_KEY), "type": JSON_MEDIA_TYPE},
        {"rel": "parent", "href": relative_href(key, ROOT_KEY), "type": JSON_MEDIA_TYPE},
        {"rel": "license", "href": lic["href"], "type": "text/html", "title": lic["title"]},
        {"rel": "license", "href": relative_href(key, lic["text_file"]), "type": "text/plain", "title": f"{lic['title']}: legal code"},
        {"rel": "cite-as", "href": f"https://doi.org/{texts.citation['doi']}", "title": texts.citation["citation"]},
    ]
    for idx in sorted(summary.scenes):
        links.append(
            {
                "rel": "child",
                "href": relative_href(key, scene_catalog_key(set_name, idx)),
                "type": JSON_MEDIA_TYPE,
                "title": summary.scenes[idx],
            }
        )
    item_assets = {k: _asset_base(v) for k, v in texts.item_assets.items()}
    exts = ["eo", "file", "ml-aoi", "proj", "raster", "sar", "sci"]  # proj/sar/sat: used in summaries
    if summary.orbit_states or summary.relative_orbits:
        exts.append("sat")
    if has_processing:
        exts.append("processing")
    rec_counts: dict[str, Any] = {
        "items": summary.n_items,
        "scenes_with_items": len(summary.scenes),
    }
    for status, n in sorted(summary.scene_status.items()):
        rec_counts[f"scenes_{status}"] = n
    if summary.patch_rejections:
        rec_counts["patch_rejections"] = dict(sorted(summary.patch_rejections.items()))
    for k, v in sorted((counts or {}).items()):
        rec_counts[k] = v
    out: dict[str, Any] = {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "stac_extensions": sorted(EXT[e] for e in exts),
        "id": set_name,
        "title": _fmt_template(c["title_template"], **values),
        "description": _fmt_template(c["description_template"], **values),
        "keywords": list(c["keywords"]),
        "license": lic["license"],
        "providers": providers,
        "extent": {
            "spatial": {"bbox": summary.extent_bboxes()},
            "temporal": {"interval": [[format_datetime(summary.start), format_datetime(summary.end)]]},  # type: ignore[arg-type]
        },
        "summaries": summary.summaries(),
        "item_assets": item_assets,
        "sci:doi": texts.citation["doi"],
        "sci:citation": texts.citation["citation"],
        "sen12:season": season.name,
        "sen12:seed": season.seed,
        "sen12:date_window": [season.start.isoformat(), season.end.isoformat()],
        "sen12:attribution": lic["attribution"],
        "sen12:counts": rec_counts,
        "sen12:split_items": {k: summary.splits[k] for k in sorted(summary.splits, key=lambda k: _SPLIT_ORDER.get(k, 9))},
        "sen12:split_scenes": {k: summary.scene_splits[k] for k in sorted(summary.scene_splits, key=lambda k: _SPLIT_ORDER.get(k, 9))},
    }
    if config is not None:
        out["sen12:recipe"] = {
            "patch_size": config.patch_size,
            "stride": config.stride,
            "pixel_size": config.pixel_size,
            "clip_sigma": config.preprocess.clip_sigma,
            "stretch_percentiles": list(config.preprocess.stretch_percentiles),
            "split_scheme": config.split.scheme,
            "split_ratios": list(config.split.ratios),
            "split_holdout_season": config.split.holdout_season,
        }
    out["assets"] = dict(assets)
    out["links"] = links
    return out


def build_root(collection_ids: list[str], *, texts: CatalogTexts) -> dict[str, Any]:
    """The root catalog ``sen1-2`` with a ``child`` link per collection."""
    r = texts.root
    lic = texts.license
    links: list[dict[str, Any]] = [
        {"rel": "root", "href": "./catalog.json", "type": JSON_MEDIA_TYPE, "title": r["title"]},
        {"rel": "license", "href": lic["href"], "type": "text/html", "title": lic["title"]},
        {"rel": "license", "href": relative_href(ROOT_KEY, lic["text_file"]), "type": "text/plain", "title": f"{lic['title']}: legal code"},
        {"rel": "cite-as", "href": f"https://doi.org/{texts.citation['doi']}", "title": texts.citation["citation"]},
    ]
    for cid in sorted(collection_ids):
        links.append({"rel": "child", "href": relative_href(ROOT_KEY, collection_key(cid)), "type": JSON_MEDIA_TYPE, "title": cid})
    return {
        "type": "Catalog",
        "stac_version": STAC_VERSION,
        "stac_extensions": [],
        "id": r["id"],
        "title": r["title"],
        "description": r["description"],
        "links": links,
    }
