"""The ``local`` source: a folder of the user's own Sentinel-1 / Sentinel-2 GeoTIFF pairs.

Layout (documented in docs/sources.md)::

    <root>/<scene_name>/scene.json     the sidecar: season, optional index, files, acquisition metadata
    <root>/<scene_name>/<rasters>      the files the sidecar names (paths relative to the scene folder)

Each scene becomes one ROI of its season's set. Its grid is S1's own grid when S1 is
already on a ``pixel_size`` UTM grid (values pass through bit-identical); otherwise the
UTM grid (zone of the scene centre) at ``pixel_size`` covering S1's footprint. Every raster
is read by window; a raster whose grid is not the target grid is read through a
``WarpedVRT`` onto it (S2 aligned onto S1), so memory stays bounded for large scenes.

Resampling: bilinear for both sensors by default. S1 given in dB is interpolated in dB
(an approximation; give linear power with ``"units": "linear"`` to interpolate in power).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np
import rasterio
from pyproj import Transformer
from pyproj.exceptions import CRSError as ProjCRSError
from pyproj.exceptions import ProjError
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import CRSError, RasterioError
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from ..errors import AlignmentError, ConfigError, RasterFormatError, SceneUnavailable, SourceError
from ..models import ROI, Acquisition, Grid, SceneRequest, Sensor, format_datetime
from ..preprocess import S1_BANDS, S2_BANDS
from ..seasons import SEASONS, season_by_name
from ..utm import to_lonlat, utm_epsg

SIDECAR = "scene.json"


_TOP_KEYS = {"season", "index", "kind", "lon", "lat", "s1", "s2", "notes", "source"}
_COMMON_KEYS = {
    "file", "bands", "files", "scale", "offset", "nodata", "datetime", "start_datetime", "end_datetime",
    "platform", "orbit_state", "relative_orbit", "product_ids", "notes", "processing_level",
}
_SENSOR_KEYS: dict[str, set[str]] = {"s1": _COMMON_KEYS | {"units"}, "s2": _COMMON_KEYS | {"cloud_cover"}}
_UNKNOWN = {None, "", "unknown", "UNKNOWN", "Unknown"}
_RESAMPLING = {"nearest": Resampling.nearest, "bilinear": Resampling.bilinear, "cubic": Resampling.cubic}
_MONTH_SEASON = {12: "winter", 1: "winter", 2: "winter", 3: "spring", 4: "spring", 5: "spring",
                 6: "summer", 7: "summer", 8: "summer", 9: "fall", 10: "fall", 11: "fall"}
_RIO_ERRORS = (RasterioError, CRSError)
_PROJ_ERRORS = (ProjCRSError, ProjError, CRSError, ValueError)
_READ_FIX = "re-export or re-download the file; `gdalinfo -checksum FILE` must run without errors"


# --------------------------------------------------------------------------- sidecar parsing


@dataclass(frozen=True)
class BandRef:
    """One band of one file. ``index`` is 1-based; None: find it by band description."""

    path: Path
    index: int | None


@dataclass(frozen=True)
class SensorSpec:
    sensor: Sensor
    bands: tuple[tuple[str, BandRef], ...]  # in output order: ("VV",) or ("B04", "B03", "B02")
    scale: float
    offset: float
    nodata: float | None  # overrides the file's nodata value when set
    units: Literal["db", "linear"]
    acquisition: Acquisition
    processing_level: str | None

    @property
    def paths(self) -> list[Path]:
        out: list[Path] = []
        for _, ref in self.bands:
            if ref.path not in out:
                out.append(ref.path)
        return out


@dataclass(frozen=True)
class SceneSpec:
    name: str  # folder name
    folder: Path
    sidecar: Path
    season: str
    explicit_index: int | None
    kind: Literal["land", "urban"]
    lon: float | None
    lat: float | None
    s1: SensorSpec | None
    s2: SensorSpec | None
    properties: dict[str, Any] = field(default_factory=dict, compare=False)


def _bad(sidecar: Path, key: str, problem: str, fix: str) -> ConfigError:
    return ConfigError(f"{sidecar}: key {key!r} {problem}", fix=fix)


def _parse_when(value: Any, sidecar: Path, key: str) -> datetime | date | None:
    if value in _UNKNOWN:
        return None
    if not isinstance(value, str):
        raise _bad(sidecar, key, f"is {value!r}, not an ISO 8601 string", 'write e.g. "2017-06-13T10:10:31Z", "2017-06-13", or "unknown"')
    text = value.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text)
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise _bad(sidecar, key, f"is {value!r}, not an ISO 8601 date or datetime",
                   'write e.g. "2017-06-13T10:10:31Z", "2017-06-13", or "unknown"') from None
    if dt.tzinfo is None:  # naive times are taken as UTC (Sentinel products are stamped in UTC)
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def _day_start(d: date | datetime) -> str:
    return format_datetime(d) if isinstance(d, datetime) else f"{d.isoformat()}T00:00:00Z"


def _day_end(d: date | datetime) -> str:
    return format_datetime(d) if isinstance(d, datetime) else f"{d.isoformat()}T23:59:59Z"


def _norm_band(name: str) -> str:
    n = name.strip().upper()
    m = re.fullmatch(r"B0?(\d)", n)
    return f"B0{m.group(1)}" if m else n


def _band_refs(sensor: str, sec: dict[str, Any], folder: Path, sidecar: Path) -> tuple[tuple[str, BandRef], ...]:
    wanted = S1_BANDS if sensor == "s1" else S2_BANDS
    refs: dict[str, BandRef] = {}

    def resolve(p: str, key: str) -> Path:
        if not isinstance(p, str) or not p.strip():
            raise _bad(sidecar, key, f"is {p!r}, not a file name", "name a GeoTIFF relative to the scene folder")
        path = Path(p)
        return path if path.is_absolute() else folder / path

    if "files" in sec:
        files = sec["files"]
        if not isinstance(files, dict):
            raise _bad(sidecar, f"{sensor}.files", "is not an object", f'map band names to files, e.g. {{"{wanted[0]}": "x.tif#1"}}')
        for name, target in files.items():
            key = f"{sensor}.files.{name}"
            if not isinstance(target, str):
                raise _bad(sidecar, key, f"is {target!r}, not a string", 'write "file.tif" or "file.tif#<band number>"')
            p, _, idx = target.partition("#")
            index: int | None = None
            if idx:
                if not idx.isdigit() or int(idx) < 1:
                    raise _bad(sidecar, key, f"has band {idx!r}", "band numbers after '#' are 1-based integers")
                index = int(idx)
            refs[_norm_band(name)] = BandRef(resolve(p, key), index if index is not None else 1)
    elif "file" in sec:
        path = resolve(sec["file"], f"{sensor}.file")
        bands = sec.get("bands")
        if bands is None:
            for name in wanted:
                refs[name] = BandRef(path, None)  # looked up by band description when the file is opened
        elif not isinstance(bands, dict):
            raise _bad(sidecar, f"{sensor}.bands", "is not an object", f'map band names to 1-based band numbers, e.g. {{"{wanted[0]}": 1}}')
        else:
            for name, index in bands.items():
                if isinstance(index, bool) or not isinstance(index, int) or index < 1:
                    raise _bad(sidecar, f"{sensor}.bands.{name}", f"is {index!r}", "band numbers are 1-based integers")
                refs[_norm_band(name)] = BandRef(path, index)
    else:
        raise _bad(sidecar, f"{sensor}.file", "is missing", f'name the raster: "file" (+ optional "bands") or "files" per band')
    missing = [b for b in wanted if b not in refs]
    if missing:
        raise _bad(sidecar, f"{sensor}.bands.{missing[0]}", "is missing",
                   f"give the band number (or file) of {', '.join(missing)}; {sensor.upper()} needs {', '.join(wanted)}")
    return tuple((b, refs[b]) for b in wanted)


def _number(sec: dict[str, Any], key: str, default: float | None, sidecar: Path, where: str) -> float | None:
    v = sec.get(key, default)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise _bad(sidecar, f"{where}.{key}", f"is {v!r}, not a number", f"write a number for {key}")
    return float(v)


def _sensor_spec(sensor: Sensor, sec: Any, folder: Path, sidecar: Path) -> SensorSpec | None:
    if sec is None:
        return None  # explicitly no acquisition for this sensor: the scene is unavailable
    if not isinstance(sec, dict):
        raise _bad(sidecar, sensor, "is not an object", f'give the {sensor.upper()} file and metadata, or null when there is none')
    unknown = sorted(set(sec) - _SENSOR_KEYS[sensor])
    if unknown:
        raise _bad(sidecar, f"{sensor}.{unknown[0]}", "is not a known key", f"use only {', '.join(sorted(_SENSOR_KEYS[sensor]))}")
    bands = _band_refs(sensor, sec, folder, sidecar)
    scale = _number(sec, "scale", 1.0, sidecar, sensor)
    offset = _number(sec, "offset", 0.0, sidecar, sensor)
    nodata = _number(sec, "nodata", None, sidecar, sensor)
    assert scale is not None and offset is not None
    if scale == 0:
        raise _bad(sidecar, f"{sensor}.scale", "is 0", "scale maps file values to physical units; use a non-zero factor (1 when values are already physical)")
    units = str(sec.get("units", "db")).lower()
    if units not in ("db", "linear"):
        raise _bad(sidecar, f"{sensor}.units", f"is {sec.get('units')!r}", 'use "db" (default) or "linear" (sigma0 power)')

    when = _parse_when(sec.get("datetime"), sidecar, f"{sensor}.datetime")
    start = _parse_when(sec.get("start_datetime"), sidecar, f"{sensor}.start_datetime")
    end = _parse_when(sec.get("end_datetime"), sidecar, f"{sensor}.end_datetime")
    dt_str = format_datetime(when) if isinstance(when, datetime) else None
    start_str = _day_start(start) if start else (_day_start(when) if isinstance(when, date) and not isinstance(when, datetime) else None)
    end_str = _day_end(end) if end else (_day_end(when) if isinstance(when, date) and not isinstance(when, datetime) else None)
    if start_str and end_str and start_str > end_str:
        raise _bad(sidecar, f"{sensor}.start_datetime", f"({start_str}) is after end_datetime ({end_str})", "swap them")
    if dt_str is None and not (start_str and end_str):
        # STAC needs a time or a range for every item: refuse here, before any pixel is processed
        raise _bad(sidecar, f"{sensor}.datetime", "is missing and so is a start_datetime/end_datetime range",
                   'give "datetime" (e.g. "2017-06-13T10:10:31Z" or a date "2017-06-13"), or "start_datetime" and "end_datetime" (at least the season window)')

    platform = sec.get("platform")
    platform = None if platform in _UNKNOWN else str(platform).strip().lower()
    orbit_state = sec.get("orbit_state")
    orbit_state = None if orbit_state in _UNKNOWN else str(orbit_state).strip().lower()
    if orbit_state not in (None, "ascending", "descending"):
        raise _bad(sidecar, f"{sensor}.orbit_state", f"is {sec.get('orbit_state')!r}", 'use "ascending", "descending" or "unknown"')
    rel = sec.get("relative_orbit")
    if rel in _UNKNOWN:
        rel = None
    elif isinstance(rel, bool) or not isinstance(rel, int) or rel < 1:
        raise _bad(sidecar, f"{sensor}.relative_orbit", f"is {rel!r}", "write the relative orbit number (a positive integer) or \"unknown\"")
    cc = sec.get("cloud_cover")
    if cc in _UNKNOWN:
        cc = None
    elif isinstance(cc, bool) or not isinstance(cc, (int, float)) or not 0.0 <= cc <= 100.0:
        raise _bad(sidecar, f"{sensor}.cloud_cover", f"is {cc!r}", "write a percentage 0..100 or \"unknown\"")
    pids = sec.get("product_ids", [])
    if isinstance(pids, str):
        pids = [pids]
    if not isinstance(pids, list) or not all(isinstance(p, str) for p in pids):
        raise _bad(sidecar, f"{sensor}.product_ids", "is not a list of strings", "list the source product ids, or []")
    level = sec.get("processing_level")
    acq = Acquisition(
        sensor=sensor,
        datetime=dt_str,  # type: ignore[arg-type]  # None when the sidecar does not know the time
        platform=platform,  # type: ignore[arg-type]  # None when unknown
        constellation="sentinel-1" if sensor == "s1" else "sentinel-2",
        instrument="c-sar" if sensor == "s1" else "msi",
        orbit_state=orbit_state,
        relative_orbit=rel,
        cloud_cover=float(cc) if cc is not None else None,
        product_ids=tuple(pids),
        start_datetime=start_str,
        end_datetime=end_str,
    )
    return SensorSpec(sensor, bands, scale, offset, nodata, units, acq, None if level in _UNKNOWN else str(level))  # type: ignore[arg-type]


def _first_date(spec: SensorSpec | None) -> str | None:
    if spec is None:
        return None
    return spec.acquisition.datetime or spec.acquisition.start_datetime


def read_sidecar(sidecar: Path) -> SceneSpec:
    """Parse and validate one ``scene.json``; raise :class:`ConfigError` naming the file and key."""
    folder = sidecar.parent
    try:
        doc = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{sidecar}: cannot read the sidecar ({e})", fix="make it a readable UTF-8 JSON file") from e
    except json.JSONDecodeError as e:
        raise ConfigError(f"{sidecar}: invalid JSON at line {e.lineno} column {e.colno} ({e.msg})", fix="fix the JSON syntax") from e
    if not isinstance(doc, dict):
        raise ConfigError(f"{sidecar}: the sidecar is not a JSON object", fix='write {"season": ..., "s1": {...}, "s2": {...}}')
    unknown = sorted(set(doc) - _TOP_KEYS)
    if unknown:
        raise _bad(sidecar, unknown[0], "is not a known key", f"use only {', '.join(sorted(_TOP_KEYS))}")
    for sensor in ("s1", "s2"):
        if sensor not in doc:
            raise _bad(sidecar, sensor, "is missing", f'describe the {sensor.upper()} raster, or write "{sensor}": null when the scene has none')
    s1 = _sensor_spec("s1", doc["s1"], folder, sidecar)
    s2 = _sensor_spec("s2", doc["s2"], folder, sidecar)

    season = doc.get("season")
    if season is None:
        when = _first_date(s2) or _first_date(s1)
        if when is None:
            raise _bad(sidecar, "season", "is missing and no acquisition date gives it",
                       f"set \"season\" to one of {', '.join(SEASONS)}")
        season = _MONTH_SEASON[int(when[5:7])]
    elif not isinstance(season, str) or season.strip().lower() not in SEASONS:
        raise _bad(sidecar, "season", f"is {season!r}, an unknown season", f"set it to one of {', '.join(SEASONS)}")
    season = season.strip().lower()

    index = doc.get("index")
    if index is not None and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
        raise _bad(sidecar, "index", f"is {index!r}", "use a non-negative integer scene number, or omit it")
    kind = doc.get("kind", "land")
    if kind not in ("land", "urban"):
        raise _bad(sidecar, "kind", f"is {kind!r}", 'use "land" or "urban"')
    lon, lat = doc.get("lon"), doc.get("lat")
    if (lon is None) != (lat is None):
        raise _bad(sidecar, "lat" if lat is None else "lon", "is missing", "give both lon and lat (WGS84 degrees) or neither")
    if lon is not None:
        ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lon, lat))
        if not ok or not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise _bad(sidecar, "lon", f"/lat ({lon!r}, {lat!r}) are not WGS84 degrees", "write decimal degrees, lon in -180..180, lat in -90..90")
    props: dict[str, Any] = {k: doc[k] for k in ("notes", "source") if k in doc}
    for sensor, spec in (("s1", s1), ("s2", s2)):
        if spec is not None and spec.processing_level:
            props[f"{sensor}:processing_level"] = spec.processing_level
    return SceneSpec(folder.name, folder, sidecar, season, index, kind,
                     float(lon) if lon is not None else None, float(lat) if lat is not None else None, s1, s2, props)


# --------------------------------------------------------------------------- raster access


def _open_raster(path: Path, sensor: Sensor, sidecar: Path) -> rasterio.io.DatasetReader:
    if not path.is_file():
        raise SceneUnavailable(
            f"{sensor.upper()} file {path} named in {sidecar} does not exist",
            fix=f"put the {sensor.upper()} GeoTIFF there or correct the file name in the sidecar; "
                f"write \"{sensor}\": null when the scene has no {sensor.upper()} acquisition",
        )
    try:
        ds = rasterio.open(path)
    except (*_RIO_ERRORS, OSError) as e:
        raise RasterFormatError(f"{sensor.upper()} file {path} is not a readable GeoTIFF ({e})", fix=_READ_FIX) from e
    if ds.crs is None:
        ds.close()
        raise RasterFormatError(
            f"{sensor.upper()} file {path} has no CRS",
            fix=f"assign the CRS it was exported in, e.g. `rio edit-info --crs EPSG:32633 {path.name}`, or re-export it georeferenced",
        )
    if ds.transform.is_identity:
        ds.close()
        raise RasterFormatError(
            f"{sensor.upper()} file {path} has no geotransform (pixel coordinates only)",
            fix=f"re-export it georeferenced, or set one with `rio edit-info --transform ... {path.name}`",
        )
    return ds


def _resolve_index(ds: Any, ref: BandRef, band: str, sensor: Sensor, sidecar: Path) -> int:
    if ref.index is None:
        wanted = {band.upper(), band.upper().replace("B0", "B")}
        hits = [i + 1 for i, d in enumerate(ds.descriptions) if d and d.strip().upper() in wanted]
        if len(hits) == 1:
            return hits[0]
        if sensor == "s1" and ds.count == 1:
            return 1
        raise RasterFormatError(
            f"{sensor.upper()} file {ref.path} has {ds.count} bands and none described as {band}",
            fix=f'set "{sensor}": {{"bands": {{"{band}": <1-based band number>}}}} in {sidecar}',
        )
    if not 1 <= ref.index <= ds.count:
        raise RasterFormatError(
            f"{sensor.upper()} file {ref.path} has no band {ref.index} (it has {ds.count}) for {band}",
            fix=f"correct the band number of {band} in {sidecar} (1..{ds.count})",
        )
    return ref.index


def _check_blocks(ds: Any, path: Path, index: int, sensor: Sensor) -> None:
    """Detect a truncated GeoTIFF when the scene is opened, not mid-scene: every block of the
    band must end inside the file (GDAL's TIFF block table: BLOCK_OFFSET_x_y / BLOCK_SIZE_x_y)."""
    if ds.driver != "GTiff":
        return
    size = path.stat().st_size
    bh, bw = ds.block_shapes[index - 1]
    for y in range(math.ceil(ds.height / bh)):
        for x in range(math.ceil(ds.width / bw)):
            off = ds.get_tag_item(f"BLOCK_OFFSET_{x}_{y}", "TIFF", bidx=index)
            n = ds.get_tag_item(f"BLOCK_SIZE_{x}_{y}", "TIFF", bidx=index)
            if off is None or n is None:
                return  # block table not exposed: reads will report corruption instead
            end = int(off) + int(n)
            if end > size:
                raise RasterFormatError(
                    f"{sensor.upper()} file {path} is truncated: block ({x}, {y}) of band {index} ends at byte {end} "
                    f"but the file has {size} bytes",
                    fix=_READ_FIX,
                )


def _is_utm(crs: CRS) -> bool:
    epsg = crs.to_epsg()
    return epsg is not None and (32601 <= epsg <= 32660 or 32701 <= epsg <= 32760)


def _bounds_in(ds: Any, dst_crs: str, path: Path, sensor: Sensor) -> tuple[float, float, float, float]:
    try:
        # pyproj says "no coordinate operation" with a public error (ProjError); rasterio would
        # raise a GDAL error class it does not export (rasterio._err is private)
        Transformer.from_crs(ds.crs.to_wkt(), dst_crs)
        b = transform_bounds(ds.crs, dst_crs, *ds.bounds, densify_pts=21)
    except (*_RIO_ERRORS, *_PROJ_ERRORS, RuntimeError) as e:
        raise AlignmentError(
            f"{sensor.upper()} file {path}: its CRS ({ds.crs}) cannot be reprojected to {dst_crs} ({e})",
            fix="re-export the file in a standard CRS (UTM or EPSG:4326)",
        ) from e
    if not all(math.isfinite(v) for v in b):
        raise AlignmentError(
            f"{sensor.upper()} file {path}: its footprint in {ds.crs} does not map into {dst_crs}",
            fix="re-export the file in a standard CRS (UTM or EPSG:4326)",
        )
    return b


def _fmt(b: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:.1f}" for v in b) + ")"


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def _lattice_offset(ds: Any, grid: Grid) -> tuple[int, int] | None:
    """(col, row) of the grid's origin in the file's pixels when both share one pixel lattice, else None."""
    t, g = ds.transform, grid.affine
    if t.b != 0 or t.d != 0 or g.b != 0 or g.d != 0:
        return None
    if not (math.isclose(t.a, g.a, rel_tol=1e-9) and math.isclose(t.e, g.e, rel_tol=1e-9)):
        return None
    try:
        if CRS.from_user_input(grid.crs) != ds.crs:
            return None
    except CRSError:
        return None
    dc, dr = (g.c - t.c) / t.a, (g.f - t.f) / t.e
    if abs(dc - round(dc)) > 1e-6 or abs(dr - round(dr)) > 1e-6:
        return None
    return int(round(dc)), int(round(dr))


