"""One scene, start to finish: source scene -> preprocess -> scene QC -> tile -> patch QC -> COG -> store.

``process_scene`` is the unit of parallel work (one ROI in one season); it streams the
scene twice -- once for statistics and scene QC, once for patches -- so memory is bounded
by a strip of the scene, not by the scene. :mod:`sen12stac.pipeline` fans scenes out.
"""
from __future__ import annotations

import itertools
import logging
import time
from collections import Counter
from dataclasses import replace
from typing import Any, Iterator

import numpy as np
import rasterio
from rasterio.windows import Window

from .. import SOFTWARE
from ..runtime import iostats
from ..runtime.collector import collector_paused
from .cog import COG_MEDIA_TYPE, RGB, encode_cog, encoding_env
from ..config import BuildConfig
from ..errors import ObjectConflictError, SceneUnavailable, Sen12StacError, SourceError
from ..models import ROI, AssetRecord, Grid, PatchRecord, SceneQC, SceneRequest, SceneResult, Source
from .preprocess import S1_BANDS, S2_BANDS, scale_s1, scale_s2
from .qc import Override, SceneAccumulator, StripQC, apply_override, apply_patch_override, judge_scene, reason_code
from .review import SceneReview, preview_key, record_key
from ..runtime.scenecache import CachedScene, scene_bytes
from .seasons import SEASONS, Season
from ..shards import member_of, open_shards
from ..store import ObjectStore, multihash_sha256
from .thumbnails import JPEG_MEDIA_TYPE, display_u8, pair_thumbnail
from .tiling import iter_positions, pair_id, patch_grid, patch_key, thumbnail_key
from .utm import default_grid
from .recipes import V2
from .v2 import LABEL_NAME, S2_SCALE, check_shapes_v2, check_v2_scene, land_cover, qc_views, worldcover_colormap

log = logging.getLogger("sen12stac.pipeline")

STATS_STRIP = 512  # rows per strip in the statistics pass
GDAL_CACHEMAX_MB = 64


def _strips(grid: Grid, rows: int) -> Iterator[Window]:
    for r in range(0, grid.height, rows):
        yield Window(0, r, grid.width, min(rows, grid.height - r))


def scene_request(roi: ROI, season: Season, source: Source, config: BuildConfig) -> SceneRequest:
    default = default_grid(roi.lon, roi.lat, config.scene_size_px, config.pixel_size)
    grid = source.grid_for(roi, default)
    return SceneRequest(roi, season.name, season.start.isoformat(), season.end.isoformat(), grid, config.recipe)


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
            v2 = config.recipe == "v2"
            if v2:
                check_v2_scene(scene, config.source)
            # GDAL's block cache is per process and defaults to 5 % of RAM: cap it so a
            # reprojected local scene read in strips stays small (measured 589 -> 222 MB peak).
            with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHEMAX_MB, GDAL_PAM_ENABLED="NO"):
                # read the source once when the scene fits the cache budget (scenecache.py)
                if _cached_bytes(request.grid, v2) <= config.scene_cache_mb * 2**20:
                    scene = CachedScene(scene, request.grid)
                review = SceneReview(request.grid.width, request.grid.height) if config.review and not v2 else None
                if v2:
                    _process_open_scene_v2(scene, request, store, config, overrides, result)
                else:
                    _process_open_scene(scene, request, store, config, overrides, result, review)
                if review is not None:  # `sen12stac review`: the preview and every position's QC (recipe/review.py)
                    _put(store, preview_key(roi.set_name, roi.scene_id), review.preview_png(), "image/png", [])
                    _put(store, record_key(roi.set_name, roi.scene_id), review.record(roi.set_name, roi.scene_id, result.qc, config.patch_size, config.stride, result.status), "application/json", [])
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


def _cached_bytes(grid: Grid, v2: bool) -> int:
    """What holding the scene's arrays takes: v1's S1 and S2; v2's two S1 bands, 12 S2 bands,
    the label and the SCL (one byte each)."""
    if not v2:
        return scene_bytes(grid)
    return scene_bytes(grid, len(V2.s1_bands), len(V2.s2_bands)) + 2 * grid.width * grid.height


