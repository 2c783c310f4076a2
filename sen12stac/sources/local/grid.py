"""Where a local scene lies: footprints in another CRS, overlaps, and the scene's grid (the
file's own when it is a ``pixel_size`` UTM grid, else the covering UTM grid of its centre)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pyproj import Transformer
from pyproj.exceptions import CRSError as ProjCRSError
from pyproj.exceptions import ProjError
from rasterio.crs import CRS
from rasterio.errors import CRSError
from rasterio.warp import transform_bounds

from ...errors import AlignmentError
from ...models import Grid, Sensor
from ...utm import to_lonlat, utm_epsg
from .rasters import RIO_ERRORS

PROJ_ERRORS = (ProjCRSError, ProjError, CRSError, ValueError)
_CRS_FIX = "re-export the file in a standard CRS (UTM or EPSG:4326)"


def is_utm(crs: CRS) -> bool:
    epsg = crs.to_epsg()
    return epsg is not None and (32601 <= epsg <= 32660 or 32701 <= epsg <= 32760)


def bounds_in(ds: Any, dst_crs: str, path: Path, sensor: Sensor) -> tuple[float, float, float, float]:
    """The file's footprint in ``dst_crs``; AlignmentError when it does not map there."""
    try:
        # pyproj says "no coordinate operation" with a public error (ProjError); rasterio would
        # raise a GDAL error class it does not export (rasterio._err is private)
        Transformer.from_crs(ds.crs.to_wkt(), dst_crs)
        b = transform_bounds(ds.crs, dst_crs, *ds.bounds, densify_pts=21)
    except (*RIO_ERRORS, *PROJ_ERRORS, RuntimeError) as e:
        raise AlignmentError(
            f"{sensor.upper()} file {path}: its CRS ({ds.crs}) cannot be reprojected to {dst_crs} ({e})",
            fix=_CRS_FIX,
        ) from e
    if not all(math.isfinite(v) for v in b):
        raise AlignmentError(
            f"{sensor.upper()} file {path}: its footprint in {ds.crs} does not map into {dst_crs}",
            fix=_CRS_FIX,
        )
    return b


def fmt_bounds(b: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:.1f}" for v in b) + ")"


def overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Area shared by two (x0, y0, x1, y1) boxes; 0 when they only touch or are apart."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def grid_of(ds: Any, path: Path, sensor: Sensor, pixel_size: float) -> Grid:
    """The file's own grid when it is a ``pixel_size`` UTM grid, else the covering UTM grid."""
    t = ds.transform
    if (
        is_utm(ds.crs) and t.b == 0 and t.d == 0
        and math.isclose(t.a, pixel_size, rel_tol=1e-9) and math.isclose(t.e, -pixel_size, rel_tol=1e-9)
    ):
        return Grid(f"EPSG:{ds.crs.to_epsg()}", (t.a, 0.0, t.c, 0.0, t.e, t.f), ds.width, ds.height)
    cx, cy = (ds.bounds.left + ds.bounds.right) / 2.0, (ds.bounds.bottom + ds.bounds.top) / 2.0
    try:
        lon, lat = to_lonlat(ds.crs.to_wkt(), cx, cy)
    except PROJ_ERRORS as e:
        raise AlignmentError(f"{sensor.upper()} file {path}: its CRS ({ds.crs}) cannot be reprojected ({e})",
                             fix=_CRS_FIX) from e
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise AlignmentError(f"{sensor.upper()} file {path}: its centre does not map to WGS84", fix=_CRS_FIX)
    crs = f"EPSG:{utm_epsg(lon, lat)}"
    x0, y0, x1, y1 = bounds_in(ds, crs, path, sensor)
    px = pixel_size
    gx0, gy1 = math.floor(x0 / px) * px, math.ceil(y1 / px) * px
    gx1, gy0 = math.ceil(x1 / px) * px, math.floor(y0 / px) * px
    return Grid(crs, (px, 0.0, float(gx0), 0.0, -px, float(gy1)), int(round((gx1 - gx0) / px)), int(round((gy1 - gy0) / px)))
