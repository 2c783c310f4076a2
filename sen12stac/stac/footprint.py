"""Where a patch grid lies on Earth: its WGS84 footprint and bbox (RFC 7946, split at the
antimeridian by the ``antimeridian`` package), its bounds in its own CRS and the ``proj:`` code of its CRS."""
from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

import antimeridian
import shapely

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


def footprint(grid: Grid, densify: int = DENSIFY) -> tuple[dict[str, Any], list[float]]:
    """The grid's outline in WGS84 (lon/lat) as a GeoJSON geometry and its bbox.

    Each edge is densified into ``densify`` segments before reprojection (pyproj), the
    ring is counter-clockwise (RFC 7946, ``shapely.orient_polygons``), coordinates are
    rounded to 7 decimals. A footprint crossing the antimeridian becomes a MultiPolygon
    split at +-180 by the ``antimeridian`` package with a bbox whose west > east (RFC 7946
    section 5.2).
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
    ring = [(round(float(x), COORD_DIGITS), round(float(y), COORD_DIGITS)) for x, y in zip(lons, lats)]
    if not all(math.isfinite(v) for pt in ring for v in pt):
        raise ValidationFailed(
            f"footprint of grid {grid.crs} {grid.transform} does not reproject to WGS84",
            [f"grid {grid.crs} {grid.transform}: non-finite WGS84 coordinates"],
            fix="check the patch grid's CRS and transform",
        )
    poly = shapely.Polygon(ring)
    west, south, east, north = poly.bounds
    if east - west <= 180.0:  # a patch is a few km wide: a 180-degree jump is the antimeridian
        exterior = shapely.get_coordinates(shapely.orient_polygons(poly).exterior).tolist()
        return {"type": "Polygon", "coordinates": [exterior]}, [west, south, east, north]
    # Lines between vertices are straight in lon/lat (RFC 7946 section 3.1.1), so the crossing
    # latitude is interpolated on the plane, not on a great circle. The split rewrites
    # longitudes ((x + 180) % 360 - 180), so its coordinates are rounded again.
    split = shapely.orient_polygons(antimeridian.fix_polygon(poly, fix_winding=True, great_circle=False))
    parts = [[[[round(x, COORD_DIGITS), round(y, COORD_DIGITS)] for x, y in shapely.get_coordinates(part.exterior).tolist()]]
             for part in getattr(split, "geoms", [split])]
    return {"type": "MultiPolygon", "coordinates": parts}, [round(float(v), COORD_DIGITS) for v in antimeridian.bbox(split)]
