"""The ``local`` source on real Sentinel-1/2 samples.

The clips carried in tests/data/real (Sen1Floods11, BigEarthNet) are converted into the local
folder layout by scripts/real_samples_to_local.py; bad-input cases are built from copies of the
same real files. The SEN12MS-CR clips (licence unconfirmed, not carried) are tested where
../shared/real-samples exists beside the clone (CI), and skipped with that reason elsewhere.
"""
from __future__ import annotations

import importlib.util
import json
import math
import pickle
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import Window

from sen12stac.errors import AlignmentError, ConfigError, RasterFormatError, SceneUnavailable, SourceError
from sen12stac.models import ROI, Grid, SceneRequest
from sen12stac.sources.local import LocalScene, LocalSource
from sen12stac.utm import default_grid

from conftest import REPO, real_samples, sen12mscr_samples

REAL = real_samples()

SPAIN = "sen1floods11_spain_7370579"
CR_FALL = "sen12mscr_rois1970_fall_139_p839"
CR_WINTER = "sen12mscr_rois2017_winter_112_p797"
BEN = ["bigearthnet_33uup_87_48", "bigearthnet_29upu_36_85", "bigearthnet_29upu_4_55",
       "bigearthnet_35vpk_69_24", "bigearthnet_29snd_56_35", "bigearthnet_35vpk_57_38"]


