"""validate, publish, verify, releases: immutable releases from the command line."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ..errors import ConfigError, Sen12StacError
from .output import fail, interrupted, out, publish_progress
from .settings import endpoint_option, open_store, profile_option, settings_of

app = typer.Typer()

@app.command(rich_help_panel="Publish")
def validate(
    ctx: typer.Context,
    url: str = typer.Argument(..., help="root catalog: a path/URL to catalog.json, or its folder (file or s3)"),
    no_assets: bool = typer.Option(False, "--no-assets", help="skip asset existence/size/checksum checks"),
    no_cogs: bool = typer.Option(False, "--no-cogs", help="skip COG validation"),
    workers: int = typer.Option(4, help="concurrent object reads"),
    endpoint_url: Optional[str] = endpoint_option(),
    aws_profile: Optional[str] = profile_option(),
) -> None:
    """Validate every catalog, collection and item offline; check assets and COGs."""
    settings = settings_of(ctx)
    try:
        from ..errors import ValidationFailed
        from ..stac.validate import validate_catalog

        if url.endswith(".json"):
            base, _, key = url.rpartition("/")
            base = base or "."
        else:
            base, key = url.rstrip("/"), "catalog.json"
        store = open_store(settings, base, endpoint_url, aws_profile)
        problems = validate_catalog(store, key, check_assets=not no_assets, check_cogs=not no_cogs, workers=workers)
        if problems:
            raise ValidationFailed(f"{url}: {len(problems)} problem(s) found", problems, fix="see the list; rebuild or republish the objects named")
        out.print(f"{url}: valid (catalogs, collections, items against the carried STAC schemas{'' if no_assets else '; assets, sizes, checksums'}{'' if no_cogs or no_assets else '; COGs'})")
    except KeyboardInterrupt:
        interrupted("nothing was checked to the end (validate changes nothing)")
    except Sen12StacError as exc:
        fail(exc)


@app.command("publish", rich_help_panel="Publish")
def publish_cmd(
    ctx: typer.Context,
    build_dir: str = typer.Argument(..., help="a finished build folder (the output of `sen12stac build`)"),
    dest_url: str = typer.Argument(..., help="s3://bucket/prefix (or a folder) holding the versioned releases"),
    release: str = typer.Option(..., "--release", metavar="X.Y.Z", help="release version, semver X.Y.Z"),
    notes: Optional[Path] = typer.Option(None, help="release notes (Markdown)", show_default="none"),
    workers: int = typer.Option(8, help="concurrent uploads"),
    exclude: list[str] = typer.Option([], help="glob of build keys to leave out (repeatable)", show_default="none"),
    verify_cogs: int = typer.Option(200, help="COGs validated after upload (an evenly spaced sample; 0: none)"),
    no_verify_walk: bool = typer.Option(False, "--no-verify-walk", help="after upload, schema-check only the root and collections (items are proven by checksum)"),
    endpoint_url: Optional[str] = endpoint_option(),
    aws_profile: Optional[str] = profile_option(),
) -> None:
    """Publish a build as an immutable release: objects first, root and manifest last, then the landing catalog."""
    settings = settings_of(ctx)
    try:
        from ..release.publish import publish

        try:
            notes_text = notes.read_text() if notes else None
        except OSError as exc:
            raise ConfigError(f"cannot read the release notes {notes}: {exc.strerror}", fix="check the --notes path") from None
        src, dest = open_store(settings, build_dir), open_store(settings, dest_url, endpoint_url, aws_profile)
        with publish_progress(release, settings.progress_interval) as progress:
            report = publish(src, dest, release, notes=notes_text, workers=workers, exclude=tuple(exclude), verify_cogs=verify_cogs,
                             verify_stac_walk=not no_verify_walk, progress=progress)
        out.print(str(report), soft_wrap=True, markup=False, highlight=False)
    except KeyboardInterrupt:
        interrupted(f"v{release.lstrip('v')} is not in the landing catalog of {dest_url} (readers see no new release; objects already uploaded are kept and checked)")
    except Sen12StacError as exc:
        fail(exc)


@app.command(rich_help_panel="Publish")
def verify(
    ctx: typer.Context,
    release_url: str = typer.Argument(..., help="s3://bucket/prefix/vX.Y.Z (or a folder)"),
    no_cogs: bool = typer.Option(False, "--no-cogs", help="skip COG validation"),
    cog_sample: Optional[int] = typer.Option(None, help="validate an evenly spaced sample of N COGs instead of all", show_default="all"),
    full_checksums: bool = typer.Option(False, "--full-checksums", help="download every object and compare its sha256 (default: the server's MD5 ETag when it is one)"),
    no_stac_walk: bool = typer.Option(False, "--no-stac-walk", help="schema-check only the root and collections (items are still proven by checksum)"),
    endpoint_url: Optional[str] = endpoint_option(),
    aws_profile: Optional[str] = profile_option(),
) -> None:
    """Check a release against its manifest: existence, size, checksum, COG and STAC validity."""
    settings = settings_of(ctx)
    try:
        from ..errors import ValidationFailed
        from ..release.verify import verify as verify_release
        from ..release.version import split_release_url

        root, version = split_release_url(release_url)
        report = verify_release(open_store(settings, root, endpoint_url, aws_profile), version, check_cogs=not no_cogs, cog_sample=cog_sample,
                                full_checksums=full_checksums, stac_walk=not no_stac_walk)
        if not report.ok:
            raise ValidationFailed(f"{release_url}: {len(report.problems)} problem(s)", report.problems, fix=report.fix)
        out.print(str(report))
    except KeyboardInterrupt:
        interrupted("nothing was checked to the end (verify changes nothing)")
    except Sen12StacError as exc:
        fail(exc)


@app.command(rich_help_panel="Publish")
def releases(
    ctx: typer.Context,
    root_url: str = typer.Argument(..., help="s3://bucket/prefix"),
    endpoint_url: Optional[str] = endpoint_option(),
    aws_profile: Optional[str] = profile_option(),
) -> None:
    """List the releases under a root: version, status, latest."""
    settings = settings_of(ctx)
    try:
        from ..release.listing import list_releases

        infos = list_releases(open_store(settings, root_url, endpoint_url, aws_profile))
        t = Table(title=f"releases under {root_url}")
        for col in ("version", "status", "latest", "objects", "items"):
            t.add_column(col)
        for r in infos:
            t.add_row(*[str(getattr(r, f, "")) for f in ("version", "status", "latest", "objects", "items")])
        out.print(t)
    except KeyboardInterrupt:
        interrupted("nothing was listed (releases changes nothing)")
    except Sen12StacError as exc:
        fail(exc)
