#!/usr/bin/env python
"""Selections at the full dataset's size: ``select()`` on a release's stac-geoparquet beside the
STAC API answering the same query, same run.

    .venv/bin/python bench/bench_select.py --work /var/tmp/select-work       # 282,384 items, ~15 min
    .venv/bin/python bench/bench_select.py --items 20000 --skip-api          # quick look

1. Generates ``--items`` items as a folder release (bench/bench_api.py's generator: scenes of
   208 patches at random places, four season collections, one stac-geoparquet each), with
   ``sen12:roi_kind`` drawn per scene (one in three ``urban``). Not timed; kept in ``--work``
   and reused by a later run with the same ``--items``.
2. For each query, in the same run:
   * ``select()`` as users call it (catalog, collections, geoparquet read, the filter pushed
     down into Arrow compute on the parquet's columns, pairs built), median of ``--reps``;
   * the per-item evaluation select() did before (every remaining item turned back into a dict
     by stac-geoparquet's ``stac_table_to_items`` and matched by ``cql2``'s ``Expr.matches``),
     once, as the baseline;
   * DuckDB (a dev dependency) running ``cql2``'s own SQL rendering of the filter over the same
     parquet files, ids only (the other pushdown the issue names: measured, not used);
   * the STAC API: the release loaded by ``sen12stac api load`` into a private PostgreSQL with
     ``api up``'s settings, served by ``sen12stac api serve`` on 127.0.0.1, and the same
     ``Query`` through ``select(api=...)`` (pystac-client, pages of 100).
   Every path's ids are compared with select()'s.

Writes bench/results/select.md. Opt-in: not part of ``make test``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
EXE = str(Path(sys.executable).with_name("sen12stac"))

import bench_api  # noqa: E402 - bench/bench_api.py: the generator of the 282k-item release

EUROPE = (-25.0, 34.0, 45.0, 72.0)
AFRICA = "POLYGON((-20 -35, 55 -35, 55 37, -20 37, -20 -35))"

# name -> Query.make keyword arguments; the same Query goes to the release and to the API
QUERIES: dict[str, dict] = {
    "the issue's: cloud < 0.5 AND urban": {"filter": "\"eo:cloud_cover\" < 0.5 AND \"sen12:roi_kind\" = 'urban'"},
    "split + bbox (no filter)": {"split": "test", "bbox": EUROPE},
    "season + split in the filter": {"filter": "\"sen12:season\" = 'spring' AND \"ml-aoi:split\" = 'test'"},
    "OR / NOT / IN / BETWEEN / LIKE": {"filter": "(\"eo:cloud_cover\" BETWEEN 1 AND 1.2 OR \"sen12:scene_id\" LIKE 'ROIs1868_summer_1_%') "
                                                 "AND NOT \"ml-aoi:split\" IN ('train') AND \"sen12:patch_index\" >= 100"},
    "S_INTERSECTS polygon + T_INTERSECTS": {"filter": f"S_INTERSECTS(geometry, {AFRICA}) AND "
                                                      "T_INTERSECTS(datetime, INTERVAL('2017-03-01T00:00:00Z', '2017-04-15T00:00:00Z'))"},
    "not pushed down (CASEI) after a pushed conjunct": {"filter": "\"eo:cloud_cover\" < 1 AND CASEI(\"sen12:roi_kind\") = casei('URBAN')"},
    "everything (cloud >= 0)": {"filter": "\"eo:cloud_cover\" >= 0"},
}
PER_ITEM = ("the issue's: cloud < 0.5 AND urban", "OR / NOT / IN / BETWEEN / LIKE")  # the old path is ~70 s a query at 282k
API_MAX = 30_000  # larger answers page through the API 100 items at a time (minutes): not timed there


def generate_with_kinds(item0: dict, n: int, seed: int = 282384):
    """bench_api's items, with sen12:roi_kind drawn per scene (deterministic)."""
    rng = random.Random(seed + 1)
    kinds: dict[str, str] = {}
    for set_name, it in bench_api.generate(item0, n, seed):
        scene = it["properties"]["sen12:scene_id"]
        if scene not in kinds:
            kinds[scene] = "urban" if rng.random() < 1 / 3 else "land"
        it["properties"]["sen12:roi_kind"] = kinds[scene]
        yield set_name, it


BASE_SCENES = 16  # scenes generated item by item; the others are copies of them with new values, column by column


