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

from ..runtime.collector import collector_paused
from ..errors import ConfigError, DatabaseError, ObjectConflictError, Sen12StacError
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


def _absolute(href_base: str, from_key: str, href: str) -> str:
    key = resolve_href(from_key, href)
    return href if key is None else f"{href_base}/{key}"


def _for_pgstac(release: Release, obj: dict[str, Any], from_key: str) -> dict[str, Any]:
    """A copy with absolute asset and link hrefs and without the structural links."""
    out = dict(obj)
    if "assets" in obj:
        out["assets"] = {k: dict(a) for k, a in obj["assets"].items()}
    _absolutize(release.href_base, out, from_key)
    return out


def _absolutize(href_base: str, item: dict[str, Any], from_key: str) -> None:
    """Absolute asset and link hrefs, structural links dropped, in place (the links list is
    a new one; the asset dicts are changed)."""
    item["links"] = [dict(l, href=_absolute(href_base, from_key, l["href"])) for l in item.get("links", []) or [] if l.get("rel") not in STRUCTURAL_RELS]
    if "assets" in item:
        for asset in item["assets"].values():
            asset["href"] = _absolute(href_base, from_key, asset["href"])


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


def _read_geoparquet(release: Release, key: str) -> Any:
    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(release.store.get(key)))


def _geoparquet_rows(batch: Any) -> tuple[None, list[dict[str, Any]], bool]:
    """``(None, item dicts, False)`` of a stac-geoparquet record batch, converted by
    stac-geoparquet's public ``stac_table_to_items`` (geometries as GeoJSON; datetimes as it
    writes them, made the published text by :func:`_datetimes_as_published`)."""
    import pyarrow as pa
    from stac_geoparquet.arrow import stac_table_to_items

    return None, list(stac_table_to_items(pa.Table.from_batches([batch]))), False


def _items_from_geoparquet(release: Release, key: str) -> Iterator[dict[str, Any]]:
    for batch in _read_geoparquet(release, key).to_batches(max_chunksize=4096):
        _, rows, _ = _geoparquet_rows(batch)
        for row in rows:
            yield _datetimes_as_published(row)


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


def _source(release: Release, coll: CollectionRef, source: str) -> tuple[str, str | None]:
    pq_key = _geoparquet_key(coll)
    has_pq = pq_key is not None and release.store.exists(pq_key)
    if source == "auto":
        source = "geoparquet" if has_pq else "json"
    if source == "geoparquet" and not has_pq:
        raise ConfigError(f"collection {coll.id} has no stac-geoparquet file in {release.url}", fix="load it with source='json'")
    return source, pq_key


def items_for_pgstac(release: Release, coll: CollectionRef, source: str = "auto") -> Iterator[dict[str, Any]]:
    """Every item of the collection, ready for pgstac (absolute hrefs, no structural links).

    ``source``: ``"json"`` walks the scene catalogs and reads each item's JSON; ``"geoparquet"``
    reads the collection's stac-geoparquet file; ``"auto"`` (default) reads the geoparquet when
    the collection has one (one read per collection, and with Arrow converting whole batches,
    faster than walking the item JSON: ``bench/bench_api.py --read-paths 20000``), else walks
    the JSON."""
    source, pq_key = _source(release, coll, source)
    if source == "geoparquet":
        for item in _items_from_geoparquet(release, pq_key):  # datetimes as published
            item["collection"] = coll.id
            yield _for_pgstac(release, item, pq_key)  # parquet hrefs are relative to its own folder
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


# ----------------------------------------------------------------------------- bulk rows

_COLUMNS = "(id, collection, datetime, end_datetime, geometry, content, private)"


def _copy_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def _copy_lines(rows: Iterable[tuple]) -> bytes:
    """Rows in PostgreSQL's COPY text format. ``content`` and ``private`` are JSON from orjson,
    which escapes every control character: only their backslashes need doubling."""
    esc = _copy_text
    out = []
    for id_, coll, dt, edt, geom, content, private in rows:
        out.append(
            "\t".join((
                esc(id_), esc(coll), esc(dt), esc(edt),
                "\\N" if geom is None else geom,
                content.replace("\\", "\\\\"),
                "\\N" if private is None else private.replace("\\", "\\\\"),
            )) + "\n"
        )
    return "".join(out).encode()


