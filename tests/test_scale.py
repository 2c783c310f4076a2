"""Speed work that must not change a byte, deferred durability, the fast COG profile, and a
build straight into a release on the real S3 server (the cluster version: tests/test_cluster.py)."""
from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio

from sen12stac.config import cog_profile, make_config
from sen12stac import pipeline
from sen12stac.errors import ConfigError, ObjectConflictError, SourceError, StoreError
from sen12stac.pipeline import build, build_release
from sen12stac.sources.synthetic import SyntheticSource
from sen12stac.store import LocalStore
from sen12stac.store.checkpoint import BackgroundSync
from sen12stac.store.local import SYNC_MARKER

pytest_plugins = ["tests.conftest_s3"]

CFG = dict(seasons=("spring",), scenes_per_season=3, workers=0, scene_size_px=640)


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_reading_each_scene_once_gives_the_bytes_of_streaming_it(tmp_path):
    """The scene cache (one read of the source) and the streaming path (the source read per
    strip, every row twice in the patch pass) publish identical bytes."""
    cached = build(make_config(**CFG), LocalStore(tmp_path / "cached"))
    streamed = build(make_config(**CFG, scene_cache_mb=0), LocalStore(tmp_path / "streamed"))
    assert cached.patches_published > 0 and cached.patches_published == streamed.patches_published
    assert _tree(tmp_path / "cached") == _tree(tmp_path / "streamed")


class _Constant:
    """A scene whose every pixel is ``value``."""

    def __init__(self, value: int) -> None:
        self.value = value

    def read_s1(self, w):
        return np.full((1, int(w.height), int(w.width)), self.value, np.float32)

    def read_s2(self, w):
        return np.full((3, int(w.height), int(w.width)), self.value, np.uint16)

    def close(self) -> None:
        pass


def test_the_next_scene_reuses_the_cached_arrays_only_when_nothing_still_views_them():
    from rasterio.windows import Window

    from sen12stac.models import Grid
    from sen12stac.runtime.scenecache import CachedScene, release_spares

    release_spares()
    grid = Grid("EPSG:32632", (10.0, 0.0, 0.0, 0.0, -10.0, 0.0), 64, 32)
    whole = Window(0, 0, 64, 32)
    first = CachedScene(_Constant(1), grid)
    base = id(first.read_s2(whole).base)
    first.close()
    second = CachedScene(_Constant(2), grid)
    view = second.read_s2(whole)
    assert id(view.base) == base and (view == 2).all()  # the same memory, the new scene's values
    second.close()  # `view` is still alive: its array must not be handed to the next scene
    third = CachedScene(_Constant(3), grid)
    assert id(third.read_s2(whole).base) != base and (view == 2).all()
    third.close()
    release_spares()


class _CountingSource(SyntheticSource):
    def __init__(self) -> None:
        super().__init__(defect_rate=0.0)
        self.rows = 0

    def open_scene(self, request):
        scene = super().open_scene(request)
        orig = scene.read_s2

        def read_s2(window):
            self.rows += int(window.height)
            return orig(window)

        scene.read_s2 = read_s2
        return scene


def test_the_source_is_read_once_per_row_when_the_scene_fits(tmp_path):
    src = _CountingSource()
    summary = build(make_config(**{**CFG, "scenes_per_season": 1}), LocalStore(tmp_path / "a"), source=src)
    assert summary.scenes[0]["status"] == "published"
    assert src.rows == 640  # every row once
    src2 = _CountingSource()
    build(make_config(**{**CFG, "scenes_per_season": 1, "scene_cache_mb": 0}), LocalStore(tmp_path / "b"), source=src2)
    assert src2.rows > 2 * 640  # streaming: statistics pass + overlapping patch strips


def test_deferred_durability_repairs_what_a_crash_can_tear_and_refuses_real_conflicts(tmp_path):
    store = LocalStore(tmp_path).deferred()
    store.put_or_verify("a/old.json", b"durable")
    time.sleep(0.2)  # the sync marker keeps a 50 ms margin for coarse file timestamps
    store.sync()
    time.sleep(0.1)
    store.put_or_verify("a/new.json", b"not yet synced")
    assert SYNC_MARKER not in [i.key for i in store.list()]  # the marker is not an object
    # an OS crash tore the unsynced object: a rerun writing the same key replaces it
    (tmp_path / "a" / "new.json").write_bytes(b"")
    assert store.put_or_verify("a/new.json", b"not yet synced") == "written"
    assert (tmp_path / "a" / "new.json").read_bytes() == b"not yet synced"
    # an object from before the last sync is durable: different content is a conflict, never an overwrite
    with pytest.raises(ObjectConflictError):
        store.put_or_verify("a/old.json", b"other")
    assert (tmp_path / "a" / "old.json").read_bytes() == b"durable"
    # the default store (publish, replace) still fsyncs every object and never replaces
    plain = LocalStore(tmp_path)
    with pytest.raises(ObjectConflictError):
        plain.put_or_verify("a/new.json", b"other")


