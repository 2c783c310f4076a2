"""The Earth Engine source under recipe v2, offline: the graphs (goldens under
tests/earthengine/golden/v2_<season>.json, regenerate with scripts/ee_goldens.py) and one scene
fetched through the real earthengine-api against the fake REST API on 127.0.0.1 (tests/eefake.py)."""
from __future__ import annotations

import functools
import sys

import numpy as np
import pytest
from rasterio.windows import Window

from conftest import REPO
from eefake import SPAIN_LONLAT, FakeEarthEngine, constants, expand, find, function_names, initialize, selected_bands

sys.path.insert(0, str(REPO / "scripts"))
import ee_goldens  # noqa: E402

V2_BANDS = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12"]


@pytest.fixture(scope="module")
def graphs():
    return ee_goldens.build_v2()


def _calls(node, name):
    return [v for v in find(node, "functionInvocationValue") if v.get("functionName") == name]


def test_v2_goldens_match(graphs):
    assert sorted(graphs) == ["v2_fall", "v2_spring", "v2_summer", "v2_winter"]
    for name, doc in graphs.items():
        golden = (REPO / "tests" / "earthengine" / "golden" / f"{name}.json").read_text()
        assert ee_goldens.dumps(doc) == golden, f"{name}: graphs changed; review and run scripts/ee_goldens.py"


@pytest.mark.parametrize("season", ["spring", "summer", "fall", "winter"])
def test_v2_recipe_in_the_graphs(graphs, season):
    doc = graphs[f"v2_{season}"]
    s1, s2, label, meta = (expand(doc[k]) for k in ("s1_image", "s2_image", "label_image", "scene_metadata"))
    def colls(g):
        return {c for c in constants(g) if isinstance(c, str) and c.startswith("COPERNICUS/")}

    assert colls(s2) == {"COPERNICUS/S2_SR_HARMONIZED"} and colls(s1) == {"COPERNICUS/S1_GRD"}
    assert "ESA/WorldCover/v200" in constants(label) and selected_bands(label) == [["Map"]] and "Image.toUint8" in function_names(label)
    # S2: the <= 1 % cloud rule; S1: IW with VV and VH
    gts = {(g["arguments"]["leftField"]["constantValue"], g["arguments"]["rightValue"]["constantValue"]) for g in _calls(s2, "Filter.greaterThan")}
    assert gts == {("CLOUDY_PIXEL_PERCENTAGE", 1.0)} and _calls(s2, "Filter.not")  # not (> 1)
    pols = sorted(c["arguments"]["rightValue"]["constantValue"] for c in _calls(s1, "Filter.listContains"))
    assert pols == ["VH", "VV"] and selected_bands(s1) == [["VV", "VH"]]
    assert {c["arguments"]["rightValue"]["constantValue"] for c in _calls(meta, "Filter.listContains")} == {"VV", "VH"}
    # the 12 reflectance bands are resampled bilinear; the SCL is added unresampled (nearest)
    resamples = _calls(s2, "Image.resample")
    assert resamples and all(r["arguments"]["mode"]["constantValue"] == "bilinear" for r in resamples)
    assert all(selected_bands(r["arguments"]["image"]) == [V2_BANDS] for r in resamples)
    scl = [a for a in _calls(s2, "Image.addBands") if selected_bands(a["arguments"]["srcImg"]) == [["SCL"]]]
    assert scl and all("Image.resample" not in function_names(a["arguments"]["srcImg"]) for a in scl)
    assert "Image.toUint16" in function_names(s2) and "Image.max" in function_names(s2)


@pytest.fixture
def fake(monkeypatch):
    f = FakeEarthEngine()
    for k, v in f.offline_env().items():
        monkeypatch.setenv(k, v)
    yield f
    f.close()


def _source(tmp_path, fake):
    from sen12stac.config import make_config
    from sen12stac.sources.earthengine import EarthEngineSource

    config = make_config(source="earthengine", seasons=("fall",), workers=0, scene_size_px=384,
                         earthengine={"project": "fake", "cache_dir": tmp_path / "cache", "max_request_bytes": 65536, "max_request_side": 128})
    return EarthEngineSource(config.earthengine, scene_size_m=3840.0, connect=functools.partial(initialize, fake.url))


def _request(recipe):
    from sen12stac.models import ROI, SceneRequest
    from sen12stac.recipe.utm import default_grid

    roi = ROI("ROIs1970_fall", 0, *SPAIN_LONLAT, "land")
    return SceneRequest(roi, "fall", "2017-09-01", "2017-11-30", default_grid(roi.lon, roi.lat, 384), recipe=recipe)


def test_a_v2_scene_is_fetched_with_its_bands_scl_and_label(tmp_path, fake):
    src = _source(tmp_path, fake)
    scene = src.open_scene(_request("v2"))
    try:
        w = Window(0, 0, 384, 384)
        s1, s2, scl, lab = scene.read_s1(w), scene.read_s2(w), scene.read_scl(w), scene.read_label(w)
    finally:
        scene.close()
    assert s1.shape == (2, 384, 384) and s1.dtype == np.float32
    assert s2.shape == (12, 384, 384) and s2.dtype == np.uint16
    assert scl is not None and scl.shape == (1, 384, 384) and scl.dtype == np.uint8
    assert lab.shape == (1, 384, 384) and lab.dtype == np.uint8
    valid = (s2 > 0).all(axis=0)
    assert valid.mean() > 0.5 and (scl[0][valid] == 4).all() and (lab[0][valid] == 40).all()
    # what was asked of Earth Engine: four images, the v2 bands by name, in chunks under the limits
    asked = [b["bandIds"] for m, p, b in fake.log if p.endswith("image:computePixels")]
    assert {tuple(b) for b in asked} == {("VV", "VH"), (*V2_BANDS, "SCL"), ("top",), ("Map",)}
    exprs = [expand(b["expression"]) for m, p, b in fake.log if p.endswith("image:computePixels") and b["bandIds"][0] == "B1"]
    assert exprs and all("COPERNICUS/S2_SR_HARMONIZED" in constants(e) for e in exprs)


def test_v1_and_v2_of_one_scene_share_the_cache_without_mixing(tmp_path, fake):
    src = _source(tmp_path, fake)
    v2 = src.open_scene(_request("v2"))
    v1 = src.open_scene(_request("v1"))
    try:
        w = Window(0, 0, 64, 64)
        assert v1.read_s2(w).shape == (3, 64, 64) and v1.read_s1(w).shape == (1, 64, 64)
        assert v1.read_scl(w) is None
        assert v2.read_s2(w).shape == (12, 64, 64)
    finally:
        v1.close()
        v2.close()
    folder = next((tmp_path / "cache" / "scenes" / "ROIs1970_fall").iterdir())
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["granules.json", "granules_v2.json", "s1.tif", "s2.tif", "s2_top.tif",
                     "v2_label.tif", "v2_s1.tif", "v2_s2.tif", "v2_s2_top.tif"]
