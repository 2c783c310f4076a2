"""STAC builders: footprints, item fields, texts, and the committed example."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from pyproj import Transformer
from shapely.geometry import Point, Polygon, shape

from sen12stac.config import make_config
from sen12stac.errors import ConfigError, ValidationFailed
from sen12stac.models import Grid
from sen12stac.stac.footprint import footprint
from sen12stac.stac.hrefs import relative_href, resolve_href
from sen12stac.stac.item import build_item, rebase_item, scene_context
from sen12stac.stac.texts import load_catalog_texts

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import make_examples as mx  # noqa: E402

TEXTS = load_catalog_texts()


def _to_wgs84(crs: str, x: float, y: float) -> tuple[float, float]:
    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)


@pytest.mark.parametrize(
    "grid",
    [
        Grid("EPSG:32632", (10.0, 0.0, 691820.0, 0.0, -10.0, 5343380.0), 256, 256),  # Munich
        Grid("EPSG:32723", (10.0, 0.0, 683000.0, 0.0, -10.0, 7466000.0), 256, 256),  # Rio, south
        Grid("EPSG:32633", (10.0, 0.0, 300000.0, 0.0, -10.0, 7800000.0), 256, 256),  # 70 N, zone edge
    ],
)
def test_footprint_contains_the_centre_and_matches_the_transform(grid):
    geom, bbox = footprint(grid)
    poly = shape(geom)
    assert geom["type"] == "Polygon" and poly.is_valid
    ring = geom["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == 5  # the 4 corners, closed
    assert poly.exterior.is_ccw  # RFC 7946
    a, _, c, _, e, f = grid.transform
    cx, cy = c + a * grid.width / 2, f + e * grid.height / 2
    assert poly.contains(Point(_to_wgs84(grid.crs, cx, cy)))
    # every corner of the grid, reprojected independently, is a vertex (to 1e-7 deg)
    for px, py in ((0, 0), (grid.width, 0), (0, grid.height), (grid.width, grid.height)):
        lon, lat = _to_wgs84(grid.crs, c + a * px, f + e * py)
        assert min(abs(lon - x) + abs(lat - y) for x, y in ring) < 2e-7
    # bbox is the ring's extent and the polygon's area is the patch's (2.56 km square, checked in UTM)
    assert bbox == [min(p[0] for p in ring), min(p[1] for p in ring), max(p[0] for p in ring), max(p[1] for p in ring)]
    back = Transformer.from_crs("EPSG:4326", grid.crs, always_xy=True)
    utm = Polygon([back.transform(x, y) for x, y in ring])
    assert utm.area == pytest.approx(2560.0 * 2560.0, rel=1e-4)
    # straight edges in lon/lat are exact enough: the midpoint of each grid edge lies within
    # 0.2 m (2 % of a pixel) of the footprint's edge, measured back in the grid's CRS
    for px, py in ((grid.width / 2, 0), (grid.width, grid.height / 2), (grid.width / 2, grid.height), (0, grid.height / 2)):
        assert utm.exterior.distance(Point(c + a * px, f + e * py)) < 0.2


def test_footprint_across_the_antimeridian_is_split():
    # zone 60 north, a patch reaching east of 180 degrees (Chukotka / Fiji meridian)
    x180, _ = Transformer.from_crs("EPSG:4326", "EPSG:32660", always_xy=True).transform(180.0, 65.0)
    grid = Grid("EPSG:32660", (10.0, 0.0, x180 - 1280.0, 0.0, -10.0, 7210000.0), 256, 256)
    geom, bbox = footprint(grid)
    assert geom["type"] == "MultiPolygon" and len(geom["coordinates"]) == 2
    west, south, east, north = bbox
    assert west > east and 179 < west < 180 and -180 < east < -179 and south < north
    for part in geom["coordinates"]:
        assert all(-180.0 <= x <= 180.0 for x, _ in part[0])
        ring = part[0]
        assert Polygon(ring).exterior.is_ccw and ring[0] == ring[-1]  # RFC 7946, closed
    assert shape(geom).is_valid
    # the two parts together are the patch: 2.56 km square, measured back in its UTM zone
    back = Transformer.from_crs("EPSG:4326", grid.crs, always_xy=True)
    assert sum(Polygon([back.transform(x, y) for x, y in part[0]]).area for part in geom["coordinates"]) == pytest.approx(2560.0 ** 2, rel=1e-4)


def test_relative_hrefs_round_trip():
    frm = "ROIs1158_spring/7/ROIs1158_spring_7_p42.json"
    for to in ("catalog.json", "ROIs1158_spring/collection.json", "ROIs1158_spring/7/catalog.json", "ROIs1158_spring/s1_7/x.tif"):
        href = relative_href(frm, to)
        assert href.startswith(("./", "../")) and resolve_href(frm, href) == to
    assert relative_href(frm, "ROIs1158_spring/7/catalog.json") == "./catalog.json"
    assert resolve_href(frm, "https://example.com/a.json") is None
    assert resolve_href("catalog.json", "../outside.json") is None


def _record(**kw):
    kw.setdefault("source", "earthengine")
    scene = mx.synthetic_scene(**kw)
    return scene.patches[0]


def test_item_fields():
    rec = _record()
    cfg = make_config()
    item = build_item(rec, "validate", texts=TEXTS, config=cfg)
    p = item["properties"]
    assert item["id"] == "ROIs1158_spring_7_p42" and item["collection"] == "ROIs1158_spring"
    # datetime: the S2 acquisition; start/end span both sensors (and the S2 mosaic's end)
    assert p["datetime"] == "2017-03-12T10:20:21Z" == item["assets"]["s2"]["datetime"]
    assert item["assets"]["s1"]["datetime"] == "2017-03-12T05:45:28Z"
    assert p["start_datetime"] == "2017-03-12T05:45:28Z" and p["end_datetime"] == "2017-03-12T10:30:05.5Z"
    assert p["sar:polarizations"] == ["VV"] and p["sar:instrument_mode"] == "IW" and p["sar:frequency_band"] == "C"
    assert p["sar:center_frequency"] == 5.405 and p["sar:product_type"] == "GRD"
    assert p["sat:orbit_state"] == "descending" and p["sat:relative_orbit"] == 95  # Sentinel-1's
    assert item["assets"]["s2"]["sat:relative_orbit"] == 22
    assert p["ml-aoi:split"] == "validate"
    assert p["proj:code"] == rec.grid.crs and p["proj:shape"] == [256, 256] and p["proj:transform"] == list(rec.grid.transform)
    a, _, c, _, e, f = rec.grid.transform
    assert p["proj:bbox"] == [c, f + e * 256, c + a * 256, f]
    assert (p["sen12:row"], p["sen12:col"], p["sen12:patch_index"]) == (rec.row, rec.col, 42)
    assert p["sen12:season"] == "spring" and p["sen12:seed"] == 1158 and p["sen12:scene_id"] == "ROIs1158_spring_7"
    assert p["eo:cloud_cover"] == pytest.approx(100 * rec.qc.cloud_fraction)
    assert p["processing:software"] == {"sen12stac": "0.1.0"}
    assert item["assets"]["s1"]["platform"] == "sentinel-1a" and item["assets"]["s2"]["constellation"] == "sentinel-2"
    assert item["assets"]["s1"]["instruments"] == ["c-sar"] and item["assets"]["s2"]["instruments"] == ["msi"]
    for name in ("s1", "s2"):
        asset = item["assets"][name]
        assert asset["type"] == "image/tiff; application=geotiff; profile=cloud-optimized"
        assert asset["roles"] == {"s1": ["data"], "s2": ["data", "visual"]}[name]  # S2 is 8-bit true colour
        assert asset["file:size"] == rec.assets[name].size and asset["file:checksum"] == rec.assets[name].checksum
    assert [b["eo:common_name"] for b in item["assets"]["s2"]["bands"]] == ["red", "green", "blue"]
    assert [b["name"] for b in item["assets"]["s2"]["bands"]] == ["B04", "B03", "B02"]
    assert item["assets"]["thumbnail"]["roles"] == ["thumbnail"]
    # what STAC Browser shows as the item's name, and both acquisitions at a glance
    assert p["title"] == "ROIs1158_spring scene 7, pair 42"
    assert "Split: **validate**" in p["description"]
    assert "- Sentinel-1: sentinel-1a, 2017-03-12T05:45:28Z, descending orbit, relative orbit 95" in p["description"]
    assert "- Sentinel-2: sentinel-2a, 2017-03-12T10:20:21Z" in p["description"]
    derived = [link for link in item["links"] if link["rel"] == "derived_from"]
    assert len(derived) == 2 and "S1A_IW_GRDH_1SDV_20170312T054528" in derived[0]["href"]
    # the synthetic source invents its product ids: no derived_from links for it
    synthetic = build_item(_record(source="synthetic"), "train", texts=TEXTS)
    assert not [link for link in synthetic["links"] if link["rel"] == "derived_from"]


def test_raster_scale_and_offset_recover_physical_values():
    rec = _record()
    item = build_item(rec, "train", texts=TEXTS)
    for name, stats in (("s1", rec.s1_stats), ("s2", rec.s2_stats)):
        bands = item["assets"][name]["bands"]
        assert len(bands) == len(stats)
        for band, st in zip(bands, stats):
            assert band["data_type"] == "uint8" and band["nodata"] == 0
            # physical = offset + scale * DN: DN 1 -> stretch_min, DN 255 -> stretch_max
            assert band["raster:offset"] + band["raster:scale"] * 1 == pytest.approx(st.stretch_min, abs=1e-6)
            assert band["raster:offset"] + band["raster:scale"] * 255 == pytest.approx(st.stretch_max, abs=1e-6)
            assert "statistics" not in band  # the scene's statistics are in its scene catalog (sen12:band_stats), once
    assert item["assets"]["s1"]["bands"][0]["unit"] == "dB"


def test_items_of_a_scene_share_one_context_and_match_fresh_builds():
    scene = mx.synthetic_scene(cols=3, positions=[(0, 0), (1, 2), (2, 1)])
    ctx = scene_context(scene.patches[0], "test", TEXTS, make_config())
    for rec in scene.patches:
        assert build_item(rec, "test", texts=TEXTS, config=make_config(), context=ctx) == build_item(rec, "test", texts=TEXTS, config=make_config())


def test_bad_records_raise_validation_failed():
    rec = _record()
    from dataclasses import replace

    with pytest.raises(ValidationFailed, match="ISO 8601"):
        build_item(replace(rec, s1=replace(rec.s1, datetime="12 March 2017")), "train", texts=TEXTS)
    with pytest.raises(ValidationFailed, match="band statistics"):
        build_item(replace(rec, s2_stats=rec.s2_stats[:2]), "train", texts=TEXTS)
    with pytest.raises(ValidationFailed, match="no 's2' asset record"):
        build_item(replace(rec, assets={"s1": rec.assets["s1"]}), "train", texts=TEXTS)


def test_rebase_item_makes_hrefs_relative_to_the_collection_folder():
    rec = _record()
    item = build_item(rec, "train", texts=TEXTS)
    key = "ROIs1158_spring/7/ROIs1158_spring_7_p42.json"
    rebased = rebase_item(item, key, "ROIs1158_spring/collection.json")
    assert rebased["assets"]["s1"]["href"] == "./s1_7/ROIs1158_spring_s1_7_p42.tif"
    assert {link["rel"]: link["href"] for link in rebased["links"] if link["rel"] != "derived_from"} == {
        "root": "../catalog.json",
        "parent": "./7/catalog.json",
        "collection": "./collection.json",
    }
    assert item["assets"]["s1"]["href"] == "../s1_7/ROIs1158_spring_s1_7_p42.tif"  # the original is untouched


def test_hrefs_worked_out_per_folder_equal_a_walk_of_every_key():
    """relative_href, resolve_href and rebase_href work the folder part out once per pair of folders; the
    result is posixpath's for plain keys, and the general walk's (errors included) for keys
    ending in "/", "." or ".."; hrefs with a fragment, a query, or leaving the store too."""
    import itertools
    import posixpath

    from sen12stac.stac.hrefs import _relative_href, _resolve_href, rebase_href

    plain = ["catalog.json", "S/collection.json", "S/7/I.json", "S/s1_7/a.tif", "a/b/c/d.json", "S/./7/I.json", "S//7/I.json"]
    odd = ["S/7/", "S/7/.", "S/7/..", "S/../x", ".", ""]
    for a, b in itertools.product(plain, plain):
        rel = posixpath.relpath(posixpath.normpath(b), posixpath.dirname(posixpath.normpath(a)) or ".")
        assert relative_href(a, b) == (rel if rel.startswith("..") else "./" + rel), (a, b)

    def outcome(fn, *args):
        try:
            return fn(*args)
        except ValueError as exc:
            return type(exc)

    for a, b in itertools.product(plain + odd, plain + odd):
        assert outcome(relative_href, a, b) == outcome(_relative_href, a, b), (a, b)
    hrefs = ["./catalog.json", "../../catalog.json", "../../../../x.json", "../s1_7/a.tif", "./x/y.tif", "a.tif", "x/", "x/..",
             "./a.tif#frag", "../b.json?v=1", "https://e.org/a/b.json", "/abs/p.tif", "C:/w/x.tif", "s3://b/k"]
    for h, a in itertools.product(hrefs, plain + odd):
        absolute = "://" in h or h.startswith("/") or h.startswith("C:")  # the general walk is for relative hrefs
        assert outcome(resolve_href, a, h) == (None if absolute else outcome(_resolve_href, a, h)), (h, a)
    for h, a, b in itertools.product(hrefs, plain + odd, plain + odd[:3]):
        target = outcome(resolve_href, a, h)
        want = target if target is ValueError else (h if target is None else outcome(relative_href, b, target))
        assert outcome(rebase_href, h, a, b) == want, (h, a, b)


def test_indented_json_is_the_json_modules_bytes_whichever_encoder_writes_it():
    """to_json_bytes writes catalogs with orjson when that gives json.dumps(indent=2)'s bytes
    and with the json module otherwise: floats with an exponent, NaN, big ints, odd keys."""
    import random
    import struct

    from sen12stac.stac.encoding import to_json_bytes

    def json_module(obj):
        try:
            return (json.dumps(obj, ensure_ascii=False, indent=2, allow_nan=False) + "\n").encode("utf-8")
        except ValueError as exc:
            return type(exc)

    def ours(obj):
        try:
            return to_json_bytes(obj)
        except ValueError as exc:
            return type(exc)

    rnd = random.Random(5)
    objs = [
        {"a": [], "b": {}, "c": [1, (2, 3), {"d": "\u00e9\u2028\x1f\"\\", "e": None, "f": True}]},
        {"x": [0.0, -0.0, 1e-4, 0.1 + 0.2, 9999999999999998.0, 123456.789]},
        {"x": 1e-05}, {"x": 1.5e16}, {"x": float("nan")}, {"x": 2**70}, {1: "int key"},
        json.loads((REPO / "catalog" / "examples" / "ROIs1158_spring" / "collection.json").read_text()),
    ]
    for _ in range(300):
        objs.append({"f": [struct.unpack("d", struct.pack("Q", rnd.getrandbits(64)))[0], rnd.uniform(-1e6, 1e6), round(rnd.uniform(-180, 180), 7)]})
    for obj in objs:
        assert ours(obj) == json_module(obj), obj


def test_catalog_texts_are_read_from_catalog_and_errors_name_the_file(tmp_path):
    assert TEXTS.root["id"] == "sen1-2" and TEXTS.license["license"] == "CC-BY-4.0"
    assert b"Attribution 4.0 International" in TEXTS.license_text
    folder = tmp_path / "texts"
    shutil.copytree(REPO / "catalog", folder, ignore=shutil.ignore_patterns("examples"))
    (folder / "citation.json").write_text(json.dumps({"doi": "10.1/x"}))
    with pytest.raises(ConfigError, match="citation.json lacks citation"):
        load_catalog_texts(folder)
    (folder / "citation.json").unlink()
    with pytest.raises(ConfigError, match="citation.json is missing"):
        load_catalog_texts(folder)
    with pytest.raises(ConfigError, match="does not exist"):
        load_catalog_texts(tmp_path / "nowhere")


def _normalised(path: Path) -> object:
    obj = json.loads(path.read_text())
    # the geoparquet's bytes depend on the pyarrow version: mask its size and checksum only
    items_asset = obj.get("assets", {}).get("items")
    if obj.get("type") == "Collection" and items_asset:
        items_asset["file:size"] = items_asset["file:checksum"] = "<pyarrow-dependent>"
    return obj


def test_committed_example_matches_a_fresh_regeneration(tmp_path):
    written = mx.write_example(tmp_path)
    committed = REPO / "catalog" / "examples"
    assert [p.relative_to(tmp_path).as_posix() for p in written] == list(mx.EXAMPLE_FILES)
    for rel in mx.EXAMPLE_FILES:
        fresh, old = tmp_path / rel, committed / rel
        assert old.is_file(), f"{old} is missing: run scripts/make_examples.py"
        if rel.endswith(".json"):
            assert _normalised(fresh) == _normalised(old), f"{rel} differs from a regeneration: run scripts/make_examples.py"
        else:
            assert fresh.read_bytes() == old.read_bytes()
    # and the regeneration itself is byte-identical run to run
    again = tmp_path / "again"
    mx.write_example(again)
    for rel in mx.EXAMPLE_FILES:
        assert (again / rel).read_bytes() == (tmp_path / rel).read_bytes()


def test_bands_follow_stac_1_1_with_eo_and_raster_v2():
    from sen12stac.stac.extensions import EXT
    from sen12stac.stac.validate import validate_stac_object

    item = build_item(_record(), "train", texts=TEXTS)
    assert EXT["eo"].endswith("/eo/v2.0.0/schema.json") and EXT["raster"].endswith("/raster/v2.0.0/schema.json")
    assert {EXT["eo"], EXT["raster"]} <= set(item["stac_extensions"])
    for asset in item["assets"].values():
        assert "eo:bands" not in asset and "raster:bands" not in asset
    assert validate_stac_object(item) == []
    # the carried v2 schemas do check the prefixed fields inside bands (offline)
    bad = json.loads(json.dumps(item))
    bad["assets"]["s1"]["bands"][0]["raster:scale"] = "0.1"
    assert any("raster" in p for p in validate_stac_object(bad))
    bad = json.loads(json.dumps(item))
    bad["assets"]["s2"]["bands"][0]["eo:center_wavelength"] = "red"
    assert any("eo" in p for p in validate_stac_object(bad))
