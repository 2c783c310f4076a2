#!/usr/bin/env python
"""Publish throughput: ``sen12stac.release.publish.publish`` vs a plain boto3 put loop, same objects, same run.

    .venv/bin/python bench/bench_publish.py                   # 200 and 800 patch pairs
    .venv/bin/python bench/bench_publish.py --pairs 100       # quick look

One moto server (``moto_server`` on 127.0.0.1, tests/s3server.py) for the whole run. For
each size a STAC-shaped build is generated first (tests/fakebuild.py: 256 px COGs of random
pixels, so about 65 KB per S1 and 195 KB per S2 patch, like the real uint8 patches; items,
scene catalogs, collections, thumbnails). Then, each in a fresh subprocess (so peak RSS is
that run's alone), into its own prefix of one bucket:

* ``boto3 put loop``: ``client.put_object`` for every file, one after the other;
* ``boto3 put, 8 threads``: the same through a ThreadPoolExecutor(8), one shared client;
* ``publish, upload phase``: ``publish(..., workers=8)``, from the first to the last object
  written (progress callback): conditional puts, Content-MD5, sha256 re-check of every file,
  phase barriers (assets, items, catalogs, collections, manifest, root);
* ``publish, end to end``: the whole call: planning (read and hash every file, parse every
  JSON), upload, verify (checksums from the listing, STAC validation of every object,
  200 COGs validated through GDAL /vsis3/) and the landing catalog update;
* ``publish again (resume no-op)``: the same command on the finished release.

moto is the ceiling (one Python process, about 2.5 ms CPU per PUT; FIELD-NOTES): read the
ratios, not the absolute figures. Writes bench/results/publish.md. Opt-in: not part of
``make test``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MODES = ("boto3-seq", "boto3-threads", "publish", "publish-again")
LABELS = {
    "boto3-seq": "boto3 put loop (1 thread)",
    "boto3-threads": "boto3 put, 8 threads",
    "publish-upload": "publish, upload phase (8 workers)",
    "publish": "publish, end to end (8 workers)",
    "publish-again": "publish again (resume no-op)",
}


def _files(build: Path) -> list[Path]:
    return sorted(p for p in build.rglob("*") if p.is_file())


def run_one(mode: str, endpoint: str, bucket: str, build: Path) -> dict:
    from tests.s3server import TEST_ACCESS_KEY, TEST_SECRET_KEY

    files = _files(build)
    out: dict = {"mode": mode}
    if mode.startswith("boto3"):
        import boto3
        from botocore.config import Config

        client = boto3.session.Session(
            aws_access_key_id=TEST_ACCESS_KEY, aws_secret_access_key=TEST_SECRET_KEY, region_name="us-east-1"
        ).client("s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}, max_pool_connections=16))
        prefix = f"{mode}/"

        def put(p: Path) -> int:
            data = p.read_bytes()
            client.put_object(Bucket=bucket, Key=prefix + p.relative_to(build).as_posix(), Body=data)
            return len(data)

        t0 = time.perf_counter()
        if mode == "boto3-seq":
            n_bytes = sum(put(p) for p in files)
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(8) as pool:
                n_bytes = sum(pool.map(put, files))
        out.update(seconds=time.perf_counter() - t0, objects=len(files), bytes=n_bytes)
    else:
        from sen12stac.release.publish import publish
        from sen12stac.store import LocalStore
        from sen12stac.store.s3 import S3Store

        dest = S3Store.from_url(
            f"s3://{bucket}/publish", endpoint_url=endpoint, access_key_id=TEST_ACCESS_KEY, secret_access_key=TEST_SECRET_KEY
        )
        dest.check()  # client set up outside the timing, like the boto3 baseline
        stamps: list[tuple[float, int]] = []
        t0 = time.perf_counter()
        report = publish(LocalStore(build), dest, "1.0.0", workers=8, progress=lambda d, t: stamps.append((time.perf_counter(), d)))
        out.update(seconds=time.perf_counter() - t0, objects=report.objects, bytes=report.bytes, written=report.written)
        if mode == "publish":
            first = stamps[0][0]
            out["upload_seconds"] = stamps[-1][0] - first
            assert report.verify.ok and report.written == report.objects
        else:
            assert report.written == 0
    out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", default="200,800", help="comma-separated numbers of patch pairs")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "publish.md")
    ap.add_argument("--one", nargs=4, metavar=("MODE", "ENDPOINT", "BUCKET", "BUILD"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        mode, endpoint, bucket, build = args.one
        print(json.dumps(run_one(mode, endpoint, bucket, Path(build))))
        return

    from tests.fakebuild import make_build
    from tests.s3server import MotoServer

    import moto

    rows = []
    with MotoServer() as server, tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp:
        client = server.client()
        for n_pairs in (int(x) for x in args.pairs.split(",")):
            scenes, patches = max(1, n_pairs // 40), 20  # 2 seasons x scenes x 20 patches
            build = make_build(Path(tmp) / f"b{n_pairs}", scenes=scenes, patches=patches, cog_size=256, padding=20000)
            files = _files(build)
            mb = sum(p.stat().st_size for p in files) / 1e6
            bucket = f"bench-{n_pairs}"
            client.create_bucket(Bucket=bucket)
            results = {}
            for mode in MODES:
                proc = subprocess.run(
                    [sys.executable, __file__, "--one", mode, server.endpoint_url, bucket, str(build)],
                    capture_output=True,
                    text=True,
                    check=False,
                    cwd=REPO,
                )
                if proc.returncode != 0:
                    raise SystemExit(f"{mode} failed:\n{proc.stderr[-3000:]}")
                results[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
                print(f"{n_pairs} pairs, {mode}: {results[mode]['seconds']:.2f} s", file=sys.stderr)
            pub = results["publish"]
            results["publish-upload"] = dict(pub, seconds=pub["upload_seconds"])
            base = results["boto3-threads"]["seconds"]
            for mode in ("boto3-seq", "boto3-threads", "publish-upload", "publish", "publish-again"):
                r = results[mode]
                rows.append(
                    (
                        n_pairs,
                        len(files),
                        mb,
                        LABELS[mode],
                        r["seconds"],
                        r["objects"] / r["seconds"],
                        r["bytes"] / 1e6 / r["seconds"] if mode != "publish-again" else 0.0,
                        r["seconds"] / base,
                        r["maxrss_mb"],
                    )
                )
    lines = [
        "# Publish throughput (moto server on 127.0.0.1)",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, moto {moto.__version__}. "
        f"Generated by `bench/bench_publish.py --pairs {args.pairs}`; each run in its own subprocess, into its own prefix.",
        "Objects: 2 per pair (S1, S2 COGs of 256 px random pixels) + thumbnail + item, plus scene catalogs, collections, "
        "parquet, root. `time / 8-thread boto3` is the ratio to the plain 8-thread put loop of the same objects in the same run.",
        "",
        "| pairs | objects | MB | method | seconds | objects/s | MB/s | time / 8-thread boto3 | peak RSS MB |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for n_pairs, n_obj, mb, label, sec, ops, mbps, ratio, rss in rows:
        mbps_s = f"{mbps:.1f}" if mbps else "-"
        lines.append(f"| {n_pairs} | {n_obj} | {mb:.1f} | {label} | {sec:.2f} | {ops:.0f} | {mbps_s} | {ratio:.2f} | {rss:.0f} |")
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
