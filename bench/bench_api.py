#!/usr/bin/env python
"""STAC API at the full dataset's size: load rate and POST /search latency.

    .venv/bin/python bench/bench_api.py                    # 282,384 items (the dataset), ~10 min
    .venv/bin/python bench/bench_api.py --items 20000      # quick look

1. Builds one real scene with the pipeline (``sen12stac build``, synthetic source) and takes
   its first item and its collection as the shapes to copy.
2. Generates ``--items`` items from that item, as a release on disk: scenes of 208 patches
   (a 16-column grid) at random places (lon -170..170, lat -55..70), seasons round-robin over
   four collections, each scene one split (the default 0.8/0.1/0.1), datetimes inside the
   season's window, eo:cloud_cover uniform 0-10 %; ids, hrefs, geometry, bbox, scene and
   patch fields changed accordingly, everything else as built. One stac-geoparquet file per
   collection, collections and root as the writer makes them. Not timed.
3. In a private cluster (the settings of ``sen12stac api up``), in the same run:
   * baseline: ``pypgstac load items`` of the same items as NDJSON, insert mode, into an empty
     database (the loader's floor: no reading of a release, no upsert);
   * ``sen12stac api load``'s path (:func:`sen12stac.api.load.load_release`) into another empty
     database: queryables registered, geoparquet read as Arrow batches, hrefs made absolute,
     rows formatted by pypgstac's ``Loader.format_item`` in worker processes, written by its
     ``Loader.load_partition`` (one transaction per collection), queryable indexes, pgstac's
     ``analyze_items``.
4. Serves the loaded database with ``sen12stac api serve`` as ``api up`` runs it (stac-fastapi-pgstac's
   app through its public settings and hooks, uvicorn, one process, a pgstac_read role) and, as the baseline, with stac-fastapi-pgstac's
   own app as its docs start it (``uvicorn stac_fastapi.pgstac.app:create_app --factory``,
   ``USE_API_HYDRATE=true``), plus the same app with its default (hydration in PostgreSQL); times
   ``POST /search`` on all three (httpx, sequential, after 3 warm-up requests, the servers taking
   turns per query; their answers must be equal) for season+split, bbox+split, cloud
   cover+datetime at limit 10 and 100; for each query also the time of pgstac's ``search()``
   in SQL alone (the database's share). This half lives in bench/api_search.py;
   ``--search-only`` runs it again on the database an earlier ``--keep-running`` run left in ``--work``.

Writes the table to bench/results/api.md. Opt-in: not part of ``make test``.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
EXE = str(Path(sys.executable).with_name("sen12stac"))

SEASONS = [  # set name, window
    ("ROIs1158_spring", "2017-03-01", "2017-05-30"),
    ("ROIs1868_summer", "2017-06-01", "2017-08-30"),
    ("ROIs1970_fall", "2017-09-01", "2017-11-30"),
    ("ROIs2017_winter", "2016-12-01", "2017-02-28"),
]
PATCHES_PER_SCENE = 208

from api_search import run_searches, search_lines, search_only  # noqa: E402 - bench/api_search.py, beside this file


def template(work: Path) -> tuple[dict, dict]:
    out = work / "one-scene"
    r = subprocess.run([EXE, "build", "--source", "synthetic", "--out", str(out), "--seasons", "spring", "--scenes-per-season", "1", "--scene-size", "768", "--workers", "0"], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(r.stderr)
    item_path = sorted(out.glob("ROIs1158_spring/*/ROIs1158_spring_*_p*.json"))[0]
    return json.loads(item_path.read_text()), json.loads((out / "ROIs1158_spring" / "collection.json").read_text())


def _shift(coords, dx: float, dy: float):
    if isinstance(coords[0], (int, float)):
        return [round(coords[0] + dx, 7), round(coords[1] + dy, 7)]
    return [_shift(c, dx, dy) for c in coords]


def generate(item0: dict, n: int, seed: int = 282384):
    """Yields (set_name, item) for n items (deterministic)."""
    from datetime import datetime, timedelta, timezone

    rng = random.Random(seed)
    x0, y0 = item0["bbox"][0], item0["bbox"][1]
    w = item0["bbox"][2] - item0["bbox"][0]
    h = item0["bbox"][3] - item0["bbox"][1]
    old_scene = item0["properties"]["sen12:scene_index"]
    old_set = item0["properties"]["sen12:set"]
    done = 0
    scene = 0
    while done < n:
        set_name, start, end = SEASONS[scene % 4]
        split = rng.choices(["train", "validate", "test"], [0.8, 0.1, 0.1])[0]
        lon, lat = rng.uniform(-170, 170), rng.uniform(-55, 70)
        t0 = datetime.fromisoformat(start).replace(tzinfo=timezone.utc)
        span = (datetime.fromisoformat(end).replace(tzinfo=timezone.utc) - t0).total_seconds()
        s2_time = t0 + timedelta(seconds=rng.uniform(0, span))
        s1_time = s2_time - timedelta(hours=rng.uniform(1, 30))
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        for k in range(min(PATCHES_PER_SCENE, n - done)):
            row, col = divmod(k, 16)
            it = copy.deepcopy(item0)
            pid = f"{set_name}_{scene}_p{k}"
            dx, dy = lon - x0 + col * w / 2, lat - y0 - row * h / 2
            it["id"] = pid
            it["geometry"]["coordinates"] = _shift(it["geometry"]["coordinates"], dx, dy)
            b = it["bbox"]
            it["bbox"] = [round(b[0] + dx, 7), round(b[1] + dy, 7), round(b[2] + dx, 7), round(b[3] + dy, 7)]
            p = it["properties"]
            p["datetime"] = s2_time.strftime(fmt)
            p["start_datetime"], p["end_datetime"] = s1_time.strftime(fmt), s2_time.strftime(fmt)
            p["ml-aoi:split"] = split
            p["eo:cloud_cover"] = round(rng.uniform(0, 10), 4)
            p["sen12:set"], p["sen12:season"] = set_name, set_name.split("_")[1]
            p["sen12:scene_id"], p["sen12:scene_index"] = f"{set_name}_{scene}", scene
            p["sen12:patch_index"], p["sen12:row"], p["sen12:col"] = k, row, col
            it["collection"] = set_name
            for a in it["assets"].values():
                a["href"] = a["href"].replace(f"_{old_scene}/", f"_{scene}/").replace(old_set, set_name).rsplit("_p", 1)[0] + f"_p{k}." + a["href"].rsplit(".", 1)[1]
                if "datetime" in a:
                    a["datetime"] = (s1_time if "sentinel-1" in str(a.get("constellation", "")) else s2_time).strftime(fmt)
            yield set_name, it
            done += 1
        scene += 1


def write_release(item0: dict, coll0: dict, n: int, out: Path, ndjson: Path) -> dict[str, int]:
    """The release layout the loader reads (root, collections, one geoparquet each), plus the
    same items as absolute-href NDJSON for the baseline."""
    import orjson
    import pyarrow.parquet as pq

    from sen12stac.api.rows import STRUCTURAL_RELS

    out.mkdir(parents=True)
    buckets: dict[str, list[dict]] = {s: [] for s, _, _ in SEASONS}
    writers: dict[str, pq.ParquetWriter] = {}
    counts: dict[str, int] = {s: 0 for s, _, _ in SEASONS}
    base = out.resolve().as_uri()

    def flush(set_name: str) -> None:
        rows = buckets[set_name]
        if not rows:
            return
        table = _arrow_table(rows)
        if set_name not in writers:
            (out / set_name).mkdir()
            writers[set_name] = pq.ParquetWriter(str(out / set_name / "items.parquet"), table.schema, compression="zstd")
        writers[set_name].write_table(table.cast(writers[set_name].schema))
        buckets[set_name] = []

    with open(ndjson, "wb") as nd:
        for set_name, it in generate(item0, n):
            rel = dict(it, links=[l for l in it["links"] if l["rel"] not in STRUCTURAL_RELS])
            rel["assets"] = {k: dict(a, href=a["href"].replace("../", "./", 1)) for k, a in it["assets"].items()}
            buckets[set_name].append(rel)
            counts[set_name] += 1
            absolute = dict(rel, assets={k: dict(a, href=f"{base}/{set_name}/{a['href'][2:]}") for k, a in rel["assets"].items()})
            nd.write(orjson.dumps(absolute) + b"\n")
            if len(buckets[set_name]) >= 8192:
                flush(set_name)
        for s in list(buckets):
            flush(s)
    for w in writers.values():
        w.close()
    root = {"type": "Catalog", "stac_version": "1.1.0", "id": "sen1-2", "description": "bench", "links": []}
    for set_name, _, _ in SEASONS:
        if not counts[set_name]:
            continue
        c = copy.deepcopy(coll0)
        c["id"] = set_name
        c["links"] = [l for l in c["links"] if l["rel"] not in ("child", "item")]
        c["assets"] = {"items": {"href": "./items.parquet", "type": "application/vnd.apache.parquet", "roles": ["stac-items"]}}
        (out / set_name / "collection.json").write_text(json.dumps(c))
        root["links"].append({"rel": "child", "href": f"./{set_name}/collection.json", "type": "application/json"})
    (out / "catalog.json").write_text(json.dumps(root))
    return counts


def _arrow_table(rows: list[dict]):
    import pyarrow as pa
    from stac_geoparquet.arrow import parse_stac_items_to_arrow

    return pa.Table.from_batches(list(parse_stac_items_to_arrow(rows, chunk_size=len(rows))))


def compare_read_paths(n: int, out: Path) -> None:
    """Reading a folder release back as item dicts: the item JSON walk, `api load`'s geoparquet
    reader (whole Arrow batches) and stac-geoparquet's public ``stac_table_to_items`` (row by
    row), the same n items, twice each (the second with a warm page cache), with Python's
    cyclic garbage collector paused, as the loader's worker processes read."""
    from sen12stac.api.release import geoparquet_key, items_from_batch, items_from_json, open_release, read_collections, read_geoparquet

    work = Path(tempfile.mkdtemp(prefix="sen12stac-bench-paths-", dir="/var/tmp"))
    try:
        item0, coll0 = template(work)
        write_release(item0, coll0, n, work / "release", work / "items.ndjson")
        rel = work / "release"
        scenes: dict[tuple[str, int], list[str]] = {}
        for set_name, it in generate(item0, n):  # the same items as JSON under scene catalogs
            scene = it["properties"]["sen12:scene_index"]
            d = rel / set_name / str(scene)
            d.mkdir(exist_ok=True)
            (d / f"{it['id']}.json").write_text(json.dumps(it, separators=(",", ":")))
            scenes.setdefault((set_name, scene), []).append(it["id"])
        for (set_name, scene), ids in scenes.items():
            (rel / set_name / str(scene) / "catalog.json").write_text(json.dumps({"type": "Catalog", "id": f"{set_name}_{scene}", "links": [{"rel": "item", "href": f"./{i}.json"} for i in ids]}))
        for cpath in rel.glob("*/collection.json"):
            c = json.loads(cpath.read_text())
            c["links"] += [{"rel": "child", "href": f"./{s}/catalog.json"} for (sn, s) in scenes if sn == c["id"]]
            cpath.write_text(json.dumps(c))
        r = open_release(str(rel))
        colls = read_collections(r)
        rows = []

        def ours(c):
            return (it for b in read_geoparquet(r, geoparquet_key(c)).to_batches(max_chunksize=4096) for it in items_from_batch(b))

        def stac_geoparquet_rows(c):
            from stac_geoparquet.arrow import stac_table_to_items

            return stac_table_to_items(read_geoparquet(r, geoparquet_key(c)))

        from sen12stac.runtime.collector import collector_paused

        for name, fn in (("item JSON walk", lambda c: items_from_json(r, c.key, c.content)),
                         ("geoparquet, whole Arrow batches (api load's reader)", ours),
                         ("geoparquet, stac-geoparquet's public stac_table_to_items", stac_geoparquet_rows)) * 2:
            t = time.perf_counter()
            with collector_paused():  # as the loader's workers read
                k = sum(1 for c in colls for _ in fn(c))
            rows.append((name, k, time.perf_counter() - t))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = [f"# Reading {n:,} items of a folder release back (bench/bench_api.py --read-paths {n})", "", f"Load average (1 min) at the end: {os.getloadavg()[0]:.1f} (2 cores, shared).", "", "| path | run | seconds | items/s |", "|---|---:|---:|---:|"]
    for i, (name, k, dt) in enumerate(rows):
        lines.append(f"| {name} | {i // 3 + 1} | {dt:.1f} | {k / dt:,.0f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    out.write_text(text)


def _cpu_of_postgres(cluster) -> float:
    """CPU seconds of the cluster's processes so far: the postmaster, its children that ended
    (its cutime/cstime) and those still running (/proc)."""
    tick = os.sysconf("SC_CLK_TCK")

    def stat(pid) -> list[str]:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()

    postmaster = int((cluster.pgdata / "postmaster.pid").read_text().split()[0])
    total = sum(int(v) for v in stat(postmaster)[11:15])
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            f = stat(pid)
        except OSError:
            continue
        if int(f[1]) == postmaster:
            total += int(f[11]) + int(f[12])
    return total / tick


def compare_load_cpu(n: int, out: Path) -> None:
    """CPU seconds of loading n items, which depend less on the machine's load than the wall
    time: the plain ``pypgstac load items`` of the NDJSON, ``api load``, and ``api load`` with
    stac-geoparquet's public ``stac_table_to_items`` as its geoparquet reader; each into a fresh
    database of one cluster, twice, in turns."""
    import resource

    from pypgstac.db import PgstacDB
    from pypgstac.load import Loader, Methods

    import sen12stac.api.rows as rows_module
    from sen12stac.api.database import PrivateCluster, prepare_database
    from sen12stac.api.load import load_release, open_release
    from sen12stac.api.release import datetimes_as_published

    def library_reader(batch):
        import pyarrow as pa
        from stac_geoparquet.arrow import stac_table_to_items

        return [datetimes_as_published(it) for it in stac_table_to_items(pa.Table.from_batches([batch]))]

    work = Path(tempfile.mkdtemp(prefix="sen12stac-bench-cpu-", dir="/var/tmp"))
    work.chmod(0o755)
    cluster = PrivateCluster(work / "pg")  # the settings of `api up`
    results = []
    try:
        item0, coll0 = template(work)
        write_release(item0, coll0, n, work / "release", work / "items.ndjson")
        cluster.start()
        base = cluster.dsn.rsplit("/", 1)[0]
        import psycopg

        def plain(dsn):
            db = PgstacDB(dsn=dsn)
            loader = Loader(db)
            colls = [json.loads(p.read_text()) for p in sorted((work / "release").glob("*/collection.json"))]
            for c in colls:
                c["assets"] = {}
            loader.load_collections(iter(colls), insert_mode=Methods.insert)
            loader.load_items(str(work / "items.ndjson"), insert_mode=Methods.insert)
            db.close()

        def ours(dsn):
            load_release(open_release(str(work / "release")), dsn)

        def ours_library_reader(dsn):
            own = rows_module.items_from_batch
            rows_module.items_from_batch = library_reader  # the workers fork with it
            try:
                load_release(open_release(str(work / "release")), dsn)
            finally:
                rows_module.items_from_batch = own

        variants = [("plain `pypgstac load items` (NDJSON, insert; no queryable indexes, no ANALYZE)", plain),
                    ("`api load`", ours),
                    ("`api load` reading the geoparquet with stac-geoparquet's `stac_table_to_items`", ours_library_reader)]
        for run in (1, 2):
            for name, fn in variants:
                db_name = f"cpu_{run}_{variants.index((name, fn))}"
                with psycopg.connect(base + "/postgres", autocommit=True) as conn:
                    conn.execute(f"CREATE DATABASE {db_name}")
                prepare_database(base + "/" + db_name)
                me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
                pg0, t0 = _cpu_of_postgres(cluster), time.perf_counter()
                fn(base + "/" + db_name)
                wall, pg1 = time.perf_counter() - t0, _cpu_of_postgres(cluster)
                me1, kids1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu_me = me1.ru_utime + me1.ru_stime - me.ru_utime - me.ru_stime
                cpu_kids = max(0.0, kids1.ru_utime + kids1.ru_stime - kids.ru_utime - kids.ru_stime)
                results.append((name, run, wall, cpu_me, cpu_kids, pg1 - pg0))
                print(results[-1], flush=True)
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    plain_cpu = statistics.mean(r[3] + r[4] + r[5] for r in results if r[0] == variants[0][0])
    lines = [f"# CPU seconds of loading {n:,} items (bench/bench_api.py --load-cpu {n})", "",
             f"Load average (1 min) at the end: {os.getloadavg()[0]:.1f} (2 cores, shared). CPU: `getrusage` of the loading process and of its worker processes, `/proc` of PostgreSQL's processes.", "",
             "| load | run | wall s | CPU s: loading process | its workers | PostgreSQL | total | total, ratio to the plain load (mean) |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, run, wall, a, b, c in results:
        lines.append(f"| {name} | {run} | {wall:.1f} | {a:.1f} | {b:.1f} | {c:.1f} | {a + b + c:.1f} | {(a + b + c) / plain_cpu:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    out.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=282384)
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "api.md")
    ap.add_argument("--work", type=Path, default=None, help="scratch folder, kept, and its generated release reused by a later run with the same --items (default: a temporary one under /var/tmp, removed)")
    ap.add_argument("--skip-baseline", action="store_true", help="skip the pypgstac baseline load (while iterating; the table then has no ratio)")
    ap.add_argument("--workers", type=int, default=None, help="processes formatting rows for `api load` (default: its own, 2)")
    ap.add_argument("--keep-running", action="store_true", help="leave the database running at the end (for profiling)")
    ap.add_argument("--search-only", action="store_true", help="only the searches, on the database an earlier run with the same --work and --keep-running loaded (stop it first)")
    ap.add_argument("--port", type=int, default=None, help="first of the three ports the servers listen on (127.0.0.1; default: free ones)")
    ap.add_argument("--read-paths", type=int, default=None, metavar="N", help="only compare the ways of reading N items of a folder release")
    ap.add_argument("--load-cpu", type=int, default=None, metavar="N", help="only compare the CPU seconds of loading N items: plain pypgstac, api load, api load with stac-geoparquet's reader")
    args = ap.parse_args()
    if args.read_paths:
        compare_read_paths(args.read_paths, REPO / "bench" / "results" / "api-read-paths.md")
        return
    if args.load_cpu:
        compare_load_cpu(args.load_cpu, REPO / "bench" / "results" / "api-load-cpu.md")
        return
    if args.search_only:
        search_only(args)
        return

    from pypgstac.db import PgstacDB
    from pypgstac.load import Loader, Methods

    from sen12stac.api.database import PrivateCluster, prepare_database
    from sen12stac.api.load import load_release, open_release

    work = args.work or Path(tempfile.mkdtemp(prefix="sen12stac-bench-api-", dir="/var/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)
    shutil.rmtree(work / "pg", ignore_errors=True)  # a fresh cluster every run
    cluster = PrivateCluster(work / "pg")
    try:
        marker = work / "generated.json"
        if marker.exists() and json.loads(marker.read_text()).get("items") == args.items:  # --work of an earlier run: same items (deterministic)
            counts = json.loads(marker.read_text())["counts"]
            gen_s = 0.0
        else:
            item0, coll0 = template(work)
            t = time.perf_counter()
            counts = write_release(item0, coll0, args.items, work / "release", work / "items.ndjson")
            gen_s = time.perf_counter() - t
            marker.write_text(json.dumps({"items": args.items, "counts": counts}))
        item_bytes = (work / "items.ndjson").stat().st_size / args.items
        print(f"generated {args.items:,} items ({item_bytes:,.0f} bytes each as NDJSON) in {gen_s:.0f} s", flush=True)

        cluster.start()
        loads = [("start", os.getloadavg()[0])]
        base = cluster.dsn.rsplit("/", 1)[0]
        import psycopg

        base_s = None
        if not args.skip_baseline:

            with psycopg.connect(base + "/postgres", autocommit=True) as conn:
                conn.execute("CREATE DATABASE baseline")
            dsn_base = base + "/baseline"
            prepare_database(dsn_base)
            db = PgstacDB(dsn=dsn_base)
            loader = Loader(db)
            colls = [json.loads((work / "release" / s / "collection.json").read_text()) for s, _, _ in SEASONS if counts[s]]
            for c in colls:
                c["assets"] = {}
            loader.load_collections(iter(colls), insert_mode=Methods.insert)
            t = time.perf_counter()
            loader.load_items(str(work / "items.ndjson"), insert_mode=Methods.insert)
            base_s = time.perf_counter() - t
            db.close()
            print(f"baseline pypgstac load items (insert) {base_s:.1f} s", flush=True)
            with psycopg.connect(base + "/postgres", autocommit=True) as conn:
                conn.execute("DROP DATABASE baseline WITH (FORCE)")

        loads.append(("after baseline", os.getloadavg()[0]))
        prepare_database(cluster.dsn)
        t = time.perf_counter()
        report = load_release(open_release(str(work / "release")), cluster.dsn, workers=args.workers)  # queryables, items, their indexes, analyze_items
        load_s = time.perf_counter() - t
        loads.append(("after api load", os.getloadavg()[0]))
        print(f"load_release {load_s:.1f} s: {report}", flush=True)
        with psycopg.connect(cluster.dsn, autocommit=True) as conn:
            db_mb = conn.execute("SELECT pg_database_size('pgstac')").fetchone()[0] / 1e6
            stored = conn.execute("SELECT avg(pg_column_size(content)) FROM pgstac.items").fetchone()[0]

        rows, sql_ms = run_searches(cluster, args)
        loads.append(("after searches", os.getloadavg()[0]))
    finally:
        if not args.keep_running:
            cluster.stop()
        else:
            print("database left running:", cluster.dsn, flush=True)
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)

    lines = [
        f"# STAC API benchmark ({args.items:,} items)",
        "",
        f"Command: `{' '.join(['.venv/bin/python bench/bench_api.py', *sys.argv[1:]])}`; {platform.node()}, {os.cpu_count()} cores, shared machine; PostgreSQL with `sen12stac api up`'s settings.",
        "",
        f"Items: {item_bytes:,.0f} bytes each as JSON (absolute hrefs); {stored:,.0f} bytes stored per item (pgstac dehydrated content, compressed); database {db_mb:,.0f} MB.",
        "",
        "| load | seconds | items/s | ratio to baseline (time) |",
        "|---|---:|---:|---:|",
        f"| baseline: `pypgstac load items` NDJSON, insert, empty database | {base_s:.1f} | {args.items / base_s:,.0f} | 1.00 |" if base_s else "| baseline: skipped (--skip-baseline) | | | |",
        f"| `sen12stac api load` whole: geoparquet, queryables registered first, rows formatted by pypgstac's `Loader.format_item` in {args.workers if args.workers is not None else 2} processes, written by its `Loader.load_partition` (one transaction per collection, the queryable indexes filled as the rows arrive), pgstac's `analyze_items` | {load_s:.1f} | {args.items / load_s:,.0f} | {load_s / base_s:.2f} |" if base_s else f"| `sen12stac api load` whole | {load_s:.1f} | {args.items / load_s:,.0f} | |",
        "",
        "Load average (1 min) on the 2 cores during the run: " + ", ".join(f"{k} {v:.1f}" for k, v in loads) + ".",
        "",
        *search_lines(rows, sql_ms, args.reps),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
