"""Earth Engine graphs, built offline on the real earthengine-api (initialized against the
test API on 127.0.0.1, tests/eefake.py) and checked for the paper's parameters; goldens under
tests/earthengine/golden/ (regenerate: scripts/ee_goldens.py)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO
from eefake import EarthEngineApi, constants, environment, expand, find, function_names, initialize, selected_bands

sys.path.insert(0, str(REPO / "scripts"))
import ee_goldens  # noqa: E402

# The paper's windows (Schmitt et al. 2018, Table 1), end exclusive as filterDate takes them.
PAPER_WINDOWS = {
    "spring": ("2017-03-01", "2017-05-31"),
    "summer": ("2017-06-01", "2017-09-01"),
    "fall": ("2017-09-01", "2017-12-01"),
    "winter": ("2016-12-01", "2017-03-01"),
}
PAPER_SEEDS = {"spring": 1158, "summer": 1868, "fall": 1970, "winter": 2017}


@pytest.fixture(scope="module")
def graphs():
    return ee_goldens.build()


@pytest.fixture(scope="module")
def initialized():
    """earthengine-api initialized against the test API (the graphs below need no more)."""
    with EarthEngineApi() as api, environment(api.offline_env()):
        initialize(api.url)
        yield api


_AUDIT = """
import json, sys
from pathlib import Path
import ee
ee_dir = str(Path(ee.__file__).resolve().parent)
seen = {"ee_files": [], "connects": []}
def hook(event, args):
    if event == "open" and isinstance(args[0], str) and args[0].startswith(ee_dir) and not args[0].endswith((".py", ".pyc", ".so")):
        seen["ee_files"].append(args[0])
    elif event == "socket.connect":
        seen["connects"].append(list(args[1])[:2] if isinstance(args[1], tuple) else str(args[1]))
