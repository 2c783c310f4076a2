"""browse: STAC Browser on 127.0.0.1 pointed at a release, a bucket or a STAC API."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import ConfigError, Sen12StacError
from .output import fail, out
from .settings import endpoint_option, settings_of

app = typer.Typer()


@app.command(rich_help_panel="Use a release")
def browse(
    ctx: typer.Context,
    release: Optional[str] = typer.Argument(None, help="a release or build folder (holding catalog.json), or s3://bucket/prefix\\[/vX.Y.Z]", show_default=False),
    api: Optional[str] = typer.Option(None, "--api", help="a STAC API landing page instead (e.g. the URL `sen12stac api` prints)", show_default="none"),
    port: int = typer.Option(0, help="port on 127.0.0.1 (0: any free port)"),
    endpoint_url: Optional[str] = endpoint_option(),
) -> None:
    """Serve STAC Browser on 127.0.0.1 pointed at a release, a bucket or a STAC API; prints the URL.

    The browser reads a bucket anonymously over HTTP(S) (it needs public read and CORS:
    `sen12stac infra apply --public`), so no AWS profile or key applies here."""
    settings = settings_of(ctx)
    try:
        from .. import browse as b

        if (release is None) == (api is None):
            raise ConfigError("browse needs exactly one of RELEASE or --api URL", fix="e.g. `sen12stac browse demo` or `sen12stac browse --api http://127.0.0.1:8081/`")
        if api is not None:
            target = b.api_target(api)
        elif release.startswith("s3://"):
            s3 = settings.s3(endpoint_url)
            target = b.s3_target(release, endpoint_url=s3.get("endpoint_url"), region=s3.get("region"))
        else:
            target = b.folder_target(Path(release))
        b.check_reachable(target)
        dist = b.ensure_build(settings.browser_cache_root())
        server = b.serve(target, dist, port=port)
        out.print(f"STAC Browser at {server.url}  ({target.kind} {release or api}, catalog {server.catalog_url}; Ctrl-C stops)", soft_wrap=True)
        server.serve_until_interrupted()
    except Sen12StacError as exc:
        fail(exc)
