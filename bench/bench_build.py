"""Benchmark the build: end-to-end pairs/s against raw COG-encoding pairs/s of the same patches,
in one run, and the peak memory of one scene at two sizes (streaming keeps it bounded).

    .venv/bin/python bench/bench_build.py [--scene-size 4480] [--scenes 2]

Writes a markdown table to bench/results/build.md. Ratios, not absolute figures, are the point:
the machines are shared and noisy.
"""
from __future__ import annotations

import argparse
import json
import os
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
from sen12stac.config import CogConfig, cog_profile, make_config  # noqa: E402
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
    res = process_scene(roi, "spring", SyntheticSource(defect_rate=0.0), LocalStore(d).deferred(), cfg, {})
print(json.dumps({"size": size, "status": res.status, "pairs": len(res.patches), "base_mb": base, "peak_mb": rss()}))
"""


def peak_memory(size: int) -> dict:
    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(size)], capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def e2e_vs_encode(scene_size: int, scenes: int, cog: CogConfig) -> dict:
    """One build (1 process, workers=0) and the raw encoding of the same pairs with the same
    codec, wall clock and CPU time (process_time: robust to the shared machine's load)."""
    work = Path(tempfile.mkdtemp(prefix="bench-build-"))
    try:
        cfg = make_config(seasons=("spring",), scenes_per_season=scenes, workers=0, scene_size_px=scene_size, defect_rate=0.0, cog=cog)
        t0, c0 = time.perf_counter(), time.process_time()
        summary = build(cfg, LocalStore(work / "out"))
        e2e_s, e2e_cpu = time.perf_counter() - t0, time.process_time() - c0
        pairs = summary.patches_published
        # the same patches, raw COG encoding only (decoded once up front, not timed)
        arrays = []
        for s1 in sorted((work / "out").rglob("*_s1_*_p*.tif")):
            s2 = Path(str(s1).replace("/s1_", "/s2_").replace("_s1_", "_s2_"))
            with rasterio.open(s1) as a, rasterio.open(s2) as b:
                g = Grid(a.crs.to_string(), tuple(a.transform)[:6], a.width, a.height)
                arrays.append((a.read(), b.read(), g))
        size = sum(p.stat().st_size for p in (work / "out").rglob("*.tif"))
        t0, c0 = time.perf_counter(), time.process_time()
        for a, b, g in arrays:
            encode_cog(a, g, nodata=0, config=cog)
            encode_cog(b, g, nodata=0, config=cog)
        enc_s, enc_cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"pairs": pairs, "e2e_s": e2e_s, "e2e_cpu": e2e_cpu, "enc_s": enc_s, "enc_cpu": enc_cpu, "tif_bytes": size}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scene-size", type=int, default=4480)
    ap.add_argument("--scenes", type=int, default=2)
    args = ap.parse_args()

    load0 = os.getloadavg()
    small, full = peak_memory(args.scene_size // 2), peak_memory(args.scene_size)  # first: own processes
    runs = {name: e2e_vs_encode(args.scene_size, args.scenes, cog_profile(name)) for name in ("compatible", "fast")}
    load1 = os.getloadavg()

    whole_scene_mb = args.scene_size**2 * (4 + 6) / 2**20  # float32 S1 + 3 x uint16 S2 held at once
    rows = []
    for name, r in runs.items():
        codec = "DEFLATE 6 + predictor" if name == "compatible" else "ZSTD 1 + predictor"
        rows += [
            (f"end-to-end `build`, profile {name} ({codec}), 1 process", f"{r['pairs'] / r['e2e_s']:.1f} pairs/s", f"{r['pairs']} pairs from {args.scenes} scenes of {args.scene_size} px in {r['e2e_s']:.1f} s wall, {r['e2e_cpu']:.1f} s CPU"),
            (f"raw COG encoding of the same pairs, same codec, 1 process", f"{r['pairs'] / r['enc_s']:.1f} pairs/s", f"{r['enc_s']:.1f} s wall, {r['enc_cpu']:.1f} s CPU"),
            (f"**ratio end-to-end / encode, {name}**", f"**{r['enc_cpu'] / r['e2e_cpu']:.2f}** CPU, {r['enc_s'] / r['e2e_s']:.2f} wall", "share of the encoder's speed the whole pipeline keeps (CPU time: the shared machine's load moves wall clock)"),
        ]
    c, f = runs["compatible"], runs["fast"]
    rows += [
        ("fast vs compatible, end to end", f"{c['e2e_cpu'] / c['pairs'] / (f['e2e_cpu'] / f['pairs']):.2f}x faster (CPU per pair)", f"COG bytes {f['tif_bytes'] / c['tif_bytes']:.2f}x of DEFLATE's"),
        (f"peak memory, one scene of {small['size']} px ({small['pairs']} pairs)", f"{small['peak_mb'] - small['base_mb']:.0f} MB", f"above the {small['base_mb']:.0f} MB interpreter baseline; peak RSS {small['peak_mb']:.0f} MB"),
        (f"peak memory, one scene of {full['size']} px ({full['pairs']} pairs)", f"{full['peak_mb'] - full['base_mb']:.0f} MB", f"peak RSS {full['peak_mb']:.0f} MB; the scene is held in memory between its two passes (scene_cache_mb, {whole_scene_mb:.0f} MB of arrays) so the source is read once"),
    ]
    table = "| measure | value | note |\n|---|---|---|\n" + "\n".join(f"| {a} | {b} | {c} |" for a, b, c in rows)
    note = f"Machine load (1-min average) {load0[0]:.1f} at the start, {load1[0]:.1f} at the end, on {os.cpu_count()} cores."
    print(table + "\n\n" + note)
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "results" / "build.md").write_text(f"Command: `.venv/bin/python bench/bench_build.py --scene-size {args.scene_size} --scenes {args.scenes}`\n\n{table}\n\n{note}\n\n{PROFILE_NOTES}")


PROFILE_NOTES = """## Where a synthetic build's time went, and what changed (cProfile, one 4,480 px scene)

Before (0.40 of raw encoding): COG encoding about 40 %; an fsync per object (COG, thumbnail, item) 25-30 % on this
shared disk (0.3-3.5 ms each, with the load); rendering the synthetic scene about 20 % -- each pixel rendered twice,
once for the statistics pass and once for the patch pass (the 256-row strips at stride 128 did not re-render:
the source's block cache covered them); a `resolve()` per store key (an lstat per path component) and a mkstemp +
link + unlink per object about 6 %; the ROI map's 1,400 `fill()` calls 2 s per season; QC's cloud mask on float
copies; scaling per patch.

Changes, each checked byte-identical against a build from before them (every COG, thumbnail, item, figure):
the scene is read once and held between the passes when it fits `scene_cache_mb` (sen12stac/scenecache.py);
deferred durability for folder builds (one `sync` when the catalog is complete; a rerun replaces objects written after
the last sync, sen12stac/store/local.py); objects created in place with O_EXCL; lexical key checks and one mkdir per
folder; scaling once per strip; the cloud mask on integer reductions; the ROI map's land as one PolyCollection
(same PNG bytes, 12x faster); the synthetic renderer in place (same values, fewer array passes).
"""


if __name__ == "__main__":
    main()
