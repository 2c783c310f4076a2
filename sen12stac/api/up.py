"""``sen12stac api up``: a release served from a private database, in one call.

The cluster lives in ``<cache>/api/<digest of the release URL>/``; a second ``up`` of the same
release finds it, and skips the load when the release is unchanged (same root, collections,
geoparquet sizes and ETags, same href base) since the last successful load.
"""
from __future__ import annotations

import hashlib
import json
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .database import PrivateCluster, prepare_database
from .load import LoadReport, Release, fingerprint, load_release, read_collections
from .queryables import queryables_for, register_queryables
from .serve import ServeSettings, check_port_free, run, warn_if_open

MARKER = "loaded.json"


@dataclass(frozen=True)
class UpSettings:
    cache_dir: Path
    host: str = "127.0.0.1"
    port: int = 8081
    replace: bool = True  # a private database follows its release


def cluster_folder(cache_dir: Path, release: Release) -> Path:
    digest = hashlib.sha256(f"{release.url}\n{release.href_base}".encode()).hexdigest()[:16]
    return cache_dir / "api" / digest


def up(release: Release, settings: UpSettings, *, on_ready: Callable[[str, LoadReport | None, str], None], on_progress: Callable[[str, int], None] | None = None) -> None:
    """Start the cluster, load when needed, call ``on_ready(url, report or None, dsn)``, serve until Ctrl-C, stop."""
    warn_if_open(settings.host, settings.port)
    check_port_free(settings.host, settings.port)
    folder = cluster_folder(settings.cache_dir, release)
    with PrivateCluster(folder) as cluster:
        prepare_database(cluster.dsn)
        marker = folder / MARKER
        digest = fingerprint(release, read_collections(release))
        report = None
        previous = json.loads(marker.read_text()).get("fingerprint") if marker.exists() else None
        if previous != digest:
            marker.unlink(missing_ok=True)
            report = load_release(release, cluster.dsn, replace=settings.replace, progress=on_progress)  # queryables first, indexes in bulk
        else:
            register_queryables(cluster.dsn, queryables_for(release.root.get("sen12:recipe")))  # a no-op unless this version of sen12stac changed them
        if report is not None:
            marker.write_text(json.dumps({"release": release.url, "version": release.version, "fingerprint": digest, "items": report.items}) + "\n")
        url = f"http://{settings.host}:{settings.port}"
        on_ready(url, report, cluster.dsn)
        # uvicorn shuts down on SIGINT/SIGTERM and then re-raises the signal to the handler that
        # was there before it: for SIGTERM make that an exception too, so PostgreSQL is stopped.
        previous_term = signal.signal(signal.SIGTERM, _exit_on_signal)
        try:
            run(ServeSettings(dsn=cluster.reader_dsn(), host=settings.host, port=settings.port))
        finally:
            signal.signal(signal.SIGTERM, previous_term)


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)
