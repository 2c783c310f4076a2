"""The ``stac`` source end to end, offline: a real STAC API (pgstac + stac-fastapi-pgstac on
127.0.0.1) holding items of the providers' shapes (tests/data/opendata), whose assets are real
Sentinel-1/-2 clips (../shared/real-samples) published the providers' way on the local S3
server: Planetary Computer's RTC as a float32 linear-power COG behind an http(s) URL, Earth
Search's L1C as per-band JPEG 2000 in a requester-pays bucket behind s3:// hrefs. Requests are
counted at both servers and compared with the build summary's."""
from __future__ import annotations

import copy
import http.server
import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.io import MemoryFile
from rasterio.transform import Affine
from rasterio.warp import transform_bounds

from conftest import REPO, real_samples
from tests.s3server import TEST_ACCESS_KEY, TEST_SECRET_KEY, MotoServer, free_port
from tests.stacapi_server import LocalStacApi

FIXTURES = REPO / "tests" / "data" / "opendata"
FALL = "sen12ms-cr/{}/ROIs1970_fall_139_p839.tif"
WINTER = "sen12ms-cr/{}/ROIs2017_winter_112_p797.tif"
S1_BUCKET, S2_BUCKET, L2A_BUCKET = "sentinel1-grd-rtc", "sentinel-s2-l1c", "sentinel2-l2"


def _fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def _snapped(path: Path) -> tuple[dict, Affine]:
    """The clip's profile on the 10 m lattice the providers' tiles use (origin moved < 10 cm)."""
    with rasterio.open(path) as ds:
        t = ds.transform
        snapped = Affine(t.a, 0, round(t.c / 10) * 10, 0, t.e, round(t.f / 10) * 10)
        return {"crs": ds.crs, "width": ds.width, "height": ds.height}, snapped


def _encode(arr: np.ndarray, profile: dict, transform: Affine, driver: str, **opts) -> bytes:
    """One band as ``driver`` (JPEG 2000 and COG are written by copying a GeoTIFF, as GDAL does)."""
    import rasterio.shutil

    with MemoryFile() as mem:
        with mem.open(driver="GTiff", width=profile["width"], height=profile["height"], count=1, dtype=arr.dtype,
                      crs=profile["crs"], transform=transform, nodata=opts.pop("nodata", None)) as ds:
            ds.write(arr, 1)
        if driver == "GTiff":
            return mem.read()
        with MemoryFile(ext=".jp2" if driver.startswith("JP2") else ".tif") as out:
            rasterio.shutil.copy(mem.name, out.name, driver=driver, **opts)
            return out.read()


def _rtc_cog(path: Path) -> bytes:
    """Planetary Computer's RTC asset: gamma0 as linear power, float32 COG, nodata -32768."""
    profile, t = _snapped(path)
    with rasterio.open(path) as ds:
        db = ds.read(1).astype(np.float64)
    linear = np.where(np.isfinite(db), 10 ** (db / 10), -32768).astype(np.float32)
    return _encode(linear, profile, t, "COG", nodata=-32768, compress="DEFLATE", blocksize=256)


def _l1c_jp2(path: Path, band: int) -> bytes:
    """Earth Search's L1C asset: the original JPEG 2000 of one band (uint16 DN, lossless)."""
    profile, t = _snapped(path)
    with rasterio.open(path) as ds:
        dn = ds.read(band)
    return _encode(dn, profile, t, "JP2OpenJPEG", QUALITY=100, REVERSIBLE="YES", RESOLUTIONS=1)


