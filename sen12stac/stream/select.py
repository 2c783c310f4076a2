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
from ..runtime.collector import collector_paused
from .location import Location, Missing, resolve, split_absolute
from .records import Asset, Pair, ShardRef, asset_names, bands_of, recipe_of
from .shards import shard_ref
from ..shards.layout import SHARD_MEDIA_TYPE

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
    expr = _cql2(query.filter) if query.filter is not None else None
    root = _get_json(location, catalog_key, "root catalog")
    wanted = None if query.seasons is None else {season_by_name(s).set_name for s in query.seasons}
    children = [resolve(catalog_key, l["href"]) for l in root.get("links", []) if l.get("rel") == "child" and l.get("href")]
    if not children:
        raise ConfigError(f"{location.join(catalog_key)} links no collections", fix="point at a release's root catalog (not the landing catalog of several releases: add /vX.Y.Z)")
    with collector_paused():  # a million small acyclic objects (pairs, assets): reference counting frees them
        return _select_collections(location, query, expr, children, wanted)


def _select_collections(location: Location, query: Query, expr: Any, children: list[str], wanted: set[str] | None) -> Selection:
    import pyarrow as pa
    import pyarrow.parquet as pq

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
            parquet = pq.ParquetFile(pa.BufferReader(location.get(pkey, plain=True)))
            table = parquet.read(columns=_columns_to_read(parquet.schema_arrow, expr.to_json() if expr is not None else None))
        except Missing:
            raise StoreError(f"{location.join(pkey)} (the items of {coll.get('id')}) does not exist", fix="re-publish or repair the release (sen12stac verify)") from None
        except pa.ArrowInvalid as exc:
            raise StoreError(f"{location.join(pkey)} is not a readable parquet file: {exc}", fix="re-publish or repair the release (sen12stac verify)") from None
        table = _filter_table(table, query)
        if expr is not None and table.num_rows:
            table = _filter_cql2(table, expr)
        pairs.extend(_pairs_from_table(table, pkey))
    pairs.sort(key=lambda p: p.id)
    return Selection(location, pairs, query)


_PAIR_COLUMNS = ("id", "collection", "ml-aoi:split", "datetime", "bbox", "sen12:scene_id", "sen12:recipe")  # what _pairs_from_table reads
# what _asset (with bands_of and shard_ref) reads of an asset: a shard copy is an alternate, or the asset itself (type, archive)
_ASSET_KEYS = ("href", "type", "file:size", "file:checksum", "raster:bands", "bands", "alternate", "archive")
_STREAMED = ("s1", "s2", "label")  # every asset any recipe streams (records.asset_names)


def _columns_to_read(schema: Any, expr_json: Any) -> list[str] | None:
    """The parquet columns a selection needs (None: all of them): the pairs' own, the asset
    fields they keep, and the filter's (the properties it names; geometry for a spatial test;
    what the per-item rest reads). Reading only these is what makes a large release quick:
    the items' other columns (links, projection, the assets' descriptions) are most of the file."""
    import pyarrow as pa

    from .pushdown import columns_of, plan

    names = schema.names
    cols = [c for c in _PAIR_COLUMNS if c in names]
    if "assets" in names and pa.types.is_struct(schema.field("assets").type):
        at = schema.field("assets").type
        for key in _STREAMED:
            i = at.get_field_index(key)
            if i >= 0 and pa.types.is_struct(at.field(i).type):
                st = at.field(i).type
                cols += [f"assets.{key}.{k}" for k in _ASSET_KEYS if st.get_field_index(k) >= 0]
    elif "assets" in names:
        cols.append("assets")
    if expr_json is not None:
        p = plan(expr_json, schema)
        need = columns_of(p.pushed, schema)
        if p.rest:
            rest = _columns_for({"op": "and", "args": p.rest}, schema)
            if len(rest) == len(names):
                return None
            need |= set(rest)
        cols += [c for c in names if c in need and c not in cols]
    return cols


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


def _filter_cql2(table: Any, expr: Any) -> Any:
    """The rows whose filter is true (cql2's per-item semantics, unknown = not selected): the
    top-level conjuncts that translate run as Arrow compute over the columns
    (:mod:`.pushdown`), ``cql2`` matches the rest item by item on the rows they keep."""
    import cql2

    from .pushdown import evaluate, plan

    p = plan(expr.to_json(), table.schema)
    if p.pushed:
        table = table.filter(evaluate(p.pushed, table), null_selection_behavior="drop")
    if p.rest and table.num_rows:
        rest = p.rest[0] if len(p.rest) == 1 else {"op": "and", "args": p.rest}
        table = table.filter(_matches(cql2.Expr(rest), table.select(_columns_for(rest, table.schema))))
    return table


