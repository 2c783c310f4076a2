"""validate_catalog: offline schema validation, asset and COG checks, each failure caught."""
from __future__ import annotations

import json
import shutil
import socket
import sys
from pathlib import Path

import numpy as np
import pytest

from sen12stac.errors import ValidationFailed
from sen12stac.stac import EXT
from sen12stac.store import LocalStore, multihash_sha256
from sen12stac.validate import carried_schema_urls, raise_for_problems, validate_catalog, validate_stac_object

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import make_examples as mx  # noqa: E402

ITEM = "ROIs1158_spring/7/ROIs1158_spring_7_p6.json"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pristine")
    mx.write_small_catalog(root)
    return root


@pytest.fixture
def catalog(pristine, tmp_path) -> Path:
    dest = tmp_path / "cat"
    shutil.copytree(pristine, dest)
    return dest


def edit_json(path: Path, fn) -> None:
    obj = json.loads(path.read_text())
    fn(obj)
    path.write_text(json.dumps(obj))


def test_the_pristine_catalog_is_valid(catalog):
    assert validate_catalog(LocalStore(catalog)) == []


def test_every_extension_we_write_is_carried():
    carried = set(carried_schema_urls())
    assert set(EXT.values()) <= carried
    for core in ("item-spec/json-schema/item.json", "catalog-spec/json-schema/catalog.json", "collection-spec/json-schema/collection.json"):
        assert f"https://schemas.stacspec.org/v1.1.0/{core}" in carried


def test_a_split_named_training_is_caught(catalog):
    edit_json(catalog / ITEM, lambda o: o["properties"].__setitem__("ml-aoi:split", "training"))
    problems = validate_catalog(LocalStore(catalog), check_assets=False)
    assert len(problems) == 1
    assert "ROIs1158_spring_7_p6" in problems[0] and "ml-aoi" in problems[0] and "'training'" in problems[0]


def test_a_polarization_xx_is_caught(catalog):
    edit_json(catalog / ITEM, lambda o: o["properties"].__setitem__("sar:polarizations", ["XX"]))
    problems = validate_catalog(LocalStore(catalog), check_assets=False)
    assert len(problems) == 1
    assert "ROIs1158_spring_7_p6" in problems[0] and "sar" in problems[0] and "'XX'" in problems[0]


def test_a_wrong_checksum_is_caught(catalog):
    def corrupt(o):
        o["assets"]["s2"]["file:checksum"] = "1220" + "0" * 64

    edit_json(catalog / ITEM, corrupt)
    problems = validate_catalog(LocalStore(catalog))
    assert len(problems) == 1
    assert "ROIs1158_spring_7_p6" in problems[0] and "'s2'" in problems[0] and "checksum mismatch" in problems[0]


def test_changed_asset_bytes_are_caught_by_size_and_checksum(catalog):
    tif = catalog / "ROIs1158_spring/s1_7/ROIs1158_spring_s1_7_p6.tif"
    tif.write_bytes(tif.read_bytes() + b"\0")
    problems = validate_catalog(LocalStore(catalog), check_cogs=False)
    assert any("file:size says" in p for p in problems) and any("checksum mismatch" in p for p in problems)


def test_a_missing_asset_is_caught(catalog):
    (catalog / "ROIs1158_spring/thumbs_7/ROIs1158_spring_7_p6.jpg").unlink()
    problems = validate_catalog(LocalStore(catalog))
    assert len(problems) == 1
    assert "ROIs1158_spring_7_p6" in problems[0] and "'thumbnail'" in problems[0] and "missing" in problems[0]


