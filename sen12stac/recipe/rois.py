"""ROI sampling, the paper's recipe.

Per seed: ``n_land`` points uniform by area over Natural Earth 1:50m land and ``n_urban``
over 1:50m urban areas, inside Sentinel-2 coverage (56 S to 83 N); a point whose scene
would overlap a scene already kept is dropped. Deterministic per seed.

Uniform by area: a polygon is drawn with probability proportional to its spherical area,
then a point uniform in (lon, sin lat) inside its bounding box is kept if it falls inside.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Iterable

import numpy as np
import shapely
from shapely.geometry import box

from ..models import ROI
from .seasons import Season

S2_COVERAGE = (-56.0, 83.0)  # latitude band of Sentinel-2 acquisitions
EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class Candidate:
    """A sampled point, kept or dropped (for the ROI map)."""

    lon: float
    lat: float
    kind: str
    kept: bool
    index: int | None  # scene index when kept
    reason: str | None = None  # why dropped


@dataclass(frozen=True)
class _Layer:
    polygons: tuple[Any, ...]
    weights: np.ndarray  # cumulative, normalised
    bounds: np.ndarray  # (n, 4) lon/lat


def _spherical_area(area: float, centroid_lat: float) -> float:
    """Area weight: planar degrees^2 scaled by cos(latitude of centroid) (good enough for weights)."""
    return area * math.cos(math.radians(centroid_lat))


@lru_cache(maxsize=2)
def _layer(name: str) -> _Layer:
    # one GEOS call per step over every feature (not a shapely object per feature from Python):
    # half the time, and the same polygons, weights and bounds (tests/test_rois.py)
    text = resources.files("sen12stac.data").joinpath(name).read_text()
    band = box(-180.0, S2_COVERAGE[0], 180.0, S2_COVERAGE[1])
    parts = shapely.get_parts(shapely.intersection(shapely.get_parts(shapely.from_geojson(text)), band))
    polys = parts[(shapely.get_type_id(parts) == shapely.GeometryType.POLYGON) & (shapely.area(parts) > 0)]
    shapely.prepare(polys)
    areas = np.array([_spherical_area(a, y) for a, y in zip(shapely.area(polys).tolist(), shapely.get_y(shapely.centroid(polys)).tolist())])
    return _Layer(tuple(polys), np.cumsum(areas) / areas.sum(), shapely.bounds(polys))


def land_layer() -> _Layer:
    return _layer("ne_50m_land.geojson")


def urban_layer() -> _Layer:
    return _layer("ne_50m_urban_areas.geojson")


def _sample_layer(layer: _Layer, n: int, rng: np.random.Generator) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    while len(out) < n:
        i = int(np.searchsorted(layer.weights, rng.random(), side="right"))
        i = min(i, len(layer.polygons) - 1)
        x0, y0, x1, y1 = layer.bounds[i]
        s0, s1 = math.sin(math.radians(y0)), math.sin(math.radians(y1))
        for _ in range(1000):  # rejection inside the polygon's bbox
            lon = float(rng.uniform(x0, x1))
            lat = math.degrees(math.asin(float(rng.uniform(s0, s1))))
            if shapely.contains_xy(layer.polygons[i], lon, lat):
                out.append((lon, lat))
                break
    return out


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dphi, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def sample_candidates(season: Season, *, n_land: int = 100, n_urban: int = 50, scene_size_m: float = 44_800.0) -> list[Candidate]:
    """Every sampled point with its fate. Scenes are squares of ``scene_size_m``; two squares
    cannot overlap when their centres are more than side * sqrt(2) apart, so closer points are dropped."""
    rng = np.random.default_rng(season.seed)
    points = [(lon, lat, "land") for lon, lat in _sample_layer(land_layer(), n_land, rng)]
    points += [(lon, lat, "urban") for lon, lat in _sample_layer(urban_layer(), n_urban, rng)]
    return deoverlap(points, scene_size_m)


def deoverlap(points: Iterable[tuple[float, float, str]], scene_size_m: float = 44_800.0) -> list[Candidate]:
    """The recipe's overlap rule, in sampling order: a point closer than side * sqrt(2) to a
    point already kept is dropped (used for points drawn here and by Earth Engine)."""
    min_dist = scene_size_m * math.sqrt(2.0)
    kept: list[Candidate] = []
    out: list[Candidate] = []
    for lon, lat, kind in points:
        clash = next((k for k in kept if haversine_m(lon, lat, k.lon, k.lat) < min_dist), None)
        if clash is not None:
            out.append(Candidate(lon, lat, kind, False, None, f"overlaps scene {clash.index}"))
            continue
        c = Candidate(lon, lat, kind, True, len(kept))
        kept.append(c)
        out.append(c)
    return out


def sample_rois(season: Season, *, n_land: int = 100, n_urban: int = 50, scene_size_m: float = 44_800.0) -> list[ROI]:
    """The kept ROIs of a season, indexed 0.. in sampling order (land first, then urban)."""
    return [
        ROI(season.set_name, c.index, round(c.lon, 6), round(c.lat, 6), c.kind)  # type: ignore[arg-type]
        for c in sample_candidates(season, n_land=n_land, n_urban=n_urban, scene_size_m=scene_size_m)
        if c.kept and c.index is not None
    ]


def rois_geojson(season: Season, candidates: Iterable[Candidate]) -> dict[str, Any]:
    feats = []
    for c in candidates:
        props: dict[str, Any] = {"set_name": season.set_name, "kind": c.kind, "kept": c.kept}
        if c.kept:
            props["scene_id"] = f"{season.set_name}_{c.index}"
            props["index"] = c.index
        else:
            props["dropped"] = c.reason
        feats.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(c.lon, 6), round(c.lat, 6)]}, "properties": props})
    return {"type": "FeatureCollection", "features": feats}
