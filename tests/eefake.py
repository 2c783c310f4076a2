"""Earth Engine's REST API on 127.0.0.1, for earthengine-api's real client in tests (offline).

``ee.Initialize(url=<this server>)`` runs unchanged: earthengine-api and google-api-python-client
fetch the discovery document and the algorithm list from here over HTTP, build their request
code from them, and every ``ee.data`` call (``value:compute``, ``image:computePixels``,
``image:export``, ``operations/<id>``) and a service account's token exchange arrive here as
real HTTP requests. Nothing of earthengine-api is replaced or read from its own test data.

* :func:`discovery_document` and :data:`ALGORITHMS` describe only the part of the API this
  project uses. **Written for these tests from Google's public references** (the Earth Engine
  REST API reference, https://developers.google.com/earth-engine/reference/rest, for the
  methods; the API docs of each algorithm, https://developers.google.com/earth-engine/apidocs,
  for the argument names, types and order), not copied from earthengine-api's files. The
  golden graphs (tests/earthengine/golden/) show they match: the graphs
  ``.serialize()`` builds from them are the ones the client built against the service's own
  list.
* :class:`EarthEngineApi` serves them (and refuses, as a proxy, the data catalog request
  ``ee.Initialize`` makes with urllib: :meth:`EarthEngineApi.offline_env`).
* :class:`FakeEarthEngine` answers the computations:

  * ``value:compute``   scene metadata (granules) and randomPoints coordinates;
  * ``image:computePixels``  real Sentinel rasters resampled (nearest, like Earth Engine's
    default) onto the requested grid, as GeoTIFF; the documented request limits are enforced
    (400 above 48 MB of pixels, 32,768 px per side);
  * ``image:export`` + ``operations/<id>``  batch tasks that move PENDING -> RUNNING -> SUCCEEDED
    (or FAILED) over successive polls and then write the GeoTIFF into a "Drive" folder.
"""
from __future__ import annotations

import contextlib
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import numpy as np
import rasterio
from affine import Affine
from pyproj import Transformer
from rasterio.io import MemoryFile

MAX_BYTES = 48 * 1024 * 1024
MAX_SIDE = 32768

# a real S1/S2 pair (Sen1Floods11, SE Spain; EPSG:4326 at ~10 m): S1 VV is band 1, S2 B4/B3/B2 are bands 4/3/2
SPAIN_LONLAT = (-0.7590, 38.1060)


def spain_pair() -> dict[str, tuple[Path, list[int]]]:
    from conftest import real_samples

    root = real_samples() / "sen1floods11"
    return {"s1": (root / "Spain_7370579_S1Hand.tif", [1]), "s2": (root / "Spain_7370579_S2Hand.tif", [4, 3, 2]),
            # recipe v2's requests: VV+VH, and the stack's 12 bands B1..B12 with B8A (B10 left out) standing in
            # for S2_SR_HARMONIZED (the fake serves pixels; their level is not what these tests check)
            "s1v2": (root / "Spain_7370579_S1Hand.tif", [1, 2]),
            "s2v2": (root / "Spain_7370579_S2Hand.tif", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13])}


# ----------------------------------------------------------------------------- the API description
# Written for these tests from Google's public references (see the module docstring); only what
# the earthengine source and earthengine-api's initialization use.

