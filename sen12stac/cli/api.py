"""api up, load, serve: a release through a STAC API (PostgreSQL + pgstac + stac-fastapi-pgstac)."""
from __future__ import annotations

from typing import Optional

import typer

from ..errors import Sen12StacError
from .output import console, fail, out
from .settings import Settings, endpoint_option, profile_option, settings_of

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Query a release through a STAC API (PostgreSQL + pgstac + stac-fastapi-pgstac).")

RELEASE_HELP = "release or build: folder, file://, s3:// (the folder, its catalog.json, or a landing catalog)"
ASSET_BASE_HELP = "public URL of RELEASE (e.g. https://bucket.s3.amazonaws.com/prefix) for asset hrefs"
HOST_HELP = "address to listen on (127.0.0.1: this machine only; any other warns: the API is then open to the network)"
DSN_HELP = ("pgstac database: postgresql://USER@HOST:PORT/DBNAME or service=NAME, without a password (ps shows it); "
            "unset: the PG* variables (PGHOST, PGPORT, PGUSER, PGDATABASE, PGSERVICE); the password from PGPASSFILE (~/.pgpass) or PGPASSWORD")


def _dsn(dsn: Optional[str]) -> str:
    from ..api.database import warn_about_password

    warn_about_password(dsn)
    return dsn or ""  # libpq's environment


def _need_api_extra() -> None:
    from ..extras import require

    require("api")


def _open_release(settings: Settings, url: str, asset_base_url: Optional[str], endpoint_url: Optional[str], aws_profile: Optional[str]):
    from ..api.load import open_release

    s3 = settings.s3(endpoint_url, aws_profile) if url.startswith("s3://") else {}
    return open_release(url, asset_base_url=asset_base_url, **s3)


@app.command("up")
def api_up(
    ctx: typer.Context,
    release_url: str = typer.Argument(..., help=RELEASE_HELP),
    port: int = typer.Option(8081, help="API port on --host"),
    host: str = typer.Option("127.0.0.1", help=HOST_HELP),
    asset_base_url: Optional[str] = typer.Option(None, help=ASSET_BASE_HELP, show_default="where RELEASE is"),
    endpoint_url: Optional[str] = endpoint_option(),
    aws_profile: Optional[str] = profile_option(),
) -> None:
    """Private PostgreSQL + pgstac in the cache folder, load RELEASE (once), serve it until Ctrl-C."""
    settings = settings_of(ctx)
    try:
        _need_api_extra()
        from ..api.serve import client_snippet
        from ..api.up import UpSettings, up

        release = _open_release(settings, release_url, asset_base_url, endpoint_url, aws_profile)
        first = next((l for l in release.root.get("links", []) if l.get("rel") == "child"), {})
        coll = (first.get("href") or "").strip("./").split("/")[0] or None

        def ready(url: str, report, dsn: str) -> None:
            out.print(str(report) if report else f"reusing the database loaded from {release.url} (unchanged)", highlight=False, soft_wrap=True)
            out.print(f"\nSTAC API at {url}  (database {dsn}; Ctrl-C stops both)\n", highlight=False, soft_wrap=True)
            out.print(client_snippet(url, coll), highlight=False, markup=False, soft_wrap=True)

        up(release, UpSettings(cache_dir=settings.work_dir, host=host, port=port), on_ready=ready,
           on_progress=lambda cid, n: console.print(f"  {cid}: {n:,} items", highlight=False))
    except Sen12StacError as exc:
        fail(exc)


@app.command("load")
def api_load(
    ctx: typer.Context,
    release_url: str = typer.Argument(..., help=RELEASE_HELP),
    dsn: Optional[str] = typer.Option(None, help=DSN_HELP, show_default="the PG* variables"),
    asset_base_url: Optional[str] = typer.Option(None, help=ASSET_BASE_HELP, show_default="where RELEASE is"),
    replace: bool = typer.Option(False, "--replace", help="a collection loaded from another release version gets this one's items (by id)"),
    migrate: bool = typer.Option(False, "--migrate", help="install or upgrade pgstac in the database first"),
    endpoint_url: Optional[str] = endpoint_option(),
    aws_profile: Optional[str] = profile_option(),
) -> None:
    """Load a release into a pgstac database: collections, then items in bulk (upsert; one transaction per collection)."""
    settings = settings_of(ctx)
    try:
        _need_api_extra()
        from ..api.database import prepare_database
        from ..api.load import load_release

        dsn = _dsn(dsn)
        release = _open_release(settings, release_url, asset_base_url, endpoint_url, aws_profile)
        prepare_database(dsn, migrate_first=migrate)  # checks the DSN and pgstac; settings
        # registers the queryables first, so pgstac builds their indexes with each partition
        report = load_release(release, dsn, replace=replace, progress=lambda cid, n: console.print(f"  {cid}: {n:,} items", highlight=False))
        out.print(str(report), highlight=False, soft_wrap=True)
    except Sen12StacError as exc:
        fail(exc)


@app.command("serve")
def api_serve(
    dsn: Optional[str] = typer.Option(None, help=DSN_HELP, show_default="the PG* variables"),
    host: str = typer.Option("127.0.0.1", help=HOST_HELP),
    port: int = typer.Option(8081, help="API port"),
) -> None:
    """Serve a pgstac database with stac-fastapi-pgstac, read-only (filter, sort, fields, query, pagination), until Ctrl-C."""
    try:
        _need_api_extra()
        from ..api.serve import ServeSettings, serve

        settings = ServeSettings(dsn=_dsn(dsn), host=host, port=port)
        out.print(f"STAC API at http://{host}:{port}  (Ctrl-C stops it)", highlight=False, soft_wrap=True)
        serve(settings)
    except Sen12StacError as exc:
        fail(exc)
