"""Where a patch grid lies on Earth: its WGS84 footprint and bbox (RFC 7946, split at the
antimeridian), its bounds in its own CRS and the ``proj:`` code of its CRS."""
from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

from ..errors import ValidationFailed
from ..models import Grid

COORD_DIGITS = 7  # ~1 cm at the equator: small files, stable across PROJ versions
DENSIFY = 1  # segments per patch edge in the WGS84 footprint: the 4 corners. A 2.56 km UTM edge is straight in lon/lat to ~0.15 m (tests/test_stac.py), under 2 % of a pixel; a 16-point ring cost 3x the bytes in every item for that


_EPSG_CODE = re.compile(r"^[A-Za-z]+:\d+$")


@lru_cache(maxsize=128)
def _transformer(crs: str):
    from pyproj import Transformer

    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True)


@lru_cache(maxsize=128)
def proj_fields(crs: str) -> tuple[tuple[str, Any], ...]:
    if _EPSG_CODE.match(crs):
        return (("proj:code", crs.upper()),)
    from pyproj import CRS

    c = CRS.from_user_input(crs)
    epsg = c.to_epsg()
    if epsg is not None:
        return (("proj:code", f"EPSG:{epsg}"),)
    return (("proj:code", None), ("proj:wkt2", c.to_wkt()))


def grid_bounds(grid: Grid) -> list[float]:
    """[minx, miny, maxx, maxy] of a grid in its own CRS (corners of the outer pixel edges)."""
    ta, tb, tc, td, te, tf = grid.transform
    xs = [tc + ta * c + tb * r for c, r in ((0, 0), (grid.width, 0), (0, grid.height), (grid.width, grid.height))]
    ys = [tf + td * c + te * r for c, r in ((0, 0), (grid.width, 0), (0, grid.height), (grid.width, grid.height))]
    return [float(min(xs)), float(min(ys)), float(max(xs)), float(max(ys))]


def _ring_ccw(ring: list[list[float]]) -> bool:
    area = 0.0
    for (x0, y0), (x1, y1) in zip(ring, ring[1:]):
        area += x0 * y1 - x1 * y0
    return area > 0


def footprint(grid: Grid, densify: int = DENSIFY) -> tuple[dict[str, Any], list[float]]:
    """The grid's outline in WGS84 (lon/lat) as a GeoJSON geometry and its bbox.

    Each edge is densified into ``densify`` segments before reprojection (pyproj), the
    ring is counter-clockwise (RFC 7946), coordinates are rounded to 7 decimals. A
    footprint crossing the antimeridian becomes a MultiPolygon split at +-180 with a
    bbox whose west > east (RFC 7946 section 5.2).
    """
    ta, tb, tc, td, te, tf = grid.transform
    w, h = grid.width, grid.height
    n = max(1, int(densify))
    # pixel-space ring: top-left -> bottom-left -> bottom-right -> top-right -> top-left
    pts: list[tuple[float, float]] = []
    for i in range(n):
        pts.append((0.0, h * i / n))
    for i in range(n):
        pts.append((w * i / n, float(h)))
    for i in range(n):
        pts.append((float(w), h - h * i / n))
    for i in range(n):
        pts.append((w - w * i / n, 0.0))
    xs = [tc + ta * col + tb * row for col, row in pts]
    ys = [tf + td * col + te * row for col, row in pts]
    lons, lats = _transformer(grid.crs).transform(xs, ys)
    ring = [[round(float(x), COORD_DIGITS), round(float(y), COORD_DIGITS)] for x, y in zip(lons, lats)]
    if not all(math.isfinite(v) for pt in ring for v in pt):
        raise ValidationFailed(
            f"footprint of grid {grid.crs} {grid.transform} does not reproject to WGS84",
            [f"grid {grid.crs} {grid.transform}: non-finite WGS84 coordinates"],
            fix="check the patch grid's CRS and transform",
        )
    ring.append(list(ring[0]))
    if not _ring_ccw(ring):
        ring.reverse()
    lon_values = [p[0] for p in ring]
    lat_values = [p[1] for p in ring]
    if max(lon_values) - min(lon_values) <= 180.0:
        bbox = [min(lon_values), min(lat_values), max(lon_values), max(lat_values)]
        return {"type": "Polygon", "coordinates": [ring]}, bbox
    return _split_antimeridian(ring)


def _split_antimeridian(ring: list[list[float]]) -> tuple[dict[str, Any], list[float]]:
    from shapely.geometry import Polygon, box
    from shapely.geometry.polygon import orient

    shifted = [[x + 360.0 if x < 0 else x, y] for x, y in ring]
    poly = Polygon(shifted)
    east = poly.intersection(box(0.0, -90.0, 180.0, 90.0))  # lon in [0, 180]
    west = poly.intersection(box(180.0, -90.0, 540.0, 90.0))  # lon in [180, 540) -> shift back
    parts = []
    for part, shift in ((east, 0.0), (west, -360.0)):
        for p in getattr(part, "geoms", [part]):
            if p.is_empty or p.geom_type != "Polygon":
                continue
            p = orient(p, sign=1.0)
            coords = [[round(x + shift, COORD_DIGITS), round(y, COORD_DIGITS)] for x, y in p.exterior.coords]
            parts.append([coords])
    lats = [y for _x, y in ring]
    west_edge = min(x for x, _ in shifted if x >= 0.0)
    east_edge = max(x - 360.0 for x, _ in shifted if x > 180.0) if any(x > 180.0 for x, _ in shifted) else 180.0
    return {"type": "MultiPolygon", "coordinates": parts}, [round(west_edge, COORD_DIGITS), min(lats), round(east_edge, COORD_DIGITS), max(lats)]
