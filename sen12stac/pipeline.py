"""The build: ROIs -> source scenes -> preprocess -> scene QC -> tile -> patch QC -> COG -> store -> STAC.

Each scene is processed by :func:`sen12stac.recipe.scene.process_scene` (the unit of parallel
work). ``build`` fans scenes out on Dask (a LocalCluster by default, or an existing
scheduler) and writes the catalog as results arrive, so the client never holds the dataset
either. Into a folder, a build is all or nothing: new objects wait in a staging area inside
the folder (:class:`~sen12stac.store.local.StagedStore`) and move in when the catalog is
complete; a build that fails, finds nothing to publish or is interrupted leaves the folder as
it was.
"""
from __future__ import annotations

import contextlib
import json
import logging
import signal
import threading
import time
import uuid
from typing import Callable, Iterator

from .recipe.summary import SUMMARY_KEY, BuildSummary, SeasonCounts, count_scene, keep_samples, summary_bytes
from .config import BuildConfig
from .errors import ConfigError, ObjectConflictError, Sen12StacError
from .models import ROI, PatchRecord, SceneResult, Source
from .recipe.qc import Override, load_overrides
from .recipe.review import CONFIG_KEY as REVIEW_CONFIG_KEY, OVERRIDES_KEY, config_bytes, overrides_bytes
from .recipe.rois import Candidate, sample_candidates
from .recipe.scene import discard_written, process_scene, scene_request
from .runtime.scenecache import release_spares
from .recipe.seasons import SEASONS
from .store import ObjectStore
from .store.base import NotFound
from .store.checkpoint import BackgroundSync

__all__ = ["build", "build_release", "plan_rois", "check_existing_build", "check_existing_recipe", "OtherBuildError", "BuildSummary", "SeasonCounts", "SUMMARY_KEY", "summary_bytes",
           "process_scene", "scene_request", "discard_written"]

CHECKPOINT_EVERY_S = 2.0  # durable checkpoints of a folder build while scenes run, at most this often
ROOT_KEY = "catalog.json"  # the catalog's root: written last, moved into the folder last

Progress = Callable[[str, dict], None]  # (event, data): "plan" {total}, "scene" {result}, "stage" {name}


class OtherBuildError(ObjectConflictError):
    """The output holds a finished build of other scenes (found before any scene ran; exit 5)."""