def fast_table(item0: dict, n: int, seed: int = 282384):
    """n items as one Arrow table: BASE_SCENES scenes from the item generator, then every scene
    j a copy of base scene j % BASE_SCENES (same season) with its own id, scene fields, place
    (geometry and bbox moved), datetimes, split, roi kind and per-item cloud cover. Asset
    hrefs stay the base scene's (select() does not read the files)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import shapely
    from datetime import datetime, timezone

    per = bench_api.PATCHES_PER_SCENE
    from sen12stac.api.rows import STRUCTURAL_RELS

    rows = []
    for _, it in generate_with_kinds(item0, per * BASE_SCENES, seed):  # as bench_api's write_release puts them in the geoparquet
        rows.append(dict(it, links=[l for l in it["links"] if l["rel"] not in STRUCTURAL_RELS],
                         assets={k: dict(a, href=a["href"].replace("../", "./", 1)) for k, a in it["assets"].items()}))
    base = bench_api._arrow_table(rows)
    rng = np.random.default_rng(seed)
    n_scenes = -(-n // per)
    scene = np.repeat(np.arange(n_scenes), per)[:n]
    patch = np.tile(np.arange(per), n_scenes)[:n]
    table = base.take(pa.array((scene % BASE_SCENES) * per + patch))
    sets = [bench_api.SEASONS[j % 4][0] for j in range(n_scenes)]
    assert table["collection"].to_pylist()[::per] == [sets[j] for j in range(n_scenes)][: len(table["collection"].to_pylist()[::per])]

    def put(name, values):
        nonlocal table
        i = table.schema.get_field_index(name)
        table = table.set_column(i, table.schema.field(i), pa.array(values, table.schema.field(i).type))

    put("id", [f"{sets[j]}_{j}_p{k}" for j, k in zip(scene.tolist(), patch.tolist())])
    put("sen12:scene_id", [f"{sets[j]}_{j}" for j in scene.tolist()])
    put("sen12:scene_index", scene)
    # place: each scene moved to its own random spot (lon -170..170, lat -55..70)
    geoms = shapely.from_wkb(table["geometry"].combine_chunks().storage.to_numpy(zero_copy_only=False) if isinstance(table["geometry"].type, pa.ExtensionType) else table["geometry"].to_numpy(zero_copy_only=False))
    x0 = shapely.bounds(geoms)[:, 0].reshape(-1)
    y0 = shapely.bounds(geoms)[:, 1].reshape(-1)
    base_x = x0[(scene % BASE_SCENES) * per]  # the base scene's first patch
    base_y = y0[(scene % BASE_SCENES) * per]
    lon, lat = rng.uniform(-170, 170, n_scenes), rng.uniform(-55, 70, n_scenes)
    dx, dy = lon[scene] - base_x, lat[scene] - base_y
    counts = shapely.get_num_coordinates(geoms)
    offs = np.stack([np.repeat(dx, counts), np.repeat(dy, counts)], axis=1)
    moved = shapely.transform(geoms, lambda c: c + offs)
    wkb = shapely.to_wkb(moved)
    gi = table.schema.get_field_index("geometry")
    gf = table.schema.field(gi)
    storage = pa.array(wkb, pa.binary())
    table = table.set_column(gi, gf, pa.ExtensionArray.from_storage(gf.type, storage) if isinstance(gf.type, pa.ExtensionType) else storage)
    b = shapely.bounds(moved)
    table = table.set_column(table.schema.get_field_index("bbox"), table.schema.field("bbox"),
                             pa.StructArray.from_arrays([pa.array(b[:, i]) for i in range(4)], names=["xmin", "ymin", "xmax", "ymax"]))
    # time, split, kind per scene; cloud cover per item
    starts = np.array([datetime.fromisoformat(bench_api.SEASONS[j % 4][1]).replace(tzinfo=timezone.utc).timestamp() for j in range(n_scenes)])
    t2 = ((starts + rng.uniform(0, 89 * 86400, n_scenes)).astype("int64") * 1_000_000)[scene]
    t1 = t2 - (rng.uniform(1, 30, n_scenes) * 3600e6).astype("int64")[scene]
    for name, v in (("datetime", t2), ("end_datetime", t2), ("start_datetime", t1)):
        put(name, pa.array(v, pa.int64()).cast(table.schema.field(name).type))
    put("ml-aoi:split", np.array(["train", "validate", "test"])[rng.choice(3, n_scenes, p=[0.8, 0.1, 0.1])][scene])
    put("sen12:roi_kind", np.where(rng.random(n_scenes) < 1 / 3, "urban", "land")[scene])
    put("eo:cloud_cover", np.round(rng.uniform(0, 10, n), 4))
    return table


def make_release(work: Path, n: int) -> Path:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    import copy

    release = work / "release"
    marker = work / "generated-select.json"
    if marker.exists() and json.loads(marker.read_text()).get("items") == n and release.exists():
        return release
    shutil.rmtree(release, ignore_errors=True)
    item0, coll0 = bench_api.template(work)
    t = time.perf_counter()
    table = fast_table(item0, n)
    release.mkdir(parents=True)
    root = {"type": "Catalog", "stac_version": "1.1.0", "id": "sen1-2", "description": "bench", "links": []}
    counts = {}
    for set_name, _, _ in bench_api.SEASONS:
        part = table.filter(pc.equal(table["collection"], set_name))
        counts[set_name] = part.num_rows
        (release / set_name).mkdir()
        pq.write_table(part, release / set_name / "items.parquet", compression="zstd")
        c = copy.deepcopy(coll0)
        c["id"] = set_name
        c["links"] = [l for l in c["links"] if l["rel"] not in ("child", "item")]
        c["assets"] = {"items": {"href": "./items.parquet", "type": "application/vnd.apache.parquet", "roles": ["stac-items"]}}
        (release / set_name / "collection.json").write_text(json.dumps(c))
        root["links"].append({"rel": "child", "href": f"./{set_name}/collection.json", "type": "application/json"})
    (release / "catalog.json").write_text(json.dumps(root))
    print(f"generated {n:,} items in {time.perf_counter() - t:.0f} s: {counts}", flush=True)
    marker.write_text(json.dumps({"items": n, "counts": counts}))
    return release


def _old_filter(table, expr):
    """select()'s filter before this change: every row back into an item dict, cql2 per item
    (an item it cannot decide was an exception then; here not selected, as now)."""
    import pyarrow as pa
    from stac_geoparquet.arrow import stac_table_to_items

    def ok(item):
        try:
            return bool(expr.matches(item))
        except Exception:  # noqa: BLE001
            return False

    return table.filter(pa.array([ok(it) for it in stac_table_to_items(table)], pa.bool_()))


def time_select(release: Path, kwargs: dict, reps: int, *, per_item: bool = False) -> tuple[float, list[str], float]:
    from sen12stac.stream import select

    module = sys.modules["sen12stac.stream.select"]  # the module (the package's `select` is the function)
    own = (module._filter_cql2, module._columns_to_read, module._pairs_from_table)
    if per_item:  # the path before: whole parquet read, the filter per item, pairs row by row
        module._filter_cql2 = _old_filter
        module._columns_to_read = lambda schema, expr_json: None
        module._pairs_from_table = lambda table, key: list(module._pairs_row_by_row(table, key))
    try:
        times, cpu, ids = [], [], []
        for _ in range(reps):
            t, c = time.perf_counter(), time.process_time()
            sel = select(str(release), **kwargs)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            ids = [p.id for p in sel]
            del sel
    finally:
        module._filter_cql2, module._columns_to_read, module._pairs_from_table = own
    return statistics.median(times), ids, statistics.median(cpu)


def time_arrow_ids(release: Path, kwargs: dict, reps: int) -> tuple[float | None, list[str] | None]:
    """ids where the filter holds, by this change's pushdown alone over the same parquet files
    (the columns it names read, Arrow compute, no pairs built): DuckDB's like for like."""
    import cql2
    import pyarrow.parquet as pq

    from sen12stac.stream.pushdown import columns_of, evaluate, plan

    if set(kwargs) != {"filter"}:
        return None, None
    expr = cql2.Expr(kwargs["filter"]).to_json()
    files = sorted(release.glob("*/items.parquet"))
    times, ids = [], []
    for _ in range(reps):
        t = time.perf_counter()
        ids = []
        for f in files:
            pf = pq.ParquetFile(f)
            p = plan(expr, pf.schema_arrow)
            if p.rest:
                return None, None
            table = pf.read(columns=sorted(columns_of(p.pushed, pf.schema_arrow) | {"id"}))
            ids += table.filter(evaluate(p.pushed, table))["id"].to_pylist()
        ids.sort()
        times.append(time.perf_counter() - t)
    return statistics.median(times), ids


