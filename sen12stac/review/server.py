"""The review page's server: starlette on 127.0.0.1 (uvicorn in a thread, as `browse` runs).

    /                      the page (review/page.py: one HTML file, no script from elsewhere)
    /api/state             seasons and their scenes, the overrides file, the rebuild command
    /api/scene/{id}        one scene with its patch positions
    /api/decide   (POST)   {"id", "decision": accept|reject|clear, "note", "who"} -> rewrites the file
    /data/...              the build folder, read only (previews under review/, patch thumbnails)

A decision needs the page's token (``X-Review-Token``, made per run and written into the page):
another site open in the same browser cannot post one to 127.0.0.1.
"""
from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from ..runtime.localserver import Running, StaticTypes, listen, start
from ..errors import Sen12StacError
from .page import page_html
from .state import ReviewState


def _app(state: ReviewState, token: str) -> Any:
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    lock = threading.Lock()
    no_store = {"Cache-Control": "no-store"}
    html = page_html(token)

    def info() -> dict[str, Any]:
        return {"build": str(state.build), "overrides": str(state.overrides_path), "command": state.command(), "who": state.who}

    async def index(request: Any) -> HTMLResponse:
        return HTMLResponse(html, headers=no_store)

    async def api_state(request: Any) -> JSONResponse:
        with lock:
            return JSONResponse({**info(), "seasons": state.seasons(), "decisions": state.decisions}, headers=no_store)

    async def api_scene(request: Any) -> JSONResponse:
        with lock:
            try:
                return JSONResponse(state.scene(request.path_params["scene_id"]), headers=no_store)
            except KeyError:
                return JSONResponse({"error": "no such scene"}, status_code=404)

    async def api_decide(request: Any) -> JSONResponse:
        if not secrets.compare_digest(request.headers.get("x-review-token", ""), token):
            return JSONResponse({"error": "missing or wrong page token: reload the page"}, status_code=403)
        try:
            body = json.loads(await request.body())
            if not isinstance(body, dict):
                raise ValueError
            key, decision = str(body["id"]), str(body["decision"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": 'send {"id", "decision", "note", "who"}'}, status_code=400)
        with lock:
            try:
                entry = state.decide(key, decision, str(body.get("note") or ""), str(body.get("who") or ""))
            except Sen12StacError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            return JSONResponse({**info(), "id": key, "entry": entry, "decisions": state.decisions}, headers=no_store)

    routes = [
        Route("/", index),
        Route("/api/state", api_state),
        Route("/api/scene/{scene_id}", api_scene),
        Route("/api/decide", api_decide, methods=["POST"]),
        Mount("/data", app=StaticTypes(StaticFiles(directory=state.build))),
    ]
    return Starlette(routes=routes)


@dataclass
class ReviewServer(Running):
    state: ReviewState

    def __enter__(self) -> "ReviewServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def serve(state: ReviewState, *, host: str = "127.0.0.1", port: int = 0) -> ReviewServer:
    """Start the page in a background thread; returns once it answers (``port=0``: any free port)."""
    sock = listen(host, port, "review")
    running = start(_app(state, secrets.token_urlsafe(24)), sock, "review")
    return ReviewServer(running.server, running.sock, running.address, running.thread, state)
