import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sen12stac.recipe.tiling import iter_positions, offsets, pair_id, patch_key, scene_index_label


def test_default_scene_gives_about_the_papers_patches_per_scene():
    pos = list(iter_positions(4480, 4480))
    assert len(pos) == 34 * 34 == 1156  # paper: 298,790 patches / 258 scenes = 1,158


@settings(max_examples=200, deadline=None)
@given(size=st.integers(16, 3000), patch=st.sampled_from([16, 32, 64, 256]), half=st.booleans())
def test_offsets_cover_every_pixel_with_half_overlap(size, patch, half):
    stride = patch // 2 if half else patch
    offs = offsets(size, patch, stride)
    if size < patch:
        assert offs == []
        return
    covered = np.zeros(size, bool)
    for o in offs:
        assert 0 <= o <= size - patch
        covered[o : o + patch] = True
    assert covered.all()
    steps = np.diff(offs)
    assert (steps[:-1] == stride).all() if len(steps) > 1 else True  # regular stride except the last, flush window
    assert (steps <= stride).all() and (steps > 0).all()


@settings(max_examples=100, deadline=None)
@given(h=st.integers(256, 2000), w=st.integers(256, 2000))
def test_numbers_are_row_major_stable_and_unique(h, w):
    pos = list(iter_positions(h, w))
    assert [p.number for p in pos] == list(range(1, len(pos) + 1))
    ncols = len(offsets(w, 256, 128))
    for p in pos:
        assert p.number == p.row * ncols + p.col + 1
        assert p.window.width == p.window.height == 256
    # stable: the same scene size always gives the same windows
    assert [(p.number, p.window) for p in iter_positions(h, w)] == [(p.number, p.window) for p in pos]
    # neighbours along a row overlap by 50 % (except at a flush last column)
    if ncols > 2:
        assert pos[1].window.col_off - pos[0].window.col_off == 128


def test_names_follow_the_original():
    assert scene_index_label("ROIs1158_spring", "s1", 7, 42) == "ROIs1158_spring_s1_7_p42"
    assert pair_id("ROIs1158_spring", 7, 42) == "ROIs1158_spring_7_p42"
    assert patch_key("ROIs1158_spring", "s2", 7, 42) == "ROIs1158_spring/s2_7/ROIs1158_spring_s2_7_p42.tif"