_ITEM_SHAPE = ("id", "collection", "geometry", "bbox", "datetime")  # what stac_table_to_items needs to make an item
_WHOLE_ITEM = {"type", "stac_version", "stac_extensions", "links", "assets", "properties"}


def _columns_for(node: Any, schema: Any) -> list[str]:
    """The columns the per-item evaluation of ``node`` reads: the item's shape and the
    properties it names (all columns when it names item fields beyond those)."""
    names: set[str] = set()

    def walk(n: Any) -> None:
        if isinstance(n, dict):
            if set(n) == {"property"} and isinstance(n["property"], str):
                names.add(n["property"].split(".", 1)[0])
            for v in n.values():
                walk(v)
        elif isinstance(n, list):
            for v in n:
                walk(v)

    walk(node)
    if names & _WHOLE_ITEM:
        return list(schema.names)
    return [c for c in schema.names if c in _ITEM_SHAPE or c in names]


def _matches(expr: Any, table: Any) -> Any:
    """cql2's ``matches`` on each row as a STAC item dict; an item the filter leaves unknown
    (a null or missing operand, operands of different types: cql2 raises) is not selected."""
    import pyarrow as pa
    from stac_geoparquet.arrow import stac_table_to_items

    def one(item: dict) -> bool:
        try:
            return bool(expr.matches(item))
        except Exception:  # noqa: BLE001 - cql2 cannot reduce the filter to a boolean for this item
            return False

    return pa.array([one(item) for item in stac_table_to_items(table)], pa.bool_())