#: algorithm -> (return type, [(argument, type, optional)]), arguments in the documented order.
#: Types as the REST ``Algorithm`` resource names them; an argument documented with several
#: types (``Feature|Geometry|Object``) is ``Object``.
ALGORITHMS: dict[str, tuple[str, list[tuple[str, str, bool]]]] = {
    "Collection.filter": ("FeatureCollection", [("collection", "FeatureCollection", False), ("filter", "Filter", False)]),
    "Collection.first": ("Element", [("collection", "FeatureCollection", False)]),
    "Collection.geometry": ("Geometry", [("collection", "FeatureCollection", False), ("maxError", "ErrorMargin", True)]),
    "Collection.limit": ("FeatureCollection", [("collection", "FeatureCollection", False), ("limit", "Integer", True), ("key", "String", True),
                                               ("ascending", "Boolean", True)]),
    "Collection.loadTable": ("FeatureCollection", [("tableId", "Object", False), ("geometryColumn", "String", True), ("version", "Long", True)]),
    "Collection.map": ("FeatureCollection", [("collection", "FeatureCollection", False), ("baseAlgorithm", "Algorithm", False), ("dropNulls", "Boolean", True)]),
    "Collection.size": ("Integer", [("collection", "FeatureCollection", False)]),
    "Collection.toList": ("List", [("collection", "FeatureCollection", False), ("count", "Integer", False), ("offset", "Integer", True)]),
    "Date": ("Date", [("value", "Object", False), ("timeZone", "String", True)]),
    "Date.millis": ("Long", [("date", "Date", False)]),
    "DateRange": ("DateRange", [("start", "Object", False), ("end", "Object", True), ("timeZone", "String", True)]),
    "Dictionary.set": ("Dictionary", [("dictionary", "Dictionary", False), ("key", "String", False), ("value", "Object", False)]),
    "Element.get": ("Object", [("object", "Element", False), ("property", "String", False)]),
    "Element.toDictionary": ("Dictionary", [("element", "Element", False), ("properties", "List", True)]),
    "ErrorMargin": ("ErrorMargin", [("value", "Float", True), ("unit", "String", True)]),
    "Feature": ("Feature", [("geometry", "Geometry", False), ("metadata", "Dictionary", True)]),
    "FeatureCollection.randomPoints": ("FeatureCollection", [("region", "Geometry", False), ("points", "Integer", True), ("seed", "Long", True),
                                                             ("maxError", "ErrorMargin", True)]),
    "Filter.dateRangeContains": ("Filter", [("leftField", "String", True), ("rightValue", "Object", True), ("rightField", "String", True),
                                            ("leftValue", "Object", True)]),
    "Filter.equals": ("Filter", [("leftField", "String", True), ("rightValue", "Object", True), ("rightField", "String", True), ("leftValue", "Object", True)]),
    "Filter.greaterThan": ("Filter", [("leftField", "String", True), ("rightValue", "Object", True), ("rightField", "String", True),
                                      ("leftValue", "Object", True)]),
    "Filter.intersects": ("Filter", [("leftField", "String", True), ("rightValue", "Object", True), ("rightField", "String", True),
                                     ("leftValue", "Object", True), ("maxError", "ErrorMargin", True)]),
    "Filter.listContains": ("Filter", [("leftField", "String", True), ("rightValue", "Object", True), ("rightField", "String", True),
                                       ("leftValue", "Object", True)]),
    "Filter.not": ("Filter", [("filter", "Filter", False)]),
    "Geometry.coordinates": ("List", [("geometry", "Geometry", False)]),
    "Geometry.intersection": ("Geometry", [("left", "Geometry", False), ("right", "Geometry", False), ("maxError", "ErrorMargin", True),
                                           ("proj", "Projection", True)]),
    "GeometryConstructors.MultiPolygon": ("Geometry", [("coordinates", "List", False), ("crs", "Projection", True), ("geodesic", "Boolean", True),
                                                       ("maxError", "ErrorMargin", True), ("evenOdd", "Boolean", True)]),
    "GeometryConstructors.Rectangle": ("Geometry", [("coordinates", "List", False), ("crs", "Projection", True), ("geodesic", "Boolean", True),
                                                    ("evenOdd", "Boolean", True)]),
    "Image.addBands": ("Image", [("dstImg", "Image", False), ("srcImg", "Image", False), ("names", "List", True), ("overwrite", "Boolean", True)]),
    "Image.clip": ("Image", [("input", "Image", False), ("geometry", "Object", False)]),
    "Image.clipToBoundsAndScale": ("Image", [("input", "Image", False), ("geometry", "Geometry", True), ("width", "Integer", True), ("height", "Integer", True),
                                             ("maxDimension", "Integer", True), ("scale", "Float", True)]),
    "Image.constant": ("Image", [("value", "Object", False)]),
    "Image.mask": ("Image", [("image", "Image", False), ("mask", "Image", True)]),
    "Image.max": ("Image", [("image1", "Image", False), ("image2", "Image", False)]),
    "Image.projection": ("Projection", [("image", "Image", False)]),
    "Image.rename": ("Image", [("input", "Image", False), ("names", "List", False)]),
    "Image.reproject": ("Image", [("image", "Image", False), ("crs", "Projection", False), ("crsTransform", "List", True), ("scale", "Float", True)]),
    "Image.resample": ("Image", [("image", "Image", False), ("mode", "String", True)]),
    "Image.select": ("Image", [("input", "Image", False), ("bandSelectors", "List", False), ("newNames", "List", True)]),
    "Image.toFloat": ("Image", [("value", "Image", False)]),
    "Image.toInt32": ("Image", [("value", "Image", False)]),
    "Image.toUint16": ("Image", [("value", "Image", False)]),
    "Image.toUint8": ("Image", [("value", "Image", False)]),
    "Image.unmask": ("Image", [("input", "Image", False), ("value", "Image", True), ("sameFootprint", "Boolean", True)]),
    "Image.updateMask": ("Image", [("image", "Image", False), ("mask", "Image", False)]),
    "ImageCollection.load": ("ImageCollection", [("id", "String", False), ("version", "Long", True)]),
    "ImageCollection.mosaic": ("Image", [("collection", "ImageCollection", False)]),
    "List.map": ("List", [("list", "List", False), ("baseAlgorithm", "Algorithm", False), ("dropNulls", "Boolean", True)]),
    "Number.divide": ("Number", [("left", "Number", False), ("right", "Number", False)]),
    "Number.round": ("Number", [("input", "Number", False)]),
    "Number.subtract": ("Number", [("left", "Number", False), ("right", "Number", False)]),
    "Projection": ("Projection", [("crs", "Object", False), ("transform", "List", True), ("transformWkt", "String", True)]),
}


