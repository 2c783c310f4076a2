#!/usr/bin/env python
"""Kept libraries against the hand-written code they replaced, in one run: footprints per item
(``antimeridian`` + ``shapely.orient_polygons``) and UTM zones per scene (``utm``, and pyproj's
``query_utm_crs_info`` for comparison).

    .venv/bin/python bench/bench_libs.py                    # 20,000 patch grids, 5 rounds
    .venv/bin/python bench/bench_libs.py --items 2000       # quick look

The hand-written versions are read from git as they were before the change (``--before``,
default the last commit with them) and run beside the current modules on the same inputs:

* footprint: ``sen12stac.stac.footprint.footprint`` on 256 px patch grids at random points
  (ordinary patches), and on patches straddling 180 degrees (the antimeridian split); the
  two versions run interleaved, the fastest round of each kept; the ratio is before / now
  (below 1: now is slower);
* UTM zone: ``utm_zone`` on random points (the hand formula before, the ``utm`` package now),
  and ``pyproj.database.query_utm_crs_info`` on a few of them (it answers from PROJ's SQLite
  database, without the Norway and Svalbard exceptions).

Prints a markdown table and writes it to bench/results/libs.md. Opt-in: not part of ``make test``.
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import subprocess
import sys
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from pyproj import Transformer  # noqa: E402

from sen12stac import utm as utm_now  # noqa: E402
from sen12stac.models import Grid  # noqa: E402
from sen12stac.stac import footprint as fp_now  # noqa: E402

BEFORE = "3e7aced"  # main before the kept libraries replaced the hand-written code
FULL_ITEMS = 282_384  # pairs in the full dataset


def module_before(ref: str, path: str, name: str, package: str) -> types.ModuleType:
    """The module at ``path`` as it was at ``ref`` (its relative imports resolve in ``package``)."""
    src = subprocess.run(["git", "-C", str(REPO), "show", f"{ref}:{path}"], capture_output=True, text=True, check=True).stdout
    mod = types.ModuleType(name)
    mod.__package__ = package
    exec(compile(src, f"{ref}:{path}", "exec"), mod.__dict__)  # noqa: S102 - this repository's own file
    return mod


def patch_grids(n: int, rng: random.Random) -> list[Grid]:
    return [utm_now.default_grid(rng.uniform(-180.0, 180.0), rng.uniform(-56.0, 83.0), 256) for _ in range(n)]


def antimeridian_grids(n: int, rng: random.Random) -> list[Grid]:
    """Patches whose west edge lies 1..2559 m west of 180 degrees, in zones 60 and 1, both hemispheres."""
    out = []
    for i in range(n):
        zone, south = (60, 1)[i % 2], bool(i // 2 % 2)
        epsg = (32700 if south else 32600) + zone
        lat = rng.uniform(-56.0, -0.1) if south else rng.uniform(0.1, 83.0)
        x, y = Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True).transform(180.0, lat)
        out.append(Grid(f"EPSG:{epsg}", (10.0, 0.0, float(round(x - rng.uniform(1, 2559))), 0.0, -10.0, float(round(y))), 256, 256))
    return out


def timed(fn, args: list) -> float:
    """CPU seconds (this process) for the calls: less moved than wall time by other work on a shared machine."""
    t0 = time.process_time()
    for a in args:
        fn(*a)
    return time.process_time() - t0


def race(fns: dict, args: list, rounds: int) -> dict[str, float]:
    """CPU seconds per call, fastest of ``rounds`` interleaved rounds."""
    best = {k: float("inf") for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            best[k] = min(best[k], timed(fn, args) / len(args))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=20_000, help="patch grids (and UTM points) per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--before", default=BEFORE, help="git revision holding the hand-written versions")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "libs.md")
    args = ap.parse_args()

    fp_before = module_before(args.before, "sen12stac/stac/footprint.py", "sen12stac.stac.footprint_before", "sen12stac.stac")
    utm_before = module_before(args.before, "sen12stac/utm.py", "sen12stac.utm_before", "sen12stac")
    rng = random.Random(20_170_601)
    plain = [(g,) for g in patch_grids(args.items, rng)]
    crossing = [(g,) for g in antimeridian_grids(max(200, args.items // 10), rng)]
    points = [(rng.uniform(-180.0, 180.0), rng.uniform(-80.0, 84.0)) for _ in range(args.items)]
    load0 = os.getloadavg()[0]

    rows = []
    for label, grids in (("footprint, ordinary patch", plain), ("footprint, patch across 180 degrees", crossing)):
        for (g,) in grids[:200]:  # same geometry (vertex order may differ across 180 degrees)
            a, b = fp_before.footprint(g), fp_now.footprint(g)
            assert a[1] == b[1] and (a[0] == b[0] or a[0]["type"] == b[0]["type"] == "MultiPolygon"), g
        t = race({"before": fp_before.footprint, "now": fp_now.footprint}, grids, args.rounds)
        rows.append((label, "hand-written split and shoelace", "shapely.orient_polygons; antimeridian.fix_polygon across 180", t, len(grids), FULL_ITEMS))
    for lon, lat in points:
        assert utm_before.utm_zone(lon, lat) == utm_now.utm_zone(lon, lat), (lon, lat)
    t = race({"before": utm_before.utm_zone, "now": utm_now.utm_zone}, points, args.rounds)
    rows.append(("UTM zone of a point (once per scene)", "hand formula with the Norway/Svalbard exceptions", "utm.latlon_to_zone_number", t, len(points), None))

    from pyproj.aoi import AreaOfInterest
    from pyproj.database import query_utm_crs_info

    def pyproj_zone(lon: float, lat: float) -> list:
        return query_utm_crs_info(datum_name="WGS 84", area_of_interest=AreaOfInterest(lon, lat, lon, lat))

    few = points[:50]
    t_pyproj = race({"now": pyproj_zone}, few, 1)["now"]
    load1 = os.getloadavg()[0]

    lines = [
        "# Kept libraries vs the hand-written code they replaced",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"`bench/bench_libs.py --items {args.items} --rounds {args.rounds}` (hand-written versions from git {args.before}). "
        f"Both versions run interleaved on the same inputs, the fastest of {args.rounds} rounds kept; times are this "
        f"process's CPU time. Machine load (1-min average) {load0:.1f} at the start, {load1:.1f} at the end.",
        "",
        "| what | before | now | calls | before CPU us/call | now CPU us/call | ratio before/now | extra CPU s if all 282,384 items were this kind |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for label, before, now, t, n, items in rows:
        extra = f"{(t['now'] - t['before']) * items:.1f}" if items else "-"
        lines.append(f"| {label} | {before} | {now} | {n:,} | {t['before'] * 1e6:.1f} | {t['now'] * 1e6:.1f} | "
                     f"{t['before'] / t['now']:.2f} | {extra} |")
    lines += [
        "",
        f"`pyproj.database.query_utm_crs_info` for one point: {t_pyproj * 1e3:.1f} ms of CPU per call ({len(few)} calls; "
        f"{t_pyproj / t['now']:,.0f}x the `utm` package), and it answers zone 31 for Bergen (5.32 E, 60.39 N; 32 by the Norway "
        "exception) and two zones on every zone edge, so it would still need the exceptions written by hand.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
