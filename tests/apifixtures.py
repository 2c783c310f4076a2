"""Session fixtures for the STAC API tests (helpers in tests/apihelpers.py).

Everything is real and local: ``sen12stac build`` (synthetic, 2 seasons x 2 scenes of 768 px,
about 60 items, ~7 s), a PostgreSQL cluster of its own in a temporary folder, reached by its Unix
socket only (fsync off), the API as a ``sen12stac api serve`` subprocess on a free port. All stopped at
the end of the session.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from .apihelpers import EXE, pg_folder, run_cli, stop, wait_http
from .s3server import free_port


@pytest.fixture(scope="session")
def built_release(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("apirel") / "rel"
    r = run_cli("build", "--source", "synthetic", "--out", str(out), "--seasons", "spring,winter", "--scenes-per-season", "2", "--scene-size", "768", "--workers", "0")
    assert r.returncode == 0, r.stdout + r.stderr
    return out


@pytest.fixture(scope="session")
def pg():
    from sen12stac.api.database import PrivateCluster, prepare_database

    folder = pg_folder("sen12stac-test-pg-")
    cluster = PrivateCluster(folder, durable=False).start()
    try:
        prepare_database(cluster.dsn)
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def loaded(pg, built_release) -> str:
    r = run_cli("api", "load", str(built_release), "--dsn", pg.dsn)
    assert r.returncode == 0, r.stdout + r.stderr
    return pg.dsn


@pytest.fixture(scope="session")
def api_url(loaded):
    port = free_port()
    proc = subprocess.Popen([EXE, "api", "serve", "--dsn", loaded, "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/", proc)
        yield url
    finally:
        stop(proc)