class _FileReader:
    """One open file read onto the target grid: direct windows when it shares the grid's pixel
    lattice (values untouched), else through a WarpedVRT. Returns float32 with NaN for no-data."""

    def __init__(self, ds: Any, path: Path, sensor: Sensor, grid: Grid, resampling: Resampling, nodata: float | None) -> None:
        self.ds, self.path, self.sensor = ds, path, sensor
        self.nodata = nodata if nodata is not None else ds.nodata
        self.offset = _lattice_offset(ds, grid)
        self.vrt: WarpedVRT | None = None
        if self.offset is None:
            self.vrt = WarpedVRT(
                ds, crs=grid.crs, transform=grid.affine, width=grid.width, height=grid.height,
                resampling=resampling, src_nodata=self.nodata, nodata=np.nan, dtype="float32", tolerance=0.001,
            )

    @property
    def warped(self) -> bool:
        return self.vrt is not None

    def read(self, index: int, window: Window) -> np.ndarray:
        c0, r0, w, h = int(window.col_off), int(window.row_off), int(window.width), int(window.height)
        try:
            if self.vrt is not None:
                return self.vrt.read(index, window=Window(c0, r0, w, h)).astype(np.float32, copy=False)
            dc, dr = self.offset  # type: ignore[misc]
            out = np.full((h, w), np.nan, dtype=np.float32)
            sc0, sr0 = c0 + dc, r0 + dr
            ic0, ir0 = max(sc0, 0), max(sr0, 0)
            ic1, ir1 = min(sc0 + w, self.ds.width), min(sr0 + h, self.ds.height)
            if ic1 > ic0 and ir1 > ir0:
                part = self.ds.read(index, window=Window(ic0, ir0, ic1 - ic0, ir1 - ir0))
                part = part.astype(np.float32, copy=False)
                if self.nodata is not None and not math.isnan(self.nodata):
                    part = np.where(part == np.float32(self.nodata), np.float32(np.nan), part)
                out[ir0 - sr0: ir1 - sr0, ic0 - sc0: ic1 - sc0] = part
            return out
        except (*_RIO_ERRORS, OSError) as e:
            if isinstance(e, SourceError):
                raise
            raise RasterFormatError(
                f"{self.sensor.upper()} file {self.path}: reading band {index} failed ({e}); the file is truncated or corrupt",
                fix=_READ_FIX,
            ) from e

    def close(self) -> None:
        if self.vrt is not None:
            self.vrt.close()
            self.vrt = None
        self.ds.close()


