"""review and diff: look at a build before publishing it, and at what changed between releases."""
from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Optional

import typer

from ..errors import Sen12StacError
from .output import fail, out
from .settings import endpoint_option, open_store, profile_option, settings_of

app = typer.Typer()


@app.command(rich_help_panel="Publish")
def review(
    ctx: typer.Context,
    build: Path = typer.Argument(..., help="a folder build made with `sen12stac build --review`"),
    overrides: Optional[Path] = typer.Option(None, help="the overrides file the page writes (its decisions are kept)", show_default="BUILD/review/overrides.json"),
    who: Optional[str] = typer.Option(None, help="the reviewer's name recorded with each decision", show_default="your login name"),
    port: int = typer.Option(0, help="port on 127.0.0.1 (0: any free port)"),
) -> None:
    """Serve a page on 127.0.0.1 to look at every scene and patch of a build and accept or
    reject them by hand; prints the URL. The page writes the overrides file and shows the
    command that rebuilds with it."""
    settings_of(ctx)
    try:
        from ..review.server import serve
        from ..review.state import ReviewState

        try:
            default_who = getpass.getuser()
        except (KeyError, OSError):
            default_who = ""
        state = ReviewState.open(build, overrides, who if who is not None else default_who)
        server = serve(state, port=port)
        n = len(state.scenes)
        out.print(f"review page at {server.url}  ({n} scenes of {build}; decisions go to {state.overrides_path}; Ctrl-C stops)", soft_wrap=True, highlight=False)
        server.serve_until_interrupted()
    except Sen12StacError as exc:
        fail(exc)


@app.command(rich_help_panel="Publish")
def diff(
    ctx: typer.Context,
    release_a: str = typer.Argument(..., help="the older release: its folder (vX.Y.Z) or s3://bucket/prefix/vX.Y.Z"),
    release_b: str = typer.Argument(..., help="the newer release, the same way"),
    as_json: bool = typer.Option(False, "--json", help="print the whole difference as JSON"),
    endpoint_url: Optional[str] = endpoint_option(),
    aws_profile: Optional[str] = profile_option(),
) -> None:
    """What changed between two releases: pairs added, removed and changed per season and
    split, QC decisions that flipped, item fields that changed. Reads the manifests and the
    geoparquet files only."""
    settings = settings_of(ctx)
    try:
        from ..release.diff import diff_releases, open_release

        a = open_release(open_store(settings, release_a, endpoint_url, aws_profile), release_a)
        b = open_release(open_store(settings, release_b, endpoint_url, aws_profile), release_b)
        result = diff_releases(a, b)
        if as_json:
            print(json.dumps(result.to_dict(), indent=1, sort_keys=True))
        else:
            out.print(result.text(), soft_wrap=True, highlight=False)
    except Sen12StacError as exc:
        fail(exc)