def _place(item: dict, *, item_id: str, when: str, path: Path, props: dict, hrefs: dict[str, str], self_api: str, collection: str) -> dict:
    """A fixture item moved onto one real clip: id, time, footprint, proj fields, hrefs."""
    out = copy.deepcopy(item)
    profile, t = _snapped(path)
    b = (t.c, t.f + t.e * profile["height"], t.c + t.a * profile["width"], t.f)
    lon0, lat0, lon1, lat1 = transform_bounds(profile["crs"], "EPSG:4326", *b, densify_pts=21)
    out["id"] = item_id
    out["collection"] = collection
    out["bbox"] = [lon0, lat0, lon1, lat1]
    out["geometry"] = {"type": "Polygon", "coordinates": [[[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]]}
    p = out["properties"]
    p["datetime"] = when
    for k in ("start_datetime", "end_datetime"):
        p.pop(k, None)
    p.update(props)
    epsg = profile["crs"].to_epsg()
    if "proj:epsg" in p:
        p["proj:epsg"] = epsg
    for k in ("proj:bbox", "proj:shape", "proj:transform", "proj:centroid"):
        p.pop(k, None)
    for key in list(out["assets"]):
        if key in hrefs:
            out["assets"][key]["href"] = hrefs[key]
            for k in ("proj:bbox", "proj:shape", "proj:transform"):
                out["assets"][key].pop(k, None)
        else:
            del out["assets"][key]
    out["links"] = [l for l in out["links"] if l["rel"] not in ("self", "parent", "root", "collection")]
    return out


def _collection(cid: str) -> dict:
    return {"type": "Collection", "stac_version": "1.0.0", "id": cid, "description": cid, "license": "proprietary", "links": [],
            "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [["2014-10-01T00:00:00Z", None]]}}}


def _centre(path: Path) -> tuple[float, float]:
    profile, t = _snapped(path)
    cx, cy = t.c + t.a * profile["width"] / 2, t.f + t.e * profile["height"] / 2
    lon0, lat0, lon1, lat1 = transform_bounds(profile["crs"], "EPSG:4326", cx, cy, cx, cy)
    return round(lon0, 7), round(lat0, 7)


class World:
    """The servers and what they hold."""

    def __init__(self, moto: MotoServer, api: LocalStacApi, work: Path) -> None:
        self.moto, self.api, self.work = moto, api, work


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    work = tmp_path_factory.mktemp("opendata")
    samples = real_samples()
    moto = MotoServer().start()
    api = LocalStacApi()
    try:
        s3 = moto.client()
        for b in (S1_BUCKET, S2_BUCKET, L2A_BUCKET):
            s3.create_bucket(Bucket=b)
        api.start()
        rtc, l1c = _fixture("pc-sentinel-1-rtc.json"), _fixture("es-sentinel-2-l1c.json")
        items = []

        def s1_item(name: str, when: str, clip: Path, orbit: int, state: str, *, key: str | None = None, **extra):
            prefix = f"GRD/{when[:4]}/{int(when[5:7])}/{int(when[8:10])}/IW/DV/{name}_ABCD"
            key = key or f"{prefix}/measurement/iw-vv.rtc.tiff"
            if key.endswith("iw-vv.rtc.tiff"):
                s3.put_object(Bucket=S1_BUCKET, Key=key, Body=_rtc_cog(clip), ACL="public-read")  # anonymous HTTPS GET, as on Azure with a SAS
            hrefs = {"vv": f"{moto.endpoint_url}/{S1_BUCKET}/{key}"}
            props = {"platform": f"SENTINEL-{name[1:3]}", "sat:orbit_state": state, "sat:relative_orbit": orbit, **extra.pop("props", {})}
            it = _place(rtc, item_id=f"{name}_rtc", when=when, path=clip, props=props, hrefs=hrefs, self_api=api.url, collection="sentinel-1-rtc")
            for k in extra.pop("drop_assets", ()):
                it["assets"].pop(k, None)
            items.append(it)

        def s2_item(product: str, when: str, clip: Path, cloud: float, tile: str):
            zone, band, square = tile[:2], tile[2], tile[3:]
            base = f"tiles/{int(zone)}/{band}/{square}/{when[:4]}/{int(when[5:7])}/{int(when[8:10])}/0"
            hrefs = {}
            for key, b, n in (("red", 4, "B04"), ("green", 3, "B03"), ("blue", 2, "B02")):
                s3.put_object(Bucket=S2_BUCKET, Key=f"{base}/{n}.jp2", Body=_l1c_jp2(clip, b), RequestPayer="requester")
                hrefs[key] = f"s3://{S2_BUCKET}/{base}/{n}.jp2"
            props = {"platform": f"sentinel-{product[1:3].lower()}", "eo:cloud_cover": cloud, "sat:orbit_state": "descending",
                     "sat:relative_orbit": int(product.split("_R")[1][:3]), "s2:product_uri": f"{product}.SAFE",
                     "s2:processing_baseline": f"{product.split('_N')[1][:2]}.{product.split('_N')[1][2:4]}",
                     "grid:code": f"MGRS-{tile}"}
            items.append(_place(l1c, item_id=f"{product[:3]}_{tile}_{when[:10].replace('-', '')}_0_L1C", when=when, path=clip, props=props, hrefs=hrefs,
                                self_api=api.url, collection="sentinel-2-l1c"))

        fall_s1, fall_s2, fall_cloudy = (samples / FALL.format(d) for d in ("s1", "s2_cloudfree", "s2_cloudy"))
        # fall (E China): one S1 RTC, one clear S2 L1C; a cloudy S2 and an EW S1 the filters must leave out
        s1_item("S1B_IW_GRDH_1SDV_20171014T100017_20171014T100042_007835_00DD7A", "2017-10-14T10:00:29Z", fall_s1, 69, "ascending")
        s1_item("S1B_EW_GRDM_1SDV_20171020T100017_20171020T100042_007922_00DFFF", "2017-10-20T10:00:29Z", fall_s1, 69, "ascending",
                props={"sar:instrument_mode": "EW"})
        s2_item("S2A_MSIL1C_20171015T024621_N0205_R089_T50SQA_20171015T024619", "2017-10-15T02:46:21Z", fall_s2, 0.4, "50SQA")
        s2_item("S2B_MSIL1C_20171030T024839_N0205_R089_T50SQA_20171030T024838", "2017-10-30T02:48:39Z", fall_cloudy, 35.2, "50SQA")
        # winter (NL/BE): S2 only, so the ROI is dropped as unavailable
        s2_item("S2B_MSIL1C_20170115T105329_N0204_R051_T31UFS_20170115T105330", "2017-01-15T10:53:29Z", samples / WINTER.format("s2_cloudfree"), 0.1, "31UFS")
        # summer (at the fall place): the only S1 item lacks its vv asset; its S2 is there
        s1_item("S1B_IW_GRDH_1SDV_20170710T100013_20170710T100038_006385_00B38C", "2017-07-10T10:00:25Z", fall_s1, 69, "ascending", drop_assets=("vv",))
        s2_item("S2A_MSIL1C_20170712T024551_N0205_R089_T50SQA_20170712T024550", "2017-07-12T02:45:51Z", fall_s2, 0.2, "50SQA")
        # spring (at the fall place): the S1 item's vv href points at nothing (HTTP 404)
        s1_item("S1B_IW_GRDH_1SDV_20170417T100010_20170417T100035_005185_0091A2", "2017-04-17T10:00:22Z", fall_s1, 69, "ascending",
                key="GRD/2017/4/17/IW/DV/missing/measurement/iw-vh.rtc.tiff")
        s2_item("S2A_MSIL1C_20170418T024541_N0204_R089_T50SQA_20170418T024539", "2017-04-18T02:45:41Z", fall_s2, 0.3, "50SQA")
        # Planetary Computer's L2A: the BigEarthNet Austria clip (real L2A, per-band 10 m files), and its S1
        ben = samples / "bigearthnet"
        at_s1 = ben / "BigEarthNet-S1-Example" / "S1A_IW_GRDH_1SDV_20170613T165043_33UUP_87_48" / "S1A_IW_GRDH_1SDV_20170613T165043_33UUP_87_48_VV.tif"
        at_s2 = {b: ben / "BigEarthNet-S2-Example" / "S2A_MSIL2A_20170613T101031_87_48" / f"S2A_MSIL2A_20170613T101031_87_48_{b}.tif" for b in ("B04", "B03", "B02")}
        s1_item("S1A_IW_GRDH_1SDV_20170613T165043_20170613T165108_017018_01C579", "2017-06-13T16:50:55Z", at_s1, 146, "ascending")
        l2a = _fixture("pc-sentinel-2-l2a.json")
        product = "S2A_MSIL2A_20170613T101031_N0205_R022_T33UUP_20170613T101608"
        base = f"33/U/UP/2017/06/13/{product}.SAFE/GRANULE/L2A_T33UUP_A010355_20170613T101608/IMG_DATA/R10m"
        hrefs = {}
        for band, path in at_s2.items():
            key = f"{base}/T33UUP_20170613T101031_{band}_10m.tif"
            with rasterio.open(path) as ds:
                s3.put_object(Bucket=L2A_BUCKET, Key=key, ACL="public-read",
                              Body=_encode(ds.read(1), {"crs": ds.crs, "width": ds.width, "height": ds.height}, ds.transform, "COG", compress="DEFLATE", blocksize=256))
            hrefs[band] = f"{moto.endpoint_url}/{L2A_BUCKET}/{key}"
        items.append(_place(l2a, item_id=f"S2A_MSIL2A_20170613T101031_R022_T33UUP_20210101T000000", when="2017-06-13T10:10:31.026000Z", path=at_s2["B04"],
                            props={"platform": "Sentinel-2A", "eo:cloud_cover": 0.0, "s2:processing_baseline": "02.05", "sat:relative_orbit": 22,
                                   "s2:mgrs_tile": "33UUP", "proj:code": "EPSG:32633"}, hrefs=hrefs, self_api=api.url, collection="sentinel-2-l2a"))
        api.load([_collection("sentinel-1-rtc"), _collection("sentinel-2-l1c"), _collection("sentinel-2-l2a")], items)
        api.serve()
        lon, lat = _centre(fall_s1)
        wlon, wlat = _centre(samples / WINTER.format("s1"))
        feats = [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": {"set_name": s, "index": 139, "kind": "land", "kept": True}}
            for s in ("ROIs1970_fall", "ROIs1868_summer", "ROIs1158_spring")
        ] + [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [wlon, wlat]}, "properties": {"set_name": "ROIs2017_winter", "index": 112, "kind": "urban", "kept": True}}]
        (work / "rois.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
        alon, alat = _centre(at_s1)
        (work / "rois-austria.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [alon, alat]}, "properties": {"set_name": "ROIs1868_summer", "index": 87, "kind": "land"}}]}))
        # a 120 px clip in a 256 px scene: 64 px patches, and the scene's no-data margin accepted
        (work / "pc.json").write_text(json.dumps({"patch_size": 64, "stride": 32, "scene_qc": {"max_nodata_fraction": 0.9}}))
        (work / "stac.json").write_text(json.dumps({"stac": {"s2": {"s3_endpoint_url": moto.endpoint_url}}}))
        yield World(moto, api, work)
    finally:
        api.close()
        moto.close()


def _env() -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PC_SDK_"))}
    env.update(AWS_ACCESS_KEY_ID=TEST_ACCESS_KEY, AWS_SECRET_ACCESS_KEY=TEST_SECRET_KEY, AWS_DEFAULT_REGION="us-east-1", COLUMNS="4000")
    return env


def _cli(world: World, *args: str, seasons: str, out: Path, workers: str = "0") -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "sen12stac.cli", "build", "--source", "stac", "--stac-preset", "earth-search",
           "--s1-api", world.api.url, "--s2-api", world.api.url, "--config", str(world.work / "stac.json"),
           "--stac-rois", str(world.work / "rois.geojson"), "--seasons", seasons, "--scene-size", "256", "--workers", workers,
           "--out", str(out), *args]
    return subprocess.run(cmd, cwd=world.work, capture_output=True, text=True, timeout=600, env=_env())


def _asset_requests(log: str) -> dict[str, int]:
    """GET/HEAD requests the S3 server answered for the asset buckets (its access log)."""
    out = {"GET": 0, "HEAD": 0}
    log = re.sub(r"\x1b\[[0-9;]*m", "", log)  # werkzeug colours 206 lines
    for m in re.finditer(r'"(GET|HEAD) /(sentinel1-grd-rtc|sentinel-s2-l1c)/', log):
        out[m.group(1)] += 1
    return out


@pytest.fixture(scope="module")
def built(world):
    before = _asset_requests(world.moto.log_text())
    out = world.work / "release"
    r = _cli(world, seasons="fall,winter,summer", out=out, workers="1")  # one Dask worker process: the source travels pickled
    assert r.returncode == 0, r.stdout + r.stderr
    after = _asset_requests(world.moto.log_text())
    return out, r, {k: after[k] - before[k] for k in after}


def test_builds_a_valid_release_from_the_apis(built, tmp_path):
    out, r, _ = built
    summary = json.loads((out / "build-summary.json").read_text())
    scenes = {s["scene_id"]: s for s in summary["scenes"]}
    assert scenes["ROIs1970_fall_139"]["status"] == "published" and scenes["ROIs1970_fall_139"]["patches"] == 1
    winter = scenes["ROIs2017_winter_112"]
    assert winter["status"] == "unavailable" and "no S1 item in collection sentinel-1-rtc" in winter["message"]
    summer = scenes["ROIs1868_summer_139"]
    assert summer["status"] == "unavailable" and "asset 'vv' missing" in summer["message"]
    providers = [p["name"] for p in json.loads((out / "ROIs1970_fall" / "collection.json").read_text())["providers"]]
    assert "Microsoft Planetary Computer" in providers and "Catalyst" in providers and "Google Earth Engine" not in providers
    v = subprocess.run([sys.executable, "-m", "sen12stac.cli", "validate", str(out / "catalog.json")], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert v.returncode == 0, v.stdout + v.stderr


def test_items_carry_the_source_acquisitions_and_link_them(built, world):
    out, _, _ = built
    item = json.loads(next(out.glob("ROIs1970_fall/*/ROIs1970_fall_139_p1.json")).read_text())
    s1, s2 = item["assets"]["s1"], item["assets"]["s2"]
    assert s1["datetime"] == "2017-10-14T10:00:29Z" and s1["platform"] == "sentinel-1b"
    assert s1["sat:orbit_state"] == "ascending" and s1["sat:relative_orbit"] == 69
    assert s2["datetime"] == "2017-10-15T02:46:21Z" and s2["platform"] == "sentinel-2a" and s2["sat:relative_orbit"] == 89
    assert item["properties"]["sen12:s2_product_cloud_cover"] == 0.4  # the clear scene; the 35 % one was filtered out
    assert item["properties"]["sen12:source"] == "stac"
    links = [l["href"] for l in item["links"] if l["rel"] == "derived_from"]
    assert f"{world.api.url}/collections/sentinel-1-rtc/items/S1B_IW_GRDH_1SDV_20171014T100017_20171014T100042_007835_00DD7A_rtc" in links
    assert f"{world.api.url}/collections/sentinel-2-l1c/items/S2A_50SQA_20171015_0_L1C" in links
    assert any("S2A_MSIL1C_20171015T024621_N0205_R089_T50SQA_20171015T024619.SAFE" in h for h in links)  # the ESA product
    assert not any("EW_GRDM" in h or "20171030" in h for h in links)


def test_published_values_map_back_to_the_real_clip(built):
    """RTC linear power -> dB in the source, JPEG 2000 DN as is: the published uint8 maps back
    to the real clip's dB and DN within half a quantisation step."""
    out, _, _ = built
    samples = real_samples()
    with rasterio.open(samples / FALL.format("s1")) as src:
        vv = src.read(1)
    with rasterio.open(samples / FALL.format("s2_cloudfree")) as src:
        rgb = src.read((4, 3, 2)).astype(np.float64)
    checks = [(next(out.glob("ROIs1970_fall/s1_139/*.tif")), vv[None]), (next(out.glob("ROIs1970_fall/s2_139/*.tif")), rgb)]
    for cog, ref in checks:
        with rasterio.open(cog) as ds:
            for b in range(ds.count):
                dn = ds.read(b + 1)
                scale, offset = ds.scales[b], ds.offsets[b]
                back = offset + scale * dn.astype(np.float64)
                lo, hi = offset + scale, offset + scale * 255
                inside = (dn > 0) & (ref[b] > lo) & (ref[b] < hi)
                assert inside.mean() > 0.8
                np.testing.assert_allclose(back[inside], ref[b][inside], atol=scale / 2 + 1e-3)


def test_requests_are_counted_and_match_the_servers(built):
    out, r, server = built
    summary = json.loads((out / "build-summary.json").read_text())
    fall = next(s for s in summary["scenes"] if s["scene_id"] == "ROIs1970_fall_139")
    req = fall["requests"]
    assert req["searches"] >= 2 and req["search_bytes"] > 0
    assert req["range_reads"] >= 4 and req["bytes_read"] > 0  # one S1 COG and three JPEG 2000 files
    total = summary["requests"]
    # what GDAL says it sent is what the S3 server answered, request for request
    assert total["range_reads"] == server["GET"] and total["head_requests"] == server["HEAD"]
    # the patch pass reads nothing remote again: per file the size and header, then its one tile
    assert server["GET"] + server["HEAD"] <= 3 * 4
    assert "network:" in r.stdout and "STAC API requests" in r.stdout


def test_an_unreadable_asset_fails_its_scene_and_publishes_nothing(world):
    out = world.work / "broken"
    r = _cli(world, seasons="spring", out=out)
    assert r.returncode == 3, r.stdout + r.stderr
    errors = [l for l in r.stderr.splitlines() if l.startswith("error:")]
    assert len(errors) == 1 and "ROIs1158_spring_139" in errors[0] and "asset 'vv'" in errors[0] and "HTTP 404" in errors[0]
    assert "Fix:" in errors[0]
    assert not list(out.glob("ROIs1158_spring/**/*.tif")) and not (out / "catalog.json").exists()


def test_an_api_outage_is_one_line_before_any_work(world, tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    cmd = [sys.executable, "-m", "sen12stac.cli", "build", "--source", "stac", "--stac-preset", "earth-search",
           "--s1-api", dead, "--s2-api", world.api.url, "--stac-rois", str(world.work / "rois.geojson"),
           "--seasons", "fall", "--workers", "0", "--out", str(tmp_path / "out")]
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300, env=_env())
    assert r.returncode == 3
    lines = [l for l in (r.stdout + r.stderr).splitlines() if l.strip()]
    assert len(lines) == 1 and f"STAC API {dead} failed" in lines[0] and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_wrong_collection_is_a_config_error(world, tmp_path):
    cmd = [sys.executable, "-m", "sen12stac.cli", "build", "--source", "stac", "--stac-preset", "earth-search",
           "--s1-api", world.api.url, "--s2-api", world.api.url, "--s2-collection", "sentinel-2-l1x",
           "--seasons", "fall", "--workers", "0", "--out", str(tmp_path / "out")]
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300, env=_env())
    assert r.returncode == 2 and "has no collection 'sentinel-2-l1x'" in r.stderr


def test_planetary_computer_preset_builds_l2a_from_cogs_over_http(world, tmp_path):
    """The other preset: S2 L2A per-band COGs and S1 RTC, both over http(s) with the PC signer."""
    out = tmp_path / "pc"
    cmd = [sys.executable, "-m", "sen12stac.cli", "build", "--source", "stac", "--stac-preset", "planetary-computer",
           "--s1-api", world.api.url, "--s2-api", world.api.url, "--config", str(world.work / "pc.json"),
           "--stac-rois", str(world.work / "rois-austria.geojson"), "--seasons", "summer", "--scene-size", "256",
           "--workers", "0", "--out", str(out)]
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=_env())
    assert r.returncode == 0, r.stdout + r.stderr
    summary = json.loads((out / "build-summary.json").read_text())
    (scene,) = summary["scenes"]
    assert scene["status"] == "published" and scene["patches"] == 1, scene  # the one 64 px patch inside the clip
    req = scene["requests"]
    assert 4 <= req["range_reads"] + req["head_requests"] <= 3 * 4  # four files over http: size, header, tile
    item = json.loads(next(out.glob("ROIs1868_summer/*/ROIs1868_summer_87_p*.json")).read_text())
    assert item["assets"]["s2"]["platform"] == "sentinel-2a" and item["assets"]["s1"]["sat:relative_orbit"] == 146
    links = [l["href"] for l in item["links"] if l["rel"] == "derived_from"]
    assert f"{world.api.url}/collections/sentinel-2-l2a/items/S2A_MSIL2A_20170613T101031_R022_T33UUP_20210101T000000" in links
    with rasterio.open(next(out.glob("ROIs1868_summer/s2_87/*.tif"))) as ds, rasterio.open(
            real_samples() / "bigearthnet/BigEarthNet-S2-Example/S2A_MSIL2A_20170613T101031_87_48/S2A_MSIL2A_20170613T101031_87_48_B04.tif") as src:
        dn = ds.read(1)
        ref = src.read(1, window=rasterio.windows.from_bounds(*ds.bounds, transform=src.transform)).astype(np.float64)
        back = ds.offsets[0] + ds.scales[0] * dn
        inside = (dn > 1) & (dn < 255)
        assert inside.mean() > 0.8
        np.testing.assert_allclose(back[inside], ref[inside], atol=ds.scales[0] / 2 + 1e-3)  # L2A DN as published (baseline 02.05: no offset)


