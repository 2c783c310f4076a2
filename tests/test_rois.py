import json
import math
from importlib import resources

import pytest
import shapely
from shapely.geometry import box, shape

from sen12stac.errors import ConfigError
from sen12stac.recipe.rois import haversine_m, land_layer, rois_geojson, sample_candidates, sample_rois, urban_layer
from sen12stac.recipe.seasons import SEASONS, season_by_name, season_by_seed


@pytest.fixture(scope="module")
def spring():
    return sample_candidates(SEASONS["spring"])


def test_counts_and_kinds(spring):
    assert len(spring) == 150
    assert sum(c.kind == "land" for c in spring) == 100
    assert sum(c.kind == "urban" for c in spring) == 50


def test_deterministic_per_seed(spring):
    assert sample_candidates(SEASONS["spring"]) == spring
    other = sample_candidates(SEASONS["summer"])
    assert [(c.lon, c.lat) for c in other] != [(c.lon, c.lat) for c in spring]


@pytest.mark.parametrize("name,layer", [("ne_50m_land.geojson", land_layer), ("ne_50m_urban_areas.geojson", urban_layer)])
def test_layer_is_natural_earth_cut_to_s2_coverage(name, layer):
    # read feature by feature with shapely's object API: the same polygons in the same order, so
    # the sampled ROIs do not depend on how the layer is read
    features = json.loads(resources.files("sen12stac.data").joinpath(name).read_text())["features"]
    band = box(-180.0, -56.0, 180.0, 83.0)
    want = []
    for f in features:
        cut = shape(f["geometry"]).intersection(band)
        want.extend(p for p in getattr(cut, "geoms", [cut]) if p.geom_type == "Polygon" and p.area > 0)
    got = layer().polygons
    assert len(got) == len(want) > 1000
    assert all(a.equals_exact(b, 0) for a, b in zip(got, want))
    assert layer().bounds.shape == (len(got), 4) and layer().weights[-1] == pytest.approx(1.0)


def test_points_fall_on_their_layer_inside_s2_coverage(spring):
    land = land_layer().polygons
    urban = urban_layer().polygons
    for c in spring:
        assert -56.0 <= c.lat <= 83.0
        polys = land if c.kind == "land" else urban
        assert any(shapely.contains_xy(p, c.lon, c.lat) for p in polys), c


def test_kept_scenes_do_not_overlap(spring):
    kept = [c for c in spring if c.kept]
    limit = 44_800 * math.sqrt(2)
    for i, a in enumerate(kept):
        for b in kept[i + 1 :]:
            assert haversine_m(a.lon, a.lat, b.lon, b.lat) >= limit
    dropped = [c for c in spring if not c.kept]
    for d in dropped:  # every dropped point is close to some kept one
        assert any(haversine_m(d.lon, d.lat, k.lon, k.lat) < limit for k in kept)
    assert [c.index for c in kept] == list(range(len(kept)))


def test_larger_scenes_drop_more_points():
    small = sum(c.kept for c in sample_candidates(SEASONS["fall"], scene_size_m=10_000))
    big = sum(c.kept for c in sample_candidates(SEASONS["fall"], scene_size_m=400_000))
    assert big < small


def test_uniform_by_area_latitudes():
    # uniform by area: few points at high latitudes relative to a uniform-in-latitude draw
    c = sample_candidates(SEASONS["winter"], n_land=400, n_urban=0)
    high = sum(abs(p.lat) > 60 for p in c) / len(c)
    assert high < 0.2


def test_rois_named_like_the_original():
    rois = sample_rois(SEASONS["spring"])
    assert rois[0].scene_id == "ROIs1158_spring_0"
    assert rois[7].scene_id == "ROIs1158_spring_7"


def test_geojson_and_cli(tmp_path, spring):
    gj = rois_geojson(SEASONS["spring"], spring)
    assert gj["type"] == "FeatureCollection" and len(gj["features"]) == 150
    from typer.testing import CliRunner

    from sen12stac.cli import app

    out = tmp_path / "rois.geojson"
    res = CliRunner().invoke(app, ["rois", "--seed", "1158", "--out", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["features"][0]["properties"]["scene_id"] == "ROIs1158_spring_0"
    bad = CliRunner().invoke(app, ["rois", "--seed", "42", "--out", str(out)])
    assert bad.exit_code == 2
    assert "unknown seed 42" in bad.output and "1158" in bad.output


def test_season_lookup_errors():
    assert season_by_seed(2017).name == "winter"
    assert season_by_name("Fall").set_name == "ROIs1970_fall"
    with pytest.raises(ConfigError, match="unknown season 'autumn'"):
        season_by_name("autumn")
