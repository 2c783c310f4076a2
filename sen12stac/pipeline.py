"""The build: ROIs -> source scenes -> preprocess -> scene QC -> tile -> patch QC -> COG -> store -> STAC.

``process_scene`` is the unit of parallel work (one ROI in one season); it streams the
scene twice -- once for statistics and scene QC, once for patches -- so memory is bounded
by a strip of the scene, not by the scene. ``build`` fans scenes out on Dask
(a LocalCluster by default, or an existing scheduler) and writes the catalog as results
arrive, so the client never holds the dataset either.
"""
from __future__ import annotations

import contextlib
import itertools
import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import rasterio
from rasterio.windows import Window

from . import SOFTWARE, iostats
from .collector import collector_paused
from .cog import COG_MEDIA_TYPE, RGB, encode_cog, encoding_env
from .config import BuildConfig
from .errors import ConfigError, ObjectConflictError, SceneUnavailable, Sen12StacError, SourceError
from .models import ROI, AssetRecord, Grid, PatchRecord, SceneQC, SceneRequest, SceneResult, Source
from .preprocess import S1_BANDS, S2_BANDS, scale_s1, scale_s2
from .qc import Override, SceneAccumulator, StripQC, apply_override, judge_scene, load_overrides, reason_code
from .rois import Candidate, sample_candidates
from .scenecache import CachedScene, release_spares, scene_bytes
from .seasons import SEASONS, Season
from .store import ObjectStore, multihash_sha256
from .store.checkpoint import BackgroundSync
from .thumbnails import JPEG_MEDIA_TYPE, pair_thumbnail
from .tiling import iter_positions, pair_id, patch_grid, patch_key, thumbnail_key
from .utm import default_grid

log = logging.getLogger("sen12stac.pipeline")

STATS_STRIP = 512  # rows per strip in the statistics pass
GDAL_CACHEMAX_MB = 64
CHECKPOINT_EVERY_S = 2.0  # durable checkpoints of a folder build while scenes run, at most this often


def _strips(grid: Grid, rows: int) -> Iterator[Window]:
    for r in range(0, grid.height, rows):
        yield Window(0, r, grid.width, min(rows, grid.height - r))


def scene_request(roi: ROI, season: Season, source: Source, config: BuildConfig) -> SceneRequest:
    default = default_grid(roi.lon, roi.lat, config.scene_size_px, config.pixel_size)
    grid = source.grid_for(roi, default)
    return SceneRequest(roi, season.name, season.start.isoformat(), season.end.isoformat(), grid)


def process_scene(roi: ROI, season_name: str, source: Source, store: ObjectStore, config: BuildConfig, overrides: dict[str, Override]) -> SceneResult:
    """One ROI of one season, start to finish. Never raises for data problems: the result says."""
    t0 = time.perf_counter()
    season = SEASONS[season_name]
    result = SceneResult(roi=roi, season=season_name, status="failed")
    with collector_paused(), iostats.measure() as cost:  # a scene makes next to no reference cycles
        _process_scene(roi, season, source, store, config, overrides, result, t0)
    if cost.any:  # a remote source: what the scene cost on the network (searches, range reads, bytes)
        result.requests = cost.to_dict()
    return result


def _process_scene(roi: ROI, season: Season, source: Source, store: ObjectStore, config: BuildConfig, overrides: dict[str, Override], result: SceneResult, t0: float) -> None:
    try:
        request = scene_request(roi, season, source, config)
        result.grid = request.grid
        try:
            scene = source.open_scene(request)
        except SceneUnavailable as exc:
            result.status, result.message = "unavailable", str(exc)
            return
        try:
            # GDAL's block cache is per process and defaults to 5 % of RAM: cap it so a
            # reprojected local scene read in strips stays small (measured 589 -> 222 MB peak).
            with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHEMAX_MB, GDAL_PAM_ENABLED="NO"):
                # read the source once when the scene fits the cache budget (scenecache.py)
                if scene_bytes(request.grid) <= config.scene_cache_mb * 2**20:
                    scene = CachedScene(scene, request.grid)
                _process_open_scene(scene, request, store, config, overrides, result)
        finally:
            scene.close()  # a CachedScene closes the source's scene too, and keeps its arrays for the next
    except ObjectConflictError:
        raise  # different content under a published key: stop the build (exit 5), never a scene failure
    except Sen12StacError as exc:
        result.status, result.message = "failed", str(exc)
        result.patches = []
        result.bytes_written = 0  # its objects were removed
        manual = overrides.get(roi.scene_id)
        if manual is not None and manual.decision == "reject":
            # a manual reject covers a scene that cannot even be read: the build can complete
            result.status = "rejected"
            result.qc = SceneQC(roi.scene_id, False, ("manual reject",), result.qc.metrics if result.qc else {}, "reject", manual.note)
            result.patch_rejections = {}
    finally:
        result.seconds = round(time.perf_counter() - t0, 3)