@dataclass(frozen=True)
class _Target:
    """What formatting a collection's rows needs: where hrefs point, and the base item to dehydrate against."""

    coll_id: str
    href_base: str
    from_key: str  # the geoparquet's key: its hrefs are relative to its folder
    base_item: dict[str, Any]
    base_item_id: int | None


def _format_batch(batch: Any, target: _Target) -> tuple[bytes, int]:
    """One geoparquet record batch -> COPY text of its pgstac rows (run in a worker process)."""
    from .rows import ewkb_hex, geojson_ewkb_hex, item_row

    with collector_paused():  # a few hundred thousand small objects without cycles
        wkbs, items, published = _geoparquet_rows(batch)
        rows = []
        for i, item in enumerate(items):
            item["collection"] = target.coll_id
            if not published:
                _datetimes_as_published(item)
            _absolutize(target.href_base, item, target.from_key)
            if wkbs is None:
                geometry = geojson_ewkb_hex(item.get("geometry"))
            else:
                geometry = None if wkbs[i] is None else ewkb_hex(wkbs[i])
            rows.append(item_row(item, geometry, target.base_item, target.base_item_id))
        return _copy_lines(rows), len(rows)


def _json_rows(release: Release, coll: CollectionRef, base_item: dict[str, Any], base_item_id: int | None) -> list[tuple]:
    """The collection's pgstac rows from its item JSON (walking the scene catalogs), in this process."""
    from .rows import geojson_ewkb_hex, item_row

    with collector_paused():
        rows = []
        for item_key, item in _items_from_json(release, coll.key, coll.content):
            item["collection"] = coll.id
            _absolutize(release.href_base, item, item_key)
            rows.append(item_row(item, geojson_ewkb_hex(item.get("geometry")), base_item, base_item_id))
        return rows


def _time_range(table: Any) -> tuple[Any, Any, Any, Any]:
    """(min, max) of each row's pgstac ``datetime`` and ``end_datetime`` (start/end when both
    are set, else datetime, as pypgstac), from the table's columns (Arrow compute when they are
    timestamps, as stac-geoparquet writes them)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    cols = {}
    for name in ("datetime", "start_datetime", "end_datetime"):
        col = table[name] if name in table.column_names else pa.nulls(table.num_rows, pa.timestamp("us", tz="UTC"))
        if not pa.types.is_timestamp(col.type) or col.type.tz is None:
            return _row_range([(None, None, *_pg_datetimes(d, s, e)) for d, s, e in zip(*(
                table[n].to_pylist() if n in table.column_names else [None] * table.num_rows for n in ("datetime", "start_datetime", "end_datetime")))])
        cols[name] = col.cast(pa.timestamp("us", tz="UTC"))
    both = pc.and_(pc.is_valid(cols["start_datetime"]), pc.is_valid(cols["end_datetime"]))
    lo = pc.min_max(pc.if_else(both, cols["start_datetime"], cols["datetime"]))
    hi = pc.min_max(pc.if_else(both, cols["end_datetime"], cols["datetime"]))
    return lo["min"].as_py(), lo["max"].as_py(), hi["min"].as_py(), hi["max"].as_py()


def _pg_datetimes(dt: Any, sdt: Any, edt: Any) -> tuple[Any, Any]:
    return (sdt, edt) if sdt is not None and edt is not None else (dt, dt)


def _row_range(rows: list[tuple]) -> tuple[Any, Any, Any, Any]:
    """(min, max) of the rows' ``datetime`` and ``end_datetime`` (text or datetime values)."""
    from pypgstac.load import as_utc

    def instant(v: Any) -> Any:
        return as_utc(v) if isinstance(v, str) else v

    starts = [instant(r[2]) for r in rows if r[2] is not None] or [None]
    ends = [instant(r[3]) for r in rows if r[3] is not None] or [None]
    return min(starts), max(starts), min(ends), max(ends)


def _droppable_indexes(conn: Any, partition: str) -> list[tuple[str, str]]:
    """(name, definition) of the partition's own indexes: not attached to an index of the parent
    table (those cannot be dropped alone) and not backing a constraint."""
    return conn.execute(
        """SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
           WHERE i.indrelid = to_regclass(%s)
             AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)
             AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
           ORDER BY c.relname""",
        (f"pgstac.{partition}",),
    ).fetchall()


