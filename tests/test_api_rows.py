"""The loader's parts against the libraries they stand beside: the geoparquet reader against
stac-geoparquet's own ``stac_table_to_items``; the SQL the loader itself sends (reads, pgstac's
public functions; every write goes through pypgstac's ``Loader``); the rows it leaves against a
plain ``Loader.load_items`` of the same items; rollbacks; a changed base item."""
from __future__ import annotations

import re
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.apihelpers import fresh_db, sql

pytest_plugins = ["tests.apifixtures"]


def test_geoparquet_reader_equals_stac_geoparquets_own(built_release):
    """Our batch reader gives stac-geoparquet's items (datetimes as published), item by item, on
    every collection of the built release, also in odd batch sizes."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from stac_geoparquet.arrow import stac_table_to_items

    from sen12stac.api.release import datetimes_as_published, items_from_batch

    files = sorted(built_release.glob("*/items.parquet"))
    assert len(files) == 2
    for path in files:
        table = pq.read_table(path)
        theirs = [datetimes_as_published(item) for item in stac_table_to_items(table)]
        ours = [item for batch in table.to_batches(max_chunksize=7) for item in items_from_batch(batch)]
        assert len(ours) == table.num_rows > 10 and ours == theirs
        assert all(isinstance(it["geometry"]["coordinates"][0], list) and isinstance(it["bbox"], list) for it in ours)
        theirs_one = list(stac_table_to_items(pa.Table.from_batches(table.to_batches(max_chunksize=3)[:1])))
        assert theirs_one[0]["properties"]["datetime"] != ours[0]["properties"]["datetime"]  # microseconds there, none here
        assert datetimes_as_published(theirs_one[0]) == ours[0]


# ----------------------------------------------------------------------------- the SQL we send

_PSYCOPG = str(Path(__import__("psycopg").__file__).parent)
_REPO_PACKAGE = str(Path(__file__).resolve().parents[1] / "sen12stac")
# pgstac's functions documented or used as its API (stac-fastapi-pgstac's transactions, its docs'
# maintenance procedures), and SQL's own
_FUNCTIONS = {"get_version", "get_collection", "delete_collection", "analyze_items", "exists", "to_regclass", "any"}
_READ = {"items", "collections", "queryables", "migrations", "pg_settings"}
_WRITE = {"queryables"}  # the table pgstac's docs tell users to fill


@contextmanager
def _statements():
    """(origin, SQL) of every statement sent in this process; origin: 'sen12stac' when the
    nearest caller outside psycopg is this project's code, else the caller's package."""
    import psycopg

    seen: list[tuple[str, str]] = []
    real_execute, real_copy = psycopg.Cursor.execute, psycopg.Cursor.copy

    def origin() -> str:
        f = sys._getframe(2)
        while f is not None and (f.f_code.co_filename.startswith(_PSYCOPG) or f.f_code.co_filename == __file__):
            f = f.f_back
        name = f.f_code.co_filename if f is not None else ""
        return "sen12stac" if name.startswith(_REPO_PACKAGE) else name.split("site-packages/")[-1].split("/")[0]

    def text(cur, query) -> str:
        return query if isinstance(query, str) else query.decode() if isinstance(query, bytes) else query.as_string(cur)

    def execute(self, query, *args, **kwargs):
        seen.append((origin(), text(self, query)))
        return real_execute(self, query, *args, **kwargs)

    def copy(self, statement, *args, **kwargs):
        seen.append((origin(), text(self, statement)))
        return real_copy(self, statement, *args, **kwargs)

    psycopg.Cursor.execute, psycopg.Cursor.copy = execute, copy
    try:
        yield seen
    finally:
        psycopg.Cursor.execute, psycopg.Cursor.copy = real_execute, real_copy


def _not_public(statement: str) -> str | None:
    """Why ``statement`` is more than a read, a session setting, a call of one of pgstac's public
    functions or a queryables update; None when it is not."""
    s = " ".join(statement.split()).lower()
    verb = s.split(" ", 1)[0]
    if verb == "set":
        return None
    if verb == "analyze" and s.rstrip(";") == "analyze pgstac.items":
        return None
    tables = {t.removeprefix("pgstac.") for t in re.findall(r"\b(?:from|join|into|update|table|copy)\s+([a-z_][\w.]*)", s)}
    calls = re.sub(r"\binto\s+[a-z_][\w.]*\s*\(", "into (", s)  # the column list of an INSERT is no call
    functions = {f.removeprefix("pgstac.") for f in re.findall(r"\b([a-z_][\w.]*)\s*\(", calls)} - {"select", "values", "into", "in", "and", "or", "not"}
    if verb not in ("select", "call", "insert", "update"):
        return f"a {verb.upper()} statement"
    if functions - _FUNCTIONS:
        return f"calls {sorted(functions - _FUNCTIONS)}"
    written = {t.removeprefix("pgstac.") for t in re.findall(r"\b(?:into|update)\s+([a-z_][\w.]*)", s)}
    if verb in ("insert", "update") or written:
        return None if written and written <= _WRITE else f"writes {sorted(written) or s}"
    return None if tables <= _READ else f"reads {sorted(tables - _READ)}"


def test_the_loader_sends_only_reads_and_calls_of_pgstacs_public_functions(pg, built_release, tmp_path):
    """Everything the loader writes goes through pypgstac's Loader: the SQL of our own code in a
    first load, a reload that changes a collection and its items (upsert) and a load that fails
    (rolled back, the collection put back) reads, sets session settings, registers queryables
    and calls pgstac's public functions, and nothing else (no COPY, DELETE, DDL, no internal
    function such as check_partition, no pgstac table but queryables written)."""
    import json
    import shutil

    from sen12stac.api.load import load_release, open_release
    from sen12stac.errors import DatabaseError

    dsn = fresh_db(pg, "public_sql")
    changed = tmp_path / "changed"
    shutil.copytree(built_release, changed)
    coll_path = changed / "ROIs2017_winter" / "collection.json"
    coll = json.loads(coll_path.read_text())
    coll["description"] += " (changed)"
    coll_path.write_text(json.dumps(coll))
    broken = tmp_path / "broken"
    shutil.copytree(built_release, broken)
    (broken / "ROIs2017_winter" / "items.parquet").unlink()
    item_path = sorted(broken.glob("ROIs2017_winter/*/ROIs2017_winter_*_p*.json"))[-1]
    item = json.loads(item_path.read_text())
    item["properties"]["title"] = "broken \u0000 title"  # jsonb refuses it
    item_path.write_text(json.dumps(item))
    with _statements() as seen:
        load_release(open_release(str(built_release)), dsn, workers=0)
        load_release(open_release(str(changed)), dsn, workers=0)
        with pytest.raises(DatabaseError, match="ROIs2017_winter"):
            load_release(open_release(str(broken)), dsn, workers=0)
    ours = [stmt for who, stmt in seen if who == "sen12stac"]
    theirs = {who for who, _ in seen if who != "sen12stac"}
    assert len(ours) > 10 and theirs == {"pypgstac"}, theirs
    assert any("copy" in stmt.lower() for who, stmt in seen if who == "pypgstac")  # the rows went through pypgstac
    problems = [(why, stmt) for stmt in ours if (why := _not_public(stmt))]
    assert not problems, problems


def _indexes(dsn: str) -> dict[str, set[tuple[str, str]]]:
    rows = sql(dsn, """SELECT c.content->>'id', i.indexname, i.indexdef FROM pg_indexes i
                       JOIN pgstac.collections c ON i.tablename = '_items_' || c.key WHERE i.schemaname = 'pgstac'""")
    out: dict[str, set[tuple[str, str]]] = {}
    for coll, name, definition in rows:
        out.setdefault(coll, set()).add((name, definition))
    return out


def test_load_leaves_the_rows_and_indexes_of_pypgstacs_own_load(pg, built_release):
    """Rows formatted by worker processes, one partition load per collection, queryables
    registered first: the same rows (content, geometry, datetimes) and the same indexes (names
    and definitions) as a plain ``Loader.load_items`` of the same items, queryables registered."""
    from pypgstac.db import PgstacDB
    from pypgstac.load import Loader, Methods

    from sen12stac.api.load import collection_for_pgstac, items_for_pgstac, load_release, open_release, read_collections
    from sen12stac.api.queryables import QUERYABLES, register_queryables

    release = open_release(str(built_release))
    ours = fresh_db(pg, "idx_bulk")
    load_release(release, ours, chunksize=5)
    theirs = fresh_db(pg, "idx_pypgstac")
    register_queryables(theirs)
    db = PgstacDB(dsn=theirs)
    try:
        loader = Loader(db)
        colls = read_collections(release)
        loader.load_collections(iter([collection_for_pgstac(release, c) for c in colls]), insert_mode=Methods.insert)
        loader.load_items(iter([it for c in colls for it in items_for_pgstac(release, c)]), insert_mode=Methods.insert)
    finally:
        db.close()
    got, want = _indexes(ours), _indexes(theirs)
    assert set(got) == {c.id for c in colls}
    assert got == want
    assert all(len(v) == 3 + sum(1 for q in QUERYABLES if q.index) for v in got.values())  # id, datetime, geometry, the queryables
    content = "SELECT id, content, geometry, datetime, end_datetime FROM pgstac.items ORDER BY id"
    assert sql(ours, content) == sql(theirs, content)  # and the same rows


def test_a_row_a_worker_cannot_format_rolls_its_collection_back(pg, built_release, tmp_path):
    """An item pypgstac's ``format_item`` refuses (start_datetime after end_datetime), in a
    geoparquet file formatted by the worker processes: the load fails naming the collection,
    which is left as it was (absent: a first load, so the collection this load created is
    deleted again), while the collection loaded before it stays."""
    import shutil

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from sen12stac.api.load import load_release, open_release
    from sen12stac.errors import DatabaseError

    copy_ = tmp_path / "bad"
    shutil.copytree(built_release, copy_)
    path = copy_ / "ROIs2017_winter" / "items.parquet"
    table = pq.read_table(path)
    last = table.num_rows - 1
    later = pc.add(table["end_datetime"][last], pa.scalar(86400 * 10**6, pa.duration("us"))).as_py()
    start = table["start_datetime"].to_pylist()
    start[last] = later
    table = table.set_column(table.column_names.index("start_datetime"), "start_datetime", pa.array(start, table["start_datetime"].type))
    pq.write_table(table, path)
    dsn = fresh_db(pg, "badrow")
    with pytest.raises(DatabaseError, match="ROIs2017_winter .*rolled back.*start_datetime"):
        load_release(open_release(str(copy_)), dsn, chunksize=3)
    assert sql(dsn, "SELECT collection, count(*) FROM pgstac.items GROUP BY 1") == [("ROIs1158_spring", sum(1 for _ in (copy_ / "ROIs1158_spring").glob("*/*_p*.json")))]
    assert sql(dsn, "SELECT id FROM pgstac.collections") == [("ROIs1158_spring",)]


def test_a_changed_base_item_reformats_the_rows(pg, built_release, tmp_path):
    """A collection whose ``item_assets`` change (so its base item changes with its upsert): the
    worker processes dehydrate its items against the new base item: every item pgstac hydrates
    equals the one it hydrated before."""
    import json
    import shutil

    from sen12stac.api.load import load_release, open_release

    dsn = fresh_db(pg, "rebase")
    load_release(open_release(str(built_release)), dsn)
    query = "SELECT id, pgstac.get_item(id, collection) FROM pgstac.items ORDER BY id"
    before = sql(dsn, query)
    changed = tmp_path / "rebased"
    shutil.copytree(built_release, changed)
    path = changed / "ROIs1158_spring" / "collection.json"
    coll = json.loads(path.read_text())
    for asset in coll["item_assets"].values():
        asset["title"] = "a title no item has"  # items keep theirs; dehydrated against this base, they must carry them
    path.write_text(json.dumps(coll))
    load_release(open_release(str(changed)), dsn)
    after = sql(dsn, query)
    hrefs = str(built_release.resolve().as_uri()), str(changed.resolve().as_uri())
    assert [(i, json.loads(json.dumps(it).replace(hrefs[1], hrefs[0]))) for i, it in after] == before
    spring = sql(dsn, "SELECT content FROM pgstac.items WHERE collection = 'ROIs1158_spring' LIMIT 1")[0][0]
    assert all("title" in a for a in spring["assets"].values())  # now differing from the base: stored


def test_a_collection_pgstac_partitions_by_month_is_loaded_by_pypgstacs_load_items(pg, built_release):
    """A collection whose ``partition_trunc`` is set in the database before any item (pgstac's
    docs: partitioning by month or year is set up first) is loaded by pypgstac's own
    ``Loader.load_items``, which splits the rows by month: every item arrives, in its month's
    partition, and a second load changes nothing."""
    import psycopg
    from pypgstac.db import PgstacDB
    from pypgstac.load import Loader, Methods

    from sen12stac.api.load import collection_for_pgstac, load_release, open_release, read_collections
    from tests.apihelpers import snapshot, static_items

    dsn = fresh_db(pg, "monthly")
    release = open_release(str(built_release))
    db = PgstacDB(dsn=dsn)
    try:
        Loader(db).load_collections(iter([collection_for_pgstac(release, c) for c in read_collections(release)]), insert_mode=Methods.insert)
    finally:
        db.close()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE pgstac.collections SET partition_trunc = 'month' WHERE id = 'ROIs2017_winter'")
    report = load_release(release, dsn, chunksize=7)
    walk = static_items(built_release)
    want = {c: sum(1 for it in walk if it["collection"] == c) for c in ("ROIs1158_spring", "ROIs2017_winter")}
    assert report.collections == want
    assert dict(sql(dsn, "SELECT collection, count(*) FROM pgstac.items GROUP BY 1")) == want
    tables = {t for (t,) in sql(dsn, "SELECT DISTINCT tableoid::regclass::text FROM pgstac.items WHERE collection = 'ROIs2017_winter'")}
    assert tables and all(re.fullmatch(r"(pgstac\.)?_items_\d+_\d{6}", t) for t in tables), tables
    before = snapshot(dsn)
    load_release(release, dsn)
    assert snapshot(dsn) == before
