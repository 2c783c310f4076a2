"""The command line: parse, build one settings object, call the library, map errors to exit codes.

This is the only module that reads arguments or environment variables.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .errors import ConfigError, ObjectConflictError, Sen12StacError, exit_code_for

# Locals are never shown in a traceback (they may hold credentials), whatever typer's default is.
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help="Publish SAR-optical patch pairs (the SEN1-2 recipe) as COGs with a STAC catalog.")
console = Console(stderr=True)
out = Console(soft_wrap=True)  # paths and hints stay whole in logs and pipes (a terminal wraps them itself)


class EnvSettings(BaseSettings):
    """Defaults from the environment (prefix SEN12STAC_); command-line options win."""

    model_config = SettingsConfigDict(env_prefix="SEN12STAC_", extra="ignore")

    workers: int = 2
    scheduler: Optional[str] = None
    s3_endpoint_url: Optional[str] = None  # also AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL
    s3_region: Optional[str] = None
    aws_profile: Optional[str] = None
    work_dir: Path = Path(".sen12stac-cache")
    progress_interval: float = 15.0  # seconds between progress lines when stderr is not a terminal


class AwsEnv(BaseSettings):
    """The standard AWS variables, read here and passed explicitly to the S3 store."""

    model_config = SettingsConfigDict(env_prefix="AWS_", extra="ignore")

    endpoint_url_s3: Optional[str] = None
    endpoint_url: Optional[str] = None
    profile: Optional[str] = None
    region: Optional[str] = None
    default_region: Optional[str] = None
    access_key_id: Optional[str] = None
    secret_access_key: Optional[str] = None
    session_token: Optional[str] = None


def _s3_options(endpoint_url: str | None = None, profile: str | None = None, region: str | None = None) -> dict[str, Any]:
    env, aws = EnvSettings(), AwsEnv()
    opts: dict[str, Any] = {
        "endpoint_url": endpoint_url or env.s3_endpoint_url or aws.endpoint_url_s3 or aws.endpoint_url,
        "profile": profile or env.aws_profile or aws.profile,
        "region": region or env.s3_region or aws.region or aws.default_region,
        "access_key_id": aws.access_key_id,
        "secret_access_key": aws.secret_access_key,
        "session_token": aws.session_token,
    }
    return {k: v for k, v in opts.items() if v is not None}


def _open(url: str, **s3: Any):
    from .store import open_store

    return open_store(url, **(_s3_options(**s3) if url.startswith("s3://") else {}))


def _log_warnings_as_lines() -> None:
    """The library's warnings (``sen12stac`` loggers: an out-of-season sidecar, a rollback that
    left an object) as one plain ``warning: ...`` line each on stderr."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("warning: %(message)s"))
    handler.setLevel(logging.WARNING)
    logger = logging.getLogger("sen12stac")
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False


def _version_callback(value: bool) -> None:
    if value:
        from . import __version__

        out.print(f"sen12stac {__version__}", highlight=False)
        raise typer.Exit(0)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True, help="print the version and exit")) -> None:
    """Publish SAR-optical patch pairs (the SEN1-2 recipe) as COGs with a STAC catalog."""


def _fail(exc: BaseException) -> None:
    code = exit_code_for(exc)
    # one line, never hard-wrapped (a log keeps paths whole; a terminal wraps it softly)
    console.print("[bold red]error:[/] " + escape(" ".join(str(exc).split("\n"))), highlight=False, markup=True, soft_wrap=True)
    problems = getattr(exc, "problems", None)
    if problems:
        for p in problems[:200]:
            console.print(f"  - {p}", highlight=False, markup=False, soft_wrap=True)
        if len(problems) > 200:
            console.print(f"  ... and {len(problems) - 200} more", highlight=False)
    raise typer.Exit(code)