def _use_lz4(conn: Any) -> None:
    """Compress new item content with lz4 instead of pglz where the server has it: the COPY
    and every later read of an item (index builds, searches) spend less time in compression."""
    row = conn.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'").fetchone()
    if row and row[0]:
        conn.execute("SET default_toast_compression = lz4")


def _write_rows(conn: Any, coll_id: str, key: int, ranges: tuple[Any, Any, Any, Any], chunks: Iterable[tuple[bytes, int]], counted: Callable[[int], None], rebuild_indexes: bool = False) -> None:
    """Inside the collection's transaction: the partition (pgstac's ``check_partition``), then the
    rows. Into an empty partition: COPY straight in (with ``rebuild_indexes``, the partition's own
    indexes, the queryables' and its id index, dropped before and built again after: measured
    slower, see docs/api.md); into one that holds items: COPY to a staging table and upsert
    (pypgstac's statement: unchanged rows are not rewritten)."""
    from psycopg import sql

    conn.execute(
        "SELECT pgstac.check_partition(%s, tstzrange(%s, %s, '[]'), tstzrange(%s, %s, '[]'))",
        (coll_id, ranges[0], ranges[1], ranges[2], ranges[3]),
    )
    partition = f"_items_{key}"
    ident = sql.Identifier("pgstac", partition)
    empty = not conn.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(ident)).fetchone()[0]
    indexes = _droppable_indexes(conn, partition) if empty and rebuild_indexes else []
    for name, _ in indexes:
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier("pgstac", name)))
    target = ident if empty else sql.Identifier("items_ingest_temp")
    if not empty:
        conn.execute("DROP TABLE IF EXISTS items_ingest_temp")
        conn.execute("CREATE TEMP TABLE items_ingest_temp (LIKE pgstac.items) ON COMMIT DROP")
    with conn.cursor().copy(sql.SQL("COPY {} " + _COLUMNS + " FROM STDIN").format(target)) as copy:
        for data, n in chunks:
            copy.write(data)
            counted(n)
    for _, definition in indexes:
        conn.execute(definition)
    if not empty:
        conn.execute(sql.SQL("LOCK TABLE ONLY {} IN EXCLUSIVE MODE").format(ident))
        conn.execute(
            sql.SQL(
                """INSERT INTO {} AS t SELECT * FROM items_ingest_temp ON CONFLICT (id) DO UPDATE SET
                   datetime = EXCLUDED.datetime, end_datetime = EXCLUDED.end_datetime, geometry = EXCLUDED.geometry,
                   collection = EXCLUDED.collection, content = EXCLUDED.content
                   WHERE t IS DISTINCT FROM EXCLUDED"""
            ).format(ident)
        )
    conn.execute("SELECT pgstac.update_partition_stats_q(%s)", (partition,))


def _pool(workers: int) -> Any:
    import multiprocessing
    import sys
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
    pool.submit(int).result()  # a forking pool starts all its processes now, before this process starts threads of its own
    return pool


def _base_items(conn: Any, colls: list[tuple[CollectionRef, dict[str, Any]]]) -> dict[str, tuple[dict[str, Any], int | None] | None]:
    """Each collection's base item and base item id as they will be once its collection JSON is
    upserted, where that is known beforehand: a new collection (pgstac's ``collection_base_item``
    of the content, no id), or one whose base item stays the same (its current id). None when
    the base item changes (known only after the upsert)."""
    out: dict[str, tuple[dict[str, Any], int | None] | None] = {}
    for coll, content in colls:
        base = conn.execute("SELECT pgstac.collection_base_item(%s::jsonb)", (json.dumps(content),)).fetchone()[0]
        row = conn.execute("SELECT base_item_id, base_item FROM pgstac.current_base_item(%s)", (coll.id,)).fetchone()
        if row is None:
            out[coll.id] = (base, None)
        else:
            out[coll.id] = (base, row[0]) if row[1] == base else None
    return out