def _pairs_from_table(table: Any, parquet_key: str) -> list[Pair]:
    """The pairs of ``table``'s rows, column by column: values shared by many rows (asset
    bands, datetimes, href folders) are converted once; the same pairs as :func:`_pair` makes
    of each row's dict (:func:`_pairs_row_by_row`, used where the columns have another shape)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = table.num_rows
    if n == 0:
        return []
    cols = set(table.column_names)
    if "assets" not in cols or not pa.types.is_struct(table.schema.field("assets").type) or ("bbox" in cols and not pa.types.is_struct(table.schema.field("bbox").type)):
        return list(_pairs_row_by_row(table, parquet_key))

    def plain(name: str) -> list:
        return table[name].to_pylist() if name in cols else [None] * n

    ids, colls, splits, scenes = plain("id"), plain("collection"), plain("ml-aoi:split"), plain("sen12:scene_id")
    dts = _shared(table["datetime"], _iso) if "datetime" in cols else [None] * n
    if "bbox" in cols:
        bb = table["bbox"].combine_chunks()
        parts = [pc.struct_field(bb, f) for f in ("xmin", "ymin", "xmax", "ymax")]
        parts = [p.to_pylist() if pa.types.is_floating(p.type) else [None if v is None else float(v) for v in p.to_pylist()] for p in parts]
        if bb.null_count == 0 and not any(None in p for p in parts):
            bboxes = list(zip(*parts))
        else:
            valid = bb.is_valid().to_pylist()
            bboxes = [(a, b, c, d) if ok and None not in (a, b, c, d) else None for ok, a, b, c, d in zip(valid, *parts)]
    else:
        bboxes = [None] * n
    recipes = set(plain("sen12:recipe"))
    if len(recipes) > 1:  # one parquet file is one collection of one release, so one recipe; else item by item
        return list(_pairs_row_by_row(table, parquet_key))
    spec = recipe_of(ids[0], recipes.pop())
    assets = table["assets"].combine_chunks()
    by_key = {}
    for key in asset_names(spec.name):
        made = _assets_of(assets, key, ids, parquet_key)
        if made is None:
            return list(_pairs_row_by_row(table, parquet_key))
        by_key[key] = made
    labels = by_key.get("label", [None] * n)
    return [Pair(id=ids[i], collection=colls[i] or "", split=splits[i], datetime=dts[i], bbox=bboxes[i], scene_id=scenes[i],
                 s1=by_key["s1"][i], s2=by_key["s2"][i], label=labels[i], recipe=spec.name) for i in range(n)]


def _shared(column: Any, convert) -> list:
    """``convert`` of each value of an Arrow column, called once per distinct value."""
    import pyarrow.compute as pc

    enc = pc.dictionary_encode(column.combine_chunks())
    values = [convert(v) for v in enc.dictionary.to_pylist()]
    return [None if i is None else values[i] for i in enc.indices.to_pylist()]


def _assets_of(assets: Any, key: str, ids: list, parquet_key: str) -> list[Asset] | None:
    """Asset ``key`` of every row (what :func:`_asset` makes of each row's dict), or None when
    the bands have a shape this does not group (then the rows go one by one)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = assets.type
    i = t.get_field_index(key)
    if i < 0 or not pa.types.is_struct(t.field(i).type):
        raise ConfigError(f"item {ids[0]} has no {key!r} asset", fix="select from a sen12stac release (every item has s1 and s2 COGs)")
    sub = pc.struct_field(assets, key)
    st = sub.type
    n = len(sub)
    present = pc.and_(assets.is_valid(), sub.is_valid()).to_pylist()
    hrefs = pc.struct_field(sub, "href").to_pylist() if st.get_field_index("href") >= 0 else [None] * n
    for row, (ok, h) in enumerate(zip(present, hrefs)):
        if not ok or not h:
            raise ConfigError(f"item {ids[row]} has no {key!r} asset", fix="select from a sen12stac release (every item has s1 and s2 COGs)")
    sizes = pc.struct_field(sub, "file:size").to_pylist() if st.get_field_index("file:size") >= 0 else [None] * n
    sums = pc.struct_field(sub, "file:checksum").to_pylist() if st.get_field_index("file:checksum") >= 0 else [None] * n
    band_cols = [k for k in ("raster:bands", "bands") if st.get_field_index(k) >= 0]
    group = _groups([pc.struct_field(sub, k) for k in band_cols], n)
    if group is None:
        return None
    codes, first = group
    bands = [bands_of({k: pc.struct_field(sub, k)[row].as_py() for k in band_cols}) for row in first]
    href_of = _Resolver(parquet_key)
    refs = _shard_refs(sub, n, href_of)
    if refs is None:
        return None
    return [Asset(href=href_of(h), size=z, checksum=c, bands=bands[g], shard=r) for h, z, c, g, r in zip(hrefs, sizes, sums, codes.tolist(), refs)]


def _shard_refs(sub: Any, n: int, href_of) -> list[ShardRef | None] | None:
    """Each row's :class:`ShardRef` (what :func:`~sen12stac.stream.shards.shard_ref` makes of the
    asset dict), column by column: the ``shard`` alternate (``--layout both``) or, when the asset
    is itself a shard (``--layout shards``), its own archive entry. None: a shape not handled here."""
    import pyarrow as pa
    import pyarrow.compute as pc

    st = sub.type
    holder, only = None, [False] * n
    if st.get_field_index("alternate") >= 0 and pa.types.is_struct(st.field("alternate").type):
        alt = pc.struct_field(sub, "alternate")
        if alt.type.get_field_index("shard") >= 0:
            holder = pc.struct_field(alt, "shard")
    if holder is None and st.get_field_index("archive") >= 0:
        holder = sub
        types = pc.struct_field(sub, "type").to_pylist() if st.get_field_index("type") >= 0 else [None] * n
        only = [t == SHARD_MEDIA_TYPE for t in types]
    if holder is None:
        return [None] * n
    ht = holder.type
    if not pa.types.is_struct(ht) or ht.get_field_index("archive") < 0 or ht.get_field_index("href") < 0:
        return None
    archive = pc.struct_field(holder, "archive")
    if not (pa.types.is_list(archive.type) or pa.types.is_large_list(archive.type)) or not pa.types.is_struct(archive.type.value_type):
        return None
    et = archive.type.value_type
    if et.get_field_index("range") < 0:
        return None
    present = pc.and_(holder.is_valid(), archive.is_valid()).to_pylist()
    lengths = pc.list_value_length(archive).to_pylist()
    if any(ok and not k for ok, k in zip(present, lengths)):
        return None  # an empty archive list: item by item
    # an asset of its own with an archive entry is a shard only when it is a ZIP (as member_entry decides)
    has_entry = present if holder is not sub else [ok and o for ok, o in zip(present, only)]
    if not any(has_entry):
        return [None] * n
    first_entry = pc.list_element(archive, 0)
    ranges = pc.struct_field(first_entry, "range").to_pylist()
    sums = pc.struct_field(first_entry, "file:checksum").to_pylist() if et.get_field_index("file:checksum") >= 0 else [None] * n
    shard_hrefs = pc.struct_field(holder, "href").to_pylist()
    out: list[ShardRef | None] = []
    for ok, is_only, h, r, c in zip(has_entry, only, shard_hrefs, ranges, sums):
        if not ok or not h or not r:
            out.append(None)
            continue
        first, last = int(r[0]), int(r[1])
        out.append(ShardRef(href_of(str(h)), first, last - first + 1, c, bool(is_only)))
    return out


def _groups(columns: list, n: int) -> tuple[Any, list[int]] | None:
    """Rows grouped by equal values of ``columns`` (lists of flat structs, e.g. an asset's
    bands): (group of each row, first row of each group); None for shapes it does not group
    (lists of different lengths, nulls, nested lists)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = []
    for col in columns:
        if col.null_count:
            return None
        if not (pa.types.is_list(col.type) or pa.types.is_large_list(col.type)):
            return None
        lengths = pc.list_value_length(col).to_numpy(zero_copy_only=False)
        if len(lengths) and (lengths != lengths[0]).any():
            return None
        k = int(lengths[0]) if len(lengths) else 0
        leaves = _leaves(pc.list_flatten(col))
        if leaves is None:
            return None
        for leaf in leaves:
            enc = pc.fill_null(pc.dictionary_encode(leaf).indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
            parts.append(enc.reshape(n, k))
    if not parts:
        return np.zeros(n, np.int64), [0]
    keys = np.concatenate(parts, axis=1)
    if n and (keys == keys[0]).all():  # the usual case: every row the same
        return np.zeros(n, np.int64), [0]
    _, first, codes = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    return codes.reshape(-1), first.tolist()


def _leaves(arr: Any) -> list | None:
    """The scalar leaf arrays of a struct array (None when it holds lists or other nesting)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_struct(arr.type):
        out = []
        for j in range(arr.type.num_fields):
            sub = _leaves(pc.struct_field(arr, j))
            if sub is None:
                return None
            out += sub
        if arr.null_count:
            out.append(arr.is_valid())
        return out
    if pa.types.is_nested(arr.type):
        return None
    return [arr]


class _Resolver:
    """``resolve(parquet_key, href)`` once per href folder: the hrefs of a scene share theirs."""

    def __init__(self, base_key: str) -> None:
        self.base = base_key
        self.prefix: dict[str, str] = {}

    def __call__(self, href: str) -> str:
        head, sep, tail = href.rpartition("/")
        if "://" in href or href.startswith("/") or "#" in href or "?" in href or tail in ("", ".", ".."):
            return resolve(self.base, href)
        p = self.prefix.get(head)
        if p is None:
            key = resolve(self.base, href)
            if not key.endswith(tail):
                return key
            p = self.prefix[head] = key[: len(key) - len(tail)]
        return p + tail


def _pairs_row_by_row(table: Any, parquet_key: str) -> Iterator[Pair]:
    cols = set(table.column_names)
    ids = table["id"].to_pylist()
    assets = table["assets"].to_pylist() if "assets" in cols else [None] * len(ids)
    colls = table["collection"].to_pylist()
    splits = table["ml-aoi:split"].to_pylist() if "ml-aoi:split" in cols else [None] * len(ids)
    dts = table["datetime"].to_pylist() if "datetime" in cols else [None] * len(ids)
    bboxes = table["bbox"].to_pylist() if "bbox" in cols else [None] * len(ids)
    scenes = table["sen12:scene_id"].to_pylist() if "sen12:scene_id" in cols else [None] * len(ids)
    recipes = table["sen12:recipe"].to_pylist() if "sen12:recipe" in cols else [None] * len(ids)
    for i, item_id in enumerate(ids):
        bb = bboxes[i]
        bbox = (bb["xmin"], bb["ymin"], bb["xmax"], bb["ymax"]) if isinstance(bb, dict) else (tuple(bb) if bb else None)
        yield _pair(item_id, colls[i], splits[i], dts[i], bbox, scenes[i], assets[i], lambda href: resolve(parquet_key, href), recipes[i])


def _iso(dt: Any) -> str | None:
    if dt is None:
        return None
    if isinstance(dt, datetime):
        return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return str(dt)


def _asset(item_id: str, assets: dict, key: str, href_of) -> Asset:
    a = (assets or {}).get(key)
    if not a or not a.get("href"):
        raise ConfigError(f"item {item_id} has no {key!r} asset", fix="select from a sen12stac release (every item has s1 and s2 COGs, and a v2 item a label)")
    return Asset(href=href_of(a["href"]), size=a.get("file:size"), checksum=a.get("file:checksum"), bands=bands_of(a), shard=shard_ref(a, href_of))


def _pair(item_id, collection, split, dt, bbox, scene_id, assets, href_of, recipe=None) -> Pair:
    spec = recipe_of(item_id, recipe)  # the assets a pair has: from the item's sen12:recipe, never from its files
    got = {k: _asset(item_id, assets, k, href_of) for k in asset_names(spec.name)}
    return Pair(id=item_id, collection=collection or "", split=split, datetime=_iso(dt), bbox=tuple(float(v) for v in bbox) if bbox else None,
                scene_id=scene_id, s1=got["s1"], s2=got["s2"], label=got.get("label"), recipe=spec.name)


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
                 item.get("assets", {}), href_of, p.get("sen12:recipe"))