def _process_open_scene(scene, request: SceneRequest, store: ObjectStore, config: BuildConfig, overrides: dict[str, Override], result: SceneResult, review: SceneReview | None = None) -> None:
    roi, grid = request.roi, request.grid
    # Pass 1: statistics and scene QC (reads every pixel: corrupt data fails here, before any write)
    acc = SceneAccumulator(config.scene_qc)
    for w in _strips(grid, STATS_STRIP):
        s1, s2 = scene.read_s1(w), scene.read_s2(w)
        _check_shapes(s1, s2, w, roi)
        acc.add(s1, s2)
        if review is not None:
            review.add_strip(s1, s2, int(w.row_off))
    qc = _decide_scene(acc, roi, grid, config, overrides, result)
    if qc is None:
        return
    s1_stats = tuple(a.stats(config.preprocess) for a in acc.s1)
    s2_stats = tuple(a.stats(config.preprocess) for a in acc.s2)

    # Pass 2: patches, strip by strip
    written: list[str] = []
    rejections: Counter[str] = Counter()
    shards = open_shards(store, roi.set_name, roi.index, config)  # --layout shards|both: the scene's COGs also go into its shards
    store = shards or store
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
                    pqc = apply_patch_override(strip_qc.judge(x0, x1), pair_id(roi.set_name, roi.index, pos.number), overrides)
                    if review is not None:
                        review.add_patch(pos.number, pos.row, pos.col, pair_id(roi.set_name, roi.index, pos.number), pqc)
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
        if shards is not None:
            shards.close()  # the scene's last shard
            result.bytes_written += shards.extra_bytes
    except BaseException:
        try:
            written += shards.written if shards is not None else []
            discard_written(store, written)  # nothing partial for this scene, in a folder or a bucket
        except Exception as cleanup:  # noqa: BLE001 - the scene's own error is the one to report
            log.warning("%s: could not remove every object of the failed scene: %s", roi.scene_id, cleanup)
        raise
    result.patch_rejections = dict(sorted(rejections.items()))
    result.status = "published" if result.patches else "rejected"
    if not result.patches:
        result.message = "every patch failed patch QC"


def _decide_scene(acc: SceneAccumulator, roi: ROI, grid: Grid, config: BuildConfig, overrides: dict[str, Override], result: SceneResult) -> SceneQC | None:
    """Scene QC from the first pass, with manual overrides; records it in ``result``.
    Returns the decision when the scene goes on to its patches, None when it is rejected."""
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
        return None
    if empty or not rows or not cols:
        # accepted by a manual override, but nothing can be published: no pixel to scale
        # (every position fails patch QC as no-data) or no patch position at all
        result.status = "rejected"
        if empty:
            result.patch_rejections = {"nodata": result.patch_positions}
        return None
    return qc


def _check_shapes(s1: np.ndarray, s2: np.ndarray, w: Window, roi: ROI) -> None:
    want = (int(w.height), int(w.width))
    if s1.shape != (1, *want) or s2.shape != (3, *want):
        raise SourceError(
            f"source returned S1 {s1.shape} / S2 {s2.shape} for a {want[1]}x{want[0]} window of {roi.scene_id}",
            fix="the source must return (1,h,w) S1 and (3,h,w) S2 arrays on the requested grid",
        )


def _process_open_scene_v2(scene, request: SceneRequest, store: ObjectStore, config: BuildConfig, overrides: dict[str, Override], result: SceneResult) -> None:
    """Recipe v2 (docs/v2.md): v1's two passes and QC on v1-shaped views of the arrays
    (recipe/v2.py), and the arrays published as the source delivered them -- no cut, no stretch."""
    roi, grid = request.roi, request.grid
    # Pass 1: scene QC (every layer read once: corrupt data fails here, before any write)
    acc = SceneAccumulator(config.scene_qc)
    for w in _strips(grid, STATS_STRIP):
        s1, s2, label, scl = scene.read_s1(w), scene.read_s2(w), scene.read_label(w), scene.read_scl(w)
        check_shapes_v2(s1, s2, label, scl, w, roi)
        acc.add(*qc_views(s1, s2))
    qc = _decide_scene(acc, roi, grid, config, overrides, result)
    if qc is None:
        return

    # Pass 2: patches, strip by strip
    written: list[str] = []
    rejections: Counter[str] = Counter()
    shards = open_shards(store, roi.set_name, roi.index, config)  # --layout shards|both: s1, s2 and label COGs also go into the scene's shards
    store = shards or store
    try:
        positions = iter_positions(grid.height, grid.width, config.patch_size, config.stride)
        for _row, row_positions in itertools.groupby(positions, key=lambda p: p.row):
            row_positions = list(row_positions)
            sw = Window(0, row_positions[0].window.row_off, grid.width, config.patch_size)
            s1, s2, label, scl = scene.read_s1(sw), scene.read_s2(sw), scene.read_label(sw), scene.read_scl(sw)
            strip_qc = StripQC(*qc_views(s1, s2), scene.seam_mask(sw), config.scene_qc, config.patch_qc)
            with encoding_env():
                for pos in row_positions:
                    x0, x1 = int(pos.window.col_off), int(pos.window.col_off) + config.patch_size
                    pqc = apply_patch_override(strip_qc.judge(x0, x1), pair_id(roi.set_name, roi.index, pos.number), overrides)
                    if not pqc.accepted:
                        for r in pqc.reasons:
                            rejections[reason_code(r)] += 1
                        continue
                    arrays = tuple(np.ascontiguousarray(a[:, :, x0:x1]) if a is not None else None for a in (s1, s2, label, scl))
                    record = _publish_patch_v2(roi, request, pos, arrays, pqc, qc, scene, store, config, written)
                    result.patches.append(record)
                    result.bytes_written += sum(a.size for a in record.assets.values())
        if shards is not None:
            shards.close()  # the scene's last shard
            result.bytes_written += shards.extra_bytes
    except BaseException:
        try:
            written += shards.written if shards is not None else []
            discard_written(store, written)
        except Exception as cleanup:  # noqa: BLE001 - the scene's own error is the one to report
            log.warning("%s: could not remove every object of the failed scene: %s", roi.scene_id, cleanup)
        raise
    result.patch_rejections = dict(sorted(rejections.items()))
    result.status = "published" if result.patches else "rejected"
    if not result.patches:
        result.message = "every patch failed patch QC"


