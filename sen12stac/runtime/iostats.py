"""Requests a scene costs: STAC searches (counted at the HTTP client) and GDAL's remote reads.

Two counters:

* :data:`HTTP` -- requests and response bytes of the STAC API client (a ``requests`` response
  hook installed by :func:`count_responses`), per process;
* GDAL's remote reads, per thread, from the debug messages GDAL's ``/vsicurl/``-family handlers
  write for every request they send (``port/cpl_vsil_curl.cpp``, GDAL 3.10):

  - ``Downloading 0-65535 (https://...)...``: a ranged GET (``DownloadRegion``, and each
    request of a parallel ``ReadMultiRange``);
  - ``Downloading 0-99, ..., 500-599 (600 bytes, https://...)...``: one multi-range GET
    (``GDAL_HTTP_MULTIRANGE=SINGLE_GET``);
  - ``GetFileSize(https://...)=123456  response_code=200``: the size probe when a file is
    opened: a HEAD on ``/vsicurl/``, a GET of the first ``GDAL_INGESTED_BYTES_AT_OPEN`` bytes
    (rounded up to 16 KiB) on ``/vsis3/``. The same text
    follows a ranged GET of the same URL when the size was not known before
    (no request of its own: it then trims that GET's byte count to the file's end).

  GDAL writes them only when its ``CPL_DEBUG`` option names their category; :func:`measure`
  sets it for its block through ``rasterio.Env``. rasterio 1.4 hands GDAL's messages to
  Python logging (``rasterio/_env.pyx`` and ``rasterio/_err.pyx``: level DEBUG, loggers
  ``rasterio._env`` and ``rasterio._err``); a filter on those loggers counts them for the
  thread that sent them. Messages that only this counting switched on go no further.

Not seen by this count: ranges fetched in GDAL's own threads (``AdviseRead``, and
``PRead`` of multi-threaded decoding, which GDAL does not log); the stac source reads with
neither (``GDAL_NUM_THREADS=1`` in its read options). tests/test_stac_source.py checks the
totals against the requests the S3 server logged.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Iterator

#: the debug categories (``GetDebugKey()``) of the GDAL file systems the sources read through:
#: ``/vsicurl/`` (http(s) hrefs) and ``/vsis3/`` (s3:// hrefs). GDAL prints a debug message when
#: its category appears anywhere in ``CPL_DEBUG``.
GDAL_DEBUG_KEYS = "VSICURL,S3"
#: where rasterio 1.4 sends GDAL's messages (the env's handler and the one around reads)
GDAL_LOGGERS = ("rasterio._env", "rasterio._err")
_CHUNK = 16384  # GDAL's CPL_VSIL_CURL_CHUNK_SIZE default: the probe GET's size rounds up to it

_RANGE = re.compile(r"^(\w+): Downloading (\d+)-(\d+) \((.*)\)\.\.\.$", re.S)
_MULTI = re.compile(r"^(\w+): Downloading \S+, \.\.\., \S+ \((\d+) bytes, (.*)\)\.\.\.$", re.S)
_SIZE = re.compile(r"^(\w+): GetFileSize\((.*)\)=(\d+)  response_code=(\d+)$", re.S)
_SIZE_ERR = re.compile(r"^(\w+): GetFileSize\((.*)\): response_code=-?\d+, ", re.S)
_HEAD_RETRIED = re.compile(r"^VSICURL: (HEAD not allowed\. Retrying with GET|HEAD did not provide file size\. Retrying with GET|"
                           r"Redirected to a AWS S3 signed URL\. Retrying with GET)")


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


@dataclass
class GdalRequests:
    """GDAL's requests in one thread, read from its debug messages (see the module text)."""

    gets: int = 0
    heads: int = 0
    bytes: int = 0
    _last_get: tuple[str, int, int] | None = field(default=None, repr=False)  # (url, start, end) of the last ranged GET
    _retried_with_get: bool = field(default=False, repr=False)

    def feed(self, message: str) -> None:
        if m := _RANGE.match(message):
            start, end = int(m.group(2)), int(m.group(3))
            self.gets += 1
            self.bytes += end - start + 1
            self._last_get = (m.group(4), start, end)
        elif m := _MULTI.match(message):
            self.gets += 1
            self.bytes += int(m.group(2))
            self._last_get = None
        elif m := _SIZE.match(message):
            key, url, size = m.group(1), m.group(2), int(m.group(3))
            last = self._last_get
            if last is not None and last[0].startswith(url):
                # DownloadRegion learnt the size from its GET's Content-Range: no request of its own
                # (a size probe of a file already read cannot follow: GDAL caches the size)
                self._last_get = None
                if last[1] < size <= last[2]:
                    self.bytes -= last[2] - (size - 1)  # that GET asked past the file's end: the server sent less
            else:
                self._probe(key, size)
        elif m := _SIZE_ERR.match(message):
            self._probe(m.group(1), 0)
        elif _HEAD_RETRIED.match(message):
            self.heads += 1  # the HEAD that was refused; the GET that follows ends with GetFileSize
            self._retried_with_get = True

    def _probe(self, key: str, size: int) -> None:
        if key == "VSICURL" and not self._retried_with_get:
            self.heads += 1
        else:
            self.gets += 1
            if key != "VSICURL":  # a ranged GET of the first bytes (body kept); a retried GET stops at the headers
                rounded = -(-max(1024, _ingested_bytes_at_open()) // _CHUNK) * _CHUNK
                self.bytes += min(size, rounded)
        self._retried_with_get = False


def _ingested_bytes_at_open() -> int:
    """``GDAL_INGESTED_BYTES_AT_OPEN`` in force in this thread (GDAL's default: 1024)."""
    import rasterio.env

    value = None
    if rasterio.env.hasenv():
        value = rasterio.env.getenv().get("GDAL_INGESTED_BYTES_AT_OPEN")
    try:
        return int(value if value is not None else os.environ.get("GDAL_INGESTED_BYTES_AT_OPEN", 1024))
    except ValueError:
        return 1024


_counters: dict[int, GdalRequests] = {}  # thread id -> its counter while measure() runs there
_lock = threading.Lock()
_raised: dict[str, int] = {}  # logger name -> level it had before measure() lowered it
_active = 0


class _CountGdalRequests(logging.Filter):
    """On rasterio's GDAL loggers: feeds GDAL's debug messages to the sending thread's counter;
    drops the debug messages that only the counting enabled."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.DEBUG:
            return True
        counter = _counters.get(record.thread or 0)
        if counter is not None:
            try:
                counter.feed(_gdal_text(record))
            except Exception:  # noqa: BLE001 - a message in an unexpected form is not counted, never an error
                pass
        return record.name not in _raised


def _gdal_text(record: logging.LogRecord) -> str:
    """GDAL's own text from rasterio's record (``"%s"`` in _err.pyx, ``"%s in %s"`` in _env.pyx)."""
    args = record.args if isinstance(record.args, tuple) else ()
    if record.msg == "%s in %s" and len(args) == 2:
        return str(args[1])
    if record.msg == "%s" and len(args) == 1:
        return str(args[0])
    return record.getMessage()


_FILTER = _CountGdalRequests()


def _listen() -> None:
    global _active
    with _lock:
        _active += 1
        if _active > 1:
            return
        for name in GDAL_LOGGERS:
            logger = logging.getLogger(name)
            if not logger.isEnabledFor(logging.DEBUG):
                _raised[name] = logger.level
                logger.setLevel(logging.DEBUG)
            logger.addFilter(_FILTER)


def _unlisten() -> None:
    global _active
    with _lock:
        _active -= 1
        if _active:
            return
        for name in GDAL_LOGGERS:
            logger = logging.getLogger(name)
            logger.removeFilter(_FILTER)
            if name in _raised:
                logger.setLevel(_raised.pop(name))


def _debug_option() -> str:
    """``CPL_DEBUG`` for a measured block: the user's own ``ON`` stays on, else GDAL's network categories."""
    own = os.environ.get("CPL_DEBUG", "")
    if own.upper() in ("ON", "YES", "TRUE", "1"):
        return "ON"
    return f"{own},{GDAL_DEBUG_KEYS}" if own else GDAL_DEBUG_KEYS


@contextlib.contextmanager
def count_gdal_requests() -> Iterator[GdalRequests]:
    """Count the remote requests GDAL sends from this thread during the block."""
    import rasterio

    tid = threading.get_ident()
    counter = GdalRequests()
    _listen()
    previous = _counters.get(tid)
    _counters[tid] = counter
    try:
        with rasterio.Env(CPL_DEBUG=_debug_option()):
            yield counter
    finally:
        if previous is None:
            _counters.pop(tid, None)
        else:
            _counters[tid] = previous
        _unlisten()


@dataclass
class SceneRequests:
    """What one scene cost on the network."""

    searches: int = 0  # HTTP requests to STAC APIs (landing pages, collections, search pages)
    search_bytes: int = 0
    range_reads: int | None = 0  # GDAL GET requests (ranged reads of remote rasters)
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
    r0, b0 = HTTP.snapshot()
    with count_gdal_requests() as gdal:
        try:
            yield out
        finally:
            r1, b1 = HTTP.snapshot()
            out.searches, out.search_bytes = r1 - r0, b1 - b0
            out.range_reads, out.head_requests, out.bytes_read = gdal.gets, gdal.heads, gdal.bytes
