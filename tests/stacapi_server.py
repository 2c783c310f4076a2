"""A real STAC API holding arbitrary items (here: items of the providers' shapes), built from
the project's own parts: ``sen12stac.api.database.PrivateCluster`` (PostgreSQL + PostGIS in a
temporary folder, reached by its Unix socket only), pgstac migrated by ``prepare_database``, the items loaded
with pypgstac's loader, and ``sen12stac api serve`` (stac-fastapi-pgstac) as a subprocess.

    with LocalStacApi() as api:
        api.load(collections, items)
        api.serve()   # -> http://127.0.0.1:PORT

Everything it starts is stopped by :meth:`close` (by PID and pg_ctl, never by name).
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterable

from .apihelpers import EXE, pg_folder, stop, wait_http
from .s3server import free_port


class LocalStacApi:
    def __init__(self) -> None:
        self.folder: Path = pg_folder("sen12stac-stacapi-")  # not pytest's 0700 tree: postgres must reach it
        self.cluster: Any = None
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None

    @property
    def dsn(self) -> str:
        return self.cluster.dsn

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "LocalStacApi":
        from sen12stac.api.database import PrivateCluster, prepare_database

        self.cluster = PrivateCluster(self.folder, durable=False).start()
        prepare_database(self.cluster.dsn)
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
        self.proc = subprocess.Popen([EXE, "api", "serve", "--dsn", self.dsn, "--port", str(self.port)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        wait_http(self.url + "/", self.proc)
        return self.url

    def close(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None
        if self.cluster is not None:
            self.cluster.stop()
            self.cluster = None
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "LocalStacApi":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
