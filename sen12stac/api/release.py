"""A release as the API loader reads it: its root catalog, its collections and their items.

The release is read through the store interface (a folder, ``file://`` or ``s3://``; a
release folder, a build folder or a landing catalog, whose ``latest-version`` is followed).
Items come from each collection's stac-geoparquet file when it has one (object storage: one
GET per collection instead of one per item), else from the item JSON through the scene
catalogs.

The geoparquet's record batches become item dicts by :func:`items_from_batch`, written here from
the stac-geoparquet specification (properties are top-level columns, ``bbox`` a struct,
``geometry`` WKB, timestamps typed): Arrow converts a whole batch at once, where
stac-geoparquet's public ``stac_table_to_items`` converts row by row, 3-4x slower per item
(``bench/bench_api.py --read-paths``): with it a whole load took 1.8x as long
(``--load-cpu``), over the load's 1-minute goal (docs/api.md, Speed). The two give the
same items (tests/test_api_rows.py), but that datetimes are written as published
(``...T02:57:35Z``, :func:`sen12stac.models.format_datetime`) rather than with microseconds.
"""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from typing import Any, Iterator

from ..errors import ConfigError
from ..models import format_datetime
from ..stac.hrefs import resolve_href
from ..store import ObjectStore, open_store
from ..store.base import NotFound
from ..store.prefixed import PrefixedStore

ROOT_KEY = "catalog.json"
NOT_A_RELEASE_FIX = "pass the folder or URL of a sen12stac build or release (the folder holding catalog.json, e.g. s3://bucket/prefix/v1.0.0) or of its landing catalog"


@dataclass(frozen=True)
class Release:
    """Where a release lives: its store (rooted at the release folder) and the URL its hrefs become absolute to."""

    store: ObjectStore
    url: str  # the release folder, as given or followed from the landing catalog
    href_base: str  # absolute prefix for hrefs: the folder's URL, or --asset-base-url
    root: dict[str, Any]
    version: str | None


@dataclass(frozen=True)
class CollectionRef:
    id: str
    key: str  # collection.json's key in the release
    content: dict[str, Any]


def _read_json(store: ObjectStore, key: str, what: str) -> dict[str, Any]:
    try:
        data = store.get(key)
    except NotFound:
        raise ConfigError(f"{store.join(key)} does not exist, so {what} is not a sen12stac release", fix=NOT_A_RELEASE_FIX) from None
    try:
        obj = json.loads(data)
    except ValueError:
        raise ConfigError(f"{store.join(key)} is not JSON, so {what} is not a sen12stac release", fix=NOT_A_RELEASE_FIX) from None
    if not isinstance(obj, dict):
        raise ConfigError(f"{store.join(key)} is not a STAC object, so {what} is not a sen12stac release", fix=NOT_A_RELEASE_FIX)
    return obj


def _is_landing(root: dict[str, Any]) -> bool:
    return any(l.get("rel") == "child" and l.get("version") for l in root.get("links", []) or [])


def open_release(url: str, *, asset_base_url: str | None = None, **s3_options: Any) -> Release:
    """Open ``url`` (folder, ``file://``, ``s3://``; the folder or its ``catalog.json``).

    A landing catalog leads to its latest release. Checks that the root is a STAC catalog
    with collections before anything is loaded."""
    folder = url[: -len(ROOT_KEY)].rstrip("/") if url.rstrip("/").endswith("/" + ROOT_KEY) or url == ROOT_KEY else url.rstrip("/")
    folder = folder or "."
    store = open_store(folder, **s3_options) if folder.startswith("s3://") else open_store(folder)
    store.check()  # S3: one LIST; a missing bucket, bad credentials, an unreachable endpoint fail here
    base = (asset_base_url or store.url).rstrip("/")
    root = _read_json(store, ROOT_KEY, url)
    if root.get("type") != "Catalog":
        raise ConfigError(f"{store.join(ROOT_KEY)} is a {root.get('type')!r}, not a root Catalog", fix=NOT_A_RELEASE_FIX)
    if _is_landing(root):
        latest = next((l for l in root.get("links", []) if l.get("rel") == "latest-version"), None)
        if latest is None:
            raise ConfigError(f"the landing catalog {store.join(ROOT_KEY)} has no latest-version link", fix="pass a release folder (.../vX.Y.Z) instead")
        target = resolve_href(ROOT_KEY, latest["href"])
        if target is None or not target.endswith("/" + ROOT_KEY):
            raise ConfigError(f"the landing catalog's latest-version link {latest['href']!r} does not lead to a release folder", fix="pass a release folder (.../vX.Y.Z) instead")
        sub = target[: -len(ROOT_KEY) - 1]
        store = PrefixedStore(store, sub)
        base = f"{base}/{sub}"
        root = _read_json(store, ROOT_KEY, url + f" (latest release {sub})")
    if not any(l.get("rel") == "child" for l in root.get("links", []) or []):
        raise ConfigError(f"{store.join(ROOT_KEY)} has no child collections", fix=NOT_A_RELEASE_FIX)
    return Release(store=store, url=store.url, href_base=base, root=root, version=root.get("version"))


