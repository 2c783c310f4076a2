"""Records that flow between stages: plain, typed, immutable where they can be.

The contract between the pipeline (issue: pipeline core) and its consumers (STAC,
releases, streaming) is :class:`PatchRecord` / :class:`SceneResult`.
"""
from __future__ import annotations

from datetime import datetime, timezone
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
from affine import Affine
from rasterio.windows import Window

Sensor = Literal["s1", "s2"]


def format_datetime(d: datetime) -> str:
    """RFC 3339 UTC with ``Z``; fractional seconds only when present (the one formatter)."""
    d = d.astimezone(timezone.utc)
    s = d.strftime("%Y-%m-%dT%H:%M:%S")
    if d.microsecond:
        s += f".{d.microsecond:06d}".rstrip("0")
    return s + "Z"


@dataclass(frozen=True)
class ROI:
    """A region of interest: one scene of one season set."""

    set_name: str  # e.g. ROIs1158_spring
    index: int  # scene number within the set (the 7 in ROIs1158_spring_s1_7_p42)
    lon: float
    lat: float
    kind: Literal["land", "urban"]

    @property
    def scene_id(self) -> str:
        return f"{self.set_name}_{self.index}"


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid: CRS, affine transform (GDAL order a,b,c,d,e,f), size."""

    crs: str  # "EPSG:32633"
    transform: tuple[float, float, float, float, float, float]
    width: int
    height: int

    @property
    def affine(self) -> Affine:
        return Affine(*self.transform)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        a = self.affine
        x0, y0 = a @ (0, 0)
        x1, y1 = a @ (self.width, self.height)
        return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))

    def window_transform(self, window: Window) -> tuple[float, float, float, float, float, float]:
        t = self.affine @ Affine.translation(window.col_off, window.row_off)
        return (t.a, t.b, t.c, t.d, t.e, t.f)


@dataclass(frozen=True)
class Acquisition:
    """What is known about one sensor's acquisition(s) for a scene."""

    sensor: Sensor
    datetime: str | None  # ISO 8601 UTC, "2017-04-12T10:20:31Z" (the acquisition on top of the mosaic); None when unknown (then start/end must be set)
    platform: str | None  # "sentinel-1a", "sentinel-2b"; None when unknown
    constellation: str  # "sentinel-1" | "sentinel-2"
    instrument: str  # "c-sar" | "msi"
    orbit_state: str | None = None  # "ascending" | "descending"
    relative_orbit: int | None = None
    cloud_cover: float | None = None  # percent, S2 only
    product_ids: tuple[str, ...] = ()
    start_datetime: str | None = None  # earliest acquisition in the mosaic
    end_datetime: str | None = None  # latest acquisition in the mosaic


@dataclass(frozen=True)
class SceneRequest:
    roi: ROI
    season_name: str
    start: str  # ISO date, inclusive
    end: str  # ISO date, inclusive
    grid: Grid
    recipe: str = "v1"  # "v1" | "v2": what the source must deliver (sen12stac/recipe/recipes.py)


class SceneRaster(Protocol):
    """What a source returns: two co-registered rasters on one 10 m grid, read by window.

    ``read_s1`` returns float32 (1, h, w) sigma0 in dB with NaN for no-data.
    ``read_s2`` returns uint16 (3, h, w) TOA reflectance x 10000 for B4, B3, B2 with 0 for no-data.
    Those shapes are recipe v1's; under recipe v2 (``SceneRequest.recipe``) the band counts and the
    extra ``read_label`` / ``read_scl`` methods are given in :mod:`sen12stac.recipe.recipes`.
    ``seam_mask`` returns bool (h, w): True on mosaic seamlines (pixels where the top scene changes), or None.
    Reads outside the grid are an error. Implementations must be picklable or built inside the worker.
    """

    grid: Grid
    s1: Acquisition
    s2: Acquisition

    def read_s1(self, window: Window) -> np.ndarray: ...

    def read_s2(self, window: Window) -> np.ndarray: ...

    def seam_mask(self, window: Window) -> np.ndarray | None: ...

    def close(self) -> None: ...


class Source(Protocol):
    """A scene source (synthetic | local | earthengine | stac)."""

    name: str

    def rois(self, season_name: str) -> list[ROI] | None:
        """ROIs this source defines itself (local folders), or None to use the sampled ROIs."""

    def grid_for(self, roi: ROI, default: Grid) -> Grid:
        """The 10 m UTM grid to process ``roi`` on. ``default`` is the recipe's square around the
        ROI (synthetic, Earth Engine); sources with their own rasters (local) return theirs."""

    def open_scene(self, request: SceneRequest) -> SceneRaster:
        """Return the scene; raise SceneUnavailable when S1 or S2 is missing (the ROI is dropped)."""


