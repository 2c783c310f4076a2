"""UTM helpers: the zone of a point, and the recipe's square 10 m grid around it.

Zones follow the UTM/MGRS convention Sentinel-2 tiles use, including the two
exceptions: zone 32V is widened over south-west Norway (3-12 E, 56-64 N) and the
Svalbard band (72-84 N) uses zones 31, 33, 35 and 37 only. The zone number comes from the
``utm`` package, which applies both; pyproj's CRS database (``query_utm_crs_info``) knows
neither exception and answers two zones on each zone edge (bench/bench_libs.py).
"""
from __future__ import annotations

import math
from functools import lru_cache

from pyproj import Transformer
from utm import latlon_to_zone_number

from .errors import ConfigError
from .models import Grid

UTM_MIN_LAT = -80.0
UTM_MAX_LAT = 84.0


def _check_lonlat(lon: float, lat: float) -> tuple[float, float]:
    try:
        lon_f, lat_f = float(lon), float(lat)
    except (TypeError, ValueError):
        raise ConfigError(f"longitude/latitude ({lon!r}, {lat!r}) are not numbers", fix="pass decimal degrees") from None
    if not (math.isfinite(lon_f) and math.isfinite(lat_f)) or not -180.0 <= lon_f <= 180.0:
        raise ConfigError(
            f"longitude {lon!r} is outside -180..180", fix="pass WGS84 decimal degrees (lon, lat), longitude first"
        )
    if not UTM_MIN_LAT <= lat_f <= UTM_MAX_LAT:
        raise ConfigError(
            f"latitude {lat!r} is outside the UTM range {UTM_MIN_LAT:g}..{UTM_MAX_LAT:g}",
            fix="pick a point inside Sentinel-2 coverage (56 S to 83 N); polar UPS grids are not supported",
        )
    return lon_f, lat_f


def utm_zone(lon: float, lat: float) -> int:
    """UTM zone number (1..60) of a WGS84 point, with the Norway and Svalbard exceptions."""
    lon, lat = _check_lonlat(lon, lat)
    return int(latlon_to_zone_number(lat, lon))  # 180 E wraps to zone 1, as -180


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS84 / UTM zone containing ``(lon, lat)``: 326zz north, 327zz south."""
    lon, lat = _check_lonlat(lon, lat)
    return (32600 if lat >= 0.0 else 32700) + utm_zone(lon, lat)


@lru_cache(maxsize=128)
def _to_crs(crs: str) -> Transformer:
    return Transformer.from_crs("EPSG:4326", crs, always_xy=True)


@lru_cache(maxsize=128)
def _from_crs(crs: str) -> Transformer:
    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True)


def lonlat_to(crs: str, lon: float, lat: float) -> tuple[float, float]:
    """Project a WGS84 point into ``crs`` (e.g. ``"EPSG:32633"``)."""
    x, y = _to_crs(crs).transform(lon, lat)
    return float(x), float(y)


def to_lonlat(crs: str, x: float, y: float) -> tuple[float, float]:
    """Unproject a point of ``crs`` to WGS84 (lon, lat)."""
    lon, lat = _from_crs(crs).transform(x, y)
    return float(lon), float(lat)


def default_grid(lon: float, lat: float, size_px: int, pixel_size: float = 10.0) -> Grid:
    """A north-up ``size_px`` x ``size_px`` grid centred on ``(lon, lat)`` in its UTM zone.

    The upper-left corner is snapped to whole multiples of ``pixel_size`` (so grids of
    nearby ROIs in one zone share pixel edges), which moves the centre by at most half
    a pixel from the point.
    """
    if int(size_px) != size_px or size_px < 1:
        raise ConfigError(f"grid size {size_px!r} px is not a positive integer", fix="pass the scene size in pixels, e.g. 4480")
    if not (isinstance(pixel_size, (int, float)) and math.isfinite(pixel_size) and pixel_size > 0):
        raise ConfigError(f"pixel size {pixel_size!r} is not a positive number", fix="pass metres per pixel, e.g. 10.0")
    size_px = int(size_px)
    crs = f"EPSG:{utm_epsg(lon, lat)}"
    cx, cy = lonlat_to(crs, lon, lat)
    half = size_px * pixel_size / 2.0
    x0 = round((cx - half) / pixel_size) * pixel_size
    y0 = round((cy + half) / pixel_size) * pixel_size
    return Grid(crs, (float(pixel_size), 0.0, float(x0), 0.0, -float(pixel_size), float(y0)), size_px, size_px)
