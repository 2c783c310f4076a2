"""Mosaicking remote rasters onto a scene grid by windowed reads (GDAL over HTTP / S3).

Every item of a sensor is read through a ``WarpedVRT`` onto the ROI's 10 m UTM grid, only
for the window asked and only when the item's footprint meets that window, so GDAL fetches
just the blocks under the window with HTTP range requests. Items are laid last-on-top
(the newest valid pixel wins, as Earth Engine's ``mosaic()`` of a date-sorted collection),
read newest first so an older item is not read where newer ones already cover the window.
The index of the item on top is kept per pixel for the seamline mask.

Full-width strips are kept in a scene-local memory-mapped cache, so the pipeline's second
pass (patches) reads no remote byte again.
"""
from __future__ import annotations

import math
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from ...errors import ConfigError, RasterFormatError, SourceError
from ...models import Grid, Sensor

_READ_FIX = "the provider may be having trouble: run the same command again later (finished scenes are kept); if it persists, report the item to the provider"

#: GDAL settings for reading remote COGs with few requests (docs/sources.md explains each).
REMOTE_READ_OPTIONS = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",  # no directory listing per open
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",  # adjacent blocks in one range request
    "GDAL_HTTP_MULTIRANGE": "YES",  # several ranges of one read in parallel
    "GDAL_INGESTED_BYTES_AT_OPEN": "65536",  # the header (IFDs, tile offsets) of a Sentinel COG in the first GET
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.TIF,.TIFF,.jp2,.JP2",  # no probing for sidecar files
    "VSI_CACHE": "TRUE",
    "GDAL_HTTP_MAX_RETRY": "4",
    "GDAL_HTTP_RETRY_DELAY": "1",
    "GDAL_HTTP_CONNECTTIMEOUT": "10",
    "GDAL_HTTP_TIMEOUT": "60",
    # decode in the reading thread: JPEG 2000 (Earth Search L1C) otherwise reads its tiles in GDAL's
    # own threads, which see neither these thread-local options (a Dask worker thread's rasterio.Env)
    # nor the request counting (sen12stac/runtime/iostats.py); each build worker already has a core
    "GDAL_NUM_THREADS": "1",
}


def redact(href: str) -> str:
    """An href without its query string (a SAS token must never reach a message or a log)."""
    parts = urlsplit(href)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")) if parts.query else href


def gdal_path(href: str) -> str:
    """``s3://b/k`` -> ``/vsis3/b/k``; http(s) URLs as they are (GDAL reads them by /vsicurl/); local paths."""
    if href.startswith("s3://"):
        from ...store.s3.url import parse_s3_url

        try:
            obj = parse_s3_url(href)
        except ConfigError:
            raise SourceError(f"asset href {redact(href)!r} does not name a valid S3 bucket and key",
                              fix="use a STAC API whose s3:// assets name a valid bucket and key") from None
        return f"/vsis3/{obj.bucket}/{obj.key}"
    if href.startswith(("http://", "https://", "/vsi")):
        return href
    if href.startswith("file://"):
        return href[len("file://"):]
    if href.startswith("/"):
        return href  # a catalog of local files (a self-hosted API over a disk)
    raise SourceError(f"asset href {redact(href)!r} is neither s3://, http(s):// nor an absolute file path",
                      fix="use a STAC API whose assets are on the web, in S3, or on this machine by absolute path")


@dataclass(frozen=True)
class MosaicItem:
    """One source item as the mosaic needs it."""

    item_id: str
    hrefs: tuple[str, ...]  # signed, one per band (asset order)
    asset_keys: tuple[str, ...]
    bbox: tuple[float, float, float, float] | None  # WGS84
    offset: float = 0.0  # added to the file values (S2 processing baseline >= 04.00: -1000)


