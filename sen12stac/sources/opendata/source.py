"""The ``stac`` source: scenes built from public STAC APIs (``models.Source``).

Per ROI and season: search each sensor's API (``search.py``), drop the ROI when either search
is empty (:class:`SceneUnavailable`), sign the chosen items' hrefs (``signing.py``) and mosaic
them onto the ROI's 10 m UTM grid by windowed reads (``reading.py``). S1 linear power becomes
dB; S2 digital numbers become reflectance x 10000 (the -1000 offset of processing baseline
04.00 and later removed).

Recipe v2 (``SceneRequest.recipe``): S1 VV and VH (RTC: gamma0, linear power -> dB), the 12 L2A
bands (20 m and 60 m assets resampled bilinear onto the 10 m grid) with the SCL from the same
items (nearest), and the ESA WorldCover label (``esa-worldcover``, nearest) from a third search.
"""
from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from ...config import StacSourceConfig
from ...errors import ConfigError, SceneUnavailable, SourceError
from ...runtime.gdalenv import rasterio_env_kwargs
from ...models import ROI, Acquisition, Grid, SceneRequest, Sensor, format_datetime
from ...recipe.seasons import season_by_name
from . import search as stac_search
from .presets import SensorSettings, resolve
from ...recipe.recipes import recipe as recipe_spec
from .reading import REMOTE_READ_OPTIONS, MosaicItem, SensorMosaic, StripCache, seams
from .signing import make_signer

#: S2 processing baselines from 04.00 on add 1000 to every DN (ESA's RADIO/BOA_ADD_OFFSET)
S2_OFFSET_BASELINE = (4, 0)
S2_ADD_OFFSET = -1000.0


def _parse_when(text: str):
    from datetime import datetime, timezone

    d = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


def _item_time(item: dict[str, Any]) -> str | None:
    p = item.get("properties") or {}
    return p.get("datetime") or p.get("start_datetime")


def _self_href(item: dict[str, Any], settings: SensorSettings) -> str:
    for link in item.get("links") or []:
        if link.get("rel") == "self" and str(link.get("href", "")).startswith(("http://", "https://")):
            return str(link["href"])
    return f"{settings.api_url}/collections/{settings.collection}/items/{item.get('id')}"


def _s2_offset(item: dict[str, Any]) -> float:
    p = item.get("properties") or {}
    if p.get("earthsearch:boa_offset_applied") is True:
        return 0.0  # Earth Search already removed it from its L2A COGs
    baseline = str(p.get("s2:processing_baseline") or "")
    try:
        major, minor = (int(x) for x in baseline.split(".")[:2])
    except ValueError:
        return 0.0
    return S2_ADD_OFFSET if (major, minor) >= S2_OFFSET_BASELINE else 0.0


def acquisition(sensor: Sensor, items: list[dict[str, Any]], settings: SensorSettings) -> Acquisition:
    """What the published items say about the source acquisitions: the top (newest) item's
    time, platform and orbit; the range over all items; S2 cloud cover the mosaic's worst;
    the source items' URLs (``derived_from`` links) and ESA product names."""
    top = items[-1]
    p = top.get("properties") or {}
    times = sorted(format_datetime(_parse_when(t)) for t in (_item_time(i) for i in items) if t)
    platform = p.get("platform")
    orbit = p.get("sat:orbit_state")
    rel = p.get("sat:relative_orbit")
    ids: list[str] = []
    for it in items:
        ids.append(_self_href(it, settings))
        product = (it.get("properties") or {}).get("s2:product_uri")
        if product:
            ids.append(str(product))
    cc = None
    if sensor == "s2":
        covers = [float(c) for c in ((i.get("properties") or {}).get("eo:cloud_cover") for i in items) if isinstance(c, (int, float))]
        cc = max(covers) if covers else None
    top_time = _item_time(top)
    return Acquisition(
        sensor=sensor,
        datetime=format_datetime(_parse_when(top_time)) if top_time else None,
        platform=str(platform).strip().lower() if platform else None,
        constellation="sentinel-1" if sensor == "s1" else "sentinel-2",
        instrument="c-sar" if sensor == "s1" else "msi",
        orbit_state=str(orbit).lower() if orbit in ("ascending", "descending", "ASCENDING", "DESCENDING") else None,
        relative_orbit=int(rel) if isinstance(rel, int) and not isinstance(rel, bool) and rel > 0 else None,
        cloud_cover=cc,
        product_ids=tuple(dict.fromkeys(ids)),
        start_datetime=times[0] if times else None,
        end_datetime=times[-1] if times else None,
    )


