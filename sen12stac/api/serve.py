"""stac-fastapi-pgstac's own app under uvicorn, read-only, on 127.0.0.1 unless asked otherwise.

The app is the published one: ``instantiate_api`` (what its ``create_app`` calls) with its
``Settings``, its ``Extensions`` and its documented ``lifespan`` hook, which opens the pool with
its ``connect_to_db`` and our ``PostgresSettings``. Nothing of it is subclassed or changed:

* Extensions on: filter (CQL2 JSON and text), sort, fields, query, token pagination for item
  search and item lists; collection search with free text (``q``). The sort extension is the
  published ``SearchSortExtension``, built with one more conformance class: Sort v1.0.0, which
  pystac-client 0.9 looks for (stac-fastapi declares only v1.1.0; the parameter is the same).
* Read-only whatever the environment says: stac-fastapi-pgstac reads ``Settings`` from the
  environment (ENABLE_TRANSACTIONS_EXTENSIONS, ENABLED_EXTENSIONS, ...) and a ``.env`` file;
  the settings that decide writes are passed explicitly here, and those win. ``api up``'s API
  also connects as a role with pgstac's ``pgstac_read`` (search, and writes to pgstac's search
  caches only). Read-only sessions (``pgstac.readonly``) were measured and not kept: pgstac
  then counts ``numberMatched`` again on every search instead of caching it, 1.4-8x slower at
  limit 10 on 282,384 items (docs/api.md).
* Items are hydrated in the API process (``use_api_hydrate``: the hydraters package, in Rust)
  rather than inside PostgreSQL: the field notes measured 3-4x faster searches with it.
* ``numberMatched`` comes from pgstac's ``context`` setting
  (:func:`sen12stac.api.database.apply_settings`).
"""
from __future__ import annotations

import ipaddress
import logging
import socket
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .. import __version__
from ..errors import ConfigError

log = logging.getLogger(__name__)

TITLE = "SEN1-2 (sen12stac)"
DESCRIPTION = "SEN1-2 Sentinel-1/Sentinel-2 patch pairs as COGs, searchable by season, split, scene, place, time and QC fields."

# stac-fastapi-pgstac's extension names (ENABLED_EXTENSIONS): every read extension it has.
READ_EXTENSIONS = ("query", "sort", "fields", "filter", "pagination", "free_text", "collection_search")

# stac-fastapi 6+ declares only Sort v1.1.0; pystac-client 0.9 looks for v1.0.x and warns
# "Server does not conform to SORT" on every sortby. The sortby parameter is the same in both.
SORT_V1_0 = "https://api.stacspec.org/v1.0.0/item-search#sort"

# Settings of the API's database sessions (asyncpg server_settings).
# max_parallel_workers_per_gather 0: pgstac's searches touch a few hundred rows, and starting 2
# workers cost 45-65 ms of a 67 ms bbox search at 282,384 items (EXPLAIN ANALYZE;
# bench/bench_api.py), against about 2 ms of work.
SESSION_SETTINGS: dict[str, str] = {"max_parallel_workers_per_gather": "0"}


@dataclass(frozen=True)
class ServeSettings:
    dsn: str = ""  # libpq connection string or URL; "" = the PG* environment, service and password files
    host: str = "127.0.0.1"
    port: int = 8081
    hydrate_in_api: bool = True
    log_level: str = "warning"
    pool_size: int = 4


def postgres_settings(params: dict[str, Any], pool_size: int = 4) -> Any:
    """stac-fastapi-pgstac's ``PostgresSettings`` from resolved connection parameters
    (:func:`sen12stac.api.database.connection_params`), every field given: none from the environment."""
    from stac_fastapi.pgstac.config import PostgresSettings, ServerSettings

    host = str(params["host"])
    return PostgresSettings(
        pguser=params["user"],
        pgpassword=params["password"],
        # it builds a URL from these; a socket folder goes in as a percent-encoded host, which asyncpg decodes
        pghost=quote(host, safe="") if host.startswith("/") else host,
        pgport=int(params["port"]),
        pgdatabase=params["dbname"],
        db_min_conn_size=1,
        db_max_conn_size=pool_size,
        server_settings=ServerSettings(**SESSION_SETTINGS),
    )


def api_settings(settings: ServeSettings) -> Any:
    """stac-fastapi-pgstac's ``Settings``; what decides writes and the served extensions is given here."""
    from stac_fastapi.pgstac.config import Settings

    return Settings(
        use_api_hydrate=settings.hydrate_in_api,
        stac_fastapi_title=TITLE,
        stac_fastapi_description=DESCRIPTION,
        stac_fastapi_landing_id="sen12stac",
        stac_fastapi_version=__version__,
        enabled_extensions=list(READ_EXTENSIONS),
        enable_transactions_extensions=False,
        enable_catalogs_extension=False,
        validate_extensions=False,
    )


def create_app(settings: ServeSettings) -> Any:
    """The FastAPI app. Connects to the database when it starts (its lifespan), not here."""
    from stac_fastapi.extensions.sort.sort import SearchSortExtension, SortConformanceClasses
    from stac_fastapi.pgstac.app import instantiate_api
    from stac_fastapi.pgstac.db import close_db_connection, connect_to_db
    from stac_fastapi.pgstac.models.extensions import Extensions

    from .database import connection_params

    config = api_settings(settings)
    sort = SearchSortExtension(conformance_classes=[SortConformanceClasses.ITEM_SEARCH_SORT, SORT_V1_0])
    extensions = Extensions(settings=config, search_map={"sort": sort})

    @asynccontextmanager
    async def lifespan(app: Any):
        import asyncio

        params = await asyncio.to_thread(connection_params, settings.dsn)
        await connect_to_db(app, postgres_settings=postgres_settings(params, settings.pool_size))
        yield
        await close_db_connection(app)

    return instantiate_api(extensions=extensions, lifespan=lifespan, settings=config).app


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def warn_if_open(host: str, port: int) -> None:
    if not is_loopback(host):
        log.warning(f"--host {host}: the API is open to the network, anyone who reaches this machine on port {port} can read every item "
                    "(it stays read-only); use --host 127.0.0.1 to keep it on this machine")


def check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host.strip("[]"), port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}", fix="pick another --port (or stop what uses it)") from None


def serve(settings: ServeSettings) -> None:
    """Warn when the address is not loopback, check the database and the port, serve until Ctrl-C."""
    warn_if_open(settings.host, settings.port)
    run(settings)


def run(settings: ServeSettings) -> None:
    """Check the database and the port, serve until Ctrl-C (uvicorn handles SIGINT/SIGTERM and returns)."""
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
