"""Choose patch pairs: from a release's stac-geoparquet files, or from a STAC API.

A release is read through its own files, one GET each and no LIST: ``catalog.json`` ->
the season collections it links (only those asked for) -> each collection's
``stac-items`` geoparquet asset. Filters run in pyarrow on the parquet columns (seasons,
split, bbox, datetime, ids); a CQL2 filter (text or JSON) is then evaluated per remaining
item with the ``cql2`` package (cql2-rs), which implements the whole of CQL2 (basic and
advanced comparison, ``LIKE``, ``IN``, ``BETWEEN``, ``IS NULL``, spatial ``S_*`` and
temporal ``T_*`` operators, array operators, arithmetic) against item properties, ``id``,
``collection`` and ``geometry``. Nested fields (``"processing:software".sen12stac``) cannot be
named in CQL2 text.

A STAC API goes through pystac-client's ``search`` (collections, bbox, datetime, ids, and
a CQL2-JSON filter with the split folded in), so the server does the filtering.
"""
from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Sequence

from ..errors import ConfigError, StoreError
from ..recipe.seasons import season_by_name
from .location import Location, Missing, resolve, split_absolute
from .records import Asset, Pair, bands_of
from .shards import shard_ref

SPLITS = ("train", "validate", "test")


@dataclass(frozen=True)
class Query:
    """A selection. Every field narrows it; None means "any"."""

    seasons: tuple[str, ...] | None = None
    splits: tuple[str, ...] | None = None
    bbox: tuple[float, float, float, float] | None = None
    datetime: str | None = None  # RFC 3339 instant or interval "a/b" (".." or empty = open)
    filter: str | dict | None = None  # CQL2 text or CQL2 JSON
    ids: tuple[str, ...] | None = None

    @classmethod
    def make(cls, *, seasons: str | Iterable[str] | None = None, split: str | Iterable[str] | None = None, bbox: Sequence[float] | None = None,
             datetime: str | None = None, filter: str | dict | None = None, ids: Iterable[str] | None = None) -> "Query":
        seasons_t = _names(seasons)
        if seasons_t is not None:
            seasons_t = tuple(season_by_name(s).name for s in seasons_t)
        splits_t = _names(split)
        for s in splits_t or ():
            if s not in SPLITS:
                raise ConfigError(f"unknown split {s!r}", fix=f"use one of {', '.join(SPLITS)}")
        bbox_t = None
        if bbox is not None:
            bbox_t = tuple(float(v) for v in (bbox.split(",") if isinstance(bbox, str) else bbox))
            if len(bbox_t) != 4 or bbox_t[1] > bbox_t[3]:
                raise ConfigError(f"bbox {bbox!r} is not west,south,east,north", fix="give four numbers: west,south,east,north in degrees")
        if datetime is not None:
            _interval(datetime)  # validates
        if filter is not None:
            _cql2(filter)  # validates
        return cls(seasons_t, splits_t, bbox_t, datetime, filter, tuple(ids) if ids is not None else None)


def _names(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    out = tuple(dict.fromkeys(v.strip().lower() for v in items if v and v.strip()))
    return out or None


def _parse_instant(text: str, end: bool) -> datetime | None:
    text = text.strip()
    if text in ("", ".."):
        return None
    try:
        if len(text) == 10:  # a date: the whole day
            d = datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
            return d.replace(hour=23, minute=59, second=59, microsecond=999999) if end else d
        d = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"datetime {text!r} is not RFC 3339", fix="use e.g. 2017-01-01T00:00:00Z, 2017-01-01, or an interval a/b with .. for open ends") from None
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


def _interval(text: str) -> tuple[datetime | None, datetime | None]:
    if "/" in text:
        a, b = text.split("/", 1)
        return _parse_instant(a, False), _parse_instant(b, True)
    if len(text.strip()) == 10:
        return _parse_instant(text, False), _parse_instant(text, True)
    d = _parse_instant(text, False)
    return d, d


def _cql2(flt: str | dict) -> Any:
    import cql2

    try:
        expr = cql2.Expr(flt if isinstance(flt, (str, dict)) else json.loads(flt))
        expr.validate()
        return expr
    except Exception as exc:  # noqa: BLE001 - cql2's ParseError / ValidationError
        first = str(exc).strip().splitlines()
        raise ConfigError(f"CQL2 filter {flt if isinstance(flt, str) else json.dumps(flt)!r} does not parse: {' '.join(l.strip() for l in first[:6])}",
                          fix='write CQL2 text such as "eo:cloud_cover" < 5 AND "ml-aoi:split" = \'test\' (quote names with : or -), or CQL2 JSON') from None


