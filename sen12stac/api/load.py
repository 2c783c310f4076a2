"""A release -> pgstac: collections, then their items in bulk, one transaction per collection.

The release is read through the store interface (a folder, ``file://`` or ``s3://``; a
release folder, a build folder or a landing catalog, whose ``latest-version`` is followed).
Items come, in object storage, from each collection's stac-geoparquet file (one GET per
collection, no walk of item JSON) and, in a folder, from the item JSON through the scene
catalogs (faster to read there; see :func:`items_for_pgstac`). Every relative
href becomes absolute to where the release lives (or to ``asset_base_url``, e.g. a bucket's
public HTTPS address), and the structural links (root, parent, collection, child, item,
self) are dropped: the API writes its own.

Writes go through pypgstac's ``Loader`` on one connection inside one transaction per
collection: the collection and all its items commit together, or nothing does. A collection
that holds no items yet is loaded in insert mode (COPY straight into its partition); one that
does is upserted (an unchanged item is not rewritten, so loading twice changes nothing).
"""
from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator

from ..errors import ConfigError, DatabaseError, ObjectConflictError, Sen12StacError, StoreError
from ..models import format_datetime
from ..stac.hrefs import resolve_href
from ..store import ObjectStore, open_store
from ..store.base import NotFound
from ..store.prefixed import PrefixedStore

ROOT_KEY = "catalog.json"
STRUCTURAL_RELS = frozenset({"root", "parent", "collection", "child", "item", "self"})
NOT_A_RELEASE_FIX = "pass the folder or URL of a sen12stac build or release (the folder holding catalog.json, e.g. s3://bucket/prefix/v1.0.0) or of its landing catalog"


@dataclass(frozen=True)
class Release:
    """Where a release lives: its store (rooted at the release folder) and the URL its hrefs become absolute to."""

    store: ObjectStore
    url: str  # the release folder, as given or followed from the landing catalog
    href_base: str  # absolute prefix for hrefs: the folder's URL, or --asset-base-url
    root: dict[str, Any]
    version: str | None


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


# ----------------------------------------------------------------------------- objects for pgstac


def _absolute(release: Release, from_key: str, href: str) -> str:
    key = resolve_href(from_key, href)
    return href if key is None else f"{release.href_base}/{key}"


def _for_pgstac(release: Release, obj: dict[str, Any], from_key: str) -> dict[str, Any]:
    """A copy with absolute asset and link hrefs and without the structural links."""
    out = dict(obj)
    out["links"] = [dict(l, href=_absolute(release, from_key, l["href"])) for l in obj.get("links", []) or [] if l.get("rel") not in STRUCTURAL_RELS]
    if "assets" in obj:
        out["assets"] = {k: dict(a, href=_absolute(release, from_key, a["href"])) for k, a in obj["assets"].items()}
    return out


@dataclass(frozen=True)
class CollectionRef:
    id: str
    key: str  # collection.json's key in the release
    content: dict[str, Any]


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


def _geoparquet_key(coll: CollectionRef) -> str | None:
    for asset in (coll.content.get("assets") or {}).values():
        if "stac-items" in (asset.get("roles") or []) and "parquet" in (asset.get("type") or "application/vnd.apache.parquet"):
            return resolve_href(coll.key, asset["href"])
    return None


def _items_from_geoparquet(release: Release, key: str) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq
    from stac_geoparquet.arrow import stac_table_to_items

    parquet = pq.ParquetFile(io.BytesIO(release.store.get(key)))
    for batch in parquet.iter_batches(batch_size=4096):
        import pyarrow as pa

        yield from stac_table_to_items(pa.Table.from_batches([batch]))