def _gdal_env(settings: dict[Sensor, SensorSettings]) -> dict[str, Any]:
    """rasterio.Env kwargs for both sensors' assets (http(s) and, when used, s3://)."""
    s3 = [s for s in settings.values() if s.requester_pays or s.s3_endpoint_url]
    opts: dict[str, Any] = dict(REMOTE_READ_OPTIONS)
    if s3:
        if len({(s.s3_endpoint_url, s.s3_region) for s in s3}) > 1:
            raise ConfigError("the two sensors name different S3 endpoints or regions for their s3:// assets",
                              fix="read s3:// assets of one endpoint and region only (or give one sensor http(s) assets)")
        kw = rasterio_env_kwargs(endpoint_url=s3[0].s3_endpoint_url, region=s3[0].s3_region)
        kw.update(opts)  # ours win over the S3 store's defaults (e.g. the header read size)
        if any(s.requester_pays for s in s3):
            kw["AWS_REQUEST_PAYER"] = "requester"
        return kw
    return opts


class StacScene:
    """An S1/S2 pair mosaicked from STAC items on one grid (implements ``SceneRaster``); under
    recipe v2 with the label mosaic and the SCL too."""

    def __init__(self, roi: ROI, grid: Grid, items: dict[str, list[dict[str, Any]]], settings: dict[str, SensorSettings],
                 recipe: str = "v1") -> None:
        self.roi, self.grid = roi, grid
        self.settings = settings
        self.recipe = recipe_spec(recipe)
        self.s1 = acquisition("s1", items["s1"], settings["s1"])
        self.s2 = acquisition("s2", items["s2"], settings["s2"])
        self._stack = contextlib.ExitStack()
        self._mosaics: dict[Sensor, SensorMosaic] = {}
        self._cache: dict[Sensor, StripCache] = {}
        try:
            self._stack.enter_context(rasterio.Env(**_gdal_env(settings)))  # left in close(): reads need its options
            if self.recipe.name == "v2":
                self._open_v2(items)
                return
            for sensor in ("s1", "s2"):
                st = settings[sensor]
                signer = make_signer(st.signer)
                mitems = []
                for it in items[sensor]:
                    assets = it.get("assets") or {}
                    hrefs = tuple(signer(str(assets[k]["href"])) for k in st.assets)
                    bbox = it.get("bbox")
                    mitems.append(MosaicItem(str(it.get("id")), hrefs, st.assets,
                                             tuple(float(v) for v in bbox[:2] + bbox[-2:]) if bbox and len(bbox) >= 4 else None,  # type: ignore[arg-type]
                                             _s2_offset(it) if sensor == "s2" else 0.0))
                # S1 linear power and S2 DN are valid only when > 0 (RTC's -32768 and DN 0 are no-data)
                positive = sensor == "s2" or st.units == "linear"
                self._mosaics[sensor] = SensorMosaic(sensor, mitems, grid, positive_only=positive)
            self._cache["s1"] = StripCache(grid, 1, np.float32)
            self._cache["s2"] = StripCache(grid, 3, np.uint16)
        except BaseException:
            self.close()
            raise

    def _open_v2(self, items: dict[str, list[dict[str, Any]]]) -> None:
        """v2's three mosaics: S1 VV+VH, S2's 12 bands (+ SCL from the same item), the label."""
        grid, settings = self.grid, self.settings
        for sensor in ("s1", "s2", "label"):
            st = settings[sensor]
            signer = make_signer(st.signer)
            keys = (*st.assets, st.scl_asset) if sensor == "s2" and st.scl_asset else st.assets
            mitems = []
            for it in items[sensor]:
                assets = it.get("assets") or {}
                hrefs = tuple(signer(str(assets[k]["href"])) for k in keys)
                bbox = it.get("bbox")
                mitems.append(MosaicItem(str(it.get("id")), hrefs, keys,
                                         tuple(float(v) for v in bbox[:2] + bbox[-2:]) if bbox and len(bbox) >= 4 else None,  # type: ignore[arg-type]
                                         _s2_offset(it) if sensor == "s2" else 0.0))
            n = len(st.assets)
            if sensor == "s2":
                # reflectance is a continuous field: bilinear; the SCL is categorical: nearest
                rs = (Resampling.bilinear,) * n + ((Resampling.nearest,) if st.scl_asset else ())
            elif sensor == "label":
                rs = (Resampling.nearest,)
            else:
                rs = (Resampling.bilinear,) * n
            positive = sensor != "s1" or st.units == "linear"  # DN 0, WorldCover 0, RTC -32768: no-data
            self._mosaics[sensor] = SensorMosaic(sensor, mitems, grid, positive_only=positive, resamplings=rs, value_bands=n)  # type: ignore[arg-type]
        self._cache["s1"] = StripCache(grid, len(settings["s1"].assets), np.float32)
        self._cache["s2"] = StripCache(grid, len(settings["s2"].assets) + (1 if settings["s2"].scl_asset else 0), np.uint16)
        self._cache["label"] = StripCache(grid, 1, np.uint8)

    def _check(self, window: Window) -> None:
        c0, r0, w, h = window.col_off, window.row_off, window.width, window.height
        ints = all(float(v).is_integer() for v in (c0, r0, w, h))
        if not ints or c0 < 0 or r0 < 0 or w < 1 or h < 1 or c0 + w > self.grid.width or r0 + h > self.grid.height:
            raise SourceError(f"window {window} of scene {self.roi.scene_id} lies outside its {self.grid.width}x{self.grid.height} grid",
                              fix="read integer windows inside the scene grid")

    def _read(self, sensor: str, window: Window) -> tuple[np.ndarray, np.ndarray]:
        self._check(window)
        cache = self._cache[sensor]
        hit = cache.get(window)
        if hit is not None:
            return hit
        vals, top = self._mosaics[sensor].read(window)
        if sensor == "label":
            out = np.where(np.isfinite(vals) & (vals > 0) & (vals <= 255), vals, 0).astype(np.uint8)
        elif sensor == "s2" and self.recipe.name == "v2":
            n = len(self.settings["s2"].assets)
            refl = vals[:n]
            invalid = ~np.isfinite(refl).all(axis=0)  # validity (DN > 0) was decided before the offset
            # a valid reflectance <= 0 is stored as 1, so it is never read as no-data (recipes.py)
            out = np.clip(np.rint(np.where(np.isfinite(vals), vals, 1)), 1, 65535).astype(np.uint16)
            out[:, invalid] = 0
            if len(vals) > n:  # the SCL: its codes as they are, 0 where the item has none
                out[n] = np.where(np.isfinite(vals[n]) & ~invalid, vals[n], 0).astype(np.uint16)
        elif sensor == "s1":
            if self.settings["s1"].units == "linear":
                with np.errstate(divide="ignore", invalid="ignore"):
                    vals = np.where(vals > 0, np.float32(10.0) * np.log10(vals), np.float32(np.nan)).astype(np.float32)
            vals[~np.isfinite(vals)] = np.nan
            out = vals.astype(np.float32, copy=False)
        else:
            invalid = ~np.isfinite(vals).all(axis=0) | (vals <= 0).any(axis=0)
            out = np.clip(np.rint(np.where(np.isfinite(vals), vals, 1)), 1, 65535).astype(np.uint16)
            out[:, invalid] = 0
        cache.put(window, out, top)
        return out, top

    # -- SceneRaster
    def read_s1(self, window: Window) -> np.ndarray:
        """float32 (1, h, w) VV (v2: (2, h, w) VV, VH) in dB (RTC: gamma0; see docs/sources.md), NaN for no-data."""
        return self._read("s1", window)[0]

    def read_s2(self, window: Window) -> np.ndarray:
        """uint16 (3, h, w) B4, B3, B2 (v2: the 12 L2A bands) reflectance x 10000, 0 where any band is no-data."""
        out = self._read("s2", window)[0]
        return out[: len(self.settings["s2"].assets)] if self.recipe.name == "v2" else out

    def read_scl(self, window: Window) -> np.ndarray | None:
        """v2: uint8 (1, h, w) the L2A scene classification of the item on top, 0 for no-data; None without an SCL asset."""
        n = len(self.settings["s2"].assets)
        if self.recipe.name != "v2" or not self.settings["s2"].scl_asset:
            return None
        return self._read("s2", window)[0][n:n + 1].astype(np.uint8)

    def read_label(self, window: Window) -> np.ndarray:
        """v2: uint8 (1, h, w) ESA WorldCover codes (nearest), 0 for no-data."""
        if self.recipe.name != "v2":
            raise SourceError("read_label is a recipe v2 read", fix="open the scene with SceneRequest(recipe='v2')")
        return self._read("label", window)[0]

    def seam_mask(self, window: Window) -> np.ndarray:
        """True where the item on top changes, in either sensor's mosaic."""
        return seams(self._read("s1", window)[1]) | seams(self._read("s2", window)[1])

    def close(self) -> None:
        for m in self._mosaics.values():
            m.close()
        self._mosaics = {}
        for c in self._cache.values():
            c.close()
        self._cache = {}
        self._stack.close()