@dataclass
class Selection:
    """The chosen pairs (sorted by id: the same release and query give the same list
    everywhere) and where their files live."""

    location: Location
    pairs: list[Pair] = field(default_factory=list)
    query: Query = field(default_factory=Query)

    def __len__(self) -> int:
        return len(self.pairs)

    def __iter__(self) -> Iterator[Pair]:
        return iter(self.pairs)

    def __getitem__(self, i: int) -> Pair:
        return self.pairs[i]

    def where(self, pair: Pair, asset: str) -> tuple[Location, str]:
        """(location, key) of one asset of ``pair``."""
        href = pair.asset(asset).href
        if "://" in href or href.startswith("/"):
            return split_absolute(href, self.location)
        return self.location, href


# -- releases (static catalogs) ------------------------------------------------------------
def _get_json(loc: Location, key: str, what: str) -> dict:
    try:
        data = loc.get(key, plain=True)
    except Missing:
        raise ConfigError(f"{loc.join(key)} does not exist: {loc.url} is not a sen12stac release ({what} missing)",
                          fix="point at a release folder holding catalog.json (e.g. s3://bucket/prefix/v1.0.0 or ./demo)") from None
    try:
        return json.loads(data)
    except ValueError:
        raise ConfigError(f"{loc.join(key)} is not JSON", fix="point at a release folder holding catalog.json") from None