def _process_open_scene(scene, request: SceneRequest, store: ObjectStore, config: BuildConfig, overrides: dict[str, Override], result: SceneResult) -> None:
    roi, grid = request.roi, request.grid
    # Pass 1: statistics and scene QC (reads every pixel: corrupt data fails here, before any write)
    acc = SceneAccumulator(config.scene_qc)
    for w in _strips(grid, STATS_STRIP):
        s1, s2 = scene.read_s1(w), scene.read_s2(w)
        _check_shapes(s1, s2, w, roi)
        acc.add(s1, s2)
    metrics = acc.metrics()
    # An all-no-data sensor is a scene-QC rejection ("nodata all pixels"), recorded like the others
    empty = [a.band for a in (*acc.s1, *acc.s2) if a.count == 0]
    qc = judge_scene(roi.scene_id, metrics, config.scene_qc)
    rows, cols = patch_grid(grid.height, grid.width, config.patch_size, config.stride)
    result.patch_positions = len(rows) * len(cols)
    if not rows or not cols:
        qc = SceneQC(qc.scene_id, False, (*qc.reasons, f"too-small {grid.width}x{grid.height} px < one {config.patch_size} px patch"), qc.metrics)
    qc = apply_override(qc, overrides)  # manual decisions apply to every scene-QC outcome
    result.qc = qc
    if not qc.accepted:
        result.status = "rejected"
        return
    if empty or not rows or not cols:
        # accepted by a manual override, but nothing can be published: no pixel to scale
        # (every position fails patch QC as no-data) or no patch position at all
        result.status = "rejected"
        if empty:
            result.patch_rejections = {"nodata": result.patch_positions}
        return
    s1_stats = tuple(a.stats(config.preprocess) for a in acc.s1)
    s2_stats = tuple(a.stats(config.preprocess) for a in acc.s2)

    # Pass 2: patches, strip by strip
    written: list[str] = []
    rejections: Counter[str] = Counter()
    try:
        positions = iter_positions(grid.height, grid.width, config.patch_size, config.stride)
        for _row, row_positions in itertools.groupby(positions, key=lambda p: p.row):
            row_positions = list(row_positions)
            sw = Window(0, row_positions[0].window.row_off, grid.width, config.patch_size)
            strip = (scene.read_s1(sw), scene.read_s2(sw), scene.seam_mask(sw))
            strip_u8 = None
            strip_qc = StripQC(*strip, config.scene_qc, config.patch_qc)  # = judge_patch of each patch, masks once per strip
            # one GDAL environment for the strip's encodes (not one per encode: docs/scale.md);
            # the reads above stay outside it, under the source's own options
            with encoding_env():
                for pos in row_positions:
                    x0, x1 = int(pos.window.col_off), int(pos.window.col_off) + config.patch_size
                    pqc = strip_qc.judge(x0, x1)
                    if not pqc.accepted:
                        for r in pqc.reasons:
                            rejections[reason_code(r)] += 1
                        continue
                    if strip_u8 is None:  # scaled once per strip (elementwise: the same values as per patch)
                        strip_u8 = (scale_s1(strip[0], s1_stats), scale_s2(strip[1], s2_stats, valid=strip_qc.v2))
                    u8 = (strip_u8[0][:, :, x0:x1], strip_u8[1][:, :, x0:x1])
                    record = _publish_patch(roi, request, pos, u8, s1_stats, s2_stats, pqc, qc, scene, store, config, written)
                    result.patches.append(record)
                    result.bytes_written += sum(a.size for a in record.assets.values())
    except BaseException:
        try:
            discard_written(store, written)  # nothing partial for this scene, in a folder or a bucket
        except Exception as cleanup:  # noqa: BLE001 - the scene's own error is the one to report
            log.warning("%s: could not remove every object of the failed scene: %s", roi.scene_id, cleanup)
        raise
    result.patch_rejections = dict(sorted(rejections.items()))
    result.status = "published" if result.patches else "rejected"
    if not result.patches:
        result.message = "every patch failed patch QC"


