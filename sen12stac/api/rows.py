"""A release's items as pgstac rows: absolute hrefs, structural links dropped, then pypgstac's
own ``Loader.format_item`` (dehydration against the collection's base item, EWKB geometry,
datetimes), in worker processes ahead of the writer.

Every relative href becomes absolute to where the release lives (or to ``asset_base_url``, e.g.
a bucket's public HTTPS address), and the structural links (root, parent, collection, child,
item, self) are dropped: the API writes its own.

``format_item`` is pypgstac's per-item Python; :class:`Formatter` runs it in ``workers``
processes (forked, each with its own ``Loader`` on its own connection, which reads the
collection's base item once), a window of record batches ahead of the process that feeds
PostgreSQL, so both cores work during a load. Without workers, the rows are formatted by the
caller's ``Loader`` as they are taken.
"""
from __future__ import annotations

import os
import sys
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator

from ..runtime.collector import collector_paused
from ..stac.hrefs import resolve_href
from .release import CollectionRef, Release, items_from_batch, items_from_json, read_geoparquet

STRUCTURAL_RELS = frozenset({"root", "parent", "collection", "child", "item", "self"})


def _absolute(href_base: str, from_key: str, href: str) -> str:
    key = resolve_href(from_key, href)
    return href if key is None else f"{href_base}/{key}"


def absolutize(href_base: str, obj: dict[str, Any], from_key: str) -> dict[str, Any]:
    """Absolute asset and link hrefs, structural links dropped, in place (a new links list; the
    asset dicts are changed). Returns ``obj``."""
    obj["links"] = [dict(l, href=_absolute(href_base, from_key, l["href"])) for l in obj.get("links", []) or [] if l.get("rel") not in STRUCTURAL_RELS]
    for asset in (obj.get("assets") or {}).values():
        asset["href"] = _absolute(href_base, from_key, asset["href"])
        for other in (asset.get("alternate") or {}).values():  # e.g. the training shard holding it (docs/shards.md)
            if isinstance(other, dict) and "href" in other:
                other["href"] = _absolute(href_base, from_key, other["href"])
    return obj


def for_pgstac(release: Release, obj: dict[str, Any], from_key: str) -> dict[str, Any]:
    """A copy of ``obj`` with absolute hrefs and without the structural links."""
    out = dict(obj)
    if "assets" in obj:
        out["assets"] = {k: dict(a) for k, a in obj["assets"].items()}
    return absolutize(release.href_base, out, from_key)


def collection_for_pgstac(release: Release, coll: CollectionRef) -> dict[str, Any]:
    return for_pgstac(release, coll.content, coll.key)


def items_for_pgstac(release: Release, coll: CollectionRef, source: str = "auto") -> Iterator[dict[str, Any]]:
    """Every item of the collection, ready for pgstac (absolute hrefs, no structural links).

    ``source``: ``"json"`` walks the scene catalogs and reads each item's JSON; ``"geoparquet"``
    reads the collection's stac-geoparquet file; ``"auto"`` (default) the geoparquet when the
    collection has one."""
    from .release import item_source

    source, key = item_source(release, coll, source)
    if source == "geoparquet":
        for batch in read_geoparquet(release, key).to_batches(max_chunksize=4096):
            for item in items_from_batch(batch):
                item["collection"] = coll.id
                yield absolutize(release.href_base, item, key)  # the parquet's hrefs are relative to its own folder
    else:
        for item_key, item in items_from_json(release, coll.key, coll.content):
            item["collection"] = coll.id
            yield absolutize(release.href_base, item, item_key)


# ----------------------------------------------------------------------------- time ranges


def _instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(timezone.utc)
    except ValueError:
        return None


def _range(starts: Iterable[Any], ends: Iterable[Any]) -> tuple[str | None, str | None, str | None, str | None]:
    s = [v for v in map(_instant, starts) if v is not None]
    e = [v for v in map(_instant, ends) if v is not None]
    iso = lambda v: v.isoformat() if v is not None else None  # noqa: E731
    return iso(min(s, default=None)), iso(max(s, default=None)), iso(min(e, default=None)), iso(max(e, default=None))


def items_time_range(items: Iterable[dict[str, Any]]) -> tuple[str | None, str | None, str | None, str | None]:
    """(min, max) of the items' pgstac ``datetime`` and ``end_datetime``: start and end when an
    item has both, else its datetime (as pgstac stores an item's time)."""
    starts, ends = [], []
    for item in items:
        p = item.get("properties") or {}
        both = p.get("start_datetime") is not None and p.get("end_datetime") is not None
        starts.append(p.get("start_datetime") if both else p.get("datetime"))
        ends.append(p.get("end_datetime") if both else p.get("datetime"))
    return _range(starts, ends)


