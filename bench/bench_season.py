"""One full season at the paper's scene size, end to end, timed, with peak memory; and the
projection to the whole dataset (282,384 pairs) with each COG profile.

    .venv/bin/python bench/bench_season.py [--scenes 70] [--profile fast] [--workers 2]

Builds ``--scenes`` spring ROIs of 4,480 px (defect rate 0: every scene with data passes
scene QC, as the paper's hand-picked scenes did) on a LocalCluster of ``--workers`` processes
into a folder, samples the resident memory of the whole process tree (client + workers)
every 0.5 s, and writes bench/results/season.md. The other profile's projection scales the
measured time by the CPU per pair of the two profiles measured in the same way by
bench/bench_build.py (read from bench/results/build-tmp.md, the on-disk run the README cites, or
else build.md). Run it once, on a quiet machine if
you have one: it writes about 10 GB and takes minutes.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sen12stac.config import cog_profile, make_config  # noqa: E402
from sen12stac.pipeline import build  # noqa: E402
from sen12stac.store import LocalStore  # noqa: E402

FULL_DATASET_PAIRS = 282_384


class TreeMemory:
    """Peak of the summed RSS of this process and its descendants, and the peak of any one."""

    def __init__(self) -> None:
        self.peak_total = 0
        self.peak_one = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(0.5):
            rss = []
            for p in [me, *me.children(recursive=True)]:
                try:
                    rss.append(p.memory_info().rss)
                except psutil.Error:
                    pass
            self.peak_total = max(self.peak_total, sum(rss))
            self.peak_one = max(self.peak_one, max(rss, default=0))

    def __enter__(self) -> "TreeMemory":
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenes", type=int, default=70)
    ap.add_argument("--scene-size", type=int, default=4480)
    ap.add_argument("--profile", default="fast")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: a temporary one, removed after)")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-season-")) / "out"
    cfg = make_config(seasons=("spring",), scenes_per_season=args.scenes, scene_size_px=args.scene_size, defect_rate=0.0,
                      workers=args.workers, cog=cog_profile(args.profile))
    lines: list[str] = []
    loads = [os.getloadavg()]
    done = [0, 0]

    def progress(event: str, data: dict) -> None:
        if event == "scene":
            done[0] += 1
            done[1] += data["scene"]["patches"]
            print(f"  {time.strftime('%H:%M:%S')} scene {done[0]}/{args.scenes}: {data['scene']['scene_id']} {data['scene']['status']} "
                  f"({done[1]} pairs so far, load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)

    try:
        with TreeMemory() as mem:
            t0 = time.perf_counter()
            summary = build(cfg, LocalStore(out), progress=progress)
            dt = time.perf_counter() - t0
        loads.append(os.getloadavg())
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    finally:
        if args.out is None:
            shutil.rmtree(out.parent, ignore_errors=True)
    pairs = summary.patches_published
    rate = pairs / dt
    proj = {args.profile: FULL_DATASET_PAIRS / rate}
    results = ROOT / "bench" / "results"
    build_md = next((p for p in (results / "build-tmp.md", results / "build.md") if p.exists()), results / "build.md")
    m = re.search(r"fast vs compatible, end to end \| ([0-9.]+)x faster", build_md.read_text()) if build_md.exists() else None
    if m:
        factor = float(m.group(1))
        other = "compatible" if args.profile == "fast" else "fast"
        proj[other] = proj[args.profile] * (factor if other == "compatible" else 1 / factor)
    sc = summary.seasons["ROIs1158_spring"]
    lines += [
        f"Command: `.venv/bin/python bench/bench_season.py --scenes {args.scenes} --scene-size {args.scene_size} --profile {args.profile} --workers {args.workers}`",
        "",
        "| measure | value |",
        "|---|---|",
        f"| scenes processed / with data / published | {sc.rois_processed} / {sc.rois_with_data} / {sc.scenes_accepted} |",
        f"| pairs published | {pairs:,} ({sc.patch_positions:,} positions) |",
        f"| wall time, end to end (ROIs, scenes, COGs, thumbnails, catalog, parquet, figures) | {dt / 60:.1f} min |",
        f"| rate | {rate:.1f} pairs/s on {args.workers} workers |",
        f"| output | {size / 1e9:.1f} GB |",
        f"| peak memory, client + workers together | {mem.peak_total / 2**30:.2f} GiB |",
        f"| peak memory, largest single process | {mem.peak_one / 2**20:.0f} MiB |",
    ]
    for name, seconds in proj.items():
        how = "measured" if name == args.profile else f"scaled by the CPU per pair of the two profiles in bench/results/{build_md.name}"
        lines.append(f"| projected, all {FULL_DATASET_PAIRS:,} pairs, profile {name} | {seconds / 60:.0f} min ({how}) |")
    lines += ["", f"Machine load (1, 5, 15-min averages) at the start {tuple(round(x, 1) for x in loads[0])}, at the end "
              f"{tuple(round(x, 1) for x in loads[1])}, on {os.cpu_count()} cores shared with other work: the projection "
              "holds for this load; an idle machine is faster."]
    text = "\n".join(lines) + "\n"
    print(text)
    (ROOT / "bench" / "results" / "season.md").write_text(text)


if __name__ == "__main__":
    main()
