"""The Earth Engine source end to end, offline: real earthengine-api and ee.data request code
over HTTP against a fake REST server on 127.0.0.1 (tests/eefake.py) serving real Sentinel
rasters, the real pipeline."""
from __future__ import annotations

import functools
import json
import signal
import threading
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from eefake import DROP, SPAIN_LONLAT, FakeEarthEngine, constants, expand, find, function_names, initialize


@pytest.fixture
def make_fake(monkeypatch):
    """``make_fake(**options)``: a FakeEarthEngine on 127.0.0.1, this process's environment set
    for it (inherited by Dask workers); closed after the test."""
    servers = []

    def make(**kw):
        fake = FakeEarthEngine(**kw)
        servers.append(fake)
        for k, v in fake.offline_env().items():
            monkeypatch.setenv(k, v)
        return fake

    yield make
    for fake in servers:
        fake.close()


def _rois_file(path: Path, set_name: str = "ROIs1970_fall", points=(SPAIN_LONLAT,)) -> Path:
    feats = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": list(p)},
              "properties": {"set_name": set_name, "kind": "land", "kept": True, "index": i}} for i, p in enumerate(points)]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return path


def _config(tmp_path: Path, **ee_opts):
    from sen12stac.config import make_config

    ee = {"project": "fake", "rois": str(_rois_file(tmp_path / "rois.geojson")), "cache_dir": tmp_path / "cache",
          "max_request_bytes": 65536, "max_request_side": 128, **ee_opts}
    return make_config(source="earthengine", seasons=("fall",), workers=0, scene_size_px=384, earthengine=ee)


def _source(config, fake, **kw):
    from sen12stac.sources.earthengine import EarthEngineSource

    return EarthEngineSource(config.earthengine, scene_size_m=config.scene_size_px * config.pixel_size,
                             connect=functools.partial(initialize, fake.url), **kw)


def _requests(fake, suffix):
    return [b for m, p, b in fake.log if p.endswith(suffix)]


def test_an_earth_engine_scene_goes_through_qc_into_a_valid_release(tmp_path, make_fake):
    from sen12stac.pipeline import build
    from sen12stac.store import open_store
    from sen12stac.stac.validate import validate_catalog

    fake = make_fake()
    config = _config(tmp_path)
    store = open_store(str(tmp_path / "out"))
    summary = build(config, store, source=_source(config, fake))
    counts = summary.seasons["ROIs1970_fall"]
    assert (counts.rois_with_data, counts.scenes_accepted) == (1, 1), summary.scenes
    assert counts.patches_published >= 4
    assert validate_catalog(store, "catalog.json") == []
    # ... and published as an immutable release that verifies, by the commands a user runs
    from typer.testing import CliRunner

    from sen12stac.cli import app

    run = CliRunner()
    for args in (["validate", str(tmp_path / "out" / "catalog.json")],
                 ["publish", str(tmp_path / "out"), str(tmp_path / "releases"), "--version", "1.0.0"],
                 ["verify", str(tmp_path / "releases" / "v1.0.0")]):
        r = run.invoke(app, args)
        assert r.exit_code == 0, (args, r.output)

    # one metadata request, then chunked computePixels on the scene's grid, under the limits given
    (meta,) = _requests(fake, "value:compute")
    assert "COPERNICUS/S1_GRD" in constants(expand(meta["expression"]))
    pixels = _requests(fake, "image:computePixels")
    by_band = {}
    for body in pixels:
        d = body["grid"]["dimensions"]
        bytes_per_px = {"VV": 4, "B4": 6, "top": 4}[body["bandIds"][0]]
        assert d["width"] <= 128 and d["height"] <= 128 and d["width"] * d["height"] * bytes_per_px <= 65536
        assert body["grid"]["crsCode"] == "EPSG:32630"
        by_band.setdefault(body["bandIds"][0], []).append(d["width"] * d["height"])
    assert {k: sum(v) for k, v in by_band.items()} == {"VV": 384 * 384, "B4": 384 * 384, "top": 384 * 384}  # each pixel once
    assert len(pixels) == 33

    # the assembled scene equals one whole-grid rendering of the same real rasters
    scene_dir = next((tmp_path / "cache" / "scenes" / "ROIs1970_fall").iterdir())
    with rasterio.open(scene_dir / "s2.tif") as ds:
        whole = fake.render("s2", ds.crs.to_string(), ds.transform, ds.width, ds.height)
        assembled = ds.read()
    with rasterio.MemoryFile(whole) as mem, mem.open() as ref:
        np.testing.assert_array_equal(assembled, ref.read())
        assert (assembled > 0).mean() > 0.99  # the ROI lies inside the real clip

    # acquisition metadata of the mosaics in the items
    item = json.loads(next((tmp_path / "out").glob("ROIs1970_fall/**/ROIs1970_fall_0_p*.json")).read_text())
    p, assets = item["properties"], item["assets"]
    assert p["sen12:source"] == "earthengine" and p["datetime"] == "2017-10-03T10:50:21Z"  # the S2 granule on top
    assert p["sat:orbit_state"] == "descending" and p["sat:relative_orbit"] == 110
    assert p["sen12:s2_product_cloud_cover"] == 0.7
    assert assets["s1"]["platform"] == "sentinel-1b" and assets["s2"]["platform"] == "sentinel-2b"
    assert assets["s1"]["start_datetime"] == "2017-09-05T17:43:25Z" and assets["s1"]["end_datetime"] == "2017-09-17T06:10:31Z"
    derived = " ".join(link["href"] for link in item["links"] if link["rel"] == "derived_from")
    assert "S1A_IW_GRDH_1SDV_20170905T174325" in derived and "S2B_MSIL1C_20171003T105021" in derived


