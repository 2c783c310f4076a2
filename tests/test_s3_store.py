"""S3Store against a real S3 server (moto_server on 127.0.0.1), over HTTP, by boto3 and GDAL."""
from __future__ import annotations

import logging
import pickle

import numpy as np
import pytest
import rasterio

from sen12stac.errors import ConfigError, ObjectConflictError, StoreError
from sen12stac.runtime.gdalenv import gdal_options, rasterio_env_kwargs
from sen12stac.store import NotFound, open_store
from sen12stac.store.base import sha256_hex
from sen12stac.store.media import guess_content_type
from sen12stac.store.s3 import S3Store, S3Url, Secret, parse_s3_url
from tests.fakebuild import cog_bytes
from tests.faultproxy import FaultProxy
from tests.s3server import TEST_ACCESS_KEY, TEST_SECRET_KEY, free_port

# The S3 server fixtures (idempotent if tests/conftest.py registers them too).
pytest_plugins = ["tests.conftest_s3"]

pytestmark = pytest.mark.s3


def _no_secrets(*texts: str) -> None:
    for text in texts:
        assert TEST_SECRET_KEY not in text
        assert TEST_ACCESS_KEY not in text


def test_put_if_absent_get_head_list(s3_store):
    store = s3_store("rel/root")
    assert store.url.endswith("/rel/root")
    assert store.put_if_absent("a/one.json", b'{"n": 1}') is True
    assert store.put_if_absent("a/one.json", b'{"n": 2}') is False  # If-None-Match: * -> 412
    assert store.get("a/one.json") == b'{"n": 1}'  # never overwritten
    info = store.head("a/one.json")
    assert info is not None and info.size == 8 and info.key == "a/one.json"
    assert store.sha256_of("a/one.json") == sha256_hex(b'{"n": 1}')
    assert store.head("a/missing.json") is None
    assert store.sha256_of("a/missing.json") is None
    with pytest.raises(NotFound, match="a/missing.json"):
        store.get("a/missing.json")
    assert store.put_or_verify("a/one.json", b'{"n": 1}') == "same"
    with pytest.raises(ObjectConflictError):
        store.put_or_verify("a/one.json", b'{"n": 3}')


def test_list_paginates_in_key_order(s3_store, s3_client, bucket):
    store = s3_store("p", list_page_size=2)
    keys = [f"d/{i:02d}.bin" for i in (5, 1, 4, 2, 3)] + ["e/x.bin"]
    for k in keys:
        store.put_if_absent(k, k.encode())
    listed = list(store.list("d/"))
    assert [i.key for i in listed] == sorted(k for k in keys if k.startswith("d/"))
    assert all(i.size == len(i.key) for i in listed)
    assert all(i.etag and len(i.etag) == 32 for i in listed)  # MD5 of a single PUT, quotes stripped
    assert store.list_dirs("") == ["d", "e"]
    # keys are relative to the prefix; nothing outside it is listed
    s3_client.put_object(Bucket=bucket, Key="outside.bin", Body=b"x")
    assert "outside.bin" not in {i.key for i in store.list()}


def test_replace_needs_the_current_etag(s3_store):
    store = s3_store("m")
    store.replace("landing.json", b"v1", None)  # create only if absent
    with pytest.raises(ObjectConflictError):
        store.replace("landing.json", b"v1-again", None)
    etag = store.head("landing.json").etag
    store.replace("landing.json", b"v2", etag)
    assert store.get("landing.json") == b"v2"
    with pytest.raises(ObjectConflictError, match="changed underneath"):
        store.replace("landing.json", b"v3", etag)  # stale ETag
    assert store.get("landing.json") == b"v2"


def test_content_type_and_metadata(s3_store, s3_client, bucket):
    store = s3_store("ct")
    store.put_if_absent("x/a.tif", b"II*\x00")
    store.put_if_absent("x/a.json", b"{}", "application/geo+json")
    head = s3_client.head_object(Bucket=bucket, Key="ct/x/a.tif")
    assert head["ContentType"] == "image/tiff; application=geotiff; profile=cloud-optimized"
    assert head["Metadata"]["sha256"] == sha256_hex(b"II*\x00")
    assert s3_client.head_object(Bucket=bucket, Key="ct/x/a.json")["ContentType"] == "application/geo+json"
    assert guess_content_type("a/b.parquet") == "application/vnd.apache.parquet"


