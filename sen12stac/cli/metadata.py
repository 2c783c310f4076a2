"""metadata: give a release made before the ML metadata existed its croissant.json, CITATION.cff and DATASHEET.md."""
from __future__ import annotations

from typing import Optional

import typer

from ..errors import Sen12StacError
from .output import fail, interrupted, out
from .settings import endpoint_option, open_store, profile_option, settings_of

app = typer.Typer()


@app.command(rich_help_panel="Publish")
def metadata(
    ctx: typer.Context,
    release_url: str = typer.Argument(..., help="a folder release, e.g. ./releases/v1.0.0 (a release in s3:// is immutable: publish the next version)"),
    endpoint_url: Optional[str] = endpoint_option(),
    aws_profile: Optional[str] = profile_option(),
) -> None:
    """Write croissant.json, CITATION.cff and DATASHEET.md into a release published before they existed."""
    settings = settings_of(ctx)
    try:
        from ..release.backfill import add_release_metadata
        from ..release.version import split_release_url

        root, version = split_release_url(release_url)
        report = add_release_metadata(open_store(settings, root, endpoint_url, aws_profile), version)
        out.print(str(report), soft_wrap=True, markup=False, highlight=False)
    except KeyboardInterrupt:
        interrupted(f"the metadata of {release_url} may be partly written (the root catalog is written last); to resume, run: sen12stac metadata {release_url}")
    except Sen12StacError as exc:
        fail(exc)
