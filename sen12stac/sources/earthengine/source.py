"""The ``earthengine`` source: the paper's selection on Earth Engine, delivered to the pipeline
as one S1 and one S2 raster on the scene's 10 m UTM grid (``models.Source``/``SceneRaster``).

Per scene: one metadata request (both collections' granules; an empty collection drops the
ROI), then the S1 mosaic, the S2 mosaic and the S2 "which granule is on top" image, each
fetched onto exactly the grid the pipeline asked for (:mod:`.export`). Everything fetched is
kept under ``cache_dir`` so a re-run resumes where it stopped.
"""
from __future__ import annotations

import functools
import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import ee
import numpy as np
import rasterio
from rasterio.windows import Window

from ...config import EarthEngineConfig
from ...errors import ConfigError, SceneUnavailable, SourceError
from ...models import ROI, Acquisition, Grid, SceneRequest, format_datetime
from ...recipe.rois import deoverlap, land_layer, urban_layer
from ...recipe.seasons import SEASONS, season_by_name
from . import graphs
from .auth import access_error, connect
from .export import BatchExporter, CloudStorageTarget, DriveTarget, Limits, TaskLedger, atomic_write, download_pixels

# (file stem, bands, dtype, nodata) of the three images fetched per scene
IMAGES = {
    "s1": (list(graphs.S1_BANDS_EE), "float32", graphs.S1_NODATA),
    "s2": (list(graphs.S2_BANDS_EE), "uint16", 0),
    "s2_top": ([graphs.TOP_BAND], "int32", -1),
}
# recipe v2: its own files beside v1's (another collection, other bands), and the label
IMAGES_V2 = {
    "v2_s1": (list(graphs.S1_BANDS_V2_EE), "float32", graphs.S1_NODATA),
    "v2_s2": ([*graphs.S2_BANDS_V2_EE, graphs.SCL_BAND], "uint16", 0),
    "v2_s2_top": ([graphs.TOP_BAND], "int32", -1),
    "v2_label": ([graphs.WORLDCOVER_BAND], "uint8", 0),
}


def _ms(t: Any) -> str:
    return format_datetime(datetime.fromtimestamp(int(t) / 1000.0, tz=timezone.utc))


def s1_acquisition(granules: list[dict[str, Any]]) -> Acquisition:
    """S1 metadata of a mosaic: datetime, platform and orbit of the granule on top (the last),
    the interval of all granules and every granule's product id."""
    top = granules[-1]
    times = [int(g["time"]) for g in granules]
    plat = str(top.get("platform_number") or "").strip().lower()
    rel = top.get("relativeOrbitNumber_start")
    orbit = str(top.get("orbitProperties_pass") or "").lower() or None
    return Acquisition(
        sensor="s1", datetime=_ms(top["time"]), platform=f"sentinel-1{plat}" if plat in ("a", "b", "c", "d") else None,
        constellation="sentinel-1", instrument="c-sar", orbit_state=orbit if orbit in ("ascending", "descending") else None,
        relative_orbit=int(rel) if rel is not None else None, cloud_cover=None,
        product_ids=tuple(str(g["id"]) for g in granules), start_datetime=_ms(min(times)), end_datetime=_ms(max(times)),
    )


def s2_acquisition(granules: list[dict[str, Any]]) -> Acquisition:
    """S2 metadata of a mosaic: as for S1; cloud cover is the top granule's CLOUDY_PIXEL_PERCENTAGE."""
    top = granules[-1]
    times = [int(g["time"]) for g in granules]
    craft = str(top.get("SPACECRAFT_NAME") or "").strip().lower()  # "Sentinel-2A"
    rel = top.get("SENSING_ORBIT_NUMBER")
    orbit = str(top.get("SENSING_ORBIT_DIRECTION") or "").lower() or None
    cloud = top.get("CLOUDY_PIXEL_PERCENTAGE")
    return Acquisition(
        sensor="s2", datetime=_ms(top["time"]), platform=craft if craft.startswith("sentinel-2") else None,
        constellation="sentinel-2", instrument="msi", orbit_state=orbit if orbit in ("ascending", "descending") else None,
        relative_orbit=int(rel) if rel is not None else None, cloud_cover=float(cloud) if cloud is not None else None,
        product_ids=tuple(str(g.get("PRODUCT_ID") or g["id"]) for g in granules), start_datetime=_ms(min(times)), end_datetime=_ms(max(times)),
    )


