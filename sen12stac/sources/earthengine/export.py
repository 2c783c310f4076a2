"""Getting a scene's pixels out of Earth Engine onto the pipeline's grid, resumably.

Two paths, both ending in one GeoTIFF per image on exactly the scene's grid in the build's
cache folder (a finished file is never fetched again):

* :func:`download_pixels` -- direct download with ``ee.data.computePixels``, cut into chunks
  under the documented request limits (48 MB of uncompressed pixels, 32,768 px per side,
  1,024 bands; https://developers.google.com/earth-engine/reference/rest/v1/projects.image/computePixels).
  Each chunk is its own file as soon as it arrives, so an interrupted scene resumes at the
  next missing chunk.
* :class:`BatchExporter` -- ``Export.image.toCloudStorage`` / ``toDrive`` for large runs. The
  task's operation name is written to the cache folder the moment the task starts; a re-run
  asks Earth Engine for that task's state and polls it, downloads it when it has succeeded,
  and starts a new task only when it failed, was cancelled or is unknown.
"""
from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import ee
import numpy as np
import rasterio
from rasterio.windows import Window

from ...errors import ConfigError, SourceError
from ...models import Grid
from .graphs import pixel_grid

log = logging.getLogger("sen12stac.earthengine")

MAX_REQUEST_BYTES = 48 * 1024 * 1024  # computePixels: uncompressed pixels per request
MAX_REQUEST_SIDE = 32768  # computePixels: pixels per side
MAX_REQUEST_BANDS = 1024
DONE_STATES = ("SUCCEEDED", "FAILED", "CANCELLED")
ASSEMBLE_ROWS = 512

Progress = Callable[[str, dict], None]


@dataclass(frozen=True)
class Limits:
    max_bytes: int = MAX_REQUEST_BYTES
    max_side: int = MAX_REQUEST_SIDE
    max_bands: int = MAX_REQUEST_BANDS


