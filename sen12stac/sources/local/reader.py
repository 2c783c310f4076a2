"""One open file read by window onto a scene's grid: directly when it shares the grid's pixel
lattice (values untouched), else through a ``WarpedVRT`` (S2 aligned onto S1). Memory stays
bounded whatever the file's size."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import CRSError
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from ...errors import RasterFormatError, SourceError
from ...models import Grid, Sensor
from .rasters import READ_FIX, RIO_ERRORS


def _lattice_offset(ds: Any, grid: Grid) -> tuple[int, int] | None:
    """(col, row) of the grid's origin in the file's pixels when both share one pixel lattice, else None."""
    t, g = ds.transform, grid.affine
    if t.b != 0 or t.d != 0 or g.b != 0 or g.d != 0:
        return None
    if not (math.isclose(t.a, g.a, rel_tol=1e-9) and math.isclose(t.e, g.e, rel_tol=1e-9)):
        return None
    try:
        if CRS.from_user_input(grid.crs) != ds.crs:
            return None
    except CRSError:
        return None
    dc, dr = (g.c - t.c) / t.a, (g.f - t.f) / t.e
    if abs(dc - round(dc)) > 1e-6 or abs(dr - round(dr)) > 1e-6:
        return None
    return int(round(dc)), int(round(dr))


class FileReader:
    """One open file read onto the target grid: direct windows when it shares the grid's pixel
    lattice (values untouched), else through a WarpedVRT. Returns float32 with NaN for no-data."""

    def __init__(self, ds: Any, path: Path, sensor: Sensor, grid: Grid, resampling: Resampling, nodata: float | None) -> None:
        self.ds, self.path, self.sensor = ds, path, sensor
        self.nodata = nodata if nodata is not None else ds.nodata
        self.offset = _lattice_offset(ds, grid)
        self.vrt: WarpedVRT | None = None
        if self.offset is None:
            self.vrt = WarpedVRT(
                ds, crs=grid.crs, transform=grid.affine, width=grid.width, height=grid.height,
                resampling=resampling, src_nodata=self.nodata, nodata=np.nan, dtype="float32", tolerance=0.001,
            )

    @property
    def warped(self) -> bool:
        return self.vrt is not None

    def read(self, index: int, window: Window) -> np.ndarray:
        c0, r0, w, h = int(window.col_off), int(window.row_off), int(window.width), int(window.height)
        try:
            if self.vrt is not None:
                return self.vrt.read(index, window=Window(c0, r0, w, h)).astype(np.float32, copy=False)
            dc, dr = self.offset  # type: ignore[misc]
            out = np.full((h, w), np.nan, dtype=np.float32)
            sc0, sr0 = c0 + dc, r0 + dr
            ic0, ir0 = max(sc0, 0), max(sr0, 0)
            ic1, ir1 = min(sc0 + w, self.ds.width), min(sr0 + h, self.ds.height)
            if ic1 > ic0 and ir1 > ir0:
                part = self.ds.read(index, window=Window(ic0, ir0, ic1 - ic0, ir1 - ir0))
                part = part.astype(np.float32, copy=False)
                if self.nodata is not None and not math.isnan(self.nodata):
                    part = np.where(part == np.float32(self.nodata), np.float32(np.nan), part)
                out[ir0 - sr0: ir1 - sr0, ic0 - sc0: ic1 - sc0] = part
            return out
        except (*RIO_ERRORS, OSError) as e:
            if isinstance(e, SourceError):
                raise
            raise RasterFormatError(
                f"{self.sensor.upper()} file {self.path}: reading band {index} failed ({e}); the file is truncated or corrupt",
                fix=READ_FIX,
            ) from e

    def close(self) -> None:
        if self.vrt is not None:
            self.vrt.close()
            self.vrt = None
        self.ds.close()
