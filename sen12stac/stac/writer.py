"""Write the STAC catalog through an :class:`~sen12stac.store.ObjectStore`, one scene at a time.

Linear in the number of items and flat in memory: each scene's items are built
(:func:`sen12stac.stac.item.build_item`), written as one JSON object each, and converted to
the scene's stac-geoparquet rows (:func:`sen12stac.stac.geoparquet.scene_rows`), which go to a
per-scene Arrow IPC spool file on local disk; only small per-collection summaries
(:class:`~sen12stac.stac.summary.CollectionSummary`) stay in memory. ``finish`` writes the
spooled rows as one stac-geoparquet file per collection (scene order, memory-mapped), then
the collections and, last, the root catalog -- a reader who sees ``catalog.json`` sees a
complete catalog.

Every object is written with ``put_or_verify``: a rerun over the same inputs writes the
same bytes (key order is fixed, no timestamps), so it is skipped, while different content
under an existing key is refused (:class:`~sen12stac.errors.ObjectConflictError`).
"""
from __future__ import annotations

import shutil
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..runtime.collector import collector_paused
from ..config import BuildConfig
from ..errors import ValidationFailed
from ..models import AssetRecord, PatchRecord, SceneResult
from ..recipe.splits import assign_split
from ..store import ObjectStore
from ..store.base import multihash_sha256
from .assets import asset_from_record, band_stats_dict
from .catalog import build_root, build_scene_catalog
from .item import scene_qc_dict
from .collection import build_collection
from .encoding import to_json_bytes
from .item import SceneContext, build_item, rebase_item, scene_context
from .layout import GEOJSON_MEDIA_TYPE, JSON_MEDIA_TYPE, PARQUET_MEDIA_TYPE, ROOT_KEY, collection_key, geoparquet_key, item_key, scene_catalog_key
from .summary import CollectionSummary
from .texts import CatalogTexts, load_catalog_texts

if TYPE_CHECKING:
    import pyarrow as pa

# Items per parquet row group (one arrow batch each). stac-geoparquet's default, 65,536
# items held as Python dicts, cost gigabytes; 1,024 keeps memory small and independent of the
# collection's size (bench/bench_catalog.py: peak RSS). Changing it changes the file's bytes.
PARQUET_CHUNK = 1024
# parquet writer options: zstd is smaller than the default snappy for these repetitive rows
PARQUET_OPTIONS: dict[str, Any] = {"compression": "zstd"}