def test_gdal_reads_a_cog_through_vsis3(s3_store):
    store = s3_store("cogs")
    data = cog_bytes(7, size=64, bands=3)
    store.put_if_absent("s2/patch.tif", data)
    path = store.gdal_path("s2/patch.tif")
    assert path == f"/vsis3/{store.bucket}/cogs/s2/patch.tif"
    env = store.gdal_env()
    assert env["AWS_S3_ENDPOINT"] == store.endpoint_url.split("://", 1)[1]
    assert env["AWS_HTTPS"] == "NO" and env["AWS_VIRTUAL_HOSTING"] == "FALSE"
    assert env["GDAL_DISABLE_READDIR_ON_OPEN"] == "EMPTY_DIR" and env["GDAL_INGESTED_BYTES_AT_OPEN"] == "262144"
    with rasterio.Env(**env):
        with rasterio.open(path) as src:
            remote = src.read()
    from rasterio.io import MemoryFile

    with MemoryFile(data) as mf, mf.open() as local:
        assert np.array_equal(remote, local.read())


def test_gdal_options_derivation():
    assert gdal_options("https://minio.example:9000")["AWS_HTTPS"] == "YES"
    opts = gdal_options("http://127.0.0.1:9000/", region="eu-central-1")
    assert opts["AWS_S3_ENDPOINT"] == "127.0.0.1:9000" and opts["AWS_REGION"] == "eu-central-1"
    aws = gdal_options(None)
    assert "AWS_S3_ENDPOINT" not in aws and "AWS_VIRTUAL_HOSTING" not in aws
    with pytest.raises(ConfigError, match="http"):
        gdal_options("127.0.0.1:9000")
    with pytest.raises(ConfigError, match="user information"):
        gdal_options(f"http://{TEST_ACCESS_KEY}:{TEST_SECRET_KEY}@127.0.0.1:9000")
    kwargs = rasterio_env_kwargs(endpoint_url="http://127.0.0.1:1", access_key_id=TEST_ACCESS_KEY, secret_access_key=TEST_SECRET_KEY)
    # credentials travel in the session, never as GDAL options (rasterio refuses those)
    assert "AWS_ACCESS_KEY_ID" not in kwargs and "AWS_SECRET_ACCESS_KEY" not in kwargs
    assert kwargs["session"].get_credential_options()["AWS_SECRET_ACCESS_KEY"] == TEST_SECRET_KEY
    _no_secrets(repr({k: v for k, v in kwargs.items() if k != "session"}))


def test_parse_s3_url_is_the_one_parser():
    assert parse_s3_url("s3://my-bucket") == S3Url("my-bucket", "")
    url = parse_s3_url("s3://my-bucket//a/b/")
    assert (url.bucket, url.key, url.prefix, url.path) == ("my-bucket", "/a/b/", "a/b/", "a/b")
    assert parse_s3_url("s3://b-1/x/y.tif").key == "x/y.tif"  # an object's key as written
    for bad, why in (("http://x/y", "s3://"), ("s3://Bad_Bucket/x", "bucket"), ("s3://bucket/a/../b", "'\\.\\.'")):
        with pytest.raises(ConfigError, match=why):
            parse_s3_url(bad)


def test_every_s3_url_goes_through_the_one_parser():
    """The store, infra, browse, the stream and the open-data source all refuse a bad bucket with the
    parser's own words, and no module slices s3:// URLs by hand."""
    import re
    from pathlib import Path

    from sen12stac.browse import s3_target
    from sen12stac.errors import SourceError
    from sen12stac.infra import split_bucket_url
    from sen12stac.sources.opendata.reading import gdal_path
    from sen12stac.stream import Location
    from sen12stac.stream.location import split_absolute

    words = "does not name a valid bucket ('Bad_Bucket')"
    for parse in (S3Store.from_url, split_bucket_url, s3_target, Location.parse, lambda u: split_absolute(u, Location.parse("/tmp"))):
        with pytest.raises(ConfigError) as err:
            parse("s3://Bad_Bucket/a/b")
        assert words in str(err.value), parse
    with pytest.raises(SourceError, match="valid S3 bucket"):
        gdal_path("s3://Bad_Bucket/a/b.tif")
    package = Path(__file__).resolve().parents[1] / "sen12stac"
    by_hand = re.compile(r"""len\(["']s3://["']\)|removeprefix\(["']s3://|replace\(["']s3://["'],""")
    offenders = [str(p.relative_to(package)) for p in package.rglob("*.py")
                 if p.relative_to(package).as_posix() != "store/s3/url.py" and by_hand.search(p.read_text())]
    assert offenders == []