@dataclass(frozen=True)
class BandStats:
    """Per-band scene statistics and the mapping from published uint8 to physical units.

    physical = offset + scale * DN for DN in 1..255; DN 0 is no-data.
    Physical units: dB for S1 VV, reflectance x 10000 for S2 bands.
    """

    band: str  # "VV", "B04", "B03", "B02"
    mean: float
    std: float
    clip_min: float  # mean - k*std
    clip_max: float  # mean + k*std
    stretch_min: float  # physical value mapped to DN 1
    stretch_max: float  # physical value mapped to DN 255
    valid_pixels: int

    @property
    def scale(self) -> float:
        return (self.stretch_max - self.stretch_min) / 254.0

    @property
    def offset(self) -> float:
        return self.stretch_min - self.scale


@dataclass(frozen=True)
class SceneQC:
    scene_id: str
    accepted: bool
    reasons: tuple[str, ...]  # machine-readable codes, e.g. "nodata:0.231>0.100"
    metrics: dict[str, float]
    override: str | None = None  # "accept" | "reject" when a manual decision was applied
    override_note: str | None = None
    override_who: str | None = None
    override_when: str | None = None


@dataclass(frozen=True)
class PatchQC:
    accepted: bool
    reasons: tuple[str, ...]
    nodata_fraction: float
    cloud_fraction: float
    seamline: bool
    haze_index: float = float("nan")  # qc.haze_index of the patch (recorded; rejects only when configured)
    override: str | None = None  # "accept" | "reject" when a manual decision on this pair was applied
    override_note: str | None = None
    override_who: str | None = None
    override_when: str | None = None


@dataclass(frozen=True)
class AssetRecord:
    key: str  # store-relative key, e.g. ROIs1158_spring/s1_7/ROIs1158_spring_s1_7_p42.tif
    size: int
    checksum: str  # sha2-256 multihash, hex ("1220" + sha256 hex)
    media_type: str
    member: Any = None  # sen12stac.shards.Member: where the file also sits in a training shard (--layout shards|both)


@dataclass(frozen=True)
class LandCover:
    """Recipe v2: what a patch's label and scene classification say (sen12stac/recipe/recipes.py)."""

    fractions: tuple[tuple[int, float], ...]  # (WorldCover code, fraction of the valid label pixels), every class
    majority: int | None  # the most frequent code; None when no label pixel is valid
    scl_cloud_fraction: float | None = None  # SCL cloud (8, 9, 10) share of the valid SCL pixels; None without SCL
    scl_shadow_fraction: float | None = None  # SCL cloud shadow (3)
    source_labels: tuple[str, ...] = ()  # the source's own patch-level classes (BigEarthNet's CORINE labels), as given


@dataclass(frozen=True)
class PatchRecord:
    """One published patch pair: everything the STAC item needs, nothing it must re-read."""

    pair_id: str  # ROIs1158_spring_7_p42
    scene_id: str  # ROIs1158_spring_7
    set_name: str  # ROIs1158_spring
    season: str  # spring
    seed: int
    scene_index: int  # 7
    patch_index: int  # 42 (1-based, row-major over the scene's patch positions)
    row: int  # patch row in the scene's position grid (0-based)
    col: int  # patch column (0-based)
    grid: Grid  # the patch's own grid: CRS, window transform, 256 x 256
    assets: dict[str, AssetRecord]  # "s1", "s2", v2's "label", optionally "thumbnail"
    s1: Acquisition
    s2: Acquisition
    s1_stats: tuple[BandStats, ...]
    s2_stats: tuple[BandStats, ...]
    qc: PatchQC
    scene_qc: SceneQC
    roi: ROI
    source: str  # synthetic | local | earthengine | stac
    software: str  # "sen12stac 0.1.0"
    recipe: str = "v1"  # "v1" | "v2" (sen12stac/recipe/recipes.py)
    land_cover: LandCover | None = None  # recipe v2


SceneStatus = Literal["published", "unavailable", "rejected", "failed"]


@dataclass
class SceneResult:
    """Outcome of one ROI in one season. ``patches`` holds only published pairs."""

    roi: ROI
    season: str
    status: SceneStatus
    grid: Grid | None = None
    qc: SceneQC | None = None
    patches: list[PatchRecord] = field(default_factory=list)
    patch_positions: int = 0
    patch_rejections: dict[str, int] = field(default_factory=dict)  # reason code -> count
    bytes_written: int = 0
    seconds: float = 0.0
    message: str | None = None  # why unavailable / failed
    requests: dict[str, int | None] | None = None  # network cost (remote sources): searches, range reads, bytes

