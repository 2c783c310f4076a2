"""Split assignment: deterministic, by scene, stable, ratios honoured, by-season scheme."""
from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from sen12stac.config import SplitConfig
from sen12stac.errors import ConfigError
from sen12stac.recipe.seasons import SEASONS
from sen12stac.recipe.splits import SPLITS, assign_split, scene_hash_fraction

N = 20_000


def scene_ids(season: str = "spring", n: int = N) -> list[str]:
    return [f"{SEASONS[season].set_name}_{i}" for i in range(1, n + 1)]


def test_the_hash_is_the_documented_formula():
    for sid in ("ROIs1158_spring_7", "ROIs2017_winter_140", "x"):
        expected = int(hashlib.sha256(sid.encode()).hexdigest()[:16], 16) / 2**64
        assert scene_hash_fraction(sid) == expected
        assert 0.0 <= scene_hash_fraction(sid) < 1.0


def test_assignment_is_deterministic_and_only_takes_the_ml_aoi_values():
    cfg = SplitConfig()
    first = [assign_split(s, "spring", cfg) for s in scene_ids(n=2000)]
    again = [assign_split(s, "spring", SplitConfig()) for s in scene_ids(n=2000)]
    assert first == again
    assert set(first) == set(SPLITS) == {"train", "validate", "test"}


def test_thresholds_follow_the_hash():
    cfg = SplitConfig(ratios=(0.7, 0.2, 0.1))
    for sid in scene_ids(n=3000):
        u = scene_hash_fraction(sid)
        expected = "train" if u < 0.7 else "validate" if u < 0.9 else "test"
        assert assign_split(sid, "spring", cfg) == expected


@pytest.mark.parametrize("ratios", [(0.8, 0.1, 0.1), (0.6, 0.2, 0.2), (0.5, 0.0, 0.5)])
def test_ratios_are_honoured_over_many_scenes(ratios):
    cfg = SplitConfig(ratios=ratios)
    counts = Counter(assign_split(s, "summer", cfg) for s in scene_ids("summer"))
    for name, r in zip(SPLITS, ratios):
        assert abs(counts[name] / N - r) < 0.015, (name, counts)
    if ratios[1] == 0.0:
        assert counts["validate"] == 0


def test_stable_when_scenes_are_added_or_removed():
    cfg = SplitConfig()
    before = {s: assign_split(s, "fall", cfg) for s in scene_ids("fall", 500)}
    after_ids = scene_ids("fall", 800)[200:]  # 200 removed, 300 added
    after = {s: assign_split(s, "fall", cfg) for s in after_ids}
    common = before.keys() & after.keys()
    assert len(common) == 300 and all(before[s] == after[s] for s in common)


def test_by_season_holds_out_one_season_and_renormalises_the_rest():
    cfg = SplitConfig(scheme="by-season", holdout_season="winter")
    assert {assign_split(s, "winter", cfg) for s in scene_ids("winter", 2000)} == {"test"}
    counts = Counter(assign_split(s, "spring", cfg) for s in scene_ids("spring"))
    assert counts["test"] == 0
    assert abs(counts["train"] / N - 8 / 9) < 0.015  # 0.8 / (0.8 + 0.1)
    # the set name works as well as the season name
    assert assign_split("ROIs2017_winter_1", "ROIs2017_winter", cfg) == "test"
    other = SplitConfig(scheme="by-season", holdout_season="summer")
    assert assign_split("ROIs2017_winter_1", "winter", other) in ("train", "validate")
    assert assign_split("ROIs1868_summer_1", "summer", other) == "test"


def test_by_season_without_train_or_validate_share_is_a_config_error():
    cfg = SplitConfig(scheme="by-season", ratios=(0.0, 0.0, 1.0))
    with pytest.raises(ConfigError, match="no train or validate share"):
        assign_split("ROIs1158_spring_1", "spring", cfg)
    assert assign_split("ROIs2017_winter_1", "winter", cfg) == "test"


def test_bad_inputs_raise_config_errors():
    with pytest.raises(ConfigError, match="unknown season"):
        assign_split("ROIs1158_spring_1", "monsoon", SplitConfig(scheme="by-season"))
    with pytest.raises(ConfigError, match="empty scene id"):
        assign_split("", "spring", SplitConfig())
