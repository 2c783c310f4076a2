#!/usr/bin/env python
"""`sen12stac diff` on a release of the whole dataset's size: 282,384 items.

    .venv/bin/python bench/bench_diff.py                  # 282,384 items, 3 rounds
    .venv/bin/python bench/bench_diff.py --items 20000    # quick look

Two synthetic releases are written as folders (release.json, build-summary.json and one
stac-geoparquet file per season): the items are the rows of a real small build's
``items.parquet`` (same columns and nested assets) repeated, each with its own id, scene,
season, split and asset checksums; 1,000 pairs per scene. Release B is A with one scene
removed, 500 pairs with another S2 checksum and 500 with another cloud fraction.

Timed, alternating, in the same rounds:

* ``baseline``: reading the same parquet files of both releases into Arrow tables
  (``pyarrow.parquet.read_table``, every column): the I/O and decoding any diff must do;
* ``diff``: :func:`sen12stac.release.diff.diff_releases` through the manifests (what
  `sen12stac diff A B --json` computes), its result checked against what was changed.

Prints a markdown table and writes it to bench/results/diff.md. Opt-in: not part of
``make test``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SEASONS = (("ROIs1158_spring", "spring"), ("ROIs1868_summer", "summer"), ("ROIs1970_fall", "fall"), ("ROIs2017_winter", "winter"))
PER_SCENE = 1000


def seed_table(work: Path):
    """The items of a real one-scene synthetic build (its spring items.parquet)."""
    import pyarrow.parquet as pq

    from sen12stac.config import BuildConfig
    from sen12stac.pipeline import build
    from sen12stac.store import open_store

    out = work / "seed-build"
    config = BuildConfig(seasons=("spring",), scenes_per_season=1, scene_size_px=512, workers=0)
    build(config, open_store(str(out)))
    return pq.read_table(next(out.glob("ROIs1158_spring/*.parquet")))


def _with_leaf(array, path: list[str], leaf):
    """``array`` (a struct array) with the field at ``path`` replaced by ``leaf``."""
    import pyarrow as pa

    names = [f.name for f in array.type]
    children = [array.field(i) for i in range(len(names))]
    i = names.index(path[0])
    children[i] = leaf if len(path) == 1 else _with_leaf(children[i], path[1:], leaf)
    return pa.StructArray.from_arrays(children, names=names, mask=array.is_null() if array.null_count else None)


def _checksums(tag: str, n: int, start: int = 0) -> list[str]:
    return ["1220" + hashlib.sha256(f"{tag}{i}".encode()).hexdigest() for i in range(start, start + n)]


def make_release(seed, n_items: int, root: Path, *, drop_scene: str | None = None, changed: int = 0, field_changed: int = 0) -> dict:
    """Write a release folder of ``n_items`` items; return what B changed."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    root.mkdir(parents=True)
    per_season = -(-n_items // len(SEASONS))
    objects, scenes, expect = [], [], {"removed": [], "changed": [], "fields": []}
    for s, (set_name, season) in enumerate(SEASONS):
        n = min(per_season, n_items - s * per_season)
        if n <= 0:
            break
        t = seed.take(pa.array(np.arange(n) % seed.num_rows))
        scene_index = np.arange(n) // PER_SCENE
        patch = np.arange(n) % PER_SCENE + 1
        ids = [f"{set_name}_{k}_p{p}" for k, p in zip(scene_index.tolist(), patch.tolist())]
        scene_ids = [f"{set_name}_{k}" for k in scene_index.tolist()]
        splits = np.where(scene_index % 10 < 8, "train", np.where(scene_index % 10 == 8, "val", "test"))
        cols = {"id": pa.array(ids), "collection": pa.array([set_name] * n), "sen12:set": pa.array([set_name] * n),
                "sen12:season": pa.array([season] * n), "sen12:scene_id": pa.array(scene_ids),
                "sen12:scene_index": pa.array(scene_index), "sen12:patch_index": pa.array(patch), "ml-aoi:split": pa.array(splits.tolist())}
        for name, arr in cols.items():
            t = t.set_column(t.schema.get_field_index(name), name, arr)
        assets = t.column("assets").combine_chunks()
        for key in ("s1", "s2", "thumbnail"):
            sums = _checksums(f"{set_name}{key}", n)
            if key == "s2" and changed and s == 0:
                for i in range(PER_SCENE, PER_SCENE + changed):  # the second scene of the first season
                    sums[i] = "1220" + "f" * 64
                    expect["changed"].append(ids[i])
            assets = _with_leaf(assets, [key, "file:checksum"], pa.array(sums))
        t = t.set_column(t.schema.get_field_index("assets"), "assets", assets)
        if field_changed and s == 1:
            cf = t.column("sen12:cloud_fraction").to_numpy().copy()
            cf[:field_changed] = 0.25
            expect["fields"] = ids[:field_changed]
            t = t.set_column(t.schema.get_field_index("sen12:cloud_fraction"), "sen12:cloud_fraction", pa.array(cf))
        if drop_scene and s == 0:
            keep = np.array([sid != drop_scene for sid in scene_ids])
            expect["removed"] = [i for i, k in zip(ids, keep.tolist()) if not k]
            t = t.filter(pa.array(keep))
        key = f"{set_name}/items.parquet"
        (root / set_name).mkdir()
        pq.write_table(t, root / key, row_group_size=10_000)
        objects.append({"key": key, "size": (root / key).stat().st_size})
        for k in sorted(set(scene_ids), key=lambda x: int(x.rsplit("_", 1)[1])):
            scenes.append({"scene_id": k, "status": "rejected" if k == drop_scene else "published", "reasons": ["manual reject"] if k == drop_scene else [],
                           "override": "reject" if k == drop_scene else None})
    (root / "build-summary.json").write_text(json.dumps({"scenes": scenes}))
    objects.append({"key": "build-summary.json", "size": (root / "build-summary.json").stat().st_size})
    (root / "release.json").write_text(json.dumps({"type": "sen12stac-release", "format": 1, "version": root.name.lstrip("v"), "objects": objects}))
    return expect


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=282_384)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "diff.md")
    args = ap.parse_args()

    import pyarrow.parquet as pq

    from sen12stac.release.diff import diff_releases, open_release
    from sen12stac.store import open_store

    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        work = Path(tmp)
        seed = seed_table(work)
        t0 = time.perf_counter()
        make_release(seed, args.items, work / "v1.0.0")
        drop = f"{SEASONS[0][0]}_3"
        expect = make_release(seed, args.items, work / "v1.1.0", drop_scene=drop, changed=500, field_changed=500)
        made = time.perf_counter() - t0
        files = sorted(work.glob("v1.*/*/*.parquet"))
        size = sum(f.stat().st_size for f in files)
        rows = {"baseline": [], "diff": []}
        result = None
        for _ in range(args.repeat):
            t = time.perf_counter()
            n = sum(pq.read_table(f).num_rows for f in files)
            rows["baseline"].append(time.perf_counter() - t)
            t = time.perf_counter()
            result = diff_releases(open_release(open_store(str(work / "v1.0.0")), "v1.0.0"), open_release(open_store(str(work / "v1.1.0")), "v1.1.0"))
            rows["diff"].append(time.perf_counter() - t)
        assert result is not None
        assert result.removed == sorted(expect["removed"]) and result.added == [], (len(result.removed), len(result.added))
        assert result.changed == sorted(expect["changed"]), len(result.changed)
        assert result.fields == {"sen12:cloud_fraction": len(expect["fields"])}, result.fields
        assert [f["scene_id"] for f in result.qc_flipped] == [drop]
        self_diff = diff_releases(open_release(open_store(str(work / "v1.0.0")), "a"), open_release(open_store(str(work / "v1.0.0")), "a"))
        assert self_diff.empty

    base, dif = statistics.median(rows["baseline"]), statistics.median(rows["diff"])
    load = os.getloadavg()
    lines = [
        f"# `sen12stac diff` at {args.items:,} items",
        "",
        f"{platform.node()}, Python {platform.python_version()}, load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; "
        f"2 x {len(files) // 2} parquet files, {size / 1e6:.1f} MB in all ({n:,} rows read per round); made in {made:.0f} s.",
        "B = A minus one scene (1,000 pairs), 500 pairs with another S2 checksum, 500 with another cloud fraction; the result checked.",
        "",
        "| what | median s | runs (s) | ratio to baseline |",
        "|---|---|---|---|",
        f"| baseline: `pyarrow.parquet.read_table` of both releases' files, every column | {base:.2f} | {', '.join(f'{x:.2f}' for x in rows['baseline'])} | 1.00x |",
        f"| `diff_releases` through the manifests (`sen12stac diff A B`) | {dif:.2f} | {', '.join(f'{x:.2f}' for x in rows['diff'])} | **{dif / base:.2f}x** |",
        "",
        "Command: `.venv/bin/python bench/bench_diff.py" + (f" --items {args.items}" if args.items != 282_384 else "") + "`",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
