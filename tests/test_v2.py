"""Recipe v2 end to end on the synthetic source (docs/v2.md): assets, physical values, labels,
land-cover properties, QC on v2 arrays, the catalog and its validation, the command line."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window
from typer.testing import CliRunner

from sen12stac.config import make_config
from sen12stac.models import ROI, SceneRequest
from sen12stac.pipeline import build
from sen12stac.recipe.recipes import SCL_CLOUD, SCL_SHADOW, V2, WORLDCOVER_CLASSES
from sen12stac.recipe.scene import scene_request
from sen12stac.recipe.seasons import SEASONS
from sen12stac.recipe.utm import default_grid
from sen12stac.sources.synthetic import SyntheticSource, draw_params, land_cover, render_block_v2
from sen12stac.store import LocalStore

CFG = dict(recipe="v2", seasons=("spring",), scenes_per_season=3, workers=0, scene_size_px=640)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("v2build")
    summary = build(make_config(**CFG), LocalStore(out))
    assert summary.patches_published > 0
    items = sorted(out.glob("ROIs1158_spring/*/ROIs1158_spring_*_p*.json"))
    return out, summary, [json.loads(p.read_text()) for p in items]


def _read(out: Path, item: dict, name: str) -> tuple[np.ndarray, rasterio.DatasetReader]:
    href = item["assets"][name]["href"]
    path = out / "ROIs1158_spring" / str(item["properties"]["sen12:scene_index"]) / href
    with rasterio.open(path.resolve()) as ds:
        return ds.read(), ds.profile | {"descriptions": ds.descriptions, "scales": ds.scales, "offsets": ds.offsets}


def _source_scene(item: dict):
    p = item["properties"]
    roi = ROI(p["sen12:set"], p["sen12:scene_index"], p["sen12:roi_lon"], p["sen12:roi_lat"], p["sen12:roi_kind"])
    config = make_config(**CFG)
    source = SyntheticSource()
    return source.open_scene(scene_request(roi, SEASONS["spring"], source, config))


def test_items_have_the_contracts_assets_and_store_keys(built):
    out, _, items = built
    for item in items:
        assert set(item["assets"]) == {"s1", "s2", "label", "thumbnail"}
        n, i = item["properties"]["sen12:patch_index"], item["properties"]["sen12:scene_index"]
        assert item["assets"]["label"]["href"] == f"../lc_{i}/ROIs1158_spring_lc_{i}_p{n}.tif"
        assert item["properties"]["sen12:recipe"] == "v2"
        assert item["properties"]["sar:polarizations"] == ["VV", "VH"]
    s1, prof1 = _read(out, items[0], "s1")
    s2, prof2 = _read(out, items[0], "s2")
    lc, prof3 = _read(out, items[0], "label")
    assert s1.shape == (2, 256, 256) and s1.dtype == np.float32 and np.isnan(prof1["nodata"]) and prof1["descriptions"] == ("VV", "VH")
    assert s2.shape == (12, 256, 256) and s2.dtype == np.uint16 and prof2["nodata"] == 0 and prof2["descriptions"] == V2.s2_bands
    assert prof2["scales"] == (0.0001,) * 12 and prof2["offsets"] == (0.0,) * 12
    assert lc.shape == (1, 256, 256) and lc.dtype == np.uint8 and prof3["nodata"] == 0


def test_values_are_the_sources_own_no_cut_no_stretch(built):
    out, _, items = built
    for item in items[:: max(1, len(items) // 4)]:
        scene = _source_scene(item)
        t = item["properties"]["proj:transform"]
        col = int(round((t[2] - scene.grid.transform[2]) / 10.0))
        row = int(round((scene.grid.transform[5] - t[5]) / 10.0))
        w = Window(col, row, 256, 256)
        np.testing.assert_array_equal(_read(out, item, "s1")[0], scene.read_s1(w))  # float32 dB, bit for bit
        np.testing.assert_array_equal(_read(out, item, "s2")[0], scene.read_s2(w))
        np.testing.assert_array_equal(_read(out, item, "label")[0], scene.read_label(w))


def test_land_cover_properties_match_the_label_raster(built):
    out, _, items = built
    names = {code: name for code, (name, _) in WORLDCOVER_CLASSES.items()}
    for item in items:
        p = item["properties"]
        lc = _read(out, item, "label")[0]
        valid = np.isin(lc, list(names))
        assert {k for k in p if k.startswith("sen12:lc_") and k != "sen12:lc_majority"} == {f"sen12:lc_{n}" for n in names.values()}
        for code, name in names.items():
            assert p[f"sen12:lc_{name}"] == pytest.approx(np.count_nonzero(lc == code) / np.count_nonzero(valid), abs=1e-6)
        counts = {code: np.count_nonzero(lc == code) for code in names}
        assert p["sen12:lc_majority"] == max(counts, key=lambda c: (counts[c], -c))
        scene = _source_scene(item)
        t = p["proj:transform"]
        w = Window(int(round((t[2] - scene.grid.transform[2]) / 10.0)), int(round((scene.grid.transform[5] - t[5]) / 10.0)), 256, 256)
        scl = scene.read_scl(w)
        n = np.count_nonzero(scl)
        assert p["sen12:scl_cloud_fraction"] == pytest.approx(np.isin(scl, SCL_CLOUD).sum() / n, abs=1e-6)
        assert p["sen12:scl_shadow_fraction"] == pytest.approx(np.isin(scl, SCL_SHADOW).sum() / n, abs=1e-6)


def test_a_v2_build_is_its_own_dataset_and_validates(built):
    from sen12stac.stac.validate import validate_catalog

    out, _, items = built
    root = json.loads((out / "catalog.json").read_text())
    coll = json.loads((out / "ROIs1158_spring" / "collection.json").read_text())
    assert root["id"] == "sen1-2-v2" and root["sen12:recipe"] == "v2" and "v1" in root["description"]
    assert coll["id"] == "ROIs1158_spring" and coll["sen12:recipe"] == "v2" and "v2" in coll["title"]
    assert coll["summaries"]["sar:polarizations"] == ["VV", "VH"]
    classes = coll["item_assets"]["label"]["classification:classes"]
    assert [(c["value"], c["name"], c["color_hint"].lower()) for c in classes] == [(k, n, c) for k, (n, c) in WORLDCOVER_CLASSES.items()]
    bands = items[0]["assets"]["s2"]["bands"]
    assert [b["name"] for b in bands] == list(V2.s2_bands)
    assert all({"eo:common_name", "eo:center_wavelength", "eo:full_width_half_max"} <= set(b) and b["raster:scale"] == 0.0001 for b in bands)
    assert validate_catalog(LocalStore(out)) == []


def test_qc_runs_on_v2_arrays_and_a_hole_in_one_band_rejects_the_patch():
    from sen12stac.config import PatchQCConfig, SceneQCConfig
    from sen12stac.recipe.qc import StripQC
    from sen12stac.recipe.v2 import qc_views

    rng = np.random.default_rng(0)
    s1 = rng.normal(-10, 2, (2, 256, 512)).astype(np.float32)
    s2 = rng.integers(300, 3000, (12, 256, 512)).astype(np.uint16)
    s2[V2.s2_bands.index("B11"), 10, 300] = 0  # a hole in a band v1 never had, in the right patch
    s1[1, 5, 5] = np.nan  # and one in VH, in the left patch
    q1, q2 = qc_views(s1, s2)
    assert q1.shape == (1, 256, 512) and q2.shape == (3, 256, 512)
    np.testing.assert_array_equal(q2[:, 0, 0], s2[[3, 2, 1], 0, 0])  # B04, B03, B02
    strip = StripQC(q1, q2, None, SceneQCConfig(), PatchQCConfig())
    left, right = strip.judge(0, 256), strip.judge(256, 512)
    assert not left.accepted and not right.accepted
    assert left.reasons[0].startswith("nodata") and right.reasons[0].startswith("nodata")


def test_synthetic_v2_spectra_and_labels_follow_the_land_cover():
    roi = ROI("ROIs1158_spring", 3, 12.0, 48.0, "urban")
    grid = default_grid(roi.lon, roi.lat, 512, 10.0)
    p = draw_params(roi, grid, 0.0)
    s1, s2, label, scl = render_block_v2(p, grid, 0, 0, speckle=False)
    xs, ys = np.arange(512, dtype=np.float64), np.arange(512, dtype=np.float64)
    cls = land_cover(p, xs, ys)[0]
    water, urban, forest = cls == 0, cls == 1, cls == 2
    assert (label[0][water] == 80).all() and (label[0][urban] == 50).all() and (label[0][forest] == 10).all()
    b = {name: s2[i].astype(float) for i, name in enumerate(V2.s2_bands)}
    ndvi = (b["B08"] - b["B04"]) / (b["B08"] + b["B04"])
    if forest.any():
        assert np.median(ndvi[forest & (scl[0] == 4)]) > 0.6  # vegetation: the red edge and a high NIR
    if water.any():
        assert np.median(ndvi[water & (scl[0] == 6)]) < 0  # water: dark in the NIR
        assert np.median(s1[1][water]) < np.median(s1[0][water]) < -15  # VH below VV, both dark
    assert (s1[1] < s1[0] + 1e-3).mean() > 0.95  # cross-pol below co-pol


def test_v1_requests_stay_v1():
    roi = ROI("ROIs1158_spring", 1, 12.0, 48.0, "land")
    grid = default_grid(roi.lon, roi.lat, 256, 10.0)
    s = SEASONS["spring"]
    scene = SyntheticSource(unavailable_rate=0).open_scene(SceneRequest(roi, "spring", s.start.isoformat(), s.end.isoformat(), grid))
    w = Window(0, 0, 64, 64)
    assert scene.read_s1(w).shape == (1, 64, 64) and scene.read_s2(w).shape == (3, 64, 64)


def test_cli_takes_recipe_v1_or_v2_only(tmp_path):
    from sen12stac.cli import app

    run = CliRunner()
    r = run.invoke(app, ["build", "--help"], terminal_width=200)
    assert "--recipe" in r.output and "v1" in r.output and "v2" in r.output
    r = run.invoke(app, ["build", "--recipe", "v3", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and not (tmp_path / "o").exists()
    r = run.invoke(app, ["build", "--recipe", "v2", "--out", str(tmp_path / "o"), "--workers", "0", "--seasons", "spring",
                         "--scenes-per-season", "2", "--scene-size", "384"])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "o" / "catalog.json").read_text())["id"] == "sen1-2-v2"


def test_a_folder_holds_one_recipe(tmp_path):
    from sen12stac.errors import ObjectConflictError

    cfg = dict(seasons=("spring",), scenes_per_season=2, workers=0, scene_size_px=384)
    build(make_config(**cfg), LocalStore(tmp_path))
    before = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    with pytest.raises(ObjectConflictError, match="recipe v1 build; this is a recipe v2 build"):
        build(make_config(**cfg, recipe="v2"), LocalStore(tmp_path))
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == before


class _NoSclSource(SyntheticSource):
    """The synthetic source without the L2A scene classification (as a source without SCL)."""

    def open_scene(self, request):
        scene = super().open_scene(request)
        scene.read_scl = lambda window: None
        return scene


class _V1OnlySource(SyntheticSource):
    """A source that delivers v1's layers only (no label)."""

    def open_scene(self, request):
        scene = super().open_scene(request)

        class V1Only:
            grid, s1, s2 = scene.grid, scene.s1, scene.s2
            read_s1, read_s2, seam_mask, close = scene.read_s1, scene.read_s2, scene.seam_mask, scene.close

        return V1Only()