def read_collections(release: Release) -> list[CollectionRef]:
    out = []
    for link in release.root.get("links", []):
        if link.get("rel") != "child":
            continue
        key = resolve_href(ROOT_KEY, link["href"])
        if key is None:
            raise ConfigError(f"{release.store.join(ROOT_KEY)} links a child outside the release ({link['href']})", fix=NOT_A_RELEASE_FIX)
        obj = _read_json(release.store, key, release.url)
        if obj.get("type") != "Collection":
            raise ConfigError(f"{release.store.join(key)} is a {obj.get('type')!r}, not a Collection", fix=NOT_A_RELEASE_FIX)
        out.append(CollectionRef(obj["id"], key, obj))
    return out


def geoparquet_key(coll: CollectionRef) -> str | None:
    """The key of the collection's stac-geoparquet file (its ``stac-items`` asset), if it names one."""
    for asset in (coll.content.get("assets") or {}).values():
        if "stac-items" in (asset.get("roles") or []) and "parquet" in (asset.get("type") or "application/vnd.apache.parquet"):
            return resolve_href(coll.key, asset["href"])
    return None


def item_source(release: Release, coll: CollectionRef, source: str = "auto") -> tuple[str, str | None]:
    """``("geoparquet", key)`` or ``("json", None)``: where the collection's items are read from.
    ``source`` ``"auto"`` takes the geoparquet when the file exists."""
    key = geoparquet_key(coll)
    has_pq = key is not None and release.store.exists(key)
    if source == "auto":
        source = "geoparquet" if has_pq else "json"
    if source == "geoparquet" and not has_pq:
        raise ConfigError(f"collection {coll.id} has no stac-geoparquet file in {release.url}", fix="load it with source='json'")
    return source, (key if source == "geoparquet" else None)


def read_geoparquet(release: Release, key: str) -> Any:
    """The whole file as an Arrow table (one GET)."""
    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(release.store.get(key)))


