"""Where one build's CPU goes, stage by stage, without a profiler's overhead.

    .venv/bin/python bench/profile_build.py [--scene-size 4480] [--scenes 1] [--repeat 3] [--src DIR --label NAME]

Runs a synthetic build (1 process, both COG profiles) with thin timers around the pipeline's
stages (the main thread's CPU time, ``time.thread_time``) and the process's user and kernel
CPU time (``os.times``). cProfile inflates Python-heavy code several times over (the
footprint's pyproj call showed 0.08-0.3 ms per item under cProfile, 0.01 ms without), so the
shares here are the ones to trust. A small untimed build first loads the libraries.
Nested stages overlap: "publish patches" holds the encoding, the thumbnails and the puts.
With ``--repeat N`` each figure is the lowest of N builds (the least disturbed by the load).

``--src DIR`` imports ``sen12stac`` from another checkout (e.g. ``git archive main | tar -x -C
DIR``) to compare before and after in one sitting; stages that checkout lacks read 0.

Writes bench/results/build-stages.md (build-stages-NAME.md with ``--label NAME``).
"""
from __future__ import annotations

import argparse
import collections
import gc
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]


def _stages() -> list[tuple[Any, str, str]]:
    import sen12stac.recipe.figures as figures
    import sen12stac.pipeline as pipeline
    import sen12stac.recipe.qc as qc
    import sen12stac.sources.synthetic as synthetic
    import sen12stac.stac.item as item
    import sen12stac.stac.writer as writer

    strip_qc = getattr(qc, "StripQC", None)
    return [(owner, name, label) for owner, name, label in [
        (pipeline, "_publish_patch", "publish patches (encode + thumbnail + puts + record)"),
        (pipeline, "encode_cog", "COG encoding (S1 + S2)"),
        (synthetic, "render_block", "synthetic source: rendering"),
        (pipeline, "_put", "store puts of COGs and thumbnail (file creation)"),
        (qc.SceneAccumulator, "add", "statistics pass: histograms, moments, scene QC masks"),
        (strip_qc, "__init__", "patch QC"),
        (strip_qc, "judge", "patch QC"),
        (pipeline, "judge_patch", "patch QC"),
        (pipeline, "pair_thumbnail", "thumbnail JPEG"),
        (pipeline, "scale_s1", "scaling to 8 bit"),
        (pipeline, "scale_s2", "scaling to 8 bit"),
        (writer.CatalogWriter, "add_scene", "catalog: items (writer.add_scene)"),
        (item, "footprint", "of which item footprints (WGS84 reprojection, pyproj)"),
        (writer.CatalogWriter, "finish", "catalog: finish (stac-geoparquet, collections)"),
        (figures, "season_figures", "figures"),
        (pipeline, "plan_rois", "ROI sampling"),
    ] if owner is not None and hasattr(owner, name)]


def _timed(f: Callable, label: str, totals: collections.Counter) -> Callable:
    main = threading.main_thread()

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is not main:
            return f(*args, **kwargs)
        t = time.thread_time()
        try:
            return f(*args, **kwargs)
        finally:
            totals[label] += time.thread_time() - t

    return wrapper


