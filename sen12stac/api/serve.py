"""stac-fastapi-pgstac under uvicorn, on 127.0.0.1 unless asked otherwise.

Extensions on: filter (CQL2 JSON and text), sort, fields, query, token pagination for item
search and item lists; collection search with free text (``q``; pgstac has no free text for
items). The client is stac-fastapi-pgstac's, subclassed in :mod:`sen12stac.api.client` (results as
orjson bytes, item links built once per request). Items are hydrated in the API process (``use_api_hydrate``: the hydraters package, in
Rust) rather than inside PostgreSQL: the field notes measured 3-4x faster searches with it,
and pgstac's SQL hydration dominated large pages. ``numberMatched`` comes from pgstac's
``context`` setting, which :func:`sen12stac.api.database.apply_settings` turns on.
"""
from __future__ import annotations

import logging
import socket
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from .. import __version__
from ..errors import ConfigError

TITLE = "SEN1-2 (sen12stac)"
DESCRIPTION = "SEN1-2 Sentinel-1/Sentinel-2 patch pairs as COGs, searchable by season, split, scene, place, time and QC fields."


@dataclass(frozen=True)
class ServeSettings:
    dsn: str
    host: str = "127.0.0.1"
    port: int = 8081
    hydrate_in_api: bool = True
    log_level: str = "warning"
    pool_size: int = 4


def postgres_settings(dsn: str, pool_size: int = 4):
    """stac-fastapi-pgstac's PostgresSettings from a DSN (it reads PG* variables otherwise)."""
    from psycopg.conninfo import conninfo_to_dict
    from stac_fastapi.pgstac.config import PostgresSettings, ServerSettings

    parts = conninfo_to_dict(dsn)
    return PostgresSettings(
        pguser=parts.get("user", "postgres"),
        pgpassword=parts.get("password", ""),
        pghost=parts.get("host", "127.0.0.1"),
        pgport=int(parts.get("port", 5432)),
        pgdatabase=parts.get("dbname", "postgres"),
        db_min_conn_size=1,
        db_max_conn_size=pool_size,
        # The API's sessions plan without parallel workers, on any database: pgstac's searches
        # touch a few hundred rows, and starting 2 workers cost 45-65 ms of a 67 ms bbox search
        # at 282,384 items (EXPLAIN ANALYZE; bench/bench_api.py), against about 2 ms of work.
        server_settings=ServerSettings(max_parallel_workers_per_gather="0"),
    )


def create_app(settings: ServeSettings) -> Any:
    """The FastAPI app (stac-fastapi-pgstac's ``instantiate_api`` with our settings)."""
    logging.getLogger("stac_fastapi.types.config").setLevel(logging.ERROR)  # its "default title" warning: we set them
    from stac_fastapi.pgstac.app import instantiate_api
    from stac_fastapi.pgstac.config import Settings
    from stac_fastapi.pgstac.db import close_db_connection, connect_to_db
    from stac_fastapi.pgstac.models.extensions import Extensions

    from .client import direct_response_client

    api_settings = Settings(
        use_api_hydrate=settings.hydrate_in_api,
        stac_fastapi_title=TITLE,
        stac_fastapi_description=DESCRIPTION,
        stac_fastapi_landing_id="sen12stac",
        stac_fastapi_version=__version__,
        enabled_extensions=None,  # all, transactions stay off (read-only API)
    )
    pg = postgres_settings(settings.dsn, settings.pool_size)

    @asynccontextmanager
    async def lifespan(app):
        await connect_to_db(app, postgres_settings=pg)
        yield
        await close_db_connection(app)

    api = instantiate_api(client=direct_response_client(), extensions=Extensions(settings=api_settings), lifespan=lifespan, settings=api_settings)
    _declare_sort_v1_0(api.extensions)
    return api.app


# stac-fastapi 6 declares only Sort v1.1.0; pystac-client 0.9 looks for v1.0.x and warns
# "Server does not conform to SORT" on every sortby. The sortby parameter is the same in both.
SORT_V1_0 = "https://api.stacspec.org/v1.0.0/item-search#sort"


def _declare_sort_v1_0(extensions: list[Any]) -> None:
    from stac_fastapi.extensions.sort.sort import SortConformanceClasses

    for ext in extensions:
        classes = getattr(ext, "conformance_classes", None)
        if isinstance(classes, list) and SortConformanceClasses.ITEM_SEARCH_SORT in classes and SORT_V1_0 not in classes:
            classes.append(SORT_V1_0)


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}", fix="pick another --port (or stop what uses it)") from None


def serve(settings: ServeSettings) -> None:
    """Serve until Ctrl-C (uvicorn handles SIGINT/SIGTERM and returns)."""
    import uvicorn

    from .database import check_dsn

    check_dsn(settings.dsn)
    check_port_free(settings.host, settings.port)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level, access_log=False)


def client_snippet(url: str, collection: str | None = None) -> str:
    coll = collection or "ROIs1158_spring"
    return (
        "from pystac_client import Client\n"
        f'api = Client.open("{url}")\n'
        f'search = api.search(collections=["{coll}"], filter={{"op": "=", "args": [{{"property": "ml-aoi:split"}}, "train"]}},\n'
        '                     max_items=100)  # add bbox=[west, south, east, north] for a place\n'
        "print(search.matched(), [item.id for item in search.items()][:5])"
    )
