"""The ``stac`` source under recipe v2, offline: a real STAC API (pgstac + stac-fastapi-pgstac on
127.0.0.1) whose items point at COGs on the local S3 server, made from the real BigEarthNet
Austria clip carried in tests/data/real (so nothing here is skipped):

- Planetary Computer ``sentinel-2-l2a``: the clip's 12 L2A bands as per-band COGs at their own
  10/20/60 m, written as processing baseline 04.00 writes them (DN + 1000, BOA_ADD_OFFSET), plus
  an ``SCL`` asset at 20 m;
- Earth Search ``sentinel-2-l2a`` (here in a collection ``es-sentinel-2-l2a`` beside it): the same
  bands under Earth Search's asset keys, offset already removed (``earthsearch:boa_offset_applied``);
- Planetary Computer ``sentinel-1-rtc``: the clip's VV and VH as gamma0 linear power COGs;
- Planetary Computer ``esa-worldcover``: a ``map`` asset at 20 m.

The SCL and the WorldCover map are test rasters (BigEarthNet has neither); the S1/S2 values are
real. The ES and WorldCover items are built from the providers' documented fields (the PC S2 and
S1 ones start from tests/data/opendata).
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import Affine
from rasterio.windows import Window

from sen12stac.config import StacSensorConfig, StacSourceConfig
from sen12stac.errors import ConfigError
from sen12stac.models import ROI, Grid, SceneRequest
from sen12stac.recipe.recipes import V2
from sen12stac.sources.opendata import StacSource

from conftest import real_samples
from tests.s3server import MotoServer
from tests.stacapi_server import LocalStacApi
from test_stac_source import _collection, _encode, _fixture, _place

BEN = real_samples() / "bigearthnet"
S1_DIR = BEN / "BigEarthNet-S1-Example" / "S1A_IW_GRDH_1SDV_20170613T165043_33UUP_87_48"
S2_DIR = BEN / "BigEarthNet-S2-Example" / "S2A_MSIL2A_20170613T101031_87_48"
ES_KEYS = dict(zip(V2.s2_bands, ("coastal", "blue", "green", "red", "rededge1", "rededge2", "rededge3", "nir", "nir08",
                                  "nir09", "swir16", "swir22")))
BUCKET = "v2-assets"


def _s1(pol: str) -> Path:
    return S1_DIR / f"{S1_DIR.name}_{pol}.tif"


def _s2(band: str) -> Path:
    return S2_DIR / f"{S2_DIR.name}_{band}.tif"


def _cog(arr: np.ndarray, like: Path, *, res: float | None = None, nodata=None) -> bytes:
    with rasterio.open(like) as ds:
        t = ds.transform
        crs = ds.crs
    if res is not None:
        t = Affine(res, 0, t.c, 0, -res, t.f)
    return _encode(arr, {"crs": crs, "width": arr.shape[1], "height": arr.shape[0]}, t, "COG", nodata=nodata,
                   compress="DEFLATE", blocksize=256)


class World:
    def __init__(self, moto: MotoServer, api: LocalStacApi, scl: np.ndarray, label: np.ndarray) -> None:
        self.moto, self.api, self.scl, self.label = moto, api, scl, label


@pytest.fixture(scope="module")
def world():
    moto = MotoServer().start()
    api = LocalStacApi()
    try:
        s3 = moto.client()
        s3.create_bucket(Bucket=BUCKET)

        def put(key: str, body: bytes) -> str:
            s3.put_object(Bucket=BUCKET, Key=key, Body=body, ACL="public-read")
            return f"{moto.endpoint_url}/{BUCKET}/{key}"

        api.start()
        items = []
        # S1 RTC: gamma0 as linear power (PC), nodata -32768
        rtc = _fixture("pc-sentinel-1-rtc.json")
        hrefs = {}
        for pol in ("vv", "vh"):
            with rasterio.open(_s1(pol.upper())) as ds:
                db = ds.read(1).astype(np.float64)
            lin = np.where(np.isfinite(db), 10 ** (db / 10), -32768).astype(np.float32)
            hrefs[pol] = put(f"rtc/{pol}.tif", _cog(lin, _s1("VV"), nodata=-32768))
        items.append(_place(rtc, item_id="S1A_IW_GRDH_1SDV_20170613T165043_rtc", when="2017-06-13T16:50:55Z", path=_s1("VV"),
                            props={"platform": "SENTINEL-1A", "sat:orbit_state": "ascending", "sat:relative_orbit": 146,
                                   "sar:polarizations": ["VV", "VH"]},
                            hrefs=hrefs, self_api=api.url, collection="sentinel-1-rtc"))
        # S2 L2A, Planetary Computer: baseline 04.00, every band DN + 1000, SCL at 20 m
        rng = np.random.default_rng(7)
        scl = rng.choice(np.array([3, 4, 5, 8, 9], dtype=np.uint8), size=(60, 60), p=[0.1, 0.5, 0.2, 0.1, 0.1])
        l2a = _fixture("pc-sentinel-2-l2a.json")
        for band in V2.s2_bands:
            if band not in l2a["assets"]:
                l2a["assets"][band] = copy.deepcopy(l2a["assets"]["B11"])
        pc_hrefs, es_hrefs = {}, {}
        for band in V2.s2_bands:
            with rasterio.open(_s2(band)) as ds:
                dn, res = ds.read(1), ds.transform.a
            pc_hrefs[band] = put(f"pc/{band}.tif", _cog((dn.astype(np.int64) + 1000).astype(np.uint16), _s2("B02"), res=res, nodata=0))
            es_hrefs[ES_KEYS[band]] = put(f"es/{ES_KEYS[band]}.tif", _cog(dn, _s2("B02"), res=res, nodata=0))
        pc_hrefs["SCL"] = put("pc/SCL.tif", _cog(scl, _s2("B02"), res=20.0, nodata=0))
        es_hrefs["scl"] = put("es/scl.tif", _cog(scl, _s2("B02"), res=20.0, nodata=0))
        items.append(_place(l2a, item_id="S2A_MSIL2A_20170613T101031_R022_T33UUP", when="2017-06-13T10:10:31Z", path=_s2("B02"),
                            props={"platform": "Sentinel-2A", "eo:cloud_cover": 0.5, "s2:processing_baseline": "04.00",
                                   "sat:relative_orbit": 22, "proj:code": "EPSG:32633"},
                            hrefs=pc_hrefs, self_api=api.url, collection="sentinel-2-l2a"))
        # a cloudier S2 item the <= 1 % rule must leave out (same pixels, would win if let in: newer)
        items.append(_place(l2a, item_id="S2A_MSIL2A_20170623T101031_R022_T33UUP", when="2017-06-23T10:10:31Z", path=_s2("B02"),
                            props={"platform": "Sentinel-2A", "eo:cloud_cover": 12.0, "s2:processing_baseline": "02.05",
                                   "sat:relative_orbit": 22}, hrefs=pc_hrefs, self_api=api.url, collection="sentinel-2-l2a"))
        # S2 L2A, Earth Search: its asset keys, offset already removed
        es = _fixture("es-sentinel-2-l1c.json")
        es["assets"] = {k: copy.deepcopy(es["assets"]["red"]) for k in es_hrefs}
        items.append(_place(es, item_id="S2A_33UUP_20170613_0_L2A", when="2017-06-13T10:10:31Z", path=_s2("B02"),
                            props={"platform": "sentinel-2a", "eo:cloud_cover": 0.5, "s2:processing_baseline": "04.00",
                                   "earthsearch:boa_offset_applied": True},
                            hrefs=es_hrefs, self_api=api.url, collection="es-sentinel-2-l2a"))
        # ESA WorldCover v200 (and a v100 tile the version filter must leave out)
        label = rng.choice(np.array([0, 10, 30, 40, 50, 80], dtype=np.uint8), size=(60, 60))
        wc = {"type": "Feature", "stac_version": "1.0.0", "id": "", "properties": {}, "geometry": None, "links": [],
              "assets": {"map": {"href": "", "type": "image/tiff; application=geotiff; profile=cloud-optimized", "roles": ["data"]}}}
        for version, arr in (("2.0.0", label), ("1.0.0", np.full((60, 60), 95, dtype=np.uint8))):
            href = put(f"wc/{version}.tif", _cog(arr, _s2("B02"), res=20.0, nodata=0))
            year = "2021" if version == "2.0.0" else "2020"
            it = _place(wc, item_id=f"ESA_WorldCover_10m_{year}_v{version.replace('.', '')[:3]}_N48E012", when=f"{year}-01-01T00:00:00Z",
                        path=_s2("B02"), props={"esa_worldcover:product_version": version}, hrefs={"map": href},
                        self_api=api.url, collection="esa-worldcover")
            items.append(it)
        api.load([_collection(c) for c in ("sentinel-1-rtc", "sentinel-2-l2a", "es-sentinel-2-l2a", "esa-worldcover")], items)
        api.serve()
        yield World(moto, api, scl, label)
    finally:
        api.close()
        moto.close()


def _grid() -> Grid:
    with rasterio.open(_s2("B02")) as ds:
        t = ds.transform
        return Grid(f"EPSG:{ds.crs.to_epsg()}", (t.a, 0.0, t.c, 0.0, t.e, t.f), ds.width, ds.height)


def _source(world: World, preset: str, **s2) -> StacSource:
    api = world.api.url
    cfg = StacSourceConfig(preset=preset, s1=StacSensorConfig(api_url=api), s2=StacSensorConfig(api_url=api, **s2),
                           label=StacSensorConfig(api_url=api))
    return StacSource(cfg, recipe="v2")


def _scene(src: StacSource, recipe: str = "v2"):
    roi = ROI("ROIs1868_summer", 87, 13.7209, 48.2223, "land")
    return src.open_scene(SceneRequest(roi, "summer", "2017-06-01", "2017-08-31", _grid(), recipe=recipe))


@pytest.mark.parametrize("preset,s2", [("planetary-computer", {}), ("earth-search", {"collection": "es-sentinel-2-l2a"})])
def test_v2_reads_every_band_of_the_real_clip(world: World, preset: str, s2: dict) -> None:
    scene = _scene(_source(world, preset, **s2))
    try:
        w = Window(0, 0, 120, 120)
        b, a, scl, lab = scene.read_s2(w), scene.read_s1(w), scene.read_scl(w), scene.read_label(w)
    finally:
        scene.close()
    assert b.shape == (12, 120, 120) and b.dtype == np.uint16
    assert a.shape == (2, 120, 120) and a.dtype == np.float32
    assert (b > 0).all()
    for i, band in enumerate(V2.s2_bands):
        with rasterio.open(_s2(band)) as ds:
            dn, res = ds.read(1).astype(np.int64), ds.transform.a
        if res == 10.0:  # the offset removed (PC, baseline 04.00) or not applied twice (ES): the source DN, exactly
            np.testing.assert_array_equal(b[i].astype(np.int64), dn, err_msg=band)
        else:  # resampled bilinear: the mean kept, no k x k blocks
            k = int(res // 10)
            out = b[i].astype(np.float64)
            assert abs(out.mean() / dn.mean() - 1) < 0.005, band
            blocks = out.reshape(120 // k, k, 120 // k, k)
            assert (blocks.max(axis=(1, 3)) == blocks.min(axis=(1, 3))).mean() < 0.5, band
    for i, pol in enumerate(V2.s1_bands):  # RTC linear power back to dB (gamma0)
        with rasterio.open(_s1(pol)) as ds:
            np.testing.assert_allclose(a[i], ds.read(1), atol=1e-4)
    assert scl is not None and scl.dtype == np.uint8 and scl.shape == (1, 120, 120)
    np.testing.assert_array_equal(scl[0], np.kron(world.scl, np.ones((2, 2), dtype=np.uint8)))  # nearest
    assert lab.dtype == np.uint8 and lab.shape == (1, 120, 120)
    np.testing.assert_array_equal(lab[0], np.kron(world.label, np.ones((2, 2), dtype=np.uint8)))  # v200, nearest


def test_v1_request_on_the_same_source_reads_three_bands(world: World) -> None:
    scene = _scene(_source(world, "planetary-computer"), recipe="v1")
    try:
        b, a = scene.read_s2(Window(0, 0, 120, 120)), scene.read_s1(Window(0, 0, 120, 120))
    finally:
        scene.close()
    assert b.shape == (3, 120, 120) and a.shape == (1, 120, 120)
    with rasterio.open(_s2("B04")) as ds:
        np.testing.assert_array_equal(b[0], ds.read(1))  # v1 removes the baseline offset too


def test_v2_refuses_an_l1c_collection(world: World) -> None:
    with pytest.raises(ConfigError, match="Level-1C; a v2 build publishes Level-2A"):
        _source(world, "earth-search", collection="sentinel-2-l1c")


def test_v2_checks_the_label_collection_before_any_scene(world: World) -> None:
    api = world.api.url
    cfg = StacSourceConfig(preset="planetary-computer", s1=StacSensorConfig(api_url=api), s2=StacSensorConfig(api_url=api),
                           label=StacSensorConfig(api_url=api, collection="esa-worldcover-missing"))
    with pytest.raises(ConfigError, match="has no collection 'esa-worldcover-missing'"):
        StacSource(cfg, recipe="v2")
    StacSource(cfg)  # a v1 build does not need it


def test_build_v2_from_the_apis_end_to_end(world: World, tmp_path: Path) -> None:
    """``sen12stac build --recipe v2 --source stac``: the clip's ROI in a 256 px scene (the clip's
    120 px hold the 64 px patches; the no-data margin accepted), validated, every published 10 m
    band the source file's DN (offset removed), S1 VV/VH the clip's dB, the label the map's codes."""
    import subprocess
    import sys

    from rasterio.windows import from_bounds

    lon, lat = 13.7209, 48.2223
    (tmp_path / "rois.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
         "properties": {"set_name": "ROIs1868_summer", "index": 87, "kind": "land"}}]}))
    api = world.api.url
    (tmp_path / "cfg.json").write_text(json.dumps({"patch_size": 64, "stride": 32, "scene_qc": {"max_nodata_fraction": 0.9},
                                                   "stac": {"label": {"api_url": api}}}))
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "sen12stac.cli", "build", "--recipe", "v2", "--source", "stac", "--stac-preset", "planetary-computer",
                        "--s1-api", api, "--s2-api", api, "--config", str(tmp_path / "cfg.json"), "--stac-rois", str(tmp_path / "rois.geojson"),
                        "--seasons", "summer", "--scene-size", "256", "--workers", "0", "--out", str(out)],
                       cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    v = subprocess.run([sys.executable, "-m", "sen12stac.cli", "validate", str(out / "catalog.json")], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert v.returncode == 0, v.stdout + v.stderr
    items = sorted(out.glob("ROIs1868_summer/*/ROIs1868_summer_87_p*.json"))
    assert items
    for path in items:
        item = json.loads(path.read_text())
        assert item["properties"]["sen12:recipe"] == "v2" and item["properties"]["sen12:source"] == "stac"
        with rasterio.open(path.parent / item["assets"]["s2"]["href"]) as ds:
            s2, bounds = ds.read(), ds.bounds
        for i, band in enumerate(V2.s2_bands):
            with rasterio.open(_s2(band)) as f:
                if f.transform.a == 10.0:
                    np.testing.assert_array_equal(s2[i], f.read(1, window=from_bounds(*bounds, transform=f.transform)), err_msg=band)
        with rasterio.open(path.parent / item["assets"]["s1"]["href"]) as ds:
            s1 = ds.read()
        for i, pol in enumerate(V2.s1_bands):
            with rasterio.open(_s1(pol)) as f:
                np.testing.assert_allclose(s1[i], f.read(1, window=from_bounds(*bounds, transform=f.transform)), atol=1e-4)
        with rasterio.open(path.parent / item["assets"]["label"]["href"]) as ds, rasterio.open(_s2("B02")) as f:
            win = from_bounds(*bounds, transform=f.transform)
            r0, c0 = int(round(win.row_off)), int(round(win.col_off))
            want = np.kron(world.label, np.ones((2, 2), dtype=np.uint8))[r0:r0 + 64, c0:c0 + 64]
            np.testing.assert_array_equal(ds.read(1), want)
        assert "sen12:scl_cloud_fraction" in item["properties"]