@pytest.mark.parametrize("cache_mb", [0, 512])  # streamed and held in memory (runtime/scenecache.py)
def test_without_scl_the_items_carry_no_scl_fractions(tmp_path, cache_mb):
    cfg = make_config(**{**CFG, "scenes_per_season": 2, "scene_size_px": 384, "scene_cache_mb": cache_mb})
    summary = build(cfg, LocalStore(tmp_path), source=_NoSclSource(unavailable_rate=0.0))
    assert summary.patches_published > 0
    item = json.loads(next(tmp_path.glob("ROIs1158_spring/*/ROIs1158_spring_*_p*.json")).read_text())
    assert "sen12:lc_majority" in item["properties"]
    assert not [k for k in item["properties"] if k.startswith("sen12:scl_")]


def test_a_source_without_the_label_fails_each_scene_with_the_fix(tmp_path):
    cfg = make_config(**{**CFG, "scenes_per_season": 1, "scene_size_px": 384})
    summary = build(cfg, LocalStore(tmp_path), source=_V1OnlySource(unavailable_rate=0.0))
    (scene,) = summary.scenes
    assert scene["status"] == "failed"
    assert "does not deliver recipe v2's land-cover label" in scene["message"] and "--recipe v1" in scene["message"]
    assert not any(tmp_path.iterdir())  # nothing written


def test_the_estimate_knows_a_v2_pair_is_larger_and_slower():
    from sen12stac.estimate import estimate

    v1, v2 = estimate(make_config()), estimate(make_config(recipe="v2"))
    assert v2.pairs == v1.pairs and v2.bytes > 5 * v1.bytes and v2.seconds > 2 * v1.seconds
