"""The ``local`` source under recipe v2, on the real BigEarthNet clips (tests/data/real).

BigEarthNet v1 is real Sentinel-2 L2A (sen2cor) stored one file per band at 10, 20 and 60 m, with
S1 VV and VH on the 10 m bands' grid, and CORINE multi-labels for the whole 120x120 patch. Every
band a v2 read returns is checked against its source file: the 10 m bands and S1 pixel for pixel
(geolocation exact), the 20 m and 60 m bands as a bilinear field on the 10 m grid (each value
between its four source neighbours, no blocks, aligned). BigEarthNet v1 has no pixel label map,
so its label is "none known" (all 0) and its patch labels are carried as given.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import Affine
from rasterio.windows import Window

from sen12stac.errors import ConfigError, RasterFormatError
from sen12stac.models import SceneRequest
from sen12stac.recipe.recipes import V2
from sen12stac.recipe.utm import default_grid
from sen12stac.sources.local import LocalScene, LocalSource

from test_local_source import BEN, SPAIN, _converter, _roi
from conftest import real_samples

REAL = real_samples()
TEN_M = ("B02", "B03", "B04", "B08")


@pytest.fixture(scope="module")
def ben(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The six BigEarthNet scenes in the local layout (Sen1Floods11, an L1C stack, left out)."""
    out = tmp_path_factory.mktemp("local-v2")
    _converter().convert(REAL, out)
    shutil.rmtree(out / SPAIN)
    return out


def _open(src: LocalSource, name: str, recipe: str = "v2") -> LocalScene:
    roi, season = _roi(src, name)
    grid = src.grid_for(roi, default_grid(roi.lon, roi.lat, 256))
    return src.open_scene(SceneRequest(roi, season, "2017-01-01", "2018-12-31", grid, recipe=recipe))


def _src_file(name: str, suffix: str) -> Path:
    """The original file in tests/data/real (not the converted copy): S1 by tile_x_y, S2 by the
    patch the S1 metadata names."""
    s1_dir = next(d for d in (REAL / "bigearthnet" / "BigEarthNet-S1-Example").iterdir()
                  if d.name.lower().endswith(name.removeprefix("bigearthnet_")))
    if suffix in ("VV", "VH"):
        return s1_dir / f"{s1_dir.name}_{suffix}.tif"
    s2_name = json.loads((s1_dir / f"{s1_dir.name}_labels_metadata.json").read_text())["corresponding_s2_patch"]
    return REAL / "bigearthnet" / "BigEarthNet-S2-Example" / s2_name / f"{s2_name}_{suffix}.tif"


def test_carried_clips_hold_every_band() -> None:
    """The real-data test runs on a fresh clone: all 12 L2A bands and VH are carried (CDLA-Permissive-1.0)."""
    for name in BEN:
        for band in (*V2.s2_bands, "VV", "VH"):
            assert _src_file(name, band).is_file(), (name, band)


