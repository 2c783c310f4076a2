#!/usr/bin/env python
"""Requests one ``stac``-source scene costs: the tuned read path vs GDAL's defaults, same run.

    .venv/bin/python bench/bench_opendata.py               # a 2,048 px scene
    .venv/bin/python bench/bench_opendata.py --size 1024   # quick look

One moto server (tests/s3server.py) serves, over plain HTTP with range requests, one
Sentinel-1 RTC-style COG (float32 linear power, 512 px blocks, DEFLATE) and three Sentinel-2
band COGs (uint16, 512 px blocks), each ``--size`` px square and made by mirroring the real
SEN12MS-CR fall clip (../shared/real-samples) into a larger mosaic: real pixel statistics,
provider-like file layout. Two S2 items cover the scene (the newer one its western half), so
the mosaic has a seam. The scene then runs through ``pipeline.process_scene`` exactly as in a
build (statistics pass, then patch pass, COG encoding into a local folder), with the items handed
straight to :class:`StacScene` (no search), three ways:

* ``GDAL defaults``: no read options, no strip cache, oldest item first (every item read everywhere);
* ``read options``: ``REMOTE_READ_OPTIONS`` (no directory listing, header in the first GET,
  merged ranges), still no strip cache;
* ``sen12stac``: read options + strip cache + newest-first mosaicking (what builds use).

Requests and bytes are counted by the S3 server (its access log) and by GDAL (the build
summary's figures). With ``--size 1024`` the files fit GDAL's own in-process caches
(``VSI_CACHE``, the block cache), so the strip cache shows only as time (no second warp); from
2,048 px on they do not, and the patch pass would fetch the scene again without it. Writes
bench/results/opendata.md. Opt-in: not part of ``make test``.
"""
from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from tests.s3server import MotoServer  # noqa: E402


