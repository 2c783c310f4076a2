"""Earth Engine without a network: ``ee.Initialize`` against recorded API descriptions.

earthengine-api fetches two documents when it initializes: the REST discovery document and
the list of algorithms. Its wheel ships recorded copies of both as test fixtures
(``ee/tests/cloud_api_discovery_document.json`` and ``ee/tests/algorithms.json``, the
latter used by ``ee.apitestcase``). :class:`RecordedTransport` is an ``httplib2``-style
transport that answers those two requests from the fixtures and hands every other request
to a handler (a test's fake server), so the real ``ee.Initialize``, graph building,
serialization and the real ``ee.data`` request code all run with every socket closed.

This leans on files the package ships for its own tests, which is why pyproject.toml pins
earthengine-api exactly. Used by the tests and by ``scripts/ee_goldens.py``.
"""
from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

import httplib2

import ee

FIXTURES = Path(ee.__file__).resolve().parent / "tests"
DISCOVERY = FIXTURES / "cloud_api_discovery_document.json"
ALGORITHMS = FIXTURES / "algorithms.json"

Handler = Callable[[str, str, Any], "tuple[int, bytes | dict | list] | None"]


def _reply(status: int, content: bytes | dict | list, content_type: str | None = None) -> tuple[httplib2.Response, bytes]:
    if not isinstance(content, bytes):
        content = json.dumps(content).encode()
        content_type = content_type or "application/json"
    headers = {"status": str(status), "content-type": content_type or "application/octet-stream"}
    return httplib2.Response(headers), content


class RecordedTransport:
    """An ``httplib2.Http`` stand-in: the discovery document from the recorded fixture; every
    other request goes to ``handler(method, path, json_body)`` -> ``(status, bytes | json)``,
    and the algorithm list comes from the recorded fixture when the handler returns None."""

    def __init__(self, handler: Handler | None = None) -> None:
        for f in (DISCOVERY, ALGORITHMS):
            if not f.is_file():
                raise RuntimeError(f"earthengine-api {ee.__version__} does not ship {f.name}; offline Earth Engine needs the pinned version")
        self.handler = handler
        self.requests: list[tuple[str, str, Any]] = []

    def request(self, uri: str, method: str = "GET", body: Any = None, headers: Any = None, **_: Any) -> tuple[httplib2.Response, bytes]:
        path = uri.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
        if "$discovery/rest" in uri:
            return _reply(200, DISCOVERY.read_bytes(), "application/json")
        try:
            payload = json.loads(body) if body else None
        except (TypeError, ValueError):
            payload = body  # form-encoded (an OAuth token request)
        self.requests.append((method, path, payload))
        answer = self.handler(method, path, payload) if self.handler is not None else None
        if answer is None:
            if path.endswith("/algorithms"):
                return _reply(200, ALGORITHMS.read_bytes(), "application/json")
            return _reply(503, {"error": {"code": 503, "message": f"offline: no handler for {method} {path}", "status": "UNAVAILABLE"}})
        return _reply(*answer)


class _NoFetch(urllib.request.BaseHandler):
    """Refuses every urllib request before any DNS lookup or connection."""

    handler_order = 0  # ahead of the standard HTTP(S) handlers

    def http_open(self, req: urllib.request.Request) -> None:
        raise urllib.error.URLError(f"offline: {req.full_url} not fetched")

    https_open = http_open


@contextlib.contextmanager
def _urllib_offline():
    """``ee.Initialize`` also fetches the data catalog's list of deprecated assets with urllib
    (and carries on without it when that fails): refuse it instead of trying the network."""
    urllib.request.install_opener(urllib.request.build_opener(_NoFetch()))
    try:
        yield
    finally:
        urllib.request.install_opener(None)  # back to the default opener, built on next use


def initialize_offline(project: str = "sen12stac-offline", handler: Handler | None = None, credentials: Any = None) -> RecordedTransport:
    """Initialize earthengine-api offline; return the transport (its ``requests`` log)."""
    transport = RecordedTransport(handler)
    ee.Reset()
    with _urllib_offline():
        ee.Initialize(credentials=credentials, project=project, http_transport=transport)
    return transport
