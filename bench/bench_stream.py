#!/usr/bin/env python
"""Streaming throughput: ``sen12stac.stream`` vs a plain one-GET-and-decode loop over the same objects, same run.

    .venv/bin/python bench/bench_stream.py                 # ~600 pairs, 3 interleaved reps (several minutes)
    .venv/bin/python bench/bench_stream.py --reps 1        # quick look

A small release is built with the real pipeline (spring + winter, 4 ROIs each, 1,280 px
scenes: 81 patch positions, so a scene's shard holds about 80 pairs) and put into one moto server (tests/s3server.py) on 127.0.0.1. Then, interleaved
(order rotated per rep), over the same pairs (2 files each):

* ``plain loop``: for every file, ``obstore.get(...).bytes()`` then ``tifffile.imread`` --
  the floor any streamer pays; 1 thread, and 8 threads (``ThreadPoolExecutor.map``);
* ``sen12stac.stream``: ``stream(select(...), seed=0)`` -- selection already done; the same
  GETs plus checksum verification, ordering, prefetch, sample dicts; threads 1 and 8;
* ``PairStream + DataLoader(num_workers=2)``: batches of 16, worker start-up included;
* other clients/decoders as plain 8-thread loops (what the choice was made on):
  boto3 ``get_object`` + tifffile, obstore + rasterio ``MemoryFile`` (inside a long-lived
  ``rasterio.Env`` per thread);
* local disk: the same release as a folder, plain loop and ``stream``;
* training shards (docs/shards.md): ``stream(..., layout="shards")`` from S3 in this process,
  and ``PairStream(layout="shards") + DataLoader(num_workers=2)``, beside the same two readers
  over the per-file COGs from S3 and from local disk (the goal: shards from S3 at >= 0.9 of
  the per-file COGs read from local disk), and the GETs each made;
* peak memory: a fresh process streams the selection with prefetch 4, 16 and 64; RSS high
  water mark above the RSS after the selection was made.

moto is the ceiling for the remote rows (one Python process, about 3 ms CPU per GET;
FIELD-NOTES-streaming.md): read the ratios, not the absolute figures. Writes
bench/results/stream.md. Opt-in: not part of ``make test``.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.s3server import TEST_ACCESS_KEY, TEST_SECRET_KEY, MotoServer  # noqa: E402

PREFIX = "sen1-2/v1.0.0"
BUCKET = "bench-stream"

MEM_SCRIPT = r"""
import sys, json
from sen12stac.stream import select, stream
endpoint, bucket, prefix, key, secret, prefetch, layout = sys.argv[1:8]
sel = select(f"s3://{bucket}/{prefix}", endpoint_url=endpoint, access_key_id=key, secret_access_key=secret)
def status(field):  # VmHWM: this process's RSS high-water mark (ru_maxrss would carry the parent's across exec)
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
base = status("VmRSS")
n = sum(1 for _ in stream(sel, threads=8, prefetch=int(prefetch), layout=layout))
peak = status("VmHWM")
print(json.dumps({"pairs": n, "base_mb": base, "peak_mb": peak}))
"""


LOADER_SCRIPT = r"""
import json, sys, time
from torch.utils.data import DataLoader
from sen12stac.stream import select
from sen12stac.stream.torch import PairStream
endpoint, bucket, prefix, key, secret, where, layout = sys.argv[1:8]
if where == "s3":
    sel = select(f"s3://{bucket}/{prefix}", endpoint_url=endpoint, access_key_id=key, secret_access_key=secret)
else:  # the same release as a local folder
    sel = select(where)