def _converter() -> Any:
    spec = importlib.util.spec_from_file_location("real_samples_to_local", REPO / "scripts" / "real_samples_to_local.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("local-real")
    sidecars = _converter().convert(REAL, out)
    assert len(sidecars) == 7  # Sen1Floods11 Spain + six BigEarthNet pairs
    return out


@pytest.fixture(scope="module")
def source(converted: Path) -> LocalSource:
    return LocalSource(converted)


@pytest.fixture(scope="module")
def converted_cr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All nine real pairs, SEN12MS-CR included (needs ../shared/real-samples: skipped with the reason elsewhere)."""
    shared = sen12mscr_samples()
    out = tmp_path_factory.mktemp("local-real-cr")
    assert len(_converter().convert(shared, out)) == 9
    return out


@pytest.fixture(scope="module")
def source_cr(converted_cr: Path) -> LocalSource:
    return LocalSource(converted_cr)


def _roi(src: LocalSource, scene_name: str) -> tuple[ROI, str]:
    for season in ("spring", "summer", "fall", "winter"):
        for roi in src.rois(season):
            if src.scene_for(roi).name == scene_name:
                return roi, season
    raise AssertionError(f"scene {scene_name} not listed")


def _open(src: LocalSource, scene_name: str) -> LocalScene:
    roi, season = _roi(src, scene_name)
    grid = src.grid_for(roi, default_grid(roi.lon, roi.lat, 256))
    return src.open_scene(SceneRequest(roi, season, "2017-01-01", "2017-12-31", grid))


def _full(scene: LocalScene) -> Window:
    return Window(0, 0, scene.grid.width, scene.grid.height)


def _one_scene_root(converted: Path, name: str, tmp_path: Path) -> Path:
    root = tmp_path / "root"
    shutil.copytree(converted / name, root / name)
    return root


def _edit_sidecar(folder: Path, edit: Any) -> Path:
    path = folder / "scene.json"
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    return path


def _assert_names_fix(err: BaseException, *names: str) -> None:
    msg = str(err)
    for n in names:
        assert n in msg, f"{n!r} not named in: {msg}"
    assert "Fix:" in msg and len(msg.split("Fix:", 1)[1].strip()) > 10, msg


# --------------------------------------------------------------------------- real scenes


def _check_listed_scenes_open(source: LocalSource, names: list[str], manifest_root: Path) -> None:
    manifest = {Path(f["file"]).name: f for f in json.loads((manifest_root / "manifest.json").read_text())["files"]}
    checked = 0
    for name in names:
        roi, _ = _roi(source, name)
        assert roi.kind == "land"
        with _open(source, name) as scene:
            s1 = scene.read_s1(_full(scene))
            s2 = scene.read_s2(_full(scene))
            h, w = scene.grid.height, scene.grid.width
            assert s1.shape == (1, h, w) and s1.dtype == np.float32
            assert s2.shape == (3, h, w) and s2.dtype == np.uint16
            assert np.isfinite(s1).mean() > 0.9 and (s2[0] > 0).mean() > 0.9
            assert -25.0 < float(np.nanmedian(s1)) < 0.0  # sigma0 VV in dB over land
            assert 100 < float(np.median(s2[s2 > 0])) < 5000  # reflectance x 10000
            assert scene.seam_mask(Window(0, 0, 8, 8)) is None
        # ROI centre agrees with the manifest's centre of the scene's S1 file
        s1_file = source.scene_for(roi).s1.bands[0][1].path.name  # type: ignore[union-attr]
        key = s1_file.removeprefix("s1_")
        if key in manifest:
            assert abs(roi.lon - manifest[key]["lon"]) < 2e-3 and abs(roi.lat - manifest[key]["lat"]) < 2e-3, name
            checked += 1
    assert checked == len(names)


def test_converted_real_samples_list_and_open(source: LocalSource) -> None:
    ids = {season: [r.scene_id for r in source.rois(season)] for season in ("spring", "summer", "fall", "winter")}
    # numbered by folder order within each season
    assert ids == {
        "spring": [],
        "summer": ["ROIs1868_summer_0", "ROIs1868_summer_1", "ROIs1868_summer_2"],
        "fall": ["ROIs1970_fall_0", "ROIs1970_fall_1"],
        "winter": ["ROIs2017_winter_0", "ROIs2017_winter_1"],
    }
    _check_listed_scenes_open(source, [SPAIN, *BEN], REAL)


def test_converted_sen12mscr_samples_keep_their_scene_numbers(source_cr: LocalSource) -> None:
    ids = {season: [r.scene_id for r in source_cr.rois(season)] for season in ("spring", "summer", "fall", "winter")}
    # explicit SEN12MS-CR scene numbers kept; the rest numbered by folder order, skipping used numbers
    assert ids == {
        "spring": [],
        "summer": ["ROIs1868_summer_0", "ROIs1868_summer_1", "ROIs1868_summer_2"],
        "fall": ["ROIs1970_fall_0", "ROIs1970_fall_1", "ROIs1970_fall_139"],
        "winter": ["ROIs2017_winter_0", "ROIs2017_winter_1", "ROIs2017_winter_112"],
    }
    _check_listed_scenes_open(source_cr, [SPAIN, CR_FALL, CR_WINTER, *BEN], sen12mscr_samples())


def test_acquisition_metadata_from_sidecars(source: LocalSource) -> None:
    with _open(source, "bigearthnet_33uup_87_48") as scene:
        assert scene.s1.datetime == "2017-06-13T16:50:43Z" and scene.s1.platform == "sentinel-1a"
        assert scene.s1.relative_orbit == 146 and scene.s1.orbit_state == "ascending"  # 17:45 local solar time
        assert scene.s1.product_ids == ("S1A_IW_GRDH_1SDV_20170613T165043_20170613T165108_017018_01C579_7EEC",)
        assert scene.s2.datetime == "2017-06-13T10:10:31Z" and scene.s2.platform == "sentinel-2a"
        assert scene.s2.relative_orbit == 22 and scene.s2.cloud_cover is None
        assert scene.properties["s2:processing_level"] == "L2A"
    with _open(source, SPAIN) as scene:  # date known, time of day not
        assert scene.s1.datetime is None
        assert (scene.s1.start_datetime, scene.s1.end_datetime) == ("2019-09-17T00:00:00Z", "2019-09-17T23:59:59Z")
        assert scene.s1.relative_orbit == 110 and scene.s1.orbit_state == "descending"


def test_sen12mscr_dates_unknown_give_the_season_window(source_cr: LocalSource) -> None:
    with _open(source_cr, CR_FALL) as scene:  # dates unknown: the season window, honestly
        assert scene.s1.datetime is None and scene.s1.platform is None and scene.s1.orbit_state is None
        assert (scene.s1.start_datetime, scene.s1.end_datetime) == ("2017-09-01T00:00:00Z", "2017-11-30T23:59:59Z")


def test_sen12mscr_utm_pairs_pass_through_bit_identical(source_cr: LocalSource, converted_cr: Path) -> None:
    source, converted = source_cr, converted_cr
    for name in (CR_FALL, CR_WINTER):
        s1_file = next((converted / name).glob("s1_*.tif"))
        s2_file = next((converted / name).glob("s2_cloudfree_*.tif"))
        with rasterio.open(s1_file) as ds:
            want_grid = Grid(f"EPSG:{ds.crs.to_epsg()}", tuple(ds.transform)[:6], ds.width, ds.height)  # type: ignore[arg-type]
            vv = ds.read(1)
        with rasterio.open(s2_file) as ds:
            rgb = ds.read([4, 3, 2])
        with _open(source, name) as scene:
            assert scene.grid == want_grid
            assert scene.warped == {"s1": False, "s2": False}
            for win in (_full(scene), Window(17, 33, 100, 50), Window(255, 255, 1, 1)):
                sl = win.toslices()
                got1 = scene.read_s1(win)[0]
                assert np.array_equal(got1.view(np.uint32), vv[sl].view(np.uint32)), "S1 values must be untouched"
                assert np.array_equal(scene.read_s2(win), rgb[(slice(None), *sl)])


def test_bigearthnet_per_band_files_assemble_b4_b3_b2(source: LocalSource, converted: Path) -> None:
    for name in BEN:
        folder = converted / name
        with _open(source, name) as scene:
            assert scene.warped == {"s1": False, "s2": False}
            assert (scene.grid.width, scene.grid.height) == (120, 120) and scene.grid.transform[0] == 10.0
            got = scene.read_s2(_full(scene))
            for i, band in enumerate(("B04", "B03", "B02")):
                with rasterio.open(next(folder.glob(f"*_{band}.tif"))) as ds:
                    assert np.array_equal(got[i], ds.read(1)), (name, band)
            with rasterio.open(next(folder.glob("*_VV.tif"))) as ds:
                assert np.array_equal(scene.read_s1(_full(scene))[0], ds.read(1))
        # the three bands really differ (not one file read three times)
        assert not np.array_equal(got[0], got[2])


def _box(x: np.ndarray, k: int) -> np.ndarray:
    p = k // 2
    c = np.pad(np.cumsum(np.cumsum(np.pad(x, p, mode="edge"), 0), 1), ((1, 0), (1, 0)))
    return (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / (k * k)


def _best_shift(s1: np.ndarray, s2: np.ndarray, valid: np.ndarray, r: int = 4) -> tuple[int, int]:
    """Shift (dx, dy) of S2 against S1 maximising the correlation of high-passed images."""
    def hp(x: np.ndarray) -> np.ndarray:
        x = _box(np.where(valid, x, np.mean(x[valid])), 3)
        return x - _box(x, 15)

    a, b = hp(s1), hp(s2)
    h, w = a.shape
    m = r + 8
    best, best_c = (0, 0), -2.0
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            v = valid[m:h - m, m:w - m] & valid[m + dy:h - m + dy, m + dx:w - m + dx]
            c = np.corrcoef(a[m:h - m, m:w - m][v], b[m + dy:h - m + dy, m + dx:w - m + dx][v])[0, 1]
            if c > best_c:
                best, best_c = (dx, dy), c
    return best


def test_sen1floods11_epsg4326_pair_reprojected_to_utm30n_and_coregistered(source: LocalSource, converted: Path) -> None:
    s1_file = converted / SPAIN / "Spain_7370579_S1Hand.tif"
    s2_file = converted / SPAIN / "Spain_7370579_S2Hand.tif"
    with _open(source, SPAIN) as scene:
        g = scene.grid
        assert g.crs == "EPSG:32630"
        a, b, c, d, e, f = g.transform
        assert (a, b, d, e) == (10.0, 0.0, 0.0, -10.0) and c % 10 == 0 and f % 10 == 0
        assert scene.warped == {"s1": True, "s2": True}
        with rasterio.open(s1_file) as ds:
            assert ds.crs == CRS.from_epsg(4326)
            fp = transform_bounds(ds.crs, g.crs, *ds.bounds, densify_pts=21)
        gb = g.bounds  # covers S1's footprint, with less than a pixel to spare on each side
        assert gb[0] <= fp[0] < gb[0] + 10 and gb[1] <= fp[1] < gb[1] + 10
        assert gb[2] - 10 < fp[2] <= gb[2] and gb[3] - 10 < fp[3] <= gb[3]

        s1 = scene.read_s1(_full(scene))[0]
        s2 = scene.read_s2(_full(scene))
        # strips of rows (how the pipeline reads) give exactly the full read
        strips1 = np.concatenate([scene.read_s1(Window(0, r, g.width, min(100, g.height - r)))[0] for r in range(0, g.height, 100)])
        strips2 = np.concatenate([scene.read_s2(Window(0, r, g.width, min(100, g.height - r))) for r in range(0, g.height, 100)], axis=1)
        assert np.array_equal(strips1, s1, equal_nan=True) and np.array_equal(strips2, s2)

    valid = np.isfinite(s1) & (s2[0] > 0)
    assert 0.9 < valid.mean() < 1.0  # rotated footprint: no-data corners, nothing else
    assert np.array_equal(np.isfinite(s1), s2[0] > 0), "S1 and S2 no-data must coincide (same footprint, same grid)"

    # against an independent reprojection of each file onto the same grid
    ref1 = np.full(s1.shape, np.nan, np.float32)
    ref4 = np.zeros(s1.shape, np.float32)
    with rasterio.open(s1_file) as ds:
        reproject(rasterio.band(ds, 1), ref1, dst_transform=g.affine, dst_crs=g.crs, resampling=Resampling.bilinear, dst_nodata=np.nan)
        native1 = ds.read(1)
    with rasterio.open(s2_file) as ds:
        reproject(rasterio.band(ds, 4), ref4, dst_transform=g.affine, dst_crs=g.crs, resampling=Resampling.bilinear, dst_nodata=0)
        native2 = ds.read([4, 3, 2]).astype(np.float32).sum(0)
    both = valid & np.isfinite(ref1) & (ref4 > 0)
    err1 = np.abs(s1 - ref1)[both].mean()
    err1_shifted = np.abs(s1[:, 1:] - ref1[:, :-1])[both[:, 1:] & both[:, :-1]].mean()  # one pixel off
    assert err1 < 0.1 and err1_shifted > 5 * err1, (err1, err1_shifted)
    err2 = np.abs(s2[0] - ref4)[both].mean()
    err2_shifted = np.abs(s2[0][1:] - ref4[:-1])[both[1:] & both[:-1]].mean()
    assert err2 < 5 and err2_shifted > 5 * err2, (err2, err2_shifted)

    # physics: flooded fields are dark in S1 (specular) and dark in S2; the masks agree best unshifted
    bright = s2.astype(np.float32).sum(0)
    water1 = s1 < -18.0
    water2 = bright < np.percentile(bright[valid], 20)

    def agreement(dx: int, dy: int, m: int = 25) -> float:
        h, w = s1.shape
        v = valid[m:h - m, m:w - m] & valid[m + dy:h - m + dy, m + dx:w - m + dx]
        return float(np.corrcoef(water1[m:h - m, m:w - m][v], water2[m + dy:h - m + dy, m + dx:w - m + dx][v])[0, 1])

    at0 = agreement(0, 0)
    assert at0 > 0.3
    assert all(at0 > agreement(dx, dy) + 0.05 for dx, dy in [(20, 0), (-20, 0), (0, 20), (0, -20)])
    # the S1/S2 offset after reprojection is the one already in the files (Sen1Floods11: about 1 row)
    nvalid = np.isfinite(native1) & (native2 > 0)
    native_shift = _best_shift(native1, native2, nvalid)
    warped_shift = _best_shift(s1, bright, valid)
    assert abs(native_shift[0] - warped_shift[0]) <= 1 and abs(native_shift[1] - warped_shift[1]) <= 1
    assert max(abs(warped_shift[0]), abs(warped_shift[1])) <= 1


def test_scene_is_picklable_and_reopens(source: LocalSource) -> None:
    with _open(source, SPAIN) as scene:
        win = Window(40, 50, 64, 32)
        want1, want2 = scene.read_s1(win), scene.read_s2(win)
        clone = pickle.loads(pickle.dumps(scene))
    try:
        assert np.array_equal(clone.read_s1(win), want1, equal_nan=True)
        assert np.array_equal(clone.read_s2(win), want2)
        assert clone.grid == scene.grid and clone.s1 == scene.s1
    finally:
        clone.close()


def test_windows_outside_the_grid_are_refused(source: LocalSource) -> None:
    with _open(source, BEN[0]) as scene:  # 120 x 120 px
        for win in (Window(-1, 0, 10, 10), Window(115, 0, 10, 10), Window(0, 0, 0, 5), Window(0.5, 0, 4, 4)):
            with pytest.raises(SourceError):
                scene.read_s1(win)


def test_grid_for_returns_the_scene_grid_not_the_default(source: LocalSource) -> None:
    roi, _ = _roi(source, "bigearthnet_33uup_87_48")
    default = default_grid(roi.lon, roi.lat, 4480)
    g = source.grid_for(roi, default)
    assert g == Grid("EPSG:32633", (10.0, 0.0, 404400.0, 0.0, -10.0, 5342400.0), 120, 120)
    with pytest.raises(ConfigError):
        source.grid_for(ROI("ROIs1158_spring", 3, 0.0, 0.0, "land"), default)


def test_s1_linear_power_and_s2_offset_and_negatives(converted: Path, tmp_path: Path) -> None:
    """S1 given as linear power is converted to dB; S2 offset applies and values <= 0 become no-data."""
    name = BEN[0]  # UTM, passes through unresampled
    root = _one_scene_root(converted, name, tmp_path)
    folder = root / name
    with rasterio.open(next(folder.glob("*_VV.tif"))) as ds:
        db, prof1 = ds.read(1), ds.profile
    rgb = []
    for band in ("B04", "B03", "B02"):
        with rasterio.open(next(folder.glob(f"*_{band}.tif"))) as ds:
            rgb.append(ds.read(1).astype(np.int32))
            prof2 = ds.profile
    rgb = np.stack(rgb)
    with rasterio.open(folder / "s1_linear.tif", "w", **prof1) as out:
        out.write((10.0 ** (db / 10.0)).astype(np.float32), 1)
    shifted = rgb + 1000  # like an L2A baseline-04.00 product: DN = reflectance x 10000 + 1000
    shifted[:, :10, :10] = -5  # invalid pixels, stored as negatives in int16
    prof2.update(count=3, dtype="int16")
    with rasterio.open(folder / "s2_int16.tif", "w", **prof2) as out:
        out.write(shifted.astype(np.int16))

    def edit(doc: dict[str, Any]) -> None:
        doc["s1"].pop("files")
        doc["s1"].update(file="s1_linear.tif", bands={"VV": 1}, units="linear")
        doc["s2"].pop("files")
        doc["s2"].update(file="s2_int16.tif", bands={"B04": 1, "B03": 2, "B02": 3}, offset=-1000)

    _edit_sidecar(folder, edit)
    with _open(LocalSource(root), name) as scene:
        got1 = scene.read_s1(_full(scene))[0]
        got2 = scene.read_s2(_full(scene))
    assert np.allclose(got1, db, atol=1e-4)
    assert (got2[:, :10, :10] == 0).all()
    rest = np.ones(rgb.shape[1:], bool)
    rest[:10, :10] = False
    assert np.array_equal(got2[:, rest], rgb[:, rest].astype(np.uint16))


def test_season_from_month_when_sidecar_omits_it(converted: Path, tmp_path: Path) -> None:
    root = _one_scene_root(converted, "bigearthnet_35vpk_69_24", tmp_path)
    _edit_sidecar(root / "bigearthnet_35vpk_69_24", lambda d: d.pop("season"))
    src = LocalSource(root)
    assert [r.scene_id for r in src.rois("fall")] == ["ROIs1970_fall_0"]  # S2 acquired 2017-09-24
    assert src.rois("summer") == []


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("keep", ["header", "half"])
def test_truncated_geotiff_raises_raster_format_error(converted: Path, tmp_path: Path, keep: str) -> None:
    root = _one_scene_root(converted, SPAIN, tmp_path)
    s1_file = root / SPAIN / "Spain_7370579_S1Hand.tif"
    data = s1_file.read_bytes()
    s1_file.write_bytes(data[:100] if keep == "header" else data[: len(data) // 2])
    src = LocalSource(root)
    roi, season = _roi(src, SPAIN)
    grid = src.grid_for(roi, default_grid(roi.lon, roi.lat, 256))  # falls back to S2's grid
    with pytest.raises(RasterFormatError) as ei:
        src.open_scene(SceneRequest(roi, season, "2019-09-01", "2019-11-30", grid))
    _assert_names_fix(ei.value, "Spain_7370579_S1Hand.tif", "gdalinfo")
    assert ("truncated" in str(ei.value)) or ("not a readable GeoTIFF" in str(ei.value))


def test_missing_band_index_raises_raster_format_error(converted: Path, tmp_path: Path) -> None:
    root = _one_scene_root(converted, SPAIN, tmp_path)
    sidecar = _edit_sidecar(root / SPAIN, lambda d: d["s2"]["bands"].update(B04=14))
    with pytest.raises(RasterFormatError) as ei:
        _open(LocalSource(root), SPAIN)
    _assert_names_fix(ei.value, "Spain_7370579_S2Hand.tif", "band 14", "13", str(sidecar))


def test_s2_not_overlapping_s1_raises_alignment_error(converted: Path, tmp_path: Path) -> None:
    # two real BigEarthNet patches of the same tile, about 40 km apart
    root = _one_scene_root(converted, "bigearthnet_29upu_36_85", tmp_path)
    folder = root / "bigearthnet_29upu_36_85"
    other = converted / "bigearthnet_29upu_4_55"
    files = {}
    for band in ("B04", "B03", "B02"):
        f = next(other.glob(f"*_{band}.tif"))
        shutil.copy(f, folder / f.name)
        files[band] = f.name
    sidecar = _edit_sidecar(folder, lambda d: d["s2"].update(files=files))
    with pytest.raises(AlignmentError) as ei:
        _open(LocalSource(root), "bigearthnet_29upu_36_85")
    _assert_names_fix(ei.value, "S2A_MSIL2A_20170617T113321_4_55_B04.tif", "S1A_IW_GRDH_1SDV_20170617T064724_29UPU_36_85_VV.tif",
                      "does not overlap", str(sidecar))


def test_s2_in_another_utm_zone_far_away_raises_alignment_error(converted: Path, tmp_path: Path) -> None:
    root = _one_scene_root(converted, "bigearthnet_33uup_87_48", tmp_path)  # S1 in Austria (EPSG:32633)
    folder = root / "bigearthnet_33uup_87_48"
    files = {}
    for band in ("B04", "B03", "B02"):  # S2 in Ireland (EPSG:32629)
        f = next((converted / "bigearthnet_29upu_36_85").glob(f"*_{band}.tif"))
        shutil.copy(f, folder / f.name)
        files[band] = f.name
    _edit_sidecar(folder, lambda d: d["s2"].update(files=files))
    with pytest.raises(AlignmentError) as ei:
        _open(LocalSource(root), "bigearthnet_33uup_87_48")
    _assert_names_fix(ei.value, files["B04"])


def _rewrite_s1(folder: Path, crs: CRS | None) -> Path:
    s1_file = folder / json.loads((folder / "scene.json").read_text())["s1"]["file"]
    with rasterio.open(s1_file) as ds:
        vv, prof = ds.read(1), ds.profile
    prof.update(count=1, crs=crs)
    out = folder / "s1_rewritten.tif"
    with rasterio.open(out, "w", **prof) as dst:
        dst.write(vv, 1)
    _edit_sidecar(folder, lambda d: d["s1"].update(file=out.name, bands={"VV": 1}))
    return out


def test_file_without_crs_raises_raster_format_error(converted: Path, tmp_path: Path) -> None:
    root = _one_scene_root(converted, SPAIN, tmp_path)
    out = _rewrite_s1(root / SPAIN, None)
    with rasterio.open(out) as ds:
        assert ds.crs is None
    with pytest.raises(RasterFormatError) as ei:
        _open(LocalSource(root), SPAIN)
    _assert_names_fix(ei.value, "s1_rewritten.tif", "no CRS", "rio edit-info --crs")


def test_crs_that_cannot_be_reprojected_raises_alignment_error(converted: Path, tmp_path: Path) -> None:
    root = _one_scene_root(converted, SPAIN, tmp_path)
    local = CRS.from_wkt('LOCAL_CS["arbitrary",UNIT["metre",1],AXIS["Easting",EAST],AXIS["Northing",NORTH]]')
    _rewrite_s1(root / SPAIN, local)
    with pytest.raises(AlignmentError) as ei:
        _open(LocalSource(root), SPAIN)
    _assert_names_fix(ei.value, "s1_rewritten.tif", "cannot be reprojected")


def test_unknown_season_in_sidecar_raises_config_error(converted: Path, tmp_path: Path) -> None:
    root = _one_scene_root(converted, SPAIN, tmp_path)
    sidecar = _edit_sidecar(root / SPAIN, lambda d: d.update(season="monsoon"))
    with pytest.raises(ConfigError) as ei:
        LocalSource(root)
    _assert_names_fix(ei.value, str(sidecar), "'season'", "monsoon", "spring, summer, fall, winter")


@pytest.mark.parametrize(
    "edit, key",
    [
        (lambda d: d.pop("s2"), "'s2'"),
        (lambda d: d["s1"].pop("file"), "'s1.file'"),
        (lambda d: d["s2"]["bands"].pop("B03"), "'s2.bands.B03'"),
        (lambda d: d["s1"].update(datetime="17 June"), "'s1.datetime'"),
        (lambda d: d["s1"].update(orbit_state="sideways"), "'s1.orbit_state'"),
        (lambda d: d.update(index=-1), "'index'"),
        (lambda d: d["s2"].update(clouds=3), "'s2.clouds'"),
        # values that once crashed the reader (AssertionError, unhashable list, int('²')) instead of naming the key
        (lambda d: d["s2"].update(scale=None), "'s2.scale'"),
        (lambda d: d["s1"].update(datetime=[]), "'s1.datetime'"),
        (lambda d: d["s1"].update(platform=["sentinel-1a"]), "'s1.platform'"),
        (lambda d: d["s2"].update(cloud_cover=[3]), "'s2.cloud_cover'"),
        (lambda d: (d["s1"].pop("bands"), d["s1"].update(files={"VV": "Spain_7370579_S1Hand.tif#\u00b2"})), "'s1.files.VV'"),
    ],
)
def test_bad_sidecar_keys_raise_config_error(converted: Path, tmp_path: Path, edit: Any, key: str) -> None:
    root = _one_scene_root(converted, SPAIN, tmp_path)
    sidecar = _edit_sidecar(root / SPAIN, edit)
    with pytest.raises(ConfigError) as ei:
        LocalSource(root)
    _assert_names_fix(ei.value, str(sidecar), key)


def test_invalid_json_sidecar_raises_config_error(converted: Path, tmp_path: Path) -> None:
    root = _one_scene_root(converted, SPAIN, tmp_path)
    (root / SPAIN / "scene.json").write_text('{"season": "fall",')
    with pytest.raises(ConfigError) as ei:
        LocalSource(root)
    _assert_names_fix(ei.value, "scene.json", "invalid JSON")


def test_duplicate_index_raises_config_error(converted: Path, tmp_path: Path) -> None:
    root = _one_scene_root(converted, SPAIN, tmp_path)  # fall
    _edit_sidecar(root / SPAIN, lambda d: d.update(index=139))
    shutil.copytree(converted / "bigearthnet_35vpk_69_24", root / "bigearthnet_35vpk_69_24")  # fall too
    _edit_sidecar(root / "bigearthnet_35vpk_69_24", lambda d: d.update(index=139))
    with pytest.raises(ConfigError) as ei:
        LocalSource(root)
    _assert_names_fix(ei.value, "index", "139", SPAIN, "bigearthnet_35vpk_69_24")


def test_absent_sensor_file_makes_the_scene_unavailable(converted: Path, tmp_path: Path) -> None:
    root = _one_scene_root(converted, "bigearthnet_29snd_56_35", tmp_path)
    folder = root / "bigearthnet_29snd_56_35"
    vv = next(folder.glob("*_VV.tif"))
    vv.unlink()
    src = LocalSource(root)
    roi, season = _roi(src, "bigearthnet_29snd_56_35")  # still listed (centre from S2), so it is counted as unavailable
    assert not math.isnan(roi.lon)
    with pytest.raises(SceneUnavailable) as ei:
        _open(src, "bigearthnet_29snd_56_35")
    _assert_names_fix(ei.value, vv.name, "does not exist")

    _edit_sidecar(folder, lambda d: d.update(s1=None))
    with pytest.raises(SceneUnavailable) as ei:
        _open(LocalSource(root), "bigearthnet_29snd_56_35")
    _assert_names_fix(ei.value, "no S1")


def test_missing_root_and_empty_root_raise_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as ei:
        LocalSource(tmp_path / "nope")
    _assert_names_fix(ei.value, "nope")
    with pytest.raises(ConfigError) as ei:
        LocalSource(tmp_path)
    _assert_names_fix(ei.value, "scene.json")


def test_converter_refuses_a_wrong_source_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        _converter().convert(tmp_path, tmp_path / "out")


def test_s1_relative_orbit_formula() -> None:
    conv = _converter()
    # ESA's published worked examples (S1A 018302 -> 30, S1B 007231 -> 30)
    assert conv.s1_relative_orbit("S1A_IW_GRDH_1SDV_20170909T175748_20170909T175813_018302_01EC88_98A1") == 30
    assert conv.s1_relative_orbit("S1B_IW_GRDH_1SDV_20170903T175659_20170903T175724_007231_00CBEF_874B") == 30


def test_bands_found_by_description_when_the_sidecar_omits_numbers(converted: Path, tmp_path: Path) -> None:
    """Sen1Floods11 files describe their bands (VV, VH; B1..B12): the sidecar may name files only."""
    root = _one_scene_root(converted, SPAIN, tmp_path)
    _edit_sidecar(root / SPAIN, lambda d: (d["s1"].pop("bands"), d["s2"].pop("bands")))
    with _open(LocalSource(root), SPAIN) as scene:
        got = scene.read_s2(Window(100, 100, 50, 50))
        assert scene._s1_bands[0][1] == 1 and [i for _, i in scene._s2_bands] == [4, 3, 2]
    with _open(LocalSource(converted), SPAIN) as ref:
        assert np.array_equal(got, ref.read_s2(Window(100, 100, 50, 50)))
    # a file that carries no band descriptions (as SEN12MS-CR's): the error says which key to set
    root2 = _one_scene_root(converted, SPAIN, tmp_path / "b")
    with rasterio.open(root2 / SPAIN / "Spain_7370579_S2Hand.tif") as ds:
        data, prof = ds.read(), ds.profile
    with rasterio.open(root2 / SPAIN / "s2_undescribed.tif", "w", **prof) as dst:
        dst.write(data)
    sidecar = _edit_sidecar(root2 / SPAIN, lambda d: (d["s2"].pop("bands"), d["s2"].update(file="s2_undescribed.tif")))
    with pytest.raises(RasterFormatError) as ei:
        _open(LocalSource(root2), SPAIN)
    _assert_names_fix(ei.value, "s2_undescribed.tif", "B04", str(sidecar))


def test_source_is_picklable(source: LocalSource) -> None:
    clone = pickle.loads(pickle.dumps(source))
    assert clone.rois("winter") == source.rois("winter")
    roi = clone.rois("winter")[-1]
    assert clone.grid_for(roi, default_grid(roi.lon, roi.lat, 256)) == source.grid_for(roi, default_grid(roi.lon, roi.lat, 256))


def test_acquisitions_outside_the_season_window_are_warned_naming_the_sidecar(converted: Path, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    with caplog.at_level(logging.WARNING, logger="sen12stac.sources.local"):
        LocalSource(converted)
    messages = [r.getMessage() for r in caplog.records if r.name == "sen12stac.sources.local" and r.levelno == logging.WARNING]
    warned = {m.split(": ", 1)[0] for m in messages}
    # Sen1Floods11 Spain is from 2019 (declared fall); two BigEarthNet winter pairs are from Dec 2017 / Feb 2018
    assert warned == {str(converted / n / "scene.json") for n in (SPAIN, "bigearthnet_29snd_56_35", "bigearthnet_35vpk_57_38")}, messages
    assert len(messages) == 3  # one per sidecar, naming both sensors
    spain = next(m for m in messages if SPAIN in m)
    assert "S1 acquired 2019-09-17 and S2 acquired 2019-09-18" in spain and "fall window 2017-09-01..2017-11-30" in spain and "ROIs1970_fall" in spain
