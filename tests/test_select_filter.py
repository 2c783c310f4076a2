"""CQL2 filters in select(): pushed down into Arrow compute over the stac-geoparquet columns,
with the same answers as cql2's per-item evaluation of the items themselves.

A release of crafted items (two collections with different columns, nulls, missing keys,
nested properties, polygons around the globe, datetimes over a year) is written with
stac-geoparquet's public API; each filter's expected ids come from ``cql2.Expr.matches`` on
the item dicts as written (an item the filter leaves unknown is not selected, as a STAC API
drops it), never through the code under test.
"""
from __future__ import annotations

import functools
import http.server
import json
import random
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cql2
import pytest

from sen12stac.errors import ConfigError
from sen12stac.stream import select

pytest_plugins = ["tests.conftest_s3"]

PREFIX = "sen1-2/v9.9.9"
COLLECTIONS = ("ROIs1158_spring", "ROIs2017_winter")


def _square(lon: float, lat: float, size: float) -> dict:
    return {"type": "Polygon", "coordinates": [[[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]]}


def crafted_items(n: int = 240, seed: int = 23) -> list[dict]:
    rng = random.Random(seed)
    t0 = datetime(2016, 12, 1, tzinfo=timezone.utc)
    items = []
    for k in range(n):
        coll = COLLECTIONS[k % 2]
        lon, lat = rng.uniform(-179, 178), rng.uniform(-60, 70)
        size = rng.choice([0.02, 0.5, 3.0])
        dt = t0 + timedelta(hours=rng.randrange(0, 24 * 365))
        props = {
            "datetime": dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "start_datetime": (dt - timedelta(hours=rng.randrange(1, 40))).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end_datetime": dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ml-aoi:split": rng.choice(["train", "train", "train", "validate", "test"]),
            "eo:cloud_cover": round(rng.uniform(0, 10), 3),
            "sen12:roi_kind": rng.choice(["land", "urban", "Urban", "urban_core", "land%x"]),
            "sen12:scene_id": f"{coll}_{k // 12}",
            "sen12:scene_index": k // 12,
            "sen12:patch_index": k % 12,
            "sen12:kept": rng.random() < 0.7,
            "sen12:qc": {"score": rng.randrange(0, 100), "reason": rng.choice(["ok", "haze", "edge"])},
        }
        r = rng.random()
        if r < 0.1:
            props["eo:cloud_cover"] = None  # null
        elif r < 0.2:
            del props["eo:cloud_cover"]  # missing
        if rng.random() < 0.15:
            props["sen12:roi_kind"] = None
        if rng.random() < 0.1:
            del props["sen12:qc"]
        if coll == COLLECTIONS[1]:
            props["sen12:winter_only"] = rng.randrange(0, 5)  # a column the other collection lacks
        sid = f"{coll}_{k // 12}_p{k % 12}"
        items.append({
            "type": "Feature", "stac_version": "1.1.0", "stac_extensions": [], "id": sid, "collection": coll,
            "geometry": _square(lon, lat, size), "bbox": [lon, lat, lon + size, lat + size], "properties": props, "links": [],
            "assets": {a: {"href": f"./{k // 12}/{sid}_{a}.tif", "type": "image/tiff; application=geotiff; profile=cloud-optimized", "roles": ["data"],
                           "file:size": 1000 + k, "file:checksum": f"1220{k:064x}",
                           "bands": [{"name": f"{a}b{i}", "nodata": 0, "raster:scale": round(0.1 * (1 + (k // 12) % 3), 2), "raster:offset": -float(i)}
                                     for i in range(1 if a == "s1" else 3)]}
                       for a in ("s1", "s2")},
        })
    return items


def write_release(out: Path, items: list[dict]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from stac_geoparquet.arrow import parse_stac_items_to_arrow

    out.mkdir(parents=True)
    root = {"type": "Catalog", "stac_version": "1.1.0", "id": "sen1-2", "description": "crafted", "links": []}
    for coll in COLLECTIONS:
        (out / coll).mkdir()
        rows = [it for it in items if it["collection"] == coll]
        table = pa.Table.from_batches(list(parse_stac_items_to_arrow(rows)))
        pq.write_table(table, out / coll / "items.parquet")
        c = {"type": "Collection", "stac_version": "1.1.0", "id": coll, "description": coll, "license": "CC-BY-4.0", "links": [],
             "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [[None, None]]}},
             "assets": {"items": {"href": "./items.parquet", "type": "application/vnd.apache.parquet", "roles": ["stac-items"]}}}
        (out / coll / "collection.json").write_text(json.dumps(c))
        root["links"].append({"rel": "child", "href": f"./{coll}/collection.json", "type": "application/json"})
    (out / "catalog.json").write_text(json.dumps(root))
    return out


@pytest.fixture(scope="module")
def items() -> list[dict]:
    return crafted_items()


@pytest.fixture(scope="module")
def release(items, tmp_path_factory) -> Path:
    return write_release(tmp_path_factory.mktemp("select-filter") / "release", items)


def expected_ids(items: list[dict], flt) -> list[str]:
    expr = cql2.Expr(flt)

    def ok(it):
        try:
            return bool(expr.matches(it))
        except Exception:  # noqa: BLE001 - unknown for this item: not selected
            return False

    return sorted(it["id"] for it in items if ok(it))


AFRICA = "POLYGON((-20 -35, 55 -35, 55 37, -20 37, -20 -35))"
# filters the pushdown translates whole
PUSHED = [
    "\"eo:cloud_cover\" < 0.5 AND \"sen12:roi_kind\" = 'urban'",
    "\"eo:cloud_cover\" < 5",
    "\"eo:cloud_cover\" >= 5",
    "\"eo:cloud_cover\" <= 2.5 OR \"sen12:kept\" = false",
    "\"eo:cloud_cover\" = 6.605 OR \"eo:cloud_cover\" = 2.183",
    "\"eo:cloud_cover\" <> 3",
    "NOT (\"eo:cloud_cover\" < 5)",
    "NOT (\"eo:cloud_cover\" < 5 OR \"sen12:roi_kind\" = 'land')",
    "NOT (\"eo:cloud_cover\" < 5 AND \"sen12:roi_kind\" = 'land')",
    "\"sen12:roi_kind\" LIKE 'urb%'",
    "\"sen12:roi_kind\" LIKE 'U%'",
    "\"sen12:roi_kind\" LIKE '_rban'",
    "\"sen12:roi_kind\" LIKE 'land_x' OR id LIKE 'ROIs1158.spring%'",
    "\"sen12:roi_kind\" NOT LIKE '%rb%'",
    "\"sen12:roi_kind\" IN ('urban', 'land')",
    "\"sen12:roi_kind\" NOT IN ('urban', 'land')",
    "\"sen12:patch_index\" IN (0, 3, 11)",
    "\"eo:cloud_cover\" BETWEEN 2 AND 4",
    "\"eo:cloud_cover\" NOT BETWEEN 2 AND 4",
    "\"sen12:patch_index\" BETWEEN 3 AND 3",
    "\"eo:cloud_cover\" IS NULL",
    "\"eo:cloud_cover\" IS NOT NULL",
    "\"sen12:roi_kind\" IS NULL OR \"sen12:roi_kind\" = 'land'",
    "\"sen12:roi_kind\" > 'm'",
    "\"sen12:roi_kind\" <= 'land%x'",
    "\"sen12:kept\" = true",
    "\"sen12:kept\" <> true AND \"ml-aoi:split\" = 'test'",
    "id = 'ROIs1158_spring_3_p4'",
    "id LIKE 'ROIs2017%p1_'",
    "collection = 'ROIs2017_winter' AND \"sen12:scene_index\" < 5",
    "\"sen12:qc.score\" > 50",
    "\"sen12:qc.reason\" = 'haze' OR \"sen12:qc.score\" IS NULL",
    "\"sen12:qc.nothing\" IS NULL",
    "\"sen12:winter_only\" >= 2",
    "\"sen12:winter_only\" IS NULL",
    "NOT (\"sen12:winter_only\" >= 2)",
    "\"no:such\" < 1 OR \"eo:cloud_cover\" >= 0",
    "\"no:such\" IS NULL AND \"sen12:patch_index\" = 2",
    "\"no:such\" = 'x'",
    "NOT (\"no:such\" = 'x')",
    "\"no:such\" < 1 AND \"eo:cloud_cover\" < 0",
    f"S_INTERSECTS(geometry, {AFRICA})",
    "S_INTERSECTS(geometry, BBOX(-10, 0, 60, 50))",
    "S_INTERSECTS(geometry, POINT(10 10)) OR S_INTERSECTS(geometry, BBOX(100, -60, 180, 0))",
    "S_DISJOINT(geometry, BBOX(-180, 0, 0, 90))",
    f"S_INTERSECTS(geometry, {AFRICA}) AND \"eo:cloud_cover\" < 3",
    "T_INTERSECTS(datetime, INTERVAL('2017-03-01T00:00:00Z', '2017-05-30T23:59:59Z'))",
    "T_INTERSECTS(datetime, INTERVAL('..', '2017-01-15T00:00:00Z'))",
    "T_INTERSECTS(start_datetime, INTERVAL('2017-08-01T00:00:00Z', '..'))",
    "T_DISJOINT(datetime, INTERVAL('2017-03-01T00:00:00Z', '2017-09-01T00:00:00Z'))",
    "T_BEFORE(datetime, TIMESTAMP('2017-02-01T00:00:00Z'))",
    "T_AFTER(end_datetime, TIMESTAMP('2017-10-01T00:00:00Z'))",
    "datetime >= TIMESTAMP('2017-06-01T00:00:00Z') AND datetime < TIMESTAMP('2017-07-01T00:00:00Z')",
    {"op": "and", "args": [{"op": "<", "args": [{"property": "eo:cloud_cover"}, 3]}, {"op": "=", "args": [{"property": "ml-aoi:split"}, "train"]}]},
    {"op": "=", "args": [{"property": "sen12:qc.reason"}, "edge"]},
    {"op": ">", "args": [7, {"property": "eo:cloud_cover"}]},
]
# filters left (wholly or partly) to the per-item evaluation
PER_ITEM = [
    "CASEI(\"sen12:roi_kind\") = casei('URBAN')",
    "\"eo:cloud_cover\" < 5 AND CASEI(\"sen12:roi_kind\") = casei('URBAN')",
    "\"eo:cloud_cover\" + 1 > 5",
    "\"sen12:roi_kind\" = 5",
    "\"eo:cloud_cover\" = '3'",
    "\"sen12:patch_index\" IN ('3', 4)",
    "datetime > DATE('2017-06-01')",
    "\"sen12:roi_kind\" LIKE 'land\\%x'",
    "S_WITHIN(geometry, BBOX(-20, -40, 60, 40))",
    "T_INTERSECTS(datetime, INTERVAL('2017-03-01', '2017-04-01'))",
    {"op": "<", "args": [{"property": "properties.eo:cloud_cover"}, 3]},
    "\"sen12:kept\" = 1",
]


def test_pushdown_translates_these_filters_whole(release):
    import pyarrow.parquet as pq

    from sen12stac.stream.pushdown import plan

    schema = pq.read_schema(release / COLLECTIONS[1] / "items.parquet")
    for f in PUSHED:
        assert plan(cql2.Expr(f).to_json(), schema).rest == [], f
    for f in PER_ITEM:
        assert plan(cql2.Expr(f).to_json(), schema).rest != [], f


@pytest.mark.parametrize("flt", PUSHED + PER_ITEM, ids=lambda f: json.dumps(f)[:70])
def test_filter_answers_equal_the_per_item_evaluation(release, items, flt):
    got = [p.id for p in select(str(release), filter=flt)]
    assert got == expected_ids(items, flt)


def test_the_filters_are_not_trivial(items):
    """Most filters select some items and not all: an all-or-nothing filter proves little."""
    sizes = [len(expected_ids(items, f)) for f in PUSHED + PER_ITEM]
    assert sum(0 < s < len(items) for s in sizes) >= len(sizes) - 7  # the unknown-everywhere ones
    assert len(expected_ids(items, "\"eo:cloud_cover\" IS NULL")) > 10


def test_pushed_filter_turns_no_row_back_into_an_item(release, items, monkeypatch):
    """The pushed part runs on the columns: stac-geoparquet's row-to-item conversion (what the
    per-item evaluation needs) is not called at all."""
    import stac_geoparquet.arrow

    def refuse(*a, **k):
        raise AssertionError("per-item conversion called")

    monkeypatch.setattr(stac_geoparquet.arrow, "stac_table_to_items", refuse)
    flt = "\"eo:cloud_cover\" < 0.5 AND \"sen12:roi_kind\" = 'urban' OR S_INTERSECTS(geometry, BBOX(-10, 0, 60, 50))"
    got = [p.id for p in select(str(release), filter=flt)]
    monkeypatch.undo()
    assert got == expected_ids(items, flt) and got


def test_filters_with_other_selectors(release, items):
    flt = "\"eo:cloud_cover\" < 6 OR \"sen12:roi_kind\" IS NULL"
    got = [p.id for p in select(str(release), filter=flt, split="train", seasons="winter", bbox=(-180, -30, 180, 80))]
    keep = set(expected_ids(items, flt))
    want = sorted(it["id"] for it in items if it["id"] in keep and it["properties"]["ml-aoi:split"] == "train" and it["collection"] == COLLECTIONS[1]
                  and it["bbox"][1] <= 80 and it["bbox"][3] >= -30)
    assert got == want and want


def test_a_filter_cql2_cannot_evaluate_is_one_line(release):
    with pytest.raises(ConfigError) as e:
        select(str(release), filter="\"eo:cloud_cover\" <")
    assert "\n" not in str(e.value) and "eo:cloud_cover" in str(e.value)


SOME = ["\"eo:cloud_cover\" < 0.5 AND \"sen12:roi_kind\" = 'urban'", f"S_INTERSECTS(geometry, {AFRICA}) AND \"sen12:qc.score\" > 20",
        "\"eo:cloud_cover\" < 5 AND CASEI(\"sen12:roi_kind\") = casei('URBAN')"]


def test_filters_on_an_s3_release(release, items, moto, s3_client):
    bucket = "select-filter"
    s3_client.create_bucket(Bucket=bucket)
    for p in sorted(release.rglob("*")):
        if p.is_file():
            s3_client.put_object(Bucket=bucket, Key=f"{PREFIX}/{p.relative_to(release).as_posix()}", Body=p.read_bytes())
    for flt in SOME:
        sel = select(f"s3://{bucket}/{PREFIX}", filter=flt, endpoint_url=moto.endpoint_url, access_key_id="testing", secret_access_key="testing")
        assert [p.id for p in sel] == expected_ids(items, flt)


def test_filters_on_an_https_release(release, items):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(release))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for flt in SOME:
            assert [p.id for p in select(f"http://127.0.0.1:{server.server_address[1]}", filter=flt)] == expected_ids(items, flt)
    finally:
        server.shutdown()
        server.server_close()


def test_pairs_equal_those_made_item_by_item(release, items):
    """Pairs built column by column (bands grouped, hrefs resolved per folder) equal the pairs
    made from each item dict as written."""
    from sen12stac.stream.location import resolve
    from sen12stac.stream.select import pair_from_item

    flt = "\"eo:cloud_cover\" < 6 OR \"sen12:roi_kind\" IS NULL"
    got = list(select(str(release), filter=flt))
    keep = set(expected_ids(items, flt))
    want = sorted((pair_from_item(it, lambda h, c=it["collection"]: resolve(f"{c}/items.parquet", h)) for it in items if it["id"] in keep), key=lambda p: p.id)
    assert got == want
    assert len({p.s2.bands for p in got}) == 3 and got[0].s2.bands[0].scale in (0.1, 0.2, 0.3) and got[0].s1.checksum.startswith("1220")


def test_an_item_whose_bbox_crosses_the_antimeridian(tmp_path):
    """Its bbox (west > east) says nothing about where a planar test finds its geometry: the
    rows go to shapely, and the answers stay cql2's."""
    items = crafted_items(24, seed=5)
    it = items[3]
    it["geometry"] = {"type": "Polygon", "coordinates": [[[179.5, 10], [-179.5, 10], [-179.5, 11], [179.5, 11], [179.5, 10]]]}
    it["bbox"] = [179.5, 10, -179.5, 11]
    release = write_release(tmp_path / "release", items)
    for flt in ("S_INTERSECTS(geometry, BBOX(0, 10.2, 1, 10.8))", "S_INTERSECTS(geometry, BBOX(179.6, 10.2, 179.8, 10.8))",
                "S_DISJOINT(geometry, BBOX(0, 10.2, 1, 10.8))"):
        assert [p.id for p in select(str(release), filter=flt)] == expected_ids(items, flt), flt
    assert it["id"] in expected_ids(items, "S_INTERSECTS(geometry, BBOX(0, 10.2, 1, 10.8))")