class StacSource:
    """Scenes from STAC APIs, one settings record per sensor (implements ``models.Source``).

    Creating it checks both APIs and collections (one clear error before any scene) and the
    signer package. Picklable: API clients are opened again in each worker process.
    """

    name = "stac"

    def __init__(self, config: StacSourceConfig, *, check: bool = True, recipe: str = "v1") -> None:
        self.config = config
        self.settings = resolve(config)
        #: recipe v2's settings (v2's bands, the label collection); checked now when the build is v2
        self.settings_v2 = resolve(config, "v2") if recipe == "v2" else None
        active = self.settings_v2 or self.settings  # what this build reads
        _gdal_env(active)  # conflicting S3 settings are refused now
        if any(st.requester_pays for st in active.values()):
            _check_aws_credentials()
        for st in active.values():
            make_signer(st.signer)
        self._rois = _read_rois(config.rois_file) if config.rois_file else None
        if check:
            for st in active.values():
                stac_search.check_collection(st)

    def rois(self, season_name: str) -> list[ROI] | None:
        if self._rois is None:
            return None
        return [r for r in self._rois if r.set_name == season_by_name(season_name).set_name]

    def grid_for(self, roi: ROI, default: Grid) -> Grid:
        return default  # the recipe's square around the ROI

    def open_scene(self, request: SceneRequest) -> StacScene:
        grid = request.grid
        lon0, lat0, lon1, lat1 = transform_bounds(grid.crs, "EPSG:4326", *grid.bounds, densify_pts=21)
        bbox = (round(lon0, 7), round(lat0, 7), round(lon1, 7), round(lat1, 7))
        found: dict[str, list[dict[str, Any]]] = {}
        v2 = request.recipe == "v2"
        if v2 and self.settings_v2 is None:
            self.settings_v2 = resolve(self.config, "v2")
        settings = self.settings_v2 if v2 else self.settings
        assert settings is not None
        for sensor in ("s2", "s1"):  # S2 first: the scarcer one (cloud filter) ends the scene sooner
            st = settings[sensor]
            res = stac_search.search(st, bbox, request.start, request.end)
            if not res.items:
                skipped = f"; left out: {', '.join(f'{k} ({v})' for k, v in list(res.skipped.items())[:3])}" if res.skipped else ""
                what = "eo:cloud_cover <= %g" % st.max_cloud_cover if sensor == "s2" else f"IW, {'+'.join(st.polarizations)}"
                raise SceneUnavailable(
                    f"no {sensor.upper()} item in {st.where} for {request.roi.scene_id} between {request.start} and {request.end} ({what}){skipped}",
                    fix="nothing to fix: the recipe drops ROIs without both acquisitions (a looser max_cloud_cover in the stac settings admits more S2 scenes)",
                )
            found[sensor] = res.items
        if v2:  # the land-cover map: any date (ESA WorldCover is one map, 2021 for v200)
            st = settings["label"]
            res = stac_search.search(st, bbox, None, None)
            if not res.items:
                raise SceneUnavailable(f"no label item in {st.where} for {request.roi.scene_id}",
                                       fix="nothing to fix: ESA WorldCover covers land only; the recipe drops ROIs without a label map")
            found["label"] = res.items
        return StacScene(request.roi, grid, found, settings, recipe=request.recipe)


