"""How much work a build is, before it starts: scenes, expected pairs, size on disk, rough time.

An estimate from a :class:`~sen12stac.config.BuildConfig` and measured constants, not a
promise: the real counts depend on what each source has and what QC rejects. Each constant
names the command that measured it (re-run it to refresh the figure):

- share of ROIs that give a published scene (with S1 and S2, past scene QC), and the size of a
  pair on disk with the default (DEFLATE) compression: ``.venv/bin/sen12stac demo`` -- 20 ROIs
  of 2,048 px on the synthetic source, 16 with data, 9 past scene QC, 1,956 pairs, 354,839,363
  bytes for the whole folder (COGs, thumbnails, catalog, geoparquet, figures).
- share of patch positions of a published scene that pass patch QC: 1,084 of 1,156 in one
  4,480 px scene, ``.venv/bin/python bench/bench_build.py --scene-size 4480 --scenes 2``
  (bench/results/build-tmp.md).
- speed, and the size of a pair with fast (ZSTD) compression: one full season,
  ``.venv/bin/python bench/bench_season.py --scenes 70 --profile fast --workers 2``
  (bench/results/season.md): 69,869 pairs, 14.1 GB, 322.6 pairs/s on 2 workers with fast
  compression; the whole dataset projected to 26 min with DEFLATE on the same 2 workers.

The synthetic source's rates applied to the sampler's ROIs give about the paper's 282,384 pairs
for the whole dataset (every ROI of the four seasons at 4,480 px). Sources with their own
scenes (a local folder, a ROI file) pass their scene count in ``scenes``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .config import COG_PROFILES, BuildConfig

SCENES_PUBLISHED_SHARE = 9 / 20  # `sen12stac demo`: 9 of 20 ROIs past scene QC (4 have no data, 7 fail scene QC)
PATCHES_PUBLISHED_SHARE = 1084 / 1156  # bench_build.py, one 4,480 px scene
BYTES_PER_PAIR = {
    "compatible": 354_839_363 / 1956,  # `sen12stac demo`: the whole folder / its pairs (181 KB)
    "fast": 14.1e9 / 69_869,  # bench_season.py --profile fast: 14.1 GB / 69,869 pairs (202 KB)
}
# Recipe v2 against v1 on the same scenes, in one run (``.venv/bin/python bench/bench_v2.py --scene-size 2240
# --scenes 2``, bench/results/v2.md): 1,111.5 against 162.6 KiB per pair on disk, 52.1 against 15.3 ms CPU per pair
V2_BYTES_FACTOR = 1111.5 / 162.6
V2_TIME_FACTOR = 52.1 / 15.3
#: BYTES_PER_PAIR is the per-file layout (--layout cogs); a training shard holds the pair's COGs again
#: plus ZIP headers. `make demo` (1,956 pairs, --layout both): COGs 315,529,422 of the 356,815,903 bytes
#: that are not shards; shards 316,083,904 bytes (1.0018x the COGs they hold)
COG_SHARE = 315_529_422 / 356_815_903
ZIP_OVERHEAD = 316_083_904 / 315_529_422 - 1.0
LAYOUT_FACTOR = {"cogs": 1.0, "shards": 1.0 + COG_SHARE * ZIP_OVERHEAD, "both": 1.0 + COG_SHARE * (1.0 + ZIP_OVERHEAD)}
PAIRS_PER_SECOND_PER_WORKER = {
    "compatible": 282_384 / (26 * 60) / 2,  # bench_season.py: the whole dataset projected to 26 min on 2 workers (90.5)
    "fast": 322.6 / 2,  # bench_season.py --profile fast: 322.6 pairs/s on 2 workers (161.3)
}


@dataclass(frozen=True)
class Estimate:
    """What a build is expected to produce and take."""

    scenes: int  # ROIs the build runs (each a scene request)
    pairs: int  # expected published patch pairs
    bytes: int  # expected size on disk (or in the bucket)
    seconds: float  # rough wall time on ``workers`` (compute; a remote source adds its downloads)
    workers: int  # parallel workers the time assumes (a Dask cluster of unknown size: 1)
    compression: str  # "compatible" or "fast" (the rates used)
    cluster: bool = False  # an existing Dask scheduler: the time is for one worker

    def line(self) -> str:
        """``about 600 scenes, ~293,000 pairs, ~53 GB, roughly 27 min on 2 workers``."""
        where = ("on one worker (divide by the cluster's workers)" if self.cluster else
                 "in this process" if self.workers == 0 else f"on {self.workers} worker{'s' if self.workers != 1 else ''}")
        return (f"about {self.scenes:,} scene{'s' if self.scenes != 1 else ''}, ~{_round(self.pairs):,} pairs, "
                f"~{self.size_text}, {self.time_text} {where}")

    @property
    def size_text(self) -> str:
        """``53 GB``, ``8 MB``."""
        return _size(self.bytes)

    @property
    def time_text(self) -> str:
        """``roughly 27 min``, ``under a minute``."""
        return _duration(self.seconds)


def compression_of(config: BuildConfig) -> str:
    """The named compression whose measured rates apply (``compatible`` unless the COG settings are ``fast``'s)."""
    cog = config.cog
    fast = COG_PROFILES["fast"]
    same = cog.compress == fast["compress"] and cog.level == fast["level"]
    return "fast" if same else "compatible"


def positions_per_scene(config: BuildConfig) -> int:
    """Patch positions in one scene: windows of ``patch_size`` every ``stride`` pixels per side,
    plus one flush with the edge when the side is not covered (the same count as
    :func:`sen12stac.recipe.tiling.offsets`; computed here so estimating needs no GDAL import)."""
    size, patch, stride = config.scene_size_px, config.patch_size, config.stride
    if size < patch:
        return 0
    per_side = -(-(size - patch) // stride) + 1
    return per_side * per_side


def estimate(config: BuildConfig, *, scenes: int | None = None, cores: int | None = None) -> Estimate:
    """The work of a build of ``config``.

    ``scenes``: the number of ROIs the build runs, when known (the build's plan); otherwise the
    sampler's candidate points per season (``n_land + n_urban``, a few of which the overlap test
    drops), capped by ``scenes_per_season``. ``cores``: the machine's cores; a local cluster of
    more workers than cores is timed on the cores."""
    if scenes is None:
        per_season = config.n_land + config.n_urban
        if config.scenes_per_season is not None:
            per_season = min(per_season, config.scenes_per_season)
        scenes = per_season * len(config.seasons)
    pairs = round(scenes * SCENES_PUBLISHED_SHARE * positions_per_scene(config) * PATCHES_PUBLISHED_SHARE)
    compression = compression_of(config)
    cluster = config.scheduler is not None
    workers = 1 if cluster else config.workers
    parallel = max(1, workers if cores is None or cluster else min(workers, cores))
    seconds = pairs / (PAIRS_PER_SECOND_PER_WORKER[compression] * parallel)
    per_pair = BYTES_PER_PAIR[compression] * LAYOUT_FACTOR[getattr(config, "layout", "cogs")]
    if config.recipe == "v2":  # 12-band uint16, float32 S1, a label: measured against v1 in one run
        per_pair, seconds = per_pair * V2_BYTES_FACTOR, seconds * V2_TIME_FACTOR
    return Estimate(scenes=scenes, pairs=pairs, bytes=round(pairs * per_pair), seconds=seconds,
                    workers=workers, compression=compression, cluster=cluster)


def _round(n: int) -> int:
    """Two significant figures above 1,000 (an estimate, not a count)."""
    if n < 1000:
        return n
    step = 10 ** (int(math.log10(n)) - 1)
    return int(round(n / step) * step)


def _size(n: int) -> str:
    if n >= 10e9:
        return f"{n / 1e9:.0f} GB"
    if n >= 1e9:
        return f"{n / 1e9:.1f} GB"
    return f"{max(1, round(n / 1e6)):,} MB"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return "under a minute"
    minutes = seconds / 60
    if minutes < 90:
        return f"roughly {math.ceil(minutes)} min"
    return f"roughly {minutes / 60:.1f} h"