# --------------------------------------------------------------------------- units on real rasters


def test_mosaic_is_last_on_top_with_seams(tmp_path):
    """Two real rasters as two items: the newer (VV, left half only) wins where it has data."""
    from rasterio.windows import Window

    from sen12stac.errors import RasterFormatError
    from sen12stac.models import Grid
    from sen12stac.sources.opendata.reading import MosaicItem, SensorMosaic, seams

    src = real_samples() / FALL.format("s1")
    profile, t = _snapped(src)
    with rasterio.open(src) as ds:
        vv, vh = ds.read(1), ds.read(2)
    left = vv.copy()
    left[:, 128:] = np.nan
    paths = []
    for name, arr in (("old_vh.tif", vh), ("new_vv_left.tif", left)):
        p = tmp_path / name
        p.write_bytes(_encode(arr.astype(np.float32), profile, t, "GTiff", nodata=np.nan))
        paths.append(str(p))
    grid = Grid(f"EPSG:{profile['crs'].to_epsg()}", (t.a, 0.0, t.c, 0.0, t.e, t.f), 256, 256)
    items = [MosaicItem("old", (paths[0],), ("vv",), None), MosaicItem("new", (paths[1],), ("vv",), None)]
    m = SensorMosaic("s1", items, grid, positive_only=False)
    try:
        vals, top = m.read(Window(0, 0, 256, 256))
    finally:
        m.close()
    np.testing.assert_allclose(vals[0][:, :128], vv[:, :128], atol=1e-4)
    np.testing.assert_allclose(vals[0][:, 128:], vh[:, 128:], atol=1e-4)
    assert (top[:, :128] == 1).all() and (top[:, 128:] == 0).all()
    s = seams(top)
    assert s[:, 127:129].all() and not s[:, :127].any() and not s[:, 129:].any()
    # where the newer item covers the window, the older one is never opened (an unreadable
    # older asset would raise): covered windows cost it no request
    gone = [MosaicItem("old-unreadable", (str(tmp_path / "missing.tif"),), ("vv",), None), items[1]]
    m = SensorMosaic("s1", gone, grid, positive_only=False)
    try:
        vals, top = m.read(Window(0, 0, 128, 256))
        assert (top == 1).all()
        with pytest.raises(RasterFormatError, match="old-unreadable"):
            m.read(Window(0, 0, 256, 256))
    finally:
        m.close()