# --------------------------------------------------------------------------- scene


def _grid_of(ds: Any, path: Path, sensor: Sensor, pixel_size: float) -> Grid:
    """The file's own grid when it is a ``pixel_size`` UTM grid, else the covering UTM grid."""
    t = ds.transform
    if (
        _is_utm(ds.crs) and t.b == 0 and t.d == 0
        and math.isclose(t.a, pixel_size, rel_tol=1e-9) and math.isclose(t.e, -pixel_size, rel_tol=1e-9)
    ):
        return Grid(f"EPSG:{ds.crs.to_epsg()}", (t.a, 0.0, t.c, 0.0, t.e, t.f), ds.width, ds.height)
    cx, cy = (ds.bounds.left + ds.bounds.right) / 2.0, (ds.bounds.bottom + ds.bounds.top) / 2.0
    try:
        lon, lat = to_lonlat(ds.crs.to_wkt(), cx, cy)
    except _PROJ_ERRORS as e:
        raise AlignmentError(f"{sensor.upper()} file {path}: its CRS ({ds.crs}) cannot be reprojected ({e})",
                             fix="re-export the file in a standard CRS (UTM or EPSG:4326)") from e
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise AlignmentError(f"{sensor.upper()} file {path}: its centre does not map to WGS84",
                             fix="re-export the file in a standard CRS (UTM or EPSG:4326)")
    crs = f"EPSG:{utm_epsg(lon, lat)}"
    x0, y0, x1, y1 = _bounds_in(ds, crs, path, sensor)
    px = pixel_size
    gx0, gy1 = math.floor(x0 / px) * px, math.ceil(y1 / px) * px
    gx1, gy0 = math.ceil(x1 / px) * px, math.floor(y0 / px) * px
    return Grid(crs, (px, 0.0, float(gx0), 0.0, -px, float(gy1)), int(round((gx1 - gx0) / px)), int(round((gy1 - gy0) / px)))


