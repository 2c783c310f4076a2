"""The work estimate (sen12stac/estimate.py): its scene geometry agrees with the tiling, and
its figures move the way a build does."""
from __future__ import annotations

from sen12stac.config import COG_PROFILES, make_config
from sen12stac.estimate import estimate, positions_per_scene
from sen12stac.recipe.tiling import offsets


def test_positions_per_scene_are_the_tilings():
    for size in (256, 257, 300, 384, 511, 512, 768, 1000, 2048, 2240, 4480):
        for patch, stride in ((256, 128), (256, 256), (128, 96)):
            config = make_config(scene_size_px=size, patch_size=patch, stride=stride)
            assert positions_per_scene(config) == len(offsets(size, patch, stride)) ** 2, (size, patch, stride)


def test_more_workers_are_faster_up_to_the_cores_and_fast_compression_is_larger_and_faster():
    base = make_config(seasons=("spring",), scenes_per_season=10)
    one, two, eight = (estimate(make_config(**{**base.model_dump(), "workers": w}), cores=2) for w in (1, 2, 8))
    assert one.pairs == two.pairs == eight.pairs and one.seconds > two.seconds == eight.seconds  # 8 workers on 2 cores: 2 cores' worth
    fast = estimate(make_config(**{**base.model_dump(), "cog": COG_PROFILES["fast"]}))
    assert fast.bytes > estimate(base).bytes and fast.seconds < estimate(base).seconds
    # a cluster of unknown size: the time of one worker, said so
    cluster = estimate(make_config(**{**base.model_dump(), "scheduler": "tcp://127.0.0.1:1"}))
    assert "one worker" in cluster.line() and cluster.seconds == one.seconds
    assert estimate(base, scenes=3).scenes == 3 and estimate(base, scenes=3).pairs < estimate(base).pairs