class _RowsAhead:
    """Geoparquet batches formatted into COPY text by a process pool, ahead of the writer and in
    order, with at most ``window`` results waiting (bounded memory). Without a pool, each batch
    is formatted when taken."""

    def __init__(self, pool: Any, window: int, chunksize: int) -> None:
        self.pool, self.window, self.chunksize = pool, window, chunksize
        self.queue: list[tuple[Any, _Target]] = []  # (batch, target) not submitted yet, in order
        self.running: dict[str, list[Any]] = {}  # collection -> submitted futures, in order
        self.tables: dict[str, Any] = {}

    def plan(self, table: Any, target: _Target, first: bool = False) -> None:
        self.tables[target.coll_id] = table
        tasks = [(batch, target) for batch in table.to_batches(max_chunksize=self.chunksize)]
        self.queue = tasks + self.queue if first else self.queue + tasks
        self.running.setdefault(target.coll_id, [])
        self._fill()

    def table(self, coll_id: str) -> Any:
        return self.tables.get(coll_id)

    def drop(self, coll_id: str) -> None:
        for fut in self.running.pop(coll_id, []):
            fut.cancel()
        self.queue = [t for t in self.queue if t[1].coll_id != coll_id]
        self.tables.pop(coll_id, None)

    def _fill(self, need: str | None = None) -> None:
        if self.pool is None:
            return
        while self.queue:
            waiting = sum(len(v) for v in self.running.values())
            coll_id = self.queue[0][1].coll_id
            if waiting >= self.window and not (coll_id == need and not self.running.get(need)):
                return
            batch, target = self.queue.pop(0)
            self.running.setdefault(coll_id, []).append(self.pool.submit(_format_batch, batch, target))

    def take(self, coll_id: str) -> Iterator[tuple[bytes, int]]:
        """The collection's COPY text, batch by batch, in order."""
        while True:
            self._fill(need=coll_id)
            running = self.running.get(coll_id)
            if running:
                yield running.pop(0).result()
                continue
            mine = next((i for i, t in enumerate(self.queue) if t[1].coll_id == coll_id), None)
            if mine is None:
                break
            if self.pool is None:
                batch, target = self.queue.pop(mine)
                yield _format_batch(batch, target)
            else:  # its batches are behind other collections' in the queue: move them first
                self.queue = [t for t in self.queue if t[1].coll_id == coll_id] + [t for t in self.queue if t[1].coll_id != coll_id]
        self.running.pop(coll_id, None)
        self.tables.pop(coll_id, None)


