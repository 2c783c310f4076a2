"""Regenerate the golden Earth Engine graphs under tests/earthengine/golden/ (offline).

    .venv/bin/python scripts/ee_goldens.py

One file per season: every graph the earthengine source sends for one scene (a fixed ROI,
the recipe's 4,480 px grid), serialized as the REST API receives it; ``v2_<season>.json``
the same under recipe v2. Review the diff: a
change here is a change to what Earth Engine computes.

earthengine-api initializes against the test suite's Earth Engine API on 127.0.0.1
(tests/eefake.py: a discovery document and algorithm list written for the tests), then builds
and ``.serialize()``s the graphs itself; nothing leaves the machine.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "earthengine" / "golden"
ROI_LON, ROI_LAT = 11.576, 48.137  # Munich: a fixed land ROI (zone 32N)


def build() -> dict[str, dict]:
    if str(REPO / "tests") not in sys.path:
        sys.path.insert(0, str(REPO / "tests"))
    from eefake import EarthEngineApi, environment, initialize

    from sen12stac.recipe.seasons import SEASONS
    from sen12stac.sources.earthengine.graphs import describe
    from sen12stac.recipe.utm import default_grid

    with EarthEngineApi() as api, environment(api.offline_env()):
        initialize(api.url)
    grid = default_grid(ROI_LON, ROI_LAT, 4480)
    return {name: describe(season, grid) for name, season in SEASONS.items()}


def build_v2() -> dict[str, dict]:
    """The v2 graphs (``v2_<season>.json``)."""
    if str(REPO / "tests") not in sys.path:
        sys.path.insert(0, str(REPO / "tests"))
    from eefake import EarthEngineApi, environment, initialize

    from sen12stac.recipe.seasons import SEASONS
    from sen12stac.sources.earthengine.graphs import describe_v2
    from sen12stac.recipe.utm import default_grid

    with EarthEngineApi() as api, environment(api.offline_env()):
        initialize(api.url)
    grid = default_grid(ROI_LON, ROI_LAT, 4480)
    return {f"v2_{name}": describe_v2(season, grid) for name, season in SEASONS.items()}


def dumps(doc: dict) -> str:
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def main() -> int:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for name, doc in {**build(), **build_v2()}.items():
        (GOLDEN / f"{name}.json").write_text(dumps(doc))
        print(f"wrote {GOLDEN / f'{name}.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