@pytest.mark.parametrize("name", BEN)
def test_v2_reads_real_bigearthnet_bands_as_in_the_source_files(ben: Path, name: str) -> None:
    src = LocalSource(ben, recipe="v2")
    with _open(src, name) as scene:
        grid = scene.grid
        with rasterio.open(_src_file(name, "VV")) as vv:
            # geolocation exact: the scene grid is the S1 file's own grid
            assert grid.crs == f"EPSG:{vv.crs.to_epsg()}"
            assert tuple(grid.transform) == tuple(vv.transform)[:6]
            assert (grid.width, grid.height) == (vv.width, vv.height) == (120, 120)
        full = Window(0, 0, grid.width, grid.height)
        s1, s2 = scene.read_s1(full), scene.read_s2(full)
        assert s1.shape == (2, 120, 120) and s1.dtype == np.float32
        assert s2.shape == (12, 120, 120) and s2.dtype == np.uint16
        for i, pol in enumerate(V2.s1_bands):
            with rasterio.open(_src_file(name, pol)) as ds:
                np.testing.assert_array_equal(s1[i], ds.read(1).astype(np.float32))
        warped = scene.warped_bands()
        assert (s2 > 0).all(), "every real pixel is valid in every band (no edge lost to resampling)"
        for i, band in enumerate(V2.s2_bands):
            with rasterio.open(_src_file(name, band)) as ds:
                dn = ds.read(1).astype(np.int64)
                res = ds.transform.a
                assert (ds.transform.c, ds.transform.f) == (grid.transform[2], grid.transform[5])
            out = s2[i].astype(np.int64)
            if band in TEN_M:
                # no resampling: DN to reflectance x 10000 within one DN (here: identical), same pixel
                assert res == 10.0 and not warped[band]
                assert np.abs(out - dn).max() <= 1
                continue
            assert warped[band] and res in (20.0, 60.0)
            k = int(res // 10)
            assert dn.shape == (120 // k, 120 // k)
            # a bilinear field: every 10 m value lies between the (up to) four source pixels around it
            up = np.kron(dn, np.ones((k, k), dtype=np.int64))
            lo = np.minimum.reduce([np.roll(np.roll(up, dy * (k // 2 + 1), 0), dx * (k // 2 + 1), 1)
                                    for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
            hi = np.maximum.reduce([np.roll(np.roll(up, dy * (k // 2 + 1), 0), dx * (k // 2 + 1), 1)
                                    for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
            inner = (slice(k, -k), slice(k, -k))
            assert ((out[inner] >= lo[inner] - 1) & (out[inner] <= hi[inner] + 1)).all(), band
            # not blocky: nearest would repeat each source value over k x k pixels
            blocks = out.reshape(120 // k, k, 120 // k, k)
            constant = (blocks.max(axis=(1, 3)) == blocks.min(axis=(1, 3))).mean()
            assert constant < 0.5, (band, constant)
            # the mean kept, and aligned: each k x k block's mean is nearer its own source pixel than
            # a neighbour's by a wide margin (a one-pixel shift of the field would invert this)
            assert abs(out.mean() / dn.mean() - 1) < 0.005, band
            means = blocks.mean(axis=(1, 3))
            err = np.abs(means - dn)[1:-1, 1:-1].mean()
            shifted = min(np.abs(means - np.roll(dn, s, axis=ax))[1:-1, 1:-1].mean() for s in (1, -1) for ax in (0, 1))
            assert err < shifted / 2, (band, err, shifted)


def test_v2_windows_match_the_full_read(ben: Path) -> None:
    """A patch window (64 px at stride 32, the size that fits a 120 px clip) is the same pixels as the full read."""
    src = LocalSource(ben, recipe="v2")
    with _open(src, BEN[0]) as scene:
        full = scene.read_s2(Window(0, 0, 120, 120))
        s1 = scene.read_s1(Window(0, 0, 120, 120))
        for r0 in (0, 32):
            for c0 in (0, 32):
                w = Window(c0, r0, 64, 64)
                np.testing.assert_array_equal(scene.read_s2(w), full[:, r0:r0 + 64, c0:c0 + 64])
                np.testing.assert_array_equal(scene.read_s1(w), s1[:, r0:r0 + 64, c0:c0 + 64])


@pytest.mark.parametrize("name", BEN)
def test_bigearthnet_labels_are_the_patch_labels_and_no_pixel_map_is_invented(ben: Path, name: str) -> None:
    src = LocalSource(ben, recipe="v2")
    s2_json = next(_src_file(name, "B02").parent.glob("*_labels_metadata.json"))
    labels = json.loads(s2_json.read_text())["labels"]
    with _open(src, name) as scene:
        assert scene.properties["sen12:source_labels"] == labels
        lab = scene.read_label(Window(0, 0, 120, 120))
        assert lab.shape == (1, 120, 120) and lab.dtype == np.uint8
        assert not lab.any(), "BigEarthNet v1 has no pixel labels: the label is all no-data"
        assert scene.read_scl(Window(0, 0, 120, 120)) is None


def test_v1_request_reads_what_it_always_did(ben: Path) -> None:
    """The same sidecar under v1: VV alone and B04/B03/B02, equal to the v2 read's bands."""
    src = LocalSource(ben)
    with _open(src, BEN[0], "v1") as v1, _open(LocalSource(ben, recipe="v2"), BEN[0]) as v2:
        w = Window(0, 0, 120, 120)
        a1, b1 = v1.read_s1(w), v1.read_s2(w)
        assert a1.shape == (1, 120, 120) and b1.shape == (3, 120, 120)
        np.testing.assert_array_equal(a1[0], v2.read_s1(w)[0])
        s2 = v2.read_s2(w)
        np.testing.assert_array_equal(b1, s2[[V2.s2_bands.index(b) for b in ("B04", "B03", "B02")]])
        assert "sen12:source_labels" not in v1.properties and "sen12:source_labels" in v2.properties


def test_v2_refuses_an_l1c_stack_in_one_line(tmp_path: Path) -> None:
    """Sen1Floods11 is a 13-band L1C stack: a v2 build refuses it before any work, naming the level and the fix."""
    import subprocess
    import sys

    _converter().convert(REAL, tmp_path)
    r = subprocess.run([sys.executable, "-m", "sen12stac.cli", "build", "--recipe", "v2", "--source", "local", "--source-path", str(tmp_path),
                        "--out", str(tmp_path / "out"), "--workers", "0"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert r.returncode == 2 and len(errors) == 1 and "L1C" in errors[0] and "--recipe v1" in errors[0], r.stdout + r.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    with pytest.raises(ConfigError) as e:
        LocalSource(tmp_path, recipe="v2")
    msg = str(e.value)
    assert SPAIN in msg and "L1C" in msg and "Level-2A" in msg and "--recipe v1" in msg and "\n" not in msg
    LocalSource(tmp_path)  # v1 still takes it


def test_v2_refuses_an_undeclared_level(ben: Path, tmp_path: Path) -> None:
    folder = tmp_path / "s"
    shutil.copytree(ben / BEN[0], folder / BEN[0])
    side = json.loads((folder / BEN[0] / "scene.json").read_text())
    side["s2"]["processing_level"] = "unknown"
    (folder / BEN[0] / "scene.json").write_text(json.dumps(side))
    with pytest.raises(ConfigError, match="processing level is not declared.*processing_level"):
        LocalSource(folder, recipe="v2")


def test_v2_names_a_missing_band(ben: Path, tmp_path: Path) -> None:
    folder = tmp_path / "s"
    shutil.copytree(ben / BEN[0], folder / BEN[0])
    side = json.loads((folder / BEN[0] / "scene.json").read_text())
    del side["s2"]["files"]["B8A"]
    del side["s1"]["files"]["VH"]
    (folder / BEN[0] / "scene.json").write_text(json.dumps(side))
    src = LocalSource(folder, recipe="v2")
    with pytest.raises(RasterFormatError, match="S1 names no VH"):
        _open(src, BEN[0])
    with _open(src, BEN[0], "v1") as scene:  # v1 needs neither
        assert scene.read_s2(Window(0, 0, 8, 8)).shape == (3, 8, 8)


# --------------------------------------------------------------------------- label rasters, SCL, stacks


def _with(ben: Path, tmp_path: Path, edit: dict) -> Path:
    folder = tmp_path / "s"
    shutil.copytree(ben / BEN[0], folder / BEN[0])
    side = json.loads((folder / BEN[0] / "scene.json").read_text())
    for key, value in edit.items():
        if key.startswith("s2."):
            side["s2"]["files"][key[3:]] = value
        else:
            side[key] = value
    (folder / BEN[0] / "scene.json").write_text(json.dumps(side))
    return folder


def _coded(path: Path, ref: Path, codes: np.ndarray, res: float, nodata: int | None = 0) -> None:
    """A categorical raster at ``res`` covering the file ``ref`` (same origin)."""
    with rasterio.open(ref) as r:
        crs, t = r.crs, r.transform
    prof = dict(driver="GTiff", width=codes.shape[1], height=codes.shape[0], count=1, dtype=codes.dtype.name,
                crs=crs, transform=Affine(res, 0.0, t.c, 0.0, -res, t.f), nodata=nodata)
    with rasterio.open(path, "w", **prof) as ds:
        ds.write(codes, 1)


def test_label_raster_in_worldcover_codes_is_read_nearest(ben: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    codes = rng.choice(np.array([0, 10, 30, 40, 80], dtype=np.uint8), size=(60, 60))
    folder = _with(ben, tmp_path, {"label": {"file": "lc.tif"}})
    _coded(folder / BEN[0] / "lc.tif", _src_file(BEN[0], "B02"), codes, 20.0)
    with _open(LocalSource(folder, recipe="v2"), BEN[0]) as scene:
        lab = scene.read_label(Window(0, 0, 120, 120))[0]
        # nearest onto 10 m: each 20 m class covers its 2x2 block exactly (no blending of classes)
        np.testing.assert_array_equal(lab, np.kron(codes, np.ones((2, 2), dtype=np.uint8)))


def test_label_raster_with_a_crosswalk_and_an_unmapped_code(ben: Path, tmp_path: Path) -> None:
    codes = np.full((120, 120), 211, dtype=np.uint16)  # CORINE non-irrigated arable land
    codes[:, 60:] = 311  # broad-leaved forest
    folder = _with(ben, tmp_path, {"label": {"file": "clc.tif#1", "map": {"211": 40, "311": 10}}})
    _coded(folder / BEN[0] / "clc.tif", _src_file(BEN[0], "B02"), codes, 10.0)
    with _open(LocalSource(folder, recipe="v2"), BEN[0]) as scene:
        lab = scene.read_label(Window(0, 0, 120, 120))[0]
        assert (lab[:, :60] == 40).all() and (lab[:, 60:] == 10).all()
    codes[0, 0] = 512
    _coded(folder / BEN[0] / "clc.tif", _src_file(BEN[0], "B02"), codes, 10.0)
    with _open(LocalSource(folder, recipe="v2"), BEN[0]) as scene:
        with pytest.raises(RasterFormatError, match="code 512.*does not name"):
            scene.read_label(Window(0, 0, 120, 120))


def test_label_raster_not_in_worldcover_codes_needs_a_map(ben: Path, tmp_path: Path) -> None:
    folder = _with(ben, tmp_path, {"label": {"file": "clc.tif"}})
    _coded(folder / BEN[0] / "clc.tif", _src_file(BEN[0], "B02"), np.full((120, 120), 211, dtype=np.uint16), 10.0)
    with _open(LocalSource(folder, recipe="v2"), BEN[0]) as scene:
        with pytest.raises(RasterFormatError, match="value 211, not an ESA WorldCover code.*map"):
            scene.read_label(Window(0, 0, 120, 120))


def test_a_bad_label_map_is_one_config_line(ben: Path, tmp_path: Path) -> None:
    folder = _with(ben, tmp_path, {"label": {"file": "clc.tif", "map": {"211": 41}}})
    with pytest.raises(ConfigError, match=r"key 'label.map.211' maps 211 to 41, not an ESA WorldCover code"):
        LocalSource(folder, recipe="v2")


def test_scl_named_as_an_s2_band_is_read_nearest(ben: Path, tmp_path: Path) -> None:
    scl = np.full((60, 60), 4, dtype=np.uint8)
    scl[:10] = 9
    scl[10:20] = 3
    folder = _with(ben, tmp_path, {"s2.SCL": "scl.tif"})
    _coded(folder / BEN[0] / "scl.tif", _src_file(BEN[0], "B02"), scl, 20.0)
    with _open(LocalSource(folder, recipe="v2"), BEN[0]) as scene:
        out = scene.read_scl(Window(0, 0, 120, 120))
        assert out is not None and out.dtype == np.uint8 and out.shape == (1, 120, 120)
        np.testing.assert_array_equal(out[0], np.kron(scl, np.ones((2, 2), dtype=np.uint8)))


def test_a_described_l2a_stack_is_read_by_band_description(ben: Path, tmp_path: Path) -> None:
    """A stacked file (SEN12MS-CR / Sen1Floods11 style, here L2A) without "bands": found by description."""
    folder = tmp_path / "stack" / "scene"
    folder.mkdir(parents=True)
    with _open(LocalSource(ben, recipe="v2"), BEN[0]) as scene:
        ref = scene.read_s2(Window(0, 0, 120, 120))
        grid = scene.grid
    order = list(V2.s2_bands)[::-1]  # stored in another order than the recipe's
    prof = dict(driver="GTiff", width=120, height=120, count=12, dtype="uint16", crs=grid.crs,
                transform=grid.affine, nodata=0)
    with rasterio.open(folder / "s2.tif", "w", **prof) as ds:
        for i, b in enumerate(order):
            ds.write(ref[V2.s2_bands.index(b)], i + 1)
            ds.set_band_description(i + 1, b.replace("B0", "B"))  # "B1", "B8A", "B11": as GDAL stacks often say
    side = json.loads((ben / BEN[0] / "scene.json").read_text())
    for p, f in side["s1"]["files"].items():
        shutil.copyfile(ben / BEN[0] / f, folder / f)
    side["s2"] = {**side["s2"], "file": "s2.tif"}
    del side["s2"]["files"]
    (folder / "scene.json").write_text(json.dumps(side))
    with _open(LocalSource(folder.parent, recipe="v2"), "scene") as scene:
        np.testing.assert_array_equal(scene.read_s2(Window(0, 0, 120, 120)), ref)
        assert scene.read_scl(Window(0, 0, 4, 4)) is None


def test_baseline_offset_removed_and_nonpositive_reflectance_kept_valid(ben: Path, tmp_path: Path) -> None:
    """An L2A file from processing baseline >= 04.00 carries +1000 (BOA_ADD_OFFSET): the sidecar's
    offset removes it; DN 0 stays no-data, a valid DN <= 1000 becomes 1, never 0."""
    folder = tmp_path / "s"
    shutil.copytree(ben / BEN[0], folder / BEN[0])
    side = json.loads((folder / BEN[0] / "scene.json").read_text())
    side["s2"]["offset"] = -1000
    b02 = folder / BEN[0] / side["s2"]["files"]["B02"]
    with rasterio.open(b02) as ds:
        prof, dn = ds.profile, ds.read(1)
    shifted = dn.astype(np.int64) + 1000
    shifted[0, 0] = 0  # no-data
    shifted[0, 1] = 900  # reflectance -0.01
    b02.unlink()
    with rasterio.open(b02, "w", **prof) as ds:
        ds.write(shifted.astype(np.uint16), 1)
    (folder / BEN[0] / "scene.json").write_text(json.dumps(side))
    with _open(LocalSource(folder, recipe="v2"), BEN[0]) as scene:
        s2 = scene.read_s2(Window(0, 0, 120, 120))
    band = s2[V2.s2_bands.index("B02")]
    assert (s2[:, 0, 0] == 0).all() and band[0, 1] == 1
    np.testing.assert_array_equal(band.ravel()[2:], dn.ravel()[2:])


# --------------------------------------------------------------------------- end to end: build --recipe v2


@pytest.fixture(scope="module")
def released(ben: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``sen12stac build --recipe v2`` over the six BigEarthNet scenes (120 px clips: 64 px patches at stride 32)."""
    import subprocess
    import sys

    work = tmp_path_factory.mktemp("local-v2-build")
    (work / "cfg.json").write_text(json.dumps({"patch_size": 64, "stride": 32}))
    r = subprocess.run([sys.executable, "-m", "sen12stac.cli", "build", "--recipe", "v2", "--source", "local", "--source-path", str(ben),
                        "--out", str(work / "out"), "--workers", "0", "--config", str(work / "cfg.json")],
                       cwd=work, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    v = subprocess.run([sys.executable, "-m", "sen12stac.cli", "validate", str(work / "out" / "catalog.json")],
                       cwd=work, capture_output=True, text=True, timeout=300)
    assert v.returncode == 0, v.stdout + v.stderr
    return work / "out"


def _source_scene(cog: Path) -> str:
    """The BigEarthNet scene whose S2 10 m file covers this COG (same CRS)."""
    with rasterio.open(cog) as ds:
        crs, b = ds.crs, ds.bounds
    for name in BEN:
        with rasterio.open(_src_file(name, "B02")) as src:
            s = src.bounds
            if src.crs == crs and s.left <= b.left and s.right >= b.right and s.bottom <= b.bottom and s.top >= b.top:
                return name
    raise AssertionError(f"no source clip covers {cog}")


def test_v2_build_publishes_the_source_values_exactly(released: Path, ben: Path) -> None:
    """Every published pair against the real source files: geolocation exact (whole-pixel offsets
    into the source grid, the item's proj:transform the COG's), S1 VV/VH and the 10 m bands
    identical, the 20/60 m bands the source's bilinear read of the same window, byte for byte."""
    items = sorted(released.glob("ROIs*/*/ROIs*_p*.json"))
    assert len(items) >= 20
    src = LocalSource(ben, recipe="v2")
    scenes: dict[str, LocalScene] = {}
    checked = 0
    try:
        for path in items:
            item = json.loads(path.read_text())
            assert item["properties"]["sen12:recipe"] == "v2"
            s2_cog = path.parent / item["assets"]["s2"]["href"]
            s1_cog = path.parent / item["assets"]["s1"]["href"]
            lab_cog = path.parent / item["assets"]["label"]["href"]
            name = _source_scene(s2_cog)
            scene = scenes.get(name) or scenes.setdefault(name, _open(src, name))
            with rasterio.open(s2_cog) as ds, rasterio.open(_src_file(name, "B02")) as ref:
                assert tuple(item["properties"]["proj:transform"]) == tuple(ds.transform)[:6]
                col = (ds.transform.c - ref.transform.c) / 10.0
                row = (ref.transform.f - ds.transform.f) / 10.0
                assert col == int(col) and row == int(row) and ds.transform.a == 10.0 and ds.crs == ref.crs
                win = Window(int(col), int(row), ds.width, ds.height)
                published = ds.read()
            assert published.shape == (12, 64, 64)
            for i, band in enumerate(V2.s2_bands):
                if band in TEN_M:
                    with rasterio.open(_src_file(name, band)) as f:
                        np.testing.assert_array_equal(published[i], f.read(1, window=win), err_msg=f"{path.name} {band}")
            np.testing.assert_array_equal(published, scene.read_s2(win))  # 20/60 m: the source's bilinear values
            with rasterio.open(s1_cog) as ds:
                s1 = ds.read()
            for i, pol in enumerate(V2.s1_bands):
                with rasterio.open(_src_file(name, pol)) as f:
                    np.testing.assert_array_equal(s1[i], f.read(1, window=win))
            with rasterio.open(lab_cog) as ds:
                assert not ds.read().any(), "BigEarthNet has no pixel labels: the published label is all no-data"
            props = item["properties"]
            assert not [k for k in props if k.startswith("sen12:lc_")], "no pixel labels: land cover unknown, no fractions of 0"
            s2_json = next(_src_file(name, "B02").parent.glob("*_labels_metadata.json"))
            assert props["sen12:source_labels"] == json.loads(s2_json.read_text())["labels"]  # BigEarthNet's CORINE labels, as given
            checked += 1
    finally:
        for s in scenes.values():
            s.close()
    assert checked == len(items)