def algorithm_list() -> dict[str, Any]:
    """:data:`ALGORITHMS` as the REST API's ``ListAlgorithmsResponse``."""
    return {"algorithms": [
        {"name": f"algorithms/{name}", "description": "", "returnType": returns,
         "arguments": [{"argumentName": a, "type": t, **({"optional": True} if optional else {})} for a, t, optional in args]}
        for name, (returns, args) in sorted(ALGORITHMS.items())
    ]}


def _path_param(pattern: str) -> dict[str, Any]:
    return {"type": "string", "location": "path", "required": True, "pattern": pattern}


def _method(method_id: str, http: str, path: str, param: str, pattern: str, request: str | None, response: str) -> dict[str, Any]:
    out: dict[str, Any] = {"id": method_id, "httpMethod": http, "path": path, "flatPath": path, "parameterOrder": [param],
                           "parameters": {param: _path_param(pattern)}, "response": {"$ref": response}}
    if request:
        out["request"] = {"$ref": request}
    return out


def discovery_document(root_url: str) -> dict[str, Any]:
    """The REST discovery document of the Earth Engine API (v1), the methods the earthengine
    source calls only, with ``rootUrl`` this server."""
    project = "^projects/[^/]+$"
    schemas = ("ListAlgorithmsResponse", "ComputeValueRequest", "ComputeValueResponse", "ComputePixelsRequest", "HttpBody",
               "ExportImageRequest", "Operation")
    return {
        "kind": "discovery#restDescription", "discoveryVersion": "v1", "id": "earthengine:v1", "name": "earthengine", "version": "v1",
        "title": "Google Earth Engine API (the part sen12stac uses; written for its tests)", "protocol": "rest",
        "rootUrl": root_url, "servicePath": "", "baseUrl": root_url, "batchPath": "batch",
        "parameters": {
            "alt": {"type": "string", "location": "query", "default": "json", "enum": ["json", "media", "proto"]},
            "prettyPrint": {"type": "boolean", "location": "query", "default": "true"},
            "fields": {"type": "string", "location": "query"},
            "key": {"type": "string", "location": "query"},
            "quotaUser": {"type": "string", "location": "query"},
            "$.xgafv": {"type": "string", "location": "query", "enum": ["1", "2"]},
        },
        "schemas": {name: {"id": name, "type": "object", "properties": {}} for name in schemas},
        "resources": {"projects": {"resources": {
            "algorithms": {"methods": {
                "list": _method("earthengine.projects.algorithms.list", "GET", "v1/{+parent}/algorithms", "parent", project, None, "ListAlgorithmsResponse"),
            }},
            "value": {"methods": {
                "compute": _method("earthengine.projects.value.compute", "POST", "v1/{+project}/value:compute", "project", project,
                                   "ComputeValueRequest", "ComputeValueResponse"),
            }},
            "image": {"methods": {
                "computePixels": _method("earthengine.projects.image.computePixels", "POST", "v1/{+project}/image:computePixels", "project", project,
                                         "ComputePixelsRequest", "HttpBody"),
                "export": _method("earthengine.projects.image.export", "POST", "v1/{+project}/image:export", "project", project,
                                  "ExportImageRequest", "Operation"),
            }},
            "operations": {"methods": {
                "get": _method("earthengine.projects.operations.get", "GET", "v1/{+name}", "name", "^projects/[^/]+/operations/.*$", None, "Operation"),
            }},
        }}},
    }