class EarthEngineScene:
    """A fetched scene: three GeoTIFFs on ``grid`` in the cache, read by window (picklable).
    Recipe v2: four (S1 VV+VH, S2 12 bands + SCL, the top-granule image, the label)."""

    def __init__(self, grid: Grid, s1: Acquisition, s2: Acquisition, paths: dict[str, Path]) -> None:
        self.grid, self.s1, self.s2 = grid, s1, s2
        self.v2 = "v2_s2" in paths
        # the reads below use v1's keys; a v2 scene's files stand under them
        self.paths = {k.removeprefix("v2_"): p for k, p in paths.items()}
        self._open: dict[str, Any] = {}

    def _ds(self, key: str) -> Any:
        ds = self._open.get(key)
        if ds is None:
            try:
                ds = self._open[key] = rasterio.open(self.paths[key])
            except rasterio.errors.RasterioError as exc:
                raise SourceError(f"cannot read {self.paths[key]}: {exc}", fix=f"delete {self.paths[key].parent} and run again") from exc
        return ds

    def _check(self, window: Window) -> None:
        c0, r0, w, h = (int(v) for v in (window.col_off, window.row_off, window.width, window.height))
        if c0 < 0 or r0 < 0 or w < 1 or h < 1 or c0 + w > self.grid.width or r0 + h > self.grid.height:
            raise SourceError(f"window {window} lies outside the {self.grid.width}x{self.grid.height} scene", fix="read windows inside the scene grid")

    def read_s1(self, window: Window) -> np.ndarray:
        self._check(window)
        a = self._ds("s1").read(window=window).astype(np.float32, copy=False)
        a[(a == graphs.S1_NODATA) | ~np.isfinite(a)] = np.nan
        return a

    def read_s2(self, window: Window) -> np.ndarray:
        self._check(window)
        if self.v2:  # the 12 reflectance bands (the 13th is the SCL)
            a = self._ds("s2").read(list(range(1, len(graphs.S2_BANDS_V2_EE) + 1)), window=window).astype(np.uint16, copy=False)
        else:
            a = self._ds("s2").read(window=window).astype(np.uint16, copy=False)
        a[:, (a == 0).any(axis=0)] = 0  # no-data in any band is no-data in all
        return a

    def read_scl(self, window: Window) -> np.ndarray | None:
        """v2: uint8 (1, h, w) the L2A scene classification of the granule on top, 0 for no-data."""
        self._check(window)
        if not self.v2:
            return None
        return self._ds("s2").read([len(graphs.S2_BANDS_V2_EE) + 1], window=window).astype(np.uint8)

    def read_label(self, window: Window) -> np.ndarray:
        """v2: uint8 (1, h, w) ESA WorldCover v200 codes, 0 for no-data."""
        self._check(window)
        if not self.v2:
            raise SourceError("read_label is a recipe v2 read", fix="open the scene with SceneRequest(recipe='v2')")
        return self._ds("label").read([1], window=window).astype(np.uint8)

    def seam_mask(self, window: Window) -> np.ndarray | None:
        """True where the granule on top of the S2 mosaic changes (both sides acquired)."""
        self._check(window)
        r0, c0 = int(window.row_off), int(window.col_off)
        h, w = int(window.height), int(window.width)
        ra, ca = max(r0 - 1, 0), max(c0 - 1, 0)
        rb, cb = min(r0 + h + 1, self.grid.height), min(c0 + w + 1, self.grid.width)
        top = self._ds("s2_top").read(1, window=Window(ca, ra, cb - ca, rb - ra))
        seam = np.zeros(top.shape, dtype=bool)
        valid = top >= 0
        dv = (top[1:, :] != top[:-1, :]) & valid[1:, :] & valid[:-1, :]
        dh = (top[:, 1:] != top[:, :-1]) & valid[:, 1:] & valid[:, :-1]
        seam[1:, :] |= dv
        seam[:-1, :] |= dv
        seam[:, 1:] |= dh
        seam[:, :-1] |= dh
        return seam[r0 - ra : r0 - ra + h, c0 - ca : c0 - ca + w]

    def close(self) -> None:
        for ds in self._open.values():
            ds.close()
        self._open = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_open": {}}