def test_a_roi_without_s1_is_dropped_not_failed(tmp_path, make_fake):
    from sen12stac.pipeline import build
    from sen12stac.store import open_store

    fake = make_fake(s1=[])
    config = _config(tmp_path)
    summary = build(config, open_store(str(tmp_path / "out")), source=_source(config, fake), write_catalog=False)
    (scene,) = summary.scenes
    assert scene["status"] == "unavailable" and "no S1 acquisition" in scene["message"]
    assert not _requests(fake, "image:computePixels")  # no pixels fetched for a dropped ROI


def test_a_killed_pixel_download_resumes_at_the_next_chunk(tmp_path, make_fake):
    from sen12stac.models import SceneRequest
    from sen12stac.pipeline import scene_request
    from sen12stac.seasons import SEASONS

    fake = make_fake()
    config = _config(tmp_path)
    source = _source(config, fake)
    (roi,) = source.rois("fall")
    request = scene_request(roi, SEASONS["fall"], source, config)
    calls = {"n": 0}
    real = fake._pixels

    client = threading.main_thread().ident

    def dying(body):
        calls["n"] += 1
        if calls["n"] == 12:  # Ctrl-C in the client while it waits for the 12th chunk; no answer comes
            signal.pthread_kill(client, signal.SIGINT)
            return DROP
        return real(body)

    fake._pixels = dying
    with pytest.raises(KeyboardInterrupt):
        source.open_scene(request)
    fake._pixels = real
    before = len(_requests(fake, "image:computePixels"))
    scene = _source(config, fake).open_scene(SceneRequest(roi, "fall", request.start, request.end, request.grid))
    after = len(_requests(fake, "image:computePixels"))
    assert before == 12 and after - before == 33 - 11  # only the chunks not yet on disk
    assert scene.read_s2(Window(0, 0, 384, 384)).shape == (3, 384, 384)
    assert len(_requests(fake, "value:compute")) == 1  # granule metadata kept in the cache too


def test_seamlines_come_from_the_granule_on_top(tmp_path, make_fake):
    from sen12stac.pipeline import scene_request
    from sen12stac.seasons import SEASONS

    fake = make_fake()
    config = _config(tmp_path)
    source = _source(config, fake)
    (roi,) = source.rois("fall")
    request = scene_request(roi, SEASONS["fall"], source, config)
    fake._seam_x = request.grid.transform[2] + 100 * 10.0 + 1.0  # granule boundary after column 100
    scene = source.open_scene(request)
    seam = scene.seam_mask(Window(0, 0, 384, 384))
    assert seam[:, 100].all() and seam[:, 101].all() and seam.sum() == 2 * 384
    assert scene.seam_mask(Window(200, 0, 184, 384)).sum() == 0  # a window away from it has none