def load_release(
    release: Release,
    dsn: str,
    *,
    replace: bool = False,
    progress: Callable[[str, int], None] | None = None,
    chunksize: int = 4096,
    analyze: bool = True,
    workers: int | None = None,
    rebuild_indexes: bool = False,
) -> LoadReport:
    """Load every collection of ``release`` into the pgstac database at ``dsn``.

    First the queryables are registered, so a collection's new partition gets their indexes
    from pgstac and the COPY fills them as it goes (faster here than building them after:
    ``rebuild_indexes`` drops an empty partition's own indexes before the COPY and builds them
    after, for measuring). Per collection, one transaction: upsert the collection, then its
    items in bulk (:func:`_write_rows`), then ANALYZE its partition (``analyze``).

    Items of a collection with a stac-geoparquet file are read from it (Arrow batches) and
    formatted into pgstac rows (:mod:`sen12stac.api.rows`, the rows pypgstac would write) by
    ``workers`` processes (default 2) while this process feeds the rows formatted before to
    PostgreSQL: the next collection's rows are formatted while this one's are written. The
    collections' transactions cannot run side by side: creating a partition locks pgstac's
    ``items`` table until commit. A collection without one is walked (item JSON) and formatted here.

    A collection already in the database from another release ``version`` is refused unless
    ``replace`` (its items are then replaced by id). Raises DatabaseError (rolled back) when
    the database refuses an item; collections committed before stay."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    from pypgstac.db import PgstacDB
    from pypgstac.load import Loader, Methods

    from .database import check_dsn, safe_dsn
    from .queryables import register_queryables
    t0 = time.perf_counter()
    check_dsn(dsn)
    colls = read_collections(release)
    report = LoadReport(release.url, release.version)
    register_queryables(dsn)
    db = PgstacDB(dsn=dsn)
    pool = reader = None
    try:
        conn = db.connect()
        _use_lz4(conn)
        loader = Loader(db)
        contents = [(coll, collection_for_pgstac(release, coll)) for coll in colls]
        for coll, content in contents:
            existing = _db_collection(conn, coll.id)
            if existing is not None and not replace:
                old_v, new_v = existing.get("version"), content.get("version")
                if old_v and new_v and old_v != new_v:
                    raise ObjectConflictError(
                        f"collection {coll.id} in {safe_dsn(dsn)} holds release {old_v}; loading {new_v} would replace its items by id",
                        fix="add --replace to replace them, or load into another database",
                    )
        sources = {coll.id: _source(release, coll, "auto") for coll, _ in contents}
        predicted = _base_items(conn, contents)
        conn.commit()
        n_workers = workers if workers is not None else min(2, os.cpu_count() or 1)
        if n_workers > 0 and any(src == "geoparquet" for src, _ in sources.values()):
            pool = _pool(n_workers)
        rows_ahead = _RowsAhead(pool, window=8 * max(1, n_workers), chunksize=chunksize)
        reader = ThreadPoolExecutor(max_workers=1)
        planned: set[str] = set()
        reads: dict[str, Any] = {}  # geoparquet files read by a thread, ahead (Arrow decodes without the GIL)

        def read(coll_id: str) -> Any:
            fut = reads.pop(coll_id, None)
            return fut.result() if fut is not None else _read_geoparquet(release, sources[coll_id][1])

        for i, (coll, content) in enumerate(contents):
            for ahead, _ in contents[i : i + 3]:
                if ahead.id not in reads and ahead.id not in planned and sources[ahead.id][0] == "geoparquet":
                    reads[ahead.id] = reader.submit(_read_geoparquet, release, sources[ahead.id][1])
            for ahead, _ in contents[i : i + 2]:  # this collection and the next, when their base item is known now
                if ahead.id not in planned and sources[ahead.id][0] == "geoparquet" and predicted[ahead.id] is not None:
                    planned.add(ahead.id)
                    rows_ahead.plan(read(ahead.id), _Target(ahead.id, release.href_base, sources[ahead.id][1], *predicted[ahead.id]))
            n = 0

            def counted(k: int) -> None:
                nonlocal n
                before, n = n, n + k
                if progress and n // 10000 > before // 10000:
                    progress(coll.id, n)

            def counting(items: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
                for item in items:
                    counted(1)
                    yield item

            source, pq_key = sources[coll.id]
            try:
                with conn.transaction():
                    existing = _db_collection(conn, coll.id)
                    if existing != content:
                        loader.load_collections(iter([content]), insert_mode=Methods.upsert)
                    base_item, key, partition_trunc, base_item_id = loader.collection_json(coll.id)
                    if partition_trunc is not None:  # partitioned by time too: pypgstac's loader
                        rows_ahead.drop(coll.id)
                        method = Methods.upsert if _has_items(conn, coll.id) else Methods.insert
                        loader.load_items(counting(items_for_pgstac(release, coll)), insert_mode=method, chunksize=chunksize)
                    elif source == "geoparquet":
                        table = rows_ahead.table(coll.id)
                        if table is None or predicted[coll.id] != (base_item, base_item_id):  # known only now
                            rows_ahead.drop(coll.id)
                            table = read(coll.id)
                            rows_ahead.plan(table, _Target(coll.id, release.href_base, pq_key, base_item, base_item_id), first=True)
                        if table.num_rows:
                            _write_rows(conn, coll.id, key, _time_range(table), rows_ahead.take(coll.id), counted, rebuild_indexes)
                    else:
                        rows = _json_rows(release, coll, base_item, base_item_id)
                        if rows:
                            _write_rows(conn, coll.id, key, _row_range(rows), [(_copy_lines(rows), len(rows))], counted, rebuild_indexes)
                    if analyze and n:
                        conn.execute(f"ANALYZE pgstac._items_{int(key)}")
                    # pgstac caches each search's numberMatched for a day (search_wheres, context
                    # on): forget them with the load, so counts after a reload are exact again
                    conn.execute("DELETE FROM pgstac.search_wheres")
            except Sen12StacError:
                raise
            except Exception as exc:  # noqa: BLE001 - psycopg/pypgstac/format errors: the transaction rolled back
                msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise DatabaseError(
                    f"loading collection {coll.id} into {safe_dsn(dsn)} failed near item {n} and was rolled back ({type(exc).__name__}: {msg})",
                    fix="the database holds what it held before for this collection; correct the release (or the database) and run the same command again",
                ) from None
            if progress:
                progress(coll.id, n)
            report.collections[coll.id] = n
    finally:
        if reader is not None:
            reader.shutdown(wait=True, cancel_futures=True)
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        db.close()
    report.seconds = time.perf_counter() - t0
    return report
