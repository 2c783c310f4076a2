"""The search half of bench/bench_api.py: POST /search on `sen12stac api serve` and on
stac-fastapi-pgstac's own app over the same loaded database, and pgstac's ``search()`` alone.

Run through bench/bench_api.py (``--search-only`` reuses the database of an earlier
``--keep-running`` run).
"""
from __future__ import annotations

import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

EXE = str(Path(sys.executable).with_name("sen12stac"))
EUROPE = [-25.0, 34.0, 45.0, 72.0]


def orjson_dumps(obj) -> bytes:
    import orjson

    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def queries() -> dict[str, dict]:
    return {
        "season + split": {"collections": ["ROIs1158_spring"], "filter": {"op": "=", "args": [{"property": "ml-aoi:split"}, "test"]}, "filter-lang": "cql2-json"},
        "bbox (Europe) + split": {"bbox": EUROPE, "filter": {"op": "=", "args": [{"property": "ml-aoi:split"}, "test"]}, "filter-lang": "cql2-json"},
        "cloud cover + datetime": {"datetime": "2017-03-01T00:00:00Z/2017-04-15T00:00:00Z", "filter": {"op": "<", "args": [{"property": "eo:cloud_cover"}, 5]}, "filter-lang": "cql2-json"},
    }


def time_api(urls: dict[str, str], reps: int) -> list[dict]:
    """p50/p95 of POST /search on each server in ``urls`` (name -> base URL), the servers taking
    turns per query (3 warm-ups each, then ``reps`` requests), so that they see the same load.
    pgstac counts a filter's matches once and caches the count for later searches of it (a
    day): the first server's warm-ups pay it, and every server then reads it."""
    import httpx

    rows = {(name, limit): {"query": name, "limit": limit} for name in queries() for limit in (10, 100)}
    with httpx.Client(timeout=120) as client:  # Accept-Encoding: gzip, deflate, br (brotli is installed)
        for name, body in queries().items():
            for server, url in urls.items():
                for limit in (10, 100):
                    req = dict(body, limit=limit)
                    for _ in range(3):
                        r = client.post(url + "/search", json=req)
                        r.raise_for_status()
                    times = []
                    for _ in range(reps):
                        t = time.perf_counter()
                        r = client.post(url + "/search", json=req)
                        times.append((time.perf_counter() - t) * 1000)
                        r.raise_for_status()
                    data = r.json()
                    rows[(name, limit)][server] = {"p50": statistics.median(times), "p95": pct(times, 0.95), "matched": data.get("numberMatched"), "returned": len(data["features"]), "bytes": len(r.content), "encoding": r.headers.get("content-encoding"), "body": data}
    return list(rows.values())


def start_server(cmd: list[str], url: str, env: dict | None = None) -> subprocess.Popen:
    import httpx

    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    for _ in range(300):
        try:
            httpx.get(url + "/", timeout=2).raise_for_status()
            return server
        except Exception:  # noqa: BLE001
            if server.poll() is not None:
                sys.exit(f"server did not start: {' '.join(cmd)}")
            time.sleep(0.2)
    return server