class EarthEngineSource:
    """Scenes from Earth Engine (implements ``models.Source``). Connects (credentials, project,
    Earth Engine access) when created, so a bad account stops the build before any work.

    ``connect`` (a picklable callable) initializes earthengine-api in each process; by default
    :func:`.auth.connect` with the configured project and key file. ``storage_client`` makes the
    google.cloud.storage client for batch exports to Cloud Storage (default: same credentials).
    """

    name = "earthengine"

    def __init__(self, config: EarthEngineConfig, *, n_land: int = 100, n_urban: int = 50, scene_size_m: float = 44_800.0,
                 connect: Callable[[], Any] | None = None, sleep: Callable[[float], None] | None = None,
                 storage_client: Callable[[], Any] | None = None) -> None:
        self.config = config
        self.n_land, self.n_urban, self.scene_size_m = n_land, n_urban, scene_size_m
        self.recipe = graphs.Recipe(config.s2_collection, config.s1_collection, config.max_cloud)
        self._connect = connect or functools.partial(_connect_default, config.project, config.key_file)
        self._sleep = sleep
        self._storage_client = storage_client
        self.cache = Path(config.cache_dir)
        if config.rois not in ("sampler", "earthengine") and not Path(config.rois).is_file():
            raise ConfigError(f"ROI file {config.rois} does not exist",
                              fix="pass 'sampler', 'earthengine' or a GeoJSON written by `sen12stac rois --seed S --out FILE`")
        if config.export == "drive" and not Path(config.drive_dir or "").is_dir():
            raise ConfigError(f"Drive folder {config.drive_dir} does not exist on this machine", fix="sync the Drive folder here and pass its path as --ee-drive-dir")
        self._connect()
        self._ready = True

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_ready": False}

    def _ensure(self) -> None:
        if not self._ready or not ee.data.is_initialized():
            self._connect()
            self._ready = True

    # -- Source
    def rois(self, season_name: str) -> list[ROI] | None:
        """None (the pipeline samples offline, the default), the points of a GeoJSON file, or
        Earth Engine's randomPoints with the season's seed after the de-overlap rule."""
        season = season_by_name(season_name)
        if self.config.rois == "sampler":
            return None
        if self.config.rois != "earthengine":
            return _rois_from_geojson(Path(self.config.rois), season.set_name)
        layers = json.dumps([self.config.land_asset, self.config.urban_asset, self.n_land, self.n_urban])
        cached = self.cache / "rois" / f"{season.set_name}_{hashlib.sha256(layers.encode()).hexdigest()[:8]}.json"
        if cached.is_file():
            points = json.loads(cached.read_text())
        else:
            self._ensure()
            land = graphs.layer_from_asset(self.config.land_asset) if self.config.land_asset else graphs.layer_geometry(land_layer().polygons)
            urban = graphs.layer_from_asset(self.config.urban_asset) if self.config.urban_asset else graphs.layer_geometry(urban_layer().polygons)
            try:
                got = graphs.random_points(land, urban, season, self.n_land, self.n_urban).getInfo()
            except (ee.EEException, OSError) as exc:
                raise access_error(exc, self.config.project or "") from None
            points = [[float(x), float(y), kind] for kind in ("land", "urban") for x, y in _lonlat_pairs(got[kind])]
            cached.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(cached, (json.dumps(points) + "\n").encode())
        return [ROI(season.set_name, c.index, round(c.lon, 6), round(c.lat, 6), c.kind)  # type: ignore[arg-type]
                for c in deoverlap([tuple(p) for p in points], self.scene_size_m) if c.kept and c.index is not None]

    def grid_for(self, roi: ROI, default: Grid) -> Grid:
        """The recipe's square UTM grid around the ROI: Earth Engine resamples onto it."""
        return default

    def _scene_dir(self, request: SceneRequest) -> Path:
        return self.cache / "scenes" / request.roi.set_name / f"{request.roi.scene_id}_{grid_tag(request.grid)}"

    def open_scene(self, request: SceneRequest) -> EarthEngineScene:
        season = SEASONS[request.season_name]
        grid, roi = request.grid, request.roi
        v2 = request.recipe == "v2"
        recipe = graphs.v2_recipe(self.recipe) if v2 else self.recipe
        folder = self._scene_dir(request)
        folder.mkdir(parents=True, exist_ok=True)
        meta_path = folder / ("granules_v2.json" if v2 else "granules.json")

        def region() -> ee.Geometry:  # graphs are built only when a request is needed (a cached scene needs no sign-in)
            self._ensure()
            return graphs.roi_region(grid)

        if meta_path.is_file():
            meta = json.loads(meta_path.read_text())
        else:
            try:
                meta = graphs.scene_metadata(region(), season, recipe).getInfo()
            except (ee.EEException, OSError) as exc:
                raise access_error(exc, self.config.project or "") from None
            atomic_write(meta_path, (json.dumps(meta, indent=1, sort_keys=True) + "\n").encode())
        missing = [s for s, c in (("S1", meta["s1_count"]), ("S2", meta["s2_count"])) if not c]
        if missing:
            coll = {"S1": recipe.s1_collection, "S2": recipe.s2_collection}
            raise SceneUnavailable(
                f"no {' and no '.join(missing)} acquisition for {roi.scene_id} in {season.start}..{season.end} "
                f"({', '.join(coll[m] for m in missing)} after the recipe's filters)",
                fix="none needed: the recipe drops ROIs without both sensors",
            )
        s1, s2 = s1_acquisition(meta["s1"]), s2_acquisition(meta["s2"])

        def image(key: str) -> ee.Image:
            r = region()
            if key == "v2_label":
                return graphs.label_image(r)
            if key in ("s1", "v2_s1"):
                s1_coll = graphs.s1_collection(r, season, recipe)
                return graphs.s1_image_v2(s1_coll, r) if v2 else graphs.s1_image(s1_coll, r)
            s2_coll = graphs.s2_collection(r, season, recipe)
            if key == "v2_s2":
                return graphs.s2_image_v2(s2_coll, r)
            return graphs.s2_image(s2_coll, r) if key == "s2" else graphs.s2_top_image(s2_coll, r, season)

        paths: dict[str, Path] = {}
        for key, (bands, dtype, nodata) in (IMAGES_V2 if v2 else IMAGES).items():
            dest = folder / f"{key}.tif"
            if not dest.is_file():
                if self.config.export == "pixels":
                    download_pixels(image(key), grid, dest, bands=bands, dtype=dtype, nodata=nodata,
                                    limits=Limits(self.config.max_request_bytes, self.config.max_request_side))
                else:
                    self._batch().export(image(key), grid, export_name(roi, key, grid), dest, dtype=dtype, count=len(bands), nodata=nodata)
            paths[key] = dest
        return EarthEngineScene(grid, s1, s2, paths)

    def _batch(self) -> BatchExporter:
        c = self.config
        target = CloudStorageTarget(c.bucket or "", c.prefix, c.key_file, self._storage_client) if c.export == "gcs" else DriveTarget(c.drive_folder or "", Path(c.drive_dir or "."))
        kwargs = {"sleep": self._sleep} if self._sleep else {}
        return BatchExporter(target, TaskLedger(self.cache / "tasks"), poll_seconds=c.poll_seconds, **kwargs)


