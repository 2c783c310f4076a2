"""The ``local`` source: a folder of the user's own Sentinel-1 / Sentinel-2 GeoTIFF pairs.

Layout (documented in docs/sources.md)::

    <root>/<scene_name>/scene.json     the sidecar: season, optional index, files, acquisition metadata
    <root>/<scene_name>/<rasters>      the files the sidecar names (paths relative to the scene folder)

Each scene becomes one ROI of its season's set. Its grid is S1's own grid when S1 is
already on a ``pixel_size`` UTM grid (values pass through bit-identical); otherwise the
UTM grid (zone of the scene centre) at ``pixel_size`` covering S1's footprint. Every raster
is read by window; a raster whose grid is not the target grid is read through a
``WarpedVRT`` onto it (S2 aligned onto S1), so memory stays bounded for large scenes.

Resampling: bilinear for both sensors by default. S1 given in dB is interpolated in dB
(an approximation; give linear power with ``"units": "linear"`` to interpolate in power).

One job per module, in the order a scene meets them:

- :mod:`.sidecar` -- ``scene.json`` as a pydantic model; a bad one is one ``ConfigError`` line
- :mod:`.spec` -- what a valid sidecar says (files resolved, bands in output order)
- :mod:`.rasters` -- opening the named files and finding their bands
- :mod:`.grid` -- footprints, overlaps and the scene's grid
- :mod:`.reader` -- one file read by window onto the grid (direct or through a WarpedVRT)
- :mod:`.scene` -- the S1/S2 pair of one scene (``SceneRaster``)
- :mod:`.source` -- the scenes of a folder as ROIs (``Source``)
"""
from __future__ import annotations

from .scene import LocalScene
from .sidecar import SIDECAR, Sidecar, read_sidecar
from .source import LocalSource
from .spec import BandRef, SceneSpec, SensorSpec

__all__ = ["LocalSource", "LocalScene", "SIDECAR", "Sidecar", "read_sidecar", "SceneSpec", "SensorSpec", "BandRef"]
