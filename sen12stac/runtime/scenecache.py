"""Keep the rows of a scene that the build has read, so the source is read once.

The build reads a scene twice: full-width strips for statistics and scene QC, then
full-width 256-row strips at stride 128 for the patches, so every row is asked for three
times. For a source that renders (synthetic) or reprojects (local) on each read that was
about a fifth of a build's time (cProfile, bench/results/build.md). :class:`CachedScene`
wraps any :class:`~sen12stac.models.SceneRaster` and keeps the full-width rows it has
returned; the build wraps a scene only when its arrays fit ``scene_cache_mb``
(a 4,480 px scene: about 200 MB), otherwise it streams as before (memory bounded by a strip).

Values are those of the wrapped source's reads of the same rows, so for a source whose
pixel values do not depend on the window that reads them (synthetic: by construction;
local: GDAL's warped reads) the published bytes are unchanged.

The arrays of a closed scene are kept for the next scene of the same size in the process
(one per sensor, and only when nothing still views them): on a virtual machine that hands
freed memory back to its host (virtio-balloon free page reporting, as here), touching 200 MB
of fresh pages costs about 0.4 s of kernel time, every scene. :func:`release_spares` lets
them go (the build calls it when it ends).
"""
from __future__ import annotations

import sys
import threading
from typing import Any

import numpy as np
from rasterio.windows import Window

from ..models import Grid


_SPARE_LOCK = threading.Lock()
_spares: dict[int, np.ndarray] = {}  # sensor -> the arrays of the last closed scene


def _array(sensor: int, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    with _SPARE_LOCK:
        spare = _spares.pop(sensor, None)
    if spare is not None and spare.shape == shape and spare.dtype == dtype:
        return spare
    return np.empty(shape, dtype=dtype)  # a spare of another size is let go


def _keep(sensor: int, arr: np.ndarray) -> None:
    # three references: the caller's, this argument and getrefcount's own; a view still in
    # use elsewhere would add one (its base), and then the array is not reused
    if sys.getrefcount(arr) <= 3:
        with _SPARE_LOCK:
            _spares.setdefault(sensor, arr)


def release_spares() -> None:
    """Let go of the arrays kept for the next scene."""
    with _SPARE_LOCK:
        _spares.clear()


def scene_bytes(grid: Grid, s1_bands: int = 1, s2_bands: int = 3) -> int:
    """Memory the cached arrays of a scene take (S1 float32, S2 uint16)."""
    return grid.width * grid.height * (4 * s1_bands + 2 * s2_bands)


_READERS = ("read_s1", "read_s2", "read_label", "read_scl")


class CachedScene:
    """A SceneRaster that serves full-width windows from rows it has already read."""

    def __init__(self, scene: Any, grid: Grid) -> None:
        self._scene = scene
        self._grid = grid
        self._rows: dict[int, np.ndarray] = {}  # sensor -> (bands, height, width), allocated on first read
        self._have: dict[int, np.ndarray] = {}  # sensor -> bool per row

    def __getattr__(self, name: str) -> Any:  # s1, s2 acquisitions, seam_mask, anything else
        return getattr(self._scene, name)

    def read_s1(self, window: Window) -> np.ndarray:
        return self._read(0, window)

    def read_s2(self, window: Window) -> np.ndarray:
        return self._read(1, window)

    def read_label(self, window: Window) -> np.ndarray:  # recipe v2 (sen12stac/recipe/recipes.py)
        return self._read(2, window)

    def read_scl(self, window: Window) -> np.ndarray | None:  # recipe v2; None when the source has no SCL
        return self._read(3, window)

    def close(self) -> None:
        rows, self._rows = self._rows, {}
        while rows:
            sensor, arr = rows.popitem()
            _keep(sensor, arr)
            del arr
        self._have.clear()
        self._scene.close()

    def _inner(self, sensor: int, window: Window) -> np.ndarray:
        return getattr(self._scene, _READERS[sensor])(window)

    def _read(self, sensor: int, window: Window) -> np.ndarray:
        r0, h = int(window.row_off), int(window.height)
        if int(window.col_off) != 0 or int(window.width) != self._grid.width or h <= 0 or r0 < 0 or r0 + h > self._grid.height:
            return self._inner(sensor, window)  # not a full-width strip of the scene: pass through
        have = self._have.get(sensor)
        if have is None:
            have = self._have[sensor] = np.zeros(self._grid.height, dtype=bool)
        missing = np.flatnonzero(~have[r0 : r0 + h])
        if missing.size:
            a, b = r0 + int(missing[0]), r0 + int(missing[-1]) + 1
            data = self._inner(sensor, Window(0, a, self._grid.width, b - a))
            if data is None:  # a source without this layer (v2's SCL is optional)
                return None
            rows = self._rows.get(sensor)
            if rows is None:
                rows = self._rows[sensor] = _array(sensor, (data.shape[0], self._grid.height, self._grid.width), data.dtype)
            if data.shape != (rows.shape[0], b - a, self._grid.width) or data.dtype != rows.dtype:
                return self._inner(sensor, window)  # unexpected shape: let the build's own check report it
            rows[:, a:b] = data
            have[a:b] = True
        return self._rows[sensor][:, r0 : r0 + h]
