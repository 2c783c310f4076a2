"""A v2 release in the STAC API (issue #22): `sen12stac api load` registers the land-cover and
SCL queryables, `/queryables` lists them with their types, a filter on them answers the right
items and can use an index, and a selection through the API streams the label too.

The release is a real ``sen12stac build --recipe v2`` (synthetic source); it goes into its own
database of the session's PostgreSQL cluster (tests/apifixtures.py), served by
``sen12stac api serve``."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.apihelpers import EXE, fresh_db, run_cli, stop, wait_http
from tests.s3server import free_port

pytest_plugins = ["tests.apifixtures"]

LC_NAMES = ("tree_cover", "shrubland", "grassland", "cropland", "built_up", "bare_sparse_vegetation", "snow_and_ice",
            "permanent_water_bodies", "herbaceous_wetland", "mangroves", "moss_and_lichen")  # ESA WorldCover v200


@pytest.fixture(scope="module")
def v2_release(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("apiv2") / "release"
    r = run_cli("build", "--recipe", "v2", "--source", "synthetic", "--out", str(out), "--seasons", "spring,winter", "--scenes-per-season", "2",
                "--scene-size", "512", "--workers", "0")
    assert r.returncode == 0, r.stdout + r.stderr
    return out


@pytest.fixture(scope="module")
def v2_api(pg, v2_release):
    dsn = fresh_db(pg, "apiv2")
    r = run_cli("api", "load", str(v2_release), "--dsn", dsn)
    assert r.returncode == 0, r.stdout + r.stderr
    port = free_port()
    proc = subprocess.Popen([EXE, "api", "serve", "--dsn", dsn, "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/", proc)
        yield url, dsn
    finally:
        stop(proc)


def items_on_disk(release: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(release.rglob("*_p*.json"))]


def test_queryables_of_a_v2_release_list_land_cover_and_scl(v2_api):
    import httpx

    url, _ = v2_api
    props = httpx.get(url + "/queryables").json()["properties"]
    assert props["sen12:lc_majority"]["type"] == "integer"
    assert sorted(props["sen12:lc_majority"]["enum"]) == [10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100]
    for name in LC_NAMES:
        assert props[f"sen12:lc_{name}"]["type"] == "number", name
        assert (props[f"sen12:lc_{name}"]["minimum"], props[f"sen12:lc_{name}"]["maximum"]) == (0, 1)
    for name in ("sen12:scl_cloud_fraction", "sen12:scl_shadow_fraction"):
        assert props[name]["type"] == "number"
    assert "ml-aoi:split" in props  # v1's fields stay
    coll = httpx.get(url + "/collections/ROIs1158_spring/queryables").json()["properties"]
    assert "sen12:lc_built_up" in coll and "sen12:scl_cloud_fraction" in coll


def test_a_v1_release_does_not_list_them(api_url):
    import httpx

    props = httpx.get(api_url + "/queryables").json()["properties"]
    assert "sen12:lc_majority" not in props and "sen12:scl_cloud_fraction" not in props


def test_filters_on_land_cover_answer_the_matching_items(v2_api, v2_release):
    from pystac_client import Client

    url, _ = v2_api
    items = items_on_disk(v2_release)
    code = items[0]["properties"]["sen12:lc_majority"]
    cut = sorted(i["properties"]["sen12:lc_tree_cover"] for i in items)[len(items) // 2]
    cases = [
        ({"op": "=", "args": [{"property": "sen12:lc_majority"}, code]}, lambda p: p["sen12:lc_majority"] == code),
        ({"op": ">=", "args": [{"property": "sen12:lc_tree_cover"}, cut]}, lambda p: p["sen12:lc_tree_cover"] >= cut),
    ]
    client = Client.open(url)

    def search(flt):
        return sorted(i["id"] for i in client.search(filter=flt, filter_lang="cql2-json", limit=100).items_as_dicts())

    for flt, keep in cases:
        want = sorted(i["id"] for i in items if keep(i["properties"]))
        assert search(flt) == want and 0 < len(want) < len(items), flt
    scl = {"op": "<=", "args": [{"property": "sen12:scl_cloud_fraction"}, 0.5]}  # the SCL fractions (every synthetic scene has an SCL)
    assert search(scl) == sorted(i["id"] for i in items if i["properties"]["sen12:scl_cloud_fraction"] <= 0.5) != []


def test_a_filter_on_the_majority_class_can_use_an_index(v2_api):
    import psycopg

    _, dsn = v2_api
    cql = {"op": "=", "args": [{"property": "sen12:lc_majority"}, 50]}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET search_path TO pgstac, public")
        where = conn.execute("SELECT stac_search_to_where(%s::jsonb)", (json.dumps({"filter": cql, "filter-lang": "cql2-json"}),)).fetchone()[0]
        conn.execute("SET enable_seqscan TO off")
        plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN SELECT id FROM items WHERE {where}").fetchall())
    assert "Seq Scan" not in plan and "Index" in plan, plan


def test_streaming_a_v2_selection_through_the_api(v2_api, v2_release):
    from sen12stac.stream import select, stream

    url, _ = v2_api
    items = items_on_disk(v2_release)
    cut = sorted(i["properties"]["sen12:lc_tree_cover"] for i in items)[len(items) // 2]
    flt = f"\"sen12:lc_tree_cover\" >= {cut!r}"
    via_api = select(url, api=True, filter=flt)
    from_release = select(str(v2_release), filter=flt)
    assert [p.id for p in via_api] == [p.id for p in from_release] and 0 < len(via_api) < len(items)
    assert {p.recipe for p in via_api} == {"v2"}
    a = {s["id"]: s for s in stream(via_api, seed=None, values="physical", threads=2)}
    b = {s["id"]: s for s in stream(from_release, seed=None, values="physical", threads=2)}
    assert sorted(a) == sorted(b)
    for i in a:
        assert a[i]["label"].shape == (1, 256, 256) and a[i]["s2"].shape == (12, 256, 256)
        for key in ("s1", "s2", "label"):
            np.testing.assert_array_equal(a[i][key], b[i][key])