def grid_tag(grid: Grid) -> str:
    """Short and stable per grid: cached files and batch tasks of another scene size or
    position are never mistaken for this one's."""
    text = json.dumps([grid.crs, list(grid.transform), grid.width, grid.height])
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def export_name(roi: ROI, key: str, grid: Grid) -> str:
    """Batch export file and task name, e.g. ``ROIs1158_spring_7_s2_1a2b3c4d``."""
    return f"{roi.scene_id}_{key}_{grid_tag(grid)}"


def _connect_default(project: str | None, key_file: Path | None) -> None:
    connect(project, key_file)


def _lonlat_pairs(coords: Any) -> list[tuple[float, float]]:
    """Coordinates of a MultiPoint ([[x, y], ...]), or of a Point ([x, y]) when one point was drawn."""
    if not coords:
        return []
    if isinstance(coords[0], (int, float)):
        return [(float(coords[0]), float(coords[1]))]
    return [(float(c[0]), float(c[1])) for c in coords]


def _rois_from_geojson(path: Path, set_name: str) -> list[ROI]:
    """Kept points of one set from a GeoJSON written by `sen12stac rois` (or by hand: Point
    features with ``set_name``, optional ``index`` and ``kind``)."""
    try:
        doc = json.loads(path.read_text())
        feats = doc["features"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"ROI file {path} is not a GeoJSON FeatureCollection ({exc})", fix="write it with `sen12stac rois --seed S --out FILE`") from None
    out: list[ROI] = []
    for i, f in enumerate(feats):
        props = f.get("properties") or {}
        if props.get("set_name") != set_name or props.get("kept") is False:
            continue
        try:
            lon, lat = (float(v) for v in f["geometry"]["coordinates"][:2])
        except (KeyError, TypeError, ValueError):
            raise ConfigError(f"{path}: feature {i} is not a Point", fix="give each ROI as a GeoJSON Point [lon, lat]") from None
        kind = props.get("kind", "land")
        if kind not in ("land", "urban"):
            raise ConfigError(f"{path}: feature {i} has kind {kind!r}", fix="use 'land' or 'urban'")
        out.append(ROI(set_name, int(props.get("index", len(out))), round(lon, 6), round(lat, 6), kind))
    if len({r.index for r in out}) != len(out):
        raise ConfigError(f"{path}: two ROIs of {set_name} share an index", fix="give each ROI its own 'index'")
    return sorted(out, key=lambda r: r.index)
