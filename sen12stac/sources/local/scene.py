"""A local scene's S1/S2 pair, read by window on the scene grid (implements ``SceneRaster``).

Opening checks everything a read would trip on later: every file exists, opens, overlaps the
grid (and S2 overlaps S1), has the bands named, and is not truncated. S1 comes out as float32
sigma0 in dB, S2 as uint16 reflectance x 10000 (``models.SceneRaster``).

Recipe v2 (:mod:`sen12stac.recipe.recipes`) reads VV+VH and the 12 L2A bands from whatever
layout the sidecar maps (one file per band at 10/20/60 m, or a stack): a band on the scene's
10 m lattice passes through untouched, a coarser one is resampled bilinear onto it (WarpedVRT).
The label raster and the SCL are categorical: read nearest. S2 must be declared L2A.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from rasterio.enums import Resampling
from rasterio.windows import Window

from ...errors import AlignmentError, ConfigError, RasterFormatError, SceneUnavailable, SourceError
from ...models import Acquisition, Grid, Sensor
from ...recipe.recipes import WORLDCOVER_CLASSES, recipe as recipe_spec
from .grid import bounds_in, fmt_bounds, overlap
from .rasters import check_blocks, open_raster, resolve_index
from .reader import FileReader
from .spec import BandRef, SceneSpec, SensorSpec


def s2_level(spec: SensorSpec) -> str | None:
    """The S2 processing level the sidecar declares: "L1C", "L2A", or None (not declared)."""
    text = (spec.processing_level or "").upper().replace("-", "").replace("_", "").replace(" ", "")
    for level in ("L2A", "L1C"):
        if level in text or text == level[1:] or text == "LEVEL" + level[1:]:
            return level
    return None


def check_v2(spec: SceneSpec) -> None:
    """Refuse a scene a v2 build cannot use, before any pixel is read: its S2 must be declared
    Level-2A (v2 publishes surface reflectance; an L1C stack is top of atmosphere) and the
    sidecar must name (or a stack describe) VH and the 12 L2A bands (checked when opened)."""
    if spec.s2 is None:
        return
    level = s2_level(spec.s2)
    if level != "L2A":
        said = f"is {level}" if level else f"is not declared ({spec.s2.processing_level!r})" if spec.s2.processing_level else "is not declared"
        raise ConfigError(
            f"{spec.sidecar}: S2 processing level {said}; a v2 build publishes Level-2A surface reflectance",
            fix="give this scene L2A files (e.g. sen2cor's output) with \"processing_level\": \"L2A\" in its sidecar, "
                "or build it with --recipe v1" + (" (L1C is top-of-atmosphere)" if level == "L1C" else ""),
        )


class LocalScene:
    """An S1/S2 pair of one local scene, read by window on ``grid`` (implements ``SceneRaster``).

    Not thread-safe (one open dataset per file): use one scene per worker. Picklable: the
    open datasets are dropped and reopened lazily on the other side.
    """

    def __init__(self, spec: SceneSpec, grid: Grid, *, resampling: Resampling = Resampling.bilinear, recipe: str = "v1") -> None:
        if spec.s1 is None or spec.s2 is None:
            missing = "S1" if spec.s1 is None else "S2"
            raise SceneUnavailable(f"scene {spec.name} has no {missing} acquisition ({spec.sidecar} says null)",
                                   fix=f"add the {missing} file to {spec.folder} and describe it in the sidecar")
        self.spec = spec
        self.grid = grid
        self.s1: Acquisition = spec.s1.acquisition
        self.s2: Acquisition = spec.s2.acquisition
        self.properties = dict(spec.properties)
        self.resampling = resampling
        self.recipe = recipe_spec(recipe)
        if self.recipe.name == "v2":
            check_v2(spec)
        else:  # v1 items stay as they were: the patch-level source labels are a v2 property
            self.properties.pop("sen12:source_labels", None)
        self._readers: dict[tuple[Path, str], FileReader] = {}
        self._s1_bands: list[tuple[Path, int]] = []
        self._s2_bands: list[tuple[Path, int]] = []
        self._scl: tuple[Path, int] | None = None
        self._label: tuple[Path, int] | None = None
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    # -- opening and validation
    def _open(self) -> None:
        spec, grid = self.spec, self.grid
        assert spec.s1 is not None and spec.s2 is not None
        # every file must exist before any is judged: a missing sensor is "unavailable", not "broken"
        for sensor_spec in (spec.s1, spec.s2):
            for path in sensor_spec.paths:
                if not path.is_file():
                    open_raster(path, sensor_spec.sensor, spec.sidecar)  # raises SceneUnavailable
        grid_bounds = grid.bounds
        s1_footprint: tuple[float, float, float, float] | None = None
        s1_path: Path | None = None
        for sensor_spec in (spec.s1, spec.s2):
            out = self._s1_bands if sensor_spec.sensor == "s1" else self._s2_bands
            for band, ref in self._wanted(sensor_spec):
                if (ref.path, self.resampling.name) not in self._readers:
                    ds = open_raster(ref.path, sensor_spec.sensor, spec.sidecar)
                    try:
                        fp = bounds_in(ds, grid.crs, ref.path, sensor_spec.sensor)
                        if sensor_spec.sensor == "s1":
                            s1_footprint = fp if s1_footprint is None else s1_footprint
                            s1_path = s1_path or ref.path
                        elif s1_footprint is not None and overlap(fp, s1_footprint) <= 0:
                            raise AlignmentError(
                                f"S2 file {ref.path} does not overlap S1 file {s1_path} "
                                f"(in {grid.crs}: S2 {fmt_bounds(fp)}, S1 {fmt_bounds(s1_footprint)})",
                                fix=f"pair files of the same area in {spec.sidecar}: the S2 and S1 footprints must intersect",
                            )
                        if overlap(fp, grid_bounds) <= 0:
                            raise AlignmentError(
                                f"{sensor_spec.sensor.upper()} file {ref.path} does not overlap the requested grid "
                                f"({grid.crs} {fmt_bounds(grid_bounds)}; the file covers {fmt_bounds(fp)} there)",
                                fix=f"request the grid LocalSource.grid_for() returns for scene {spec.name}",
                            )
                        self._readers[(ref.path, self.resampling.name)] = FileReader(
                            ds, ref.path, sensor_spec.sensor, grid, self.resampling, sensor_spec.nodata)
                    except BaseException:
                        ds.close()
                        raise
                reader = self._readers[(ref.path, self.resampling.name)]
                index = resolve_index(reader.ds, ref, band, sensor_spec.sensor, spec.sidecar)
                check_blocks(reader.ds, ref.path, index, sensor_spec.sensor)
                out.append((ref.path, index))
        if self.recipe.name == "v2":
            self._open_categorical()

    def _wanted(self, sensor_spec: SensorSpec) -> tuple[tuple[str, BandRef], ...]:
        """The bands the recipe reads, in its order: v1's from ``bands``, v2's from every band named."""
        if self.recipe.name == "v1":
            return sensor_spec.bands
        names = self.recipe.s1_bands if sensor_spec.sensor == "s1" else self.recipe.s2_bands
        missing = [b for b in names if b not in sensor_spec.named]
        if missing:
            raise RasterFormatError(
                f"{self.spec.sidecar}: {sensor_spec.sensor.upper()} names no {', '.join(missing)}; a v2 build reads "
                f"{', '.join(names)}",
                fix=f'map every band in "{sensor_spec.sensor}": {{"files": {{"{missing[0]}": "<file>.tif#<band>", ...}}}} '
                    "(or \"bands\" for one stacked file), or build with --recipe v1",
            )
        return tuple((b, sensor_spec.named[b]) for b in names)

    def _open_categorical(self) -> None:
        """The SCL (an S2 band named "SCL", optional) and the label raster (the sidecar's "label"), read nearest."""
        spec, s2 = self.spec, self.spec.s2
        assert s2 is not None
        ref = s2.named.get("SCL")
        if ref is not None:
            reader = self._categorical_reader(ref.path, "s2", s2.nodata)
            if ref.index is None:  # a stack searched by description: SCL is optional there
                hits = [i + 1 for i, d in enumerate(reader.ds.descriptions) if d and d.strip().upper() == "SCL"]
                self._scl = (ref.path, hits[0]) if len(hits) == 1 else None
            else:
                self._scl = (ref.path, resolve_index(reader.ds, ref, "SCL", "s2", spec.sidecar))
            if self._scl is not None:
                check_blocks(reader.ds, ref.path, self._scl[1], "s2")
        if spec.label is not None:
            lref = spec.label.ref
            reader = self._categorical_reader(lref.path, "label", spec.label.nodata)
            if not 1 <= (lref.index or 1) <= reader.ds.count:
                raise RasterFormatError(f"label file {lref.path} has no band {lref.index} (it has {reader.ds.count})",
                                        fix=f"correct the band after '#' in \"label\" of {spec.sidecar}")
            fp = bounds_in(reader.ds, self.grid.crs, lref.path, "label")  # type: ignore[arg-type]
            if overlap(fp, self.grid.bounds) <= 0:
                raise AlignmentError(f"label file {lref.path} does not overlap the scene grid ({self.grid.crs} {fmt_bounds(self.grid.bounds)})",
                                     fix=f"give a label raster covering scene {spec.name}")
            check_blocks(reader.ds, lref.path, lref.index or 1, "label")  # type: ignore[arg-type]
            self._label = (lref.path, lref.index or 1)

    def _categorical_reader(self, path: Path, sensor: str, nodata: float | None) -> FileReader:
        key = (path, Resampling.nearest.name)
        r = self._readers.get(key)
        if r is None:
            if not path.is_file():
                raise SceneUnavailable(f"{sensor.upper()} file {path} named in {self.spec.sidecar} does not exist",
                                       fix=f"put the file there or correct its name in the sidecar")
            ds = open_raster(path, sensor, self.spec.sidecar)  # type: ignore[arg-type]
            try:
                r = self._readers[key] = FileReader(ds, path, sensor, self.grid, Resampling.nearest, nodata)  # type: ignore[arg-type]
            except BaseException:
                ds.close()
                raise
        return r

    def _reader(self, path: Path, sensor: Sensor) -> FileReader:
        r = self._readers.get((path, self.resampling.name))
        if r is None:  # reopened after pickling
            sensor_spec = self.spec.s1 if sensor == "s1" else self.spec.s2
            assert sensor_spec is not None
            ds = open_raster(path, sensor, self.spec.sidecar)
            r = self._readers[(path, self.resampling.name)] = FileReader(ds, path, sensor, self.grid, self.resampling, sensor_spec.nodata)
        return r

    def _check(self, window: Window) -> None:
        c0, r0, w, h = window.col_off, window.row_off, window.width, window.height
        ints = all(float(v).is_integer() for v in (c0, r0, w, h))
        if not ints or c0 < 0 or r0 < 0 or w < 1 or h < 1 or c0 + w > self.grid.width or r0 + h > self.grid.height:
            raise SourceError(
                f"window {window} of scene {self.spec.name} lies outside its {self.grid.width}x{self.grid.height} grid",
                fix="read integer windows inside the scene grid",
            )

    # -- SceneRaster
    def read_s1(self, window: Window) -> np.ndarray:
        """float32 (bands, h, w) sigma0 in dB, NaN for no-data: VV (v1), VV and VH (v2)."""
        self._check(window)
        s1 = self.spec.s1
        assert s1 is not None
        out = []
        for path, index in self._s1_bands:
            a = self._reader(path, "s1").read(index, window)
            if s1.scale != 1.0 or s1.offset != 0.0:
                a = a * np.float32(s1.scale) + np.float32(s1.offset)
            if s1.units == "linear":
                with np.errstate(divide="ignore", invalid="ignore"):
                    a = np.where(a > 0, np.float32(10.0) * np.log10(a), np.float32(np.nan)).astype(np.float32)
            a[~np.isfinite(a)] = np.nan
            out.append(a.astype(np.float32, copy=False))
        return np.stack(out)

    def read_s2(self, window: Window) -> np.ndarray:
        """uint16 (bands, h, w) reflectance x 10000, 0 where any band is no-data: B4, B3, B2 (v1),
        the 12 L2A bands (v2)."""
        self._check(window)
        s2 = self.spec.s2
        assert s2 is not None
        h, w = int(window.height), int(window.width)
        out = np.zeros((len(self._s2_bands), h, w), dtype=np.uint16)
        invalid = np.zeros((h, w), dtype=bool)
        v2 = self.recipe.name == "v2"
        for i, (path, index) in enumerate(self._s2_bands):
            a = self._reader(path, "s2").read(index, window)
            if v2:
                # an L2A product marks no-data with DN 0; a valid reflectance <= 0 (possible once the
                # baseline offset is removed) is stored as 1 so it is never read as no-data
                bad = ~np.isfinite(a) | (a == 0)
                if s2.scale != 1.0 or s2.offset != 0.0:
                    a = a * np.float32(s2.scale) + np.float32(s2.offset)
            else:
                if s2.scale != 1.0 or s2.offset != 0.0:
                    a = a * np.float32(s2.scale) + np.float32(s2.offset)
                bad = ~np.isfinite(a) | (a <= 0)
            invalid |= bad
            out[i] = np.clip(np.rint(np.where(bad, 1, a)), 1, 65535).astype(np.uint16)
        out[:, invalid] = 0
        return out

    def _read_codes(self, ref: tuple[Path, int], sensor: str, nodata: float | None, window: Window) -> np.ndarray:
        path, index = ref
        a = self._categorical_reader(path, sensor, nodata).read(index, window)
        return a

    def read_scl(self, window: Window) -> np.ndarray | None:
        """uint8 (1, h, w) Sentinel-2 scene classification (nearest), 0 for no-data; None when the
        sidecar names no SCL."""
        self._check(window)
        if self._scl is None:
            return None
        assert self.spec.s2 is not None
        a = self._read_codes(self._scl, "s2", self.spec.s2.nodata, window)
        out = np.where(np.isfinite(a) & (a >= 0) & (a <= 255), a, 0)
        return out.astype(np.uint8)[np.newaxis]

    def read_label(self, window: Window) -> np.ndarray:
        """uint8 (1, h, w) ESA WorldCover codes (nearest), 0 for no-data. A scene whose sidecar
        declares no label raster has no known label: all 0 (nothing is invented)."""
        self._check(window)
        h, w = int(window.height), int(window.width)
        if self._label is None or self.spec.label is None:
            return np.zeros((1, h, w), dtype=np.uint8)
        lab = self.spec.label
        a = self._read_codes(self._label, "label", lab.nodata, window)
        valid = np.isfinite(a)
        codes = np.zeros((h, w), dtype=np.int64)
        codes[valid] = a[valid].astype(np.int64)
        present = np.unique(codes[valid])
        if lab.mapping is not None:
            unknown = [int(c) for c in present if int(c) not in lab.mapping and c != 0]
            if unknown:
                raise RasterFormatError(f"label file {lab.ref.path} has code {unknown[0]}, which the \"map\" of {self.spec.sidecar} does not name",
                                        fix=f"add \"{unknown[0]}\": <WorldCover code or 0> to \"label\".\"map\"")
            lut = {0: 0, **lab.mapping}
            out = np.zeros((h, w), dtype=np.uint8)
            for src, dst in lut.items():
                out[valid & (codes == src)] = dst
            return out[np.newaxis]
        unknown = [int(c) for c in present if c != 0 and int(c) not in WORLDCOVER_CLASSES]
        if unknown:
            raise RasterFormatError(f"label file {lab.ref.path} has value {unknown[0]}, not an ESA WorldCover code",
                                    fix=f"add \"map\": {{\"{unknown[0]}\": <WorldCover code>, ...}} to \"label\" in {self.spec.sidecar}")
        return codes.astype(np.uint8)[np.newaxis]

    def seam_mask(self, window: Window) -> np.ndarray | None:
        """Local files carry no mosaic seamline information."""
        self._check(window)
        return None

    def close(self) -> None:
        for r in self._readers.values():
            r.close()
        self._readers = {}

    @property
    def warped(self) -> dict[str, bool]:
        """Per sensor: True when any of its files is resampled onto the grid (False: pass-through)."""
        return {
            "s1": any(self._reader(p, "s1").warped for p, _ in self._s1_bands),
            "s2": any(self._reader(p, "s2").warped for p, _ in self._s2_bands),
        }

    def warped_bands(self) -> dict[str, bool]:
        """Per S2 band (in read order): True when it is resampled onto the grid, False: its pixels pass through."""
        names = [b for b, _ in self._wanted(self.spec.s2)] if self.spec.s2 is not None else []  # type: ignore[arg-type]
        return {n: self._reader(p, "s2").warped for n, (p, _) in zip(names, self._s2_bands)}

    def __enter__(self) -> "LocalScene":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_readers"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
