import json

import numpy as np
import pytest

from sen12stac.config import PatchQCConfig, SceneQCConfig
from sen12stac.errors import ConfigError
from sen12stac.qc import SceneAccumulator, apply_override, cloud_mask, judge_patch, judge_scene, load_overrides

CFG = SceneQCConfig()


def _scene(s2_rgb=(900, 1000, 1100), nodata_rows=0, cloud_rows=0, n=100, gain=(1, 1, 1)):
    rng = np.random.default_rng(0)
    s1 = rng.normal(-12, 2, (1, n, n)).astype(np.float32)
    s2 = np.stack([rng.normal(v * g, v * 0.1, (n, n)) for v, g in zip(s2_rgb, gain)]).clip(1, 20000).astype(np.uint16)
    if nodata_rows:
        s1[:, :nodata_rows] = np.nan
    if cloud_rows:
        s2[:, n - cloud_rows :] = 6500
    acc = SceneAccumulator(CFG)
    acc.add(s1, s2)
    return acc


def test_clean_scene_passes():
    qc = judge_scene("s", _scene().metrics(), CFG)
    assert qc.accepted and qc.reasons == ()


@pytest.mark.parametrize(
    "kwargs,code",
    [({"nodata_rows": 30}, "nodata"), ({"cloud_rows": 20}, "clouds"), ({"gain": (3.0, 1, 1)}, "colour-cast"), ({"gain": (1, 1, 0.3)}, "colour-cast")],
)
def test_defects_are_rejected_with_a_reason(kwargs, code):
    qc = judge_scene("s", _scene(**kwargs).metrics(), CFG)
    assert not qc.accepted
    assert any(r.startswith(code) for r in qc.reasons), qc.reasons


def test_desert_and_water_colours_are_not_casts():
    assert judge_scene("d", _scene((2300, 1900, 1600)).metrics(), CFG).accepted
    assert judge_scene("w", _scene((450, 650, 950)).metrics(), CFG).accepted


def test_cloud_mask_bright_and_white_only():
    s2 = np.array([[[6500]], [[6400]], [[6600]]], np.uint16)
    desert = np.array([[[3500]], [[3000]], [[2500]]], np.uint16)
    assert cloud_mask(s2, CFG).all() and not cloud_mask(desert, CFG).any()


def test_overrides_json_and_csv(tmp_path):
    j = tmp_path / "o.json"
    j.write_text(json.dumps({"A": "accept", "B": {"decision": "reject", "note": "looks odd"}}))
    c = tmp_path / "o.csv"
    c.write_text("scene_id,decision,note\nA,accept,ok by eye\n")
    o = load_overrides(j)
    rejected = judge_scene("A", _scene(nodata_rows=50).metrics(), CFG)
    forced = apply_override(rejected, o)
    assert forced.accepted and forced.override == "accept" and forced.reasons == rejected.reasons
    manual = apply_override(judge_scene("B", _scene().metrics(), CFG), o)
    assert not manual.accepted and manual.reasons == ("manual reject",) and manual.override_note == "looks odd"
    assert load_overrides(c)["A"].note == "ok by eye"


@pytest.mark.parametrize("text,match", [("{nope", "not valid JSON"), ('{"A": "maybe"}', "decision 'maybe'"), ("[1]", "object keyed by scene id")])
def test_bad_override_files_name_the_file_and_fix(tmp_path, text, match):
    p = tmp_path / "bad.json"
    p.write_text(text)
    with pytest.raises(ConfigError, match=match) as e:
        load_overrides(p)
    assert str(p) in str(e.value) and "Fix:" in str(e.value)


def test_patch_qc():
    s1 = np.full((1, 8, 8), -10, np.float32)
    s2 = np.full((3, 8, 8), 1000, np.uint16)
    ok = judge_patch(s1, s2, None, CFG, PatchQCConfig())
    assert ok.accepted and ok.nodata_fraction == 0
    s1[0, 0, 0] = np.nan
    bad = judge_patch(s1, s2, None, CFG, PatchQCConfig())
    assert not bad.accepted and bad.reasons[0].startswith("nodata")
    seam = np.zeros((8, 8), bool)
    seam[3] = True
    s1[0, 0, 0] = -10
    rec = judge_patch(s1, s2, seam, CFG, PatchQCConfig())
    assert rec.accepted and rec.seamline
    assert not judge_patch(s1, s2, seam, CFG, PatchQCConfig(reject_seamlines=True)).accepted