def items_from_json(release: Release, key: str, obj: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Walk the catalogs below ``key`` (breadth first), yielding (item key, item)."""
    for link in obj.get("links", []) or []:
        rel = link.get("rel")
        if rel not in ("item", "child"):
            continue
        child_key = resolve_href(key, link["href"])
        if child_key is None:
            continue
        child = _read_json(release.store, child_key, release.url)
        if rel == "item":
            yield child_key, child
        else:
            yield from items_from_json(release, child_key, child)


# ----------------------------------------------------------------------------- geoparquet -> items

# stac-geoparquet keeps these item keys as columns of their own; every other column is a property
ITEM_KEYS = ("type", "stac_version", "stac_extensions", "id", "geometry", "bbox", "links", "assets", "collection")
_BBOX_2D = ("xmin", "ymin", "xmax", "ymax")
_BBOX_3D = ("xmin", "ymin", "zmin", "xmax", "ymax", "zmax")


def _lists(coords: Any) -> Any:
    return [_lists(c) for c in coords] if isinstance(coords, (list, tuple)) else coords


def _geojson(geometries: Any) -> list[dict[str, Any] | None]:
    """A WKB column as GeoJSON dicts (shapely parses the whole column at once)."""
    import shapely

    out: list[dict[str, Any] | None] = []
    for g in shapely.from_wkb(geometries.to_numpy(zero_copy_only=False)):
        if g is None:
            out.append(None)
        else:
            gi = g.__geo_interface__
            out.append({"type": gi["type"], "coordinates": _lists(gi["coordinates"])})
    return out


def _timestamps_as_text(column: Any) -> list[str | None]:
    """A timestamp column as :func:`~sen12stac.models.format_datetime` writes each value: by Arrow
    for the whole column when no value has fractional seconds, else value by value."""
    import pyarrow as pa
    import pyarrow.compute as pc

    utc = column.cast(pa.timestamp("us", tz="UTC"))
    seconds = utc.cast(pa.timestamp("s", tz="UTC"), safe=False)
    if pc.all(pc.equal(seconds.cast(utc.type), utc)).as_py() in (True, None):
        return pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%SZ").to_pylist()
    return [None if v is None else format_datetime(v) for v in utc.to_pylist()]


def _has_other_geometries(batch: Any) -> bool:
    """``proj:geometry`` columns (a property, or in an asset), which are WKB in the file too."""
    import pyarrow as pa

    if "proj:geometry" in batch.schema.names:
        return True
    if "assets" in batch.schema.names and pa.types.is_struct(batch.schema.field("assets").type):
        for asset in batch.schema.field("assets").type:
            if pa.types.is_struct(asset.type) and asset.type.get_field_index("proj:geometry") >= 0:
                return True
    return False


def items_from_batch(batch: Any) -> list[dict[str, Any]]:
    """The items of one stac-geoparquet record batch, as the published item dicts.

    A batch with other geometry columns than ``geometry`` (``proj:geometry``) goes through
    stac-geoparquet's own ``stac_table_to_items``."""
    import pyarrow as pa

    if _has_other_geometries(batch):
        from stac_geoparquet.arrow import stac_table_to_items

        return [datetimes_as_published(item) for item in stac_table_to_items(pa.Table.from_batches([batch]))]
    names = batch.schema.names
    stamps = [n for n in names if n not in ITEM_KEYS and pa.types.is_timestamp(batch.schema.field(n).type)]
    texts = {n: _timestamps_as_text(batch[n]) for n in stamps}
    geometries = _geojson(batch["geometry"]) if "geometry" in names else None
    rows = batch.drop_columns([n for n in ("geometry", *stamps) if n in names]).to_pylist()
    items = []
    for i, row in enumerate(rows):
        item = {k: row.pop(k) for k in ITEM_KEYS if k in row}
        if geometries is not None:
            item["geometry"] = geometries[i]
        bbox = item.get("bbox")
        if isinstance(bbox, dict):
            item["bbox"] = [bbox[k] for k in (_BBOX_3D if "zmin" in bbox else _BBOX_2D)]
        assets = item.get("assets")
        item["assets"] = {k: v for k, v in assets.items() if v is not None} if isinstance(assets, dict) else (assets or {})
        for name, text in texts.items():
            row[name] = text[i]
        item["properties"] = row
        item.setdefault("type", "Feature")
        items.append(item)
    return items


DATETIME_PROPERTIES = ("datetime", "start_datetime", "end_datetime", "created", "updated")


def datetimes_as_published(item: dict[str, Any]) -> dict[str, Any]:
    """stac-geoparquet's reader writes timestamps as ``...T02:57:35.000000Z``; the item JSON
    has ``...T02:57:35Z``. Same instant, the published text (in place; returns the item)."""
    from datetime import datetime

    props = item.get("properties") or {}
    for k in DATETIME_PROPERTIES:
        v = props.get(k)
        if isinstance(v, str):
            props[k] = format_datetime(datetime.fromisoformat(v.replace("Z", "+00:00")))
    return item


def fingerprint(release: Release, colls: list[CollectionRef]) -> str:
    """A digest of the root, the collections and the item files' sizes/ETags: equal means nothing to load."""
    h = hashlib.sha256(json.dumps(release.root, sort_keys=True).encode())
    for c in colls:
        h.update(json.dumps(c.content, sort_keys=True).encode())
        key = geoparquet_key(c)
        info = release.store.head(key) if key else None
        h.update(f"{key}:{info.size if info else ''}:{info.etag if info else ''}".encode())
    h.update(release.href_base.encode())
    return h.hexdigest()
