"""Finding a sidecar's rasters and bands: open a named file (or say why it cannot be used),
find a band by number or description, and catch a truncated GeoTIFF before any read."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import rasterio
from rasterio.errors import CRSError, RasterioError

from ...errors import RasterFormatError, SceneUnavailable
from ...models import Sensor
from .spec import BandRef

RIO_ERRORS = (RasterioError, CRSError)
READ_FIX = "re-export or re-download the file; `gdalinfo -checksum FILE` must run without errors"


def open_raster(path: Path, sensor: Sensor, sidecar: Path) -> rasterio.io.DatasetReader:
    """The open file; SceneUnavailable when it does not exist, RasterFormatError when it is not
    a georeferenced raster."""
    if not path.is_file():
        raise SceneUnavailable(
            f"{sensor.upper()} file {path} named in {sidecar} does not exist",
            fix=f"put the {sensor.upper()} GeoTIFF there or correct the file name in the sidecar; "
                f"write \"{sensor}\": null when the scene has no {sensor.upper()} acquisition",
        )
    try:
        ds = rasterio.open(path)
    except (*RIO_ERRORS, OSError) as e:
        raise RasterFormatError(f"{sensor.upper()} file {path} is not a readable GeoTIFF ({e})", fix=READ_FIX) from e
    if ds.crs is None:
        ds.close()
        raise RasterFormatError(
            f"{sensor.upper()} file {path} has no CRS",
            fix=f"assign the CRS it was exported in, e.g. `rio edit-info --crs EPSG:32633 {path.name}`, or re-export it georeferenced",
        )
    if ds.transform.is_identity:
        ds.close()
        raise RasterFormatError(
            f"{sensor.upper()} file {path} has no geotransform (pixel coordinates only)",
            fix=f"re-export it georeferenced, or set one with `rio edit-info --transform ... {path.name}`",
        )
    return ds


def resolve_index(ds: Any, ref: BandRef, band: str, sensor: Sensor, sidecar: Path) -> int:
    """The 1-based band number of ``band`` in ``ds``: the sidecar's, else the one described so."""
    if ref.index is None:
        wanted = {band.upper(), band.upper().replace("B0", "B")}
        hits = [i + 1 for i, d in enumerate(ds.descriptions) if d and d.strip().upper() in wanted]
        if len(hits) == 1:
            return hits[0]
        if sensor == "s1" and ds.count == 1:
            return 1
        raise RasterFormatError(
            f"{sensor.upper()} file {ref.path} has {ds.count} bands and none described as {band}",
            fix=f'set "{sensor}": {{"bands": {{"{band}": <1-based band number>}}}} in {sidecar}',
        )
    if not 1 <= ref.index <= ds.count:
        raise RasterFormatError(
            f"{sensor.upper()} file {ref.path} has no band {ref.index} (it has {ds.count}) for {band}",
            fix=f"correct the band number of {band} in {sidecar} (1..{ds.count})",
        )
    return ref.index


def check_blocks(ds: Any, path: Path, index: int, sensor: Sensor) -> None:
    """Detect a truncated GeoTIFF when the scene is opened, not mid-scene: every block of the
    band must end inside the file (GDAL's TIFF block table: BLOCK_OFFSET_x_y / BLOCK_SIZE_x_y)."""
    if ds.driver != "GTiff":
        return
    size = path.stat().st_size
    bh, bw = ds.block_shapes[index - 1]
    for y in range(math.ceil(ds.height / bh)):
        for x in range(math.ceil(ds.width / bw)):
            off = ds.get_tag_item(f"BLOCK_OFFSET_{x}_{y}", "TIFF", bidx=index)
            n = ds.get_tag_item(f"BLOCK_SIZE_{x}_{y}", "TIFF", bidx=index)
            if off is None or n is None:
                return  # block table not exposed: reads will report corruption instead
            end = int(off) + int(n)
            if end > size:
                raise RasterFormatError(
                    f"{sensor.upper()} file {path} is truncated: block ({x}, {y}) of band {index} ends at byte {end} "
                    f"but the file has {size} bytes",
                    fix=READ_FIX,
                )
