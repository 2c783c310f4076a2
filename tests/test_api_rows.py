"""The bulk load's pgstac rows (sen12stac.api.rows, load.py) against pypgstac's own: the same
dehydrated content, geometry, datetimes, on the built release's items and on edge cases; and a
collection loaded through the bulk path (its partition's indexes dropped before the COPY and
built again after) ends with the indexes pgstac gives it through pypgstac's loader."""
from __future__ import annotations

import copy

import orjson
import pytest

from tests.apihelpers import fresh_db, sql

pytest_plugins = ["tests.apifixtures"]


def _pypgstac_dehydrate(base, item):
    from pypgstac.hydration import dehydrate

    return dehydrate(copy.deepcopy(base), copy.deepcopy(item))


BASE = {
    "type": "Feature",
    "stac_version": "1.1.0",
    "collection": "c",
    "assets": {
        "s1": {"title": "S1", "roles": ["data"], "gsd": 10, "bands": [{"name": "VV", "nodata": 0, "unit": "dB"}]},
        "s2": {"title": "S2", "roles": ["data", "visual"], "bands": [{"name": "B04"}, {"name": "B03"}, {"name": "B02"}]},
        "thumb": {"title": "T", "type": "image/jpeg"},
        "odd": "a string where items have a dict",
    },
}

EDGE_ITEMS = [
    {"type": "Feature", "id": "same", "assets": copy.deepcopy(BASE["assets"])},
    # a key the base has and the item lacks (marker), at top level, in an asset, in a band
    {"id": "missing", "stac_version": "1.1.0", "assets": {"s1": {"roles": ["data"], "bands": [{"name": "VV", "nodata": 0}]}}},
    # equal-length lists of dicts, unequal-length lists, lists of scalars, None and [] values
    {"id": "lists", "type": "Feature", "assets": {"s2": {"title": "S2", "roles": ["data"], "bands": [{"name": "B04", "scale": 2}, {"name": "B03"}, {"name": "B02", "extra": [1, 2]}]},
                                                  "s1": {"title": None, "roles": [], "gsd": 20, "bands": [{"name": "VV"}, {"name": "VH"}]}}},
    # nested dicts the base does not know, and a dict where the base has a string
    {"id": "nested", "properties": {"a": {"b": {"c": 1}}}, "assets": {"odd": {"href": "x"}, "new": {"href": "y", "roles": ["data"]}, "thumb": {"title": "T", "type": "image/png"}}},
    {"id": "odd-scalar", "assets": {"odd": "a string where items have a dict", "s1": "not a dict", "thumb": ["a", "list"]}},
]


@pytest.mark.parametrize("item", EDGE_ITEMS, ids=[i["id"] for i in EDGE_ITEMS])
def test_dehydrate_equals_pypgstacs_on_edge_cases(item):
    from pypgstac.hydration import DO_NOT_MERGE_MARKER

    from sen12stac.api.rows import dehydrate

    ours = dehydrate(copy.deepcopy(BASE), copy.deepcopy(item))
    assert ours == _pypgstac_dehydrate(BASE, item)
    assert orjson.dumps(ours) == orjson.dumps(_pypgstac_dehydrate(BASE, item))  # key order too
    if item["id"] == "missing":
        assert ours["type"] == DO_NOT_MERGE_MARKER and ours["assets"]["s1"]["title"] == DO_NOT_MERGE_MARKER
        assert ours["assets"]["s1"]["bands"][0]["unit"] == DO_NOT_MERGE_MARKER and ours["assets"]["s2"] == DO_NOT_MERGE_MARKER


def test_dehydrate_of_non_dict_bases_is_pypgstacs():
    from sen12stac.api.rows import dehydrate

    for base in (None, {"assets": None}, {"assets": ["x"]}):
        for item in EDGE_ITEMS:
            assert dehydrate(copy.deepcopy(base), copy.deepcopy(item)) == _pypgstac_dehydrate(base, item)


