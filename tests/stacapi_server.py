"""A real STAC API for tests: a private PostgreSQL + PostGIS cluster with pgstac, loaded with
given collections and items, served by stac-fastapi-pgstac under uvicorn on 127.0.0.1.

    with LocalStacApi(tmp_path) as api:
        api.load(collections, items)
        api.url  # http://127.0.0.1:PORT

Runs as root by handing the cluster to the unprivileged ``postgres`` account (initdb refuses
root). Everything it starts is stopped by :meth:`close` (by PID / pg_ctl, never by name).
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterable

from .s3server import free_port


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    assert found, "PostgreSQL server binaries not found: run scripts/system-deps.sh (postgresql, postgis)"
    return Path(found[-1]).parent


class LocalStacApi:
    def __init__(self, folder: Path | None = None) -> None:
        # Not under pytest's tmp folder: as root the cluster belongs to the postgres account, which
        # must traverse every parent, and pytest (ours and other users' runs) keeps its root 0700.
        self._own = folder is None
        self.folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="sen12stac-stacapi-"))
        self.pg_port: int | None = None
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self._user = "postgres" if os.geteuid() == 0 else None
        self._log = self.folder / "api.log"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/pgstac"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self, args: list[str]) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C", HOME=str(self.folder))
        r = subprocess.run(args, user=self._user, env=env, capture_output=True, text=True, cwd=str(self.folder), timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed ({r.returncode}): {(r.stderr or r.stdout)[-1500:]}")

    def start(self) -> "LocalStacApi":
        bins = _pg_bin()
        self.folder.mkdir(parents=True, exist_ok=True)
        data, sock = self.folder / "pgdata", self.folder / "sock"
        sock.mkdir(exist_ok=True)
        if self._user:
            pw = pwd.getpwnam(self._user)
            for p in (self.folder, sock):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        self._run([str(bins / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"])
        self.pg_port = free_port()
        self._run([str(bins / "pg_ctl"), "-D", str(data), "-l", str(self.folder / "pg.log"), "-w", "-t", "60", "-o",
                   f"-p {self.pg_port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off", "start"])
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.pg_port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE pgstac")
        from pypgstac.db import PgstacDB
        from pypgstac.migrate import Migrate

        with PgstacDB(dsn=self.dsn) as db:
            Migrate(db).run_migration()
        return self

    def load(self, collections: Iterable[dict[str, Any]], items: Iterable[dict[str, Any]]) -> None:
        from pypgstac.db import PgstacDB
        from pypgstac.load import Loader, Methods

        with PgstacDB(dsn=self.dsn) as db:
            loader = Loader(db)
            loader.load_collections(iter(list(collections)), Methods.upsert)
            loader.load_items(iter(list(items)), Methods.upsert)

    def serve(self) -> str:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "AWS_"))}
        env.update(PGUSER="postgres", PGPASSWORD="", PGHOST="127.0.0.1", PGPORT=str(self.pg_port), PGDATABASE="pgstac",
                   STAC_FASTAPI_TITLE="test", STAC_FASTAPI_DESCRIPTION="test", DB_MIN_CONN_SIZE="1", DB_MAX_CONN_SIZE="4")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "stac_fastapi.pgstac.app:create_app", "--factory", "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
            stdout=open(self._log, "wb"), stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"stac-fastapi-pgstac exited: {self._log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=2) as r:
                    if r.status == 200:
                        return self.url
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"stac-fastapi-pgstac did not answer: {self._log.read_text()[-2000:]}")

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=5)
            self.proc = None
        if self.pg_port is not None and (self.folder / "pgdata").exists():
            try:
                self._run([str(_pg_bin() / "pg_ctl"), "-D", str(self.folder / "pgdata"), "-m", "immediate", "-w", "stop"])
            except RuntimeError:
                pass
            self.pg_port = None
        if self._own:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "LocalStacApi":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
