"""rois, build, demo: the recipe from the command line."""
from __future__ import annotations

import json
import typing
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer

from ..config import COG_PROFILES, BuildConfig, EarthEngineConfig, StacSourceConfig
from ..errors import ConfigError, ObjectConflictError, Sen12StacError
from ..estimate import estimate
from .output import build_progress, fail, interrupted, out, print_summary
from .settings import Settings, endpoint_option, open_store, profile_option, settings_of

app = typer.Typer()


def choices(name: str, values: typing.Iterable[str]) -> type[Enum]:
    """A str enum of ``values``: the parser lists them in --help and refuses anything else."""
    return Enum(name, {v: v for v in values}, type=str)  # type: ignore[return-value]


def literal_values(model: type, field: str) -> tuple[str, ...]:
    """The values of a ``Literal[...]`` (or ``Literal[...] | None``) field of a pydantic model."""
    annotation = model.model_fields[field].annotation
    args = typing.get_args(annotation)
    if args and all(isinstance(a, str) for a in args):
        return args
    return next(typing.get_args(a) for a in args if typing.get_origin(a) is typing.Literal)


Source = choices("Source", literal_values(BuildConfig, "source"))
Recipe = choices("Recipe", literal_values(BuildConfig, "recipe"))
Compression = choices("Compression", COG_PROFILES)
Layout = choices("Layout", ("cogs", "shards", "both"))
EeExport = choices("EeExport", literal_values(EarthEngineConfig, "export"))
StacPreset = choices("StacPreset", literal_values(StacSourceConfig, "preset"))


def _default(field: str) -> str:
    return str(BuildConfig.model_fields[field].default)


def _value(option: Optional[Enum]) -> Optional[str]:
    return None if option is None else option.value


