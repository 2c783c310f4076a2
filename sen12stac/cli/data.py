"""download, ee-tasks: copies of a release, and the Earth Engine source's batch exports."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from ..errors import ConfigError, Sen12StacError
from .build import split_csv
from .output import console, count_progress, fail, out
from .settings import endpoint_option, profile_option, settings_of

app = typer.Typer()


class Format(str, Enum):
    """What ``download`` writes."""

    cog = "cog"
    png = "png"


class OnError(str, Enum):
    """What ``download`` does with a missing or damaged file."""

    skip = "skip"
    stop = "stop"


@app.command(rich_help_panel="Use a release")
def download(
    ctx: typer.Context,
    release: str = typer.Argument(..., help="release: folder, s3://bucket/prefix/vX.Y.Z, https:// URL (or a STAC API URL with --api)"),
    to: Path = typer.Option(..., "--to", help="local folder (created; an interrupted download resumes there)"),
    season: list[str] = typer.Option([], help="season(s): spring, summer, fall, winter (repeatable or comma-separated)", show_default="all"),
    split: Optional[str] = typer.Option(None, help="train, validate or test (comma-separated for several)", show_default="all"),
    bbox: Optional[str] = typer.Option(None, help="west,south,east,north in degrees", show_default="the world"),
    datetime: Optional[str] = typer.Option(None, help="RFC 3339 instant or interval a/b (.. for an open end)", show_default="any time"),
    filter: Optional[str] = typer.Option(None, "--filter", help="CQL2 text, e.g. \"eo:cloud_cover\" < 5", show_default="none"),
    ids: Optional[str] = typer.Option(None, help="comma-separated item ids", show_default="all"),
    format: Format = typer.Option(Format.cog, "--format", help="cog (the release's files and layout) or png (the original SEN1-2 8-bit PNGs)"),
    on_error: OnError = typer.Option(OnError.skip, help="skip (report at the end, exit 4) or stop at the first missing/damaged file"),
    workers: int = typer.Option(8, help="concurrent GETs"),
    api: bool = typer.Option(False, "--api", help="RELEASE is a STAC API URL (searched with pystac-client)"),
    anonymous: bool = typer.Option(False, "--anonymous", help="unsigned S3 requests (a public bucket)"),
    endpoint_url: Optional[str] = endpoint_option(),
    aws_profile: Optional[str] = profile_option(),
) -> None:
    """Copy a selection of pairs to a local folder: resumable, checksum-verified, one GET per file."""
    settings = settings_of(ctx)
    try:
        from ..stream import select
        from ..stream.download import check_format, check_target, download as run_download

        check_target(to, format.value)  # before the selection and the progress bar: fail before work (nothing is created yet)
        opts: dict[str, Any] = settings.s3(endpoint_url, aws_profile) if (release.startswith("s3://") or api) else {}
        if anonymous:
            opts = {k: v for k, v in opts.items() if k in ("endpoint_url", "region")}
            opts["anonymous"] = True
        seasons = [s for v in season for s in v.split(",") if s.strip()] or None
        sel = select(release, seasons=seasons, split=split, bbox=bbox, datetime=datetime, filter=filter,
                     ids=split_csv(ids), api=api, **opts)
        check_format(sel, format.value)  # png is v1's layout: refused for a v2 release before anything is written
        if not len(sel):
            raise ConfigError(f"{release}: no pair matches the selection, nothing to download",
                              fix="widen the selection (--season, --split, --bbox, --datetime, --filter, --ids)")
        with count_progress("download", len(sel)) as progress:
            report = run_download(sel, to, format=format.value, threads=workers, on_error=on_error.value, progress=progress)
        out.print(f"{report} -> {to}", soft_wrap=True)
        if report.problems:
            from ..errors import StoreError

            for p in report.problems[:20]:
                console.print(f"  skipped {p}", highlight=False, markup=False)
            raise StoreError(f"{len(report.problems)} file(s) could not be copied (listed above)", fix="repair the release (sen12stac verify) and run the same command again: finished files are kept")
    except Sen12StacError as exc:
        fail(exc)


@app.command("ee-tasks", rich_help_panel="Build")
def ee_tasks(
    ctx: typer.Context,
    cache_dir: Optional[Path] = typer.Option(None, help="the Earth Engine cache folder", show_default="SEN12STAC_WORK_DIR/earthengine"),
) -> None:
    """Batch exports of the earthengine source as last seen: scene image, state, progress, task id."""
    settings = settings_of(ctx)
    try:
        from ..sources.earthengine.export import TaskLedger

        folder = (cache_dir or settings.work_dir / "earthengine") / "tasks"
        if not folder.is_dir():
            raise ConfigError(f"no Earth Engine tasks under {folder}", fix="run `sen12stac build --source earthengine --ee-export gcs|drive ...` first, or pass --cache-dir")
        t = Table(title=f"Earth Engine batch exports ({folder})")
        for col in ("export", "state", "progress", "task id"):
            t.add_column(col, overflow="fold")
        for rec in TaskLedger(folder).all():
            task_id = str(rec.get("operation", "?")).rsplit("/", 1)[-1]  # `earthengine task info ID`
            t.add_row(rec.get("name", "?"), rec.get("state", "?"), f"{100.0 * float(rec.get('progress') or 0.0):.0f}%", task_id)
        out.print(t)
    except Sen12StacError as exc:
        fail(exc)