@contextlib.contextmanager
def _interrupts_held(*, drop: bool = False) -> Iterator[None]:
    """Ctrl-C waits until the block ends, then is raised (KeyboardInterrupt): a Dask cluster
    interrupted half started or half closed leaves processes and an atexit traceback behind.
    ``drop``: a Ctrl-C during the block is not raised after it (the block finishes the work).
    A no-op outside the main thread (only the main thread receives Python's signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    old = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old if old is not None else signal.default_int_handler)
        if caught and not drop:
            raise KeyboardInterrupt


def _spawn_workers(cluster, n: int) -> None:
    """Scale a LocalCluster to ``n`` worker processes with SIGINT ignored until they are
    spawned, so that they ignore it for good (a disposition a new process keeps only when it
    is "ignore"): a terminal sends Ctrl-C to the whole process group, and a worker that gets
    it while it starts prints a traceback of its own. This process alone answers Ctrl-C, and
    closes the cluster. (Blocking the signal instead would not carry over: multiprocessing
    unblocks it in the thread that starts them.) A Ctrl-C within these few milliseconds is
    not seen."""
    import multiprocessing

    def spawned() -> int:
        try:
            return len(multiprocessing.active_children())
        except RuntimeError:  # the set of children changed while it was counted
            return -1

    main = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        before = max(spawned(), 0)
        cluster.scale(n)
        deadline = time.monotonic() + 60
        while spawned() < before + n and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        if main:
            signal.signal(signal.SIGINT, old if old is not None else signal.default_int_handler)


@contextlib.contextmanager
def _dask_client(config: BuildConfig):
    from distributed import Client, LocalCluster

    from .runtime.daskconfig import build_settings

    with build_settings(local_cluster=not config.scheduler):
        cluster = client = None
        try:
            with _interrupts_held():  # a cluster is started whole (a Ctrl-C meanwhile is raised after), and closed below
                if config.scheduler:
                    try:
                        client = Client(config.scheduler)  # Dask's connect timeout (distributed.comm.timeouts.connect, 30 s)
                    except (OSError, ValueError) as exc:  # refused or timed out (TimeoutError is an OSError), a malformed address
                        raise ConfigError(f"cannot reach the Dask scheduler {config.scheduler} ({exc})",
                                          fix="start it (`dask scheduler`, docs/scale.md) or correct --scheduler / SEN12STAC_SCHEDULER") from None
                else:
                    # silence_logs: CRITICAL, not ERROR: a worker busy with a scene when the cluster closes after a
                    # Ctrl-C logs its lost heartbeat as an error; what fails in a scene comes back in its result
                    # scheduler_kwargs: its plain HTTP server (no dashboard) on any free port, not 8787 (another
                    # cluster on the machine made it warn "Port 8787 is already in use" on stderr)
                    cluster = LocalCluster(n_workers=0, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                                           scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}, silence_logs=logging.CRITICAL)
                    client = Client(cluster)
                    _spawn_workers(cluster, config.workers)
                    client.wait_for_workers(config.workers)
            yield client
        finally:
            with _interrupts_held():
                if client is not None:
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


def check_existing_recipe(store: ObjectStore, recipe: str) -> None:
    """Before any scene: one folder or release holds one recipe. A finished build of the other
    recipe (its root catalog's ``sen12:recipe``; none = v1) is refused with the fix."""
    try:
        root = json.loads(store.get(ROOT_KEY))
    except (NotFound, ValueError):
        return
    there = root.get("sen12:recipe", "v1") if isinstance(root, dict) else "v1"
    if there != recipe:
        raise OtherBuildError(
            f"{getattr(store, 'root', None) or store.url} holds a finished recipe {there} build; this is a recipe {recipe} build, and one release holds one recipe",
            fix=f"build --recipe {recipe} into a new, empty folder (--out NEW), or run --recipe {there} here; nothing was changed",
        )


def check_existing_build(store: ObjectStore, tasks: list[tuple[ROI, str]]) -> None:
    """Before any scene: a store that holds a finished build (its root catalog and its
    ``build-summary.json``) of other scenes (ids, places or kinds) would meet different bytes
    under the same keys; refuse it now (:class:`ObjectConflictError`) rather than after the
    scenes ran. The same scenes go on: a rerun is a no-op, and other settings (QC, encoding)
    are met at the first differing object, which changes nothing either."""
    if store.head(ROOT_KEY) is None:
        return
    try:
        old = json.loads(store.get(SUMMARY_KEY))
        there = {s["scene_id"]: (s.get("kind"), s.get("lon"), s.get("lat")) for s in old["scenes"]}
    except (NotFound, ValueError, KeyError, TypeError):
        return  # no summary (a library build, an older one): the objects themselves will tell
    here = {roi.scene_id: (roi.kind, roi.lon, roi.lat) for roi, _ in tasks}
    if there == here:
        return
    moved = sorted(k for k in set(here) & set(there) if here[k] != there[k])
    if moved:
        k = moved[0]
        what = f"{k} is a {there[k][0]} ROI at {there[k][1]},{there[k][2]} there and a {here[k][0]} ROI at {here[k][1]},{here[k][2]} here"
    else:
        only_there, only_here = sorted(set(there) - set(here)), sorted(set(here) - set(there))
        what = ", ".join(p for p in (f"{len(only_there)} scene(s) only there (e.g. {only_there[0]})" if only_there else "",
                                     f"{len(only_here)} only in this build (e.g. {only_here[0]})" if only_here else "") if p)
    raise OtherBuildError(
        f"{getattr(store, 'root', None) or store.url} holds a finished build of other scenes ({what}): this build would write other bytes under the same names",
        fix="build into a new, empty folder (--out NEW), or delete the old build first; nothing was changed",
    )


def build(config: BuildConfig, store: ObjectStore, *, progress: Progress | None = None, write_catalog: bool = True, source: Source | None = None) -> BuildSummary:
    """Run the whole recipe into ``store`` and write the STAC catalog; return the counts.

    Into a folder (a store with ``staged()``) the build commits only when every scene
    succeeded and at least one pair was published: otherwise, and on any error or
    interrupt, the folder is left as it was (``summary.root_key`` is None).
    ``source`` overrides the configured one (a custom :class:`~sen12stac.models.Source`)."""
    from .recipe.figures import season_figures

    t0 = time.perf_counter()
    emit = progress or (lambda event, data: None)
    if source is None:
        from .sources import make_source

        source = make_source(config)
    overrides = load_overrides(config.scene_qc.overrides)
    counts, candidates, tasks = plan_rois(config, source)
    if store.head(ROOT_KEY) is not None:
        check_existing_recipe(store, config.recipe)
    check_existing_build(store, tasks)
    emit("plan", {"total": len(tasks)})
    begin = getattr(store, "staged", None)
    staged = begin() if begin is not None else None  # a folder: new objects wait beside until the commit
    target = staged if staged is not None else store.deferred()  # durable when the catalog is complete, not per object
    scenes: list[dict] = []
    samples: dict[str, list[PatchRecord]] = {k: [] for k in counts}
    outcomes: dict[str, dict[int, str]] = {k: {} for k in counts}
    root_key = None
    committed = False
    with contextlib.ExitStack() as stack:
        if staged is not None:  # registered first, so it runs last: after the cluster and the threads are gone
            stack.callback(lambda: committed or staged.abort())
        if overrides:  # the manual decisions, published with the build (recipe/review.py)
            target.put_or_verify(OVERRIDES_KEY, overrides_bytes(overrides), "application/json")
        if config.review:
            target.put_or_verify(REVIEW_CONFIG_KEY, config_bytes(config), "application/json")
        writer = None
        if write_catalog:
            from .stac.writer import CatalogWriter

            writer = stack.enter_context(CatalogWriter(target, config))  # the item spool and put threads go away on any exit
        stack.callback(release_spares)  # the scene arrays kept for the next scene (in this process)
        checkpoints = BackgroundSync(target, CHECKPOINT_EVERY_S)  # durable as it goes, so the end waits on little (store/checkpoint.py)
        stack.callback(checkpoints.close, raise_error=False)  # never leave the thread behind on an error
        results = stack.enter_context(contextlib.closing(_run_scenes(tasks, source, target, config, overrides, emit)))  # the cluster closes first
        for res in results:
            count_scene(counts[res.roi.set_name], res)
            outcomes[res.roi.set_name][res.roi.index] = res.status
            keep_samples(samples[res.roi.set_name], res)
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
        # With a failed scene, or no pair at all, nothing is committed: the catalog would count
        # the failure, or hold nothing. A rerun after the fix writes the same bytes.
        failed = any(s["status"] == "failed" for s in scenes)
        if not failed and sum(c.patches_published for c in counts.values()) > 0:
            if writer is not None:
                emit("stage", {"name": "figures"})
                # figures only for seasons that get a collection (one with no published pair has none)
                published = {k: v for k, v in candidates.items() if counts[k].patches_published}
                collection_assets = season_figures(target, published, outcomes, samples)
                emit("stage", {"name": "catalog"})
                root_key = writer.finish({k: v.as_counts() for k, v in counts.items()}, collection_assets)  # syncs
            else:
                target.sync()  # the writer syncs when the catalog is complete; this covers a build without one
            if staged is not None:
                emit("stage", {"name": "commit"})
                with _interrupts_held(drop=True):  # never cut in half by Ctrl-C; one during it comes too late: the build is done
                    staged.commit(last=(ROOT_KEY,), synced=True)
            committed = True
    scenes.sort(key=lambda s: s["scene_id"])
    return BuildSummary(counts, scenes, root_key, round(time.perf_counter() - t0, 3), candidates)


# ---------------------------------------------------------------------------------------
# Straight into a release in object storage


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