def split_csv(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(v.strip() for v in value.split(",") if v.strip())


@app.command(rich_help_panel="Build")
def rois(
    seed: int = typer.Option(..., help="the paper's seed: 1158 spring, 1868 summer, 1970 fall, 2017 winter"),
    out_path: Path = typer.Option(..., "--out", help="GeoJSON file to write"),
    n_land: int = typer.Option(100, help="points over land"),
    n_urban: int = typer.Option(50, help="points over urban areas"),
    scene_size: int = typer.Option(4480, help="scene side in pixels at 10 m (overlap test)"),
) -> None:
    """Sample the ROIs of one seed (kept and dropped points) as GeoJSON."""
    try:
        from ..recipe.rois import rois_geojson, sample_candidates
        from ..recipe.seasons import season_by_seed

        season = season_by_seed(seed)
        cands = sample_candidates(season, n_land=n_land, n_urban=n_urban, scene_size_m=scene_size * 10.0)
        out_path.write_text(json.dumps(rois_geojson(season, cands), indent=1) + "\n")
        kept = sum(c.kept for c in cands)
        out.print(f"{season.set_name}: {len(cands)} points sampled, {kept} kept, {len(cands) - kept} dropped as overlapping -> {out_path}")
    except Sen12StacError as exc:
        fail(exc)


def whole_dataset_epilog() -> str:
    """build --help's last paragraph: what a build without --scenes-per-season is."""
    from ..config import make_config

    full = estimate(BuildConfig())
    one = estimate(make_config(layout="cogs"))
    fast = estimate(make_config(cog=COG_PROFILES["fast"], layout="cogs"))
    return (f"Without --scenes-per-season a build runs every ROI of the four seasons, the whole dataset: "
            f"{full.line()} with the default compression and --layout both (the paper published 282,384 pairs); "
            f"--layout cogs or shards ~{one.size_text}; with one layout and --compression fast ~{fast.size_text}, {fast.time_text}. "
            "Try --scenes-per-season 2 first; every run prints its own estimate as its first line.")


WHAT, WHERE, RELEASE, PERF = "What to build", "Where it goes", "Release", "Performance"
SYNTHETIC, LOCAL, EE, STAC = "Source: synthetic", "Source: local", "Source: Earth Engine", "Source: STAC APIs"


@app.command("build", rich_help_panel="Build", epilog=whole_dataset_epilog())
def build_cmd(
    ctx: typer.Context,
    recipe: Optional[Recipe] = typer.Option(None, help="v1: the 2018 paper's 8-bit S1 VV | S2 RGB pairs; v2: the paper's planned version 2 -- S1 VV+VH float32 dB, S2 L2A all 12 bands uint16 reflectance x 10000, a WorldCover land-cover label per pair (docs/v2.md). One release holds one recipe", show_default=_default("recipe"), rich_help_panel=WHAT),
    source: Optional[Source] = typer.Option(None, help="where scenes come from: synthetic (offline), local (--source-path), earthengine, stac (public STAC APIs)", show_default=_default("source"), rich_help_panel=WHAT),
    seasons: Optional[str] = typer.Option(None, help="comma-separated seasons: spring, summer, fall, winter", show_default="all four", rich_help_panel=WHAT),
    scenes_per_season: Optional[int] = typer.Option(None, help="run at most N ROIs per season", show_default="every ROI: the whole dataset", rich_help_panel=WHAT),
    scene_size: Optional[int] = typer.Option(None, help="scene side in pixels at 10 m", show_default=f"{_default('scene_size_px')}, the paper's", rich_help_panel=WHAT),
    overrides: Optional[Path] = typer.Option(None, help="manual QC decisions by scene or pair id (JSON or CSV; `sen12stac review` writes one)", show_default="none", rich_help_panel=WHAT),
    review: bool = typer.Option(False, "--review", help="also keep per-scene previews and every patch position's QC for `sen12stac review` (folder builds; never published)", show_default="off", rich_help_panel=WHAT),
    config_file: Optional[Path] = typer.Option(None, "--config", help="JSON/TOML file of BuildConfig fields; the command line wins over SEN12STAC_* variables, which win over this file", show_default="none", rich_help_panel=WHAT),
    out_url: str = typer.Option(..., "--out", help="output folder, file:// URL, or s3://bucket/prefix (with --release)", rich_help_panel=WHERE),
    endpoint_url: Optional[str] = endpoint_option(rich_help_panel=WHERE),
    aws_profile: Optional[str] = profile_option(rich_help_panel=WHERE),
    defect_rate: Optional[float] = typer.Option(None, help="share of scenes given a defect (rejected by QC, as in the paper)", show_default=_default("defect_rate"), rich_help_panel=SYNTHETIC),
    source_path: Optional[Path] = typer.Option(None, help="folder of scene pairs (docs/sources.md)", show_default="none: required with --source local", rich_help_panel=LOCAL),
    ee_project: Optional[str] = typer.Option(None, help="Cloud project registered for Earth Engine", show_default="the key file's project", rich_help_panel=EE),
    ee_key_file: Optional[Path] = typer.Option(None, help="service-account JSON key", show_default="application default credentials", rich_help_panel=EE),
    ee_export: Optional[EeExport] = typer.Option(None, help="pixels (direct download), gcs or drive (batch exports, resumable)", show_default="pixels", rich_help_panel=EE),
    ee_bucket: Optional[str] = typer.Option(None, help="Cloud Storage bucket for --ee-export gcs", show_default="none", rich_help_panel=EE),
    ee_drive_folder: Optional[str] = typer.Option(None, help="Drive folder for --ee-export drive", show_default="none", rich_help_panel=EE),
    ee_drive_dir: Optional[Path] = typer.Option(None, help="local folder where that Drive folder is synced", show_default="none", rich_help_panel=EE),
    ee_rois: Optional[str] = typer.Option(None, help="sampler (the offline sampler's points), earthengine (randomPoints) or a GeoJSON from `sen12stac rois`", show_default="sampler", rich_help_panel=EE),
    ee_s2_collection: Optional[str] = typer.Option(None, help="Sentinel-2 collection", show_default=str(EarthEngineConfig.model_fields["s2_collection"].default), rich_help_panel=EE),
    stac_preset: Optional[StacPreset] = typer.Option(None, help="documented APIs and collections for both sensors", show_default="none: --s1-*/--s2-* or --config", rich_help_panel=STAC),
    stac_rois: Optional[Path] = typer.Option(None, help="GeoJSON of ROI points (`sen12stac rois` output) instead of sampling", show_default="the sampler's ROIs", rich_help_panel=STAC),
    s1_api: Optional[str] = typer.Option(None, help="S1 STAC API URL", show_default="the preset's", rich_help_panel=STAC),
    s1_collection: Optional[str] = typer.Option(None, help="S1 collection id", show_default="the preset's", rich_help_panel=STAC),
    s2_api: Optional[str] = typer.Option(None, help="S2 STAC API URL", show_default="the preset's", rich_help_panel=STAC),
    s2_collection: Optional[str] = typer.Option(None, help="S2 collection id", show_default="the preset's", rich_help_panel=STAC),
    workers: Optional[int] = typer.Option(None, help="Dask LocalCluster workers (0: in this process)", show_default=f"{_default('workers')}, or SEN12STAC_WORKERS", rich_help_panel=PERF),
    scheduler: Optional[str] = typer.Option(None, help="a running Dask scheduler (tcp://host:port) instead of a local cluster; its workers read the source and write to --out", show_default="a local cluster, or SEN12STAC_SCHEDULER", rich_help_panel=PERF),
    compression: Optional[Compression] = typer.Option(None, help="COG compression: compatible (DEFLATE, every reader) or fast (ZSTD level 1: GDAL, rasterio, tifffile; not STAC Browser's geotiff.js)", show_default="compatible", rich_help_panel=PERF),
    layout: Optional[Layout] = typer.Option(None, help="cogs (one COG per patch file), shards (per-scene uncompressed ZIPs of the same COGs, for training: docs/shards.md) or both", show_default=_default("layout"), rich_help_panel=WHAT),
    release: Optional[str] = typer.Option(None, "--release", metavar="X.Y.Z", help="with an s3:// --out: the release version the workers build straight into (committed last)", show_default="none: a folder build", rich_help_panel=RELEASE),
) -> None:
    """Run the recipe: ROIs -> scenes -> preprocessing -> QC -> COG patch pairs -> STAC."""
    settings = settings_of(ctx)
    state = "nothing was written"
    try:
        stac = {"preset": _value(stac_preset), "rois_file": stac_rois,
                "s1": {"api_url": s1_api, "collection": s1_collection}, "s2": {"api_url": s2_api, "collection": s2_collection}}
        config = settings.build_config({
            "recipe": _value(recipe), "source": _value(source), "source_path": source_path, "seasons": split_csv(seasons), "scenes_per_season": scenes_per_season,
            "workers": workers, "scheduler": scheduler, "scene_size_px": scene_size, "defect_rate": defect_rate,
            "cog": COG_PROFILES[compression.value] if compression is not None else None, "layout": _value(layout),
            "scene_qc": {"overrides": overrides},
            "review": review or None,
            "earthengine": {"project": ee_project, "key_file": ee_key_file, "export": _value(ee_export), "bucket": ee_bucket, "drive_folder": ee_drive_folder,
                            "drive_dir": ee_drive_dir, "rois": ee_rois, "s2_collection": ee_s2_collection},
            "stac": stac,
        }, config_file)
        if any(v is not None for v in (stac_preset, stac_rois, s1_api, s1_collection, s2_api, s2_collection)) and config.source != "stac":
            raise ConfigError(f"--stac-preset, --stac-rois, --s1-* and --s2-* apply to --source stac only (the source is {config.source})",
                              fix="add --source stac, or leave those options out")
        if release and not out_url.startswith("s3://"):
            raise ConfigError(
                f"--release {release} with the folder --out {out_url}: a folder build is not a release and the version would be ignored",
                fix=f"drop --release, or build into the folder and then run: sen12stac publish {out_url} DEST --release {release}",
            )
        from ..release.preflight import check_release_destination, check_release_version
        from ..runtime.preflight import check_output_folder

        if config.review and config.recipe != "v1":
            raise ConfigError(f"--review keeps previews of recipe v1 builds only (this is {config.recipe})", fix="leave --review out, or review a v1 build of the same scenes")
        if out_url.startswith("s3://") and config.review:
            raise ConfigError("--review keeps previews beside a folder build; a build into s3:// is a release", fix="build into a folder with --review, review it, then publish it")
        if out_url.startswith("s3://"):
            if not release:
                raise ConfigError(f"--out {out_url} is object storage", fix="add --release X.Y.Z: a build goes to S3 only as an immutable release")
            # Workers write straight into the release prefix; the client writes the catalog and
            # commits the release last (sen12stac.release.direct). No local staging.
            from ..pipeline import build_release

            version = check_release_version(release)  # before any work: version, bucket, credentials, write, not yet published
            dest = open_store(settings, out_url, endpoint_url, aws_profile)
            check_release_destination(dest, version)
            state = f"v{version} is not in the landing catalog of {out_url} (readers see no new release)"
            summary, report = run_build(settings, config, None, run=lambda on, source: build_release(config, dest, version, progress=on, source=source))
            print_summary(summary, out_url)
            raise_if_failed(summary, config, f"v{version} was not committed to {out_url}")  # the same command completes it
            out.print(str(report))
            return
        check_output_folder(out_url)  # an existing file or an unwritable folder stops here, before any scene
        store = open_store(settings, out_url)
        state = f"nothing was written to {out_url} (it is as it was)"
        summary = run_build(settings, config, store)  # commits into the folder only when it succeeded
        print_summary(summary, out_url)
        raise_if_failed(summary, config, f"nothing was written to {out_url}")
        state = f"the build in {out_url} is complete, but its build-summary.json is not written yet"
        write_report(store, summary)
    except KeyboardInterrupt:
        interrupted(state)
    except Sen12StacError as exc:
        fail(exc)


def run_build(settings: Settings, config: BuildConfig, store, run=None) -> Any:
    """``build(config, store)`` (or ``run(progress, source)``) with its first line and progress."""
    from ..pipeline import build
    from ..sources import make_source

    source = make_source(config)  # checks the source (e.g. a STAC API answering) before any progress or work
    with build_progress(config, settings.progress_interval) as on:
        return run(on, source) if run is not None else build(config, store, progress=on, source=source)


def raise_if_failed(summary, config: BuildConfig, outcome: str) -> None:
    """A build that did not commit -- a scene failed, or no pair passed QC -- exits non-zero
    with one line saying why; ``outcome`` says what that left behind."""
    from ..errors import SourceError
    from ..recipe.summary import nothing_published

    failed = [s for s in summary.scenes if s["status"] == "failed"]
    if failed:
        # each scene's own fix is in its "failed" line above: "Fix:" once here
        lines = "; ".join(f"{s['scene_id']}: {s['message'].split('. Fix: ')[0]}" for s in failed[:5])
        more = f" (and {len(failed) - 5} more)" if len(failed) > 5 else ""
        raise SourceError(
            f"{len(failed)} scene(s) failed, so {outcome}: {lines}{more}",
            fix="correct what the messages name and run the same command again: the build is written once every scene succeeds",
        )
    if summary.patches_published == 0:
        raise nothing_published(summary, outcome, source=config.source, defect_rate=config.defect_rate)


def write_report(store, summary) -> None:
    data = (json.dumps(summary.to_dict(), indent=1, sort_keys=True) + "\n").encode()
    store.replace("build-summary.json", data, store.head("build-summary.json").etag if store.exists("build-summary.json") else None, "application/json")


@app.command(rich_help_panel="Build")
def demo(
    ctx: typer.Context,
    out_dir: Path = typer.Option(Path("demo"), "--out", help="output folder"),
    scenes_per_season: int = typer.Option(5, help="ROIs per season (some are rejected by QC or have no data, as in the paper)"),
    scene_size: int = typer.Option(2048, help="scene side in pixels (4480 = the paper's ~1,156 patches per scene)"),
    workers: Optional[int] = typer.Option(None, help="Dask workers (0: in this process)", show_default=f"{_default('workers')}, or SEN12STAC_WORKERS"),
) -> None:
    """A small synthetic release into ./demo with the ROI world map and a contact sheet."""
    settings = settings_of(ctx)
    state = "nothing was written"
    try:
        from ..pipeline import OtherBuildError
        from ..recipe.figures import world_map_png
        from ..runtime.preflight import check_output_folder

        config = settings.build_config({"source": "synthetic", "scenes_per_season": scenes_per_season, "workers": workers, "scene_size_px": scene_size})
        check_output_folder(str(out_dir))
        store = open_store(settings, str(out_dir))
        state = f"nothing was written to {out_dir}"
        try:
            summary = run_build(settings, config, store)
        except ObjectConflictError as exc:  # e.g. `make demo` again after an upgrade changed the files, or with other options
            other = "another demo, built with other options" if isinstance(exc, OtherBuildError) else "a demo built by another version of sen12stac"
            raise ObjectConflictError(
                f"{out_dir} holds {other} ({str(exc).split('. Fix:')[0]}); nothing was changed",
                fix=f"delete it (rm -rf {out_dir}) and run the demo again, or pass --out NEW_FOLDER",
            ) from None
        print_summary(summary, str(out_dir))
        raise_if_failed(summary, config, f"nothing was written to {out_dir}")
        state = f"the demo in {out_dir} is built, but its summary and figures/ are not written yet"
        write_report(store, summary)
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
    except KeyboardInterrupt:
        interrupted(state)
    except Sen12StacError as exc:
        fail(exc)
