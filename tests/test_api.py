"""The STAC API on a built release: pystac-client against `sen12stac api serve`, counts against a
walk of the static catalog. PostgreSQL, the loader and the server are real processes on loopback."""
from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest

from tests.apihelpers import run_cli, snapshot, sql, static_items

pytest_plugins = ["tests.apifixtures"]

pytestmark = pytest.mark.filterwarnings("ignore::pystac_client.warnings.DoesNotConformTo")


@pytest.fixture(scope="module")
def walk(built_release):
    return static_items(built_release)


@pytest.fixture(scope="module")
def client(api_url):
    from pystac_client import Client

    return Client.open(api_url)


def _ids(search) -> list[str]:
    return [item.id for item in search.items()]


def _when(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def test_every_collection_is_served_and_its_items_page_through(client, walk):
    by_coll: dict[str, set[str]] = {}
    for it in walk:
        by_coll.setdefault(it["collection"], set()).add(it["id"])
    assert len(by_coll) == 2 and all(len(v) > 10 for v in by_coll.values())
    assert {c.id for c in client.get_collections()} == set(by_coll)
    for coll, ids in by_coll.items():
        search = client.search(collections=[coll], limit=7)  # more items than one page
        pages = list(search.pages())
        assert len(pages) == math.ceil(len(ids) / 7)
        got = [f.id for page in pages for f in page.items]
        assert len(got) == len(set(got)) == len(ids) and set(got) == ids
        assert search.matched() == len(ids)
    assert client.search(limit=5).matched() == len(walk)


def test_bbox_search_matches_geometry_intersection(client, walk):
    from shapely.geometry import box, shape

    some = [it for it in walk if it["collection"] == "ROIs1158_spring"]
    xs = sorted(b for it in some for b in (it["bbox"][0], it["bbox"][2]))
    ys = sorted(b for it in some for b in (it["bbox"][1], it["bbox"][3]))
    # a box through the middle of the first scene's patches, edges off any patch edge
    scene = [it for it in some if it["properties"]["sen12:scene_id"] == some[0]["properties"]["sen12:scene_id"]]
    x0 = min(it["bbox"][0] for it in scene)
    y0 = min(it["bbox"][1] for it in scene)
    x1 = max(it["bbox"][2] for it in scene)
    y1 = max(it["bbox"][3] for it in scene)
    q = [x0 + 0.013 * (x1 - x0), y0 + 0.011 * (y1 - y0), x0 + 0.517 * (x1 - x0), y0 + 0.493 * (y1 - y0)]
    want = {it["id"] for it in walk if shape(it["geometry"]).intersects(box(*q))}
    assert 0 < len(want) < len(scene), (len(want), len(scene), xs[:1], ys[:1])
    search = client.search(bbox=q, limit=4)
    assert set(_ids(search)) == want
    assert search.matched() == len(want)


def test_datetime_range_matches_item_intervals(client, walk):
    times = sorted({_when(it["properties"]["datetime"]) for it in walk})
    assert len(times) >= 3
    lo, hi = times[0], times[len(times) // 2]

    def hit(it):
        p = it["properties"]
        start = _when(p.get("start_datetime") or p["datetime"])
        end = _when(p.get("end_datetime") or p["datetime"])
        return start <= hi and end >= lo

    want = {it["id"] for it in walk if hit(it)}
    assert 0 < len(want) < len(walk)
    rng = f"{lo.astimezone(timezone.utc):%Y-%m-%dT%H:%M:%SZ}/{hi.astimezone(timezone.utc):%Y-%m-%dT%H:%M:%SZ}"
    search = client.search(datetime=rng, limit=10)
    assert set(_ids(search)) == want
    assert search.matched() == len(want)


@pytest.mark.parametrize("split", ["train", "validate", "test"])
def test_cql2_json_filter_on_split(client, walk, split):
    want = {it["id"] for it in walk if it["properties"]["ml-aoi:split"] == split}
    search = client.search(filter={"op": "=", "args": [{"property": "ml-aoi:split"}, split]}, filter_lang="cql2-json", limit=20)
    assert set(_ids(search)) == want
    assert search.matched() == len(want)


def test_cql2_text_filter_and_season_by_get(client, walk):
    want = {it["id"] for it in walk if it["collection"] == "ROIs2017_winter" and it["properties"]["eo:cloud_cover"] < 5 and it["properties"]["ml-aoi:split"] != "validate"}
    search = client.search(method="GET", collections=["ROIs2017_winter"], filter="\"eo:cloud_cover\" < 5 AND \"ml-aoi:split\" <> 'validate'", filter_lang="cql2-text", limit=6)
    assert set(_ids(search)) == want
    assert search.matched() == len(want)


def test_search_by_scene(client, walk):
    scenes = sorted({it["properties"]["sen12:scene_id"] for it in walk})
    assert len(scenes) >= 3
    for scene in scenes:
        want = {it["id"] for it in walk if it["properties"]["sen12:scene_id"] == scene}
        search = client.search(filter={"op": "=", "args": [{"property": "sen12:scene_id"}, scene]}, limit=50)
        assert set(_ids(search)) == want and search.matched() == len(want)


def test_query_extension(client, walk):
    want = {it["id"] for it in walk if it["properties"]["sen12:nodata_fraction"] <= 0.001 and it["properties"]["sat:orbit_state"] == "ascending"}
    search = client.search(query={"sen12:nodata_fraction": {"lte": 0.001}, "sat:orbit_state": {"eq": "ascending"}}, limit=50)
    assert set(_ids(search)) == want and search.matched() == len(want)


def test_sortby_cloud_cover_then_id(client, walk):
    want = [it["id"] for it in sorted(walk, key=lambda it: (-it["properties"]["eo:cloud_cover"], it["id"]))]
    search = client.search(sortby=[{"field": "properties.eo:cloud_cover", "direction": "desc"}, {"field": "id", "direction": "asc"}], limit=9)
    assert _ids(search) == want


def test_fields_include_and_exclude(client, walk):
    search = client.search(collections=["ROIs1158_spring"], fields={"include": ["id", "properties.ml-aoi:split"], "exclude": ["assets", "links"]}, limit=5, max_items=5)
    items = list(search.items_as_dicts())
    assert len(items) == 5
    split_of = {it["id"]: it["properties"]["ml-aoi:split"] for it in walk}
    for it in items:
        assert "assets" not in it or not it["assets"]
        assert it["properties"]["ml-aoi:split"] == split_of[it["id"]]
        assert "sen12:scene_id" not in it["properties"]


def test_served_item_is_the_published_item_with_absolute_hrefs(client, walk, built_release):
    src = next(it for it in walk if it["collection"] == "ROIs2017_winter")
    got = client.get_collection("ROIs2017_winter").get_item(src["id"]).to_dict(transform_hrefs=False)
    for key, asset in src["assets"].items():
        target = (built_release / "ROIs2017_winter" / src["properties"]["sen12:scene_id"].rsplit("_", 1)[1] / asset["href"]).resolve()
        assert got["assets"][key].pop("href") == target.as_uri()
        assert target.exists()
        if "alternate" in asset:  # the training shard holding the COG: absolute too (docs/shards.md)
            shard = (built_release / "ROIs2017_winter" / src["properties"]["sen12:scene_id"].rsplit("_", 1)[1] / asset["alternate"]["shard"]["href"]).resolve()
            assert got["assets"][key]["alternate"]["shard"].pop("href") == shard.as_uri() and shard.exists()
    src_assets = {k: {kk: vv for kk, vv in a.items() if kk != "href"} for k, a in src["assets"].items()}
    for a in src_assets.values():
        if "alternate" in a:
            a["alternate"] = {"shard": {kk: vv for kk, vv in a["alternate"]["shard"].items() if kk != "href"}}
    assert got["assets"] == src_assets
    assert got["properties"] == src["properties"]
    assert got["geometry"] == src["geometry"] and got["bbox"] == src["bbox"]
    rels = {l["rel"] for l in got["links"]}
    assert {"self", "collection", "root"} <= rels


def test_queryables_list_the_fields_with_types(api_url):
    import httpx

    from sen12stac.api.queryables import QUERYABLES

    props = httpx.get(api_url + "/queryables").json()["properties"]
    for q in QUERYABLES:
        assert props[q.name]["type"] == q.definition["type"], q.name
    assert sorted(props["ml-aoi:split"]["enum"]) == ["test", "train", "validate"]
    coll = httpx.get(api_url + "/collections/ROIs1158_spring/queryables").json()["properties"]
    assert "eo:cloud_cover" in coll and "sen12:scene_id" in coll


@pytest.mark.parametrize("cql", [
    {"op": "=", "args": [{"property": "ml-aoi:split"}, "test"]},
    {"op": "<", "args": [{"property": "eo:cloud_cover"}, 5]},
    {"op": "=", "args": [{"property": "sen12:scene_id"}, "ROIs1158_spring_1"]},
    {"op": "=", "args": [{"property": "sat:relative_orbit"}, 7]},
])
def test_filters_on_queryables_can_use_an_index(loaded, cql):
    """The WHERE clause pgstac builds for the filter matches a per-partition index's expression:
    with sequential scans off the plan is an index scan (a filter whose expression matched no
    index would still be a sequential scan)."""
    import json

    import psycopg

    with psycopg.connect(loaded, autocommit=True) as conn:
        conn.execute("SET search_path TO pgstac, public")
        where = conn.execute("SELECT stac_search_to_where(%s::jsonb)", (json.dumps({"filter": cql, "filter-lang": "cql2-json"}),)).fetchone()[0]
        conn.execute("SET enable_seqscan TO off")
        plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN SELECT id FROM items WHERE {where}").fetchall())
    assert "Seq Scan" not in plan, plan
    assert "Index" in plan, plan


def test_free_text_on_collections(api_url):
    import httpx

    hits = httpx.get(api_url + "/collections", params={"q": "winter"}).json()["collections"]
    assert [c["id"] for c in hits] == ["ROIs2017_winter"]


def test_loading_twice_changes_nothing(loaded, built_release):
    before = snapshot(loaded)
    r = run_cli("api", "load", str(built_release), "--dsn", loaded)
    assert r.returncode == 0, r.stderr
    assert snapshot(loaded) == before  # same rows, same row versions: nothing rewritten
    assert len(before) == sql(loaded, "SELECT count(*) FROM pgstac.items")[0][0]


def test_readme_query_works_as_printed(api_url, walk, capsys):
    """The pystac-client snippet of the README's "Query" section, run as printed (only the URL
    points at the test server), prints spring training pairs that a walk of the static catalog
    holds, with the cloud cover and S1 href each item has there."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("### Query", 1)[1].split("\n#", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1 and "http://127.0.0.1:8081" in blocks[0]
    exec(compile(blocks[0].replace("http://127.0.0.1:8081", api_url), "README.md", "exec"), {})
    lines = capsys.readouterr().out.splitlines()

    by_id = {it["id"]: it for it in walk}
    want = [it for it in walk if it["collection"] == "ROIs1158_spring" and it["properties"]["ml-aoi:split"] == "train"]
    assert len(lines) == min(5, len(want)) > 0
    for line in lines:
        pair_id, cloud, href = line.split()
        item = by_id[pair_id]
        assert item["collection"] == "ROIs1158_spring" and item["properties"]["ml-aoi:split"] == "train"
        assert float(cloud) == item["properties"]["eo:cloud_cover"]
        assert href.startswith("file://") and href.endswith(item["assets"]["s1"]["href"].lstrip("./").split("/", 1)[-1])


def test_both_read_paths_give_the_same_items(built_release):
    """A folder is loaded from the item JSON, object storage from the geoparquet: the two give
    the same items for pgstac, item by item."""
    from sen12stac.api.load import items_for_pgstac, open_release, read_collections

    release = open_release(str(built_release))
    for coll in read_collections(release):
        by_json = {it["id"]: it for it in items_for_pgstac(release, coll, source="json")}
        by_parquet = {it["id"]: it for it in items_for_pgstac(release, coll, source="geoparquet")}
        assert len(by_json) > 10 and by_json == by_parquet
        assert list(items_for_pgstac(release, coll))[0]["id"] in by_json