def _check_shapes(s1: np.ndarray, s2: np.ndarray, w: Window, roi: ROI) -> None:
    want = (int(w.height), int(w.width))
    if s1.shape != (1, *want) or s2.shape != (3, *want):
        raise SourceError(
            f"source returned S1 {s1.shape} / S2 {s2.shape} for a {want[1]}x{want[0]} window of {roi.scene_id}",
            fix="the source must return (1,h,w) S1 and (3,h,w) S2 arrays on the requested grid",
        )


def discard_written(store: ObjectStore, keys: list[str]) -> None:
    """Roll back a failed scene: delete the objects this run wrote for it (the keys its puts
    reported "written", so never an object that existed before), through the store interface,
    in a folder or a bucket alike. A failure to delete one key does not stop the others; the
    first such failure is raised after all were tried (the scene's own error goes first)."""
    first: BaseException | None = None
    for key in keys:
        try:
            store.discard(key)
        except Exception as exc:  # noqa: BLE001 - keep removing the rest
            first = first or exc
    if first is not None:
        raise first


def _put(store: ObjectStore, key: str, data: bytes, media_type: str, written: list[str]) -> AssetRecord:
    if store.put_or_verify(key, data, media_type) == "written":
        written.append(key)
    return AssetRecord(key, len(data), multihash_sha256(data), media_type)


def _publish_patch(roi, request, pos, u8, s1_stats, s2_stats, pqc, sqc, scene, store, config, written) -> PatchRecord:
    grid = request.grid
    pgrid = Grid(grid.crs, grid.window_transform(pos.window), config.patch_size, config.patch_size)
    s1_u8, s2_u8 = np.ascontiguousarray(u8[0]), np.ascontiguousarray(u8[1])
    n = pos.number
    s1_bytes = encode_cog(s1_u8, pgrid, nodata=0, descriptions=S1_BANDS, config=config.cog,
                          scales=tuple(b.scale for b in s1_stats), offsets=tuple(b.offset for b in s1_stats))
    s2_bytes = encode_cog(s2_u8, pgrid, nodata=0, descriptions=S2_BANDS, config=config.cog, colorinterp=RGB,
                          scales=tuple(b.scale for b in s2_stats), offsets=tuple(b.offset for b in s2_stats))
    assets = {
        "s1": _put(store, patch_key(roi.set_name, "s1", roi.index, n), s1_bytes, COG_MEDIA_TYPE, written),
        "s2": _put(store, patch_key(roi.set_name, "s2", roi.index, n), s2_bytes, COG_MEDIA_TYPE, written),
    }
    if config.thumbnails:
        assets["thumbnail"] = _put(store, thumbnail_key(roi.set_name, roi.index, n), pair_thumbnail(s1_u8, s2_u8), JPEG_MEDIA_TYPE, written)
    season = SEASONS[request.season_name]
    return PatchRecord(
        pair_id=pair_id(roi.set_name, roi.index, n), scene_id=roi.scene_id, set_name=roi.set_name,
        season=season.name, seed=season.seed, scene_index=roi.index, patch_index=n, row=pos.row, col=pos.col,
        grid=pgrid, assets=assets, s1=scene.s1, s2=scene.s2, s1_stats=s1_stats, s2_stats=s2_stats,
        qc=pqc, scene_qc=sqc, roi=roi, source=config.source, software=SOFTWARE,
    )


# ---------------------------------------------------------------------------------------
# The whole build


