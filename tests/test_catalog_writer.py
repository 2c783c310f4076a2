"""CatalogWriter: a small catalog with real COG assets, written, re-read and validated."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from sen12stac.stac.writer import CatalogWriter
from sen12stac.config import make_config
from sen12stac.errors import ObjectConflictError, ValidationFailed
from sen12stac.stac.hrefs import resolve_href
from sen12stac.store import LocalStore
from sen12stac.stac.validate import validate_catalog

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import make_examples as mx  # noqa: E402

write_small_catalog = mx.write_small_catalog

# The S3 server fixtures (moto on 127.0.0.1), as tests/test_release.py uses them.
pytest_plugins = ["tests.conftest_s3"]


@pytest.fixture(scope="module")
def small_catalog(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("catalog")
    write_small_catalog(root)
    return root


def _json_files(root: Path) -> dict[str, dict]:
    return {p.relative_to(root).as_posix(): json.loads(p.read_text()) for p in sorted(root.rglob("*.json"))}


def _items(root: Path) -> dict[str, dict]:
    return {k: v for k, v in _json_files(root).items() if v.get("type") == "Feature"}


def test_every_object_of_a_small_catalog_validates_offline_with_assets_and_cogs(small_catalog):
    problems = validate_catalog(LocalStore(small_catalog))
    assert problems == []
    items = _items(small_catalog)
    assert len(items) == 7  # 4 + 2 spring, 1 winter
    assert {i["properties"]["sen12:scene_id"] for i in items.values()} == {"ROIs1158_spring_7", "ROIs1158_spring_12", "ROIs2017_winter_2"}


def test_layout_keys_and_ids(small_catalog):
    files = _json_files(small_catalog)
    assert files["catalog.json"]["id"] == "sen1-2"
    assert files["ROIs1158_spring/collection.json"]["id"] == "ROIs1158_spring"
    assert files["ROIs1158_spring/7/catalog.json"]["id"] == "ROIs1158_spring_7"
    item = files["ROIs1158_spring/7/ROIs1158_spring_7_p1.json"]
    assert item["id"] == "ROIs1158_spring_7_p1" and item["collection"] == "ROIs1158_spring"
    assert item["assets"]["s1"]["href"] == "../s1_7/ROIs1158_spring_s1_7_p1.tif"
    # unavailable / rejected scenes write nothing but are counted
    assert not (small_catalog / "ROIs1158_spring/3").exists() and not (small_catalog / "ROIs1158_spring/5").exists()
    counts = files["ROIs1158_spring/collection.json"]["sen12:counts"]
    assert counts["scenes_unavailable"] == 1 and counts["scenes_rejected"] == 1 and counts["scenes_published"] == 2
    assert counts["items"] == 6 and counts["rois_sampled"] == 150
    # the scene without thumbnails has no thumbnail asset
    assert "thumbnail" not in files["ROIs1158_spring/12/ROIs1158_spring_12_p1.json"]["assets"]
    assert files["ROIs1158_spring/7/ROIs1158_spring_7_p1.json"]["assets"]["thumbnail"]["type"] == "image/jpeg"


def test_all_links_are_relative_and_resolve(small_catalog):
    files = _json_files(small_catalog)
    checked = 0
    for key, obj in files.items():
        assert not any(link["rel"] == "self" for link in obj.get("links", [])), key
        for link in obj.get("links", []):
            href = link["href"]
            if link["rel"] in ("root", "parent", "child", "item", "collection"):
                assert "://" not in href and not href.startswith("/"), (key, href)
                target = resolve_href(key, href)
                assert target is not None and (small_catalog / target).is_file(), (key, href)
                checked += 1
            elif "://" not in href:
                assert (small_catalog / resolve_href(key, href)).is_file(), (key, href)
        for name, asset in obj.get("assets", {}).items():
            assert "://" not in asset["href"], (key, name)
            assert (small_catalog / resolve_href(key, asset["href"])).is_file(), (key, name)
    assert checked > 30
    # parent/child structure: root -> 2 collections -> scene catalogs -> items
    root = files["catalog.json"]
    assert [link["href"] for link in root["links"] if link["rel"] == "child"] == [
        "./ROIs1158_spring/collection.json",
        "./ROIs2017_winter/collection.json",
    ]
    spring = files["ROIs1158_spring/collection.json"]
    assert [link["href"] for link in spring["links"] if link["rel"] == "child"] == ["./7/catalog.json", "./12/catalog.json"]


def test_pystac_reads_the_catalog_and_extension_helpers_work(small_catalog):
    import pystac
    from pystac.extensions.projection import ProjectionExtension
    from pystac.extensions.sar import SarExtension

    cat = pystac.Catalog.from_file(str(small_catalog / "catalog.json"))
    items = list(cat.get_items(recursive=True))
    assert len(items) == 7
    it = next(i for i in items if i.id == "ROIs1158_spring_7_p6")
    assert SarExtension.ext(it).polarizations == [pystac.extensions.sar.Polarization.VV]
    # STAC 1.1 bands (eo v2.0, raster v2.0): pystac 1.15's eo/raster helpers know only eo:bands/raster:bands
    assert [b["eo:common_name"] for b in it.assets["s2"].extra_fields["bands"]] == ["red", "green", "blue"]
    assert ProjectionExtension.ext(it).shape == [256, 256]
    assert it.assets["s1"].extra_fields["bands"][0]["nodata"] == 0
    assert it.get_collection().id == "ROIs1158_spring"
    # relative hrefs resolve through pystac too
    assert Path(it.assets["s1"].get_absolute_href()).is_file()


def test_splits_are_per_scene_and_match_the_scene_catalog(small_catalog):
    files = _json_files(small_catalog)
    by_scene: dict[str, set[str]] = {}
    for obj in files.values():
        if obj.get("type") == "Feature":
            by_scene.setdefault(obj["properties"]["sen12:scene_id"], set()).add(obj["properties"]["ml-aoi:split"])
    assert all(len(v) == 1 for v in by_scene.values())
    assert files["ROIs1158_spring/7/catalog.json"]["sen12:split"] == next(iter(by_scene["ROIs1158_spring_7"]))


def test_collection_extent_and_summaries_come_from_the_items(small_catalog):
    files = _json_files(small_catalog)
    spring = files["ROIs1158_spring/collection.json"]
    w, s, e, n = spring["extent"]["spatial"]["bbox"][0]
    items = [o for k, o in files.items() if k.startswith("ROIs1158_spring/") and o["type"] == "Feature"]
    assert w == min(i["bbox"][0] for i in items) and e == max(i["bbox"][2] for i in items)
    assert s == min(i["bbox"][1] for i in items) and n == max(i["bbox"][3] for i in items)
    # then one box per scene, in scene order (7, 12), each the union of its items' boxes
    boxes = spring["extent"]["spatial"]["bbox"][1:]
    assert len(boxes) == 2
    for box, idx in zip(boxes, (7, 12)):
        mine = [i["bbox"] for i in items if i["properties"]["sen12:scene_index"] == idx]
        assert box == [min(b[0] for b in mine), min(b[1] for b in mine), max(b[2] for b in mine), max(b[3] for b in mine)]
    start, end = spring["extent"]["temporal"]["interval"][0]
    assert start == min(i["properties"]["start_datetime"] for i in items)
    assert end == max(i["properties"]["end_datetime"] for i in items)
    summ = spring["summaries"]
    assert summ["sar:polarizations"] == ["VV"] and summ["platform"] == ["sentinel-1a", "sentinel-2a"]
    assert set(summ["proj:code"]) == {i["properties"]["proj:code"] for i in items}
    assert sum(spring["sen12:split_items"].values()) == 6
    assert spring["license"] == "CC-BY-4.0" and spring["sci:doi"] == "10.5194/isprs-annals-IV-1-141-2018"
    processor = next(p for p in spring["providers"] if p["name"] == "sen12stac")
    assert processor["processing:software"] == {"sen12stac": "0.1.0"} and "2.5 std" in processor["processing:lineage"]
    assert "Google Earth Engine" not in {p["name"] for p in spring["providers"]}  # synthetic source only
    assert any(link["rel"] == "license" and link["href"].startswith("https://creativecommons.org/") for link in spring["links"])
    assert set(spring["assets"]) == {"items", "roi_map", "contact_sheet"}
    assert spring["assets"]["items"]["roles"] == ["stac-items"]
    winter = files["ROIs2017_winter/collection.json"]
    assert winter["extent"]["spatial"]["bbox"][0][1] < 0  # south of the equator


def test_geoparquet_is_readable_by_duckdb_and_pyarrow_with_one_row_per_item(small_catalog):
    import duckdb
    import pyarrow.parquet as pq

    path = small_catalog / "ROIs1158_spring/items.parquet"
    table = pq.read_table(path)
    assert table.num_rows == 6
    assert sorted(table.column("id").to_pylist()) == sorted(k.rsplit("/", 1)[1][:-5] for k in _items(small_catalog) if k.startswith("ROIs1158_spring/"))
    con = duckdb.connect()
    n, n_train = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE \"ml-aoi:split\" = 'train') FROM read_parquet('{path}')"
    ).fetchone()
    assert n == 6
    expected_train = sum(1 for k, i in _items(small_catalog).items() if k.startswith("ROIs1158_spring/") and i["properties"]["ml-aoi:split"] == "train")
    assert n_train == expected_train
    # hrefs inside the parquet are relative to the parquet file's folder
    from stac_geoparquet.arrow import stac_table_to_items

    rows = list(stac_table_to_items(table))
    for row in rows:
        for a in row["assets"].values():
            assert (path.parent / a["href"]).is_file(), a["href"]
    assert pq.read_metadata(small_catalog / "ROIs2017_winter/items.parquet").num_rows == 1


def test_rerun_is_byte_identical_whatever_the_scene_order(tmp_path):
    a = tmp_path / "a"
    b = tmp_path / "b"
    write_small_catalog(a, order_seed=None)
    write_small_catalog(b, order_seed=3, put_workers=1)
    fa = {p.relative_to(a).as_posix(): p.read_bytes() for p in a.rglob("*") if p.is_file()}
    fb = {p.relative_to(b).as_posix(): p.read_bytes() for p in b.rglob("*") if p.is_file()}
    assert fa.keys() == fb.keys()
    assert [k for k in fa if fa[k] != fb[k]] == []
    # the same build into the same store again: every object is "same", nothing conflicts
    write_small_catalog(a)
    assert {p.relative_to(a).as_posix(): p.read_bytes() for p in a.rglob("*") if p.is_file()} == fa


def test_different_content_under_an_existing_key_is_refused(tmp_path):
    write_small_catalog(tmp_path)
    other = make_config(split={"scheme": "by-season"})  # different splits -> different items
    store = LocalStore(tmp_path)
    writer = CatalogWriter(store, other)
    scene = mx.small_catalog_scenes(mx.store_asset_writer(store))[-1]  # winter: split test now
    with pytest.raises(ObjectConflictError):
        writer.add_scene(scene)
    writer.close()


def test_root_catalog_is_written_last(tmp_path):
    order: list[str] = []

    class Recording(LocalStore):
        def put_if_absent(self, key, data, content_type=None):
            order.append(key)
            return super().put_if_absent(key, data, content_type)

    store = Recording(tmp_path)
    scenes = mx.small_catalog_scenes(mx.placeholder_asset)
    writer = CatalogWriter(store, make_config(), put_workers=1)
    for s in scenes:
        writer.add_scene(s)
    writer.finish()
    assert order[-1] == "catalog.json" and order.count("catalog.json") == 1
    assert order.index("ROIs1158_spring/items.parquet") < order.index("ROIs1158_spring/collection.json")


def test_adding_a_scene_twice_is_refused(tmp_path):
    writer = CatalogWriter(LocalStore(tmp_path), make_config(), put_workers=1)
    scene = mx.synthetic_scene()
    writer.add_scene(scene)
    with pytest.raises(ValidationFailed, match="added to the catalog twice"):
        writer.add_scene(scene)
    writer.close()


def test_splits_do_not_move_when_scenes_are_added_or_removed(tmp_path):
    def splits(root: Path, indices: list[int]) -> dict[str, str]:
        store = LocalStore(root)
        w = CatalogWriter(store, make_config(), put_workers=1)
        for i in indices:
            w.add_scene(mx.synthetic_scene("summer", i, cols=2, positions=[(0, 0)]))
        w.finish()
        return {k.split("/")[1]: v["properties"]["ml-aoi:split"] for k, v in _items(root).items()}

    first = splits(tmp_path / "a", list(range(1, 41)))
    second = splits(tmp_path / "b", list(range(11, 61)))  # 10 removed, 20 added
    common = set(first) & set(second)
    assert len(common) == 30
    assert all(first[k] == second[k] for k in common)
    assert len(set(first.values())) >= 2  # the scenes do not all land in one split


def test_writer_keeps_no_items_in_memory(tmp_path):
    writer = CatalogWriter(LocalStore(tmp_path), make_config(), put_workers=1)
    for i in range(1, 6):
        writer.add_scene(mx.synthetic_scene("fall", i, cols=4, positions=[(r, c) for r in range(4) for c in range(4)]))
    summary = writer._summaries["ROIs1970_fall"]
    # the summary holds scalars, small sets and one entry per scene -- nothing per item
    sizes = {k: len(v) for k, v in vars(summary).items() if isinstance(v, (dict, set, list))}
    assert summary.n_items == 80
    assert max(sizes.values()) <= 5, sizes
    writer.finish()
    assert pytest.approx(80) == len(_items(tmp_path))


@pytest.mark.s3
def test_write_and_validate_through_s3(s3_store, s3_client, bucket):
    """The same small catalog written straight into S3 (moto on 127.0.0.1) and validated
    there, COGs through GDAL's /vsis3/ with the store's own endpoint and credentials."""
    store = s3_store("release")
    mx.write_small_catalog(store)
    keys = {info.key for info in store.list()}
    assert "catalog.json" in keys and "ROIs1158_spring/items.parquet" in keys
    assert validate_catalog(store) == []
    # tamper with one COG in the bucket: caught by size, checksum and COG check
    s3_client.put_object(Bucket=bucket, Key="release/ROIs1158_spring/s1_7/ROIs1158_spring_s1_7_p1.tif", Body=b"not a tiff")
    problems = validate_catalog(store)
    assert any("file:size" in p for p in problems) and any("checksum mismatch" in p for p in problems)
    assert any("not a readable GeoTIFF" in p or "not a valid COG" in p for p in problems)


def test_the_garbage_collector_is_back_after_each_scene_also_after_a_failure(tmp_path):
    """add_scene pauses Python's cyclic collector while it builds a scene's items; it must be
    running again afterwards (also when the scene fails), and stay off if it was off."""
    import dataclasses
    import gc

    writer = CatalogWriter(LocalStore(tmp_path), make_config(), put_workers=1)
    writer.add_scene(mx.synthetic_scene("spring", 1, cols=2, positions=[(0, 0), (1, 1)]))
    assert gc.isenabled()
    bad = mx.synthetic_scene("spring", 2, cols=2, positions=[(0, 0)])
    bad.patches[0] = dataclasses.replace(bad.patches[0], assets={})  # no COG records: refused
    with pytest.raises(ValidationFailed, match="asset record"):
        writer.add_scene(bad)
    assert gc.isenabled()
    gc.disable()
    try:
        writer.add_scene(mx.synthetic_scene("spring", 3, cols=2, positions=[(0, 1)]))
        assert not gc.isenabled()
    finally:
        gc.enable()
    writer.close()
