"""Encode a patch as a Cloud-Optimized GeoTIFF, in memory, with GDAL's COG driver.

Measured here (FIELD-NOTES): the COG driver is about 2.4x faster than rio-cogeo's
``cog_translate`` on 256 px patches, and with one 256 px block and no overviews the
output is already a valid COG. rio-cogeo is used to validate.
"""
from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import rasterio
import rasterio.env
from rasterio.enums import ColorInterp
from rasterio.io import MemoryFile

from ..config import CogConfig
from ..errors import RasterFormatError
from ..models import Grid
from ..store.media import COG_MEDIA_TYPE


# Colour interpretation of the S2 COG's bands (B4, B3, B2): QGIS, GDAL and browsers show true
# colour without set-up. GDAL writes it as TIFF PHOTOMETRIC=RGB. S1's one band is grey (GDAL's default).
RGB = ("red", "green", "blue")

# One GDAL environment for encoding: no aux.xml sidecars, no directory scans.
_ENV = {"GDAL_PAM_ENABLED": "NO", "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}


def encoding_env() -> rasterio.Env:
    """The encoding environment, to enter once around many :func:`encode_cog` calls.

    Each call otherwise enters and leaves its own ``rasterio.Env``: leaving a nested one tears
    the GDAL environment down and rebuilds it (docs/scale.md). Inside this block the calls reuse it; the bytes are the same.
    """
    return rasterio.Env(**_ENV)


def _env() -> Any:
    """The encoding environment for one call: the one in force when it already holds the options."""
    if rasterio.env.hasenv():
        current = rasterio.env.getenv()
        if all(current.get(k) == v for k, v in _ENV.items()):
            return contextlib.nullcontext()
    return rasterio.Env(**_ENV)


def encode_cog(
    data: np.ndarray,
    grid: Grid,
    *,
    nodata: float | int | None,
    descriptions: tuple[str, ...] = (),
    config: CogConfig = CogConfig(),
    tags: dict[str, str] | None = None,
    scales: tuple[float, ...] | None = None,
    offsets: tuple[float, ...] | None = None,
    colorinterp: tuple[str, ...] | None = None,
    colormap: dict[int, tuple[int, int, int, int]] | None = None,
) -> bytes:
    """Return the bytes of a COG holding ``data`` (bands, rows, cols) on ``grid``.

    Deterministic: the same array, grid and options give the same bytes (no timestamps).
    Many calls in a row: inside one :func:`encoding_env` block.
    """
    if data.ndim != 3:
        raise RasterFormatError(f"encode_cog needs a (bands, rows, cols) array, got shape {data.shape}")
    bands, h, w = data.shape
    if (h, w) != (grid.height, grid.width):
        raise RasterFormatError(f"array is {w}x{h} but its grid is {grid.width}x{grid.height}")
    if colorinterp is not None and len(colorinterp) != bands:
        raise RasterFormatError(f"{len(colorinterp)} colour interpretations for {bands} bands")
    profile = {
        "driver": "COG",
        "width": w,
        "height": h,
        "count": bands,
        "dtype": data.dtype.name,
        "crs": grid.crs,
        "transform": grid.affine,
        "nodata": nodata,
        "compress": config.compress,
        "level": config.level,
        "predictor": config.predictor,
        "blocksize": config.blocksize,
        "overviews": "NONE",
        "BIGTIFF": "NO",
    }
    with _env(), MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(data)
            for i, d in enumerate(descriptions, start=1):
                dst.set_band_description(i, d)
            if scales is not None and offsets is not None:
                dst.scales = scales  # GDAL band scale/offset: physical = offset + scale * DN
                dst.offsets = offsets
            if colorinterp is not None:
                dst.colorinterp = [ColorInterp[name] for name in colorinterp]
            if colormap is not None:  # a one-band palette (v2's land-cover label: its classes' colours)
                dst.write_colormap(1, colormap)
            if tags:
                dst.update_tags(**tags)
        return bytes(mem.read())


def validate_cog_bytes(data: bytes) -> tuple[bool, list[str], list[str]]:
    """rio-cogeo's validator on in-memory bytes: (is_valid, errors, warnings)."""
    from rio_cogeo.cogeo import cog_validate

    with rasterio.Env(**_ENV), MemoryFile(data) as mem:
        return cog_validate(mem.name, quiet=True)
