import numpy as np
import pytest
from rasterio.windows import Window

from sen12stac.errors import SceneUnavailable
from sen12stac.models import SceneRequest
from sen12stac.recipe.rois import sample_rois
from sen12stac.recipe.seasons import SEASONS
from sen12stac.sources.synthetic import CLASSES, ENL, SyntheticSource, draw_params, land_cover, render_block
from sen12stac.recipe.utm import default_grid

SPRING = SEASONS["spring"]


def _open(index=0, size=1024, defect_rate=0.0):
    roi = sample_rois(SPRING)[index]
    req = SceneRequest(roi, "spring", str(SPRING.start), str(SPRING.end), default_grid(roi.lon, roi.lat, size))
    return SyntheticSource(defect_rate=defect_rate).open_scene(req)


def test_deterministic_and_window_independent():
    a, b = _open(), _open()
    w = Window(300, 200, 600, 700)  # crosses block borders
    np.testing.assert_array_equal(a.read_s2(w), b.read_s2(w))
    big = a.read_s1(Window(0, 0, 1024, 1024))
    np.testing.assert_array_equal(b.read_s1(w), big[:, 200:900, 300:900])
    assert a.s1 == b.s1 and a.s2 == b.s2


def test_value_ranges_and_types():
    sc = _open()
    s1, s2 = sc.read_s1(Window(0, 0, 1024, 1024)), sc.read_s2(Window(0, 0, 1024, 1024))
    assert s1.dtype == np.float32 and s2.dtype == np.uint16 and s2.shape == (3, 1024, 1024)
    v = s1[np.isfinite(s1)]
    assert -35 < np.percentile(v, 2) < np.percentile(v, 98) < 10  # sigma0 dB as GRD
    valid = s2[:, np.all(s2 > 0, axis=0)]
    assert 200 < np.median(valid) < 3000  # TOA reflectance x 10000


def test_speckle_has_the_enl_of_grd_iw():
    sc = _open()
    s1, _ = render_block(sc.params, sc.grid, 0, 0)
    clean, _ = render_block(sc.params, sc.grid, 0, 0, speckle=False)
    ok = np.isfinite(s1[0]) & np.isfinite(clean[0])
    ratio = np.power(10, (s1[0][ok] - clean[0][ok]) / 10)  # multiplicative noise in linear power
    enl = ratio.mean() ** 2 / ratio.var()
    assert enl == pytest.approx(ENL, rel=0.1)


def test_backscatter_follows_land_cover():
    names = list(CLASSES)
    seen_both = 0
    for index in range(12):
        try:
            sc = _open(index=index, size=1024)
        except SceneUnavailable:
            continue
        xs, ys = np.arange(0, 512, dtype=float), np.arange(0, 512, dtype=float)
        cls, _, _ = land_cover(sc.params, xs, ys)
        s1, _ = render_block(sc.params, sc.grid, 0, 0, speckle=False)
        ok = np.isfinite(s1[0])
        means = {names[k]: float(s1[0][(cls == k) & ok].mean()) for k in np.unique(cls[ok])}
        for name, m in means.items():  # every class near its table value (slope term within +-6 dB)
            assert abs(m - CLASSES[name][1]) < 6.5, (index, name, m)
        if "water" in means and "urban" in means:
            assert means["water"] < -15 and means["urban"] > -8 and means["urban"] - means["water"] > 12
            seen_both += 1
    assert seen_both >= 1  # the check above really ran


def test_defects_are_injected_at_the_configured_rate():
    rois = sample_rois(SPRING)
    grid = default_grid(rois[0].lon, rois[0].lat, 1024)
    none = [draw_params(r, grid, 0.0).defect for r in rois]
    all_ = [draw_params(r, grid, 1.0).defect for r in rois]
    assert none.count(None) == len(rois)
    assert all(d is not None for d in all_) and {"nodata", "clouds", "colour"} == set(all_)


def test_some_rois_have_no_cloud_free_s2():
    src = SyntheticSource()
    unavailable = 0
    for roi in sample_rois(SPRING):
        req = SceneRequest(roi, "spring", str(SPRING.start), str(SPRING.end), default_grid(roi.lon, roi.lat, 256))
        try:
            src.open_scene(req)
        except SceneUnavailable as exc:
            assert "cloud cover <= 1%" in str(exc)
            unavailable += 1
    assert 0 < unavailable < len(sample_rois(SPRING)) // 3


def test_acquisition_metadata_is_believable():
    sc = _open()
    assert sc.s1.platform in ("sentinel-1a", "sentinel-1b") and sc.s1.orbit_state in ("ascending", "descending")
    assert sc.s2.platform in ("sentinel-2a", "sentinel-2b") and 0 <= sc.s2.cloud_cover <= 1
    assert str(SPRING.start) <= sc.s2.datetime[:10] <= str(SPRING.end)
    assert sc.s1.product_ids[0].startswith(("S1A_IW_GRDH_1SDV_", "S1B_IW_GRDH_1SDV_"))
    assert "_MSIL1C_" in sc.s2.product_ids[0]