class LocalScene:
    """An S1/S2 pair of one local scene, read by window on ``grid`` (implements ``SceneRaster``).

    Not thread-safe (one open dataset per file): use one scene per worker. Picklable: the
    open datasets are dropped and reopened lazily on the other side.
    """

    def __init__(self, spec: SceneSpec, grid: Grid, *, resampling: Resampling = Resampling.bilinear) -> None:
        if spec.s1 is None or spec.s2 is None:
            missing = "S1" if spec.s1 is None else "S2"
            raise SceneUnavailable(f"scene {spec.name} has no {missing} acquisition ({spec.sidecar} says null)",
                                   fix=f"add the {missing} file to {spec.folder} and describe it in the sidecar")
        self.spec = spec
        self.grid = grid
        self.s1: Acquisition = spec.s1.acquisition
        self.s2: Acquisition = spec.s2.acquisition
        self.properties = dict(spec.properties)
        self.resampling = resampling
        self._readers: dict[Path, _FileReader] = {}
        self._s1_bands: list[tuple[Path, int]] = []
        self._s2_bands: list[tuple[Path, int]] = []
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    # -- opening and validation
    def _open(self) -> None:
        spec, grid = self.spec, self.grid
        assert spec.s1 is not None and spec.s2 is not None
        # every file must exist before any is judged: a missing sensor is "unavailable", not "broken"
        for sensor_spec in (spec.s1, spec.s2):
            for path in sensor_spec.paths:
                if not path.is_file():
                    _open_raster(path, sensor_spec.sensor, spec.sidecar)  # raises SceneUnavailable
        grid_bounds = grid.bounds
        s1_footprint: tuple[float, float, float, float] | None = None
        s1_path: Path | None = None
        for sensor_spec in (spec.s1, spec.s2):
            out = self._s1_bands if sensor_spec.sensor == "s1" else self._s2_bands
            for band, ref in sensor_spec.bands:
                if ref.path not in self._readers:
                    ds = _open_raster(ref.path, sensor_spec.sensor, spec.sidecar)
                    try:
                        fp = _bounds_in(ds, grid.crs, ref.path, sensor_spec.sensor)
                        if sensor_spec.sensor == "s1":
                            s1_footprint = fp if s1_footprint is None else s1_footprint
                            s1_path = s1_path or ref.path
                        elif s1_footprint is not None and _overlap(fp, s1_footprint) <= 0:
                            raise AlignmentError(
                                f"S2 file {ref.path} does not overlap S1 file {s1_path} "
                                f"(in {grid.crs}: S2 {_fmt(fp)}, S1 {_fmt(s1_footprint)})",
                                fix=f"pair files of the same area in {spec.sidecar}: the S2 and S1 footprints must intersect",
                            )
                        if _overlap(fp, grid_bounds) <= 0:
                            raise AlignmentError(
                                f"{sensor_spec.sensor.upper()} file {ref.path} does not overlap the requested grid "
                                f"({grid.crs} {_fmt(grid_bounds)}; the file covers {_fmt(fp)} there)",
                                fix=f"request the grid LocalSource.grid_for() returns for scene {spec.name}",
                            )
                        self._readers[ref.path] = _FileReader(ds, ref.path, sensor_spec.sensor, grid, self.resampling, sensor_spec.nodata)
                    except BaseException:
                        ds.close()
                        raise
                index = _resolve_index(self._readers[ref.path].ds, ref, band, sensor_spec.sensor, spec.sidecar)
                _check_blocks(self._readers[ref.path].ds, ref.path, index, sensor_spec.sensor)
                out.append((ref.path, index))

    def _reader(self, path: Path, sensor: Sensor) -> _FileReader:
        r = self._readers.get(path)
        if r is None:  # reopened after pickling
            sensor_spec = self.spec.s1 if sensor == "s1" else self.spec.s2
            assert sensor_spec is not None
            ds = _open_raster(path, sensor, self.spec.sidecar)
            r = self._readers[path] = _FileReader(ds, path, sensor, self.grid, self.resampling, sensor_spec.nodata)
        return r

    def _check(self, window: Window) -> None:
        c0, r0, w, h = window.col_off, window.row_off, window.width, window.height
        ints = all(float(v).is_integer() for v in (c0, r0, w, h))
        if not ints or c0 < 0 or r0 < 0 or w < 1 or h < 1 or c0 + w > self.grid.width or r0 + h > self.grid.height:
            raise SourceError(
                f"window {window} of scene {self.spec.name} lies outside its {self.grid.width}x{self.grid.height} grid",
                fix="read integer windows inside the scene grid",
            )

    # -- SceneRaster
    def read_s1(self, window: Window) -> np.ndarray:
        """float32 (1, h, w) sigma0 VV in dB, NaN for no-data."""
        self._check(window)
        s1 = self.spec.s1
        assert s1 is not None
        path, index = self._s1_bands[0]
        a = self._reader(path, "s1").read(index, window)
        if s1.scale != 1.0 or s1.offset != 0.0:
            a = a * np.float32(s1.scale) + np.float32(s1.offset)
        if s1.units == "linear":
            with np.errstate(divide="ignore", invalid="ignore"):
                a = np.where(a > 0, np.float32(10.0) * np.log10(a), np.float32(np.nan)).astype(np.float32)
        a[~np.isfinite(a)] = np.nan
        return a[np.newaxis].astype(np.float32, copy=False)

    def read_s2(self, window: Window) -> np.ndarray:
        """uint16 (3, h, w) B4, B3, B2 reflectance x 10000; 0 where any band is no-data."""
        self._check(window)
        s2 = self.spec.s2
        assert s2 is not None
        h, w = int(window.height), int(window.width)
        out = np.zeros((3, h, w), dtype=np.uint16)
        invalid = np.zeros((h, w), dtype=bool)
        for i, (path, index) in enumerate(self._s2_bands):
            a = self._reader(path, "s2").read(index, window)
            if s2.scale != 1.0 or s2.offset != 0.0:
                a = a * np.float32(s2.scale) + np.float32(s2.offset)
            bad = ~np.isfinite(a) | (a <= 0)
            invalid |= bad
            out[i] = np.clip(np.rint(np.where(bad, 1, a)), 1, 65535).astype(np.uint16)
        out[:, invalid] = 0
        return out

    def seam_mask(self, window: Window) -> np.ndarray | None:
        """Local files carry no mosaic seamline information."""
        self._check(window)
        return None

    def close(self) -> None:
        for r in self._readers.values():
            r.close()
        self._readers = {}

    @property
    def warped(self) -> dict[str, bool]:
        """Per sensor: True when any of its files is resampled onto the grid (False: pass-through)."""
        return {
            "s1": any(self._reader(p, "s1").warped for p, _ in self._s1_bands),
            "s2": any(self._reader(p, "s2").warped for p, _ in self._s2_bands),
        }

    def __enter__(self) -> "LocalScene":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_readers"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