# ----------------------------------------------------------------------------- the server

DROP = object()  #: a handler's answer: close the connection without a response (a dropped network)


class EarthEngineApi:
    """The API on ``url`` (127.0.0.1, a free port): the discovery document, the algorithm list
    and a service account's token; every request is logged as ``(method, path, body)`` (path
    without the leading slash and query; JSON bodies parsed). Subclasses answer more by
    overriding :meth:`handle`. Use as a context manager."""

    def __init__(self, *, deny: str | None = None) -> None:
        self.deny = deny
        self.log: list[tuple[str, str, Any]] = []
        self.authorizations: list[str | None] = []  # each logged request's Authorization header
        self.tunnels: list[str] = []  # host:port of each refused proxy tunnel
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_CONNECT(self) -> None:  # a tunnel asked of us as a proxy (see offline_env): refused
                api.tunnels.append(self.path)
                self.send_error(403, "offline: no tunnels")

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def _serve(self, method: str) -> None:
                path = urlsplit(self.path).path.lstrip("/")
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode()  # form-encoded (the token request)
                if path == "$discovery/rest":
                    return self._send(200, discovery_document(api.url + "/"))
                api.log.append((method, path, body))
                api.authorizations.append(self.headers.get("Authorization"))
                answer = api.handle(method, path, body)
                if answer is DROP:
                    self.close_connection = True
                    return
                self._send(*(answer or (404, _error(404, f"fake: no {method} {path}", "NOT_FOUND"))))

            def _send(self, status: int, content: Any) -> None:
                data, ctype = (content, "application/octet-stream") if isinstance(content, bytes) else (json.dumps(content).encode(), "application/json")
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-earth-engine", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def offline_env(self) -> dict[str, str]:
        """Environment for a process that initializes earthengine-api against this server:
        ``ee.Initialize`` also fetches the data catalog's list of deprecated assets from
        storage.googleapis.com with urllib (and carries on without it when that fails); urllib
        sends https requests through the proxy the environment names, which is this server,
        and it refuses the tunnel. Loopback requests go direct."""
        return {"https_proxy": self.url, "HTTPS_PROXY": self.url, "no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost"}

    def handle(self, method: str, path: str, body: Any) -> Any:
        """``(status, bytes | JSON)``, :data:`DROP`, or None (404)."""
        if path == "token" or path.endswith("/token"):  # OAuth token exchange of a service-account credential
            return 200, {"access_token": "fake-token", "expires_in": 3600, "token_type": "Bearer"}
        if method == "GET" and path.endswith("/algorithms"):
            if self.deny:
                return 403, _error(403, self.deny, "PERMISSION_DENIED")
            return 200, algorithm_list()
        return None


