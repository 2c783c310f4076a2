"""STAC Browser on a release: serve Radiant Earth's STAC Browser on 127.0.0.1, pointed at a
release folder, an S3 release (read through its endpoint, with CORS) or a STAC API.

The browser is built once by ``scripts/build-stac-browser.sh`` (npm, then cached; see
:func:`ensure_build`) with hash history and a runtime ``config.js``, so this one build serves
any catalog: the server answers ``/config.js`` with the catalog URL of this run.

* a folder: the release and the browser are served from ONE origin (``/data/`` holds the
  release), so no CORS is needed and nothing leaves the machine;
* an S3 URL: the browser reads the catalog straight from the endpoint
  (``https://BUCKET.s3.REGION.amazonaws.com/...`` or ``ENDPOINT/BUCKET/...`` path style);
  the bucket must allow anonymous GET and CORS (``sen12stac infra apply``), checked first;
* a STAC API (``--api URL``, e.g. the one ``sen12stac api`` serves): its landing page is the
  catalog, and STAC Browser's search form works against it.

Nothing the browser needs comes from the internet: the build is local, the catalog is
local or on the named endpoint; only basemap tiles are fetched from OpenStreetMap, and
without them the footprint and the thumbnail still show.
"""
from __future__ import annotations

import json
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .errors import ConfigError, StoreError
from .runtime.localserver import LOOPBACK, Running, StaticTypes, listen, start

STAC_BROWSER_VERSION = "4.0.1"
BUILD_STAMP = ".sen12stac-build"
DATA_PREFIX = "/data/"

# Media types of what a release and the browser build hold (no change to the global mimetypes table).


# -- the cached build ----------------------------------------------------------------------


def build_dir(cache_root: Path) -> Path:
    """Where scripts/build-stac-browser.sh puts the build under a cache root."""
    return cache_root / f"stac-browser-{STAC_BROWSER_VERSION}" / "dist"


def build_is_ready(dist: Path) -> bool:
    return (dist / "index.html").is_file() and (dist / BUILD_STAMP).is_file()


def build_script() -> Path | None:
    """The project script, found beside the package in a checkout (editable install)."""
    path = Path(__file__).resolve().parents[1] / "scripts" / "build-stac-browser.sh"
    return path if path.is_file() else None


def ensure_build(cache_root: Path, *, run: Callable[..., Any] = subprocess.run) -> Path:
    """The built browser under ``cache_root``; builds it once (npm, ~2 min) when missing."""
    dist = build_dir(cache_root)
    if build_is_ready(dist):
        return dist
    script = build_script()
    if script is None:
        raise ConfigError(
            f"STAC Browser is not built in {dist.parent}",
            fix="run scripts/build-stac-browser.sh from a sen12stac checkout (npm; about 2 minutes, once)",
        )
    proc = run(["bash", str(script), "--cache", str(cache_root)])
    if proc.returncode != 0 or not build_is_ready(dist):
        raise ConfigError(
            f"building STAC Browser into {dist.parent} failed (exit {proc.returncode})",
            fix="read the script's messages above; it needs node and npm (scripts/system-deps.sh) and the npm registry once",
        )
    return dist


# -- what the browser points at ------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where the catalog is. ``folder`` is served under /data/; otherwise ``catalog_url`` is fetched by the browser."""

    kind: str  # "folder" | "s3" | "api"
    catalog_url: str | None = None  # absolute, for s3 and api
    folder: Path | None = None
    catalog_key: str = "catalog.json"  # inside the folder
    title: str = "SEN1-2"


def folder_target(path: Path) -> Target:
    path = Path(path)
    if path.is_file() and path.suffix == ".json":
        folder, key = path.parent, path.name
    else:
        folder, key = path, "catalog.json"
    if not (folder / key).is_file():
        raise ConfigError(f"no STAC catalog at {folder / key}", fix="pass a release or build folder (the one holding catalog.json), an s3:// URL or --api URL")
    folder = folder.resolve()
    # A release folder (vX.Y.Z) beside its landing catalog: serve the parent, so the release's
    # latest-version / predecessor-version links (../catalog.json, ../v0.9.0/...) resolve too.
    if key == "catalog.json" and re.fullmatch(r"v\d+\.\d+\.\d+.*", folder.name) and (folder.parent / "catalog.json").is_file():
        return Target(kind="folder", folder=folder.parent, catalog_key=f"{folder.name}/catalog.json")
    return Target(kind="folder", folder=folder, catalog_key=key)


def s3_http_url(bucket: str, key: str, *, endpoint_url: str | None, region: str | None) -> str:
    """The plain HTTP(S) URL of an object: path style on a custom endpoint, virtual-hosted on AWS."""
    quoted = urllib.parse.quote(key)
    if endpoint_url:
        return f"{endpoint_url.rstrip('/')}/{bucket}/{quoted}"
    host = f"{bucket}.s3.amazonaws.com" if region in (None, "", "us-east-1") else f"{bucket}.s3.{region}.amazonaws.com"
    return f"https://{host}/{quoted}"


def s3_target(url: str, *, endpoint_url: str | None = None, region: str | None = None) -> Target:
    from .store.s3.url import parse_s3_url

    parsed = parse_s3_url(url, fix="pass s3://BUCKET/PREFIX of a release (or of the landing catalog)")
    bucket, key = parsed.bucket, parsed.path
    if not key.endswith(".json"):
        key = f"{key}/catalog.json" if key else "catalog.json"
    return Target(kind="s3", catalog_url=s3_http_url(bucket, key, endpoint_url=endpoint_url, region=region))


