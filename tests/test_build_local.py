"""The recipe end to end on real Sentinel-1/-2 scenes through the local source: the clips carried in
tests/data/real (Sen1Floods11, BigEarthNet), plus the SEN12MS-CR clips where ../shared/real-samples
exists (CI; their licence is unconfirmed, so they are not carried and are skipped elsewhere)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from conftest import REPO, real_samples, sen12mscr_samples


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sen12stac.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def _convert(src: Path, out: Path) -> Path:
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "real_samples_to_local.py"), "--src", str(src), "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> Path:
    return _convert(real_samples(), tmp_path_factory.mktemp("local") / "scenes")


def _build(scenes: Path, work: Path) -> subprocess.CompletedProcess:
    cfg = work / "cfg.json"  # BigEarthNet clips are 120 px: 64 px patches at stride 32 give them positions too
    cfg.write_text(json.dumps({"patch_size": 64, "stride": 32}))
    r = _cli("build", "--source", "local", "--source-path", str(scenes), "--out", str(work / "out"), "--workers", "0", "--config", str(cfg), cwd=work)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


@pytest.fixture(scope="module")
def built_run(scenes, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    work = tmp_path_factory.mktemp("local-build")
    return work / "out", _build(scenes, work)


@pytest.fixture(scope="module")
def built(built_run) -> Path:
    return built_run[0]


def test_real_scenes_publish_and_validate(built, tmp_path):
    summary = json.loads((built / "build-summary.json").read_text())
    published = [s for s in summary["scenes"] if s["status"] == "published"]
    assert len(published) >= 5 and sum(s["patches"] for s in published) >= 20
    snow = next(s for s in summary["scenes"] if s["scene_id"].startswith("ROIs2017_winter") and any(r.startswith("clouds") for r in s["reasons"]))
    assert snow["status"] == "rejected"  # the snow-covered Finnish scene: cloud-like by the brightness test (documented)
    v = _cli("validate", str(built / "catalog.json"), cwd=tmp_path)
    assert v.returncode == 0, v.stdout + v.stderr


def _check_dn_maps_back_to_db(built: Path, src_file: Path, cogs: list[Path]) -> int:
    """DN -> dB with the COG's scale/offset is the source within half a step (scenes that pass
    through unresampled: same CRS, whole-pixel windows)."""
    checked = 0
    for cog in cogs:
        with rasterio.open(cog) as ds, rasterio.open(src_file) as src:
            if ds.crs != src.crs:
                continue
            win = rasterio.windows.from_bounds(*ds.bounds, transform=src.transform)
            vv = src.read(1, window=win.round_offsets().round_lengths())
            if vv.shape != (ds.height, ds.width):
                continue
            dn = ds.read(1)
            scale, offset = ds.scales[0], ds.offsets[0]
            lo, hi = offset + scale * 1, offset + scale * 255
            back = offset + scale * dn.astype(np.float64)
            inside = (dn > 0) & (vv > lo) & (vv < hi)
            assert inside.mean() > 0.8
            np.testing.assert_allclose(back[inside], vv[inside], atol=scale / 2 + 1e-4)
            assert (dn[(dn > 0) & (vv <= lo)] == 1).all() and (dn[(dn > 0) & (vv >= hi)] == 255).all()
            checked += 1
    return checked


def test_published_uint8_maps_back_to_the_source_db(built, scenes):
    """A BigEarthNet pair passes through unresampled (UTM, 10 m)."""
    folder = scenes / "bigearthnet_33uup_87_48"
    src_file = folder / json.loads((folder / "scene.json").read_text())["s1"]["files"]["VV"]
    assert _check_dn_maps_back_to_db(built, src_file, sorted(built.glob("ROIs1868_summer/s1_2/*.tif"))) >= 4


def test_sen12mscr_published_uint8_maps_back_to_the_source_db(tmp_path):
    """SEN12MS-CR (256 px, UTM) through the same path: needs ../shared/real-samples (skipped with the reason elsewhere)."""
    scenes = _convert(sen12mscr_samples(), tmp_path / "scenes")
    for other in scenes.iterdir():
        if other.is_dir() and not other.name.startswith("sen12mscr_"):
            shutil.rmtree(other)
    _build(scenes, tmp_path)
    built = tmp_path / "out"
    sidecar = json.loads((scenes / "sen12mscr_rois1970_fall_139_p839" / "scene.json").read_text())
    src_file = scenes / "sen12mscr_rois1970_fall_139_p839" / sidecar["s1"]["file"]
    assert _check_dn_maps_back_to_db(built, src_file, sorted(built.glob("ROIs1970_fall/s1_*/*.tif"))) >= 1


def test_out_of_season_sidecars_are_warned_on_one_line_each(built_run, scenes):
    _, run = built_run
    warned = [ln for ln in run.stderr.splitlines() if ln.startswith("warning: ")]
    spain = str(scenes / "sen1floods11_spain_7370579" / "scene.json")
    assert any(ln.startswith(f"warning: {spain}: S1 acquired 2019-09-17") for ln in warned), run.stderr
    assert len(warned) == 3, warned


def test_a_corrupt_scene_fails_the_build_with_exit_3_and_nothing_is_written(scenes, tmp_path):
    broken = tmp_path / "scenes"
    shutil.copytree(scenes, broken)
    victim = broken / "bigearthnet_33uup_87_48"  # ROIs1868_summer_2 (third summer folder), published when intact
    s1 = victim / json.loads((victim / "scene.json").read_text())["s1"]["files"]["VV"]
    s1.write_bytes(s1.read_bytes()[:5000])  # truncated GeoTIFF
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"patch_size": 64, "stride": 32}))
    r = _cli("build", "--source", "local", "--source-path", str(broken), "--out", str(tmp_path / "out"), "--workers", "0", "--config", str(cfg), cwd=tmp_path)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "scene(s) failed, so nothing was written to" in r.stderr and s1.name in r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1 and errors[0].count("Fix:") == 1 and s1.name in errors[0], r.stderr  # one line, "Fix:" once
    assert "nothing was written to" in errors[0] and not (tmp_path / "out").exists()  # a failed build writes nothing


def test_a_bad_sidecar_stops_before_anything_is_written(scenes, tmp_path):
    broken = tmp_path / "scenes"
    shutil.copytree(scenes, broken)
    side = broken / "sen1floods11_spain_7370579" / "scene.json"
    data = json.loads(side.read_text())
    data["season"] = "autumn"
    side.write_text(json.dumps(data))
    r = _cli("build", "--source", "local", "--source-path", str(broken), "--out", str(tmp_path / "out"), "--workers", "0", cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "scene.json" in r.stderr and "Fix:" in r.stderr
    assert not (tmp_path / "out").exists()


def test_a_sidecar_without_any_date_is_refused_up_front(scenes, tmp_path):
    broken = tmp_path / "scenes"
    shutil.copytree(scenes, broken)
    side = broken / "bigearthnet_33uup_87_48" / "scene.json"
    data = json.loads(side.read_text())
    for key in ("datetime", "start_datetime", "end_datetime"):
        data["s1"].pop(key, None)
    side.write_text(json.dumps(data))
    r = _cli("build", "--source", "local", "--source-path", str(broken), "--out", str(tmp_path / "out"), "--workers", "0", cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "s1.datetime" in r.stderr and str(side) in r.stderr.replace("\n", "")
    assert not (tmp_path / "out").exists()


def _files(root: Path) -> dict[str, str]:
    """Every file under ``root``, hidden ones included: relative path -> sha256."""
    import hashlib

    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_readme_sequence_a_second_build_into_the_same_folder_changes_nothing_and_the_release_matches_its_catalog(scenes, tmp_path):
    """README "Using it": a synthetic build, then a local build into the same out/ (a different
    build), then validate, publish and verify -- through the real commands."""
    out = tmp_path / "out"
    syn = _cli("build", "--source", "synthetic", "--out", str(out), "--seasons", "spring,fall", "--scenes-per-season", "2",
               "--scene-size", "512", "--workers", "0", cwd=tmp_path)
    assert syn.returncode == 0, syn.stdout + syn.stderr
    before = _files(out)
    loc = _cli("build", "--source", "local", "--source-path", str(scenes), "--out", str(out), "--workers", "0", cwd=tmp_path)
    assert loc.returncode == 5, loc.stdout + loc.stderr
    errors = [ln for ln in loc.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1 and "holds a finished build of other scenes" in errors[0] and errors[0].count("Fix:") == 1, loc.stderr
    assert "progress:" not in loc.stderr  # refused before any scene ran
    assert _files(out) == before and not (out / ".sen12stac-staging").exists()  # the folder byte for byte as it was
    v = _cli("validate", str(out / "catalog.json"), cwd=tmp_path)
    assert v.returncode == 0, v.stdout + v.stderr
    rel = tmp_path / "releases"
    p = _cli("publish", str(out), str(rel), "--release", "1.0.0", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    manifest = json.loads((rel / "v1.0.0" / "release.json").read_text())
    pairs = sum(s["patches"] for s in json.loads((out / "build-summary.json").read_text())["scenes"])
    assert manifest["counts"]["items"] == pairs > 0  # the release counts what the catalog holds
    build_files = {k for k in before if not k.startswith(".")}
    assert {o["key"] for o in manifest["objects"]} == build_files | {"RELEASE-NOTES.md", "croissant.json", "CITATION.cff", "DATASHEET.md"}  # (it does not list itself)
    ok = _cli("verify", str(rel / "v1.0.0"), cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
