#!/usr/bin/env python
"""What writing a folder build through a staging area costs: the same build into a fresh
folder, staged (new objects in ``.sen12stac-staging/``, moved in by the commit: what
``build`` does) and in place (the objects created where they end up: the path before), in
one run, rounds alternating.

    .venv/bin/python bench/bench_staging.py                       # 4 scenes of 2,048 px, 3 rounds
    .venv/bin/python bench/bench_staging.py --scenes 2 --scene-size 1024 --rounds 2

One process, no Dask (``workers=0``): the difference is the store's work (one failed
``open`` of the folder's path per object, the commit's renames and syncs), not scheduling.
Outputs stay on disk until the end (creating files soon after deletions is slower on ext4,
docs/scale.md). Also times the commit alone (from the "commit" progress event to the end) and
a no-op rebuild into the finished folder. Prints a markdown table. Opt-in: not part of
``make test``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sen12stac.config import make_config  # noqa: E402
from sen12stac.pipeline import build  # noqa: E402
from sen12stac.store import LocalStore  # noqa: E402


class InPlace(LocalStore):
    """A folder without a staging area: ``build`` then writes through ``deferred()`` in place."""

    staged = None  # type: ignore[assignment]


def run(store, cfg) -> tuple[float, float]:
    marks: dict[str, float] = {}
    t0 = time.perf_counter()
    summary = build(cfg, store, progress=lambda event, data: marks.setdefault(data.get("name") or event, time.perf_counter()))
    t1 = time.perf_counter()
    assert summary.root_key == "catalog.json", summary.scenes
    return t1 - t0, t1 - marks["commit"] if "commit" in marks else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=4)
    ap.add_argument("--scene-size", type=int, default=2048)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tmp", default=None, help="where the outputs go (default: the system's temporary folder)")
    args = ap.parse_args()
    cfg = make_config(seasons=("spring",), scenes_per_season=args.scenes, scene_size_px=args.scene_size, workers=0, defect_rate=0.0)
    work = Path(tempfile.mkdtemp(prefix="bench-staging-", dir=args.tmp))
    rows = []
    try:
        run(InPlace(work / "warm-up"), cfg)  # imports, the land layer, GDAL's drivers: not in any round
        for r in range(args.rounds):
            order = ("staged", "in place") if r % 2 == 0 else ("in place", "staged")
            got = {}
            for kind in order:
                out = work / f"{kind.replace(' ', '-')}-{r}"
                got[kind] = run(LocalStore(out) if kind == "staged" else InPlace(out), cfg)
            noop = run(LocalStore(work / f"staged-{r}"), cfg)[0]
            rows.append((r + 1, got["in place"][0], got["staged"][0], got["staged"][1], noop))
        files = sum(1 for _ in (work / "staged-0").rglob("*") if _.is_file())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{args.scenes} scenes of {args.scene_size} px, {files} files per build, load {os.getloadavg()[0]:.1f}\n")
    print("| round | in place (s) | staged (s) | staged / in place | of which the commit (s) | no-op rebuild, staged (s) |")
    print("|---|---|---|---|---|---|")
    for r, a, b, c, n in rows:
        print(f"| {r} | {a:.2f} | {b:.2f} | {b / a:.3f}x | {c:.3f} | {n:.2f} |")
    a = sorted(x[1] for x in rows)[len(rows) // 2]
    b = sorted(x[2] for x in rows)[len(rows) // 2]
    print(f"\nmedian: in place {a:.2f} s, staged {b:.2f} s: {b / a:.3f}x")


if __name__ == "__main__":
    main()