def api_target(url: str) -> Target:
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"--api {url!r} is not an http(s) URL", fix="pass the STAC API's landing page, e.g. http://127.0.0.1:8081/ (as printed by `sen12stac api`)")
    return Target(kind="api", catalog_url=url.rstrip("/") + "/")


def check_reachable(target: Target, *, origin: str = "http://127.0.0.1", timeout: float = 10.0) -> None:
    """Before serving: the catalog answers anonymously, and cross-origin reads are allowed.

    A browser on http://127.0.0.1:PORT reads an S3 or API catalog only when the answer carries
    ``Access-Control-Allow-Origin``; a private bucket answers 403. Both are named with the fix.
    """
    if target.kind == "folder":
        return
    assert target.catalog_url
    req = urllib.request.Request(target.catalog_url, headers={"Origin": origin, "Accept": "application/json"})
    what = "the STAC API" if target.kind == "api" else "the catalog"
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read(2_000_000)
            allow = resp.headers.get("Access-Control-Allow-Origin")
    except urllib.error.HTTPError as exc:
        fix = ("make the released data readable: `sen12stac infra apply s3://BUCKET/PREFIX --public` (or copy the release to a folder and browse that)"
               if exc.code in (401, 403) and target.kind == "s3" else
               "check the URL (a release folder's catalog.json, or the landing catalog)" if exc.code == 404 else
               "check the server")
        raise StoreError(f"{what} at {target.catalog_url} answered HTTP {exc.code} to an anonymous GET", fix=fix) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise StoreError(f"cannot reach {what} at {target.catalog_url}: {reason}", fix="check the URL / --endpoint-url and that the server runs") from None
    try:
        doc = json.loads(body)
    except ValueError:
        raise ConfigError(f"{what} at {target.catalog_url} is not JSON", fix="pass the URL of a STAC catalog or API landing page") from None
    if not isinstance(doc, dict) or "links" not in doc:
        raise ConfigError(f"{target.catalog_url} is JSON but not a STAC catalog (no links)", fix="pass the URL of a STAC catalog or API landing page")
    if allow not in ("*", origin):
        fix = ("apply the bucket's CORS rules: `sen12stac infra apply s3://BUCKET/PREFIX`" if target.kind == "s3" else
               "enable CORS on the API (stac-fastapi allows any origin by default; check a proxy in front of it)")
        raise StoreError(f"{what} at {target.catalog_url} does not allow cross-origin reads (no Access-Control-Allow-Origin for {origin})", fix=fix)


# -- the server ----------------------------------------------------------------------------


def runtime_config(catalog_url: str, title: str) -> dict[str, Any]:
    """STAC Browser's runtime options (window.STAC_BROWSER_CONFIG; merged over the build's config)."""
    return {
        "catalogUrl": catalog_url,
        "catalogTitle": title,
        "historyMode": "hash",
        "allowExternalAccess": True,
        "detectLocaleFromBrowser": False,
        "locale": "en",
        "socialSharing": [],
        "displayPreview": True,
        "displayOverview": True,
        "showThumbnailsAsAssets": True,
        "defaultThumbnailSize": [256, 128],
        "itemsPerPage": 24,
    }


def _app(dist: Path, folder: Path | None, config_js: bytes) -> Any:
    """Browser files at /, the release folder at /data/, /config.js generated; starlette's
    StaticFiles answers byte ranges (COG readers such as geotiff.js ask for them), refuses paths
    outside its folder and lists no directories."""
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    async def config(request: Any) -> Response:
        return Response(config_js, media_type="text/javascript; charset=utf-8", headers={"Cache-Control": "no-store"})

    routes: list[Any] = [Route("/config.js", config)]
    if folder is not None:
        routes.append(Mount(DATA_PREFIX.rstrip("/"), app=StaticTypes(StaticFiles(directory=folder))))
    routes.append(Mount("/", app=StaticTypes(StaticFiles(directory=dist, html=True))))
    return Starlette(routes=routes)


@dataclass
class BrowseServer(Running):
    """A running browser server. ``url`` opens the catalog; ``close()`` stops it."""

    target: Target
    catalog_url: str
    extra: dict[str, Any] = field(default_factory=dict)

    def page_url(self, relative: str = "") -> str:
        """Browser URL of an object given by its path relative to the catalog's folder (hash history)."""
        return self.url + "#/" + relative.lstrip("/")

    def __enter__(self) -> "BrowseServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def serve(target: Target, dist: Path, *, host: str = "127.0.0.1", port: int = 0) -> BrowseServer:
    """Start serving (uvicorn) in a background thread; returns once it answers. ``port=0`` picks a free port."""
    if host not in LOOPBACK:
        raise ConfigError(f"refusing to serve on {host}", fix="browse binds to 127.0.0.1 only")
    if not build_is_ready(dist):
        raise ConfigError(f"no STAC Browser build in {dist}", fix="run scripts/build-stac-browser.sh")
    # The socket is bound here, before the app exists: config.js names the port.
    sock = listen(host, port, "browse")
    bound_host, bound_port = sock.getsockname()[:2]
    if target.kind == "folder":
        catalog_url = f"http://{bound_host}:{bound_port}{DATA_PREFIX}{urllib.parse.quote(target.catalog_key)}"
    else:
        assert target.catalog_url
        catalog_url = target.catalog_url
    config_js = ("window.STAC_BROWSER_CONFIG = " + json.dumps(runtime_config(catalog_url, target.title), indent=1) + ";\n").encode()
    running = start(_app(dist, target.folder, config_js), sock, "browse")
    return BrowseServer(server=running.server, sock=sock, address=running.address, thread=running.thread, target=target, catalog_url=catalog_url)
