"""A fake Earth Engine REST server behind earthengine-api's HTTP transport (offline tests).

``ee.Initialize``, graph building, serialization and every ``ee.data`` call run for real
(:mod:`sen12stac.sources.earthengine.offline`); this class answers the requests they send:

* ``value:compute``   scene metadata (granules) and randomPoints coordinates;
* ``image:computePixels``  real Sentinel rasters resampled (nearest, like Earth Engine's
  default) onto the requested grid, as GeoTIFF; the documented request limits are enforced
  (400 above 48 MB of pixels, 32,768 px per side);
* ``image:export`` + ``operations/<id>``  batch tasks that move PENDING -> RUNNING -> SUCCEEDED
  (or FAILED) over successive polls and then write the GeoTIFF into a "Drive" folder.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.io import MemoryFile
from pyproj import Transformer

from conftest import real_samples

MAX_BYTES = 48 * 1024 * 1024
MAX_SIDE = 32768

# a real S1/S2 pair (Sen1Floods11, SE Spain; EPSG:4326 at ~10 m): S1 VV is band 1, S2 B4/B3/B2 are bands 4/3/2
SPAIN_LONLAT = (-0.7590, 38.1060)


def spain_pair() -> dict[str, tuple[Path, list[int]]]:
    root = real_samples() / "sen1floods11"
    return {"s1": (root / "Spain_7370579_S1Hand.tif", [1]), "s2": (root / "Spain_7370579_S2Hand.tif", [4, 3, 2])}


# granule metadata as Earth Engine returns it for the two catalogs (ids in the real formats)
S1_GRANULES = [
    {"id": "S1A_IW_GRDH_1SDV_20170905T174325_20170905T174350_018249_01EAA7_1C5B", "time": 1504633405000,
     "platform_number": "A", "orbitProperties_pass": "ASCENDING", "relativeOrbitNumber_start": 103},
    {"id": "S1B_IW_GRDH_1SDV_20170917T061031_20170917T061056_007403_00D0E5_4A3E", "time": 1505628631000,
     "platform_number": "B", "orbitProperties_pass": "DESCENDING", "relativeOrbitNumber_start": 110},
]
S2_GRANULES = [
    {"id": "20170918T105019_20170918T105609_T30SXH", "time": 1505731819000, "PRODUCT_ID": "S2A_MSIL1C_20170918T105019_N0205_R051_T30SXH_20170918T105609",
     "SPACECRAFT_NAME": "Sentinel-2A", "SENSING_ORBIT_NUMBER": 51, "SENSING_ORBIT_DIRECTION": "DESCENDING", "CLOUDY_PIXEL_PERCENTAGE": 0.2, "MGRS_TILE": "30SXH"},
    {"id": "20171003T105021_20171003T105400_T30SXH", "time": 1507027821000, "PRODUCT_ID": "S2B_MSIL1C_20171003T105021_N0205_R051_T30SXH_20171003T105400",
     "SPACECRAFT_NAME": "Sentinel-2B", "SENSING_ORBIT_NUMBER": 51, "SENSING_ORBIT_DIRECTION": "DESCENDING", "CLOUDY_PIXEL_PERCENTAGE": 0.7, "MGRS_TILE": "30SXH"},
]


def find(node: Any, key: str) -> list[Any]:
    """Every value stored under ``key`` anywhere in a JSON tree."""
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                out.append(v)
            out.extend(find(v, key))
    elif isinstance(node, list):
        for v in node:
            out.extend(find(v, key))
    return out


def constants(node: Any) -> list[Any]:
    return find(node, "constantValue")


def function_names(node: Any) -> set[str]:
    return set(find(node, "functionName"))


class FakeEarthEngine:
    def __init__(self, *, pair: dict[str, tuple[Path, list[int]]] | None = None, s1: list | None = None, s2: list | None = None,
                 points: dict | None = None, drive_dir: Path | None = None, polls_to_finish: int = 2, fail_first: bool = False,
                 deny: str | None = None, gcs_root: Path | None = None) -> None:
        self.pair = pair or spain_pair()
        self.s1 = S1_GRANULES if s1 is None else s1
        self.s2 = S2_GRANULES if s2 is None else s2
        self.points = points
        self.drive_dir, self.gcs_root = drive_dir, gcs_root
        self.polls_to_finish, self.fail_first, self.deny = polls_to_finish, fail_first, deny
        self.operations: dict[str, dict] = {}
        self.log: list[tuple[str, str, Any]] = []

    # ---------------------------------------------------------------- rendering
    def render(self, kind: str, crs: str, transform: Affine, width: int, height: int) -> bytes:
        if kind == "top":  # two S2 granules: the left third acquired on one date, the rest on another
            data = np.full((1, height, width), 17 * 86400, dtype=np.int32)
            x0 = transform.c
            cols = np.arange(width) * transform.a + x0
            data[0, :, cols < self._seam_x] = 2 * 86400
            dtype, nodata = "int32", -1
        else:
            path, bands = self.pair[kind]
            data = self._nearest(path, bands, crs, transform, width, height)
            if kind == "s1":
                data = np.where(np.isfinite(data), data, -9999.0).astype(np.float32)
                dtype, nodata = "float32", -9999.0
            else:
                data = np.clip(data, 0, 65535).astype(np.uint16)
                dtype, nodata = "uint16", 0
        with MemoryFile() as mem:
            with mem.open(driver="GTiff", width=width, height=height, count=data.shape[0], dtype=dtype, crs=crs, transform=transform, nodata=nodata) as ds:
                ds.write(data)
            return mem.read()

    @staticmethod
    def _nearest(path: Path, bands: list[int], crs: str, transform: Affine, width: int, height: int) -> np.ndarray:
        """Nearest-neighbour resampling, exact per pixel centre (so any chunking of a grid
        gives the same pixels, as on Earth Engine); outside the source: its no-data."""
        with rasterio.open(path) as src:
            arr = src.read(bands)
            nodata = src.nodata if src.nodata is not None else 0
            cols, rows = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
            t = transform
            xs, ys = t.a * cols + t.b * rows + t.c, t.d * cols + t.e * rows + t.f
            lon, lat = Transformer.from_crs(crs, src.crs.to_wkt(), always_xy=True).transform(xs, ys)
            inv = ~src.transform
            sc, sr = inv.a * lon + inv.b * lat + inv.c, inv.d * lon + inv.e * lat + inv.f
            sc, sr = np.floor(sc).astype(int), np.floor(sr).astype(int)
            inside = (sc >= 0) & (sr >= 0) & (sc < src.width) & (sr < src.height)
            out = np.full((len(bands), height, width), nodata, dtype=arr.dtype)
            out[:, inside] = arr[:, sr[inside], sc[inside]]
            return out

    _seam_x = -1e18  # set by tests to put a seamline into the scene (metres, in the scene CRS)

    @staticmethod
    def kind_of_bands(bands: list[str]) -> str:
        return {"VV": "s1", "B4": "s2", "top": "top"}[bands[0]]

    # ---------------------------------------------------------------- the REST API
    def __call__(self, method: str, path: str, body: Any):
        self.log.append((method, path, body))
        if self.deny and path.endswith("/algorithms"):
            return 403, {"error": {"code": 403, "status": "PERMISSION_DENIED", "message": self.deny}}
        if path == "token" or path.endswith("/token"):  # OAuth token exchange of a service-account credential
            return 200, {"access_token": "fake-token", "expires_in": 3600, "token_type": "Bearer"}
        if path.endswith("value:compute"):
            return self._compute(body)
        if path.endswith("image:computePixels"):
            return self._pixels(body)
        if path.endswith("image:export"):
            return self._export(body)
        if "/operations/" in path:
            return self._operation(path.split("/operations/", 1)[1])
        return None  # the algorithm list: from the recorded fixture

    def _compute(self, body: dict):
        expr = body["expression"]
        names = function_names(expr)
        if "FeatureCollection.randomPoints" in names:
            return 200, {"result": self.points}
        if "Collection.toList" in names:
            return 200, {"result": {"s1_count": len(self.s1), "s2_count": len(self.s2), "s1": self.s1, "s2": self.s2}}
        return 400, {"error": {"code": 400, "message": "fake: unexpected computation", "status": "INVALID_ARGUMENT"}}

    def _pixels(self, body: dict):
        grid, bands = body["grid"], body["bandIds"]
        w, h = grid["dimensions"]["width"], grid["dimensions"]["height"]
        size = {"s1": 4, "s2": 2, "top": 4}[self.kind_of_bands(bands)] * len(bands)
        if w > MAX_SIDE or h > MAX_SIDE or w * h * size > MAX_BYTES:
            return 400, {"error": {"code": 400, "message": f"Total request size ({w * h * size} bytes) must be less than or equal to {MAX_BYTES} bytes.", "status": "INVALID_ARGUMENT"}}
        if body.get("fileFormat") != "GEO_TIFF":
            return 400, {"error": {"code": 400, "message": "fake serves GEO_TIFF only", "status": "INVALID_ARGUMENT"}}
        t = grid["affineTransform"]
        transform = Affine(t["scaleX"], t.get("shearX", 0), t["translateX"], t.get("shearY", 0), t["scaleY"], t["translateY"])
        return 200, self.render(self.kind_of_bands(bands), grid["crsCode"], transform, w, h)

    def _export(self, body: dict):
        op_id = f"OP{len(self.operations) + 1:04d}"
        name = f"projects/fake/operations/{op_id}"
        self.operations[op_id] = {"body": body, "polls": 0, "fail": self.fail_first and not self.operations}
        return 200, {"name": name, "metadata": {"@type": "type.googleapis.com/google.earthengine.v1alpha.OperationMetadata", "state": "PENDING",
                                                "description": body.get("description"), "type": "EXPORT_IMAGE"}, "done": False}

    def _operation(self, op_id: str):
        op = self.operations.get(op_id)
        if op is None:
            return 404, {"error": {"code": 404, "message": "Operation not found.", "status": "NOT_FOUND"}}
        op["polls"] += 1
        name = f"projects/fake/operations/{op_id}"
        meta = {"@type": "type.googleapis.com/google.earthengine.v1alpha.OperationMetadata", "type": "EXPORT_IMAGE", "description": op["body"].get("description")}
        if op["polls"] < self.polls_to_finish:
            return 200, {"name": name, "metadata": {**meta, "state": "RUNNING", "progress": op["polls"] / self.polls_to_finish}, "done": False}
        if op["fail"]:
            return 200, {"name": name, "metadata": {**meta, "state": "FAILED"}, "done": True, "error": {"code": 13, "message": "Export failed: internal error"}}
        self._write_export(op["body"])
        return 200, {"name": name, "metadata": {**meta, "state": "SUCCEEDED", "progress": 1.0}, "done": True}

    def _write_export(self, body: dict) -> None:
        expr = expand(body["expression"])
        options = body["fileExportOptions"]
        dest = options.get("driveDestination") or options["cloudStorageDestination"]
        crs = next(c for c in constants(expr) if isinstance(c, str) and c.startswith("EPSG:"))
        a, b, c, d, e, f = next(v for v in constants(expr) if isinstance(v, list) and len(v) == 6)
        dims = next(v for v in constants(expr) if isinstance(v, list) and len(v) == 4 and v[:2] == [0, 0])
        kind = "top" if "Image.rename" in function_names(expr) else self.kind_of_bands(selected_bands(expr)[0])
        data = self.render(kind, crs, Affine(a, b, c, d, e, f), int(dims[2]), int(dims[3]))
        if "bucket" in dest:  # Cloud Storage: the object lands in the fake bucket folder
            assert self.gcs_root is not None
            target = self.gcs_root / dest["bucket"] / f"{dest['filenamePrefix']}.tif"
        else:
            assert self.drive_dir is not None
            target = self.drive_dir / f"{dest['filenamePrefix']}.tif"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def selected_bands(expanded: Any) -> list[list[str]]:
    """The band lists of every Image.select in an expanded graph."""
    out = []
    for inv in find(expanded, "functionInvocationValue"):
        if inv.get("functionName") == "Image.select":
            sel = inv["arguments"]["bandSelectors"]
            out.append(sel["constantValue"] if "constantValue" in sel else [v["constantValue"] for v in sel["arrayValue"]["values"]])
    return out


def expand(graph: dict) -> Any:
    """A serialized graph with every ``valueReference`` replaced by the value it names."""
    values = graph["values"]

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"valueReference"}:
                return walk(values[node["valueReference"]])
            if "functionDefinitionValue" in node:  # a mapped function: its body is a value id
                fd = node["functionDefinitionValue"]
                return {"functionDefinitionValue": {"argumentNames": fd["argumentNames"], "body": walk(values[fd["body"]])}}
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(values[graph["result"]])