def _mirror(a: np.ndarray, size: int) -> np.ndarray:
    reps = -(-size // a.shape[-1])
    tiles = [[a if (i + j) % 2 == 0 else a[..., ::-1, :] for j in range(reps)] for i in range(reps)]
    big = np.concatenate([np.concatenate(row, axis=-1) for row in tiles], axis=-2)
    return big[..., :size, :size]


def _cog(arr: np.ndarray, crs, transform, nodata) -> bytes:
    import rasterio
    import rasterio.shutil
    from rasterio.io import MemoryFile

    with MemoryFile() as mem:
        with mem.open(driver="GTiff", width=arr.shape[1], height=arr.shape[0], count=1, dtype=arr.dtype, crs=crs, transform=transform, nodata=nodata) as ds:
            ds.write(arr, 1)
        with MemoryFile(ext=".tif") as out:
            rasterio.shutil.copy(mem.name, out.name, driver="COG", compress="DEFLATE", blocksize=512)
            return out.read()


def _requests(log: str) -> int:
    return len(re.findall(r'"(?:GET|HEAD) /bench/', re.sub(r"\x1b\[[0-9;]*m", "", log)))


def run(size: int) -> list[dict]:
    import rasterio
    from rasterio.transform import Affine

    from sen12stac.config import StacSourceConfig, make_config
    from sen12stac.models import ROI, Grid
    from sen12stac.pipeline import process_scene
    from sen12stac.sources.opendata import reading, source as stac_source
    from sen12stac.sources.opendata.presets import resolve
    from sen12stac.store import LocalStore

    samples = REPO.parent / "shared" / "real-samples" / "sen12ms-cr"
    with rasterio.open(samples / "s1" / "ROIs1970_fall_139_p839.tif") as ds:
        vv, crs, t = ds.read(1), ds.crs, ds.transform
    with rasterio.open(samples / "s2_cloudfree" / "ROIs1970_fall_139_p839.tif") as ds:
        rgb = ds.read((4, 3, 2))
    t = Affine(10, 0, round(t.c / 10) * 10, 0, -10, round(t.f / 10) * 10)
    linear = np.where(np.isfinite(vv), 10 ** (vv / 10), -32768).astype(np.float32)
    rows = []
    with MotoServer() as moto:
        s3 = moto.client()
        s3.create_bucket(Bucket="bench")
        files = {"s1/vv.tif": _cog(_mirror(linear, size), crs, t, -32768)}
        for name, band in zip(("B04", "B03", "B02"), _mirror(rgb, size)):
            files[f"s2/old/{name}.tif"] = _cog(band, crs, t, 0)
            half = band.copy()
            half[:, size // 2:] = 0
            files[f"s2/new/{name}.tif"] = _cog(half, crs, t, 0)
        for v in range(3):  # one copy per variant: GDAL's in-process cache must not serve a later variant
            for key, body in files.items():
                s3.put_object(Bucket="bench", Key=f"v{v}/{key}", Body=body, ACL="public-read")
        from rasterio.warp import transform_bounds

        lon0, lat0, lon1, lat1 = transform_bounds(crs, "EPSG:4326", t.c, t.f - 10 * size, t.c + 10 * size, t.f)
        bbox = [lon0, lat0, lon1, lat1]
        url = ""

        def items(v: int) -> dict:
            base = f"{moto.endpoint_url}/bench/v{v}"
            s1 = [{**s1_items[0], "assets": {"vv": {"href": f"{base}/s1/vv.tif"}}}]
            s2 = [{**it, "assets": {b: {"href": f"{base}/s2/{it['id'][3:]}/{b}.tif"} for b in ("B04", "B03", "B02")}} for it in s2_items]
            return {"s1": s1, "s2": s2}

        s1_items = [{"id": "s1", "bbox": bbox, "properties": {"datetime": "2017-10-14T10:00:29Z", "platform": "SENTINEL-1B"},
                     "assets": {"vv": {"href": f"{url}/s1/vv.tif"}}, "links": []}]
        s2_items = [{"id": f"s2-{k}", "bbox": bbox, "properties": {"datetime": d, "platform": "sentinel-2a", "eo:cloud_cover": 0.1},
                     "assets": {b: {"href": f"{url}/s2/{k}/{b}.tif"} for b in ("B04", "B03", "B02")}, "links": []}
                    for k, d in (("old", "2017-10-05T02:46:21Z"), ("new", "2017-10-15T02:46:21Z"))]
        settings = resolve(StacSourceConfig(preset="planetary-computer"))
        settings = {k: v.__class__(**{**v.__dict__, "signer": "none"}) for k, v in settings.items()}
        grid = Grid(f"EPSG:{crs.to_epsg()}", (10.0, 0.0, t.c, 0.0, -10.0, t.f), size, size)
        roi = ROI("ROIs1970_fall", 1, 0.0, 0.0, "land")

        class Fixed:  # the items without a search: only the read path is measured
            name = "stac"

            def rois(self, season):
                return None

            def grid_for(self, roi, default):
                return grid

            variant = 0

            def open_scene(self, request):
                return stac_source.StacScene(roi, grid, items(self.variant), settings)

        config = make_config(source="synthetic", seasons=("fall",), scene_size_px=size, workers=0,
                             scene_qc={"max_nodata_fraction": 1.0, "max_cloud_fraction": 1.0, "max_colour_cast": 10.0})
        tuned = dict(reading.REMOTE_READ_OPTIONS)
        defaults = {"GDAL_HTTP_MAX_RETRY": "4"}
        put_cache, read_mosaic = reading.StripCache.put, reading.SensorMosaic.read

        def oldest_first(self, window):  # the plain last-on-top loop: every item read in every window
            h, w = int(window.height), int(window.width)
            nb = len(self.items[0].hrefs)
            out = np.full((nb, h, w), np.nan, dtype=np.float32)
            top = np.full((h, w), -1, dtype=np.int16)
            for i in range(len(self.items)):
                vals = np.stack([self._vrt(i, b).read(1, window=window) for b in range(nb)])
                valid = np.isfinite(vals).all(axis=0) & ((vals > 0).all(axis=0) if self.positive_only else True)
                out[:, valid], top[valid] = vals[:, valid], i
            return out, top

        for v, (label, opts, cache, newest_first) in enumerate((("GDAL defaults", defaults, False, False), ("read options", tuned, False, False), ("sen12stac", tuned, True, True))):
            Fixed.variant = v
            reading.REMOTE_READ_OPTIONS.clear()
            reading.REMOTE_READ_OPTIONS.update(opts)
            reading.StripCache.put = put_cache if cache else (lambda *a, **k: None)
            reading.SensorMosaic.read = read_mosaic if newest_first else oldest_first
            before = _requests(moto.log_text())
            with tempfile.TemporaryDirectory() as out:
                t0 = time.perf_counter()
                res = process_scene(roi, "fall", Fixed(), LocalStore(out), config, {})
                secs = time.perf_counter() - t0
            time.sleep(0.5)
            assert res.status == "published", (res.status, res.message)
            rows.append({"variant": label, "server_requests": _requests(moto.log_text()) - before, **res.requests,
                         "patches": len(res.patches), "seconds": round(secs, 2)})
            print(rows[-1], flush=True)
        reading.REMOTE_READ_OPTIONS.clear()
        reading.REMOTE_READ_OPTIONS.update(tuned)
        reading.StripCache.put, reading.SensorMosaic.read = put_cache, read_mosaic
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=2048)
    args = ap.parse_args()
    rows = run(args.size)
    base = rows[0]
    lines = [
        "# Requests per scene, stac source (bench/bench_opendata.py)",
        "",
        f"One {args.size} px scene: one S1 COG and two S2 items of three band COGs (512 px blocks) on the local S3 server over HTTP;",
        f"both pipeline passes and COG encoding. {platform.machine()}, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}.",
        f"Command: `.venv/bin/python bench/bench_opendata.py --size {args.size}`",
        "",
        "| variant | requests (server) | GDAL GETs + HEADs | MB read | ratio of requests | ratio of bytes | patches | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        req = r["range_reads"] + r["head_requests"]
        lines.append(f"| {r['variant']} | {r['server_requests']} | {r['range_reads']} + {r['head_requests']} | {r['bytes_read'] / 1e6:.1f} | "
                     f"{r['server_requests'] / base['server_requests']:.2f}x | {r['bytes_read'] / base['bytes_read']:.2f}x | {r['patches']} | {r['seconds']} |")
        assert r["server_requests"] == req, (r, "GDAL's count differs from the server's")
    out = REPO / "bench" / "results" / "opendata.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