def _items_from_json(release: Release, key: str, obj: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Walk catalogs below ``key`` (breadth first), yielding (item key, item)."""
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
            yield from _items_from_json(release, child_key, child)


_DATETIME_PROPS = ("datetime", "start_datetime", "end_datetime", "created", "updated")


def _datetimes_as_published(item: dict[str, Any]) -> dict[str, Any]:
    """stac-geoparquet returns timestamp columns as ``...T02:57:35.000000Z``; the item JSON has
    ``...T02:57:35Z`` (sen12stac.models.format_datetime). Same instant, the published text."""
    props = item.get("properties") or {}
    for k in _DATETIME_PROPS:
        v = props.get(k)
        if isinstance(v, str):
            props[k] = format_datetime(datetime.fromisoformat(v.replace("Z", "+00:00")))
    return item


def _walkable(coll: CollectionRef) -> bool:
    return any(l.get("rel") in ("child", "item") for l in coll.content.get("links", []) or [])


def items_for_pgstac(release: Release, coll: CollectionRef, source: str = "auto") -> Iterator[dict[str, Any]]:
    """Every item of the collection, ready for pgstac (absolute hrefs, no structural links).

    ``source``: ``"json"`` walks the scene catalogs and reads each item's JSON; ``"geoparquet"``
    reads the collection's stac-geoparquet file; ``"auto"`` (default) walks JSON in a folder
    (about 1.6-2.2x faster to read than converting the parquet rows back to dicts:
    ``bench/bench_api.py --read-paths 20000``) and reads the geoparquet from object storage (one
    GET per collection instead of one per item)."""
    pq_key = _geoparquet_key(coll)
    has_pq = pq_key is not None and release.store.exists(pq_key)
    if source == "auto":
        source = "json" if (release.store.root is not None and _walkable(coll)) or not has_pq else "geoparquet"
    if source == "geoparquet":
        if not has_pq:
            raise ConfigError(f"collection {coll.id} has no stac-geoparquet file in {release.url}", fix="load it with source='json'")
        for item in _items_from_geoparquet(release, pq_key):
            item["collection"] = coll.id
            yield _for_pgstac(release, _datetimes_as_published(item), pq_key)  # parquet hrefs are relative to its own folder
    else:
        for key, item in _items_from_json(release, coll.key, coll.content):
            item["collection"] = coll.id
            yield _for_pgstac(release, item, key)


def collection_for_pgstac(release: Release, coll: CollectionRef) -> dict[str, Any]:
    return _for_pgstac(release, coll.content, coll.key)


# ----------------------------------------------------------------------------- loading


@dataclass
class LoadReport:
    release: str
    version: str | None
    collections: dict[str, int] = field(default_factory=dict)  # id -> items loaded
    skipped: list[str] = field(default_factory=list)  # collections unchanged since the last load
    seconds: float = 0.0

    @property
    def items(self) -> int:
        return sum(self.collections.values())

    def __str__(self) -> str:
        rate = self.items / self.seconds if self.seconds else 0.0
        parts = ", ".join(f"{k}: {v}" for k, v in self.collections.items())
        return f"loaded {self.items} items in {len(self.collections)} collection(s) from {self.release} in {self.seconds:.1f} s ({rate:,.0f} items/s): {parts}"


def fingerprint(release: Release, colls: list[CollectionRef]) -> str:
    """A digest of the root, the collections and the item files' sizes/ETags: equal means nothing to load."""
    h = hashlib.sha256(json.dumps(release.root, sort_keys=True).encode())
    for c in colls:
        h.update(json.dumps(c.content, sort_keys=True).encode())
        pq_key = _geoparquet_key(c)
        info = release.store.head(pq_key) if pq_key else None
        h.update(f"{pq_key}:{info.size if info else ''}:{info.etag if info else ''}".encode())
    h.update(release.href_base.encode())
    return h.hexdigest()


def _db_collection(conn: Any, coll_id: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT content FROM pgstac.collections WHERE id = %s", (coll_id,)).fetchone()
    return row[0] if row else None


def _has_items(conn: Any, coll_id: str) -> bool:
    return bool(conn.execute("SELECT EXISTS (SELECT 1 FROM pgstac.items WHERE collection = %s)", (coll_id,)).fetchone()[0])


def load_release(
    release: Release,
    dsn: str,
    *,
    replace: bool = False,
    progress: Callable[[str, int], None] | None = None,
    chunksize: int = 20000,
    analyze: bool = True,
) -> LoadReport:
    """Load every collection of ``release`` into the pgstac database at ``dsn``.

    Per collection, one transaction: upsert the collection, then upsert its items in bulk.
    A collection already in the database from another release ``version`` is refused unless
    ``replace`` (its items are then replaced by id). Raises DatabaseError (rolled back) when
    the database refuses an item; collections committed before stay."""
    from pypgstac.db import PgstacDB
    from pypgstac.load import Loader, Methods

    from .database import check_dsn, safe_dsn

    t0 = time.perf_counter()
    check_dsn(dsn)
    colls = read_collections(release)
    report = LoadReport(release.url, release.version)
    db = PgstacDB(dsn=dsn)
    try:
        conn = db.connect()
        loader = Loader(db)
        for coll in colls:
            content = collection_for_pgstac(release, coll)
            existing = _db_collection(conn, coll.id)
            if existing is not None and not replace:
                old_v, new_v = existing.get("version"), content.get("version")
                if old_v and new_v and old_v != new_v:
                    raise ObjectConflictError(
                        f"collection {coll.id} in {safe_dsn(dsn)} holds release {old_v}; loading {new_v} would replace its items by id",
                        fix="add --replace to replace them, or load into another database",
                    )
            n = 0

            def counted(items: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
                nonlocal n
                for item in items:
                    n += 1
                    if progress and n % 10000 == 0:
                        progress(coll.id, n)
                    yield item

            try:
                with conn.transaction():
                    if existing != content:
                        loader.load_collections(iter([content]), insert_mode=Methods.upsert)
                    # A collection without items (new, or emptied): plain COPY into its partition
                    # (pypgstac's insert); otherwise upsert through a staging table, which rewrites
                    # only rows that changed. Same rows either way; insert skips the staging copy
                    # and the row-by-row comparison (bench/bench_api.py).
                    method = Methods.upsert if _has_items(conn, coll.id) else Methods.insert
                    loader.load_items(counted(items_for_pgstac(release, coll)), insert_mode=method, chunksize=chunksize)
                    # pgstac caches each search's numberMatched for a day (search_wheres, context
                    # on): forget them with the load, so counts after a reload are exact again
                    conn.execute("DELETE FROM pgstac.search_wheres")
            except Sen12StacError:
                raise
            except Exception as exc:  # noqa: BLE001 - psycopg/pypgstac errors: the transaction rolled back
                msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise DatabaseError(
                    f"loading collection {coll.id} into {safe_dsn(dsn)} failed near item {n} and was rolled back ({type(exc).__name__}: {msg})",
                    fix="the database holds what it held before for this collection; correct the release (or the database) and run the same command again",
                ) from None
            if progress:
                progress(coll.id, n)
            report.collections[coll.id] = n
        if analyze:  # callers that register queryables next analyze once, after the indexes exist
            conn.execute("ANALYZE pgstac.items")
    finally:
        db.close()
    report.seconds = time.perf_counter() - t0
    return report
