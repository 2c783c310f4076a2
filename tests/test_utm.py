"""UTM zone lookup and the recipe's default grid."""
from __future__ import annotations

import json

import pytest
from pyproj import Transformer

from sen12stac.errors import ConfigError
from sen12stac.utm import default_grid, to_lonlat, utm_epsg, utm_zone

from conftest import real_samples


@pytest.mark.parametrize(
    "lon, lat, epsg",
    [
        (-3.70, 40.42, 32630),  # Madrid
        (-0.759, 38.106, 32630),  # Sen1Floods11 Spain_7370579
        (151.21, -33.87, 32756),  # Sydney: southern hemisphere
        (-180.0, 10.0, 32601),
        (180.0, 10.0, 32601),  # the antimeridian wraps to zone 1
        (179.99, -10.0, 32760),
        (0.0, 0.0, 32631),  # equator belongs to the north
        (-0.0001, -0.0001, 32730),
        (5.32, 60.39, 32632),  # Bergen: the zone-32V exception (plain rule gives 31)
        (2.0, 60.0, 32631),  # west of the exception stays in 31
        (15.6, 78.2, 32633),  # Longyearbyen, Svalbard exception
        (8.0, 79.0, 32631),
        (30.0, 79.0, 32635),
        (40.0, 79.0, 32637),
    ],
)
def test_utm_epsg_known_points(lon: float, lat: float, epsg: int) -> None:
    assert utm_epsg(lon, lat) == epsg


def test_utm_epsg_matches_the_crs_of_real_utm_samples() -> None:
    """Independent ground truth: the UTM CRS each real sample was delivered in."""
    files = json.loads((real_samples() / "manifest.json").read_text())["files"]
    places = {(f["lon"], f["lat"], f["crs"]) for f in files if f["crs"][:8] in ("EPSG:326", "EPSG:327")}
    assert len(places) >= 6
    exact = 0
    for lon, lat, crs in sorted(places):
        got = utm_epsg(lon, lat)
        want = int(crs.split(":")[1])
        # Sentinel-2 tiles (and products cut from them) overlap the next zone by up to ~1 degree,
        # e.g. BigEarthNet tile 35VPK at 30.6 E is delivered in zone 35 although 30.6 E is zone 36.
        edge = abs(((lon + 180.0) % 6.0) - 3.0) > 2.0
        if got == want:
            exact += 1
        else:
            assert edge and abs(got - want) == 1, (lon, lat, got, want)
    assert exact >= len(places) - 2


@pytest.mark.parametrize("lon, lat", [(0.0, 85.0), (0.0, -81.0), (200.0, 0.0), (float("nan"), 0.0), ("x", 1.0)])
def test_utm_rejects_points_outside_utm(lon: object, lat: object) -> None:
    with pytest.raises(ConfigError) as ei:
        utm_epsg(lon, lat)  # type: ignore[arg-type]
    assert "Fix:" in str(ei.value)


def _in_an_exception(lon: float, lat: float) -> bool:
    return (56.0 <= lat < 64.0 and 3.0 <= lon < 12.0) or (72.0 <= lat <= 84.0 and 0.0 <= lon < 42.0)


def test_utm_epsg_agrees_with_the_epsg_areas_of_use_for_the_sampled_rois_and_a_world_grid() -> None:
    """Independent ground truth: PROJ's EPSG database gives each WGS 84 / UTM CRS its area of use
    (6 degrees of longitude, one hemisphere). Every ROI the recipe samples (all seasons) and a
    0.5 degree world grid, off zone edges and outside the Norway/Svalbard exceptions (known
    points above), lie in the area of use of exactly the CRS utm_epsg names."""
    from pyproj.database import query_utm_crs_info

    from sen12stac.rois import sample_rois
    from sen12stac.seasons import SEASONS

    areas = {int(i.code): i.area_of_use for i in query_utm_crs_info(datum_name="WGS 84") if i.code[:3] in ("326", "327")}
    assert len(areas) == 120
    rois = [(r.lon, r.lat) for season in SEASONS.values() for r in sample_rois(season)]
    grid = [(lon + 0.25, lat + 0.25) for lon in range(-180, 180) for lat in range(-80, 84, 2)]
    checked = 0
    for lon, lat in rois + grid:
        if _in_an_exception(lon, lat) or lat == 0.0:
            continue
        holders = [code for code, a in areas.items() if a.west < lon < a.east and a.south < lat < a.north]
        assert holders == [utm_epsg(lon, lat)], (lon, lat, holders)
        checked += 1
    assert checked > len(grid) * 0.95 and len(rois) > 500


def test_utm_zone_numbers() -> None:
    assert utm_zone(-177.0, 0.0) == 1
    assert utm_zone(177.0, 0.0) == 60
    assert utm_zone(13.7, 48.2) == 33


@pytest.mark.parametrize("lon, lat", [(13.721, 48.222), (-6.891, 52.308), (151.21, -33.87), (5.32, 60.39), (-0.759, 38.106)])
@pytest.mark.parametrize("size_px", [256, 4480, 4481])
def test_default_grid_is_centred_snapped_square(lon: float, lat: float, size_px: int) -> None:
    g = default_grid(lon, lat, size_px, 10.0)
    assert g.crs == f"EPSG:{utm_epsg(lon, lat)}"
    assert (g.width, g.height) == (size_px, size_px)
    a, b, c, d, e, f = g.transform
    assert (a, b, d, e) == (10.0, 0.0, 0.0, -10.0)
    assert c % 10.0 == 0.0 and f % 10.0 == 0.0, "origin is snapped to whole pixels"
    # the grid centre, mapped back to lon/lat, is within half a pixel (diagonal) of the point
    cx, cy = c + size_px * 5.0, f - size_px * 5.0
    px, py = Transformer.from_crs("EPSG:4326", g.crs, always_xy=True).transform(lon, lat)
    assert abs(cx - px) <= 5.0 + 1e-6 and abs(cy - py) <= 5.0 + 1e-6
    clon, clat = to_lonlat(g.crs, cx, cy)
    assert abs(clon - lon) < 1e-3 and abs(clat - lat) < 1e-3
    xmin, ymin, xmax, ymax = g.bounds
    assert xmax - xmin == ymax - ymin == size_px * 10.0


def test_default_grid_other_pixel_size() -> None:
    g = default_grid(13.721, 48.222, 100, 20.0)
    assert g.transform[0] == 20.0 and g.transform[2] % 20.0 == 0.0 and g.transform[5] % 20.0 == 0.0


def test_default_grid_is_deterministic() -> None:
    assert default_grid(10.0, 50.0, 4480) == default_grid(10.0, 50.0, 4480)


@pytest.mark.parametrize("size_px, pixel", [(0, 10.0), (-5, 10.0), (2.5, 10.0), (100, 0.0), (100, float("inf"))])
def test_default_grid_rejects_bad_sizes(size_px: float, pixel: float) -> None:
    with pytest.raises(ConfigError):
        default_grid(10.0, 50.0, size_px, pixel)  # type: ignore[arg-type]