def stock_server(dsn: str, port: int, api_hydrate: bool = True) -> tuple[list[str], dict]:
    """stac-fastapi-pgstac's own app, as its docs start it (settings from PG* and its own
    variables): the baseline. Our cluster listens on a Unix socket only; the app builds a URL
    from PGHOST, so the socket folder goes in percent-encoded (asyncpg decodes it)."""
    from urllib.parse import quote

    from psycopg.conninfo import conninfo_to_dict

    d = conninfo_to_dict(dsn)
    host = d.get("host", "127.0.0.1")
    env = dict(os.environ, PGUSER=d.get("user", "postgres"), PGPASSWORD=d.get("password", ""), PGHOST=quote(host, safe="") if host.startswith("/") else host,
               PGPORT=str(d.get("port", 5432)), PGDATABASE=d["dbname"], USE_API_HYDRATE=str(api_hydrate).lower(), STAC_FASTAPI_TITLE="baseline", STAC_FASTAPI_DESCRIPTION="baseline")
    uvicorn = str(Path(sys.executable).with_name("uvicorn"))
    return [uvicorn, "stac_fastapi.pgstac.app:create_app", "--factory", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"], env


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_sql(dsn: str, reps: int) -> dict[tuple[str, int], float]:
    import psycopg

    out = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET search_path TO pgstac, public")
        for name, body in queries().items():
            for limit in (10, 100):
                req = json.dumps(dict(body, limit=limit, conf={"nohydrate": True}))  # as the API asks (use_api_hydrate)
                for _ in range(3):
                    conn.execute("SELECT search(%s::jsonb)", (req,)).fetchone()
                times = []
                for _ in range(reps):
                    t = time.perf_counter()
                    conn.execute("SELECT search(%s::jsonb)", (req,)).fetchone()
                    times.append((time.perf_counter() - t) * 1000)
                out[(name, limit)] = statistics.median(times)
    return out


def run_searches(cluster, args) -> tuple[list[dict], dict]:
    """The three servers on the loaded database, the searches timed on them, their answers
    compared, then ``search()`` in SQL alone; the servers are stopped at the end."""
    port, port0, port1 = (args.port, args.port + 1, args.port + 2) if args.port else (free_port(), free_port(), free_port())
    url, url0, url1 = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port0}", f"http://127.0.0.1:{port1}"
    servers = []
    try:
        servers.append(start_server([EXE, "api", "serve", "--dsn", cluster.reader_dsn(), "--port", str(port)], url))  # as `api up` serves
        cmd0, env0 = stock_server(cluster.dsn, port0)
        servers.append(start_server(cmd0, url0, env0))
        cmd1, env1 = stock_server(cluster.dsn, port1, api_hydrate=False)
        servers.append(start_server(cmd1, url1, env1))
        rows = time_api({"ours": url, "stock": url0, "stock_db": url1}, args.reps)
    finally:
        for proc in servers:
            proc.send_signal(signal.SIGINT)
            proc.wait(30)
    for r in rows:  # the same answers (items, counts, links) from all, but for the landing/self hrefs' port
        a, b, c = (orjson_dumps(r[k].pop("body")).replace(u.encode(), b"URL") for k, u in (("ours", url), ("stock", url0), ("stock_db", url1)))
        assert a == b, f"{r['query']} limit {r['limit']}: ours and stac-fastapi-pgstac's app answered differently"
        r["same_db"] = a == c
    return rows, time_sql(cluster.dsn, args.reps)


def search_lines(rows: list[dict], sql_ms: dict, reps: int) -> list[str]:
    lines = [
        f"POST /search, {reps} sequential requests after 3 warm-ups (ms; httpx, `Accept-Encoding: gzip, deflate, br`, so brotli-compressed responses) on three servers of the same database, taking turns per query and checked to return the same items, counts and links: "
        "`sen12stac api serve` as `api up` runs it (stac-fastapi-pgstac's app through its public settings and hooks: API hydration, no parallel workers, read-only routes, a pgstac_read role); "
        "baseline, stac-fastapi-pgstac's own app as its docs start it (`uvicorn stac_fastapi.pgstac.app:create_app --factory`) with `USE_API_HYDRATE=true`; "
        "and the same with its default, hydration in PostgreSQL. `pgstac.search()` in SQL alone (no hydration) in the same run:",
        "",
        "| query | limit | p50 | p95 | baseline p50 | baseline p95 | ratio to baseline (p50) | default app p50 (same answers) | SQL search() p50 | numberMatched | response KB (decoded) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        o, b, d = r["ours"], r["stock"], r["stock_db"]
        lines.append(f"| {r['query']} | {r['limit']} | {o['p50']:.1f} | {o['p95']:.1f} | {b['p50']:.1f} | {b['p95']:.1f} | {o['p50'] / b['p50']:.2f} | {d['p50']:.1f} ({'yes' if r['same_db'] else 'no'}) | {sql_ms[(r['query'], r['limit'])]:.1f} | {o['matched']:,} | {o['bytes'] / 1024:.0f} |")
    return lines


def search_only(args) -> None:
    """--search-only: the searches on the database a --keep-running run left in --work (stopped)."""
    from sen12stac.api.database import PrivateCluster

    if args.work is None or not (args.work / "pg" / "pgdata" / "PG_VERSION").exists():
        sys.exit("--search-only needs --work with the database of an earlier run (--keep-running)")
    cluster = PrivateCluster(args.work / "pg").start()
    try:
        start = os.getloadavg()[0]
        rows, sql_ms = run_searches(cluster, args)
        end = os.getloadavg()[0]
    finally:
        cluster.stop()
    lines = [f"# STAC API searches ({args.items:,} items, the database of an earlier run)", "",
             f"Command: `{' '.join(['.venv/bin/python bench/bench_api.py', *sys.argv[1:]])}`; {platform.node()}, {os.cpu_count()} cores, shared machine. "
             f"Load average (1 min) on the 2 cores: {start:.1f} at the start, {end:.1f} at the end.", "", *search_lines(rows, sql_ms, args.reps)]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.write_text(text)