def _split_csv(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _load_config_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file {path}: {exc.strerror}", fix="check the --config path") from None
    try:
        if path.suffix in (".toml",):
            import tomllib

            return tomllib.loads(text)
        return json.loads(text)
    except (ValueError, json.JSONDecodeError) as exc:
        raise ConfigError(f"configuration file {path} does not parse: {exc}", fix="write it as JSON or TOML with BuildConfig's fields") from None


@app.command()
def rois(
    seed: int = typer.Option(..., help="the paper's seed: 1158 spring, 1868 summer, 1970 fall, 2017 winter"),
    out_path: Path = typer.Option(..., "--out", help="GeoJSON file to write"),
    n_land: int = typer.Option(100, help="points over land"),
    n_urban: int = typer.Option(50, help="points over urban areas"),
    scene_size: int = typer.Option(4480, help="scene side in pixels at 10 m (overlap test)"),
) -> None:
    """Sample the ROIs of one seed (kept and dropped points) as GeoJSON."""
    try:
        from .rois import rois_geojson, sample_candidates
        from .seasons import season_by_seed

        season = season_by_seed(seed)
        cands = sample_candidates(season, n_land=n_land, n_urban=n_urban, scene_size_m=scene_size * 10.0)
        out_path.write_text(json.dumps(rois_geojson(season, cands), indent=1) + "\n")
        kept = sum(c.kept for c in cands)
        out.print(f"{season.set_name}: {len(cands)} points sampled, {kept} kept, {len(cands) - kept} dropped as overlapping -> {out_path}")
    except Sen12StacError as exc:
        _fail(exc)


def _stac_options(preset: Optional[str], rois_file: Optional[Path], s1_api: Optional[str], s1_collection: Optional[str], s2_api: Optional[str], s2_collection: Optional[str]) -> dict[str, Any]:
    """The stac source's command-line settings as a (partial) ``BuildConfig.stac``."""
    out: dict[str, Any] = {}
    if preset is not None:
        out["preset"] = preset
    if rois_file is not None:
        out["rois_file"] = rois_file
    for sensor, api, coll in (("s1", s1_api, s1_collection), ("s2", s2_api, s2_collection)):
        sec = {k: v for k, v in (("api_url", api), ("collection", coll)) if v is not None}
        if sec:
            out[sensor] = sec
    return out


def _config_from_options(source: str, source_path: Optional[Path], seasons: Optional[str], scenes_per_season: Optional[int], workers: Optional[int], scene_size: Optional[int], overrides: Optional[Path], defect_rate: Optional[float], config_file: Optional[Path], ee_options: Optional[dict[str, Any]] = None, stac: Optional[dict[str, Any]] = None, scheduler: Optional[str] = None, profile: Optional[str] = None):
    from .config import make_config

    env = EnvSettings()
    values: dict[str, Any] = _load_config_file(config_file)
    _merge_ee_options(values, ee_options or {}, env.work_dir)
    if stac:  # command-line stac settings on top of the config file's, sensor by sensor
        merged = dict(values.get("stac") or {})
        for key, val in stac.items():
            merged[key] = {**(merged.get(key) or {}), **val} if isinstance(val, dict) else val
        values["stac"] = merged
    values.setdefault("workers", env.workers)
    if env.scheduler:
        values.setdefault("scheduler", env.scheduler)
    for key, val in (("source", source), ("source_path", source_path), ("seasons", _split_csv(seasons)), ("scenes_per_season", scenes_per_season), ("workers", workers), ("scene_size_px", scene_size), ("defect_rate", defect_rate)):
        if val is not None:
            values[key] = val
    if scheduler is not None:
        values["scheduler"] = scheduler
    if profile is not None:
        from .config import cog_profile

        values["cog"] = cog_profile(profile)
    if overrides is not None:
        values.setdefault("scene_qc", {})
        values["scene_qc"] = {**values["scene_qc"], "overrides": overrides}
    return make_config(**values)


# --- Earth Engine source options (issue 13) --------------------------------------------
def _merge_ee_options(values: dict[str, Any], ee_options: dict[str, Any], work_dir: Path) -> None:
    """--ee-* options into the config's ``earthengine`` section; the cache folder (downloaded
    scenes, batch task ids) defaults to the work folder, so a re-run of a build resumes."""
    ee = dict(values.get("earthengine") or {})
    ee.update({k: v for k, v in ee_options.items() if v is not None})
    ee.setdefault("cache_dir", work_dir / "earthengine")
    values["earthengine"] = ee


def _ee_options(project, key_file, export, bucket, drive_folder, drive_dir, rois, s2_collection) -> dict[str, Any]:
    return {"project": project, "key_file": key_file, "export": export, "bucket": bucket, "drive_folder": drive_folder,
            "drive_dir": drive_dir, "rois": rois, "s2_collection": s2_collection}
# ----------------------------------------------------------------------------------------


def _run_build(config, store, run=None) -> Any:
    """``build(config, store)`` (or ``run(progress)``) under a progress bar."""
    from .pipeline import build
    from .sources import make_source

    source = make_source(config)  # checks the source (e.g. a STAC API answering) before any progress or work

    if not console.is_terminal:  # a log (CI, nohup, a redirect): plain lines at a steady interval
        from .progress import ProgressLines

        def write(line: str) -> None:
            print(line, file=sys.stderr, flush=True)

        with ProgressLines(write, EnvSettings().progress_interval) as lines:
            return run(lines.on, source) if run is not None else build(config, store, progress=lines.on, source=source)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.fields[last]}"), console=console, transient=False) as bar:
        task = bar.add_task("scenes", total=None, last="")

        failed = [0]

        def on(event: str, data: dict) -> None:
            if event == "plan":
                bar.update(task, total=data["total"])
            elif event == "cluster":
                n = data["workers"]
                bar.update(task, description=f"scenes on {n} worker{'s' if n != 1 else ''}" if n else "scenes (in this process)")
            elif event == "scene":
                s = data["scene"]
                if s["status"] == "failed":  # reported as it happens; the run goes on, a rerun retries it
                    failed[0] += 1
                    bar.console.print(f"failed {s['scene_id']}: {s['message']}", soft_wrap=True, markup=False, highlight=False)
                extra = f", {failed[0]} failed so far" if failed[0] else ""
                bar.update(task, advance=1, last=f"{s['scene_id']}: {s['status']} ({s['patches']} pairs){extra}")
            elif event == "stage":
                bar.update(task, last=f"writing {data['name']}")

        return run(on, source) if run is not None else build(config, store, progress=on, source=source)