def test_batch_export_polls_and_resumes_by_task_state(tmp_path, make_fake):
    drive = tmp_path / "drive"
    drive.mkdir()
    fake = make_fake(drive_dir=drive, polls_to_finish=3)
    config = _config(tmp_path, export="drive", drive_folder="sen12stac", drive_dir=drive, poll_seconds=60)
    from sen12stac.pipeline import scene_request
    from sen12stac.seasons import SEASONS

    sleeps = []

    def interrupted_sleep(seconds):
        sleeps.append(seconds)
        raise KeyboardInterrupt  # killed while the first task runs

    source = _source(config, fake, sleep=interrupted_sleep)
    (roi,) = source.rois("fall")
    request = scene_request(roi, SEASONS["fall"], source, config)
    with pytest.raises(KeyboardInterrupt):
        source.open_scene(request)
    assert len(_requests(fake, "image:export")) == 1 and sleeps == [60]
    from sen12stac.sources.earthengine.source import export_name

    ledger = json.loads((tmp_path / "cache" / "tasks" / f"{export_name(roi, 's1', request.grid)}.json").read_text())
    assert ledger["operation"] == "projects/fake/operations/OP0001" and ledger["state"] == "RUNNING"

    # a new run finds the task by its id, polls it to the end instead of starting another
    resumed = _source(config, fake, sleep=sleeps.append)
    scene = resumed.open_scene(request)
    exports = _requests(fake, "image:export")
    assert len(exports) == 3  # s1 once (resumed), s2 and s2_top once each
    ex = expand(exports[0]["expression"])
    assert [10.0, 0.0, request.grid.transform[2], 0.0, -10.0, request.grid.transform[5]] in constants(ex)
    assert [0, 0, 384, 384] in constants(ex) and "ImageCollection.mosaic" in function_names(ex)
    states = {json.loads(p.read_text())["state"] for p in (tmp_path / "cache" / "tasks").glob("*.json")}
    assert states == {"SUCCEEDED"}
    from typer.testing import CliRunner

    from sen12stac.cli import app

    listing = CliRunner().invoke(app, ["ee-tasks", "--cache-dir", str(tmp_path / "cache")])
    assert listing.exit_code == 0 and listing.output.count("SUCCEEDED") == 3 and "OP0001" in listing.output
    with rasterio.open(drive / f"{export_name(roi, 's2', request.grid)}.tif") as ref:
        np.testing.assert_array_equal(scene.read_s2(Window(0, 0, 384, 384)), np.where((ref.read() == 0).any(axis=0), 0, ref.read()))


def test_a_failed_export_is_started_again(tmp_path, make_fake):
    drive = tmp_path / "drive"
    drive.mkdir()
    fake = make_fake(drive_dir=drive, polls_to_finish=1, fail_first=True)
    config = _config(tmp_path, export="drive", drive_folder="sen12stac", drive_dir=drive)
    from sen12stac.errors import SourceError
    from sen12stac.pipeline import scene_request
    from sen12stac.seasons import SEASONS

    source = _source(config, fake, sleep=lambda s: None)
    (roi,) = source.rois("fall")
    request = scene_request(roi, SEASONS["fall"], source, config)
    with pytest.raises(SourceError, match="ended FAILED: Export failed: internal error.*Fix:"):
        source.open_scene(request)
    source.open_scene(request)  # the re-run starts a new task for the failed one
    names = [json.loads(p.read_text())["operation"] for p in sorted((tmp_path / "cache" / "tasks").glob("*.json"))]
    assert "projects/fake/operations/OP0002" in names and len(_requests(fake, "image:export")) == 4


