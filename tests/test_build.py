"""End-to-end: the recipe on the synthetic source, through the library and the CLI."""
from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from sen12stac.config import make_config
from sen12stac.errors import ObjectConflictError, SourceError, StoreError
from sen12stac.pipeline import build, summary_bytes
from sen12stac.sources.synthetic import SyntheticSource
from sen12stac.store import LocalStore

CFG = dict(seasons=("spring", "winter"), scenes_per_season=2, workers=0, scene_size_px=768)


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    summary = build(make_config(**CFG), LocalStore(out))
    return out, summary


def test_counts_and_layout(built):
    out, summary = built
    spring = summary.seasons["ROIs1158_spring"]
    assert spring.rois_sampled == 150 and spring.rois_processed == 2
    assert summary.patches_published > 0
    tifs = sorted(out.rglob("*.tif"))
    assert len(tifs) == 2 * summary.patches_published
    for t in tifs:
        rel = t.relative_to(out).as_posix()
        set_name, folder, name = rel.split("/")
        sensor, scene = folder.split("_")
        assert name.startswith(f"{set_name}_{sensor}_{scene}_p") and name.endswith(".tif")
    assert (out / "catalog.json").exists()
    published = [s for s in summary.scenes if s["status"] == "published"]
    assert sum(s["patches"] for s in published) == summary.patches_published


def test_cogs_are_valid_georeferenced_uint8(built):
    from rio_cogeo.cogeo import cog_validate

    out, _ = built
    tif = next(out.rglob("*_s2_*_p*.tif"))
    assert cog_validate(str(tif), quiet=True)[0]
    with rasterio.open(tif) as ds:
        assert ds.dtypes == ("uint8",) * 3 and ds.nodata == 0 and ds.crs.to_epsg() in range(32601, 32761)
        assert ds.width == ds.height == 256 and ds.res == (10.0, 10.0)
        assert ds.descriptions == ("B04", "B03", "B02")
        assert [c.name for c in ds.colorinterp] == ["red", "green", "blue"]  # true colour without set-up
        assert ds.scales[0] > 0


def test_overlapping_halves_are_identical_and_on_the_same_ground(built):
    out, _ = built
    checked = 0
    for left in sorted(out.rglob("*_s1_*_p*.tif")):
        stem = left.stem
        n = int(stem.rsplit("_p", 1)[1])
        right = left.with_name(f"{stem.rsplit('_p', 1)[0]}_p{n + 1}.tif")
        if not right.exists():
            continue
        for sensor in ("s1", "s2"):
            lp = Path(str(left).replace("_s1_", f"_{sensor}_").replace("/s1_", f"/{sensor}_"))
            rp = Path(str(right).replace("_s1_", f"_{sensor}_").replace("/s1_", f"/{sensor}_"))
            with rasterio.open(lp) as a, rasterio.open(rp) as b:
                if a.transform.f != b.transform.f:  # a new row of patches
                    continue
                x_shift = round((b.transform.c - a.transform.c) / 10.0)
                assert x_shift == 128
                np.testing.assert_array_equal(a.read(window=Window(128, 0, 128, 256)), b.read(window=Window(0, 0, 128, 256)))
                assert a.transform @ (128, 0) == b.transform @ (0, 0)
                checked += 1
    assert checked > 10


def test_same_command_twice_gives_byte_identical_output(built, tmp_path):
    out, _ = built
    build(make_config(**CFG), LocalStore(tmp_path))
    a, b = _tree(out), _tree(tmp_path)
    a.pop("build-summary.json", None), b.pop("build-summary.json", None)
    assert a == b


def test_rebuilding_into_the_same_folder_is_a_no_op_but_other_content_is_refused(built):
    out, _ = built
    before = _tree(out)
    build(make_config(**CFG), LocalStore(out))
    assert _tree(out) == before
    with pytest.raises(ObjectConflictError, match=r"\.tif already exists with different content"):
        build(make_config(**{**CFG, "preprocess": {"clip_sigma": 2.0}}), LocalStore(out))  # the first COG stops it


