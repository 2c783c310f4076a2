"""Streaming through a STAC API (``select(url, api=True)``, ``download --api``) against the
project's own pgstac + stac-fastapi-pgstac (the session fixtures of tests/apifixtures.py: the
same PostgreSQL cluster and release as tests/test_api.py). The release is published to the
local S3 server and loaded from there, so the API's asset hrefs are ``s3://`` URLs; requests
are counted at a proxy in front of the S3 server (tests/faultproxy.py)."""
from __future__ import annotations

import subprocess
import uuid

import numpy as np
import pytest

from sen12stac.stream import Report, select, stream
from tests.apihelpers import EXE, fresh_db, run_cli, stop, wait_http
from tests.faultproxy import FaultProxy
from tests.s3server import TEST_ACCESS_KEY, TEST_SECRET_KEY, free_port

pytest_plugins = ["tests.apifixtures", "tests.conftest_s3"]

S3_ENV = {"AWS_ACCESS_KEY_ID": TEST_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": TEST_SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1"}
CREDS = dict(access_key_id=TEST_ACCESS_KEY, secret_access_key=TEST_SECRET_KEY)


@pytest.fixture(scope="module")
def s3_api(pg, built_release, moto):
    """The release published to s3://BUCKET/sen12 (v1.0.0), loaded into its own pgstac database
    from there (hrefs stay s3://), and served by ``sen12stac api serve``."""
    bucket = f"streamapi-{uuid.uuid4().hex[:10]}"
    moto.client().create_bucket(Bucket=bucket)
    r = run_cli("publish", str(built_release), f"s3://{bucket}/sen12", "--release", "1.0.0", "--endpoint-url", moto.endpoint_url,
                "--verify-cogs", "0", "--no-verify-walk", env=S3_ENV)
    assert r.returncode == 0, r.stdout + r.stderr
    dsn = fresh_db(pg, "streamapi")
    r = run_cli("api", "load", f"s3://{bucket}/sen12", "--dsn", dsn, "--endpoint-url", moto.endpoint_url, env=S3_ENV)
    assert r.returncode == 0, r.stdout + r.stderr
    port = free_port()
    proc = subprocess.Popen([EXE, "api", "serve", "--dsn", dsn, "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/", proc)
        yield url, f"s3://{bucket}/sen12/v1.0.0"
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def query(built_release) -> dict:
    """Winter, one split: a proper, non-empty part of the release."""
    every = select(str(built_release))
    split = next(p.split for p in every if p.collection == "ROIs2017_winter")
    q = {"seasons": "winter", "split": split}
    assert 0 < len(select(str(built_release), **q)) < len(every)
    return q


def _asset_gets(proxy: FaultProxy) -> list[str]:
    assert all(method == "GET" and "list-type" not in path and "prefix=" not in path for method, path, _ in proxy.log), proxy.log
    return sorted(path for _, path, _ in proxy.log)


def test_api_selection_equals_the_releases_geoparquet_selection(s3_api, built_release, query, moto):
    api_url, root = s3_api
    for q in (query, {"filter": "\"eo:cloud_cover\" < 2 AND \"sen12:scene_index\" = 0"}):
        from_release = select(str(built_release), **q)
        from_api = select(api_url, api=True, endpoint_url=moto.endpoint_url, **CREDS, **q)
        assert len(from_release) > 0
        assert [p.id for p in from_api] == [p.id for p in from_release]
        for a, r in zip(from_api, from_release):
            assert (a.collection, a.split, a.datetime, a.scene_id) == (r.collection, r.split, r.datetime, r.scene_id)
            assert a.bbox == pytest.approx(r.bbox)
            for key in ("s1", "s2"):
                aa, ra = a.asset(key), r.asset(key)
                assert aa.href == f"{root}/{ra.href}"  # absolute to where the release lives
                assert (aa.size, aa.checksum, aa.bands) == (ra.size, ra.checksum, ra.bands)


def test_streaming_through_the_api_is_one_get_per_asset(s3_api, built_release, query, moto):
    """layout="files": one GET per patch file, the release's own per-file path."""
    api_url, root = s3_api
    from_release = select(str(built_release), **query)
    expected = {s["id"]: s for s in stream(from_release, seed=5, threads=2, values="physical", layout="files")}
    with FaultProxy(moto.endpoint_url, fault_rate=0.0, max_lifetime=120) as proxy:
        sel = select(api_url, api=True, endpoint_url=proxy.url, **CREDS, **query)
        assert proxy.log == []  # the search went to the API, not to the bucket
        report = Report()
        got = list(stream(sel, seed=5, threads=4, prefetch=4, values="physical", report=report, layout="files"))
        bucket_path = root[len("s3:/"):]
        assert _asset_gets(proxy) == sorted(f"{bucket_path}/{p.asset(a).href}" for p in from_release for a in ("s1", "s2"))
    assert [s["id"] for s in got] == list(expected)  # the same order for the same seed
    for s in got:
        e = expected[s["id"]]
        assert s["split"] == e["split"]
        np.testing.assert_array_equal(s["s1"], e["s1"])
        np.testing.assert_array_equal(s["s2"], e["s2"])
    assert report.pairs == len(sel) and report.fetched == 2 * len(sel) and not report.problems


def test_streaming_through_the_api_reads_the_training_shards_by_default(s3_api, built_release, query, moto):
    """The API's items name each COG's shard member (alternate assets, absolute hrefs): the
    default layout reads whole shards, a handful of GETs for the selection, with the pixels of
    the per-file path."""
    api_url, root = s3_api
    from_release = select(str(built_release), **query)
    per_file = {s["id"]: s for s in stream(from_release, seed=5, threads=2, values="physical", layout="files")}
    with FaultProxy(moto.endpoint_url, fault_rate=0.0, max_lifetime=120) as proxy:
        sel = select(api_url, api=True, endpoint_url=proxy.url, **CREDS, **query)
        got = list(stream(sel, seed=5, threads=4, prefetch=4, values="physical"))
        gets = _asset_gets(proxy)
    bucket_path = root[len("s3:/"):]
    shards = {f"{bucket_path}/{p.asset(a).shard.href}" for p in from_release for a in ("s1", "s2")}
    assert set(gets) <= shards and len(gets) <= len(shards) * 2, gets  # whole shards (large reads), not files
    assert 2 * len(sel) >= 10 * len(gets)
    assert sorted(s["id"] for s in got) == sorted(per_file)
    for s in got:
        np.testing.assert_array_equal(s["s1"], per_file[s["id"]]["s1"])
        np.testing.assert_array_equal(s["s2"], per_file[s["id"]]["s2"])


def test_download_through_the_api_is_one_get_per_file_in_the_release_layout(s3_api, built_release, query, moto, tmp_path):
    api_url, root = s3_api
    from_release = select(str(built_release), **query)
    with FaultProxy(moto.endpoint_url, fault_rate=0.0, max_lifetime=120) as proxy:
        r = run_cli("download", api_url, "--api", "--season", query["seasons"], "--split", query["split"], "--to", str(tmp_path / "dl"),
                    env={**S3_ENV, "SEN12STAC_S3_ENDPOINT_URL": proxy.url})
        assert r.returncode == 0, r.stdout + r.stderr
        bucket_path = root[len("s3:/"):]
        assert _asset_gets(proxy) == sorted(f"{bucket_path}/{p.asset(a).href}" for p in from_release for a in ("s1", "s2"))
    for p in from_release:
        for a in ("s1", "s2"):
            href = p.asset(a).href
            assert (tmp_path / "dl" / href).read_bytes() == (built_release / href).read_bytes()
