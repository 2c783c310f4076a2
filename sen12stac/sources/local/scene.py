"""A local scene's S1/S2 pair, read by window on the scene grid (implements ``SceneRaster``).

Opening checks everything a read would trip on later: every file exists, opens, overlaps the
grid (and S2 overlaps S1), has the bands named, and is not truncated. S1 comes out as float32
sigma0 in dB, S2 as uint16 reflectance x 10000 (``models.SceneRaster``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from rasterio.enums import Resampling
from rasterio.windows import Window

from ...errors import AlignmentError, SceneUnavailable, SourceError
from ...models import Acquisition, Grid, Sensor
from .grid import bounds_in, fmt_bounds, overlap
from .rasters import check_blocks, open_raster, resolve_index
from .reader import FileReader
from .spec import SceneSpec


class LocalScene:
    """An S1/S2 pair of one local scene, read by window on ``grid`` (implements ``SceneRaster``).

    Not thread-safe (one open dataset per file): use one scene per worker. Picklable: the
    open datasets are dropped and reopened lazily on the other side.
    """

    def __init__(self, spec: SceneSpec, grid: Grid, *, resampling: Resampling = Resampling.bilinear) -> None:
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
        self._readers: dict[Path, FileReader] = {}
        self._s1_bands: list[tuple[Path, int]] = []
        self._s2_bands: list[tuple[Path, int]] = []
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
            for band, ref in sensor_spec.bands:
                if ref.path not in self._readers:
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
                        self._readers[ref.path] = FileReader(ds, ref.path, sensor_spec.sensor, grid, self.resampling, sensor_spec.nodata)
                    except BaseException:
                        ds.close()
                        raise
                index = resolve_index(self._readers[ref.path].ds, ref, band, sensor_spec.sensor, spec.sidecar)
                check_blocks(self._readers[ref.path].ds, ref.path, index, sensor_spec.sensor)
                out.append((ref.path, index))

    def _reader(self, path: Path, sensor: Sensor) -> FileReader:
        r = self._readers.get(path)
        if r is None:  # reopened after pickling
            sensor_spec = self.spec.s1 if sensor == "s1" else self.spec.s2
            assert sensor_spec is not None
            ds = open_raster(path, sensor, self.spec.sidecar)
            r = self._readers[path] = FileReader(ds, path, sensor, self.grid, self.resampling, sensor_spec.nodata)
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
        """float32 (1, h, w) sigma0 VV in dB, NaN for no-data."""
        self._check(window)
        s1 = self.spec.s1
        assert s1 is not None
        path, index = self._s1_bands[0]
        a = self._reader(path, "s1").read(index, window)
        if s1.scale != 1.0 or s1.offset != 0.0:
            a = a * np.float32(s1.scale) + np.float32(s1.offset)
        if s1.units == "linear":
            with np.errstate(divide="ignore", invalid="ignore"):
                a = np.where(a > 0, np.float32(10.0) * np.log10(a), np.float32(np.nan)).astype(np.float32)
        a[~np.isfinite(a)] = np.nan
        return a[np.newaxis].astype(np.float32, copy=False)

    def read_s2(self, window: Window) -> np.ndarray:
        """uint16 (3, h, w) B4, B3, B2 reflectance x 10000; 0 where any band is no-data."""
        self._check(window)
        s2 = self.spec.s2
        assert s2 is not None
        h, w = int(window.height), int(window.width)
        out = np.zeros((3, h, w), dtype=np.uint16)
        invalid = np.zeros((h, w), dtype=bool)
        for i, (path, index) in enumerate(self._s2_bands):
            a = self._reader(path, "s2").read(index, window)
            if s2.scale != 1.0 or s2.offset != 0.0:
                a = a * np.float32(s2.scale) + np.float32(s2.offset)
            bad = ~np.isfinite(a) | (a <= 0)
            invalid |= bad
            out[i] = np.clip(np.rint(np.where(bad, 1, a)), 1, 65535).astype(np.uint16)
        out[:, invalid] = 0
        return out

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