def test_pickle_repr_and_config_errors(s3_store):
    store = s3_store("pk")
    store.put_if_absent("k", b"v")
    blob = pickle.dumps(store)
    clone = pickle.loads(blob)
    assert clone.url == store.url and clone.endpoint_url == store.endpoint_url
    _no_secrets(repr(store), str(store), repr(clone), repr(Secret(TEST_SECRET_KEY)), f"{Secret(TEST_SECRET_KEY)}")
    assert store.child("sub").url == store.url + "/sub"
    assert isinstance(open_store(f"s3://{store.bucket}/x", endpoint_url=store.endpoint_url), S3Store)
    with pytest.raises(ConfigError, match="bucket"):
        S3Store.from_url("s3://A_/x")
    with pytest.raises(ConfigError, match="s3://"):
        S3Store.from_url("gs://bucket/x")
    with pytest.raises(ConfigError, match="only one of"):
        S3Store.from_url("s3://bucket/x", access_key_id=TEST_ACCESS_KEY)
    with pytest.raises(ConfigError, match="'\\.\\.'"):
        S3Store.from_url("s3://bucket/a/../b")


def test_missing_bucket_is_a_clear_error(moto):
    store = S3Store.from_url(
        "s3://no-such-bucket-here/pre", endpoint_url=moto.endpoint_url, access_key_id=TEST_ACCESS_KEY, secret_access_key=TEST_SECRET_KEY
    )
    for op in (store.check, lambda: store.put_if_absent("k", b"x"), lambda: list(store.list()), lambda: store.get("k")):
        with pytest.raises(StoreError) as info:
            op()
        msg = str(info.value)
        assert "bucket 'no-such-bucket-here' does not exist" in msg and "Fix: create the bucket" in msg
        assert not isinstance(info.value, NotFound)
        _no_secrets(msg)


def test_unreachable_endpoint_is_a_clear_error():
    port = free_port()  # nothing listens here
    store = S3Store.from_url(
        "s3://bucket/pre",
        endpoint_url=f"http://127.0.0.1:{port}",
        access_key_id=TEST_ACCESS_KEY,
        secret_access_key=TEST_SECRET_KEY,
        max_attempts=2,
        connect_timeout=1,
    )
    with pytest.raises(StoreError) as info:
        store.check()
    msg = str(info.value)
    assert f"cannot reach http://127.0.0.1:{port} (EndpointConnectionError; up to 2 attempts)" in msg and "--endpoint-url" in msg
    _no_secrets(msg)


def test_missing_profile_is_a_clear_error(moto):
    store = S3Store.from_url("s3://bucket/pre", endpoint_url=moto.endpoint_url, profile="sen12stac-no-such-profile")
    with pytest.raises(StoreError, match="profile 'sen12stac-no-such-profile'.*not configured"):
        store.check()


def test_wrong_credentials_are_a_clear_error(auth_moto, caplog):
    server, key_id, secret = auth_moto
    good = S3Store.from_url("s3://locked/pre", endpoint_url=server.endpoint_url, access_key_id=key_id, secret_access_key=secret)
    good.check()
    assert good.put_if_absent("k", b"x") is True  # the right key works: auth is really on
    caplog.set_level(logging.DEBUG, logger="sen12stac")
    cases = [(key_id, TEST_SECRET_KEY, "SignatureDoesNotMatch"), (TEST_ACCESS_KEY, TEST_SECRET_KEY, "InvalidAccessKeyId")]
    for kid, sec, code in cases:
        store = S3Store.from_url("s3://locked/pre", endpoint_url=server.endpoint_url, access_key_id=kid, secret_access_key=sec)
        for op in (store.check, lambda: store.put_if_absent("k2", b"x"), lambda: store.get("k")):
            with pytest.raises(StoreError) as info:
                op()
            msg = str(info.value)
            assert f"the credentials are not valid there ({code})" in msg and "s3://locked/pre" in msg
            assert "Fix: check the access key pair or --aws-profile" in msg
            _no_secrets(msg, repr(info.value))
            assert secret not in msg
    _no_secrets(caplog.text)
    assert good.head("k2") is None  # nothing was written with the wrong keys