def test_ewkb_from_wkb_is_plpygis_ewkb():
    import shapely
    from plpygis.geometry import Geometry

    from sen12stac.api.rows import ewkb_hex

    shapes = [
        {"type": "Polygon", "coordinates": [[[8.1, 50.2], [8.2, 50.2], [8.2, 50.3], [8.1, 50.3], [8.1, 50.2]]]},
        {"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 0], [1, 1], [0, 0]]], [[[2, 2], [3, 2], [3, 3], [2, 2]]]]},
        {"type": "Point", "coordinates": [-170.5, -55.25]},
        {"type": "LineString", "coordinates": [[0, 0], [1, 1.5]]},
    ]
    for g in shapes:
        wkb = shapely.to_wkb(shapely.geometry.shape(g))
        assert ewkb_hex(wkb) == str(Geometry.from_geojson(g).ewkb)
        assert ewkb_hex(shapely.to_wkb(shapely.geometry.shape(g), byte_order=0)) == str(Geometry.from_geojson(g).ewkb)  # big-endian WKB


def _unescape(field: str) -> str | None:
    if field == "\\N":
        return None
    out, i = [], 0
    while i < len(field):
        c = field[i]
        if c == "\\":
            nxt = field[i + 1]
            out.append({"n": "\n", "r": "\r", "t": "\t", "\\": "\\"}[nxt])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def test_rows_equal_pypgstacs_format_item_on_the_release(pg, built_release):
    """Both read paths (item JSON, geoparquet through Arrow batches) give the rows pypgstac's
    Loader.format_item gives for the same item dicts, every column byte for byte; and the two
    paths give the same rows (the content's keys come in column order from the geoparquet)."""
    from pypgstac.db import PgstacDB
    from pypgstac.load import Loader, Methods

    from sen12stac.api.load import _format_batch, _read_geoparquet, _source, _Target, collection_for_pgstac, items_for_pgstac, open_release, read_collections
    from sen12stac.api.rows import geojson_ewkb_hex, item_row

    dsn = fresh_db(pg, "rows")
    release = open_release(str(built_release))
    db = PgstacDB(dsn=dsn)
    try:
        loader = Loader(db)
        colls = read_collections(release)
        loader.load_collections(iter([collection_for_pgstac(release, c) for c in colls]), insert_mode=Methods.upsert)
        checked = 0
        for coll in colls:
            base, _, _, base_id = loader.collection_json(coll.id)

            def expected(item):
                out = loader.format_item(copy.deepcopy(item))
                return (out["id"], out["collection"], out["datetime"], out["end_datetime"], out["geometry"], out["content"], out["private"])

            by_json = {it["id"]: it for it in items_for_pgstac(release, coll, source="json")}
            for item in by_json.values():
                assert item_row(copy.deepcopy(item), geojson_ewkb_hex(item["geometry"]), base, base_id) == expected(item)
            by_parquet = {it["id"]: it for it in items_for_pgstac(release, coll, source="geoparquet")}
            _, pq_key = _source(release, coll, "geoparquet")
            target = _Target(coll.id, release.href_base, pq_key, base, base_id)
            for batch in _read_geoparquet(release, pq_key).to_batches(max_chunksize=7):
                text, n = _format_batch(batch, target)
                lines = text.decode().split("\n")[:-1]
                assert len(lines) == n == batch.num_rows
                for line in lines:
                    row = tuple(_unescape(f) for f in line.split("\t"))
                    assert row == expected(by_parquet[row[0]])
                    from_json = expected(by_json[row[0]])  # the same row, keys in another order
                    assert row[:5] + row[6:] == from_json[:5] + from_json[6:] and orjson.loads(row[5]) == orjson.loads(from_json[5])
                    checked += 1
        assert checked == sum(1 for c in colls for _ in items_for_pgstac(release, c, source="json")) > 20
    finally:
        db.close()


def _indexes(dsn: str) -> dict[str, set[tuple[str, str]]]:
    rows = sql(dsn, """SELECT c.content->>'id', i.indexname, i.indexdef FROM pg_indexes i
                       JOIN pgstac.collections c ON i.tablename = '_items_' || c.key WHERE i.schemaname = 'pgstac'""")
    out: dict[str, set[tuple[str, str]]] = {}
    for coll, name, definition in rows:
        out.setdefault(coll, set()).add((name, definition))
    return out


def test_bulk_load_leaves_the_indexes_pgstac_makes(pg, built_release):
    """The bulk path registers the queryables before the COPY (pgstac indexes a new partition
    for them); with ``rebuild_indexes`` it drops an empty partition's own indexes before its
    COPY and builds them after. Either way the partitions end with the same indexes (names and
    definitions) as partitions filled by pypgstac's loader with the same queryables registered."""
    from pypgstac.db import PgstacDB
    from pypgstac.load import Loader, Methods

    from sen12stac.api.load import collection_for_pgstac, items_for_pgstac, load_release, open_release, read_collections
    from sen12stac.api.queryables import QUERYABLES, register_queryables

    release = open_release(str(built_release))
    ours = fresh_db(pg, "idx_bulk")
    load_release(release, ours)
    rebuilt = fresh_db(pg, "idx_rebuilt")
    load_release(release, rebuilt, rebuild_indexes=True)
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
    assert got == want == _indexes(rebuilt)
    assert all(len(v) == 3 + sum(1 for q in QUERYABLES if q.index) for v in got.values())  # id, datetime, geometry, the queryables
    content = "SELECT id, content, geometry, datetime, end_datetime FROM pgstac.items ORDER BY id"
    assert sql(ours, content) == sql(theirs, content) == sql(rebuilt, content)  # and the same rows


def test_a_row_a_worker_cannot_format_rolls_its_collection_back(pg, built_release, tmp_path):
    """An item pypgstac would refuse (start_datetime after end_datetime), in a geoparquet file
    formatted by the worker processes: the load fails naming the collection, which is left as it
    was (absent: a first load), while the collection committed before it stays."""
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
    """The rows of collections whose base item is known before the load are formatted ahead; one
    whose ``item_assets`` change (so its base item changes with its upsert) is formatted again
    against the new base: every item pgstac hydrates equals the one it hydrated before."""
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