class CatalogWriter:
    """Writes root catalog -> season collections -> scene catalogs -> items.

    ``add_scene`` may be called from one thread at a time or several (a lock guards the
    summaries); ``finish`` once at the end. Use as a context manager (or call
    :meth:`close`) to remove the local spool when a build fails before ``finish``.
    """

    def __init__(
        self,
        store: ObjectStore,
        config: BuildConfig,
        *,
        texts: CatalogTexts | None = None,
        spool_dir: str | Path | None = None,
        put_workers: int | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.texts = texts if texts is not None else load_catalog_texts(recipe=config.recipe)
        self._spool = Path(tempfile.mkdtemp(prefix="sen12stac-catalog-", dir=spool_dir))
        self._summaries: dict[str, CollectionSummary] = {}
        self._lock = threading.Lock()
        workers = store.put_concurrency if put_workers is None else put_workers  # default: what the store says pays off
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stac-put") if workers > 1 else None
        self._closed = False
        self.items_written = 0

    # -- context management
    def __enter__(self) -> "CatalogWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the put threads and remove the local spool (idempotent)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        shutil.rmtree(self._spool, ignore_errors=True)
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise ValidationFailed(
                "the catalog writer is closed",
                ["CatalogWriter used after finish()/close()"],
                fix="create a new CatalogWriter for another catalog",
            )

    def _summary(self, set_name: str) -> CollectionSummary:
        s = self._summaries.get(set_name)
        if s is None:
            s = self._summaries[set_name] = CollectionSummary(set_name)
        return s

    def _put(self, key: str, data: bytes, content_type: str, pending: list[Future]) -> None:
        """Write now (no pool) or hand the write to the put threads, so the next item is built
        while this one is written (file and network I/O release the GIL)."""
        if self._pool is None:
            self.store.put_or_verify(key, data, content_type)
        else:
            pending.append(self._pool.submit(self.store.put_or_verify, key, data, content_type))

    @staticmethod
    def _wait(pending: list[Future]) -> None:
        """Wait for every pending write; re-raise the first failure."""
        first: BaseException | None = None
        for f in pending:
            exc = f.exception()
            if exc is not None and first is None:
                first = exc
        if first is not None:
            raise first

    # -- scenes
    def add_scene(self, result: SceneResult) -> None:
        """Write the scene's sub-catalog and one item JSON per published PatchRecord in
        ``result.patches``; for other statuses record counts only."""
        self._check_open()
        set_name = result.roi.set_name
        scene_id = result.roi.scene_id
        with self._lock:
            summary = self._summary(set_name)
            if result.roi.index in summary.scenes:
                raise ValidationFailed(
                    f"scene {scene_id} was added to the catalog twice",
                    [f"{scene_id}: add_scene called twice"],
                    fix="call add_scene once per scene",
                )
            summary.add_scene_result(result.status, result.patch_positions, result.patch_rejections)
        if result.status != "published" or not result.patches:
            return

        patches = sorted(result.patches, key=lambda p: p.patch_index)
        wrong = [p.pair_id for p in patches if p.scene_id != scene_id or p.set_name != set_name]
        if wrong:
            raise ValidationFailed(
                f"scene {scene_id} holds patches of another scene: {', '.join(wrong[:5])}",
                [f"{scene_id}: foreign patch {w}" for w in wrong],
                fix="pass each scene's own PatchRecords in its SceneResult",
            )
        ids = [p.pair_id for p in patches]
        if len(set(ids)) != len(ids):
            raise ValidationFailed(
                f"scene {scene_id} has duplicate pair ids", [f"{scene_id}: duplicate pair ids"], fix="give every patch a unique pair id"
            )
        with collector_paused():  # the scene's item dicts die with _write_scene's frame, before the collector is back
            self._write_scene(result, patches, ids, summary)

    def _write_scene(self, result: SceneResult, patches: list[PatchRecord], ids: list[str], summary: CollectionSummary) -> None:
        """The items, their geoparquet rows (spooled) and the scene catalog of a checked scene."""
        from .geoparquet import scene_rows  # pyarrow: imported when a catalog is written, not with the package

        set_name, scene_id = result.roi.set_name, result.roi.scene_id
        split = assign_split(scene_id, result.season, self.config.split)
        ctx: SceneContext = scene_context(patches[0], split, self.texts, self.config)
        pending: list[Future] = []
        rebased = []
        items = []
        coll_key = collection_key(set_name)
        for p in patches:
            item = build_item(p, split, texts=self.texts, config=self.config, context=ctx)
            key = item_key(set_name, p.scene_index, p.pair_id)
            self._put(key, to_json_bytes(item, compact=True), GEOJSON_MEDIA_TYPE, pending)
            rebased.append(rebase_item(item, key, coll_key))  # hrefs relative to the parquet file
            items.append(item)
        self._spool_rows(set_name, result.roi.index, scene_rows(rebased))
        self._wait(pending)

        extra: dict[str, Any] = {
            "sen12:patch_positions": int(result.patch_positions),
            "sen12:scene_qc": scene_qc_dict(patches[0].scene_qc),
        }
        if patches[0].s1_stats or patches[0].s2_stats:  # v1's stretch per band (v2 has none)
            extra["sen12:band_stats"] = {
                "s1": [band_stats_dict(b) for b in patches[0].s1_stats],
                "s2": [band_stats_dict(b) for b in patches[0].s2_stats],
            }
        if self.config.recipe != "v1":
            extra["sen12:recipe"] = self.config.recipe
        cat = build_scene_catalog(
            set_name,
            result.roi.index,
            scene_id,
            ids,
            texts=self.texts,
            roi=result.roi,
            split=split,
            extra=extra,
        )
        self.store.put_or_verify(scene_catalog_key(set_name, result.roi.index), to_json_bytes(cat), JSON_MEDIA_TYPE)
        with self._lock:
            for item in items:
                summary.add_item(item)
            summary.add_scene(result.roi.index, scene_id, split)
            self.items_written += len(items)

    def _spool_rows(self, set_name: str, scene_index: int, batch: pa.RecordBatch) -> None:
        """Keep a scene's geoparquet rows on local disk until ``finish`` (Arrow IPC: written and
        read back memory-mapped without conversion)."""
        import pyarrow as pa

        spool = self._spool / set_name
        spool.mkdir(parents=True, exist_ok=True)
        with pa.OSFile(str(spool / f"{scene_index:09d}.arrow"), "wb") as sink, pa.ipc.new_file(sink, batch.schema) as w:
            w.write_batch(batch)

    def _spooled_rows(self, set_name: str) -> list[pa.RecordBatch]:
        """Every spooled scene's rows, in scene order (memory-mapped)."""
        import pyarrow as pa

        parts = []
        for path in sorted((self._spool / set_name).glob("*.arrow")):
            with pa.ipc.open_file(pa.memory_map(str(path))) as f:
                parts.append(f.get_batch(0))
        return parts

    # -- the end
    def _write_geoparquet(self, set_name: str) -> AssetRecord:
        from .geoparquet import write_geoparquet

        out = self._spool / f"{set_name}.parquet"
        write_geoparquet(self._spooled_rows(set_name), out, chunk=PARQUET_CHUNK, **PARQUET_OPTIONS)
        data = out.read_bytes()
        key = geoparquet_key(set_name)
        self.store.put_or_verify(key, data, PARQUET_MEDIA_TYPE)
        out.unlink()
        return AssetRecord(key=key, size=len(data), checksum=multihash_sha256(data), media_type=PARQUET_MEDIA_TYPE)

    def finish(
        self,
        counts: dict[str, dict[str, int]] | None = None,
        collection_assets: dict[str, dict[str, AssetRecord]] | None = None,
    ) -> str:
        """Write per-collection stac-geoparquet, the collections, and the root catalog last.
        Returns the root key (``"catalog.json"``)."""
        self._check_open()
        # The items and scene catalogs start becoming durable now, in a thread (sync(2) waits on
        # the disk, outside the GIL), while the parquet files and collections are made; the last
        # sync then has only those left (bench/results/catalog.md).
        syncing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stac-sync")
        early_sync = syncing.submit(self.store.sync)
        try:
            lic = self.texts.license
            self.store.put_or_verify(lic["text_file"], self.texts.license_text, "text/plain; charset=utf-8")
            collection_ids = []
            for set_name in sorted(self._summaries):
                summary = self._summaries[set_name]
                if summary.n_items == 0:
                    continue  # nothing published: no collection (its counts are lost with it)
                ckey = collection_key(set_name)
                tmpl = self.texts.collection_assets
                assets: dict[str, dict[str, Any]] = {}
                parquet = self._write_geoparquet(set_name)
                assets["items"] = asset_from_record(parquet, ckey, tmpl["items"])
                for name, rec in sorted((collection_assets or {}).get(set_name, {}).items()):
                    t = tmpl.get(name) or dict(tmpl["default"], title=name)
                    assets[name] = asset_from_record(rec, ckey, t)
                coll = build_collection(
                    summary,
                    texts=self.texts,
                    assets=assets,
                    counts=(counts or {}).get(set_name),
                    config=self.config,
                )
                self.store.put_or_verify(ckey, to_json_bytes(coll), JSON_MEDIA_TYPE)
                collection_ids.append(set_name)
            root = build_root(collection_ids, texts=self.texts, recipe=self.config.recipe)
            self.store.put_or_verify(ROOT_KEY, to_json_bytes(root), JSON_MEDIA_TYPE)
            early_sync.result()
            self.store.sync()  # the checkpoint: every object of the catalog durable (a no-op where each put already is)
            return ROOT_KEY
        finally:
            syncing.shutdown(wait=True)
            self.close()

    def summary(self) -> dict[str, Mapping[str, Any]]:
        """Items and scenes per collection so far (for progress reports)."""
        with self._lock:
            return {
                k: {"items": s.n_items, "scenes": len(s.scenes), "splits": dict(s.splits), "scene_status": dict(s.scene_status)}
                for k, s in sorted(self._summaries.items())
            }