class _GcClock:
    """CPU time in Python's cyclic garbage collector, in every thread (gc.callbacks)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start: dict[int, float] = {}
        gc.callbacks.append(self)

    def __call__(self, phase: str, info: dict) -> None:
        tid = threading.get_ident()
        if phase == "start":
            self._start[tid] = time.thread_time()
        elif tid in self._start:
            self.seconds += time.thread_time() - self._start.pop(tid)


def run(profile: str, size: int, scenes: int, totals: collections.Counter, gc_clock: _GcClock) -> dict:
    import sen12stac.pipeline as pipeline
    from sen12stac.config import cog_profile, make_config
    from sen12stac.store import LocalStore

    totals.clear()
    gc_clock.seconds = 0.0
    work = Path(tempfile.mkdtemp(prefix="profile-build-"))
    try:
        cfg = make_config(seasons=("spring",), scenes_per_season=scenes, workers=0, scene_size_px=size, defect_rate=0.0, cog=cog_profile(profile))
        o0, m0 = os.times(), time.thread_time()
        summary = pipeline.build(cfg, LocalStore(work / "out"))
        o1, main = os.times(), time.thread_time() - m0
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"pairs": summary.patches_published, "user": o1.user - o0.user, "sys": o1.system - o0.system, "main": main,
            "stages": {**totals, "garbage collector (all threads)": gc_clock.seconds}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scene-size", type=int, default=4480)
    ap.add_argument("--scenes", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1, help="builds per profile; each figure is the lowest")
    ap.add_argument("--src", default=str(ROOT), help="the checkout whose sen12stac to import (default: this one)")
    ap.add_argument("--label", default=None, help="results go to build-stages-LABEL.md")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(args.src).resolve()))
    import sen12stac.pipeline as pipeline
    from sen12stac.config import make_config
    from sen12stac.store import LocalStore

    stages = _stages()
    totals: collections.Counter = collections.Counter()
    for owner, name, label in stages:
        setattr(owner, name, _timed(getattr(owner, name), label, totals))
    with tempfile.TemporaryDirectory() as d:  # warm-up: imports, Natural Earth layers
        pipeline.build(make_config(seasons=("spring",), scenes_per_season=1, workers=0, scene_size_px=512, defect_rate=0.0), LocalStore(d))
    load0 = os.getloadavg()
    gc_clock = _GcClock()
    runs = {}
    for p in ("compatible", "fast"):
        tries = [run(p, args.scene_size, args.scenes, totals, gc_clock) for _ in range(max(1, args.repeat))]
        keys = set().union(*(t["stages"] for t in tries))
        runs[p] = {"pairs": tries[0]["pairs"], "cpu": min(t["user"] + t["sys"] for t in tries), "sys": min(t["sys"] for t in tries),
                   "main": min(t["main"] for t in tries), "stages": {k: min(t["stages"].get(k, 0.0) for t in tries) for k in keys}}
    load1 = os.getloadavg()
    labels = list(dict.fromkeys(label for _, _, label in stages)) + ["garbage collector (all threads)"]
    head = "| ms of CPU per pair | " + " | ".join(runs) + " |\n|---|" + "---|" * len(runs) + "\n"
    rows = [("**whole build, process CPU (user + kernel)**", {p: r["cpu"] for p, r in runs.items()}),
            ("of which in the kernel", {p: r["sys"] for p, r in runs.items()}),
            ("main thread", {p: r["main"] for p, r in runs.items()})]
    rows += [(label, {p: r["stages"].get(label, 0.0) for p, r in runs.items()}) for label in labels]
    body = "\n".join(f"| {label} | " + " | ".join(f"{1000 * v[p] / runs[p]['pairs']:.2f}" for p in runs) + " |" for label, v in rows)
    pairs = ", ".join(f"{p}: {r['pairs']} pairs" for p, r in runs.items())
    note = f"{args.scenes} scene(s) of {args.scene_size} px ({pairs}), lowest of {max(1, args.repeat)} build(s) per figure. Machine load (1-min average) {load0[0]:.1f} at the start, {load1[0]:.1f} at the end, on {os.cpu_count()} cores. Files written under {tempfile.gettempdir()}."
    src = "" if Path(args.src).resolve() == ROOT else f" --src {args.src}"
    label = "" if args.label is None else f" --label {args.label}"
    note += f" Code: sen12stac from {Path(sys.modules['sen12stac'].__file__).parent.parent}."
    text = f"Command: `.venv/bin/python bench/profile_build.py --scene-size {args.scene_size} --scenes {args.scenes} --repeat {args.repeat}{src}{label}`\n\n{head}{body}\n\n{note}\n"
    print(text)
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "results" / ("build-stages.md" if args.label is None else f"build-stages-{args.label}.md")).write_text(text)


if __name__ == "__main__":
    main()