def _print_summary(summary, where: str) -> None:
    t = Table(title="SEN1-2 build summary (the paper's counts)", show_lines=False, padding=(0, 0))
    width = max([len(n) for n in summary.seasons] + [3])
    t.add_column("set", justify="left", no_wrap=True, min_width=width)  # set names whole, even at 80 columns
    for col in ("ROIs sampled", "kept", "run", "with data", "scene QC ok", "patch positions", "patch QC ok", "MB"):
        t.add_column(col, justify="right")
    for name, c in summary.seasons.items():
        t.add_row(name, str(c.rois_sampled), str(c.rois_kept), str(c.rois_processed), str(c.rois_with_data), str(c.scenes_accepted), str(c.patch_positions), str(c.patches_published), f"{c.bytes_written / 1e6:.1f}")
    out.print(t)
    for name, c in summary.seasons.items():
        if c.scene_rejections or c.patch_rejections or c.scenes_failed:
            out.print(f"{name}: scenes rejected by {dict(c.scene_rejections) or '-'}; patches rejected by {dict(c.patch_rejections) or '-'}; failed scenes {c.scenes_failed}", soft_wrap=True, markup=False, highlight=False)
    out.print("ROIs kept: no overlap with an earlier one; run: up to --scenes-per-season; with data: S1 and S2 found; "
              "patch positions: in scenes past scene QC; patch QC ok: published pairs", soft_wrap=True, highlight=False)
    for s in summary.scenes:
        if s["status"] == "failed":
            out.print(f"failed {s['scene_id']}: {s['message']}", soft_wrap=True, markup=False, highlight=False)
    req = summary.requests
    if req:
        gdal = "not measurable here" if req.get("range_reads") is None else f"{req['range_reads']} range reads, {(req.get('bytes_read') or 0) / 1e6:.1f} MB read"
        out.print(f"network: {req['searches']} STAC API requests ({req['search_bytes'] / 1e3:.0f} kB), {gdal} (per scene: build-summary.json)", soft_wrap=True, highlight=False)
    rate = summary.patches_published / summary.seconds if summary.seconds else 0.0
    out.print(f"{summary.patches_published} patch pairs, {summary.bytes_written / 1e6:.1f} MB in {summary.seconds:.1f} s ({rate:.1f} pairs/s) -> {where}", soft_wrap=True, markup=False, highlight=False)


@app.command("build")
def build_cmd(
    out_url: str = typer.Option(..., "--out", help="output folder, file:// URL, or s3://bucket/prefix (with --version)"),
    source: Optional[str] = typer.Option(None, help="synthetic (the offline default) | local | earthengine | stac (public STAC APIs)"),
    source_path: Optional[Path] = typer.Option(None, help="folder of scene pairs for --source local"),
    seasons: Optional[str] = typer.Option(None, help="comma-separated seasons (default: all four)"),
    scenes_per_season: Optional[int] = typer.Option(None, help="process at most N ROIs per season"),
    workers: Optional[int] = typer.Option(None, help="Dask LocalCluster workers (0: in this process)"),
    scene_size: Optional[int] = typer.Option(None, help="scene side in pixels (default 4480)"),
    overrides: Optional[Path] = typer.Option(None, help="manual scene QC decisions (JSON or CSV)"),
    defect_rate: Optional[float] = typer.Option(None, help="synthetic: share of scenes with a defect"),
    config_file: Optional[Path] = typer.Option(None, "--config", help="JSON/TOML file with BuildConfig fields"),
    version: Optional[str] = typer.Option(None, help="with an s3:// --out: the release version the workers build straight into (committed last)"),
    endpoint_url: Optional[str] = typer.Option(None, help="S3 endpoint URL (MinIO, Ceph, R2, a local server)"),
    ee_project: Optional[str] = typer.Option(None, help="earthengine: Cloud project registered for Earth Engine"),
    ee_key_file: Optional[Path] = typer.Option(None, help="earthengine: service-account JSON key (default: application default credentials)"),
    ee_export: Optional[str] = typer.Option(None, help="earthengine: pixels (direct download, default) | gcs | drive (batch export)"),
    ee_bucket: Optional[str] = typer.Option(None, help="earthengine: Cloud Storage bucket for --ee-export gcs"),
    ee_drive_folder: Optional[str] = typer.Option(None, help="earthengine: Drive folder for --ee-export drive"),
    ee_drive_dir: Optional[Path] = typer.Option(None, help="earthengine: local folder where that Drive folder is synced"),
    ee_rois: Optional[str] = typer.Option(None, help="earthengine: sampler (default) | earthengine (randomPoints) | a GeoJSON from `sen12stac rois`"),
    ee_s2_collection: Optional[str] = typer.Option(None, help="earthengine: Sentinel-2 collection (default COPERNICUS/S2_HARMONIZED)"),
    # --source stac: public STAC APIs (docs/sources.md, "stac"); everything else through --config
    stac_preset: Optional[str] = typer.Option(None, help="--source stac: earth-search | planetary-computer"),
    stac_rois: Optional[Path] = typer.Option(None, help="--source stac: GeoJSON of ROI points (`sen12stac rois` output) instead of sampling"),
    s1_api: Optional[str] = typer.Option(None, help="--source stac: S1 STAC API URL (overrides the preset)"),
    s1_collection: Optional[str] = typer.Option(None, help="--source stac: S1 collection id"),
    s2_api: Optional[str] = typer.Option(None, help="--source stac: S2 STAC API URL (overrides the preset)"),
    s2_collection: Optional[str] = typer.Option(None, help="--source stac: S2 collection id"),
    scheduler: Optional[str] = typer.Option(None, help="a running Dask scheduler (tcp://host:port) instead of a local cluster; its workers read the source and write to --out"),
    profile: Optional[str] = typer.Option(None, help="COG compression: compatible (DEFLATE, every reader; the default) | fast (ZSTD level 1: GDAL/rasterio/tifffile, not STAC Browser's geotiff.js)"),
) -> None:
    """Run the recipe: ROIs -> scenes -> preprocessing -> QC -> COG patch pairs -> STAC."""
    try:
        ee_options = _ee_options(ee_project, ee_key_file, ee_export, ee_bucket, ee_drive_folder, ee_drive_dir, ee_rois, ee_s2_collection)
        stac = _stac_options(stac_preset, stac_rois, s1_api, s1_collection, s2_api, s2_collection)
        config = _config_from_options(source, source_path, seasons, scenes_per_season, workers, scene_size, overrides, defect_rate, config_file, ee_options, stac, scheduler, profile)
        if stac and config.source != "stac":
            raise ConfigError(f"--stac-preset, --stac-rois, --s1-* and --s2-* apply to --source stac only (the source is {config.source})",
                              fix="add --source stac, or leave those options out")
        if version and not out_url.startswith("s3://"):
            raise ConfigError(
                f"--version {version} with the folder --out {out_url}: a folder build is not a release and the version would be ignored",
                fix=f"drop --version, or build into the folder and then run: sen12stac publish {out_url} DEST --version {version}",
            )
        from .preflight import check_output_folder, check_release_destination, check_release_version

        if out_url.startswith("s3://"):
            if not version:
                raise ConfigError(f"--out {out_url} is object storage", fix="add --version X.Y.Z: a build goes to S3 only as an immutable release")
            # Workers write straight into the release prefix; the client writes the catalog and
            # commits the release last (sen12stac.release.direct). No local staging.
            from .pipeline import build_release

            version = check_release_version(version)  # before any work: version, bucket, credentials, write, not yet published
            dest = _open(out_url, endpoint_url=endpoint_url)
            check_release_destination(dest, version)
            summary, report = _run_build(config, None, run=lambda on, source: build_release(config, dest, version, progress=on, source=source))
            _print_summary(summary, out_url)
            _raise_if_failed(summary)  # nothing was committed: the same command completes it
            out.print(str(report))
            return
        check_output_folder(out_url)  # an existing file or an unwritable folder stops here, before any scene
        store = _open(out_url)
        summary = _run_build(config, store)
        _print_summary(summary, out_url)
        _write_report(store, summary)
        _raise_if_failed(summary)
    except Sen12StacError as exc:
        _fail(exc)


