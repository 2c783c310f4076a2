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
from sen12stac.stac.extensions import EXT
from sen12stac.store import LocalStore, multihash_sha256
from sen12stac.stac.validate import carried_schema_urls, raise_for_problems, validate_catalog, validate_stac_object

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


def test_every_gdal_env_the_cog_checks_enter_is_left(catalog, caplog):
    """COG checks read inside rasterio Envs (one per worker thread and one on the caller's);
    each must be exited, so no GDAL options outlive the validation (counted from rasterio's
    own debug log of entering and leaving an Env)."""
    import logging

    assert len(list((catalog / "ROIs1158_spring/7").glob("*.json"))) > 2  # the items run on the pool
    with caplog.at_level(logging.DEBUG, logger="rasterio.env"):
        assert validate_catalog(LocalStore(catalog), workers=4) == []
    messages = [r.getMessage() for r in caplog.records if r.name == "rasterio.env"]
    entered = sum(m.startswith("Entered env context") for m in messages)
    exited = sum(m.startswith("Exited env context") for m in messages)
    assert entered >= 2 and exited == entered, (entered, exited)


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


def _mutations(item: dict) -> list[tuple[str, dict]]:
    import copy

    def m(name, fn):
        x = copy.deepcopy(item)
        fn(x)
        return name, x

    p = "properties"
    return [
        m("valid", lambda x: None),
        m("split", lambda x: x[p].__setitem__("ml-aoi:split", "training")),
        m("polarization", lambda x: x[p].__setitem__("sar:polarizations", ["XX"])),
        m("frequency band", lambda x: x[p].__setitem__("sar:frequency_band", "Q")),
        m("orbit state", lambda x: x[p].__setitem__("sat:orbit_state", "sideways")),
        m("cloud cover", lambda x: x[p].__setitem__("eo:cloud_cover", 101)),
        m("proj shape", lambda x: x[p].__setitem__("proj:shape", [256])),
        m("proj code type", lambda x: x[p].__setitem__("proj:code", 32632)),
        m("no datetime", lambda x: x[p].pop("datetime")),
        m("null datetime, no range", lambda x: (x[p].__setitem__("datetime", None), x[p].pop("start_datetime"))),
        m("processing software", lambda x: x[p].__setitem__("processing:software", "sen12stac")),
        m("checksum", lambda x: x["assets"]["s1"].__setitem__("file:checksum", "xyz")),
        m("file size", lambda x: x["assets"]["s1"].__setitem__("file:size", -1)),
        m("raster dtype", lambda x: x["assets"]["s1"]["bands"][0].__setitem__("data_type", "u8")),
        m("eo common name", lambda x: x["assets"]["s2"]["bands"][0].__setitem__("eo:common_name", "infrared")),
        m("geometry", lambda x: x["geometry"]["coordinates"][0].__setitem__(0, [1.0])),
        m("bbox", lambda x: x.__setitem__("bbox", [1, 2, 3])),
        m("link href", lambda x: x["links"][0].__setitem__("href", 5)),
        m("asset without href", lambda x: x["assets"]["s1"].pop("href")),
        m("stac version", lambda x: x.__setitem__("stac_version", 1.1)),
        m("unknown sar field", lambda x: x[p].__setitem__("sar:bogus", 1)),
        m("collection missing", lambda x: x.pop("collection")),
    ]


def test_the_fast_path_agrees_with_jsonschema(pristine):
    """validate_stac_object trusts fastjsonschema's 'valid'; it must never pass what jsonschema rejects."""
    from sen12stac.stac.validate.engines import fast_validator as _fast_validator
    from sen12stac.stac.validate.engines import jsonschema_validator as _validator

    item = json.loads((pristine / ITEM).read_text())
    urls = ["https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json"] + item["stac_extensions"]
    compiled = [u for u in urls if _fast_validator(u) is not None]
    assert len(compiled) == len(urls)  # every schema we use compiles
    invalid_seen = 0
    for name, obj in _mutations(item):
        for url in urls:
            slow_ok = not list(_validator(url).iter_errors(obj))
            try:
                _fast_validator(url)(obj)
                fast_ok = True
            except Exception:
                fast_ok = False
            assert fast_ok == slow_ok, (name, url, fast_ok, slow_ok)
            invalid_seen += not slow_ok
        assert (validate_stac_object(obj) == []) == (name == "valid"), name
    assert invalid_seen >= 20


def test_the_fast_path_compiles_and_passes_collections_and_catalogs(pristine):
    from sen12stac.stac.validate import core_schema_url
    from sen12stac.stac.validate.engines import fast_validator as _fast_validator

    for rel in ("catalog.json", "ROIs1158_spring/collection.json", "ROIs1158_spring/7/catalog.json"):
        obj = json.loads((pristine / rel).read_text())
        for url in [core_schema_url(obj)] + obj["stac_extensions"]:
            fast = _fast_validator(url)
            assert fast is not None, (rel, url)
            fast(obj)
        broken = dict(obj, id=7)
        with pytest.raises(Exception):
            _fast_validator(core_schema_url(obj))(broken)
        assert validate_stac_object(broken) and "id" in validate_stac_object(broken)[0]
