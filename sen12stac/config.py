"""Typed configuration for the library. No environment or argument parsing here.

The CLI (the only place that reads arguments and environment) builds one
:class:`BuildConfig`; every stage takes the part it needs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError
from .recipe.seasons import SEASONS


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PreprocessConfig(_Frozen):
    clip_sigma: float = Field(2.5, gt=0, description="cut each band to mean +- k sigma (paper: 2.5)")
    stretch_percentiles: tuple[float, float] = Field(
        (1.0, 99.0), description="contrast stretch: percentiles (of the clipped band) mapped to the ends of the 8-bit range"
    )

    @field_validator("stretch_percentiles")
    @classmethod
    def _ordered(cls, v: tuple[float, float]) -> tuple[float, float]:
        lo, hi = v
        if not (0.0 <= lo < hi <= 100.0):
            raise ValueError("stretch_percentiles must satisfy 0 <= low < high <= 100")
        return v


class SceneQCConfig(_Frozen):
    max_nodata_fraction: float = Field(0.10, ge=0, le=1, description="reject a scene with more no-data (S1 or S2)")
    max_cloud_fraction: float = Field(0.05, ge=0, le=1, description="reject a scene with more cloud-like S2 pixels")
    cloud_brightness: float = Field(0.25, gt=0, description="TOA reflectance (mean of B4,B3,B2) above which a pixel is cloud-like")
    cloud_whiteness: float = Field(0.2, gt=0, description="max (max-min)/mean across B4,B3,B2 for a bright pixel to count as white")
    max_colour_cast: float = Field(0.45, gt=0, description="reject when |ln(channel mean / geometric mean of the channel means)| exceeds this")
    min_channel_std: float = Field(0.004, ge=0, description="reject when a channel is flat (std in reflectance below this)")
    max_haze_index: float = Field(5.0, gt=0, description="reject a hazy scene: ln(mean B2 / mean B4) / (std B4 / mean B4) above this (qc.haze_index)")
    overrides: Path | None = Field(None, description="JSON or CSV file of manual accept/reject decisions by scene id")


class PatchQCConfig(_Frozen):
    max_nodata_fraction: float = Field(0.0, ge=0, le=1, description="reject a patch with more no-data pixels (paper: none)")
    max_cloud_fraction: float = Field(0.10, ge=0, le=1, description="reject a patch with more cloud-like S2 pixels")
    max_haze_index: float | None = Field(None, gt=0, description="reject a patch whose haze index exceeds this (default: recorded only; open water scores high too)")
    reject_seamlines: bool = Field(False, description="reject patches crossing a mosaic seamline (always recorded)")


class CogConfig(_Frozen):
    compress: Literal["DEFLATE", "ZSTD", "LZW"] = "DEFLATE"
    level: int = Field(6, ge=1, le=22)
    predictor: Literal[1, 2] = 2
    blocksize: int = Field(256, ge=16)


# Named COG profiles (``build --compression``), both lossless. "compatible" (the default) is
# DEFLATE + predictor, which every GeoTIFF reader decodes, STAC Browser's geotiff.js
# included; "fast" is ZSTD level 1 + predictor: about 2x faster to encode, 1.3-1.5x less CPU end
# to end and 12 % larger files (bench/results/build.md), read by GDAL/rasterio and tifffile, but not by
# the geotiff.js 2.x that STAC Browser 4.0.1 uses (no ZSTD decoder there).
COG_PROFILES: dict[str, dict[str, object]] = {
    "compatible": {"compress": "DEFLATE", "level": 6, "predictor": 2},
    "fast": {"compress": "ZSTD", "level": 1, "predictor": 2},
}


def cog_profile(name: str) -> CogConfig:
    """The named profile's :class:`CogConfig` (ConfigError for an unknown name)."""
    values = COG_PROFILES.get(name.strip().lower())
    if values is None:
        raise ConfigError(f"unknown COG profile {name!r}", fix=f"use one of {', '.join(COG_PROFILES)}")
    return CogConfig(**values)  # type: ignore[arg-type]