@dataclass
class SeasonCounts:
    """The paper's counts for one season set."""

    set_name: str
    rois_sampled: int = 0  # candidate points drawn
    rois_kept: int = 0  # after dropping overlaps
    rois_processed: int = 0  # after --scenes-per-season
    rois_with_data: int = 0  # S1 and S2 available
    scenes_accepted: int = 0  # after scene QC
    scenes_failed: int = 0
    patch_positions: int = 0  # in accepted scenes
    patches_published: int = 0  # after patch QC
    bytes_written: int = 0
    scene_rejections: Counter = field(default_factory=Counter)
    patch_rejections: Counter = field(default_factory=Counter)

    def as_counts(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in ("rois_sampled", "rois_kept", "rois_processed", "rois_with_data", "scenes_accepted", "scenes_failed", "patch_positions", "patches_published", "bytes_written")}


@dataclass
class BuildSummary:
    seasons: dict[str, SeasonCounts]
    scenes: list[dict]  # per scene: id, status, reasons, patches (small)
    root_key: str | None
    seconds: float = 0.0
    candidates: dict[str, list[Candidate]] = field(default_factory=dict)

    @property
    def patches_published(self) -> int:
        return sum(c.patches_published for c in self.seasons.values())

    @property
    def bytes_written(self) -> int:
        return sum(c.bytes_written for c in self.seasons.values())

    @property
    def requests(self) -> dict[str, int | None] | None:
        """Network cost of the whole build (remote sources only): the scenes' requests summed."""
        per = [s["requests"] for s in self.scenes if s.get("requests")]
        if not per:
            return None
        total: dict[str, int | None] = {}
        for r in per:
            for k, v in r.items():
                total[k] = None if v is None or total.get(k, 0) is None else int(total.get(k) or 0) + int(v)
        return total

    def to_dict(self) -> dict:
        """Deterministic (no timings): the file is part of the build and of its release."""
        return {
            **({"requests": self.requests} if self.requests is not None else {}),
            "root": self.root_key,
            "seasons": {k: {**v.as_counts(), "scene_rejections": dict(v.scene_rejections), "patch_rejections": dict(v.patch_rejections)} for k, v in self.seasons.items()},
            "scenes": self.scenes,
        }


Progress = Callable[[str, dict], None]  # (event, data): "plan" {total}, "scene" {result}, "stage" {name}


@contextlib.contextmanager
def _dask_client(config: BuildConfig):
    from distributed import Client, LocalCluster

    from .daskconfig import build_settings

    with build_settings(local_cluster=not config.scheduler):
        cluster = None
        if config.scheduler:
            try:
                client = Client(config.scheduler)  # Dask's connect timeout (distributed.comm.timeouts.connect, 30 s)
            except (OSError, ValueError) as exc:  # refused or timed out (TimeoutError is an OSError), a malformed address
                raise ConfigError(f"cannot reach the Dask scheduler {config.scheduler} ({exc})",
                                  fix="start it (`dask scheduler`, docs/scale.md) or correct --scheduler / SEN12STAC_SCHEDULER") from None
        else:
            cluster = LocalCluster(n_workers=config.workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None, silence_logs=40)
            client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


def _run_scenes(tasks: list[tuple[ROI, str]], source: Source, store: ObjectStore, config: BuildConfig, overrides: dict[str, Override], emit: Progress | None = None) -> Iterator[SceneResult]:
    emit = emit or (lambda event, data: None)
    if config.workers == 0 and not config.scheduler:
        emit("cluster", {"workers": 0, "scheduler": None})
        for roi, season in tasks:
            yield process_scene(roi, season, source, store, config, overrides)
        return
    from distributed import as_completed

    with _dask_client(config) as client:
        emit("cluster", {"workers": len(client.scheduler_info().get("workers", {})), "scheduler": config.scheduler})
        shared = client.scatter([source, store, config, overrides], broadcast=True)
        run = uuid.uuid4().hex[:8]  # keys unique per build: two builds on one shared scheduler never share results
        futures = {client.submit(process_scene, roi, season, *shared, pure=False, key=f"scene-{run}-{roi.scene_id}"): (roi, season) for roi, season in tasks}
        for fut in as_completed(list(futures)):
            try:
                res = fut.result()
            except Sen12StacError:
                raise  # a conflict under a published key stops the build (exit 5)
            except Exception as exc:  # noqa: BLE001 - a lost worker (KilledWorker after Dask's retries), a dropped connection
                roi, season = futures[fut]
                res = SceneResult(roi=roi, season=season, status="failed")
                res.message = (f"{type(exc).__name__} on the Dask cluster while running {roi.scene_id}: {exc}"
                               ". Fix: run the same command again: this scene is retried, finished ones are skipped")
            fut.release()
            yield res