class SensorMosaic:
    """One sensor's items mosaicked on ``grid``; :meth:`read` returns float32 (bands, h, w) with
    NaN for no-data, and the top item's index (int16, -1 where nothing is valid).

    Recipe v2 gives ``resamplings`` per band (bilinear for reflectance, nearest for the SCL and
    labels) and ``value_bands``: the first bands, which alone decide validity (DN > 0 before the
    offset: a valid reflectance may be <= 0 once the baseline offset is removed) and get the offset;
    the bands after them (the SCL) ride along from the same item."""

    def __init__(self, sensor: Sensor, items: list[MosaicItem], grid: Grid, *, positive_only: bool,
                 resampling: Resampling = Resampling.bilinear, resamplings: tuple[Resampling, ...] | None = None,
                 value_bands: int | None = None) -> None:
        self.sensor, self.items, self.grid = sensor, items, grid
        self.positive_only = positive_only
        self.resampling = resampling
        self.resamplings = resamplings
        self.value_bands = value_bands
        self._open: dict[tuple[int, int], tuple[Any, WarpedVRT]] = {}
        self._footprints: list[tuple[float, float, float, float] | None] = [self._footprint(it) for it in items]

    def _footprint(self, item: MosaicItem) -> tuple[float, float, float, float] | None:
        if item.bbox is None:
            return None
        try:
            return transform_bounds("EPSG:4326", self.grid.crs, *item.bbox, densify_pts=21)
        except Exception:
            return None

    def _window_bounds(self, window: Window) -> tuple[float, float, float, float]:
        a = self.grid.affine
        x0, y0 = a @ (window.col_off, window.row_off)
        x1, y1 = a @ (window.col_off + window.width, window.row_off + window.height)
        return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)

    def _vrt(self, i: int, b: int) -> WarpedVRT:
        key = (i, b)
        if key not in self._open:
            item = self.items[i]
            href = item.hrefs[b]
            try:
                ds = rasterio.open(gdal_path(href))
            except (RasterioError, OSError) as exc:  # rasterio wraps GDAL read/open failures in RasterioIOError
                raise _unreadable(self.sensor, item, b, "cannot be opened", exc) from exc
            if ds.crs is None:
                ds.close()
                raise RasterFormatError(f"{self.sensor.upper()} item {item.item_id}: asset {item.asset_keys[b]!r} at {redact(href)} has no CRS "
                                        "(not map-projected: e.g. a GRD in radar geometry with ground control points only)",
                                        fix="use a collection of map-projected COGs (e.g. sentinel-1-rtc)")
            resampling = self.resamplings[b] if self.resamplings is not None else self.resampling
            vrt = WarpedVRT(ds, crs=self.grid.crs, transform=self.grid.affine, width=self.grid.width, height=self.grid.height,
                            resampling=resampling, src_nodata=ds.nodata, nodata=np.nan, dtype="float32", tolerance=0.001)
            self._open[key] = (ds, vrt)
        return self._open[key][1]

    def read(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        h, w = int(window.height), int(window.width)
        nb = len(self.items[0].hrefs) if self.items else 1
        out = np.full((nb, h, w), np.nan, dtype=np.float32)
        top = np.full((h, w), -1, dtype=np.int16)
        wb = self._window_bounds(window)
        filled = np.zeros((h, w), dtype=bool)
        # newest first, each item only where nothing newer is valid: the same last-on-top result,
        # and older items stop costing requests once the window is full
        for i in range(len(self.items) - 1, -1, -1):
            if filled.all():
                break
            item = self.items[i]
            fp = self._footprints[i]
            if fp is not None and (fp[0] >= wb[2] or fp[2] <= wb[0] or fp[1] >= wb[3] or fp[3] <= wb[1]):
                continue  # the item does not reach this window: no request at all
            vals = np.empty((nb, h, w), dtype=np.float32)
            for b in range(nb):
                try:
                    vals[b] = self._vrt(i, b).read(1, window=window)
                except (RasterioError, OSError) as exc:  # rasterio wraps GDAL read/open failures in RasterioIOError
                    if isinstance(exc, SourceError):
                        raise
                    raise _unreadable(self.sensor, item, b, "cannot be read", exc) from exc
            if self.value_bands is not None:  # recipe v2
                nv = self.value_bands
                valid = np.isfinite(vals[:nv]).all(axis=0) & ~filled
                if self.positive_only:
                    valid &= (vals[:nv] > 0).all(axis=0)
                if item.offset:
                    vals[:nv] += np.float32(item.offset)
                out[:, valid] = vals[:, valid]
                top[valid] = i
                filled |= valid
                continue
            if item.offset:
                vals += np.float32(item.offset)
            valid = np.isfinite(vals).all(axis=0) & ~filled
            if self.positive_only:
                valid &= (vals > 0).all(axis=0)
            out[:, valid] = vals[:, valid]
            top[valid] = i
            filled |= valid
        return out, top

    def close(self) -> None:
        for ds, vrt in self._open.values():
            vrt.close()
            ds.close()
        self._open = {}


def _unreadable(sensor: Sensor, item: MosaicItem, b: int, what: str, exc: BaseException) -> RasterFormatError:
    """One line naming the item, the asset and the cause; the fix depends on the HTTP status."""
    text = _msg(exc)
    m = re.search(r"HTTP response code: (\d+)", text)
    status = int(m.group(1)) if m else None
    cause = f"HTTP {status}" if status else text
    if status in (401, 403):
        fix = "the provider refused the read: check the signer (e.g. an expired or missing SAS token) or the credentials for requester-pays buckets, then run the same command again"
    elif status == 404:
        fix = "the item names an asset the provider does not have: report the item to the provider; the scene stays unpublished until its items read"
    else:
        fix = _READ_FIX
    return RasterFormatError(f"{sensor.upper()} item {item.item_id}: asset {item.asset_keys[b]!r} at {redact(item.hrefs[b])} {what} ({cause})", fix=fix)


def _msg(exc: BaseException) -> str:
    """An exception's text with any URL query string (SAS token) cut off."""
    text = str(exc)
    out = []
    for word in text.split():
        out.append(redact(word) if "://" in word and "?" in word else word)
    return " ".join(out)[:300]


class StripCache:
    """Full-width rows already read, memory-mapped in a scene-local temporary folder."""

    def __init__(self, grid: Grid, bands: int, dtype: Any) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="sen12stac-scene-"))
        shape = (bands, grid.height, grid.width)
        self.values = np.lib.format.open_memmap(self._dir / "values.npy", mode="w+", dtype=dtype, shape=shape)
        self.top = np.lib.format.open_memmap(self._dir / "top.npy", mode="w+", dtype=np.int16, shape=shape[1:])
        self.done = np.zeros(grid.height, dtype=bool)
        self.width = grid.width

    def get(self, window: Window) -> tuple[np.ndarray, np.ndarray] | None:
        r0, r1 = int(window.row_off), int(window.row_off + window.height)
        c0, c1 = int(window.col_off), int(window.col_off + window.width)
        if self.done[r0:r1].all():
            return np.array(self.values[:, r0:r1, c0:c1]), np.array(self.top[r0:r1, c0:c1])
        return None

    def put(self, window: Window, values: np.ndarray, top: np.ndarray) -> None:
        if int(window.col_off) != 0 or int(window.width) != self.width:
            return
        r0, r1 = int(window.row_off), int(window.row_off + window.height)
        self.values[:, r0:r1] = values
        self.top[r0:r1] = top
        self.done[r0:r1] = True

    def close(self) -> None:
        for name in ("values", "top"):
            arr = getattr(self, name, None)
            if arr is not None:
                del arr
                setattr(self, name, None)
        shutil.rmtree(self._dir, ignore_errors=True)


def seams(top: np.ndarray) -> np.ndarray:
    """True where the item on top differs from the right or lower neighbour (both valid)."""
    s = np.zeros(top.shape, dtype=bool)
    valid = top >= 0
    dx = (top[:, 1:] != top[:, :-1]) & valid[:, 1:] & valid[:, :-1]
    dy = (top[1:, :] != top[:-1, :]) & valid[1:, :] & valid[:-1, :]
    s[:, :-1] |= dx
    s[:, 1:] |= dx
    s[:-1, :] |= dy
    s[1:, :] |= dy
    return s


def finite_or_none(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None