class SplitConfig(_Frozen):
    scheme: Literal["random", "by-season"] = "random"
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    holdout_season: str = "winter"

    @field_validator("ratios")
    @classmethod
    def _sum_to_one(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(r < 0 for r in v) or abs(sum(v) - 1.0) > 1e-6:
            raise ValueError("split ratios (train, validate, test) must be >= 0 and sum to 1")
        return v

    @field_validator("holdout_season")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in SEASONS:
            raise ValueError(f"holdout_season must be one of {', '.join(SEASONS)}")
        return v


class EarthEngineConfig(_Frozen):
    """The ``earthengine`` source (sen12stac/sources/earthengine/): account, recipe, ROIs, export path."""

    project: str | None = Field(None, description="Google Cloud project registered for Earth Engine (default: the service account's)")
    key_file: Path | None = Field(None, description="service-account JSON key; default: application default credentials / `earthengine authenticate`")
    s2_collection: str = Field("COPERNICUS/S2_HARMONIZED", description="Sentinel-2 Level-1C collection id")
    s1_collection: str = Field("COPERNICUS/S1_GRD", description="Sentinel-1 GRD collection id")
    max_cloud: float = Field(1.0, ge=0, le=100, description="CLOUDY_PIXEL_PERCENTAGE threshold per granule (paper: 1)")
    rois: str = Field("sampler", description="'sampler' (the offline sampler's ROIs, default), 'earthengine' (randomPoints on the server) or a GeoJSON file written by `sen12stac rois`")
    land_asset: str | None = Field(None, description="table asset of the land layer for rois='earthengine' (default: the carried layer, uploaded inline)")
    urban_asset: str | None = Field(None, description="table asset of the urban layer for rois='earthengine'")
    export: Literal["pixels", "gcs", "drive"] = Field("pixels", description="computePixels download, or a batch export to Cloud Storage / Drive")
    bucket: str | None = Field(None, description="Cloud Storage bucket for export='gcs'")
    prefix: str = Field("sen12stac", description="object prefix (gcs) of batch exports")
    drive_folder: str | None = Field(None, description="Drive folder for export='drive'")
    drive_dir: Path | None = Field(None, description="local folder where the Drive folder is synced (export='drive')")
    cache_dir: Path = Field(Path(".sen12stac-cache/earthengine"), description="downloaded scenes, task ids, ROI points (resume state)")
    poll_seconds: float = Field(30.0, gt=0, description="batch export: seconds between task state checks")
    max_request_bytes: int = Field(48 * 1024 * 1024, ge=1024, le=48 * 1024 * 1024, description="computePixels: uncompressed bytes per request (documented limit 48 MB)")
    max_request_side: int = Field(32768, ge=16, le=32768, description="computePixels: pixels per side per request (documented limit 32768)")

    @model_validator(mode="after")
    def _export_target(self) -> "EarthEngineConfig":
        if self.export == "gcs" and not self.bucket:
            raise ValueError("export 'gcs' needs a bucket (--ee-bucket)")
        if self.export == "drive" and not (self.drive_folder and self.drive_dir):
            raise ValueError("export 'drive' needs drive_folder and drive_dir (--ee-drive-folder, --ee-drive-dir)")
        return self


class StacSensorConfig(_Frozen):
    """Where one sensor's scenes come from in the ``stac`` source. Every field left unset is
    taken from the preset (``sen12stac/sources/opendata/presets.py``)."""

    api_url: str | None = Field(None, description="STAC API landing page, e.g. https://planetarycomputer.microsoft.com/api/stac/v1")
    collection: str | None = Field(None, description="collection id, e.g. sentinel-1-rtc or sentinel-2-l1c")
    assets: tuple[str, ...] | None = Field(None, description="asset keys in band order: S1 (VV,), S2 (B04, B03, B02)")
    filter_lang: Literal["cql2-json", "query"] | None = Field(None, description="how the recipe's filters are sent: the filter (CQL2) or the query extension")
    signer: Literal["none", "planetary-computer"] | None = Field(None, description="href signer (Planetary Computer SAS tokens)")
    units: Literal["linear", "db"] | None = Field(None, description="S1 values: linear power (converted to dB) or dB")
    max_cloud_cover: float | None = Field(None, ge=0, le=100, description="S2: eo:cloud_cover at most this (paper: 1)")
    max_items: int | None = Field(None, ge=1, le=1000, description="at most this many items per scene (the newest)")
    requester_pays: bool | None = Field(None, description="s3:// assets in a requester-pays bucket (Earth Search L1C JPEG 2000)")
    s3_endpoint_url: str | None = Field(None, description="S3 endpoint for s3:// asset hrefs (default AWS)")
    s3_region: str | None = Field(None, description="region of the s3:// assets' bucket (sentinel-s2-l1c: eu-central-1)")


class StacSourceConfig(_Frozen):
    preset: Literal["earth-search", "planetary-computer"] | None = Field(None, description="documented defaults for both sensors")
    s1: StacSensorConfig = StacSensorConfig()
    s2: StacSensorConfig = StacSensorConfig()
    label: StacSensorConfig = StacSensorConfig()  # recipe v2: the land-cover collection (asset "map": ESA WorldCover)
    rois_file: Path | None = Field(None, description="GeoJSON of ROI points (`sen12stac rois` output) instead of sampling them")


class BuildConfig(_Frozen):
    recipe: Literal["v1", "v2"] = Field("v1", description="v1: the 2018 paper's (S1 VV, S2 L1C B4/B3/B2, 8-bit); v2: the paper's planned successor (S1 VV+VH dB float32, S2 L2A 12 bands uint16, WorldCover labels; docs/v2.md)")
    source: Literal["synthetic", "local", "earthengine", "stac"] = "synthetic"
    source_path: Path | None = Field(None, description="folder of scene pairs for the local source")
    stac: StacSourceConfig | None = Field(None, description="the stac source: STAC APIs per sensor (see docs/sources.md)")
    seasons: tuple[str, ...] = tuple(SEASONS)
    review: bool = Field(False, description="keep a preview and every patch position's QC per scene under review/ for `sen12stac review` (not published)")
    scenes_per_season: int | None = Field(None, ge=1, description="process at most this many ROIs per season")
    scene_size_px: int = Field(4480, ge=256, description="scene side in pixels at 10 m (4480 px ~ 1,156 patches)")
    pixel_size: float = Field(10.0, gt=0)
    patch_size: int = Field(256, ge=16)
    stride: int = Field(128, ge=1)
    n_land: int = Field(100, ge=0)
    n_urban: int = Field(50, ge=0)
    workers: int = Field(2, ge=0, description="Dask LocalCluster workers; 0 runs scenes in this process")
    scheduler: str | None = Field(None, description="address of an existing Dask scheduler instead of a LocalCluster")
    defect_rate: float = Field(0.3, ge=0, le=1, description="synthetic source: share of scenes given a defect")
    thumbnails: bool = True
    layout: Literal["cogs", "shards", "both"] = Field("both", description="per-patch COGs, training shards (per-scene uncompressed ZIPs of the same COGs), or both (docs/shards.md)")
    shard_mb: float = Field(256, gt=0, le=3500, description="size bound of one training shard in MiB (a scene larger than this gets several)")
    scene_cache_mb: int = Field(512, ge=0, description="hold a scene's rows in memory between the statistics and patch passes when its arrays fit (a 4,480 px scene: ~200 MB); larger scenes stream")
    preprocess: PreprocessConfig = PreprocessConfig()
    scene_qc: SceneQCConfig = SceneQCConfig()
    patch_qc: PatchQCConfig = PatchQCConfig()
    cog: CogConfig = CogConfig()
    split: SplitConfig = SplitConfig()
    earthengine: EarthEngineConfig = EarthEngineConfig()

    @field_validator("seasons")
    @classmethod
    def _seasons_known(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for name in v:
            n = name.strip().lower()
            if n not in SEASONS:
                raise ValueError(f"unknown season {name!r}: use one of {', '.join(SEASONS)}")
            if n not in out:
                out.append(n)
        if not out:
            raise ValueError("at least one season is needed")
        return tuple(out)

    @model_validator(mode="after")
    def _consistent(self) -> "BuildConfig":
        if self.stride > self.patch_size:
            raise ValueError("stride must not exceed patch_size (patches would leave gaps)")
        if self.scene_size_px < self.patch_size:
            raise ValueError("scene_size_px must be at least patch_size")
        if self.source == "local" and self.source_path is None:
            raise ValueError("the local source needs source_path (a folder of scene pairs)")
        if self.source == "stac" and self.stac is None:
            raise ValueError("the stac source needs stac settings (a preset, or an API and collection per sensor)")
        return self


def make_config(**values: object) -> BuildConfig:
    """Build a :class:`BuildConfig`, turning pydantic's errors into one :class:`ConfigError`."""
    try:
        return BuildConfig(**values)  # type: ignore[arg-type]
    except ValidationError as exc:
        parts = []
        for e in exc.errors():
            loc = ".".join(str(p) for p in e["loc"]) or "config"
            parts.append(f"{loc}: {e['msg']} (got {e.get('input')!r})")
        raise ConfigError("invalid configuration: " + "; ".join(parts), fix="correct the value(s) named above") from None
