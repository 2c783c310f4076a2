"""Helpers for the STAC API tests (the fixtures are in tests/apifixtures.py)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

EXE = str(Path(sys.executable).with_name("sen12stac"))


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "COLUMNS": "5000", **(env or {})}
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=timeout, env=full_env)


def wait_http(url: str, proc: subprocess.Popen | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {proc.stdout.read() if proc.stdout else ''}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def stop(proc: subprocess.Popen, sig: int = signal.SIGINT, timeout: float = 30) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def pg_folder(prefix: str) -> Path:
    """A fresh folder the unprivileged postgres account can reach when we run as root (/tmp, not pytest's 0700 tree)."""
    return Path(tempfile.mkdtemp(prefix=prefix))


def static_items(release: Path) -> list[dict]:
    """Every item of the release by walking its static catalog (links from the root), as dicts."""
    import pystac

    cat = pystac.Catalog.from_file(str(release / "catalog.json"))
    return [item.to_dict(transform_hrefs=False) for item in cat.get_items(recursive=True)]


def sql(dsn: str, query: str, *args) -> list[tuple]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(query, args or None).fetchall()


def fresh_db(pg, name: str) -> str:
    """Another database in the session's cluster, with pgstac: tests that change data keep to their own."""
    import psycopg

    from sen12stac.api.database import prepare_database

    with psycopg.connect(pg.dsn.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    dsn = pg.dsn.rsplit("/", 1)[0] + "/" + name
    prepare_database(dsn)
    return dsn


def snapshot(dsn: str) -> list[tuple]:
    """(collection, id, row version, content) of every item: equal snapshots = nothing rewritten."""
    return sql(dsn, "SELECT collection, id, xmin::text, content::text FROM pgstac.items ORDER BY collection, id")


def write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj))