class _BreaksMidScene(SyntheticSource):
    """Synthetic scenes whose reads start failing after ``ok_reads`` reads (a source dying mid-scene)."""

    def __init__(self, ok_reads: int) -> None:
        super().__init__(defect_rate=0.0)
        self.ok_reads = ok_reads

    def open_scene(self, request):
        scene = super().open_scene(request)
        budget = {"n": self.ok_reads}
        orig = scene.read_s1

        def read_s1(window):
            budget["n"] -= 1
            if budget["n"] < 0:
                raise SourceError(f"simulated read failure in {request.roi.scene_id}")
            return orig(window)

        scene.read_s1 = read_s1
        return scene


def _tree_all(root: Path) -> dict[str, str]:
    """Every file and folder under ``root``, hidden ones included (folders map to "dir")."""
    return {p.relative_to(root).as_posix(): ("dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()) for p in sorted(root.rglob("*"))}


def test_a_build_failing_late_changes_nothing_in_an_existing_folder(tmp_path):
    """The README's shape: a build that fails after its scenes wrote items, scene catalogs,
    COGs and thumbnails (here at the season figures) leaves the folder byte for byte as it was."""
    out = tmp_path / "out"
    (out / "ROIs1158_spring").mkdir(parents=True)
    (out / "ROIs1158_spring" / "roi_map.png").write_bytes(b"someone else's map\n")  # a key the build writes late
    (out / "notes.txt").write_text("keep me\n")
    before = _tree_all(out)
    events = []
    with pytest.raises(ObjectConflictError, match="roi_map.png already exists with different content"):
        build(make_config(**CFG), LocalStore(out), progress=lambda event, data: events.append(event))
    assert events.count("scene") == 4  # every scene ran and wrote its objects ...
    assert _tree_all(out) == before  # ... and none of them is left: no item, COG, thumbnail, scene catalog or staging area


def test_an_existing_build_of_other_scenes_is_refused_before_any_scene(built, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(built[0], out)
    (out / "build-summary.json").write_bytes(summary_bytes(built[1]))  # as the CLI writes it
    before = _tree_all(out)
    events = []
    with pytest.raises(ObjectConflictError, match=r"holds a finished build of other scenes \(2 scene\(s\) only there"):
        build(make_config(**{**CFG, "seasons": ("spring",)}), LocalStore(out), progress=lambda event, data: events.append(event))
    assert "scene" not in events and _tree_all(out) == before
    build(make_config(**CFG), LocalStore(out))  # the same scenes again: a no-op
    assert _tree_all(out) == before


def test_two_builds_never_write_into_one_folder_at_once(tmp_path):
    first = LocalStore(tmp_path / "out").staged()
    try:
        with pytest.raises(StoreError, match="another build is writing into"):
            build(make_config(**{**CFG, "seasons": ("spring",), "scenes_per_season": 1}), LocalStore(tmp_path / "out"))
    finally:
        first.abort()
    assert not (tmp_path / "out").exists()  # the first one created it; its abort removes it again


_KILLED_BUILD = """
import os, signal, sys
from sen12stac.config import make_config
from sen12stac.pipeline import build
from sen12stac.store import LocalStore
if sys.argv[2] == "commit":  # SIGKILL at the second rename of the commit: part moved in, the root catalog not
    real, calls = os.rename, []
    def rename(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        real(src, dst)
    os.rename = rename
if sys.argv[2] == "shard":  # SIGKILL half-way through writing a training shard (docs/shards.md)
    real_write = os.write
    def write(fd, data):
        if bytes(data[:4]) == b"PK\x03\x04" and len(data) > 1000:
            real_write(fd, data[: len(data) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
        return real_write(fd, data)
    os.write = write
build(make_config(**{cfg!r}), LocalStore(sys.argv[1]))
"""


@pytest.mark.parametrize("moment", ["scenes", "commit", "shard"])
def test_a_killed_folder_build_is_completed_by_the_same_build_byte_for_byte(built, tmp_path, moment):
    out = tmp_path / "out"
    code = _KILLED_BUILD.format(cfg={**CFG, "scene_cache_mb": 0})
    proc = subprocess.Popen([sys.executable, "-c", code, str(out), moment], stderr=subprocess.PIPE, text=True)
    if moment == "scenes":  # SIGKILL once the first scene's objects are written
        deadline = time.monotonic() + 300
        while not list((out / ".sen12stac-staging").rglob("*.tif")):
            assert proc.poll() is None and time.monotonic() < deadline, "the build ended before it could be killed"
            time.sleep(0.05)
        proc.kill()
    proc.wait(300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    visible = [i.key for i in LocalStore(out).list()]
    if moment == "shard":
        torn = list((out / ".sen12stac-staging").rglob("*.zip"))
        whole = built[0] / torn[0].relative_to(out / ".sen12stac-staging")
        assert len(torn) == 1 and 0 < torn[0].stat().st_size < whole.stat().st_size  # killed with part of a shard on disk
    if moment in ("scenes", "shard"):
        assert visible == []  # nothing a reader could take for a build
    else:
        assert visible and "catalog.json" not in visible  # part moved in, the root catalog (the commit point) not
    build(make_config(**{**CFG, "scene_cache_mb": 0}), LocalStore(out))  # the same build again completes it
    assert _tree_all(out) == _tree_all(built[0])  # byte for byte, and no staging area left


def test_a_scene_failing_mid_way_leaves_nothing_behind_and_a_rerun_completes(tmp_path):
    # scene_cache_mb=0: the streaming path, where the patch pass reads the source again
    cfg = make_config(**{**CFG, "seasons": ("spring",), "scenes_per_season": 1, "scene_cache_mb": 0})
    summary = build(cfg, LocalStore(tmp_path), source=_BreaksMidScene(ok_reads=4))  # 2 stats strips + 2 patch strips
    scene = summary.scenes[0]
    assert scene["status"] == "failed" and "simulated read failure" in scene["message"]
    assert list(tmp_path.rglob("*")) == []  # nothing written: no COG, thumbnail, catalog or staging area
    c = summary.seasons["ROIs1158_spring"]
    assert (c.scenes_failed, c.scenes_accepted, c.patch_positions, c.bytes_written) == (1, 0, 0, 0)
    assert summary.root_key is None
    again = build(cfg, LocalStore(tmp_path))  # the source works now: the same command completes
    assert again.scenes[0]["status"] == "published" and (tmp_path / "catalog.json").exists()


class _AllNodata(SyntheticSource):
    def open_scene(self, request):
        scene = super().open_scene(request)
        scene.read_s1 = lambda w: np.full((1, int(w.height), int(w.width)), np.nan, np.float32)
        return scene


def test_all_nodata_scenes_are_scene_qc_rejections_and_an_empty_catalog_is_not_written(tmp_path):
    cfg = make_config(**{**CFG, "seasons": ("spring",), "scenes_per_season": 2})
    summary = build(cfg, LocalStore(tmp_path), source=_AllNodata())
    for scene in summary.scenes:
        assert scene["status"] == "rejected" and scene["reasons"][0] == "nodata all pixels", scene
        assert scene["message"] is None
    c = summary.seasons["ROIs1158_spring"]
    assert (c.scenes_failed, c.scenes_accepted, dict(c.scene_rejections)) == (0, 0, {"nodata": 2})  # not a failed build ...
    assert summary.root_key is None and list(tmp_path.iterdir()) == []  # ... but nothing to publish: the folder is as it was


def _overrides(tmp_path, decisions: dict) -> Path:
    p = tmp_path / "qc.json"
    p.write_text(json.dumps(decisions))
    return p


def test_overrides_apply_to_every_scene_outcome(tmp_path):
    base = {**CFG, "seasons": ("spring",), "scenes_per_season": 1}
    # a manual accept cannot conjure pixels: recorded, and every position fails patch QC as no-data
    ov = _overrides(tmp_path, {"ROIs1158_spring_0": {"decision": "accept", "note": "try"}})
    s = build(make_config(**base, scene_qc={"overrides": ov}), LocalStore(tmp_path / "a"), source=_AllNodata())
    scene = s.scenes[0]
    assert scene["status"] == "rejected" and scene["override"] == "accept" and scene["reasons"] == ["nodata all pixels"]
    assert scene["patch_rejections"] == {"nodata": 25} and s.seasons["ROIs1158_spring"].scenes_failed == 0
    # a manual reject gets a scene that fails to read out of the way, so the build completes
    ov = _overrides(tmp_path, {"ROIs1158_spring_0": {"decision": "reject", "note": "broken source"}})
    s = build(make_config(**base, scene_qc={"overrides": ov}), LocalStore(tmp_path / "b"), source=_BreaksMidScene(ok_reads=1))
    scene = s.scenes[0]
    assert scene["status"] == "rejected" and scene["override"] == "reject" and scene["reasons"] == ["manual reject"]
    assert "simulated read failure" in scene["message"]
    assert s.seasons["ROIs1158_spring"].scenes_failed == 0 and s.root_key is None  # completed, with nothing to publish


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sen12stac.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_cli_build_on_dask_then_validate(tmp_path):
    out = tmp_path / "out"
    overrides = tmp_path / "qc.csv"
    overrides.write_text("scene_id,decision,note\nROIs1970_fall_0,reject,test override\n")
    r = _cli("build", "--source", "synthetic", "--out", str(out), "--seasons", "spring,fall", "--scenes-per-season", "2", "--workers", "2", "--scene-size", "640", "--overrides", str(overrides), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "build summary" in r.stdout and "ROIs1158_spring" in r.stdout and "pairs/s" in r.stdout
    summary = json.loads((out / "build-summary.json").read_text())
    fall0 = next(s for s in summary["scenes"] if s["scene_id"] == "ROIs1970_fall_0")
    assert fall0["status"] == "rejected" and fall0["override"] == "reject"
    v = _cli("validate", str(out / "catalog.json"), cwd=tmp_path)
    assert v.returncode == 0, v.stdout + v.stderr


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--seasons", "autumn"], "unknown season 'autumn'"),
        (["--scene-size", "100"], "scene_size_px"),
        (["--source", "local"], "source_path"),
        (["--workers", "-1"], "workers"),
    ],
)
def test_bad_configuration_exits_2_naming_the_value(tmp_path, args, needle):
    r = _cli("build", "--out", str(tmp_path / "o"), *args, cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert needle in r.stderr and "Fix:" in r.stderr
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- no pair at all

pytest_plugins = ["tests.conftest_s3"]


def _errors(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("error: ")]


def test_a_build_in_which_no_pair_passes_qc_exits_3_saying_why_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    r = _cli("build", "--out", str(out), "--defect-rate", "1.0", "--seasons", "spring", "--scenes-per-season", "3",
             "--scene-size", "512", "--workers", "0", cwd=tmp_path)
    assert r.returncode == 3, r.stdout + r.stderr
    (err,) = _errors(r.stderr)
    assert "no patch pair passed QC, so nothing was written to" in err and "of 3 scene(s), 3 failed scene QC (" in err, err
    assert err.count("Fix:") == 1 and "lower --defect-rate" in err.split("Fix:")[1], err
    assert "Traceback" not in r.stderr and not out.exists()


@pytest.mark.s3
def test_a_release_build_with_no_pair_is_not_committed_and_latest_stays(tmp_path, moto, bucket):
    import os

    from tests.s3server import TEST_ACCESS_KEY, TEST_SECRET_KEY

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SEN12STAC_"))}
    env.update({"AWS_ACCESS_KEY_ID": TEST_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": TEST_SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1",
                "SEN12STAC_S3_ENDPOINT_URL": moto.endpoint_url, "SEN12STAC_WORK_DIR": str(tmp_path / "work")})

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "sen12stac.cli", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)

    url = f"s3://{bucket}/sen1-2"
    small = ["--seasons", "spring", "--scenes-per-season", "1", "--scene-size", "512", "--workers", "0"]
    first = cli("build", "--out", url, "--release", "0.9.0", "--defect-rate", "0", *small)
    assert first.returncode == 0, first.stdout + first.stderr
    landing = moto.client().get_object(Bucket=bucket, Key="sen1-2/catalog.json")["Body"].read()
    r = cli("build", "--out", url, "--release", "1.0.0", "--defect-rate", "1.0", *small)
    assert r.returncode == 3, r.stdout + r.stderr
    (err,) = _errors(r.stderr)
    assert f"no patch pair passed QC, so v1.0.0 was not committed to {url}" in err and "Fix:" in err, err
    assert moto.client().get_object(Bucket=bucket, Key="sen1-2/catalog.json")["Body"].read() == landing  # latest is still 0.9.0
    keys = [o["Key"] for o in moto.client().list_objects_v2(Bucket=bucket, Prefix="sen1-2/v1.0.0/").get("Contents", [])]
    assert keys == []
    listed = cli("releases", url)
    assert "0.9.0" in listed.stdout and "1.0.0" not in listed.stdout, listed.stdout + listed.stderr
