"""A Cloud Storage JSON API server on 127.0.0.1 (list objects, media download) over a folder,
for google-cloud-storage's real client in tests. Objects are files under ``root/<bucket>/``."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlparse


class FakeGcs:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.requests: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                fake.requests.append(self.path)
                url = urlparse(self.path)
                parts = url.path.split("/")
                if url.path.startswith("/storage/v1/b/") and url.path.endswith("/o"):
                    bucket = parts[4]
                    prefix = parse_qs(url.query).get("prefix", [""])[0]
                    base = fake.root / bucket
                    items = []
                    for f in sorted(p for p in base.rglob("*") if p.is_file()):
                        name = f.relative_to(base).as_posix()
                        if name.startswith(prefix):
                            items.append({"kind": "storage#object", "name": name, "bucket": bucket, "size": str(f.stat().st_size), "generation": "1",
                                          "mediaLink": f"http://{self.headers['Host']}/download/storage/v1/b/{bucket}/o/{quote(name, safe='')}?alt=media"})
                    return self._send(200, json.dumps({"kind": "storage#objects", "items": items}).encode(), "application/json")
                if url.path.startswith("/download/storage/v1/b/"):
                    bucket, name = parts[5], unquote(parts[7])
                    f = fake.root / bucket / name
                    if not f.is_file():
                        return self._send(404, b'{"error": {"code": 404, "message": "No such object"}}', "application/json")
                    return self._send(200, f.read_bytes(), "application/octet-stream")
                return self._send(404, b'{"error": {"code": 404, "message": "not found"}}', "application/json")

            def _send(self, status, body, ctype):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeGcs":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def client(self):
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(project="fake", credentials=AnonymousCredentials(), client_options={"api_endpoint": self.url})
