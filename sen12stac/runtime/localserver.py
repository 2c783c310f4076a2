"""A local page server: an ASGI app on a loopback socket, run by uvicorn in a background thread.

``sen12stac browse`` (STAC Browser over a release) and ``sen12stac review`` (the review page
over a build) both serve this way: the socket is bound first (so an app can name its own port),
anything but loopback is refused, and :func:`start` returns once the server answers.
"""
from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Callable

from ..errors import ConfigError

LOOPBACK = ("127.0.0.1", "localhost", "::1")

#: Media types by file suffix, the same on every machine (starlette would guess them from the
#: machine's global mimetypes table).
MEDIA_TYPES = {
    ".json": "application/json",
    ".geojson": "application/geo+json",
    ".tif": "image/tiff",
    ".parquet": "application/vnd.apache.parquet",
    ".md": "text/markdown; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".html": "text/html; charset=utf-8",
}


class StaticTypes:
    """ASGI wrapper of StaticFiles: the media type of a file by its suffix (:data:`MEDIA_TYPES`),
    and no caching."""

    def __init__(self, app: Any, media_types: dict[str, str] | None = None) -> None:
        self.app = app
        self.media_types = MEDIA_TYPES if media_types is None else media_types

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        media_type = self.media_types.get(PurePosixPath(scope["path"]).suffix.lower())

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                if media_type and message["status"] in (200, 206) and not any(
                        k.lower() == b"content-type" and v.startswith(b"multipart/") for k, v in headers):
                    headers = [(k, v) for k, v in headers if k.lower() != b"content-type"] + [(b"content-type", media_type.encode())]
                message = {**message, "headers": headers + [(b"cache-control", b"no-store")]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def listen(host: str, port: int, command: str) -> socket.socket:
    """A listening socket on ``host``:``port`` (0: any free port); ``command`` names who asks,
    for the one-line refusal of a host that is not loopback."""
    if host not in LOOPBACK:
        raise ConfigError(f"refusing to serve on {host}", fix=f"{command} binds to 127.0.0.1 only")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}", fix="pick another --port, or 0 for any free port") from None
    return sock


@dataclass
class Running:
    """A server started by :func:`start`: ``url`` is its root; ``close()`` stops it."""

    server: Any  # uvicorn.Server
    sock: socket.socket
    address: tuple[str, int]
    thread: threading.Thread

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}/"

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
        self.sock.close()

    def serve_until_interrupted(self) -> None:
        """Block the calling command until Ctrl-C, then stop the server."""
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            self.close()


def start(app: Any, sock: socket.socket, name: str, *, timeout: float = 10.0) -> Running:
    """Serve ``app`` on ``sock`` in a daemon thread; returns once uvicorn has started."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", ws="none", log_config=None, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"sen12stac-{name}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    host, port = sock.getsockname()[:2]
    if not server.started:
        server.should_exit = True
        sock.close()
        raise ConfigError(f"the {name} server on {host}:{port} did not start", fix="run the command again; see the messages above")
    return Running(server, sock, (host, port), thread)