def test_a_staged_build_repairs_what_a_crashed_build_tore_in_the_folder_only_at_its_commit(tmp_path):
    """A folder an earlier build (in place, before staging) left torn by an OS crash: the
    object written after the folder's last durable checkpoint is replaced, at the commit only;
    an older, durable one with other content is a conflict that changes nothing."""
    old = LocalStore(tmp_path).deferred()
    old.put_or_verify("a/old.json", b"durable")
    time.sleep(0.2)  # the sync marker keeps a 50 ms margin for coarse file timestamps
    old.sync()
    time.sleep(0.1)
    (tmp_path / "a" / "new.json").write_bytes(b"not yet")  # torn: written after the checkpoint
    staged = LocalStore(tmp_path).staged()
    assert staged.put_or_verify("a/new.json", b"not yet synced") == "written"
    assert staged.put_or_verify("a/old.json", b"durable") == "same"
    assert (tmp_path / "a" / "new.json").read_bytes() == b"not yet"  # the folder is untouched until the commit ...
    assert staged.get("a/new.json") == b"not yet synced"  # ... while the build reads its own bytes
    with pytest.raises(ObjectConflictError, match="old.json already exists with different content"):
        staged.put_or_verify("a/old.json", b"other")
    staged.commit()
    assert (tmp_path / "a" / "new.json").read_bytes() == b"not yet synced" and (tmp_path / "a" / "old.json").read_bytes() == b"durable"
    assert not (tmp_path / ".sen12stac-staging").exists()


def test_background_checkpoints_one_at_a_time_and_a_failure_is_raised():
    started, release = threading.Event(), threading.Event()

    class Slow(LocalStore):
        calls = 0

        def sync(self):
            Slow.calls += 1
            started.set()
            release.wait(10)
            if Slow.calls == 2:
                raise StoreError("disk full", fix="free space")

    bg = BackgroundSync(Slow("/nonexistent"), interval=0)
    bg.kick()
    assert started.wait(10)
    bg.kick()  # one is running: no second one
    assert Slow.calls == 1 and bg.checkpoints == 1
    release.set()
    bg.close()
    bg.kick()  # the next one fails: the build's thread hears of it at close()
    with pytest.raises(StoreError, match="disk full"):
        bg.close()
    bg.close(raise_error=False)  # the clean-up path of a build that already failed


def test_a_folder_build_checkpoints_while_its_scenes_run(tmp_path, monkeypatch):
    syncs, events = [], []
    real = os.sync
    monkeypatch.setattr(os, "sync", lambda: (syncs.append(time.monotonic()), real()))
    monkeypatch.setattr(pipeline, "CHECKPOINT_EVERY_S", 0.0)
    build(make_config(**CFG), LocalStore(tmp_path), progress=lambda event, data: events.append((event, data.get("name"), time.monotonic())))
    figures = next(t for event, name, t in events if name == "figures")
    assert len(syncs) >= 2 and syncs[0] < figures  # durable checkpoints before the catalog's end, and the last one


def test_fast_profile_is_zstd_lossless_and_the_default_stays_deflate(tmp_path):
    assert make_config().cog.compress == "DEFLATE"
    with pytest.raises(ConfigError, match="unknown COG profile"):
        cog_profile("fastest")
    fast = build(make_config(**{**CFG, "scenes_per_season": 1}, cog=cog_profile("fast")), LocalStore(tmp_path / "fast"))
    base = build(make_config(**{**CFG, "scenes_per_season": 1}), LocalStore(tmp_path / "base"))
    assert fast.patches_published == base.patches_published > 0
    tifs = sorted((tmp_path / "fast").rglob("*.tif"))
    for t in tifs[:6]:
        other = tmp_path / "base" / t.relative_to(tmp_path / "fast")
        with rasterio.open(t) as a, rasterio.open(other) as b:
            assert a.profile["compress"].upper() == "ZSTD" and b.profile["compress"].upper() == "DEFLATE"
            assert np.array_equal(a.read(), b.read())  # lossless: the same pixels
            assert a.scales == b.scales and a.offsets == b.offsets


class _FailsOnce(SyntheticSource):
    """The second scene fails on its first run (a source outage), works on the next."""

    failed: set = set()

    def open_scene(self, request):
        scene = super().open_scene(request)
        if request.roi.index == 2 and request.roi.scene_id not in _FailsOnce.failed:
            _FailsOnce.failed.add(request.roi.scene_id)
            orig = scene.read_s1
            calls = {"n": 0}

            def read_s1(window):
                calls["n"] += 1
                if calls["n"] > 1:
                    raise SourceError(f"simulated outage reading {request.roi.scene_id}")
                return orig(window)

            scene.read_s1 = read_s1
        return scene


@pytest.mark.s3
def test_a_failed_scene_commits_nothing_and_the_same_call_completes_the_release(s3_store, s3_client, bucket):
    dest = s3_store("direct")
    cfg = make_config(**{**CFG, "scene_cache_mb": 0})
    summary, report = build_release(cfg, dest, "1.0.0", source=_FailsOnce(defect_rate=0.0), verify_cogs=5)
    failed = [s for s in summary.scenes if s["status"] == "failed"]
    assert report is None and len(failed) == 1 and "simulated outage" in failed[0]["message"]
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket, Prefix="direct/").get("Contents", [])]
    assert any(k.endswith(".tif") for k in keys)  # the other scenes' objects are there ...
    assert "direct/v1.0.0/catalog.json" not in keys and "direct/catalog.json" not in keys  # ... but nothing leads to them
    again, report = build_release(cfg, dest, "1.0.0", source=_FailsOnce(defect_rate=0.0), verify_cogs=5)
    assert report is not None and report.verify.ok and not [s for s in again.scenes if s["status"] == "failed"]
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket, Prefix="direct/").get("Contents", [])]
    assert "direct/v1.0.0/catalog.json" in keys and "direct/v1.0.0/build-summary.json" in keys and "direct/catalog.json" in keys