def test_rois_from_earth_engine_random_points_then_the_overlap_rule(tmp_path, make_fake):
    # 384 px scenes overlap closer than 3.84 km x sqrt(2) = 5.4 km: two land points 2.9 km apart
    # (the second is dropped), a third 7.1 km away (kept), one urban point far away
    points = {"land": [[10.0, 50.0], [10.04, 50.0], [10.1, 50.0]], "urban": [[-3.7, 40.4]]}
    fake = make_fake(points=points)
    config = _config(tmp_path, rois="earthengine", land_asset="projects/p/assets/land", urban_asset="projects/p/assets/urban")
    rois = _source(config, fake).rois("spring")
    assert [(r.index, r.lon, r.kind) for r in rois] == [(0, 10.0, "land"), (1, 10.1, "land"), (2, -3.7, "urban")]
    (req,) = _requests(fake, "value:compute")
    rp = [v for v in find(expand(req["expression"]), "functionInvocationValue") if v.get("functionName") == "FeatureCollection.randomPoints"]
    assert sorted((r["arguments"]["seed"]["constantValue"], r["arguments"]["points"]["constantValue"]) for r in rp) == [(1158, 50), (1158, 100)]
    assert {"projects/p/assets/land", "projects/p/assets/urban"} <= {c for c in constants(expand(req["expression"])) if isinstance(c, str)}
    assert _source(config, fake).rois("spring") == rois and len(_requests(fake, "value:compute")) == 1  # cached per season


def test_a_refused_request_fails_the_scene_with_the_fix_and_keeps_the_build_resumable(tmp_path, make_fake):
    from sen12stac.pipeline import build
    from sen12stac.store import open_store

    fake = make_fake()
    fake._pixels = lambda body: (400, {"error": {"code": 400, "message": "User memory limit exceeded.", "status": "INVALID_ARGUMENT"}})
    config = _config(tmp_path)
    summary = build(config, open_store(str(tmp_path / "out")), source=_source(config, fake))
    (scene,) = summary.scenes
    assert scene["status"] == "failed" and summary.root_key is None
    assert "computePixels failed" in scene["message"] and "User memory limit exceeded" in scene["message"] and "Fix: run the same command again" in scene["message"]


def test_batch_export_to_cloud_storage_downloads_with_the_real_client(tmp_path, make_fake):
    """toCloudStorage, then google-cloud-storage lists and downloads the export from a bucket
    server on 127.0.0.1; a neighbouring export whose name starts the same is left alone."""
    from gcsfake import FakeGcs

    from sen12stac.pipeline import scene_request
    from sen12stac.seasons import SEASONS
    from sen12stac.sources.earthengine.source import export_name

    fake = make_fake(gcs_root=tmp_path / "gcs", polls_to_finish=2)
    config = _config(tmp_path, export="gcs", bucket="my-bucket", prefix="runs/a")
    with FakeGcs(tmp_path / "gcs") as gcs:
        source = _source(config, fake, sleep=lambda s: None, storage_client=gcs.client)
        (roi,) = source.rois("fall")
        request = scene_request(roi, SEASONS["fall"], source, config)
        decoy = tmp_path / "gcs" / "my-bucket" / "runs" / "a" / f"{export_name(roi, 's2', request.grid)}_old.tif"
        decoy.parent.mkdir(parents=True)
        decoy.write_bytes(b"not this one")
        scene = source.open_scene(request)
    (export,) = [b for b in _requests(fake, "image:export") if "B4" in json.dumps(b["expression"]) and "Image.rename" not in json.dumps(b["expression"])]
    assert export["fileExportOptions"]["cloudStorageDestination"] == {"bucket": "my-bucket", "filenamePrefix": f"runs/a/{export_name(roi, 's2', request.grid)}"}
    assert any(r.startswith("/download/storage/v1/b/my-bucket/o/") for r in gcs.requests)
    s2 = scene.read_s2(Window(0, 0, 384, 384))
    assert s2.shape == (3, 384, 384) and (s2 > 0).mean() > 0.99


def test_scenes_run_on_real_dask_workers(tmp_path, make_fake):
    """A LocalCluster worker process receives the pickled source, signs in on its own and fetches the scene."""
    from sen12stac.config import make_config
    from sen12stac.pipeline import build
    from sen12stac.store import open_store

    fake = make_fake()
    base = _config(tmp_path)
    config = make_config(**{**base.model_dump(), "workers": 1})
    summary = build(config, open_store(str(tmp_path / "out")), source=_source(config, fake), write_catalog=False)
    (scene,) = summary.scenes
    assert scene["status"] == "published" and scene["patches"] >= 4, scene
    # the worker process initialized earthengine-api on its own (a second algorithm list) and fetched the scene
    assert len(_requests(fake, "/algorithms")) == 2 and len(_requests(fake, "image:computePixels")) == 33
    assert len(list((tmp_path / "cache" / "scenes").rglob("*.tif"))) == 3
