"""A small fault-injecting HTTP proxy on 127.0.0.1 between an S3 client and moto.

For a configurable share of requests it answers ``503 SlowDown`` or breaks the connection
instead of passing the request on:

* ``"503"``          -- an S3 ``SlowDown`` error, the request never reaches the server;
* ``"drop_before"``  -- close the connection without an answer, request not forwarded;
* ``"reset"``        -- a TCP reset (SO_LINGER 0), request not forwarded;
* ``"drop_after"``   -- forward the request (the server APPLIES it), then close the
  connection without an answer: the client must retry something that already happened
  (a conditional PUT then meets its own object: 412).

Bounded: it stops itself after ``max_lifetime`` seconds, handler threads are daemons, and
``max_faults`` caps the number of injected faults. With ``fault_rate=0`` it is a plain
counting proxy: ``log`` holds (method, path, signed) of every request that reached it. Point the client's endpoint URL at
``proxy.url``; the Host header is passed through unchanged so SigV4 signatures still hold.
"""
from __future__ import annotations

import http.client
import random
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

ALL_MODES = ("503", "drop_before", "reset", "drop_after")
_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailers", "transfer-encoding", "upgrade", "expect"}

SLOWDOWN_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message><RequestId>faultproxy</RequestId></Error>"
)


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        *,
        fault_rate: float = 0.25,
        modes: tuple[str, ...] = ALL_MODES,
        seed: int = 0,
        max_faults: int | None = None,
        max_lifetime: float = 300.0,
        host: str = "127.0.0.1",
    ) -> None:
        for m in modes:
            if m not in ALL_MODES:
                raise ValueError(f"unknown fault mode {m!r}; use {ALL_MODES}")
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.fault_rate = float(fault_rate)
        self.modes = tuple(modes)
        self.max_faults = max_faults
        self.max_lifetime = max_lifetime
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.requests = 0
        self.log: list[tuple[str, str, bool]] = []  # (method, path with query, signed?) of every request seen
        self.served: list[tuple[str, str, str | None, int, int]] = []  # (method, path, Range header, status, body bytes) of each answer
        self.faults: dict[str, int] = {m: 0 for m in ALL_MODES}
        self._server = ThreadingHTTPServer((host, 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def total_faults(self) -> int:
        return sum(self.faults.values())

    def set_rate(self, rate: float) -> None:
        with self._lock:
            self.fault_rate = float(rate)

    def _pick(self) -> str | None:
        with self._lock:
            self.requests += 1
            if self.max_faults is not None and self.total_faults >= self.max_faults:
                return None
            if self._rng.random() >= self.fault_rate:
                return None
            mode = self._rng.choice(self.modes)
            self.faults[mode] += 1
            return mode

    def start(self) -> "FaultProxy":
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        self._timer = threading.Timer(self.max_lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _handler_class(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):  # quiet
                pass

            def _read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            break
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    return b"".join(chunks)
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _break(self, reset: bool) -> None:
                self.close_connection = True
                try:
                    if reset:
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        self.connection.close()
                    else:
                        self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

            def _forward(self, body: bytes):
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                if body or self.command in ("PUT", "POST"):
                    headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=60)
                try:
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    return resp.status, resp.reason, resp.getheaders(), data
                finally:
                    conn.close()

            def _handle(self) -> None:
                body = self._read_body()
                with proxy._lock:
                    proxy.log.append((self.command, self.path, "authorization" in {k.lower() for k in self.headers} or "X-Amz-Signature" in self.path))
                mode = proxy._pick()
                if mode == "503":
                    self.send_response(503, "Slow Down")
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(0 if self.command == "HEAD" else len(SLOWDOWN_XML)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(SLOWDOWN_XML)
                    return
                if mode in ("drop_before", "reset"):
                    self._break(reset=mode == "reset")
                    return
                try:
                    status, reason, headers, data = self._forward(body)
                except OSError:
                    self._break(reset=False)
                    return
                if mode == "drop_after":
                    self._break(reset=False)
                    return
                with proxy._lock:  # what each answered request asked for and got (Range header, body bytes), before the client has it
                    proxy.served.append((self.command, self.path, self.headers.get("Range"), status, len(data)))
                self.send_response(status, reason)
                for k, v in headers:
                    if k.lower() in _HOP or k.lower() == "content-length":
                        continue
                    self.send_header(k, v)
                if self.command == "HEAD":
                    cl = dict((k.lower(), v) for k, v in headers).get("content-length")
                    if cl is not None:
                        self.send_header("Content-Length", cl)
                else:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD" and data:
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        return Handler