def _publish_patch_v2(roi, request, pos, arrays, pqc, sqc, scene, store, config, written) -> PatchRecord:
    """The v2 assets of one patch: S1 float32 dB (NaN no-data; floating-point predictor), S2 uint16
    reflectance x 10000 (0 no-data; GDAL scale 0.0001 to reflectance), the label uint8 with
    WorldCover's colour table, and the thumbnail through fixed display ranges."""
    s1, s2, label, scl = arrays
    grid = request.grid
    pgrid = Grid(grid.crs, grid.window_transform(pos.window), config.patch_size, config.patch_size)
    n = pos.number
    float_cog = config.cog.model_copy(update={"predictor": 3})  # horizontal differencing of IEEE floats compresses poorly
    s1_bytes = encode_cog(s1, pgrid, nodata=float("nan"), descriptions=V2.s1_bands, config=float_cog)
    s2_bytes = encode_cog(s2, pgrid, nodata=0, descriptions=V2.s2_bands, config=config.cog,
                          scales=(S2_SCALE,) * len(V2.s2_bands), offsets=(0.0,) * len(V2.s2_bands))
    lc_bytes = encode_cog(label, pgrid, nodata=0, descriptions=(LABEL_NAME,), config=config.cog, colormap=worldcover_colormap())
    assets = {
        "s1": _put(store, patch_key(roi.set_name, "s1", roi.index, n), s1_bytes, COG_MEDIA_TYPE, written),
        "s2": _put(store, patch_key(roi.set_name, "s2", roi.index, n), s2_bytes, COG_MEDIA_TYPE, written),
        "label": _put(store, patch_key(roi.set_name, "lc", roi.index, n), lc_bytes, COG_MEDIA_TYPE, written),
    }
    if config.thumbnails:
        assets["thumbnail"] = _put(store, thumbnail_key(roi.set_name, roi.index, n), pair_thumbnail(*display_u8(s1, s2)), JPEG_MEDIA_TYPE, written)
    season = SEASONS[request.season_name]
    return PatchRecord(
        pair_id=pair_id(roi.set_name, roi.index, n), scene_id=roi.scene_id, set_name=roi.set_name,
        season=season.name, seed=season.seed, scene_index=roi.index, patch_index=n, row=pos.row, col=pos.col,
        grid=pgrid, assets=assets, s1=scene.s1, s2=scene.s2, s1_stats=(), s2_stats=(),
        qc=pqc, scene_qc=sqc, roi=roi, source=config.source, software=SOFTWARE,
        recipe="v2", land_cover=replace(land_cover(label, scl), source_labels=source_labels(scene)),
    )


def source_labels(scene: Any) -> tuple[str, ...]:
    """The patch-level classes a source gives for the whole scene (a local sidecar's
    ``source_labels``, kept as the scene property ``sen12:source_labels``), else none."""
    props = getattr(scene, "properties", None)
    labels = props.get("sen12:source_labels") if isinstance(props, dict) else None
    return tuple(str(v) for v in labels) if labels else ()


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
    return AssetRecord(key, len(data), multihash_sha256(data), media_type, member_of(store, key))


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

