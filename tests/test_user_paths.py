"""What a first user hits, tried as printed in the README (fixes from the user-trial session)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sen12stac.store.local import SYNC_MARKER


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "80", "TERM": "dumb"}  # a log file or CI: rich falls back to 80 columns
    return subprocess.run([sys.executable, "-m", "sen12stac.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_error_is_one_unwrapped_line_when_stderr_is_not_a_terminal(tmp_path):
    # a typo'd release path longer than 80 columns: the message must not be hard-wrapped
    release = str(tmp_path / "a-release-folder-whose-name-is-long-enough-to-pass-eighty-columns" / "demoo")
    proc = _cli("download", release, "--to", str(tmp_path / "copy"), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and release in lines[0] and lines[0].count("Fix:") == 1


def test_private_cluster_starts_from_a_relative_folder(monkeypatch):
    # `sen12stac api up demo` uses the default cache .sen12stac-cache/ (relative): initdb and
    # pg_ctl run inside the folder, so relative paths used to land in a nested copy of it
    import shutil

    from tests.apihelpers import pg_folder

    from sen12stac.api.database import PrivateCluster

    base = pg_folder("sen12stac-test-relpg-")
    base.chmod(0o755)  # the postgres account (when run as root) traverses it to reach the cluster
    monkeypatch.chdir(base)
    cluster = PrivateCluster(Path(".sen12stac-cache") / "api" / "x", durable=False)
    try:
        cluster.start()
        assert (base / ".sen12stac-cache" / "api" / "x" / "pgdata" / "PG_VERSION").is_file()
        import psycopg

        with psycopg.connect(cluster.dsn, connect_timeout=10) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_api_declares_sort_in_a_form_pystac_client_recognises():
    # the README's sortby examples printed "DoesNotConformTo: Server does not conform to SORT"
    import asyncio

    import httpx
    from pystac_client.conformance import ConformanceClasses

    from sen12stac.api.serve import ServeSettings, create_app

    app = create_app(ServeSettings(dsn="postgresql://postgres@127.0.0.1:1/pgstac"))

    async def conformance() -> list[str]:  # ASGITransport runs no lifespan: no database needed
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
            return (await client.get("/conformance")).json()["conformsTo"]

    conforms = asyncio.run(conformance())
    assert any(ConformanceClasses.SORT.pattern.fullmatch(c) for c in conforms), conforms
    assert any(ConformanceClasses.ITEM_SEARCH.pattern.fullmatch(c) for c in conforms)


def test_download_checks_its_target_before_any_work(tmp_path):
    # `download ... --to FILE` drew a 0/N progress bar, then failed; the target is checked first,
    # before the release is even opened
    target = tmp_path / "copy"
    target.write_text("not a folder")
    proc = _cli("download", str(tmp_path / "no-such-release"), "--to", str(target), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: --to {target} is a file. Fix: give a folder (it is created when missing)"
    # a format that does not exist is refused by the parser, in one line that lists the choices
    proc = _cli("download", str(tmp_path / "no-such-release"), "--to", str(tmp_path / "new"), "--format", "tif", cwd=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("error: Invalid value for '--format'") and "'cog', 'png'" in proc.stderr and "Fix:" in proc.stderr
    assert not (tmp_path / "new").exists()


def test_second_cluster_on_a_running_folder_says_it_is_in_use():
    # a second `sen12stac api up` of the same release told the user to delete the running database's folder
    import shutil

    import pytest
    from tests.apihelpers import pg_folder

    from sen12stac.api.database import PrivateCluster
    from sen12stac.errors import DatabaseError

    folder = pg_folder("sen12stac-test-twice-")
    first = PrivateCluster(folder, durable=False).start()
    try:
        with pytest.raises(DatabaseError, match="already running") as info:
            PrivateCluster(folder, durable=False).start()
        assert "delete the folder" not in str(info.value)
        assert (folder / "pgdata" / "PG_VERSION").is_file()  # the first one is untouched and still serves
        import psycopg

        with psycopg.connect(first.dsn, connect_timeout=10) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        first.stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_demo_over_an_older_demo_says_to_delete_it(tmp_path):
    # `make demo` after an upgrade that changes the files: the conflict named a .tif and told the
    # user to "write to a new, empty output location or a new release version"
    args = ("demo", "--out", "d", "--scenes-per-season", "1", "--scene-size", "512", "--workers", "0")
    first = _cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    tif = sorted((tmp_path / "d").glob("ROIs*/s2_*/*.tif"))[0]
    tif.write_bytes(tif.read_bytes() + b"\0")  # what an older version left there ...
    synced = (tmp_path / "d" / SYNC_MARKER).stat().st_mtime
    os.utime(tif, (synced - 60, synced - 60))  # ... durably, before its last sync (a newer file would count as torn and be repaired)
    again = _cli(*args, cwd=tmp_path)
    assert again.returncode == 5
    line = again.stderr.strip().splitlines()[-1]
    assert line.startswith("error: d holds a demo built by another version of sen12stac") and "Fix: delete it (rm -rf d)" in line
