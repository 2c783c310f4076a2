"""Benchmark recipe v2 (docs/v2.md): a v2 build's pairs/s against the raw COG encoding of its own
bytes in the same run (the v1 bar: 0.7), and the sizes per pair -- v2's assets beside v1's of the
same scenes, and S1 as float32 (published) against int16 at 0.01 dB (the alternative the issue
allows), with the error int16 would add.

    .venv/bin/python bench/bench_v2.py [--scene-size 2240] [--scenes 2] [--tmp DIR]

The baseline encodes exactly the build's files (checked byte for byte on the first 60): same
codec, level, predictor (floating point for S1), block size, band descriptions, scale/offset
and the label's palette, inside one GDAL environment as the build does. Ratios use CPU time
(process_time), robust to the shared machine's load. Writes bench/results/v2.md.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sen12stac.config import CogConfig, make_config  # noqa: E402
from sen12stac.models import Grid  # noqa: E402
from sen12stac.pipeline import build  # noqa: E402
from sen12stac.recipe.cog import encode_cog, encoding_env  # noqa: E402
from sen12stac.store import LocalStore  # noqa: E402


def _published(out: Path) -> list[tuple[Path, np.ndarray, dict]]:
    """Every COG of a v2 build, its pixels and the encode_cog arguments that give its bytes."""
    found = []
    cog = CogConfig()
    for path in sorted(out.rglob("*.tif")):
        with rasterio.open(path) as ds:
            g = Grid(ds.crs.to_string(), tuple(ds.transform)[:6], ds.width, ds.height)
            kw: dict = {"grid": g, "nodata": ds.nodata, "descriptions": tuple(ds.descriptions)}
            if ds.dtypes[0] == "float32":
                kw["config"] = cog.model_copy(update={"predictor": 3})
            else:
                kw["config"] = cog
            if ds.dtypes[0] == "uint16":
                kw["scales"], kw["offsets"] = tuple(ds.scales), tuple(ds.offsets)
            if ds.dtypes[0] == "uint8":
                kw["colormap"] = ds.colormap(1)
            found.append((path, ds.read(), kw))
    return found


def _sizes(out: Path) -> dict[str, int]:
    kinds = {"s1": "/s1_", "s2": "/s2_", "label": "/lc_", "thumbnail": "/thumbs_"}
    sizes = {k: 0 for k in kinds}
    for p in out.rglob("*"):
        if p.is_file():
            rel = "/" + p.relative_to(out).as_posix()
            for k, mark in kinds.items():
                if mark in rel:
                    sizes[k] += p.stat().st_size
    sizes["items"] = sum(p.stat().st_size for p in out.rglob("*_p*.json"))
    sizes["total"] = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return sizes


def run(scene_size: int, scenes: int, tmp: str | None) -> dict:
    work = Path(tempfile.mkdtemp(prefix="bench-v2-", dir=tmp))
    try:
        # the per-file layout, as the sizes in docs/v2.md were measured; shards add the COG bytes once more (docs/shards.md)
        common = dict(seasons=("spring",), scenes_per_season=scenes, workers=0, scene_size_px=scene_size, defect_rate=0.0, layout="cogs")
        build(make_config(**{**common, "scenes_per_season": 1, "scene_size_px": 512}, recipe="v2"), LocalStore(work / "warm"))  # imports, tables
        t0, c0 = time.perf_counter(), time.process_time()
        summary = build(make_config(**common, recipe="v2"), LocalStore(work / "v2"))
        e2e_s, e2e_cpu = time.perf_counter() - t0, time.process_time() - c0
        pairs = summary.patches_published
        cogs = _published(work / "v2")
        with encoding_env():
            for path, data, kw in cogs[:60]:
                assert encode_cog(data, **kw) == path.read_bytes(), f"baseline differs from {path}"
        t0, c0 = time.perf_counter(), time.process_time()
        with encoding_env():
            for _path, data, kw in cogs:
                encode_cog(data, **kw)
        enc_s, enc_cpu = time.perf_counter() - t0, time.process_time() - c0
        # S1 as int16 dB x 100 (0.01 dB steps), the same codec with the integer predictor
        f32 = i16 = 0
        worst = 0.0
        with encoding_env():
            for path, data, kw in cogs:
                if data.dtype != np.float32:
                    continue
                q = np.where(np.isnan(data), -32768, np.rint(data * 100.0)).astype(np.int16)
                back = np.where(q == -32768, np.nan, q.astype(np.float32) / 100.0)
                worst = max(worst, float(np.nanmax(np.abs(back - data))))
                f32 += path.stat().st_size
                i16 += len(encode_cog(q, kw["grid"], nodata=-32768, descriptions=kw["descriptions"], config=CogConfig(), scales=(0.01, 0.01), offsets=(0.0, 0.0)))
        v2_sizes = _sizes(work / "v2")
        t0, c0 = time.perf_counter(), time.process_time()
        build(make_config(**common), LocalStore(work / "v1"))
        v1_s, v1_cpu = time.perf_counter() - t0, time.process_time() - c0
        v1_pairs = len(list((work / "v1").rglob("*_p*.json")))
        v1_sizes = _sizes(work / "v1")
        return {"scene_size": scene_size, "scenes": scenes, "pairs": pairs, "e2e_s": e2e_s, "e2e_cpu": e2e_cpu, "enc_s": enc_s, "enc_cpu": enc_cpu,
                "v2_sizes": v2_sizes, "v1_sizes": v1_sizes, "v1_pairs": v1_pairs, "v1_s": v1_s, "v1_cpu": v1_cpu, "s1_float32": f32, "s1_int16": i16, "int16_max_error_db": worst}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scene-size", type=int, default=2240)
    ap.add_argument("--scenes", type=int, default=2)
    ap.add_argument("--tmp", default=None, help="folder for the builds (default: the system's temporary folder)")
    args = ap.parse_args()
    r = run(args.scene_size, args.scenes, args.tmp)
    n, v1n = r["pairs"], r["v1_pairs"]
    kb = lambda b, k: b / k / 1024  # noqa: E731
    rows = [
        ("pairs (v2 build)", f"{n}", f"{args.scenes} synthetic scenes of {args.scene_size} px, 1 process, DEFLATE"),
        ("v2 build", f"{n / r['e2e_s']:.1f} pairs/s wall, {1000 * r['e2e_cpu'] / n:.1f} ms CPU per pair", "render, QC, encode 3 COGs + thumbnail, catalog"),
        ("raw encoding of its own COGs", f"{n / r['enc_s']:.1f} pairs/s wall, {1000 * r['enc_cpu'] / n:.1f} ms CPU per pair", "the same bytes (checked), one GDAL environment"),
        ("v1 build of the same scenes", f"{v1n / r['v1_s']:.1f} pairs/s wall, {1000 * r['v1_cpu'] / v1n:.1f} ms CPU per pair", f"v2 costs {(r['e2e_cpu'] / n) / (r['v1_cpu'] / v1n):.1f}x v1's CPU per pair"),
        ("**ratio v2 build / encode**", f"**{r['enc_cpu'] / r['e2e_cpu']:.2f}** CPU, {r['enc_s'] / r['e2e_s']:.2f} wall", "share of the encoder's speed the whole v2 pipeline keeps (v1's bar: 0.7)"),
    ]
    sizes = [("asset", "v2 KiB per pair", "v1 KiB per pair")]  # v1: the same scenes, its own pairs
    for k in ("s1", "s2", "label", "thumbnail", "items", "total"):
        sizes.append((k, f"{kb(r['v2_sizes'][k], n):.1f}", f"{kb(r['v1_sizes'][k], v1n):.1f}" if k != "label" else "-"))
    text = ["# Recipe v2: build speed and sizes", "", f"`.venv/bin/python bench/bench_v2.py --scene-size {args.scene_size} --scenes {args.scenes}`", "",
            "| what | figure | note |", "|---|---|---|", *[f"| {a} | {b} | {c} |" for a, b, c in rows], "",
            "Sizes per published pair (the whole build's files over its pairs; `total` includes catalogs, figures and geoparquet):", "",
            "| " + " | ".join(sizes[0]) + " |", "|---|---|---|", *["| " + " | ".join(s) + " |" for s in sizes[1:]], "",
            f"S1 as published (float32, floating-point predictor): {kb(r['s1_float32'], n):.1f} KiB per pair; as int16 dB x 100 (0.01 dB steps, "
            f"integer predictor): {kb(r['s1_int16'], n):.1f} KiB per pair ({r['s1_int16'] / r['s1_float32']:.2f}x), adding at most "
            f"{r['int16_max_error_db']:.4f} dB of error.", "", "```json", json.dumps(r, indent=1), "```", ""]
    out = ROOT / "bench" / "results" / "v2.md"
    out.write_text("\n".join(text))
    print("\n".join(text[:-4]))


if __name__ == "__main__":
    main()