def time_duckdb(release: Path, kwargs: dict, reps: int) -> tuple[float | None, list[str] | None, str]:
    """ids where cql2's SQL rendering of the filter holds, by DuckDB over the same parquet files."""
    import cql2
    import duckdb

    if set(kwargs) != {"filter"}:
        return None, None, "no filter"
    files = sorted(str(p) for p in release.glob("*/items.parquet"))
    sql = cql2.Expr(kwargs["filter"]).to_sql()
    where = sql if isinstance(sql, str) else getattr(sql, "query", str(sql))
    con = duckdb.connect()
    try:
        times, ids = [], []
        for _ in range(reps):
            t = time.perf_counter()
            ids = [r[0] for r in con.execute(f"SELECT id FROM read_parquet({files!r}, union_by_name = true) WHERE {where} ORDER BY id").fetchall()]
            times.append(time.perf_counter() - t)
    except Exception as exc:  # noqa: BLE001 - what DuckDB cannot run of cql2's SQL
        return None, None, str(exc).strip().splitlines()[0][:120]
    finally:
        con.close()
    return statistics.median(times), ids, where


def run_api(release: Path, work: Path, port: int | None, expected: dict[str, list[str]]) -> tuple[dict, float]:
    """Load the release into a private pgstac (``api load``), serve it (``api serve``), and time
    the same queries through select(api=...)."""
    from api_search import free_port, start_server

    from sen12stac.api.database import PrivateCluster, prepare_database
    from sen12stac.api.load import load_release
    from sen12stac.api.release import open_release
    from sen12stac.stream import select

    shutil.rmtree(work / "pg", ignore_errors=True)
    cluster = PrivateCluster(work / "pg")
    out: dict[str, tuple] = {}
    try:
        cluster.start()
        prepare_database(cluster.dsn)
        t = time.perf_counter()
        load_release(open_release(str(release)), cluster.dsn)
        load_s = time.perf_counter() - t
        print(f"api load {load_s:.0f} s", flush=True)
        port = port or free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server([EXE, "api", "serve", "--dsn", cluster.reader_dsn(), "--port", str(port)], url)
        try:
            for name, kwargs in QUERIES.items():
                if len(expected[name]) > API_MAX:
                    out[name] = (None, None, len(expected[name]) // 100 + 1)
                    continue
                try:
                    select(url, api=True, **kwargs) if name == next(iter(QUERIES)) else None  # warm-up once
                    t = time.perf_counter()
                    sel = select(url, api=True, **kwargs)
                except Exception as exc:  # noqa: BLE001 - a query the API refuses: say so in the table
                    out[name] = (None, None, str(exc).splitlines()[0][:100])
                    print(f"api {name}: {out[name][2]}", flush=True)
                    continue
                out[name] = (time.perf_counter() - t, [p.id for p in sel], len(sel) // 100 + 1)
                print(f"api {name}: {out[name][0]:.2f} s, {len(sel)} pairs", flush=True)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(30)
    finally:
        cluster.stop()
    return out, load_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=282384)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--work", type=Path, default=None, help="scratch folder, kept; its generated release is reused by a later run with the same --items (default: a temporary one under /var/tmp, removed)")
    ap.add_argument("--port", type=int, default=None, help="port of the STAC API server (127.0.0.1; default: a free one)")
    ap.add_argument("--skip-api", action="store_true", help="no STAC API (no PostgreSQL needed)")
    ap.add_argument("--skip-per-item", action="store_true", help="no per-item baseline (about a minute per query at full size)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "select.md")
    args = ap.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="sen12stac-bench-select-", dir="/var/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)
    loads = [("start", os.getloadavg()[0])]
    try:
        release = make_release(work, args.items)
        time_select(release, {"filter": "\"ml-aoi:split\" = 'test'"}, 1)  # imports and first reads: not timed
        rows: dict[str, dict] = {}
        for name, kwargs in QUERIES.items():
            s, ids, cpu = time_select(release, kwargs, args.reps)
            rows[name] = {"select": s, "cpu": cpu, "ids": ids}
            d_s, d_ids, d_note = time_duckdb(release, kwargs, args.reps)
            rows[name]["duckdb"] = (d_s, d_ids == ids if d_ids is not None else None, d_note)
            a_s, a_ids = time_arrow_ids(release, kwargs, args.reps)
            assert a_ids is None or a_ids == ids
            rows[name]["arrow"] = a_s
            print(f"{name}: select {s:.2f} s, {len(ids):,} pairs; duckdb {d_s if d_s is None else round(d_s, 2)} ({d_note[:60]})", flush=True)
        loads.append(("after select", os.getloadavg()[0]))
        if not args.skip_per_item:
            for name in PER_ITEM:
                s, ids, _ = time_select(release, QUERIES[name], 1, per_item=True)
                assert ids == rows[name]["ids"], f"{name}: the per-item evaluation selected other pairs"
                rows[name]["per_item"] = s
                print(f"{name}: per item {s:.1f} s", flush=True)
            loads.append(("after per-item", os.getloadavg()[0]))
        api_load = None
        if not args.skip_api:
            api, api_load = run_api(release, work, args.port, {n: r["ids"] for n, r in rows.items()})
            for name, (s, ids, pages) in api.items():
                if ids is not None:
                    assert ids == rows[name]["ids"], f"{name}: the STAC API answered other pairs"
                rows[name]["api"] = (s, pages)
            loads.append(("after API", os.getloadavg()[0]))
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)

    lines = [
        f"# Selections at {args.items:,} items: select() on the release's stac-geoparquet beside the STAC API",
        "",
        f"Command: `{' '.join(['.venv/bin/python bench/bench_select.py', *sys.argv[1:]])}`; {platform.node()}, {os.cpu_count()} cores, shared machine. "
        "Load average (1 min): " + ", ".join(f"{k} {v:.1f}" for k, v in loads) + ".",
        "",
        f"select(): a folder release, catalog + collections + one geoparquet per season read and filtered, pairs built; median of {args.reps}. "
        "Per item: the same select() with the filter evaluated as before this change (every remaining row back into an item by stac-geoparquet's "
        "`stac_table_to_items`, cql2's `Expr.matches` per item), once. DuckDB: cql2's `to_sql()` of the filter over the same parquet files, ids only, "
        f"median of {args.reps}. STAC API: the release loaded by `api load` ({api_load:.0f} s) into a private PostgreSQL with `api up`'s settings, "
        "served by `api serve`, the same query through `select(url, api=True)` (pystac-client, pages of 100), once after one warm-up; "
        f"answers above {API_MAX:,} pairs not fetched (pages given). Every path's ids were checked equal to select()'s." if api_load is not None else "STAC API: skipped.",
        "",
        "| query | pairs | select() s (CPU s) | per item s | per item / select() | pushdown alone, ids s | DuckDB, ids s (cql2 SQL) | STAC API s (pages) | STAC API / select() |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        pi = r.get("per_item")
        d_s, d_same, d_note = r["duckdb"]
        api = r.get("api")
        duck = f"{d_s:.2f}" + ("" if d_same else " (other ids)") if d_s is not None else f"n/a: {d_note}"
        if api is None:
            api_cell = "skipped"
        elif api[0] is None:
            api_cell = f"not fetched ({api[1]:,} pages)" if isinstance(api[1], int) else f"refused: {api[1]}"
        else:
            api_cell = f"{api[0]:.2f} ({api[1]:,})"
        ratio_api = "" if api is None or api[0] is None else f"**{api[0] / r['select']:.1f}x**"
        sel_s = r["select"]
        pi_cells = ("", "") if pi is None else (f"{pi:.1f}", f"**{pi / sel_s:.0f}x**")
        arrow = "" if r["arrow"] is None else f"{r['arrow']:.2f}"
        lines.append(f"| {name} | {len(r['ids']):,} | {sel_s:.2f} ({r['cpu']:.2f}) | {pi_cells[0]} | {pi_cells[1]} | {arrow} | {duck} | {api_cell} | {ratio_api} |")
    lines += ["", "Filters: " + "; ".join(f"{n}: `{json.dumps(q)}`" for n, q in QUERIES.items()) + "."]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.write_text(text)


if __name__ == "__main__" and sys.argv[1:2] != ["--generate-only"]:
    main()
if __name__ == "__main__" and sys.argv[1:2] == ["--generate-only"]:  # --generate-only WORK ITEMS: the release alone
    Path(sys.argv[2]).mkdir(parents=True, exist_ok=True)
    make_release(Path(sys.argv[2]), int(sys.argv[3]))
