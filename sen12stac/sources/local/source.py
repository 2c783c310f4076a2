"""The ``local`` source: scenes from ``<root>/<scene>/scene.json`` folders (implements ``models.Source``).

Each scene becomes one ROI of its season's set, numbered by its sidecar's ``index`` or by
folder order; its grid is S1's own when that is a ``pixel_size`` UTM grid, else the UTM grid
of the scene centre covering S1's footprint (:mod:`.grid`).
"""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

from rasterio.enums import Resampling

from ...errors import ConfigError, SceneUnavailable, SourceError, describe
from ...models import ROI, Grid, SceneRequest
from ...recipe.seasons import SEASONS, season_by_name
from ...recipe.utm import to_lonlat
from .grid import PROJ_ERRORS, grid_of
from .rasters import open_raster
from .scene import LocalScene, check_v2
from .sidecar import SIDECAR, read_sidecar
from .spec import SceneSpec

RESAMPLING = {"nearest": Resampling.nearest, "bilinear": Resampling.bilinear, "cubic": Resampling.cubic}


class LocalSource:
    """Scenes from ``<root>/<scene>/scene.json`` folders (implements ``models.Source``).

    Sidecars are read and validated when the source is built (a bad one raises
    :class:`ConfigError`); rasters are opened per scene, so a broken file fails only its scene.
    """

    name = "local"

    def __init__(self, root: Path | str, *, pixel_size: float = 10.0, resampling: str = "bilinear", recipe: str = "v1") -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise ConfigError(f"local source folder {self.root} does not exist",
                              fix="point the local source at a folder of <scene>/scene.json folders (see docs/sources.md)")
        if not (isinstance(pixel_size, (int, float)) and math.isfinite(pixel_size) and pixel_size > 0):
            raise ConfigError(f"pixel size {pixel_size!r} is not a positive number", fix="use metres, e.g. 10.0")
        if resampling not in RESAMPLING:
            raise ConfigError(f"resampling {resampling!r} is not supported", fix=f"use one of {', '.join(RESAMPLING)}")
        self.pixel_size = float(pixel_size)
        self.resampling = resampling
        self.scenes: list[SceneSpec] = [
            read_sidecar(p / SIDECAR) for p in sorted(self.root.iterdir()) if p.is_dir() and (p / SIDECAR).is_file()
        ]
        if not self.scenes:
            raise ConfigError(f"local source folder {self.root} holds no scene folders with a {SIDECAR}",
                              fix=f"create <scene>/{SIDECAR} per scene (see docs/sources.md), e.g. with scripts/real_samples_to_local.py")
        if recipe == "v2":  # refuse an L1C (or undeclared) scene before any work starts
            for spec in self.scenes:
                check_v2(spec)
        self._index: dict[tuple[str, int], SceneSpec] = {}
        for season in SEASONS.values():
            members = [s for s in self.scenes if s.season == season.name]
            used: dict[int, SceneSpec] = {}
            for s in members:
                if s.explicit_index is not None:
                    if s.explicit_index in used:
                        raise ConfigError(
                            f"{s.sidecar}: key 'index' is {s.explicit_index}, also used by {used[s.explicit_index].sidecar} in season {season.name}",
                            fix="give each scene of a season its own index, or omit it to number scenes by folder order",
                        )
                    used[s.explicit_index] = s
            nxt = 0
            for s in members:  # folder-name order
                if s.explicit_index is None:
                    while nxt in used:
                        nxt += 1
                    used[nxt] = s
            for i, s in used.items():
                self._index[(season.set_name, i)] = s
        self._rois: dict[str, list[ROI]] = {}

    # -- helpers
    def scene_for(self, roi: ROI) -> SceneSpec:
        try:
            return self._index[(roi.set_name, roi.index)]
        except KeyError:
            raise ConfigError(f"ROI {roi.scene_id} is not a scene of the local source at {self.root}",
                              fix="use the ROIs that LocalSource.rois() returns") from None

    def _centre(self, spec: SceneSpec) -> tuple[float, float]:
        if spec.lon is not None and spec.lat is not None:
            return spec.lon, spec.lat
        errors: list[str] = []
        for sensor_spec in (spec.s1, spec.s2):
            if sensor_spec is None:
                continue
            path = sensor_spec.bands[0][1].path
            try:
                ds = open_raster(path, sensor_spec.sensor, spec.sidecar)
            except (SourceError, SceneUnavailable) as e:
                errors.append(describe(e))
                continue
            with ds:
                b = ds.bounds
                try:
                    lon, lat = to_lonlat(ds.crs.to_wkt(), (b.left + b.right) / 2.0, (b.bottom + b.top) / 2.0)
                except PROJ_ERRORS as e:
                    errors.append(f"{path}: {e}")
                    continue
                if math.isfinite(lon) and math.isfinite(lat):
                    return lon, lat
        raise ConfigError(
            f"{spec.sidecar}: cannot place scene {spec.name}: no readable raster and no 'lon'/'lat' ({'; '.join(errors)})",
            fix="fix the raster files, or add \"lon\" and \"lat\" (the scene centre) to the sidecar",
        )

    def _grid(self, spec: SceneSpec) -> Grid:
        for sensor_spec in (spec.s1, spec.s2):
            if sensor_spec is None:
                continue
            path = sensor_spec.bands[0][1].path
            ds = open_raster(path, sensor_spec.sensor, spec.sidecar)
            with ds:
                return grid_of(ds, path, sensor_spec.sensor, self.pixel_size)
        raise SceneUnavailable(f"scene {spec.name} has neither S1 nor S2 ({spec.sidecar})", fix="add the rasters")

    # -- Source
    def rois(self, season_name: str) -> list[ROI]:
        """One ROI per scene of the season, ordered by index; lon/lat is the scene centre."""
        season = season_by_name(season_name)
        if season.name not in self._rois:
            out = [
                ROI(season.set_name, idx, *self._centre(spec), spec.kind)
                for (set_name, idx), spec in sorted(self._index.items(), key=lambda kv: kv[0][1])
                if set_name == season.set_name
            ]
            self._rois[season.name] = out
        return list(self._rois[season.name])

    def grid_for(self, roi: ROI, default: Grid) -> Grid:
        """S1's grid when it is a ``pixel_size`` UTM grid; else the UTM grid of the scene centre
        covering S1's footprint. ``default`` is used only when neither raster can be read (then
        :meth:`open_scene` raises the precise error for the scene)."""
        spec = self.scene_for(roi)
        try:
            return self._grid(spec)
        except (SourceError, SceneUnavailable):
            if spec.s1 is not None and spec.s2 is not None:
                # S1 unusable: fall back to S2's grid so open_scene reports the S1 problem itself
                try:
                    return self._grid(replace(spec, s1=None))
                except (SourceError, SceneUnavailable):
                    pass
            return default

    def open_scene(self, request: SceneRequest) -> LocalScene:
        """Open the scene's pair on ``request.grid``. Raises SceneUnavailable (a sensor's file is
        absent), RasterFormatError (unreadable, no CRS, missing band), AlignmentError (no overlap,
        CRS not reprojectable)."""
        spec = self.scene_for(request.roi)
        if season_by_name(request.season_name).set_name != request.roi.set_name:
            raise ConfigError(f"season {request.season_name!r} does not match ROI set {request.roi.set_name}",
                              fix="request each ROI with the season it was listed for")
        return LocalScene(spec, request.grid, resampling=RESAMPLING[self.resampling], recipe=request.recipe)