def table_time_range(table: Any) -> tuple[str | None, str | None, str | None, str | None]:
    """:func:`items_time_range` of a stac-geoparquet table, by Arrow compute on its columns."""
    import pyarrow as pa
    import pyarrow.compute as pc

    cols = {}
    for name in ("datetime", "start_datetime", "end_datetime"):
        col = table[name] if name in table.column_names else pa.nulls(table.num_rows, pa.timestamp("us", tz="UTC"))
        if not pa.types.is_timestamp(col.type):
            col = pc.cast(col, pa.timestamp("us", tz="UTC"))
        cols[name] = col.cast(pa.timestamp("us", tz="UTC"))
    both = pc.and_(pc.is_valid(cols["start_datetime"]), pc.is_valid(cols["end_datetime"]))
    lo = pc.min_max(pc.if_else(both, cols["start_datetime"], cols["datetime"]))
    hi = pc.min_max(pc.if_else(both, cols["end_datetime"], cols["datetime"]))
    return _range([lo["min"].as_py(), lo["max"].as_py()], [hi["min"].as_py(), hi["max"].as_py()])


# ----------------------------------------------------------------------------- formatting


@dataclass(frozen=True)
class Task:
    """Items to format: a geoparquet record batch (``from_key``: the parquet's key) or a list of
    (item key, item) read from the item JSON."""

    coll_id: str
    href_base: str
    batch: Any = None
    from_key: str = ""
    items: list[tuple[str, dict[str, Any]]] | None = None


_WORKER_LOADER: Any = None


def _start_worker(dsn: str) -> None:
    """A worker's own pypgstac ``Loader`` (its own connection, opened on first use)."""
    global _WORKER_LOADER
    from pypgstac.db import PgstacDB
    from pypgstac.load import Loader

    _WORKER_LOADER = Loader(PgstacDB(dsn=dsn))


def format_task(task: Task, loader: Any = None) -> list[dict[str, Any]]:
    """The pgstac rows of the task's items, as ``Loader.format_item`` makes them."""
    loader = loader if loader is not None else _WORKER_LOADER
    with collector_paused():  # a batch is many small objects without cycles
        if task.batch is not None:
            pairs = [(task.from_key, item) for item in items_from_batch(task.batch)]
        else:
            pairs = task.items or []
        rows = []
        for key, item in pairs:
            item["collection"] = task.coll_id
            rows.append(loader.format_item(absolutize(task.href_base, item, key)))
        return rows


def start_pool(dsn: str, workers: int) -> Any:
    """``workers`` forked processes, each with its own ``Loader``; None where fork is not available
    (the DSN, which may hold a password, is then not sent to other processes: no pool)."""
    if workers <= 0 or not sys.platform.startswith("linux"):
        return None
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"), initializer=_start_worker, initargs=(dsn,))
    for f in [pool.submit(os.getpid) for _ in range(workers)]:  # every process forked now, before this one starts threads
        f.result()
    return pool


class Formatter:
    """The rows of a sequence of tasks, batch by batch, in order (:meth:`batches`): with a pool,
    ``window`` tasks are formatted ahead by the workers (from when the formatter is made, so a
    collection's first rows are being formatted while the previous one's statistics are
    gathered); without one, each task is formatted by ``loader`` when taken. Calling
    :meth:`batches` again starts over (pypgstac's loader retries a partition load on some
    errors, and must then get every row again)."""

    def __init__(self, make_tasks: Callable[[], Iterator[Task]], pool: Any, loader: Any, window: int) -> None:
        self.make_tasks, self.pool, self.loader, self.window = make_tasks, pool, loader, max(1, window)
        self.count = 0  # rows handed out (by the last pass)
        self._first: tuple[Iterator[Task], deque] | None = self._start()

    def _start(self) -> tuple[Iterator[Task], deque]:
        tasks, pending = self.make_tasks(), deque()
        if self.pool is not None:
            self._fill(tasks, pending)
        return tasks, pending

    def _fill(self, tasks: Iterator[Task], pending: deque) -> None:
        while len(pending) < self.window:
            task = next(tasks, None)
            if task is None:
                return
            pending.append(self.pool.submit(format_task, task))

    def batches(self) -> Iterator[list[dict[str, Any]]]:
        tasks, pending = self._first or self._start()
        self._first, self.count = None, 0
        try:
            if self.pool is None:
                for task in tasks:
                    rows = format_task(task, self.loader)
                    self.count += len(rows)
                    yield rows
                return
            while pending:
                rows = pending.popleft().result()
                self._fill(tasks, pending)
                self.count += len(rows)
                yield rows
        finally:
            for f in pending:
                f.cancel()

    def close(self) -> None:
        if self._first is not None:
            for f in self._first[1]:
                f.cancel()
            self._first = None


def geoparquet_tasks(release: Release, coll: CollectionRef, key: str, table: Any, chunksize: int) -> Callable[[], Iterator[Task]]:
    return lambda: (Task(coll.id, release.href_base, batch=b, from_key=key) for b in table.to_batches(max_chunksize=chunksize))


def json_tasks(release: Release, coll: CollectionRef, pairs: list[tuple[str, dict[str, Any]]], chunksize: int) -> Callable[[], Iterator[Task]]:
    import copy

    # a fresh copy per pass: formatting changes the item dicts (hrefs), and a retry formats again
    return lambda: (Task(coll.id, release.href_base, items=copy.deepcopy(pairs[i : i + chunksize])) for i in range(0, len(pairs), chunksize))


def read_json_items(release: Release, coll: CollectionRef) -> list[tuple[str, dict[str, Any]]]:
    return list(items_from_json(release, coll.key, coll.content))