t = time.perf_counter()
ids = [i for b in DataLoader(PairStream(sel, threads=4, prefetch=16, layout=layout), batch_size=16, num_workers=2) for i in b["id"]]
print(json.dumps({"ids": ids, "seconds": time.perf_counter() - t}))
"""


def build_release(out: Path, scenes: int) -> Path:
    from sen12stac.config import make_config
    from sen12stac.pipeline import build
    from sen12stac.store import LocalStore

    build(make_config(seasons=("spring", "winter"), scenes_per_season=scenes, workers=0, scene_size_px=1280, defect_rate=0.0), LocalStore(out))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--scenes", type=int, default=4, help="ROIs per season in the built release")
    args = ap.parse_args()

    import numpy as np
    import obstore
    import rasterio
    import tifffile
    from obstore.store import S3Store
    from rasterio.io import MemoryFile

    from sen12stac.stream import select, stream

    work = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    t0 = time.perf_counter()
    release = build_release(work / "release", args.scenes)
    print(f"built {release} in {time.perf_counter() - t0:.1f} s", flush=True)
    with MotoServer() as server:
        client = server.client()
        client.create_bucket(Bucket=BUCKET)
        files = [p for p in sorted(release.rglob("*")) if p.is_file()]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda p: client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{p.relative_to(release).as_posix()}", Body=p.read_bytes()), files))
        creds = dict(access_key_id=TEST_ACCESS_KEY, secret_access_key=TEST_SECRET_KEY)
        sel = select(f"s3://{BUCKET}/{PREFIX}", endpoint_url=server.endpoint_url, **creds)
        local_sel = select(str(release))
        keys = [f"{PREFIX}/{p.asset(a).href}" for p in sel for a in ("s1", "s2")]
        paths = [release / p.asset(a).href for p in sel for a in ("s1", "s2")]
        n_pairs = len(sel)
        mb = sum(p.stat().st_size for p in paths) / 1e6
        print(f"{n_pairs} pairs, {len(keys)} files, {mb:.1f} MB", flush=True)

        store = S3Store(BUCKET, endpoint=server.endpoint_url, region="us-east-1", access_key_id=TEST_ACCESS_KEY, secret_access_key=TEST_SECRET_KEY,
                        virtual_hosted_style_request=False, client_options={"allow_http": True})
        boto = server.client()
        from botocore.config import Config

        boto = __import__("boto3").session.Session(aws_access_key_id=TEST_ACCESS_KEY, aws_secret_access_key=TEST_SECRET_KEY, region_name="us-east-1").client(
            "s3", endpoint_url=server.endpoint_url, config=Config(s3={"addressing_style": "path"}, max_pool_connections=16))
        tl = threading.local()

        def dec_tiff(b):
            a = tifffile.imread(io.BytesIO(b), maxworkers=1)
            return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)

        def dec_rio(b):
            if getattr(tl, "env", None) is None:
                tl.env = rasterio.Env()
                tl.env.__enter__()
            with MemoryFile(b) as m, m.open() as d:
                return d.read()

        def plain(fn, threads):
            def run():
                if threads == 1:
                    return [fn(i) for i in range(len(keys))]
                with ThreadPoolExecutor(threads) as pool:
                    return list(pool.map(fn, range(len(keys))))
            return run

        def obst(i):
            return dec_tiff(bytes(obstore.get(store, keys[i]).bytes()))

        def loader(where="s3", layout="files"):
            def run():
                # a fresh process: this one has started obstore's runtime, which forked workers
                # could not use (they would fall back to boto3); a training script selects, then loads
                r = subprocess.run([sys.executable, "-c", LOADER_SCRIPT, server.endpoint_url, BUCKET, PREFIX, TEST_ACCESS_KEY, TEST_SECRET_KEY, where, layout],
                                   capture_output=True, text=True, cwd=REPO, timeout=600)
                if r.returncode != 0:
                    raise SystemExit(r.stderr)
                return json.loads(r.stdout.strip().splitlines()[-1])
            return run

        loader_run = loader()
        gets: dict[str, int] = {}

        from sen12stac.stream import Report

        def counted(name, fn):
            def run():
                report = Report()
                out = fn(report)
                gets[name] = report.fetched  # one per GET (tests/test_shards.py counts them at the server)
                return out
            return run

        methods = {
            "plain loop obstore+tifffile, 1 thread": plain(obst, 1),
            "plain loop obstore+tifffile, 8 threads": plain(obst, 8),
            "sen12stac.stream, 1 thread": lambda: list(stream(sel, seed=0, threads=1, layout="files")),
            "sen12stac.stream, 8 threads (prefetch 16)": counted("files", lambda r: list(stream(sel, seed=0, threads=8, prefetch=16, layout="files", report=r))),
            "PairStream + DataLoader(num_workers=2), 4 threads each": loader_run,
            "plain loop boto3+tifffile, 8 threads": plain(lambda i: dec_tiff(boto.get_object(Bucket=BUCKET, Key=keys[i])["Body"].read()), 8),
            "plain loop obstore+rasterio MemoryFile, 8 threads": plain(lambda i: dec_rio(bytes(obstore.get(store, keys[i]).bytes())), 8),
            "local disk: plain loop read+tifffile, 1 thread": plain(lambda i: dec_tiff(paths[i].read_bytes()), 1),
            "local disk: sen12stac.stream, 1 thread": lambda: list(stream(local_sel, seed=0, threads=1, layout="files")),
            "local disk: sen12stac.stream, 8 threads": lambda: list(stream(local_sel, seed=0, threads=8, layout="files")),
            "shards from S3: sen12stac.stream, 8 threads": counted("shards", lambda r: list(stream(sel, seed=0, threads=8, prefetch=16, layout="shards", report=r))),
            "shards from S3: PairStream + DataLoader(num_workers=2)": loader("s3", "shards"),
            "local disk COGs: PairStream + DataLoader(num_workers=2)": loader(str(release), "files"),
        }
        # correctness first: every method's arrays equal rasterio's read of the local file
        ref = {}
        for p in local_sel:
            for a in ("s1", "s2"):
                with rasterio.open(release / p.asset(a).href) as d:
                    ref[p.asset(a).href] = d.read()
        streamed = list(stream(sel, seed=None, threads=8, layout="files"))
        assert all(np.array_equal(s[a], ref[p.asset(a).href]) for s, p in zip(streamed, sel) for a in ("s1", "s2"))
        by_id = {p.id: p for p in sel}
        sharded = list(stream(sel, seed=0, threads=8, layout="shards"))
        assert len(sharded) == n_pairs and all(np.array_equal(s[a], ref[by_id[s["id"]].asset(a).href]) for s in sharded for a in ("s1", "s2"))
        assert all(np.array_equal(x, ref[keys[i][len(PREFIX) + 1:]]) for i, x in enumerate(plain(obst, 8)()))
        print("arrays: every streamed file equals rasterio's read", flush=True)

        names = list(methods)
        res: dict[str, list[float]] = {k: [] for k in names}
        for rep in range(args.reps):
            order = names[rep % len(names):] + names[: rep % len(names)]
            for name in order:
                t = time.perf_counter()
                out = methods[name]()
                dt = time.perf_counter() - t
                if isinstance(out, dict):  # timed inside its own process (DataLoader loop only)
                    out, dt = out["ids"], out["seconds"]
                count = len(out) if "plain" not in name else len(out) // 2
                assert count == n_pairs, (name, count)
                res[name].append(n_pairs / dt)
                print(f"rep{rep} {name:58s} {n_pairs / dt:7.1f} pairs/s", flush=True)

        mem = {}
        for prefetch in (4, 16, 64):
            for layout in ("files", "shards"):
                r = subprocess.run([sys.executable, "-c", MEM_SCRIPT, server.endpoint_url, BUCKET, PREFIX, TEST_ACCESS_KEY, TEST_SECRET_KEY, str(prefetch), layout],
                                   capture_output=True, text=True, cwd=REPO, timeout=600)
                if r.returncode != 0:
                    raise SystemExit(r.stderr)
                mem[(prefetch, layout)] = json.loads(r.stdout.strip().splitlines()[-1])
                print(f"prefetch {prefetch} {layout}: {mem[(prefetch, layout)]}", flush=True)

    med = {k: statistics.median(v) for k, v in res.items()}
    base1 = med["plain loop obstore+tifffile, 1 thread"]
    base8 = med["plain loop obstore+tifffile, 8 threads"]
    local = med["local disk: plain loop read+tifffile, 1 thread"]
    ratio_of = {
        "plain loop obstore+tifffile, 1 thread": ("1.00 (baseline, 1 thread)", None),
        "plain loop obstore+tifffile, 8 threads": ("1.00 (baseline, 8 threads)", None),
        "sen12stac.stream, 1 thread": (f"**{med['sen12stac.stream, 1 thread'] / base1:.2f}** of the 1-thread loop", None),
        "sen12stac.stream, 8 threads (prefetch 16)": (f"**{med['sen12stac.stream, 8 threads (prefetch 16)'] / base8:.2f}** of the 8-thread loop", None),
        "PairStream + DataLoader(num_workers=2), 4 threads each": (f"**{med['PairStream + DataLoader(num_workers=2), 4 threads each'] / base8:.2f}** of the 8-thread loop", None),
        "plain loop boto3+tifffile, 8 threads": (f"{med['plain loop boto3+tifffile, 8 threads'] / base8:.2f} of obstore+tifffile", None),
        "plain loop obstore+rasterio MemoryFile, 8 threads": (f"{med['plain loop obstore+rasterio MemoryFile, 8 threads'] / base8:.2f} of obstore+tifffile", None),
        "local disk: plain loop read+tifffile, 1 thread": ("1.00 (local baseline)", None),
        "local disk: sen12stac.stream, 1 thread": (f"{med['local disk: sen12stac.stream, 1 thread'] / local:.2f} of the local loop", None),
        "local disk: sen12stac.stream, 8 threads": (f"{med['local disk: sen12stac.stream, 8 threads'] / local:.2f} of the local loop", None),
        "shards from S3: sen12stac.stream, 8 threads": (f"**{med['shards from S3: sen12stac.stream, 8 threads'] / med['local disk: sen12stac.stream, 8 threads']:.2f}** of the local-disk stream (8 threads); "
                                                         f"{med['shards from S3: sen12stac.stream, 8 threads'] / med['sen12stac.stream, 8 threads (prefetch 16)']:.2f}x the per-file stream from S3", None),
        "shards from S3: PairStream + DataLoader(num_workers=2)": (f"**{med['shards from S3: PairStream + DataLoader(num_workers=2)'] / med['local disk COGs: PairStream + DataLoader(num_workers=2)']:.2f}** of the local-disk DataLoader; "
                                                                  f"{med['shards from S3: PairStream + DataLoader(num_workers=2)'] / med['PairStream + DataLoader(num_workers=2), 4 threads each']:.2f}x the per-file DataLoader from S3", None),
        "local disk COGs: PairStream + DataLoader(num_workers=2)": ("1.00 (local DataLoader baseline)", None),
    }
    lines = [
        "# Streaming benchmark",
        "",
        f"`.venv/bin/python bench/bench_stream.py --reps {args.reps}` -- {n_pairs} pairs ({2 * n_pairs} COGs, {mb:.1f} MB) of a release built by the pipeline,",
        "moto_server on 127.0.0.1, 2-core shared machine; medians of interleaved reps; every streamed array checked equal to rasterio's read first.",
        "",
        "| method | pairs/s | ratio (same run) |",
        "|---|---:|---|",
    ]
    for name in names:
        lines.append(f"| {name} | {med[name]:.1f} | {ratio_of[name][0]} |")
    lines += [
        "",
        "The rows marked ** are the ratios the layouts are judged by (same run, same pairs).",
        "",
        f"Remote vs local: the 8-thread per-file stream from S3 runs at {med['sen12stac.stream, 8 threads (prefetch 16)'] / med['local disk: sen12stac.stream, 8 threads']:.2f} of the same stream from local disk.",
        "",
        "Peak memory streaming the selection (fresh process, 8 threads, RSS high-water mark minus RSS after the selection):",
        "",
        "| prefetch (pairs) | layout | base RSS MB | peak RSS MB | above base MB |",
        "|---:|---|---:|---:|---:|",
    ]
    for (p, layout), m in mem.items():
        lines.append(f"| {p} | {layout} | {m['base_mb']:.0f} | {m['peak_mb']:.0f} | {m['peak_mb'] - m['base_mb']:.0f} |")
    lines += ["", f"GETs per pass of the {n_pairs} pairs (the stream's report): per-file stream {gets.get('files')}, shards {gets.get('shards')} "
              f"({n_pairs / max(gets.get('shards') or 1, 1):.0f} pairs per GET)."]
    text = "\n".join(lines) + "\n"
    out = REPO / "bench" / "results" / "stream.md"
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