def _raise_if_failed(summary) -> None:
    """Scenes that failed were not published (nothing partial); the run still exits non-zero."""
    from .errors import SourceError

    failed = [s for s in summary.scenes if s["status"] == "failed"]
    if failed:
        # each scene's own fix is in its "failed" line above and in build-summary.json: "Fix:" once here
        lines = "; ".join(f"{s['scene_id']}: {s['message'].split('. Fix: ')[0]}" for s in failed[:5])
        more = f" (and {len(failed) - 5} more)" if len(failed) > 5 else ""
        raise SourceError(
            f"{len(failed)} scene(s) failed and were not published: {lines}{more}",
            fix="correct what the messages name and run the same command again: finished scenes are skipped, and the catalog's collections and root are written once every scene succeeds",
        )


def _write_report(store, summary) -> None:
    data = (json.dumps(summary.to_dict(), indent=1, sort_keys=True) + "\n").encode()
    store.replace("build-summary.json", data, store.head("build-summary.json").etag if store.exists("build-summary.json") else None, "application/json")


@app.command()
def demo(out_dir: Path = typer.Option(Path("demo"), "--out", help="output folder"), scenes_per_season: int = typer.Option(5, help="ROIs per season (some are rejected by QC or have no data, as in the paper)"), scene_size: int = typer.Option(2048, help="scene side in pixels (4480 = the paper's ~1,156 patches per scene)"), workers: Optional[int] = typer.Option(None, help="Dask workers")) -> None:
    """A small synthetic release into ./demo with the ROI world map and a contact sheet."""
    try:
        from .figures import world_map_png
        from .preflight import check_output_folder
        from .thumbnails import contact_sheet

        config = _config_from_options("synthetic", None, None, scenes_per_season, workers, scene_size, None, None, None)
        check_output_folder(str(out_dir))
        store = _open(str(out_dir))
        try:
            summary = _run_build(config, store)
        except ObjectConflictError as exc:  # e.g. `make demo` again after an upgrade changed the files
            raise ObjectConflictError(
                f"{out_dir} holds a demo built by another version of sen12stac ({str(exc).split('. Fix:')[0]})",
                fix=f"delete it (rm -rf {out_dir}) and run the demo again, or pass --out NEW_FOLDER",
            ) from None
        _print_summary(summary, str(out_dir))
        _write_report(store, summary)
        outcomes: dict[str, dict[int, str]] = {}
        for s in summary.scenes:
            set_name, idx = s["scene_id"].rsplit("_", 1)
            outcomes.setdefault(set_name, {})[int(idx)] = s["status"]
        figs = out_dir / "figures"
        figs.mkdir(parents=True, exist_ok=True)
        (figs / "roi_world_map.png").write_bytes(world_map_png(summary.candidates, outcomes))
        sheets = [out_dir / name / "contact_sheet.png" for name in summary.seasons]
        existing = [p for p in sheets if p.exists()]
        if existing:
            import shutil

            shutil.copyfile(existing[0], figs / "contact_sheet.png")
        out.print("\nWhat to look at:")
        out.print(f"  STAC root catalog     {out_dir / 'catalog.json'}")
        out.print(f"  ROI world map         {figs / 'roi_world_map.png'}  (paper Fig. 2: kept and rejected)")
        out.print(f"  contact sheet         {figs / 'contact_sheet.png'}  (paper Fig. 4: S1 | S2 pairs)")
        out.print(f"  per-season figures    {out_dir}/ROIs*/roi_map.png, contact_sheet.png")
        out.print(f"  build summary         {out_dir / 'build-summary.json'}")
        out.print(f"  validate it           .venv/bin/sen12stac validate {out_dir}/catalog.json")
        out.print(f"  browse it             .venv/bin/sen12stac browse {out_dir}")
    except Sen12StacError as exc:
        _fail(exc)


