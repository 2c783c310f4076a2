"""Benchmark the build: end-to-end pairs/s against raw COG-encoding pairs/s of the same patches,
in one run, and the peak memory of one scene at two sizes (streaming keeps it bounded).

    .venv/bin/python bench/bench_build.py [--scene-size 4480] [--scenes 2]

Writes a markdown table to bench/results/build.md. Ratios, not absolute figures, are the point:
the machines are shared and noisy.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sen12stac.cog import encode_cog  # noqa: E402
from sen12stac.config import make_config  # noqa: E402
from sen12stac.models import Grid  # noqa: E402
from sen12stac.pipeline import build  # noqa: E402
from sen12stac.store import LocalStore  # noqa: E402

PEAK_SCRIPT = r"""
import json, sys, tempfile
from sen12stac.config import make_config
from sen12stac.pipeline import process_scene
from sen12stac.rois import sample_rois
from sen12stac.seasons import SEASONS
from sen12stac.sources.synthetic import SyntheticSource
from sen12stac.store import LocalStore
def rss():  # VmHWM: this process image's peak RSS (ru_maxrss would inherit the parent's peak across exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
size = int(sys.argv[1])
cfg = make_config(seasons=("spring",), workers=0, scene_size_px=size, thumbnails=True)
roi = sample_rois(SEASONS["spring"])[0]
base = rss()  # interpreter, libraries, Natural Earth layers
with tempfile.TemporaryDirectory() as d:
    res = process_scene(roi, "spring", SyntheticSource(defect_rate=0.0), LocalStore(d), cfg, {})
print(json.dumps({"size": size, "status": res.status, "pairs": len(res.patches), "base_mb": base, "peak_mb": rss()}))
"""


def peak_memory(size: int) -> dict:
    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(size)], capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scene-size", type=int, default=4480)
    ap.add_argument("--scenes", type=int, default=2)
    args = ap.parse_args()

    small, full = peak_memory(args.scene_size // 2), peak_memory(args.scene_size)  # first: own processes
    work = Path(tempfile.mkdtemp(prefix="bench-build-"))
    try:
        cfg = make_config(seasons=("spring",), scenes_per_season=args.scenes, workers=0, scene_size_px=args.scene_size, defect_rate=0.0)
        t0 = time.perf_counter()
        summary = build(cfg, LocalStore(work / "out"))
        e2e_s = time.perf_counter() - t0
        pairs = summary.patches_published
        # the same patches, raw COG encoding only (decoded once up front, not timed)
        arrays = []
        for s1 in sorted((work / "out").rglob("*_s1_*_p*.tif")):
            s2 = Path(str(s1).replace("/s1_", "/s2_").replace("_s1_", "_s2_"))
            with rasterio.open(s1) as a, rasterio.open(s2) as b:
                g = Grid(a.crs.to_string(), tuple(a.transform)[:6], a.width, a.height)
                arrays.append((a.read(), b.read(), g))
        t0 = time.perf_counter()
        for a, b, g in arrays:
            encode_cog(a, g, nodata=0)
            encode_cog(b, g, nodata=0)
        enc_s = time.perf_counter() - t0
    finally:
        shutil.rmtree(work, ignore_errors=True)

    whole_scene_mb = args.scene_size**2 * (4 + 6) / 2**20  # float32 S1 + 3 x uint16 S2 held at once
    rows = [
        ("end-to-end `build` (synthetic, 1 process)", f"{pairs / e2e_s:.1f} pairs/s", f"{pairs} pairs from {args.scenes} scenes of {args.scene_size} px in {e2e_s:.1f} s"),
        ("raw COG encoding of the same pairs (1 process)", f"{pairs / enc_s:.1f} pairs/s", f"{enc_s:.1f} s"),
        ("ratio end-to-end / encode", f"{(pairs / e2e_s) / (pairs / enc_s):.2f}", "share of the encoder's speed the whole pipeline keeps"),
        (f"peak memory, one scene of {small['size']} px ({small['pairs']} pairs)", f"{small['peak_mb'] - small['base_mb']:.0f} MB", f"above the {small['base_mb']:.0f} MB interpreter baseline; peak RSS {small['peak_mb']:.0f} MB"),
        (f"peak memory, one scene of {full['size']} px ({full['pairs']} pairs)", f"{full['peak_mb'] - full['base_mb']:.0f} MB", f"peak RSS {full['peak_mb']:.0f} MB; 4x the area, about 2x the memory (strips: width, not area); the scene's arrays alone would be {whole_scene_mb:.0f} MB"),
    ]
    table = "| measure | value | note |\n|---|---|---|\n" + "\n".join(f"| {a} | {b} | {c} |" for a, b, c in rows)
    print(table)
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "results" / "build.md").write_text(f"Command: `.venv/bin/python bench/bench_build.py --scene-size {args.scene_size} --scenes {args.scenes}`\n\n{table}\n")


if __name__ == "__main__":
    main()