def _error(code: int, message: str, status: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """``os.environ`` with ``values`` set, as it was afterwards (for scripts and module-scoped fixtures)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def initialize(url: str, project: str = "fake") -> None:
    """``ee.Initialize`` against the server at ``url`` without credentials (a picklable
    ``connect`` for ``EarthEngineSource``: ``functools.partial(initialize, api.url)``)."""
    import ee

    ee.Reset()
    ee.Initialize(None, url=url, project=project)


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




class FakeEarthEngine(EarthEngineApi):
    """The API with the computations the earthengine source requests (see the module docstring)."""

    def __init__(self, *, pair: dict[str, tuple[Path, list[int]]] | None = None, s1: list | None = None, s2: list | None = None,
                 points: dict | None = None, drive_dir: Path | None = None, polls_to_finish: int = 2, fail_first: bool = False,
                 deny: str | None = None, gcs_root: Path | None = None) -> None:
        super().__init__(deny=deny)
        self.pair = pair or spain_pair()
        self.s1 = S1_GRANULES if s1 is None else s1
        self.s2 = S2_GRANULES if s2 is None else s2
        self.points = points
        self.drive_dir, self.gcs_root = drive_dir, gcs_root
        self.polls_to_finish, self.fail_first = polls_to_finish, fail_first
        self.operations: dict[str, dict] = {}

    # ---------------------------------------------------------------- rendering
    def render(self, kind: str, crs: str, transform: Affine, width: int, height: int) -> bytes:
        if kind == "top":  # two S2 granules: the left third acquired on one date, the rest on another
            data = np.full((1, height, width), 17 * 86400, dtype=np.int32)
            x0 = transform.c
            cols = np.arange(width) * transform.a + x0
            data[0, :, cols < self._seam_x] = 2 * 86400
            dtype, nodata = "int32", -1
        elif kind == "label":  # a WorldCover-coded map: cropland where the S2 stack has data, 0 (no-data) elsewhere
            path, bands = self.pair["s2v2"]
            valid = self._nearest(path, bands[:1], crs, transform, width, height)[0] > 0
            data = np.where(valid, 40, 0).astype(np.uint8)[np.newaxis]
            dtype, nodata = "uint8", 0
        else:
            path, bands = self.pair[kind]
            data = self._nearest(path, bands, crs, transform, width, height)
            if kind == "s2v2":  # the SCL as the 13th band: 4 (vegetation) where acquired
                data = np.concatenate([data, np.where(data[:1] > 0, 4, 0).astype(data.dtype)])
            if kind in ("s1", "s1v2"):
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
        if bands[0] == "VV" and len(bands) == 2:
            return "s1v2"
        return {"VV": "s1", "B4": "s2", "top": "top", "B1": "s2v2", "Map": "label"}[bands[0]]

    # ---------------------------------------------------------------- the REST API
    def handle(self, method: str, path: str, body: Any) -> Any:
        if path.endswith("value:compute"):
            return self._compute(body)
        if path.endswith("image:computePixels"):
            return self._pixels(body)
        if path.endswith("image:export"):
            return self._export(body)
        if "/operations/" in path:
            return self._operation(path.split("/operations/", 1)[1])
        return super().handle(method, path, body)

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
        size = {"s1": 4, "s2": 2, "top": 4, "s1v2": 4, "s2v2": 2, "label": 1}[self.kind_of_bands(bands)] * len(bands)
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