@app.command()
def validate(
    url: str = typer.Argument(..., help="root catalog: a path/URL to catalog.json, or its folder (file or s3)"),
    no_assets: bool = typer.Option(False, "--no-assets", help="skip asset existence/size/checksum checks"),
    no_cogs: bool = typer.Option(False, "--no-cogs", help="skip COG validation"),
    workers: int = typer.Option(4, help="concurrent object reads"),
    endpoint_url: Optional[str] = typer.Option(None, help="S3 endpoint URL"),
) -> None:
    """Validate every catalog, collection and item offline; check assets and COGs."""
    try:
        from .errors import ValidationFailed
        from .stac.validate import validate_catalog

        if url.endswith(".json"):
            base, _, key = url.rpartition("/")
            base = base or "."
        else:
            base, key = url.rstrip("/"), "catalog.json"
        store = _open(base, endpoint_url=endpoint_url)
        problems = validate_catalog(store, key, check_assets=not no_assets, check_cogs=not no_cogs, workers=workers)
        if problems:
            raise ValidationFailed(f"{url}: {len(problems)} problem(s) found", problems, fix="see the list; rebuild or republish the objects named")
        out.print(f"{url}: valid (catalogs, collections, items against the carried STAC schemas{'' if no_assets else '; assets, sizes, checksums'}{'' if no_cogs or no_assets else '; COGs'})")
    except Sen12StacError as exc:
        _fail(exc)