def test_s2_offset_follows_the_processing_baseline():
    from sen12stac.sources.opendata.source import _s2_offset

    pc = _fixture("pc-sentinel-2-l2a.json")  # baseline 05.10: DN carry ESA's +1000
    es = _fixture("es-sentinel-2-l1c.json")  # baseline 02.09: no offset
    assert _s2_offset(pc) == -1000.0 and _s2_offset(es) == 0.0
    pc["properties"]["earthsearch:boa_offset_applied"] = True
    assert _s2_offset(pc) == 0.0


def test_the_recipe_filters_in_both_languages():
    from sen12stac.config import StacSourceConfig
    from sen12stac.sources.opendata.presets import resolve
    from sen12stac.sources.opendata.search import matches_recipe, recipe_filter

    es = resolve(StacSourceConfig(preset="earth-search"))
    pc = resolve(StacSourceConfig(preset="planetary-computer"))
    assert recipe_filter(es["s2"]) == {"query": {"eo:cloud_cover": {"lte": 1.0}}}
    assert recipe_filter(pc["s2"])["filter"] == {"op": "<=", "args": [{"property": "eo:cloud_cover"}, 1.0]}
    assert recipe_filter(pc["s1"])["filter"]["args"][1] == {"op": "a_contains", "args": [{"property": "sar:polarizations"}, ["VV"]]}
    rtc = _fixture("pc-sentinel-1-rtc.json")
    assert matches_recipe(pc["s1"], rtc) is None
    rtc["properties"]["sar:polarizations"] = ["HH", "HV"]
    assert "lack VV" in matches_recipe(pc["s1"], rtc)
    l2a = _fixture("pc-sentinel-2-l2a.json")  # 99.99 % cloudy
    assert "eo:cloud_cover" in matches_recipe(pc["s2"], l2a)


