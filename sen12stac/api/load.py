"""A release -> pgstac, through pypgstac's public ``Loader``: collections, then their items.

Reading the release is :mod:`sen12stac.api.release`; the items' pgstac rows (absolute hrefs,
no structural links, pypgstac's ``format_item`` in worker processes) are
:mod:`sen12stac.api.rows`. Here the writing, collection by collection:

1. the collection JSON, when it differs from the database's: ``Loader.load_collections``
   (upsert; its own transaction);
2. its items: one ``Loader.load_partition`` call with every row of the collection, which
   creates or widens the partition (pgstac's ``check_partition``, committed), then writes all
   rows **in one transaction** (into an empty partition by COPY, ``Methods.insert``; into one
   that holds items by pypgstac's upsert, ``Methods.upsert``, which leaves unchanged rows
   alone, so loading twice changes nothing), then refreshes the partition's statistics after
   the commit, as pypgstac does (the refresh takes a lock that would block readers);
3. pgstac's ``analyze_items`` procedure (planner statistics, queryable indexes included).

A failure in step 2 rolls that transaction back, and the collection's JSON is put back as it
was (or the collection deleted through pgstac's ``delete_collection`` when this load created
it): the collection is left as before; collections loaded before it stay. Running the same
command again resumes (finished collections are unchanged rows and are not rewritten).

A collection that pgstac partitions by time too (``partition_trunc`` set in the database) is
loaded by ``Loader.load_items``, which commits in chunks of ``chunksize`` per partition: a
failure there leaves the chunks before it, and the same command again completes it.

This module reads pgstac only through its functions (``get_collection``) and the ``items``
table, and writes only through pypgstac (tests/test_api_rows.py checks the statements).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import DatabaseError, ObjectConflictError, Sen12StacError
from .release import (  # noqa: F401 - the loader's public names, kept importable from here
    ROOT_KEY,
    CollectionRef,
    Release,
    fingerprint,
    item_source,
    open_release,
    read_collections,
    read_geoparquet,
)
from .rows import (  # noqa: F401
    STRUCTURAL_RELS,
    Formatter,
    collection_for_pgstac,
    geoparquet_tasks,
    items_for_pgstac,
    items_time_range,
    json_tasks,
    read_json_items,
    start_pool,
    table_time_range,
)


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


def _db_collection(conn: Any, coll_id: str) -> dict[str, Any] | None:
    return conn.execute("SELECT pgstac.get_collection(%s)", (coll_id,)).fetchone()[0]


def _has_items(conn: Any, coll_id: str) -> bool:
    return bool(conn.execute("SELECT EXISTS (SELECT 1 FROM pgstac.items WHERE collection = %s)", (coll_id,)).fetchone()[0])


def _use_lz4(conn: Any) -> None:
    """Compress new item content with lz4 instead of pglz where the server has it (a setting of
    this session): the COPY and every later read of an item spend less time in compression."""
    row = conn.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'").fetchone()
    if row and row[0]:
        conn.execute("SET default_toast_compression = lz4")


def _check_versions(conn: Any, contents: list[tuple[CollectionRef, dict[str, Any]]], dsn: str, replace: bool) -> dict[str, Any]:
    """The database's JSON of each collection (None: not there); refuses another release version unless ``replace``."""
    from .database import safe_dsn

    existing = {}
    for coll, content in contents:
        existing[coll.id] = old = _db_collection(conn, coll.id)
        if old is not None and not replace:
            old_v, new_v = old.get("version"), content.get("version")
            if old_v and new_v and old_v != new_v:
                raise ObjectConflictError(
                    f"collection {coll.id} in {safe_dsn(dsn)} holds release {old_v}; loading {new_v} would replace its items by id",
                    fix="add --replace to replace them, or load into another database",
                )
    return existing


class _Plan:
    """One collection's items: where they come from (read when the plan is made), their time
    range, their rows (formatted ahead from :meth:`start` on, once the collection's JSON is in
    the database: the rows are dehydrated against its base item)."""

    def __init__(self, release: Release, coll: CollectionRef, chunksize: int) -> None:
        source, key = item_source(release, coll)
        if source == "geoparquet":
            table = read_geoparquet(release, key)
            self.n, self.range = table.num_rows, table_time_range(table)
            self.make = geoparquet_tasks(release, coll, key, table, chunksize)
        else:
            pairs = read_json_items(release, coll)
            self.n, self.range = len(pairs), items_time_range(item for _, item in pairs)
            self.make = json_tasks(release, coll, pairs, chunksize)
        self.rows: Formatter | None = None

    def start(self, pool: Any, loader: Any, window: int) -> "_Plan":
        self.rows = Formatter(self.make, pool, loader, window) if self.n else None
        return self


def _write_items(loader: Any, conn: Any, coll_id: str, plan: _Plan, counted: Callable[[int], None]) -> int:
    """The collection's rows in one ``load_partition`` call (one transaction). Returns the row count."""
    from pypgstac.load import Methods, Partition

    batches = plan.rows.batches()
    first = next(batches, [])
    if not first:
        return 0
    method = Methods.upsert if _has_items(conn, coll_id) else Methods.insert
    lo, hi, elo, ehi = plan.range
    partition = Partition(first[0]["partition"], coll_id, lo, hi, elo, ehi, requires_update=True)  # pgstac's check_partition widens, never narrows
    passes = 0

    def rows():
        nonlocal passes
        passes += 1
        source = ([first], batches) if passes == 1 else (plan.rows.batches(),)  # a retry by pypgstac starts over
        for part in source:
            for chunk in part:
                yield from chunk
                counted(len(chunk))

    class Rows:
        def __iter__(self):
            return rows()

    loader.load_partition(partition, Rows(), method)
    return plan.rows.count