sys.addaudithook(hook)
sys.path.insert(0, sys.argv[1])
import ee_goldens
graphs = ee_goldens.build()
print(json.dumps({**seen, "seasons": sorted(graphs)}))
"""


def test_goldens_are_made_by_earthengine_api_over_loopback_without_its_test_files():
    """The goldens' graphs come from earthengine-api initialized over HTTP against our own API
    description: no file of earthengine-api's other than its code is opened (its wheel ships
    test fixtures: none is read), and every connection goes to 127.0.0.1 (Python audit events,
    in a process of its own)."""
    out = subprocess.run([sys.executable, "-c", _AUDIT, str(REPO / "scripts")], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["seasons"] == ["fall", "spring", "summer", "winter"]
    assert seen["ee_files"] == []
    assert seen["connects"] and all(c[0] == "127.0.0.1" for c in seen["connects"]), seen["connects"]


def _invocations(node, name):
    return [v for v in find(node, "functionInvocationValue") if v.get("functionName") == name]


def test_goldens_match(graphs):
    for season, doc in graphs.items():
        golden = (REPO / "tests" / "earthengine" / "golden" / f"{season}.json").read_text()
        assert ee_goldens.dumps(doc) == golden, f"{season}: graphs changed; review and run scripts/ee_goldens.py"


@pytest.mark.parametrize("season", list(PAPER_WINDOWS))
def test_paper_parameters_in_graphs(graphs, season):
    doc = graphs[season]
    s1, s2, meta = expand(doc["s1_image"]), expand(doc["s2_image"]), expand(doc["scene_metadata"])
    start, end = PAPER_WINDOWS[season]
    for g in (s1, s2, meta):
        ranges = _invocations(g, "DateRange")
        assert ranges and all(r["arguments"]["start"]["constantValue"] == start and r["arguments"]["end"]["constantValue"] == end for r in ranges)
    # collections
    assert {"COPERNICUS/S2_HARMONIZED"} == {c for c in constants(s2) if isinstance(c, str) and c.startswith("COPERNICUS/")}
    assert {"COPERNICUS/S1_GRD"} == {c for c in constants(s1) if isinstance(c, str) and c.startswith("COPERNICUS/")}
    # S2: CLOUDY_PIXEL_PERCENTAGE <= 1, i.e. not (> 1)
    (gt,) = [f for f in _invocations(s2, "Filter.greaterThan")]
    assert gt["arguments"]["leftField"]["constantValue"] == "CLOUDY_PIXEL_PERCENTAGE" and gt["arguments"]["rightValue"]["constantValue"] == 1.0
    assert _invocations(s2, "Filter.not")
    # S1: instrumentMode == 'IW' and 'VV' in transmitterReceiverPolarisation
    (eq,) = _invocations(s1, "Filter.equals")
    assert (eq["arguments"]["leftField"]["constantValue"], eq["arguments"]["rightValue"]["constantValue"]) == ("instrumentMode", "IW")
    (lc,) = _invocations(s1, "Filter.listContains")
    assert (lc["arguments"]["leftField"]["constantValue"], lc["arguments"]["rightValue"]["constantValue"]) == ("transmitterReceiverPolarisation", "VV")
    # bands, mosaic then clip
    assert selected_bands(s2) == [["B4", "B3", "B2"]] and selected_bands(s1) == [["VV"]]
    for g in (s1, s2):
        assert {"ImageCollection.mosaic", "Image.clip", "Filter.intersects"} <= function_names(g)
    # ROI rectangle in the grid's UTM CRS, 10 m, 4,480 px
    grid = doc["grid"]
    assert grid["crs"] == "EPSG:32632" and grid["transform"][0] == 10.0 and grid["transform"][4] == -10.0 and grid["width"] == 4480
    x0, y0 = grid["transform"][2], grid["transform"][5]
    rect = [x0, y0 - 44800.0, x0 + 44800.0, y0]
    for g in (s1, s2):
        rects = _invocations(g, "GeometryConstructors.Rectangle")  # filterBounds and clip
        assert len(rects) == 2 and all(r["arguments"]["coordinates"]["constantValue"] == rect and r["arguments"]["geodesic"]["constantValue"] is False for r in rects)
        assert "EPSG:32632" in constants(g)
    # direct download grid and batch export grid: the same 10 m grid
    pg = doc["compute_pixels_grid"]
    assert pg["crsCode"] == "EPSG:32632" and pg["dimensions"] == {"width": 4480, "height": 4480}
    assert (pg["affineTransform"]["scaleX"], pg["affineTransform"]["scaleY"], pg["affineTransform"]["translateX"]) == (10.0, -10.0, x0)
    exp = expand(doc["batch_export_request"]["expression"])
    assert [10.0, 0.0, x0, 0.0, -10.0, y0] in constants(exp) and [0, 0, 4480, 4480] in constants(exp)
    # ROI sampling: the season's seed, 100 land + 50 urban points
    rp = _invocations(expand(doc["random_points"]), "FeatureCollection.randomPoints")
    assert sorted((p["arguments"]["seed"]["constantValue"], p["arguments"]["points"]["constantValue"]) for p in rp) == [(PAPER_SEEDS[season], 50), (PAPER_SEEDS[season], 100)]


def test_recipe_is_configurable(initialized):
    from sen12stac.seasons import SEASONS
    from sen12stac.sources.earthengine import graphs as g
    from sen12stac.utm import default_grid

    region = g.roi_region(default_grid(2.35, 48.85, 512))
    doc = expand(g.serialize(g.s2_collection(region, SEASONS["summer"], g.Recipe(s2_collection="COPERNICUS/S2", max_cloud=5.0))))
    assert "COPERNICUS/S2" in constants(doc) and 5.0 in constants(doc)


def test_inline_layers_are_uploaded_as_planar_multipolygons(initialized):
    from shapely.geometry import box

    from sen12stac.seasons import SEASONS
    from sen12stac.sources.earthengine import graphs as g

    land = g.layer_geometry([box(0, 0, 1, 1), box(10, 10, 12, 11)])
    urban = g.layer_geometry([box(5, 5, 5.1, 5.1)])
    doc = expand(g.serialize(g.random_points(land, urban, SEASONS["fall"])))
    polys = _invocations(doc, "GeometryConstructors.MultiPolygon")
    assert len(polys) == 2 and all(p["arguments"]["geodesic"]["constantValue"] is False for p in polys)
    sizes = sorted(len(p["arguments"]["coordinates"]["arrayValue"]["values"]) for p in polys)  # polygons per layer
    assert sizes == [1, 2]
    assert json.dumps(doc).count('"seed": {"constantValue": 1970}') == 2