# --------------------------------------------------------------------------- source


class LocalSource:
    """Scenes from ``<root>/<scene>/scene.json`` folders (implements ``models.Source``).

    Sidecars are read and validated when the source is built (a bad one raises
    :class:`ConfigError`); rasters are opened per scene, so a broken file fails only its scene.
    """

    name = "local"

    def __init__(self, root: Path | str, *, pixel_size: float = 10.0, resampling: str = "bilinear") -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise ConfigError(f"local source folder {self.root} does not exist",
                              fix="point the local source at a folder of <scene>/scene.json folders (see docs/sources.md)")
        if not (isinstance(pixel_size, (int, float)) and math.isfinite(pixel_size) and pixel_size > 0):
            raise ConfigError(f"pixel size {pixel_size!r} is not a positive number", fix="use metres, e.g. 10.0")
        if resampling not in _RESAMPLING:
            raise ConfigError(f"resampling {resampling!r} is not supported", fix=f"use one of {', '.join(_RESAMPLING)}")
        self.pixel_size = float(pixel_size)
        self.resampling = resampling
        self.scenes: list[SceneSpec] = [
            read_sidecar(p / SIDECAR) for p in sorted(self.root.iterdir()) if p.is_dir() and (p / SIDECAR).is_file()
        ]
        if not self.scenes:
            raise ConfigError(f"local source folder {self.root} holds no scene folders with a {SIDECAR}",
                              fix=f"create <scene>/{SIDECAR} per scene (see docs/sources.md), e.g. with scripts/real_samples_to_local.py")
        self._index: dict[tuple[str, int], SceneSpec] = {}
        for season in SEASONS.values():
            members = [s for s in self.scenes if s.season == season.name]
            used: dict[int, SceneSpec] = {}
            for s in members:
                if s.explicit_index is not None:
                    if s.explicit_index in used:
                        raise ConfigError(
                            f"{s.sidecar}: key 'index' is {s.explicit_index}, also used by {used[s.explicit_index].sidecar} in season {season.name}",
                            fix="give each scene of a season its own index, or omit it to number scenes by folder order",
                        )
                    used[s.explicit_index] = s
            nxt = 0
            for s in members:  # folder-name order
                if s.explicit_index is None:
                    while nxt in used:
                        nxt += 1
                    used[nxt] = s
            for i, s in used.items():
                self._index[(season.set_name, i)] = s
        self._rois: dict[str, list[ROI]] = {}

    # -- helpers
    def scene_for(self, roi: ROI) -> SceneSpec:
        try:
            return self._index[(roi.set_name, roi.index)]
        except KeyError:
            raise ConfigError(f"ROI {roi.scene_id} is not a scene of the local source at {self.root}",
                              fix="use the ROIs that LocalSource.rois() returns") from None

    def _centre(self, spec: SceneSpec) -> tuple[float, float]:
        if spec.lon is not None and spec.lat is not None:
            return spec.lon, spec.lat
        errors: list[str] = []
        for sensor_spec in (spec.s1, spec.s2):
            if sensor_spec is None:
                continue
            path = sensor_spec.bands[0][1].path
            try:
                ds = _open_raster(path, sensor_spec.sensor, spec.sidecar)
            except (SourceError, SceneUnavailable) as e:
                errors.append(str(e))
                continue
            with ds:
                b = ds.bounds
                try:
                    lon, lat = to_lonlat(ds.crs.to_wkt(), (b.left + b.right) / 2.0, (b.bottom + b.top) / 2.0)
                except _PROJ_ERRORS as e:
                    errors.append(f"{path}: {e}")
                    continue
                if math.isfinite(lon) and math.isfinite(lat):
                    return lon, lat
        raise ConfigError(
            f"{spec.sidecar}: cannot place scene {spec.name}: no readable raster and no 'lon'/'lat' ({'; '.join(errors)})",
            fix="fix the raster files, or add \"lon\" and \"lat\" (the scene centre) to the sidecar",
        )

    def _grid(self, spec: SceneSpec) -> Grid:
        for sensor_spec in (spec.s1, spec.s2):
            if sensor_spec is None:
                continue
            path = sensor_spec.bands[0][1].path
            ds = _open_raster(path, sensor_spec.sensor, spec.sidecar)
            with ds:
                return _grid_of(ds, path, sensor_spec.sensor, self.pixel_size)
        raise SceneUnavailable(f"scene {spec.name} has neither S1 nor S2 ({spec.sidecar})", fix="add the rasters")

    # -- Source
    def rois(self, season_name: str) -> list[ROI]:
        """One ROI per scene of the season, ordered by index; lon/lat is the scene centre."""
        season = season_by_name(season_name)
        if season.name not in self._rois:
            out = [
                ROI(season.set_name, idx, *self._centre(spec), spec.kind)
                for (set_name, idx), spec in sorted(self._index.items(), key=lambda kv: kv[0][1])
                if set_name == season.set_name
            ]
            self._rois[season.name] = out
        return list(self._rois[season.name])

    def grid_for(self, roi: ROI, default: Grid) -> Grid:
        """S1's grid when it is a ``pixel_size`` UTM grid; else the UTM grid of the scene centre
        covering S1's footprint. ``default`` is used only when neither raster can be read (then
        :meth:`open_scene` raises the precise error for the scene)."""
        spec = self.scene_for(roi)
        try:
            return self._grid(spec)
        except (SourceError, SceneUnavailable):
            if spec.s1 is not None and spec.s2 is not None:
                # S1 unusable: fall back to S2's grid so open_scene reports the S1 problem itself
                try:
                    return self._grid(replace(spec, s1=None))
                except (SourceError, SceneUnavailable):
                    pass
            return default

    def open_scene(self, request: SceneRequest) -> LocalScene:
        """Open the scene's pair on ``request.grid``. Raises SceneUnavailable (a sensor's file is
        absent), RasterFormatError (unreadable, no CRS, missing band), AlignmentError (no overlap,
        CRS not reprojectable)."""
        spec = self.scene_for(request.roi)
        if season_by_name(request.season_name).set_name != request.roi.set_name:
            raise ConfigError(f"season {request.season_name!r} does not match ROI set {request.roi.set_name}",
                              fix="request each ROI with the season it was listed for")
        return LocalScene(spec, request.grid, resampling=_RESAMPLING[self.resampling])