def test_retries_through_faults_are_botocores(s3_store, moto, caplog):
    """Every fault the proxy injects (503 SlowDown, a drop before or after the server applied the
    request, a reset) is retried by botocore's own retry mode: all objects land and read back."""
    from concurrent.futures import ThreadPoolExecutor

    caplog.set_level(logging.DEBUG, logger="botocore.retries")
    caplog.set_level(logging.DEBUG, logger="sen12stac")
    with FaultProxy(moto.endpoint_url, fault_rate=0.3, seed=3) as proxy:
        store = s3_store("faulty", endpoint_url=proxy.url, max_attempts=10)
        with ThreadPoolExecutor(8) as pool:  # botocore backs off up to seconds per retry: overlap them
            results = list(pool.map(lambda i: store.put_if_absent(f"obj/{i:03d}", bytes([i % 256]) * (i + 1)), range(40)))
            got = list(pool.map(lambda i: store.get(f"obj/{i:03d}"), range(40)))
        assert got == [bytes([i % 256]) * (i + 1) for i in range(40)]
        assert len(list(store.list("obj/"))) == 40
    assert all(proxy.faults[m] > 0 for m in ("503", "drop_before", "reset", "drop_after")), proxy.faults
    # a PUT that landed but whose answer was dropped is retried and meets itself: False
    assert results.count(False) <= proxy.faults["drop_after"]
    retried = [r for r in caplog.records if r.name.startswith("botocore.retries") and "Retry needed" in r.getMessage()]
    assert len(retried) >= proxy.total_faults  # botocore's retry handler did it, once per fault
    _no_secrets(caplog.text)


def test_retry_mode_is_botocores_standard_or_adaptive(s3_store):
    assert s3_store("m").boto3_client().meta.config.retries == {"mode": "standard", "total_max_attempts": 8}  # botocore fills its default mode in
    adaptive = s3_store("m", retry_mode="adaptive", max_attempts=4).boto3_client().meta.config.retries
    assert adaptive == {"mode": "adaptive", "total_max_attempts": 4}
    with pytest.raises(ConfigError, match="retry_mode"):
        s3_store("m", retry_mode="fast")


def test_persistent_failure_names_the_key_and_the_fix(s3_store, moto):
    with FaultProxy(moto.endpoint_url, fault_rate=1.0, modes=("503",)) as proxy:
        store = s3_store("down", endpoint_url=proxy.url, max_attempts=3)
        with pytest.raises(StoreError) as info:
            store.put_if_absent("v1.0.0/a.tif", b"data")
    msg = str(info.value)
    assert f"s3://{store.bucket}/down/v1.0.0/a.tif" in msg and "after 3 attempts" in msg and "SlowDown" in msg
    assert "safe to re-run" in msg
    assert proxy.requests == 3
    _no_secrets(msg)


def test_a_pickled_store_carries_no_secret_and_the_copy_uses_its_own_environment(s3_store, monkeypatch, tmp_path):
    """What goes to a Dask scheduler or worker (possibly over plain TCP) holds no key; the
    worker's copy finds credentials where it runs, as boto3 does."""
    store = s3_store("pk", session_token="sen12stac-test-TOKEN-0123")
    store.put_if_absent("k", b"v")
    blob = pickle.dumps(store)
    for secret in (TEST_SECRET_KEY, TEST_ACCESS_KEY, "sen12stac-test-TOKEN-0123"):
        assert secret.encode() not in blob
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(StoreError, match="no usable AWS credentials"):
        pickle.loads(blob).get("k")  # a worker with no credentials of its own: a clear error
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", TEST_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TEST_SECRET_KEY)
    assert pickle.loads(blob).get("k") == b"v"  # a worker with its own environment
