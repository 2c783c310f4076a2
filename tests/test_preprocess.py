import numpy as np
import pytest

from sen12stac.config import PreprocessConfig
from sen12stac.models import BandStats
from sen12stac.recipe.preprocess import BandAccumulator, scale_s1, scale_s2, to_physical, to_uint8


def _acc(values, kind="db", chunks=1):
    acc = BandAccumulator("VV" if kind == "db" else "B04", kind)
    for part in np.array_split(values, chunks):
        acc.add(part)
    return acc


def test_streaming_moments_match_the_whole_array_whatever_the_strips():
    rng = np.random.default_rng(1)
    v = rng.normal(-12, 3, 100_000).astype(np.float32)
    one, many = _acc(v), _acc(v, chunks=37)
    assert one.count == many.count == v.size
    assert one.mean == pytest.approx(float(v.astype(np.float64).mean()), abs=1e-9)
    assert many.std == pytest.approx(float(v.astype(np.float64).std()), rel=1e-9)
    assert one.stats(PreprocessConfig()) == many.stats(PreprocessConfig())



@pytest.mark.parametrize("high", [3_000, 65_535])
def test_integer_band_sums_are_those_of_float64_per_strip(high):
    """uint16 bands take their sums from the strip's histogram: the totals must be exactly the
    float64 sums of the values, strip by strip, also where the sum of squares passes 2**53
    (2.2 million pixels at 65,535: there the float64 path is kept)."""
    rng = np.random.default_rng(3)
    strips = [rng.integers(1, high, n, endpoint=True).astype(np.uint16) for n in (1, 1_000, 2_200_000)]
    if high == 65_535:
        strips[-1][:] = 65_535  # sum of squares 9.4e15 > 2**53
    acc = BandAccumulator("B04", "uint16")
    total = total_sq = 0.0
    for v in strips:
        acc.add(v)
        v64 = v.astype(np.float64)
        total += float(v64.sum())
        total_sq += float(np.square(v64).sum())
    assert (acc.total, acc.total_sq, acc.count) == (total, total_sq, sum(v.size for v in strips))
    assert acc.hist.sum() == acc.count and acc.hist[65_535 if high == 65_535 else 0] == (2_200_000 if high == 65_535 else 0)

def test_cut_is_mean_plus_minus_k_sigma_and_stretch_inside_it():
    rng = np.random.default_rng(2)
    v = rng.normal(1000, 200, 200_000).clip(1, 65535).astype(np.uint16)
    st = _acc(v, "uint16").stats(PreprocessConfig(clip_sigma=2.5, stretch_percentiles=(1, 99)))
    assert st.clip_min == pytest.approx(v.mean() - 2.5 * v.std(), rel=1e-4)
    assert st.clip_max == pytest.approx(v.mean() + 2.5 * v.std(), rel=1e-4)
    assert st.clip_min <= st.stretch_min < st.stretch_max <= st.clip_max
    assert st.stretch_min == pytest.approx(np.percentile(v, 1), abs=2)
    assert st.stretch_max == pytest.approx(np.percentile(v, 99), abs=2)


def test_outliers_are_cut_before_the_stretch():
    v = np.concatenate([np.full(10_000, -15.0), np.linspace(-16, -14, 10_000), [40.0] * 5]).astype(np.float32)
    st = _acc(v).stats(PreprocessConfig())
    assert st.stretch_max < 0  # a few +40 dB outliers do not stretch the range


def test_uint8_mapping_reserves_zero_for_nodata_and_inverts_within_a_step():
    st = BandStats("VV", -12, 3, -19.5, -4.5, -18.0, -6.0, 100)
    x = np.array([[-30.0, -18.0, -12.0, -6.0, 5.0, np.nan]], dtype=np.float32)
    dn = scale_s1(x[None], (st,))[0]
    assert dn.tolist() == [[1, 1, 128, 255, 255, 0]]
    back = to_physical(dn, st)
    assert np.isnan(back[0, -1])
    assert back[0, 2] == pytest.approx(-12.0, abs=st.scale / 2 + 1e-9)
    assert st.offset + st.scale * 1 == pytest.approx(-18.0)
    assert st.offset + st.scale * 255 == pytest.approx(-6.0)


def test_s2_pixel_is_nodata_when_any_band_is():
    st = (BandStats("B04", 0, 1, 0, 2000, 100, 2000, 1),) * 3
    s2 = np.full((3, 2, 2), 1000, np.uint16)
    s2[1, 0, 0] = 0
    dn = scale_s2(s2, st)
    assert (dn[:, 0, 0] == 0).all() and (dn[:, 1, 1] > 0).all()


def test_flat_band_keeps_a_defined_mapping():
    st = _acc(np.full(1000, 500, np.uint16), "uint16").stats(PreprocessConfig())
    assert st.stretch_max > st.stretch_min
    dn = to_uint8(np.full((2, 2), 500.0), np.ones((2, 2), bool), st)
    assert (dn >= 1).all()