def _check_aws_credentials() -> None:
    """Requester-pays buckets (Earth Search's L1C) refuse anonymous reads: say so before any work."""
    import boto3

    if boto3.Session().get_credentials() is None:
        raise ConfigError(
            "the S2 assets are in a requester-pays S3 bucket (Earth Search's sentinel-2-l1c JPEG 2000) and no AWS credentials are configured",
            fix="configure AWS credentials (AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY); the account pays the transfer. "
                "Or use --stac-preset planetary-computer (L2A, no AWS account)",
        )


def _read_rois(path: Path) -> list[ROI]:
    """ROIs from a GeoJSON of points (``sen12stac rois`` output: set_name, index, kind, kept)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        feats = doc["features"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"ROI file {path} is not a GeoJSON FeatureCollection ({exc})",
                          fix="write it with `sen12stac rois --seed N --out FILE`, or as points with set_name and index properties") from None
    out: list[ROI] = []
    seen: set[tuple[str, int]] = set()
    for n, f in enumerate(feats):
        p = f.get("properties") or {}
        if p.get("kept") is False:
            continue
        try:
            lon, lat = (float(v) for v in f["geometry"]["coordinates"][:2])
            roi = ROI(str(p["set_name"]), int(p["index"]), lon, lat, p.get("kind", "land"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"ROI file {path}: feature {n} lacks a point, set_name or index ({exc})",
                              fix='give every kept feature a Point geometry and "set_name" (e.g. ROIs1158_spring) and "index" properties') from None
        if not (math.isfinite(roi.lon) and math.isfinite(roi.lat)) or roi.kind not in ("land", "urban"):
            raise ConfigError(f"ROI file {path}: feature {n} has a bad point or kind", fix="WGS84 lon/lat and kind land or urban")
        if (roi.set_name, roi.index) in seen:
            raise ConfigError(f"ROI file {path}: {roi.scene_id} appears twice", fix="give each ROI of a set its own index")
        seen.add((roi.set_name, roi.index))
        out.append(roi)
    return out
