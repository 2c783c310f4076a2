"""Requests a scene costs: STAC searches (counted at the HTTP client) and GDAL's remote reads.

Two counters, both per process:

* :data:`HTTP` -- requests and response bytes of the STAC API client (a ``requests`` response
  hook installed by :func:`count_responses`);
* GDAL's own network statistics (``CPL_VSIL_NETWORK_STATS_ENABLED``, GDAL >= 3.2): every GET
  and HEAD its ``/vsicurl/``-family handlers send and the bytes downloaded, read through
  ``VSINetworkStatsGetAsSerializedJSON``. rasterio has no binding for it, so it is called through
  ctypes in the libgdal rasterio loaded (as :func:`sen12stac.gdalenv.clear_vsi_cache` does);
  when that library cannot be found the GDAL figures are ``None``, never invented.

:func:`measure` resets both, runs a block, and returns the difference. Counts are process-wide:
exact with one scene per process at a time (the build runs one thread per Dask worker).
"""
from __future__ import annotations

import contextlib
import ctypes
import json
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Iterator

#: the GDAL config option that switches the statistics on. GDAL reads it once per process, at
#: the first network request, so it is set as a process default here, before any GDAL I/O.
GDAL_STATS_OPTION = "CPL_VSIL_NETWORK_STATS_ENABLED"
os.environ.setdefault(GDAL_STATS_OPTION, "YES")


@dataclass
class HttpCounter:
    requests: int = 0
    bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, nbytes: int) -> None:
        with self._lock:
            self.requests += 1
            self.bytes += int(nbytes)

    def snapshot(self) -> tuple[int, int]:
        with self._lock:
            return self.requests, self.bytes


HTTP = HttpCounter()


def count_responses(session: Any) -> None:
    """Count every response of a ``requests.Session`` (searches, landing pages, collections)."""

    def hook(response: Any, *args: Any, **kwargs: Any) -> Any:
        HTTP.add(len(response.content or b""))
        return response

    hooks = session.hooks.setdefault("response", [])
    if hook not in hooks:
        hooks.append(hook)


_lib: Any = None
_lib_searched = False


def _gdal() -> Any:
    global _lib, _lib_searched
    if _lib_searched:
        return _lib
    _lib_searched = True
    from .gdalenv import _libgdal_candidates

    for path in _libgdal_candidates():
        try:
            lib = ctypes.CDLL(path)
            get, reset, free = lib.VSINetworkStatsGetAsSerializedJSON, lib.VSINetworkStatsReset, lib.VSIFree
        except (OSError, AttributeError):
            continue
        get.argtypes, get.restype = [ctypes.c_void_p], ctypes.c_void_p
        reset.argtypes, reset.restype = [], None
        free.argtypes, free.restype = [ctypes.c_void_p], None
        _lib = lib
        break
    return _lib


def gdal_stats() -> dict[str, int] | None:
    """GDAL's network statistics since the last reset: ``{"get": n, "head": n, "bytes": n}``,
    or None when the statistics cannot be read."""
    lib = _gdal()
    if lib is None:
        return None
    ptr = lib.VSINetworkStatsGetAsSerializedJSON(None)
    if not ptr:
        return None
    try:
        doc = json.loads(ctypes.string_at(ptr).decode())
    finally:
        lib.VSIFree(ptr)
    methods = doc.get("methods", {}) if isinstance(doc, dict) else {}
    return {
        "get": int(methods.get("GET", {}).get("count", 0)),
        "head": int(methods.get("HEAD", {}).get("count", 0)),
        "bytes": int(sum(m.get("downloaded_bytes", 0) for m in methods.values())),
    }


def reset_gdal_stats() -> None:
    lib = _gdal()
    if lib is not None:
        lib.VSINetworkStatsReset()


@dataclass
class SceneRequests:
    """What one scene cost on the network."""

    searches: int = 0  # HTTP requests to STAC APIs (landing pages, collections, search pages)
    search_bytes: int = 0
    range_reads: int | None = 0  # GDAL GET requests (ranged reads of remote rasters); None: not measurable here
    head_requests: int | None = 0
    bytes_read: int | None = 0  # bytes GDAL downloaded

    @property
    def any(self) -> bool:
        return bool(self.searches or self.range_reads or self.head_requests)

    def to_dict(self) -> dict[str, int | None]:
        return {
            "searches": self.searches, "search_bytes": self.search_bytes,
            "range_reads": self.range_reads, "head_requests": self.head_requests, "bytes_read": self.bytes_read,
        }


@contextlib.contextmanager
def measure() -> Iterator[SceneRequests]:
    """Count the requests of the block; the yielded record is filled in when the block ends."""
    out = SceneRequests()
    reset_gdal_stats()
    r0, b0 = HTTP.snapshot()
    try:
        yield out
    finally:
        r1, b1 = HTTP.snapshot()
        out.searches, out.search_bytes = r1 - r0, b1 - b0
        g = gdal_stats()
        if g is None:
            out.range_reads = out.head_requests = out.bytes_read = None
        else:
            out.range_reads, out.head_requests, out.bytes_read = g["get"], g["head"], g["bytes"]
