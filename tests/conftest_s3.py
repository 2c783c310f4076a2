"""pytest fixtures for the real S3 server (moto_server subprocess on 127.0.0.1).

Registered from tests/conftest.py with ``pytest_plugins = ["tests.conftest_s3"]``.

* ``moto``       -- one server for the session (about 0.5 s to start), stopped at the end;
* ``bucket``     -- a fresh, empty bucket per test (unique name), so tests never share state;
* ``s3_store``   -- a factory: ``s3_store("prefix", **options)`` -> S3Store on ``bucket``;
* ``s3_client``  -- a plain boto3 client for the server (test-side inspection and tampering);
* ``auth_moto``  -- a second server with authentication on (moto accepts any key by
  default): ``(server, key_id, secret)`` with one valid key and the bucket ``locked``.
"""
from __future__ import annotations

import itertools
import uuid

import pytest

from .s3server import TEST_ACCESS_KEY, TEST_SECRET_KEY, MotoServer

_counter = itertools.count()


@pytest.fixture(scope="session")
def moto():
    server = MotoServer()
    try:
        server.start()
    except RuntimeError as exc:  # a missing server is a failure, never a skip
        pytest.fail(f"could not start moto_server: {exc}")
    yield server
    server.close()


@pytest.fixture(scope="session")
def s3_client(moto):
    return moto.client()


@pytest.fixture
def bucket(moto, s3_client):
    name = f"t{next(_counter)}-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_store(moto, bucket):
    from sen12stac.store.s3 import S3Store

    def make(prefix: str = "", *, endpoint_url: str | None = None, **options):
        options.setdefault("access_key_id", TEST_ACCESS_KEY)
        options.setdefault("secret_access_key", TEST_SECRET_KEY)
        return S3Store.from_url(f"s3://{bucket}/{prefix}".rstrip("/"), endpoint_url=endpoint_url or moto.endpoint_url, **options)

    return make


@pytest.fixture(scope="session")
def auth_moto():
    """A second server with authentication switched on: an IAM user and access key are
    created first, then every request must be signed with that key."""
    server = MotoServer()
    try:
        server.start()
        server.client().create_bucket(Bucket="locked")
        key_id, secret = server.create_access_key()
        server.auth_after(0)
    except Exception as exc:  # noqa: BLE001 - a missing server is a failure, never a skip
        server.close()
        pytest.fail(f"could not start the authenticating moto_server: {exc}")
    yield server, key_id, secret
    server.close()