def _undo_collection(loader: Any, conn: Any, coll_id: str, before: dict[str, Any] | None, now: dict[str, Any]) -> None:
    """Put the collection's JSON back as it was (pgstac's ``delete_collection`` when it was new and holds no items)."""
    from pypgstac.load import Methods

    if before == now:
        return
    if before is None:
        if not _has_items(conn, coll_id):
            conn.execute("SELECT pgstac.delete_collection(%s)", (coll_id,))
    else:
        loader.load_collections(iter([before]), insert_mode=Methods.upsert)


def load_release(
    release: Release,
    dsn: str,
    *,
    replace: bool = False,
    progress: Callable[[str, int], None] | None = None,
    chunksize: int = 4096,
    analyze: bool = True,
    workers: int | None = None,
) -> LoadReport:
    """Load every collection of ``release`` into the pgstac database at ``dsn`` (steps in the module doc).

    First the queryables are registered, so a collection's new partition gets their indexes
    from pgstac and the COPY fills them as it goes. Rows are formatted by ``workers``
    processes (default 2; 0: in this process) in record batches of ``chunksize`` items, while
    this process feeds them to PostgreSQL; the next collection's first batches are formatted
    while this one's statistics are gathered (``analyze``).

    A collection already in the database from another release ``version`` is refused unless
    ``replace`` (its items are then replaced by id). Raises DatabaseError when the database
    refuses an item (that collection left as it was; collections loaded before it stay)."""
    import os

    from pypgstac.db import PgstacDB
    from pypgstac.load import Loader, Methods

    from .database import check_dsn, safe_dsn
    from .queryables import queryables_for, register_queryables

    t0 = time.perf_counter()
    check_dsn(dsn)
    colls = read_collections(release)
    report = LoadReport(release.url, release.version)
    register_queryables(dsn, queryables_for(release.root.get("sen12:recipe")))  # a v2 release adds its land-cover and SCL fields
    n_workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    pool = start_pool(dsn, n_workers)  # forked before this process opens connections (their pool starts threads)
    db = PgstacDB(dsn=dsn)
    plan: _Plan | None = None
    try:
        conn = db.connect()
        _use_lz4(conn)
        loader = Loader(db)
        contents = [(coll, collection_for_pgstac(release, coll)) for coll in colls]
        existing = _check_versions(conn, contents, dsn, replace)
        window = 4 * max(1, n_workers)

        def upsert(i: int) -> _Plan:
            coll, content = contents[i]
            plan = _Plan(release, coll, chunksize)  # read before anything is written
            if existing[coll.id] != content:
                loader.load_collections(iter([content]), insert_mode=Methods.upsert)
            return plan.start(pool, loader, window)

        def write(i: int, plan: _Plan, counted: Callable[[int], None]) -> int:
            coll_id = contents[i][0].id
            if loader.collection_json(coll_id)[2] is not None:  # partitioned by time too: pypgstac's own chunked load
                if plan.rows is not None:
                    plan.rows.close()
                method = Methods.upsert if _has_items(conn, coll_id) else Methods.insert
                loader.load_items(iter(items_for_pgstac(release, contents[i][0])), insert_mode=method, chunksize=chunksize)
                return plan.n
            return _write_items(loader, conn, coll_id, plan, counted) if plan.rows is not None else 0

        def guarded(i: int, step: Callable[[], Any], near: list[int]) -> Any:
            """``step`` for collection ``i``; a failure puts the collection back as it was and becomes one DatabaseError."""
            coll, content = contents[i]
            try:
                return step()
            except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - psycopg/pypgstac/format errors: the transaction rolled back
                try:
                    _undo_collection(loader, conn, coll.id, existing[coll.id], content)
                except Exception:  # noqa: BLE001 - the error that matters is the first one
                    pass
                if isinstance(exc, (KeyboardInterrupt, Sen12StacError)):
                    raise
                msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise DatabaseError(
                    f"loading collection {coll.id} into {safe_dsn(dsn)} failed near item {near[0]} and was rolled back ({type(exc).__name__}: {msg})",
                    fix="the database holds what it held before for this collection; correct the release (or the database) and run the same command again",
                ) from None

        plan = guarded(0, lambda: upsert(0), [0]) if contents else None
        for i, (coll, _) in enumerate(contents):
            near = [0]

            def counted(k: int, coll_id: str = coll.id, near: list[int] = near) -> None:
                before = near[0]
                near[0] += k
                if progress and near[0] // 10000 > before // 10000:
                    progress(coll_id, near[0])

            n = guarded(i, lambda: write(i, plan, counted), near)
            plan = guarded(i + 1, lambda: upsert(i + 1), [0]) if i + 1 < len(contents) else None  # its rows start formatting now
            if analyze and n:
                conn.execute("CALL pgstac.analyze_items()")  # pgstac's procedure: each partition changed since its last ANALYZE
            if progress:
                progress(coll.id, n)
            report.collections[coll.id] = n
    finally:
        if plan is not None and plan.rows is not None:
            plan.rows.close()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        db.close()
    report.seconds = time.perf_counter() - t0
    return report