def select_release(location: Location, query: Query, *, catalog_key: str = "catalog.json") -> Selection:
    """Read the release's catalog, its (chosen) collections and their geoparquet files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    expr = _cql2(query.filter) if query.filter is not None else None
    root = _get_json(location, catalog_key, "root catalog")
    wanted = None if query.seasons is None else {season_by_name(s).set_name for s in query.seasons}
    children = [resolve(catalog_key, l["href"]) for l in root.get("links", []) if l.get("rel") == "child" and l.get("href")]
    if not children:
        raise ConfigError(f"{location.join(catalog_key)} links no collections", fix="point at a release's root catalog (not the landing catalog of several releases: add /vX.Y.Z)")
    pairs: list[Pair] = []
    for ckey in children:
        set_name = posixpath.basename(posixpath.dirname(ckey))
        if wanted is not None and set_name not in wanted:
            continue
        coll = _get_json(location, ckey, "collection")
        if coll.get("type") != "Collection":
            continue
        items = [a for a in (coll.get("assets") or {}).values() if "stac-items" in (a.get("roles") or []) or a.get("type") == "application/vnd.apache.parquet"]
        if not items:
            raise ConfigError(f"collection {coll.get('id')} ({location.join(ckey)}) has no stac-items geoparquet asset",
                              fix="use a release built by sen12stac (each collection carries items.parquet)")
        pkey = resolve(ckey, items[0]["href"])
        try:
            table = pq.read_table(pa.BufferReader(location.get(pkey, plain=True)))
        except Missing:
            raise StoreError(f"{location.join(pkey)} (the items of {coll.get('id')}) does not exist", fix="re-publish or repair the release (sen12stac verify)") from None
        except pa.ArrowInvalid as exc:
            raise StoreError(f"{location.join(pkey)} is not a readable parquet file: {exc}", fix="re-publish or repair the release (sen12stac verify)") from None
        table = _filter_table(table, query)
        if expr is not None and table.num_rows:
            from stac_geoparquet.arrow import stac_table_to_items

            table = table.filter(pa.array([bool(expr.matches(item)) for item in stac_table_to_items(table)]))
        pairs.extend(_pairs_from_table(table, pkey))
    pairs.sort(key=lambda p: p.id)
    return Selection(location, pairs, query)


def _filter_table(table: Any, q: Query) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    mask = None

    def both(m):
        nonlocal mask
        mask = m if mask is None else pc.and_(mask, m)

    if q.splits is not None:
        both(pc.is_in(table["ml-aoi:split"], value_set=pa.array(list(q.splits))))
    if q.ids is not None:
        both(pc.is_in(table["id"], value_set=pa.array(list(q.ids), pa.string())))
    if q.bbox is not None:
        w, s, e, n = q.bbox
        bb = table["bbox"]
        xmin, ymin, xmax, ymax = (pc.struct_field(bb, f) for f in ("xmin", "ymin", "xmax", "ymax"))
        lat = pc.and_(pc.less_equal(ymin, n), pc.greater_equal(ymax, s))
        if w <= e:
            lon = pc.and_(pc.less_equal(xmin, e), pc.greater_equal(xmax, w))
        else:  # the query crosses the antimeridian
            lon = pc.or_(pc.greater_equal(xmax, w), pc.less_equal(xmin, e))
        both(pc.and_(lat, lon))
    if q.datetime is not None:
        lo, hi = _interval(q.datetime)
        col = table["datetime"]
        if lo is not None:
            both(pc.greater_equal(col, pa.scalar(lo, col.type)))
        if hi is not None:
            both(pc.less_equal(col, pa.scalar(hi, col.type)))
    if mask is None:
        return table
    return table.filter(pc.fill_null(mask, False))


def _pairs_from_table(table: Any, parquet_key: str) -> Iterator[Pair]:
    cols = set(table.column_names)
    ids = table["id"].to_pylist()
    assets = table["assets"].to_pylist()
    colls = table["collection"].to_pylist()
    splits = table["ml-aoi:split"].to_pylist() if "ml-aoi:split" in cols else [None] * len(ids)
    dts = table["datetime"].to_pylist() if "datetime" in cols else [None] * len(ids)
    bboxes = table["bbox"].to_pylist() if "bbox" in cols else [None] * len(ids)
    scenes = table["sen12:scene_id"].to_pylist() if "sen12:scene_id" in cols else [None] * len(ids)
    for i, item_id in enumerate(ids):
        bb = bboxes[i]
        bbox = (bb["xmin"], bb["ymin"], bb["xmax"], bb["ymax"]) if isinstance(bb, dict) else (tuple(bb) if bb else None)
        yield _pair(item_id, colls[i], splits[i], dts[i], bbox, scenes[i], assets[i], lambda href: resolve(parquet_key, href))


def _iso(dt: Any) -> str | None:
    if dt is None:
        return None
    if isinstance(dt, datetime):
        return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return str(dt)


def _asset(item_id: str, assets: dict, key: str, href_of) -> Asset:
    a = (assets or {}).get(key)
    if not a or not a.get("href"):
        raise ConfigError(f"item {item_id} has no {key!r} asset", fix="select from a sen12stac release (every item has s1 and s2 COGs)")
    return Asset(href=href_of(a["href"]), size=a.get("file:size"), checksum=a.get("file:checksum"), bands=bands_of(a), shard=shard_ref(a, href_of))


def _pair(item_id, collection, split, dt, bbox, scene_id, assets, href_of) -> Pair:
    return Pair(id=item_id, collection=collection or "", split=split, datetime=_iso(dt), bbox=tuple(float(v) for v in bbox) if bbox else None,
                scene_id=scene_id, s1=_asset(item_id, assets, "s1", href_of), s2=_asset(item_id, assets, "s2", href_of))


# -- STAC API ---------------------------------------------------------------------------------
def select_api(url: str, query: Query, *, location: Location, max_items: int | None = None) -> Selection:
    """Search a STAC API with pystac-client; asset hrefs are absolute (``location`` gives
    the S3 settings to read ``s3://`` hrefs with)."""
    from pystac_client import Client
    from pystac_client.exceptions import APIError

    flt = _cql2(query.filter).to_json() if query.filter is not None else None
    if query.splits is not None:
        split_expr = {"op": "in", "args": [{"property": "ml-aoi:split"}, list(query.splits)]}
        flt = split_expr if flt is None else {"op": "and", "args": [flt, split_expr]}
    collections = [season_by_name(s).set_name for s in query.seasons] if query.seasons is not None else None
    try:
        client = Client.open(url)
        search = client.search(collections=collections, bbox=list(query.bbox) if query.bbox else None, datetime=query.datetime,
                               ids=list(query.ids) if query.ids is not None else None, filter=flt, filter_lang="cql2-json" if flt else None,
                               max_items=max_items, limit=100)
        items = list(search.items_as_dicts())
    except APIError as exc:
        raise StoreError(f"the STAC API at {url} refused the search: {str(exc)[:300]}", fix="check the API URL and that it supports the filter extension") from None
    except OSError as exc:
        raise StoreError(f"cannot reach the STAC API at {url}: {exc}", fix="check the URL and that the API is running") from None
    pairs = [pair_from_item(it) for it in items]
    pairs.sort(key=lambda p: p.id)
    return Selection(location, pairs, query)


def pair_from_item(item: dict, href_of=lambda h: h) -> Pair:
    """A :class:`Pair` from a STAC item dict (hrefs kept as given: absolute from an API)."""
    p = item.get("properties", {})
    return _pair(item["id"], item.get("collection"), p.get("ml-aoi:split"), p.get("datetime"), item.get("bbox"), p.get("sen12:scene_id"),
                 item.get("assets", {}), href_of)