def plan_rois(config: BuildConfig, source: Source) -> tuple[dict[str, SeasonCounts], dict[str, list[Candidate]], list[tuple[ROI, str]]]:
    counts: dict[str, SeasonCounts] = {}
    candidates: dict[str, list[Candidate]] = {}
    tasks: list[tuple[ROI, str]] = []
    for name in config.seasons:
        season = SEASONS[name]
        own = source.rois(name)
        if own is None:
            cands = sample_candidates(season, n_land=config.n_land, n_urban=config.n_urban, scene_size_m=config.scene_size_px * config.pixel_size)
            rois = [ROI(season.set_name, c.index, round(c.lon, 6), round(c.lat, 6), c.kind) for c in cands if c.kept and c.index is not None]  # type: ignore[arg-type]
        else:
            cands = [Candidate(r.lon, r.lat, r.kind, True, r.index) for r in own]
            rois = list(own)
        if not rois:
            continue
        candidates[season.set_name] = cands
        sc = SeasonCounts(season.set_name, rois_sampled=len(cands), rois_kept=len(rois))
        chosen = rois[: config.scenes_per_season] if config.scenes_per_season else rois
        sc.rois_processed = len(chosen)
        counts[season.set_name] = sc
        tasks.extend((r, name) for r in chosen)
    return counts, candidates, tasks


def build(config: BuildConfig, store: ObjectStore, *, progress: Progress | None = None, write_catalog: bool = True, source: Source | None = None) -> BuildSummary:
    """Run the whole recipe into ``store`` and write the STAC catalog; return the counts.

    ``source`` overrides the configured one (a custom :class:`~sen12stac.models.Source`)."""
    from .figures import season_figures

    t0 = time.perf_counter()
    emit = progress or (lambda event, data: None)
    if source is None:
        from .sources import make_source

        source = make_source(config)
    overrides = load_overrides(config.scene_qc.overrides)
    counts, candidates, tasks = plan_rois(config, source)
    emit("plan", {"total": len(tasks)})
    store = store.deferred()  # durable when the catalog is complete (store.sync), not per object
    writer = None
    if write_catalog:
        from .stac.writer import CatalogWriter

        writer = CatalogWriter(store, config)
    scenes: list[dict] = []
    samples: dict[str, list[PatchRecord]] = {k: [] for k in counts}
    outcomes: dict[str, dict[int, str]] = {k: {} for k in counts}
    with contextlib.ExitStack() as stack:
        if writer is not None:
            stack.enter_context(writer)  # the item spool and put threads go away on any exit
        stack.callback(release_spares)  # the scene arrays kept for the next scene (in this process)
        checkpoints = BackgroundSync(store, CHECKPOINT_EVERY_S)  # durable as it goes, so the end waits on little (store/checkpoint.py)
        stack.callback(checkpoints.close, raise_error=False)  # never leave the thread behind on an error
        for res in _run_scenes(tasks, source, store, config, overrides, emit):
            _count(counts[res.roi.set_name], res)
            outcomes[res.roi.set_name][res.roi.index] = res.status
            _keep_samples(samples[res.roi.set_name], res)
            scenes.append({
                "scene_id": res.roi.scene_id, "status": res.status, "kind": res.roi.kind, "lon": res.roi.lon, "lat": res.roi.lat,
                "reasons": list(res.qc.reasons) if res.qc else [], "override": res.qc.override if res.qc else None,
                "patches": len(res.patches), "patch_rejections": res.patch_rejections, "message": res.message,
                **({"requests": res.requests} if res.requests is not None else {}),
            })
            if writer is not None:
                writer.add_scene(res)
            res.patches = []  # the records are in the catalog now; drop them
            emit("scene", {"result": res, "scene": scenes[-1]})
            checkpoints.kick()
        checkpoints.close()  # a checkpoint's failure (a full disk) stops the build here
        root_key = None
        failed = any(s["status"] == "failed" for s in scenes)
        # With a failed scene the collections, figures and root are not written: they would
        # count the failure, and a re-run after the fix must be able to write them (every key
        # is write-once). Scene catalogs and items written so far are identical on the re-run.
        if writer is not None and not failed:
            emit("stage", {"name": "figures"})
            # figures only for seasons that get a collection (one with no published pair has none)
            published = {k: v for k, v in candidates.items() if counts[k].patches_published}
            collection_assets = season_figures(store, published, outcomes, samples)
            emit("stage", {"name": "catalog"})
            root_key = writer.finish({k: v.as_counts() for k, v in counts.items()}, collection_assets)
        if writer is None:
            store.sync()  # the writer syncs when the catalog is complete; this covers a build without one
    scenes.sort(key=lambda s: s["scene_id"])
    return BuildSummary(counts, scenes, root_key, round(time.perf_counter() - t0, 3), candidates)


