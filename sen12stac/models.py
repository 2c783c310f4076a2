"""Records that flow between stages. Plain, typed, JSON round-trippable.

The contract between the pipeline (issue: pipeline core) and its consumers (STAC,
releases, streaming) is :class:`PatchRecord` / :class:`SceneResult`.
"""
from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from dataclasses import dataclass, field
from typing import Any, Iterator, Literal, Protocol

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

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ROI":
        return cls(d["set_name"], int(d["index"]), float(d["lon"]), float(d["lat"]), d["kind"])


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

    def to_dict(self) -> dict[str, Any]:
        return {"crs": self.crs, "transform": list(self.transform), "width": self.width, "height": self.height}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Grid":
        return cls(d["crs"], tuple(float(v) for v in d["transform"]), int(d["width"]), int(d["height"]))  # type: ignore[arg-type]


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

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["product_ids"] = list(self.product_ids)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Acquisition":
        d = dict(d)
        d["product_ids"] = tuple(d.get("product_ids") or ())
        return cls(**d)


@dataclass(frozen=True)
class SceneRequest:
    roi: ROI
    season_name: str
    start: str  # ISO date, inclusive
    end: str  # ISO date, inclusive
    grid: Grid


class SceneRaster(Protocol):
    """What a source returns: two co-registered rasters on one 10 m grid, read by window.

    ``read_s1`` returns float32 (1, h, w) sigma0 in dB with NaN for no-data.
    ``read_s2`` returns uint16 (3, h, w) TOA reflectance x 10000 for B4, B3, B2 with 0 for no-data.
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
    """A scene source (synthetic | local | earthengine)."""

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

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["scale"] = self.scale
        d["offset"] = self.offset
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BandStats":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class SceneQC:
    scene_id: str
    accepted: bool
    reasons: tuple[str, ...]  # machine-readable codes, e.g. "nodata:0.231>0.100"
    metrics: dict[str, float]
    override: str | None = None  # "accept" | "reject" when a manual decision was applied
    override_note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["reasons"] = list(self.reasons)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SceneQC":
        d = dict(d)
        d["reasons"] = tuple(d.get("reasons") or ())
        return cls(**d)


@dataclass(frozen=True)
class PatchQC:
    accepted: bool
    reasons: tuple[str, ...]
    nodata_fraction: float
    cloud_fraction: float
    seamline: bool

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["reasons"] = list(self.reasons)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PatchQC":
        d = dict(d)
        d["reasons"] = tuple(d.get("reasons") or ())
        return cls(**d)


@dataclass(frozen=True)
class AssetRecord:
    key: str  # store-relative key, e.g. ROIs1158_spring/s1_7/ROIs1158_spring_s1_7_p42.tif
    size: int
    checksum: str  # sha2-256 multihash, hex ("1220" + sha256 hex)
    media_type: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AssetRecord":
        return cls(**d)


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
    assets: dict[str, AssetRecord]  # "s1", "s2", optionally "thumbnail"
    s1: Acquisition
    s2: Acquisition
    s1_stats: tuple[BandStats, ...]
    s2_stats: tuple[BandStats, ...]
    qc: PatchQC
    scene_qc: SceneQC
    roi: ROI
    source: str  # synthetic | local | earthengine
    software: str  # "sen12stac 0.1.0"

    def to_dict(self) -> dict[str, Any]:
        return {
            "pair_id": self.pair_id,
            "scene_id": self.scene_id,
            "set_name": self.set_name,
            "season": self.season,
            "seed": self.seed,
            "scene_index": self.scene_index,
            "patch_index": self.patch_index,
            "row": self.row,
            "col": self.col,
            "grid": self.grid.to_dict(),
            "assets": {k: v.to_dict() for k, v in self.assets.items()},
            "s1": self.s1.to_dict(),
            "s2": self.s2.to_dict(),
            "s1_stats": [b.to_dict() for b in self.s1_stats],
            "s2_stats": [b.to_dict() for b in self.s2_stats],
            "qc": self.qc.to_dict(),
            "scene_qc": self.scene_qc.to_dict(),
            "roi": self.roi.to_dict(),
            "source": self.source,
            "software": self.software,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PatchRecord":
        return cls(
            pair_id=d["pair_id"],
            scene_id=d["scene_id"],
            set_name=d["set_name"],
            season=d["season"],
            seed=int(d["seed"]),
            scene_index=int(d["scene_index"]),
            patch_index=int(d["patch_index"]),
            row=int(d["row"]),
            col=int(d["col"]),
            grid=Grid.from_dict(d["grid"]),
            assets={k: AssetRecord.from_dict(v) for k, v in d["assets"].items()},
            s1=Acquisition.from_dict(d["s1"]),
            s2=Acquisition.from_dict(d["s2"]),
            s1_stats=tuple(BandStats.from_dict(b) for b in d["s1_stats"]),
            s2_stats=tuple(BandStats.from_dict(b) for b in d["s2_stats"]),
            qc=PatchQC.from_dict(d["qc"]),
            scene_qc=SceneQC.from_dict(d["scene_qc"]),
            roi=ROI.from_dict(d["roi"]),
            source=d["source"],
            software=d["software"],
        )


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests) if self.requests is not None else None,
            "roi": self.roi.to_dict(),
            "season": self.season,
            "status": self.status,
            "grid": self.grid.to_dict() if self.grid else None,
            "qc": self.qc.to_dict() if self.qc else None,
            "patches": [p.to_dict() for p in self.patches],
            "patch_positions": self.patch_positions,
            "patch_rejections": dict(self.patch_rejections),
            "bytes_written": self.bytes_written,
            "seconds": self.seconds,
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SceneResult":
        return cls(
            roi=ROI.from_dict(d["roi"]),
            season=d["season"],
            status=d["status"],
            grid=Grid.from_dict(d["grid"]) if d.get("grid") else None,
            qc=SceneQC.from_dict(d["qc"]) if d.get("qc") else None,
            patches=[PatchRecord.from_dict(p) for p in d.get("patches", [])],
            patch_positions=int(d.get("patch_positions", 0)),
            patch_rejections=dict(d.get("patch_rejections", {})),
            bytes_written=int(d.get("bytes_written", 0)),
            seconds=float(d.get("seconds", 0.0)),
            message=d.get("message"),
            requests=dict(d["requests"]) if d.get("requests") is not None else None,
        )