def test_an_invalid_cog_is_caught(catalog):
    from affine import Affine
    from rasterio.io import MemoryFile

    # a striped (untiled) 1024 x 1024 GeoTIFF is not a COG; keep size and checksum consistent
    arr = np.ones((1, 1024, 1024), np.uint8)
    with MemoryFile() as mem:
        with mem.open(driver="GTiff", width=1024, height=1024, count=1, dtype="uint8", crs="EPSG:32632",
                      transform=Affine(10.0, 0.0, 0.0, 0.0, -10.0, 0.0)) as dst:
            dst.write(arr)
        data = bytes(mem.read())
    key = "ROIs1158_spring/s1_7/ROIs1158_spring_s1_7_p6.tif"
    (catalog / key).write_bytes(data)

    def fix(o):
        o["assets"]["s1"]["file:size"] = len(data)
        o["assets"]["s1"]["file:checksum"] = multihash_sha256(data)

    edit_json(catalog / ITEM, fix)
    problems = validate_catalog(LocalStore(catalog))
    assert len(problems) == 1 and "not a valid COG" in problems[0] and key in problems[0]
    assert validate_catalog(LocalStore(catalog), check_cogs=False) == []


def test_an_undeclared_extension_url_is_a_problem_not_a_fetch(catalog, monkeypatch):
    def block(self, address):
        raise AssertionError(f"validation tried to open a socket to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", block)  # not even loopback
    edit_json(catalog / ITEM, lambda o: o["stac_extensions"].append("https://stac-extensions.github.io/unknown/v9.9.9/schema.json"))
    problems = validate_catalog(LocalStore(catalog))
    assert len(problems) == 1 and "unknown/v9.9.9" in problems[0] and "not carried" in problems[0]


def test_a_broken_link_and_a_missing_scene_catalog_are_caught(catalog):
    (catalog / "ROIs1158_spring/12/catalog.json").unlink()
    edit_json(catalog / ITEM, lambda o: o["links"].__setitem__(2, {"rel": "collection", "href": "../nope.json"}))
    problems = validate_catalog(LocalStore(catalog))
    assert any("ROIs1158_spring/12/catalog.json" in p and "does not exist" in p for p in problems)
    assert any("ROIs1158_spring_7_p6" in p and "nope.json" in p for p in problems)
    # the items of the lost scene catalog are no longer linked: the geoparquet row count disagrees
    assert any("items" in p and "rows" in p for p in problems)


def test_an_absolute_child_link_is_caught(catalog):
    def absolute(o):
        for link in o["links"]:
            if link["rel"] == "child":
                link["href"] = "https://example.com/" + link["href"]

    edit_json(catalog / "catalog.json", absolute)
    problems = validate_catalog(LocalStore(catalog), check_assets=False)
    assert problems and all("relative links" in p for p in problems)


def test_invalid_collection_and_catalog_fields_are_caught(catalog):
    edit_json(catalog / "ROIs1158_spring/collection.json", lambda o: o.__setitem__("sci:doi", "not a doi"))
    edit_json(catalog / "ROIs1158_spring/7/catalog.json", lambda o: o.pop("description"))
    problems = validate_catalog(LocalStore(catalog), check_assets=False)
    assert any("Collection ROIs1158_spring" in p and "scientific" in p for p in problems)
    assert any("Catalog ROIs1158_spring_7" in p and "description" in p for p in problems)


def test_missing_root_and_invalid_json_are_reported(tmp_path, catalog):
    assert "does not exist" in validate_catalog(LocalStore(tmp_path / "empty"))[0]
    (catalog / ITEM).write_text("{not json")
    problems = validate_catalog(LocalStore(catalog), check_assets=False)
    assert len(problems) == 1 and ITEM in problems[0] and "not valid JSON" in problems[0]


def test_single_object_validation_and_raise_for_problems(pristine):
    item = json.loads((pristine / ITEM).read_text())
    assert validate_stac_object(item) == []
    item["properties"]["eo:cloud_cover"] = 150
    problems = validate_stac_object(item, ITEM)
    assert len(problems) == 1 and "eo" in problems[0] and ITEM in problems[0]
    with pytest.raises(ValidationFailed) as exc:
        raise_for_problems(problems)
    assert exc.value.problems == problems
    raise_for_problems([])  # no-op


def test_the_committed_example_validates_offline():
    assert validate_catalog(LocalStore(REPO / "catalog" / "examples"), check_assets=False) == []