def _do_publish(src, dest, version: str, notes: Optional[Path], workers: int, exclude: tuple[str, ...] = (), verify_cogs: Optional[int] = 200, verify_walk: bool = True) -> None:
    from .release.publish import publish

    try:
        notes_text = notes.read_text() if notes else None
    except OSError as exc:
        raise ConfigError(f"cannot read the release notes {notes}: {exc.strerror}", fix="check the --notes path") from None
    if not console.is_terminal:  # a log: plain lines at a steady interval
        from .progress import PublishLines

        with PublishLines(version, lambda line: print(line, file=sys.stderr, flush=True), EnvSettings().progress_interval) as lines:
            report = publish(src, dest, version, notes=notes_text, workers=workers, exclude=exclude, verify_cogs=verify_cogs,
                             verify_stac_walk=verify_walk, progress=lines.on)
        out.print(str(report), soft_wrap=True, markup=False, highlight=False)
        return
    with Progress(TextColumn("[bold]publish {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task(version, total=None)
        report = publish(src, dest, version, notes=notes_text, workers=workers, exclude=exclude, verify_cogs=verify_cogs, verify_stac_walk=verify_walk,
                         progress=lambda done, total: bar.update(task, completed=done, total=total))
    out.print(str(report))


@app.command("publish")
def publish_cmd(
    build_dir: str = typer.Argument(..., help="a finished build folder (the output of `sen12stac build`)"),
    dest_url: str = typer.Argument(..., help="s3://bucket/prefix (or a folder) holding the versioned releases"),
    version: str = typer.Option(..., help="release version, semver X.Y.Z"),
    notes: Optional[Path] = typer.Option(None, help="release notes (Markdown)"),
    workers: int = typer.Option(8, help="concurrent uploads"),
    exclude: list[str] = typer.Option([], help="glob of build keys to leave out (repeatable)"),
    verify_cogs: int = typer.Option(200, help="COGs validated after upload (an evenly spaced sample; 0: none)"),
    no_verify_walk: bool = typer.Option(False, "--no-verify-walk", help="after upload, schema-check only the root and collections (items are proven by checksum)"),
    endpoint_url: Optional[str] = typer.Option(None, help="S3 endpoint URL"),
) -> None:
    """Publish a build as an immutable release: objects first, root and manifest last, then the landing catalog."""
    try:
        _do_publish(_open(build_dir), _open(dest_url, endpoint_url=endpoint_url), version, notes, workers, tuple(exclude), verify_cogs, not no_verify_walk)
    except Sen12StacError as exc:
        _fail(exc)


@app.command()
def verify(
    release_url: str = typer.Argument(..., help="s3://bucket/prefix/vX.Y.Z (or a folder)"),
    no_cogs: bool = typer.Option(False, "--no-cogs", help="skip COG validation"),
    cog_sample: Optional[int] = typer.Option(None, help="validate an evenly spaced sample of N COGs instead of all"),
    full_checksums: bool = typer.Option(False, "--full-checksums", help="download every object and compare its sha256 (default: the server's MD5 ETag when it is one)"),
    no_stac_walk: bool = typer.Option(False, "--no-stac-walk", help="schema-check only the root and collections (items are still proven by checksum)"),
    endpoint_url: Optional[str] = typer.Option(None, help="S3 endpoint URL"),
) -> None:
    """Check a release against its manifest: existence, size, checksum, COG and STAC validity."""
    try:
        from .errors import ValidationFailed
        from .release.verify import verify as verify_release
        from .release.version import split_release_url

        root, version = split_release_url(release_url)
        report = verify_release(_open(root, endpoint_url=endpoint_url), version, check_cogs=not no_cogs, cog_sample=cog_sample, full_checksums=full_checksums, stac_walk=not no_stac_walk)
        if not report.ok:
            raise ValidationFailed(f"{release_url}: {len(report.problems)} problem(s)", report.problems, fix="re-run the same publish command to resume and repair")
        out.print(str(report))
    except Sen12StacError as exc:
        _fail(exc)


@app.command()
def releases(root_url: str = typer.Argument(..., help="s3://bucket/prefix"), endpoint_url: Optional[str] = typer.Option(None, help="S3 endpoint URL")) -> None:
    """List the releases under a root: version, status, latest."""
    try:
        from .release.listing import list_releases

        infos = list_releases(_open(root_url, endpoint_url=endpoint_url))
        t = Table(title=f"releases under {root_url}")
        for col in ("version", "status", "latest", "objects", "items"):
            t.add_column(col)
        for r in infos:
            t.add_row(*[str(getattr(r, f, "")) for f in ("version", "status", "latest", "objects", "items")])
        out.print(t)
    except Sen12StacError as exc:
        _fail(exc)


# ----------------------------------------------------------------------------- api (STAC API: pgstac + stac-fastapi-pgstac)

api_app = typer.Typer(add_completion=False, no_args_is_help=True, help="Query a release through a STAC API (PostgreSQL + pgstac + stac-fastapi-pgstac).")
app.add_typer(api_app, name="api")


DSN_HELP = ("pgstac database: postgresql://USER@HOST:PORT/DBNAME or service=NAME, without a password (ps shows it); "
            "unset: the PG* variables (PGHOST, PGPORT, PGUSER, PGDATABASE, PGSERVICE); the password from PGPASSFILE (~/.pgpass) or PGPASSWORD")
HOST_HELP = "address to listen on (127.0.0.1: this machine only; any other warns: the API is then open to the network)"


def _dsn(dsn: Optional[str]) -> str:
    from .api.database import warn_about_password

    warn_about_password(dsn)
    return dsn or ""  # libpq's environment


def _need_api_extra() -> None:
    try:
        import pypgstac  # noqa: F401
        import stac_fastapi.pgstac  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"the STAC API needs the api extra ({exc.name} is not installed)", fix="pip install 'sen12stac[api]'") from None


def _open_release(url: str, asset_base_url: Optional[str], endpoint_url: Optional[str]):
    from .api.load import open_release

    s3 = _s3_options(endpoint_url=endpoint_url) if url.startswith("s3://") else {}
    return open_release(url, asset_base_url=asset_base_url, **s3)


@api_app.command("up")
def api_up(
    release_url: str = typer.Argument(..., help="release or build: folder, file://, s3:// (the folder, its catalog.json, or a landing catalog)"),
    port: int = typer.Option(8081, help="API port on --host"),
    host: str = typer.Option("127.0.0.1", help=HOST_HELP),
    asset_base_url: Optional[str] = typer.Option(None, help="public URL of RELEASE (e.g. https://bucket.s3.amazonaws.com/prefix) for asset hrefs"),
    endpoint_url: Optional[str] = typer.Option(None, help="S3 endpoint URL"),
) -> None:
    """Private PostgreSQL + pgstac in the cache folder, load RELEASE (once), serve it until Ctrl-C."""
    try:
        _need_api_extra()
        from .api.serve import client_snippet
        from .api.up import UpSettings, up

        release = _open_release(release_url, asset_base_url, endpoint_url)
        first = next((l for l in release.root.get("links", []) if l.get("rel") == "child"), {})
        coll = (first.get("href") or "").strip("./").split("/")[0] or None

        def ready(url: str, report, dsn: str) -> None:
            out.print(str(report) if report else f"reusing the database loaded from {release.url} (unchanged)", highlight=False, soft_wrap=True)
            out.print(f"\nSTAC API at {url}  (database {dsn}; Ctrl-C stops both)\n", highlight=False, soft_wrap=True)
            out.print(client_snippet(url, coll), highlight=False, markup=False, soft_wrap=True)

        up(release, UpSettings(cache_dir=EnvSettings().work_dir, host=host, port=port), on_ready=ready,
           on_progress=lambda cid, n: console.print(f"  {cid}: {n:,} items", highlight=False))
    except Sen12StacError as exc:
        _fail(exc)


@api_app.command("load")
def api_load(
    release_url: str = typer.Argument(..., help="release or build: folder, file://, s3:// (the folder, its catalog.json, or a landing catalog)"),
    dsn: Optional[str] = typer.Option(None, help=DSN_HELP),
    asset_base_url: Optional[str] = typer.Option(None, help="public URL of RELEASE (e.g. https://bucket.s3.amazonaws.com/prefix) for asset hrefs"),
    replace: bool = typer.Option(False, "--replace", help="a collection loaded from another release version gets this one's items (by id)"),
    migrate: bool = typer.Option(False, "--migrate", help="install or upgrade pgstac in the database first"),
    endpoint_url: Optional[str] = typer.Option(None, help="S3 endpoint URL"),
) -> None:
    """Load a release into a pgstac database: collections, then items in bulk (upsert; one transaction per collection)."""
    try:
        _need_api_extra()
        from .api.database import prepare_database
        from .api.load import load_release

        dsn = _dsn(dsn)
        release = _open_release(release_url, asset_base_url, endpoint_url)
        prepare_database(dsn, migrate_first=migrate)  # checks the DSN and pgstac; settings
        # registers the queryables first; their indexes are built in bulk after each collection's COPY
        report = load_release(release, dsn, replace=replace, progress=lambda cid, n: console.print(f"  {cid}: {n:,} items", highlight=False))
        out.print(str(report), highlight=False, soft_wrap=True)
    except Sen12StacError as exc:
        _fail(exc)


@api_app.command("serve")
def api_serve(
    dsn: Optional[str] = typer.Option(None, help=DSN_HELP),
    host: str = typer.Option("127.0.0.1", help=HOST_HELP),
    port: int = typer.Option(8081, help="API port"),
) -> None:
    """Serve a pgstac database with stac-fastapi-pgstac, read-only (filter, sort, fields, query, pagination), until Ctrl-C."""
    try:
        _need_api_extra()
        from .api.serve import ServeSettings, serve

        settings = ServeSettings(dsn=_dsn(dsn), host=host, port=port)
        out.print(f"STAC API at http://{host}:{port}  (Ctrl-C stops it)", highlight=False, soft_wrap=True)
        serve(settings)
    except Sen12StacError as exc:
        _fail(exc)


# -- browse: STAC Browser on a release, a bucket or a STAC API (sen12stac/browse.py) ----------


class BrowseEnv(BaseSettings):
    """Where the cached STAC Browser build lives: SEN12STAC_BROWSER_CACHE, else XDG_CACHE_HOME/sen12stac, else ~/.cache/sen12stac."""

    model_config = SettingsConfigDict(extra="ignore")

    sen12stac_browser_cache: Optional[Path] = None
    xdg_cache_home: Optional[Path] = None

    def cache_root(self) -> Path:
        if self.sen12stac_browser_cache:
            return self.sen12stac_browser_cache
        return (self.xdg_cache_home or Path.home() / ".cache") / "sen12stac"


@app.command()
def browse(
    release: Optional[str] = typer.Argument(None, help="a release or build folder (holding catalog.json), or s3://bucket/prefix[/vX.Y.Z]"),
    api: Optional[str] = typer.Option(None, "--api", help="a STAC API landing page instead (e.g. the URL `sen12stac api` prints)"),
    port: int = typer.Option(0, help="port on 127.0.0.1 (0: any free port)"),
    endpoint_url: Optional[str] = typer.Option(None, help="S3 endpoint URL (MinIO, Ceph, R2, a local server)"),
) -> None:
    """Serve STAC Browser on 127.0.0.1 pointed at a release, a bucket or a STAC API; prints the URL."""
    try:
        import time

        from . import browse as b

        if (release is None) == (api is None):
            raise ConfigError("browse needs exactly one of RELEASE or --api URL", fix="e.g. `sen12stac browse demo` or `sen12stac browse --api http://127.0.0.1:8081/`")
        if api is not None:
            target = b.api_target(api)
        elif release.startswith("s3://"):
            s3 = _s3_options(endpoint_url=endpoint_url)
            target = b.s3_target(release, endpoint_url=s3.get("endpoint_url"), region=s3.get("region"))
        else:
            target = b.folder_target(Path(release))
        b.check_reachable(target)
        dist = b.ensure_build(BrowseEnv().cache_root())
        server = b.serve(target, dist, port=port)
        out.print(f"STAC Browser at {server.url}  ({target.kind} {release or api}, catalog {server.catalog_url}; Ctrl-C stops)", soft_wrap=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            server.close()
    except Sen12StacError as exc:
        _fail(exc)


# -- infra: the release bucket as code (sen12stac/infra.py; infra/README.md) -----------------

infra_app = typer.Typer(no_args_is_help=True, help="The release bucket as code: policy, CORS, versioning, lifecycle (the same definition as infra/bucket.yaml).")
app.add_typer(infra_app, name="infra")


@infra_app.command("apply")
def infra_apply(
    bucket_url: str = typer.Argument(..., help="s3://BUCKET[/PREFIX]: the bucket, and the prefix `sen12stac publish` writes releases under"),
    public: bool = typer.Option(False, "--public", help="let anyone read the released data (GetObject on PREFIX/catalog.json and PREFIX/v*/*); default private"),
    no_public_access_block: bool = typer.Option(False, "--no-public-access-block", help="skip the public access block (endpoints without that API, e.g. MinIO)"),
    allow_http: bool = typer.Option(False, "--allow-http", help="a plain-http endpoint (local MinIO, moto): leave out the statement that denies plain-HTTP requests"),
    endpoint_url: Optional[str] = typer.Option(None, help="S3 endpoint URL"),
) -> None:
    """Put the bucket's versioning, CORS, lifecycle rule, public access block and policy (idempotent)."""
    try:
        from . import infra
        from .store.s3 import S3Store

        bucket, prefix = infra.split_bucket_url(bucket_url)
        opts = _s3_options(endpoint_url=endpoint_url)
        store = S3Store.from_url(f"s3://{bucket}", **opts)
        report = infra.apply(store.boto3_client(), bucket, prefix, public=public, endpoint=opts.get("endpoint_url") or "AWS", allow_http=allow_http,
                             public_access_block_supported=not no_public_access_block)
        out.print(str(report), highlight=False, soft_wrap=True)
    except Sen12StacError as exc:
        _fail(exc)


@app.command("ee-tasks")
def ee_tasks(cache_dir: Optional[Path] = typer.Option(None, help="the Earth Engine cache folder (default: $SEN12STAC_WORK_DIR/earthengine)")) -> None:
    """Batch exports of the earthengine source as last seen: scene image, state, progress, task id."""
    try:
        from .sources.earthengine.export import TaskLedger

        folder = (cache_dir or EnvSettings().work_dir / "earthengine") / "tasks"
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
        _fail(exc)


# -- download (issue 11: streaming) ------------------------------------------------------------
@app.command()
def download(
    release: str = typer.Argument(..., help="release: folder, s3://bucket/prefix/vX.Y.Z, https:// URL (or a STAC API URL with --api)"),
    to: Path = typer.Option(..., "--to", help="local folder (created; an interrupted download resumes there)"),
    season: list[str] = typer.Option([], help="season(s): spring, summer, fall, winter (repeatable or comma-separated; default all)"),
    split: Optional[str] = typer.Option(None, help="train, validate or test (comma-separated for several)"),
    bbox: Optional[str] = typer.Option(None, help="west,south,east,north in degrees"),
    datetime: Optional[str] = typer.Option(None, help="RFC 3339 instant or interval a/b (.. for an open end)"),
    filter: Optional[str] = typer.Option(None, "--filter", help="CQL2 text, e.g. \"eo:cloud_cover\" < 5"),
    ids: Optional[str] = typer.Option(None, help="comma-separated item ids"),
    format: str = typer.Option("cog", "--format", help="cog (the release's files and layout) or png (the original SEN1-2 8-bit PNGs)"),
    on_error: str = typer.Option("skip", help="skip (report at the end, exit 4) or stop at the first missing/damaged file"),
    workers: int = typer.Option(8, help="concurrent GETs"),
    api: bool = typer.Option(False, "--api", help="RELEASE is a STAC API URL (searched with pystac-client)"),
    anonymous: bool = typer.Option(False, "--anonymous", help="unsigned S3 requests (a public bucket)"),
    endpoint_url: Optional[str] = typer.Option(None, help="S3 endpoint URL"),
) -> None:
    """Copy a selection of pairs to a local folder: resumable, checksum-verified, one GET per file."""
    try:
        from .stream import select
        from .stream.download import check_target, download as run_download

        check_target(to, format)  # before the selection and the progress bar: fail before work
        opts = {k: v for k, v in _s3_options(endpoint_url=endpoint_url).items()} if (release.startswith("s3://") or api) else {}
        if anonymous:
            opts = {k: v for k, v in opts.items() if k in ("endpoint_url", "region")}
            opts["anonymous"] = True
        if on_error not in ("skip", "stop"):
            raise ConfigError(f"--on-error {on_error}", fix="use skip or stop")
        seasons = [s for v in season for s in v.split(",") if s.strip()] or None
        sel = select(release, seasons=seasons, split=split, bbox=bbox, datetime=datetime, filter=filter,
                     ids=_split_csv(ids), api=api, **opts)
        if not len(sel):
            out.print(f"{release}: no pair matches the selection; nothing to download")
            return
        with Progress(TextColumn("[bold]download"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task("pairs", total=len(sel))
            report = run_download(sel, to, format=format, threads=workers, on_error=on_error, progress=lambda d, t: bar.update(task, completed=d))
        out.print(f"{report} -> {to}", soft_wrap=True)
        if report.problems:
            from .errors import StoreError

            for p in report.problems[:20]:
                console.print(f"  skipped {p}", highlight=False, markup=False)
            raise StoreError(f"{len(report.problems)} file(s) could not be copied (listed above)", fix="repair the release (sen12stac verify) and run the same command again: finished files are kept")
    except Sen12StacError as exc:
        _fail(exc)


def main() -> None:
    _log_warnings_as_lines()
    try:
        app()
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