def _count(sc: SeasonCounts, res: SceneResult) -> None:
    """Add one scene's outcome to its season's counts (a failed scene adds only to scenes_failed)."""
    if res.status != "unavailable":
        sc.rois_with_data += 1
    if res.status == "failed":
        sc.scenes_failed += 1
        return
    if res.qc is not None:
        if res.qc.accepted:
            sc.scenes_accepted += 1
            sc.patch_positions += res.patch_positions
        else:
            for r in res.qc.reasons:
                sc.scene_rejections[reason_code(r)] += 1
    sc.patch_rejections.update(res.patch_rejections)
    sc.patches_published += len(res.patches)
    sc.bytes_written += res.bytes_written


def _keep_samples(keep: list[PatchRecord], res: SceneResult) -> None:
    """Two patches per scene (at a third and two thirds) as contact-sheet candidates; the figure
    takes the first few by pair id, so the choice does not depend on the order scenes finish."""
    if not res.patches:
        return
    ordered = sorted(res.patches, key=lambda p: p.patch_index)
    for i in sorted({len(ordered) // 3, (2 * len(ordered)) // 3}):  # one pick when a scene has a single patch
        keep.append(ordered[i])


# ---------------------------------------------------------------------------------------
# Straight into a release in object storage


SUMMARY_KEY = "build-summary.json"


def summary_bytes(summary: BuildSummary) -> bytes:
    """``build-summary.json``: deterministic (no timings), part of the build and of its release."""
    import json

    return (json.dumps(summary.to_dict(), indent=1, sort_keys=True) + "\n").encode()


def build_release(
    config: BuildConfig,
    dest: ObjectStore,
    version: str,
    *,
    progress: Progress | None = None,
    source: Source | None = None,
    notes: str | None = None,
    verify_cogs: int | None = 200,
    verify_stac_walk: bool = True,
):
    """Build the recipe straight into the release ``v{version}`` under ``dest`` (no staging):
    workers write their assets into the release prefix, the client writes the catalog, and
    when every scene succeeded the release is committed, verified and listed in the landing
    catalog (:mod:`sen12stac.release.direct`). Returns ``(summary, report)``; ``report`` is
    None when a scene failed (nothing is committed; the same call again completes it)."""
    from .release.direct import ReleaseBuildStore, check_release_target, commit_release

    check_release_target(dest, version)
    store = ReleaseBuildStore(dest, version)
    summary = build(config, store, progress=progress, source=source)
    if summary.root_key is None:
        return summary, None
    store.put_or_verify(SUMMARY_KEY, summary_bytes(summary), "application/json")
    emit = progress or (lambda event, data: None)
    report = commit_release(store, notes=notes, verify_cogs=verify_cogs, verify_stac_walk=verify_stac_walk,
                            progress=lambda stage: emit("stage", {"name": stage}))
    return summary, report