# --------------------------------------------------------------------------- signing


class _TokenHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        body = json.dumps({"msft:expiry": "2099-01-01T00:00:00Z", "token": "st=2026&se=2099&sp=rl&sig=SECRETSIG"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_planetary_computer_signer_gets_a_token_and_messages_hide_it(monkeypatch):
    import planetary_computer
    from planetary_computer.settings import Settings

    from sen12stac.sources.opendata.reading import redact
    from sen12stac.sources.opendata.signing import make_signer

    server = http.server.HTTPServer(("127.0.0.1", 0), _TokenHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("PC_SDK_SAS_URL", f"http://127.0.0.1:{server.server_port}/api/sas/v1/token")
        Settings.get.cache_clear()
        planetary_computer.sas.TOKEN_CACHE.clear()
        href = "https://sentinel1euwestrtc.blob.core.windows.net/sentinel1-grd-rtc/GRD/x/measurement/iw-vv.rtc.tiff"
        signed = make_signer("planetary-computer")(href)
        assert signed == href + "?st=2026&se=2099&sp=rl&sig=SECRETSIG"
        assert redact(signed) == href
    finally:
        server.shutdown()
        Settings.get.cache_clear()
        planetary_computer.sas.TOKEN_CACHE.clear()


def test_a_signer_failure_is_one_clear_error(monkeypatch):
    from planetary_computer.settings import Settings

    from sen12stac.errors import SourceError
    from sen12stac.sources.opendata import signing
    from sen12stac.sources.opendata.signing import make_signer

    monkeypatch.setattr(signing, "TOKEN_BACKOFF_S", 0.0)

    monkeypatch.setenv("PC_SDK_SAS_URL", f"http://127.0.0.1:{free_port()}/api/sas/v1/token")
    Settings.get.cache_clear()
    try:
        with pytest.raises(SourceError) as e:
            make_signer("planetary-computer")("https://sentinel2l2a01.blob.core.windows.net/sentinel2-l2/32/U/PC/B04.tif")
        msg = str(e.value)
        assert "Planetary Computer SAS token failed" in msg and "sentinel2l2a01.blob.core.windows.net" in msg and "\n" not in msg
    finally:
        Settings.get.cache_clear()


def test_requester_pays_without_aws_credentials_is_refused_up_front(monkeypatch, tmp_path):
    from sen12stac.config import StacSourceConfig
    from sen12stac.errors import ConfigError
    from sen12stac.sources.opendata import StacSource

    for k in [k for k in __import__("os").environ if k.startswith("AWS_")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(ConfigError, match="requester-pays"):
        StacSource(StacSourceConfig(preset="earth-search"), check=False)
    StacSource(StacSourceConfig(preset="planetary-computer"), check=False)  # no AWS account needed


def test_a_grd_in_radar_geometry_is_refused_by_name(tmp_path):
    """sentinel-1-grd assets carry ground control points, no map projection: a clear error."""
    from rasterio.control import GroundControlPoint
    from rasterio.windows import Window

    from sen12stac.errors import RasterFormatError
    from sen12stac.models import Grid
    from sen12stac.sources.opendata.reading import MosaicItem, SensorMosaic

    with rasterio.open(real_samples() / FALL.format("s1")) as ds:
        vv = ds.read(1)
    p = tmp_path / "iw-vv.tiff"
    gcps = [GroundControlPoint(0, 0, 119.17, 33.51), GroundControlPoint(0, 255, 119.20, 33.51), GroundControlPoint(255, 0, 119.17, 33.49)]
    with rasterio.open(p, "w", driver="GTiff", width=256, height=256, count=1, dtype="float32", gcps=gcps, crs="EPSG:4326") as ds:
        ds.write(vv, 1)
    grid = Grid("EPSG:32650", (10.0, 0.0, 701880.0, 0.0, -10.0, 3710140.0), 256, 256)
    m = SensorMosaic("s1", [MosaicItem("S1A_IW_GRDH_x", (str(p),), ("vv",), None)], grid, positive_only=True)
    with pytest.raises(RasterFormatError, match="not map-projected"):
        m.read(Window(0, 0, 256, 256))
    m.close()


def test_stac_options_without_the_stac_source_are_refused(tmp_path):
    r = subprocess.run([sys.executable, "-m", "sen12stac.cli", "build", "--stac-preset", "earth-search", "--out", str(tmp_path / "out")],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120, env=_env())
    assert r.returncode == 2 and "apply to --source stac only" in r.stderr and not (tmp_path / "out").exists()
