"""`sen12stac api up|load|serve` as a user runs them: errors, all-or-nothing loads, S3 releases, `up` twice."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import psycopg
import pytest

from tests.apihelpers import EXE, fresh_db, pg_folder, run_cli, snapshot, sql, static_items, stop, wait_http
from tests.s3server import TEST_ACCESS_KEY, TEST_SECRET_KEY, free_port

pytest_plugins = ["tests.apifixtures", "tests.conftest_s3"]

S3_ENV = {"AWS_ACCESS_KEY_ID": TEST_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": TEST_SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1"}


def one_error_line(r: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    errors = [l for l in lines if l.startswith("error:")]
    assert len(errors) == 1, r.stderr
    assert errors[0].count("Fix:") == 1, errors[0]
    return errors[0]


def test_wrong_dsn(built_release):
    dsn = f"postgresql://postgres@127.0.0.1:{free_port()}/pgstac"
    r = run_cli("api", "load", str(built_release), "--dsn", dsn)
    assert r.returncode == 8
    line = one_error_line(r)
    assert f"cannot connect to {dsn}" in line and "--dsn" in line
    r = run_cli("api", "serve", "--dsn", "postgresql://postgres:s3cret-pw@127.0.0.1:1/pgstac")
    assert r.returncode == 8 and "cannot connect" in one_error_line(r)
    assert "s3cret-pw" not in r.stderr + r.stdout  # a password never reaches the terminal


def test_database_without_pgstac(pg, built_release):
    base = pg.dsn.rsplit("/", 1)[0]
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS plain")
        conn.execute("CREATE DATABASE plain")
    r = run_cli("api", "load", str(built_release), "--dsn", base + "/plain")
    assert r.returncode == 8
    line = one_error_line(r)
    assert "has no pgstac schema" in line and "pypgstac migrate" in line
    r = run_cli("api", "serve", "--dsn", base + "/plain")
    assert r.returncode == 8 and "has no pgstac schema" in one_error_line(r)
    # --migrate is the fix it names
    r = run_cli("api", "load", str(built_release), "--dsn", base + "/plain", "--migrate")
    assert r.returncode == 0, r.stderr
    assert sql(base + "/plain", "SELECT count(*) FROM pgstac.items")[0][0] == len(static_items(built_release))


def test_url_that_is_not_a_release(tmp_path, pg):
    (tmp_path / "notes.txt").write_text("hello")
    r = run_cli("api", "load", str(tmp_path), "--dsn", pg.dsn)
    assert r.returncode == 2
    assert "is not a sen12stac release" in one_error_line(r)
    (tmp_path / "catalog.json").write_text(json.dumps({"type": "Feature", "id": "x"}))
    r = run_cli("api", "load", str(tmp_path / "catalog.json"), "--dsn", pg.dsn)
    assert r.returncode == 2 and "not a root Catalog" in one_error_line(r)


def test_unreachable_and_missing_bucket(pg, moto):
    r = run_cli("api", "load", "s3://sen12-nowhere/sen12", "--dsn", pg.dsn, "--endpoint-url", f"http://127.0.0.1:{free_port()}", env=S3_ENV)
    assert r.returncode == 4
    assert "cannot reach" in one_error_line(r)
    r = run_cli("api", "load", "s3://sen12-missing-bucket/sen12", "--dsn", pg.dsn, "--endpoint-url", moto.endpoint_url, env=S3_ENV)
    assert r.returncode == 4
    assert "does not exist" in one_error_line(r)


def test_a_failed_load_leaves_the_previous_state(pg, built_release, tmp_path):
    """All or nothing per collection. Every item of the copy changes (new hrefs: another folder;
    winter also a new cloud cover), and the last winter item cannot be stored (a NUL character,
    which PostgreSQL's jsonb refuses): the load fails after pypgstac has sent earlier winter rows
    in the collection's one transaction, and winter is exactly as before, its collection JSON
    too. Spring, loaded first, is committed with its new hrefs."""
    from sen12stac.api.load import load_release, open_release
    from sen12stac.errors import DatabaseError

    dsn = fresh_db(pg, "rollback")
    load_release(open_release(str(built_release)), dsn)
    before = snapshot(dsn)
    assert len(before) == len(static_items(built_release))

    copy = tmp_path / "changed"
    shutil.copytree(built_release, copy)
    (copy / "ROIs2017_winter" / "items.parquet").unlink()  # the loader walks the item JSON instead
    winter = sorted(copy.glob("ROIs2017_winter/*/ROIs2017_winter_*_p*.json"))
    assert len(winter) > 10
    for path in winter:
        item = json.loads(path.read_text())
        item["properties"]["eo:cloud_cover"] = 77.7
        path.write_text(json.dumps(item))
    bad = json.loads(winter[-1].read_text())
    bad["properties"]["title"] = "broken \u0000 title"
    winter[-1].write_text(json.dumps(bad))

    def rows(coll: str) -> list[tuple]:
        return [row for row in snapshot(dsn) if row[0] == coll]

    winter_json = sql(dsn, "SELECT content FROM pgstac.collections WHERE id = 'ROIs2017_winter'")
    spring_before = [row for row in before if row[0] == "ROIs1158_spring"]
    winter_before = [row for row in before if row[0] == "ROIs2017_winter"]
    with pytest.raises(DatabaseError, match="ROIs2017_winter .*rolled back"):
        load_release(open_release(str(copy)), dsn, chunksize=5)
    assert rows("ROIs2017_winter") == winter_before
    assert sql(dsn, "SELECT content FROM pgstac.collections WHERE id = 'ROIs2017_winter'") == winter_json  # put back
    spring_after = rows("ROIs1158_spring")
    assert [r[1] for r in spring_after] == [r[1] for r in spring_before]
    assert all("/changed/ROIs1158_spring/" in r[3] and "/changed/" not in b[3] for r, b in zip(spring_after, spring_before))
    r = run_cli("api", "load", str(copy), "--dsn", dsn)
    assert r.returncode == 8 and "ROIs2017_winter" in one_error_line(r)
    assert rows("ROIs2017_winter") == winter_before and rows("ROIs1158_spring") == spring_after


def test_s3_release_landing_catalog_asset_base_url_and_replace(pg, built_release, moto, bucket):
    publish = ["--endpoint-url", moto.endpoint_url, "--verify-cogs", "0", "--no-verify-walk"]
    r = run_cli("publish", str(built_release), f"s3://{bucket}/sen12", "--release", "1.0.0", *publish, env=S3_ENV)
    assert r.returncode == 0, r.stderr
    dsn = fresh_db(pg, "froms3")
    base = "https://data.example.org/sen12"
    r = run_cli("api", "load", f"s3://{bucket}/sen12/catalog.json", "--dsn", dsn, "--asset-base-url", base, "--endpoint-url", moto.endpoint_url, env=S3_ENV)
    assert r.returncode == 0, r.stderr
    walk = static_items(built_release)
    rows = sql(dsn, "SELECT id, content FROM pgstac.items")
    assert len(rows) == len(walk)
    item = next(c for i, c in rows if i == walk[0]["id"])
    assert item["assets"]["s1"]["href"].startswith(f"{base}/v1.0.0/{walk[0]['collection']}/s1_")
    assert {v for (v,) in sql(dsn, "SELECT content->>'version' FROM pgstac.collections")} == {"1.0.0"}

    r = run_cli("publish", str(built_release), f"s3://{bucket}/sen12", "--release", "1.1.0", *publish, env=S3_ENV)
    assert r.returncode == 0, r.stderr
    load = ["api", "load", f"s3://{bucket}/sen12", "--dsn", dsn, "--asset-base-url", base, "--endpoint-url", moto.endpoint_url]
    before = snapshot(dsn)
    r = run_cli(*load, env=S3_ENV)  # the landing catalog now leads to 1.1.0
    assert r.returncode == 5 and "--replace" in one_error_line(r)
    assert snapshot(dsn) == before
    r = run_cli(*load, "--replace", env=S3_ENV)
    assert r.returncode == 0, r.stderr
    hrefs = [c["assets"]["s2"]["href"] for _, c in sql(dsn, "SELECT id, content FROM pgstac.items")]
    assert len(hrefs) == len(walk) and all(h.startswith(f"{base}/v1.1.0/") for h in hrefs)


def _postmaster_pids(cache: Path) -> list[Path]:
    return list(cache.glob("api/*/pgdata/postmaster.pid"))


def test_up_serves_stops_on_ctrl_c_and_reuses_the_database(built_release):
    from pystac_client import Client

    cache = pg_folder("sen12stac-test-up-")
    cache.chmod(0o755)  # as root, the cluster below it belongs to the unprivileged postgres account
    env = {"SEN12STAC_WORK_DIR": str(cache)}
    n = len(static_items(built_release))
    try:
        for attempt, sig in ((1, signal.SIGINT), (2, signal.SIGTERM)):
            port = free_port()
            proc = subprocess.Popen([EXE, "api", "up", str(built_release), "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    env={**os.environ, **env, "COLUMNS": "5000"}, start_new_session=True)
            url = f"http://127.0.0.1:{port}"
            wait_http(url + "/", proc, timeout=120)
            assert Client.open(url).search(limit=50).matched() == n
            assert len(_postmaster_pids(cache)) == 1
            stop(proc, sig)
            output = proc.stdout.read()
            assert not _postmaster_pids(cache), output  # PostgreSQL stopped with the API
            assert f"STAC API at {url}" in output and "from pystac_client import Client" in output
            if attempt == 1:
                assert f"loaded {n} items" in output, output
            else:
                assert "reusing the database" in output and f"loaded {n} items" not in output, output
    finally:
        from sen12stac.api.database import find_postgres

        for pid in _postmaster_pids(cache):  # a failed assertion must not leave a server behind
            subprocess.run([find_postgres().exe("pg_ctl"), "-D", str(pid.parent), "-m", "immediate", "stop"], capture_output=True,
                           user="postgres" if os.geteuid() == 0 else None)
        shutil.rmtree(cache, ignore_errors=True)


def _as_other_user(args: list[str]) -> subprocess.CompletedProcess:
    """``args`` run by the unprivileged ``nobody`` account (we run as root), with no PG* variables."""
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": "/tmp"}
    return subprocess.run(args, user="nobody", env=env, cwd="/", capture_output=True, text=True, timeout=30)


def test_private_database_takes_no_tcp_and_no_other_user(pg):
    """`api up`'s cluster: nothing listens on TCP, no `trust` line for TCP in pg_hba, the socket's
    folder is its owner's alone; another local user cannot connect, by TCP or by the socket."""
    from psycopg.conninfo import conninfo_to_dict

    from sen12stac.api.database import find_postgres

    assert sql(pg.dsn, "SHOW listen_addresses")[0][0] == ""
    rules = sql(pg.dsn, "SELECT type, user_name, auth_method FROM pg_hba_file_rules")
    assert rules and not any(t.startswith("host") and m != "reject" for t, _, m in rules), rules
    assert not any(m == "trust" and (t != "local" or users not in (["postgres"], ["sen12stac_api"])) for t, users, m in rules), rules
    port = sql(pg.dsn, "SHOW port")[0][0]
    socket_dir = Path(conninfo_to_dict(pg.dsn)["host"])
    assert socket_dir.is_dir() and (socket_dir.stat().st_mode & 0o777) == 0o700
    psql = find_postgres().exe("psql")
    tcp = subprocess.run([psql, "-w", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "pgstac", "-c", "SELECT 1"],
                         env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"}, capture_output=True, text=True, timeout=30)
    assert tcp.returncode != 0 and "refused" in tcp.stderr, tcp.stdout + tcp.stderr
    if os.geteuid() == 0:  # another account on the machine (as a normal user, the 0700 folder above is what stops it)
        other = _as_other_user([psql, "-w", "-h", str(socket_dir), "-p", str(port), "-U", "postgres", "-d", "pgstac", "-c", "SELECT 1"])
        assert other.returncode != 0 and "Permission denied" in other.stderr, other.stdout + other.stderr


def test_a_cluster_made_open_is_closed_at_its_next_start():
    """A cache cluster of an older version (trust on TCP, a socket folder others could enter)
    is closed by the next start: pg_hba is rewritten, no TCP, the folder 0700 again."""
    from sen12stac.api.database import PrivateCluster

    folder = pg_folder("sen12stac-test-reopen-")
    cluster = PrivateCluster(folder, durable=False).start()
    try:
        cluster.stop()
        (folder / "pgdata" / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        (folder / "sock").chmod(0o755)
        cluster.start()
        rules = sql(cluster.dsn, "SELECT type, auth_method FROM pg_hba_file_rules")
        assert ("host", "trust") not in [tuple(r) for r in rules] and ("local", "scram-sha-256") in [tuple(r) for r in rules], rules
        assert sql(cluster.dsn, "SHOW listen_addresses")[0][0] == ""
        assert ((folder / "sock").stat().st_mode & 0o777) == 0o700
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_up_serves_as_a_role_that_can_search_and_cannot_write(pg, loaded):
    """`api up`'s API connects as pgstac's pgstac_read: it may search (and write pgstac's search
    caches), not change collections, items or settings."""
    reader = pg.reader_dsn()
    assert pg.reader_dsn() == reader  # made once
    with psycopg.connect(reader, autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "sen12stac_api"
        found = conn.execute("""SELECT pgstac.search('{"limit": 2, "collections": ["ROIs1158_spring"]}'::jsonb)""").fetchone()[0]
        assert len(found["features"]) == 2
        for stmt in ("DELETE FROM pgstac.items", "UPDATE pgstac.collections SET content = content",
                     "INSERT INTO pgstac.pgstac_settings (name, value) VALUES ('x', 'y')", "DELETE FROM pgstac.queryables"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(stmt)
    assert sql(loaded, "SELECT count(*) FROM pgstac.items")[0][0] > 0


def test_serve_stays_read_only_whatever_the_environment_says(pg, built_release):
    """stac-fastapi-pgstac turns its write routes on from the environment: `api serve` does not."""
    import httpx

    dsn = fresh_db(pg, "readonly")
    r = run_cli("api", "load", str(built_release), "--dsn", dsn)
    assert r.returncode == 0, r.stderr
    before = snapshot(dsn), sql(dsn, "SELECT id, content::text FROM pgstac.collections ORDER BY id")
    port = free_port()
    env = {**os.environ, "ENABLE_TRANSACTIONS_EXTENSIONS": "true", "ENABLED_EXTENSIONS": "transaction,bulk_transactions,query,sort,fields,filter,pagination,collection_search"}
    proc = subprocess.Popen([EXE, "api", "serve", "--dsn", dsn, "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/", proc)
        item = httpx.get(url + "/collections/ROIs1158_spring/items", params={"limit": 1}).json()["features"][0]
        coll = httpx.get(url + "/collections/ROIs1158_spring").json()
        writes = [
            ("POST", "/collections", dict(coll, id="new-collection")),
            ("PUT", "/collections/ROIs1158_spring", dict(coll, description="changed")),
            ("DELETE", "/collections/ROIs2017_winter", None),
            ("POST", "/collections/ROIs1158_spring/items", dict(item, id="new-item")),
            ("PUT", f"/collections/ROIs1158_spring/items/{item['id']}", dict(item, properties=dict(item["properties"], title="changed"))),
            ("DELETE", f"/collections/ROIs1158_spring/items/{item['id']}", None),
            ("POST", "/collections/ROIs1158_spring/bulk_items", {"items": {"x": dict(item, id="x")}}),
        ]
        for method, path, body in writes:
            got = httpx.request(method, url + path, json=body)
            assert got.status_code in (404, 405), (method, path, got.status_code, got.text[:200])
        conforms = httpx.get(url + "/conformance").json()["conformsTo"]
        assert not [c for c in conforms if "transaction" in c], conforms
        assert httpx.post(url + "/search", json={"limit": 1}).json()["numberMatched"] == len(before[0])
    finally:
        stop(proc)
    assert (snapshot(dsn), sql(dsn, "SELECT id, content::text FROM pgstac.collections ORDER BY id")) == before


def test_serve_on_an_address_other_than_loopback_warns_in_one_line():
    dsn = f"postgresql://postgres@127.0.0.1:{free_port()}/pgstac"  # nothing listens: the command stops after its checks
    r = run_cli("api", "serve", "--host", "0.0.0.0", "--port", str(free_port()), "--dsn", dsn)
    warnings = [l for l in r.stderr.splitlines() if l.startswith("warning:")]
    assert len(warnings) == 1 and "0.0.0.0" in warnings[0] and "network" in warnings[0], r.stderr
    assert r.returncode == 8 and "cannot connect" in one_error_line(r)
    for host in ("127.0.0.1", "localhost", "::1"):
        r = run_cli("api", "serve", "--host", host, "--port", str(free_port()), "--dsn", dsn)
        assert r.returncode == 8 and not [l for l in r.stderr.splitlines() if l.startswith("warning:")], (host, r.stderr)


def test_a_password_in_dsn_is_warned_about_and_never_shown():
    dsn = f"postgresql://postgres:s3cret-pw@127.0.0.1:{free_port()}/pgstac"
    r = run_cli("api", "serve", "--dsn", dsn)
    warnings = [l for l in r.stderr.splitlines() if l.startswith("warning:")]
    assert len(warnings) == 1 and "password" in warnings[0] and "PGPASSFILE" in warnings[0], r.stderr
    assert r.returncode == 8 and "cannot connect" in one_error_line(r)
    assert "s3cret-pw" not in r.stderr + r.stdout


def test_connection_from_the_environment_a_service_file_and_a_password_file(pg, loaded, built_release, tmp_path):
    """No --dsn: the connection comes from PG* variables, a pg_service.conf service and a password
    file (the private cluster trusts only its superuser on its socket; this role needs a password)."""
    from psycopg.conninfo import conninfo_to_dict

    parts = conninfo_to_dict(loaded)
    with psycopg.connect(loaded, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS sen12_reader")
        conn.execute("CREATE ROLE sen12_reader LOGIN PASSWORD 'pw-from-a-file' IN ROLE pgstac_read")
    services = tmp_path / "pg_service.conf"
    services.write_text(f"[sen12]\nhost={parts['host']}\nport={parts['port']}\ndbname={parts['dbname']}\nuser=sen12_reader\n")
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"*:*:{parts['dbname']}:sen12_reader:pw-from-a-file\n")
    passfile.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(PGSERVICEFILE=str(services), PGSERVICE="sen12", COLUMNS="5000")

    r = subprocess.run([EXE, "api", "serve", "--port", str(free_port())], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 8 and "password" in one_error_line(r)  # no password anywhere: refused, one line

    port = free_port()
    proc = subprocess.Popen([EXE, "api", "serve", "--port", str(port)], env={**env, "PGPASSFILE": str(passfile)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/", proc)
        import httpx

        assert httpx.post(url + "/search", json={"limit": 2}).json()["numberMatched"] == len(static_items(built_release))
        # every read route works for a role with pgstac's pgstac_read only
        assert {c["id"] for c in httpx.get(url + "/collections").json()["collections"]} == {"ROIs1158_spring", "ROIs2017_winter"}
        page = httpx.get(url + "/collections/ROIs1158_spring/items", params={"limit": 3}).json()["features"]
        assert len(page) == 3 and httpx.get(url + f"/collections/ROIs1158_spring/items/{page[0]['id']}").json()["id"] == page[0]["id"]
        assert "ml-aoi:split" in httpx.get(url + "/queryables").json()["properties"]
    finally:
        stop(proc)
    output = proc.stdout.read()
    assert "pw-from-a-file" not in output and "warning:" not in output, output

    # `api load` the same way: PG* variables alone
    dsn = fresh_db(pg, "fromenv")
    target = conninfo_to_dict(dsn)
    load_env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    load_env.update(PGHOST=target["host"], PGPORT=str(target["port"]), PGUSER=target["user"], PGDATABASE=target["dbname"])
    r = run_cli("api", "load", str(built_release), env=load_env)
    assert r.returncode == 0, r.stderr
    assert sql(dsn, "SELECT count(*) FROM pgstac.items")[0][0] == len(static_items(built_release))