def plan_chunks(grid: Grid, bytes_per_pixel: int, bands: int, limits: Limits = Limits()) -> list[Window]:
    """Windows covering ``grid``, each one request under ``limits``; whole rows when they fit."""
    if bands > limits.max_bands:
        raise ConfigError(f"{bands} bands exceed computePixels' {limits.max_bands}", fix="request fewer bands")
    px_bytes = bytes_per_pixel * bands
    w = min(grid.width, limits.max_side, max(1, limits.max_bytes // px_bytes))
    h = min(grid.height, limits.max_side, max(1, limits.max_bytes // (w * px_bytes)))
    if w * h * px_bytes > limits.max_bytes:
        raise ConfigError(f"one pixel of {px_bytes} bytes exceeds the request limit of {limits.max_bytes} bytes", fix="raise the limit")
    return [Window(c, r, min(w, grid.width - c), min(h, grid.height - r)) for r in range(0, grid.height, h) for c in range(0, grid.width, w)]


def atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def assemble(parts: list[Path], grid: Grid, dest: Path, *, dtype: str, count: int, nodata: float) -> Path:
    """Write ``parts`` (GeoTIFFs on ``grid``'s lattice, anywhere inside it) into one tiled GeoTIFF
    on exactly ``grid``; refuse a part whose georeference is not on the grid. Pixels no part
    covers are ``nodata`` (GDAL fills unwritten blocks with it)."""
    tmp = dest.with_name(dest.name + ".tmp")
    profile = {"driver": "GTiff", "width": grid.width, "height": grid.height, "count": count, "dtype": dtype, "crs": grid.crs,
               "transform": grid.affine, "nodata": nodata, "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "DEFLATE"}
    try:
        with rasterio.open(tmp, "w", **profile) as out:
            for part in parts:
                with rasterio.open(part) as src:
                    win = _window_on(src, grid, part)
                    if src.count != count:
                        raise SourceError(f"Earth Engine returned {src.count} band(s) in {part}, expected {count}", fix="delete the file and run again")
                    for r in range(0, src.height, ASSEMBLE_ROWS):  # by strips: bounded memory for whole-scene batch files
                        rows = min(ASSEMBLE_ROWS, src.height - r)
                        data = src.read(window=Window(0, r, src.width, rows)).astype(dtype, copy=False)
                        out.write(data, window=Window(win.col_off, win.row_off + r, win.width, rows))
        os.replace(tmp, dest)
    except rasterio.errors.RasterioError as exc:
        raise SourceError(f"cannot assemble Earth Engine pixels into {dest}: {exc}", fix=f"delete {dest.parent} and run again to fetch the scene anew") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _window_on(src: Any, grid: Grid, part: Path) -> Window:
    g, t = grid.affine, src.transform
    same_crs = src.crs is not None and rasterio.crs.CRS.from_user_input(grid.crs) == src.crs
    col, row = ~g @ (t.c, t.f)
    if not same_crs or not (math.isclose(t.a, g.a) and math.isclose(t.e, g.e) and t.b == 0 and t.d == 0) \
            or abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
        raise SourceError(f"Earth Engine returned {part} off the requested grid ({src.crs}, {tuple(t)[:6]} vs {grid.crs}, {grid.transform})",
                          fix="delete the file and run again; report it if it repeats")
    win = Window(int(round(col)), int(round(row)), src.width, src.height)
    if win.col_off < 0 or win.row_off < 0 or win.col_off + win.width > grid.width or win.row_off + win.height > grid.height:
        raise SourceError(f"{part} lies outside the scene grid", fix="delete the file and run again")
    return win


def download_pixels(image: ee.Image, grid: Grid, dest: Path, *, bands: list[str], dtype: str, nodata: float, limits: Limits = Limits(),
                    progress: Progress | None = None) -> Path:
    """``image`` on ``grid`` into ``dest`` through chunked ``computePixels`` requests (resumable)."""
    if dest.is_file():
        return dest
    parts_dir = dest.with_name(dest.stem + ".parts")
    parts_dir.mkdir(parents=True, exist_ok=True)
    chunks = plan_chunks(grid, np.dtype(dtype).itemsize, len(bands), limits)
    parts = []
    for i, w in enumerate(chunks):
        part = parts_dir / f"r{int(w.row_off):05d}_c{int(w.col_off):05d}.tif"
        if not part.is_file():
            request = {"expression": image, "fileFormat": "GEO_TIFF", "bandIds": bands,
                       "grid": pixel_grid(grid, int(w.col_off), int(w.row_off), int(w.width), int(w.height))}
            try:
                data = ee.data.computePixels(request)
            except (ee.EEException, OSError) as exc:
                raise SourceError(f"Earth Engine computePixels failed for {dest.name} chunk {i + 1}/{len(chunks)}: {' '.join(str(exc).split())}",
                                  fix="run the same command again: chunks already fetched are kept") from None
            atomic_write(part, data)
        parts.append(part)
        if progress:
            progress("chunk", {"file": dest.name, "done": i + 1, "total": len(chunks)})
    assemble(parts, grid, dest, dtype=dtype, count=len(bands), nodata=nodata)
    shutil.rmtree(parts_dir, ignore_errors=True)
    return dest


# --------------------------------------------------------------------------- batch export


class ExportTarget(Protocol):
    """Where a batch export lands and how its files come back."""

    def task(self, image: ee.Image, grid: Grid, name: str) -> ee.batch.Task: ...

    def fetch(self, name: str, operation: dict[str, Any], dest_dir: Path) -> list[Path]: ...


def _export_args(image: ee.Image, grid: Grid, name: str) -> dict[str, Any]:
    return {"image": image, "description": name[:100], "fileNamePrefix": name, "crs": grid.crs, "crsTransform": list(grid.transform),
            "dimensions": f"{grid.width}x{grid.height}", "maxPixels": 1e13, "fileFormat": "GeoTIFF"}


@dataclass(frozen=True)
class CloudStorageTarget:
    """``Export.image.toCloudStorage`` into ``gs://bucket/prefix/``; files downloaded with google-cloud-storage."""

    bucket: str
    prefix: str = "sen12stac"
    key_file: Path | None = None
    client: Callable[[], Any] | None = field(default=None, compare=False)  # a google.cloud.storage.Client factory (default: the key file's or ADC)

    def task(self, image: ee.Image, grid: Grid, name: str) -> ee.batch.Task:
        args = _export_args(image, grid, f"{self.prefix.strip('/')}/{name}")
        args["description"] = name[:100]
        return ee.batch.Export.image.toCloudStorage(bucket=self.bucket, **args)

    def fetch(self, name: str, operation: dict[str, Any], dest_dir: Path) -> list[Path]:
        from google.api_core import exceptions as gexc
        from google.cloud import storage  # installed with earthengine-api

        if self.client is not None:
            client = self.client()
        else:
            from .auth import load_credentials

            creds, project = load_credentials(self.key_file)
            client = storage.Client(project=project, credentials=creds)
        prefix = f"{self.prefix.strip('/')}/{name}"
        out = []
        try:
            for blob in client.list_blobs(self.bucket, prefix=prefix):
                base = blob.name[len(prefix):]
                if base == ".tif" or (base.startswith("-") and base.endswith(".tif")):  # name.tif or its tiles name-000...-000.tif
                    path = dest_dir / Path(blob.name).name
                    blob.download_to_filename(str(path))
                    out.append(path)
        except gexc.GoogleAPIError as exc:
            raise SourceError(f"cannot download export {name} from gs://{self.bucket}/{prefix}: {' '.join(str(exc).split())}",
                              fix="check that your credentials can read the bucket (roles/storage.objectViewer), then run the same command again") from None
        return out


@dataclass(frozen=True)
class DriveTarget:
    """``Export.image.toDrive`` into a Drive folder; files read from ``local_dir``, where that
    folder is synced to this machine (e.g. Google Drive for desktop)."""

    folder: str
    local_dir: Path

    def task(self, image: ee.Image, grid: Grid, name: str) -> ee.batch.Task:
        return ee.batch.Export.image.toDrive(folder=self.folder, **_export_args(image, grid, name))

    def fetch(self, name: str, operation: dict[str, Any], dest_dir: Path) -> list[Path]:
        found = sorted(p for p in Path(self.local_dir).glob(f"{name}*.tif") if p.name == f"{name}.tif" or p.name.startswith(f"{name}-"))
        if not found:
            raise SourceError(f"the export {name} succeeded but no {name}*.tif is in {self.local_dir} yet",
                              fix=f"wait for Drive to sync folder {self.folder!r} to {self.local_dir}, then run the same command again")
        out = []
        for p in found:
            shutil.copyfile(p, dest_dir / p.name)
            out.append(dest_dir / p.name)
        return out


class TaskLedger:
    """One small JSON file per export in the build's cache folder: the operation name and the
    last state seen. Written the moment a task starts, so a killed run never loses a task."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str) -> Path:
        return self.folder / (name.replace("/", "__") + ".json")

    def get(self, name: str) -> dict[str, Any] | None:
        p = self._path(name)
        if not p.is_file():
            return None
        try:
            return json.loads(p.read_text())
        except ValueError:
            return None

    def put(self, name: str, record: dict[str, Any]) -> None:
        atomic_write(self._path(name), (json.dumps(record, indent=1, sort_keys=True) + "\n").encode())

    def all(self) -> Iterator[dict[str, Any]]:
        for p in sorted(self.folder.glob("*.json")):
            yield json.loads(p.read_text())


def _state(operation: dict[str, Any]) -> str:
    return str(operation.get("metadata", {}).get("state", "PENDING"))


class BatchExporter:
    """Start (or find), poll and download one batch export per image."""

    def __init__(self, target: ExportTarget, ledger: TaskLedger, *, poll_seconds: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep, progress: Progress | None = None) -> None:
        self.target, self.ledger, self.poll_seconds, self.sleep, self.progress = target, ledger, poll_seconds, sleep, progress

    def _operation(self, name: str) -> dict[str, Any] | None:
        try:
            return ee.data.getOperation(name)
        except (ee.EEException, OSError) as exc:
            if "not found" in str(exc).lower() or "404" in str(exc):
                return None
            raise SourceError(f"cannot read the state of Earth Engine task {name}: {' '.join(str(exc).split())}",
                              fix="run the same command again: the task id is kept in the cache folder") from None

    def _start(self, image: ee.Image, grid: Grid, name: str) -> str:
        task = self.target.task(image, grid, name)
        try:
            task.start()
        except (ee.EEException, OSError) as exc:
            raise SourceError(f"Earth Engine refused export {name}: {' '.join(str(exc).split())}",
                              fix="check the bucket or Drive folder and the project's quota, then run again") from None
        self.ledger.put(name, {"name": name, "operation": task.name, "state": "PENDING", "started": time.time()})
        log.info("started Earth Engine export %s (%s)", name, task.name)
        return str(task.name)

    def export(self, image: ee.Image, grid: Grid, name: str, dest: Path, *, dtype: str, count: int, nodata: float) -> Path:
        if dest.is_file():
            return dest
        record = self.ledger.get(name)
        operation = self._operation(record["operation"]) if record else None
        if operation is not None and _state(operation) in ("FAILED", "CANCELLED"):
            log.info("export %s was %s; starting it again", name, _state(operation))
            operation = None
        op_name = record["operation"] if operation is not None and record else self._start(image, grid, name)
        while True:
            operation = operation or self._operation(op_name)
            if operation is None:
                raise SourceError(f"Earth Engine does not know task {op_name} any more", fix=f"delete {self.ledger._path(name)} and run again to start a new export")
            state, meta = _state(operation), operation.get("metadata", {})
            self.ledger.put(name, {**(self.ledger.get(name) or {}), "name": name, "operation": op_name, "state": state, "progress": meta.get("progress", 0.0)})
            log.info("Earth Engine export %s (%s): %s %.0f%%", name, op_name, state, 100.0 * float(meta.get("progress", 0.0) or 0.0))
            if self.progress:
                self.progress("task", {"name": name, "operation": op_name, "state": state, "progress": meta.get("progress", 0.0)})
            if operation.get("done") or state in DONE_STATES:
                break
            self.sleep(self.poll_seconds)
            operation = None
        if state != "SUCCEEDED" or "error" in operation:
            msg = operation.get("error", {}).get("message", state)
            raise SourceError(f"Earth Engine export {name} ({op_name}) ended {state}: {' '.join(str(msg).split())}",
                              fix="see the task at https://code.earthengine.google.com/tasks; run the same command again to start a new export")
        parts_dir = dest.with_name(dest.stem + ".parts")
        parts_dir.mkdir(parents=True, exist_ok=True)
        parts = self.target.fetch(name, operation, parts_dir)
        if not parts:
            raise SourceError(f"Earth Engine export {name} succeeded but produced no GeoTIFF", fix="see the task's output, then run again")
        assemble(parts, grid, dest, dtype=dtype, count=count, nodata=nodata)
        shutil.rmtree(parts_dir, ignore_errors=True)
        return dest
