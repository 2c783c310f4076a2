"""What a validated sidecar says about one scene: files resolved, bands in output order.

:func:`.sidecar.read_sidecar` builds these from ``scene.json``; the scene and the source
read them and never look at the JSON again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ...models import Acquisition, Sensor


@dataclass(frozen=True)
class BandRef:
    """One band of one file. ``index`` is 1-based; None: find it by band description."""

    path: Path
    index: int | None


@dataclass(frozen=True)
class SensorSpec:
    sensor: Sensor
    bands: tuple[tuple[str, BandRef], ...]  # in output order: ("VV",) or ("B04", "B03", "B02")
    scale: float
    offset: float
    nodata: float | None  # overrides the file's nodata value when set
    units: Literal["db", "linear"]
    acquisition: Acquisition
    processing_level: str | None
    #: every band the sidecar names or a stack may describe (v2 reads VH, the 12 L2A bands, SCL from here)
    named: dict[str, BandRef] = field(default_factory=dict, compare=False)

    @property
    def paths(self) -> list[Path]:
        out: list[Path] = []
        for _, ref in self.bands:
            if ref.path not in out:
                out.append(ref.path)
        return out


@dataclass(frozen=True)
class SceneSpec:
    name: str  # folder name
    folder: Path
    sidecar: Path
    season: str
    explicit_index: int | None
    kind: Literal["land", "urban"]
    lon: float | None
    lat: float | None
    s1: SensorSpec | None
    s2: SensorSpec | None
    properties: dict[str, Any] = field(default_factory=dict, compare=False)
    label: "LabelSpec | None" = None  # the sidecar's land-cover raster (recipe v2), None: none declared


@dataclass(frozen=True)
class LabelSpec:
    """A land-cover raster: one band of one file, and how its codes become ESA WorldCover codes
    (``mapping`` None: the raster already holds WorldCover codes)."""

    ref: BandRef
    mapping: dict[int, int] | None
    nodata: float | None
