"""S3 object store (boto3): AWS S3 or any S3-compatible endpoint (MinIO, Ceph RGW, R2, moto).

``S3Store.from_url("s3://bucket/prefix", endpoint_url=..., region=..., profile=...,
access_key_id=..., secret_access_key=...)``. What is not passed is resolved as every AWS tool
does (``AWS_ENDPOINT_URL[_S3]``, ``AWS_REGION``, profiles, the standard credential chain): see
:mod:`sen12stac.store.s3.settings`, shared with the stream layer.

Semantics (see :class:`~sen12stac.store.base.ObjectStore`):

* ``put_if_absent``: ``PutObject`` with ``If-None-Match: *``; 412 -> ``False``. The body
  carries ``Content-MD5`` (the server refuses a corrupted upload) and the SHA-256 as
  ``x-amz-meta-sha256`` (read back by :meth:`S3Store.sha256_of`).
* ``replace``: ``If-Match: <etag>`` (``If-None-Match: *`` when ``expected_etag`` is None);
  412 -> :class:`~sen12stac.errors.ObjectConflictError`.
* Retries: botocore's own retry mode (standard, or ``retry_mode="adaptive"``): throttling
  (503 SlowDown), 5xx, timeouts and dropped connections, with exponential backoff and jitter,
  ``max_attempts`` attempts in all. A retried conditional PUT whose first attempt did land
  answers 412: callers that need to know compare checksums (the release publisher does).
  A GET whose answer breaks off in the body (after botocore returned it) is sent again.
* Errors name the bucket/key and the fix; credentials never appear in messages, logs,
  ``repr`` or pickles.
* Picklable without its credentials: an unpickled copy (a Dask worker) takes them from its own
  environment, profile or role; the boto3 client is created lazily, once per process.
"""
from __future__ import annotations

import base64
import hashlib
from typing import Any, Callable, Iterator, TypeVar

from ...errors import ObjectConflictError, StoreError
from ..base import NotFound, ObjectInfo, ObjectStore, sha256_hex
from ..media import guess_content_type
from .errors import client_error_parts, is_connection_error, store_error
from .secret import Secret
from .settings import S3Settings
from .url import parse_s3_url

T = TypeVar("T")

#: attempts for :meth:`S3Store.check`: at the start an unreachable endpoint is more likely a typo than a blip
CHECK_ATTEMPTS = 3


class S3Store(ObjectStore):
    """Objects under ``s3://bucket/prefix/``. Construct with :meth:`from_url`."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        access_key_id: str | Secret | None = None,
        secret_access_key: str | Secret | None = None,
        session_token: str | Secret | None = None,
        max_attempts: int = 8,
        retry_mode: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_pool_connections: int = 32,
        list_page_size: int = 1000,
        settings: S3Settings | None = None,
    ) -> None:
        url = parse_s3_url(f"s3://{bucket}/{prefix}")
        self.bucket, self.prefix = url.bucket, url.prefix
        if settings is None:
            settings = S3Settings(endpoint_url=endpoint_url, region=region, profile=profile, access_key_id=access_key_id,
                                  secret_access_key=secret_access_key, session_token=session_token, max_attempts=max_attempts,
                                  retry_mode=retry_mode, connect_timeout=connect_timeout, read_timeout=read_timeout,
                                  max_pool_connections=max_pool_connections)
        self.settings = settings
        self.list_page_size = max(1, min(1000, int(list_page_size)))
        self.url = f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    # -- construction -----------------------------------------------------------------
    @classmethod
    def from_url(cls, url: str, **options: Any) -> "S3Store":
        """``s3://bucket[/prefix]`` plus the keyword options of :class:`S3Store`."""
        parsed = parse_s3_url(url)
        return cls(parsed.bucket, parsed.prefix, **options)

    @property
    def endpoint_url(self) -> str | None:
        """The endpoint given (None: resolved from the environment or profile, or AWS)."""
        return self.settings.endpoint_url

    @property
    def region(self) -> str | None:
        return self.settings.region

    @property
    def profile(self) -> str | None:
        return self.settings.profile

    def child(self, sub: str) -> "S3Store":
        """The same bucket and configuration with ``sub`` appended to the prefix."""
        return S3Store(self.bucket, self.prefix + sub.strip("/"), settings=self.settings, list_page_size=self.list_page_size)

    def __reduce__(self):
        """Picklable for Dask workers and subprocesses, **without credentials** (the settings leave
        them out): the copy's boto3 client takes them from where it runs."""
        return (_restore, (self.bucket, self.prefix, self.settings, self.list_page_size))

    def __repr__(self) -> str:
        extra = f", endpoint_url={self.endpoint_url!r}" if self.endpoint_url else ""
        if self.profile:
            extra += f", profile={self.profile!r}"
        return f"S3Store({self.url!r}{extra})"

    # -- boto3 plumbing -------------------------------------------------------------------
    def _client(self, max_attempts: int | None = None) -> Any:
        try:
            return self.settings.boto3_client(max_attempts=max_attempts)
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - botocore set-up errors
            raise self._error("connect", None, exc) from None

    def boto3_client(self) -> Any:
        """The configured boto3 S3 client (bucket-level calls such as ``sen12stac infra apply``)."""
        return self._client()

    def _key(self, key: str) -> str:
        key = key.lstrip("/")
        if not key or any(p in (".", "..") for p in key.split("/")):
            raise StoreError(f"key {key!r} is not a plain object key under {self.url}", fix="use a relative key without '.' or '..'")
        return self.prefix + key

    def _where(self, key: str | None) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key or ''}".rstrip("/")

    def _error(self, op: str, key: str | None, exc: BaseException, *, max_attempts: int | None = None) -> StoreError:
        return store_error(op, self._where(key), exc, settings=self.settings, bucket=self.bucket, prefix=self.prefix, max_attempts=max_attempts)

    def _call(self, op: str, key: str | None, fn: Callable[[Any], T], *, on_client_error: Callable[[Any], T] | None = None,
              max_attempts: int | None = None) -> T:
        """``fn(client)``; botocore retries inside. A ClientError goes to ``on_client_error`` (which
        returns a value or raises), every other failure becomes a StoreError."""
        from botocore.exceptions import ClientError

        client = self._client(max_attempts)
        try:
            return fn(client)
        except ClientError as exc:
            if on_client_error is not None:
                return on_client_error(exc)
            raise self._error(op, key, exc, max_attempts=max_attempts) from None
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - mapped to one StoreError
            raise self._error(op, key, exc, max_attempts=max_attempts) from None

    # -- ObjectStore ---------------------------------------------------------------------
    def check(self) -> None:
        """Fail early with a clear StoreError when the bucket is missing, the credentials are
        wrong, the endpoint is unreachable or listing is not allowed. One LIST request (not
        HEAD bucket: a HEAD answer has no body, so a 403 could not tell bad keys from
        missing rights), with at most :data:`CHECK_ATTEMPTS` attempts."""
        attempts = min(CHECK_ATTEMPTS, self.settings.max_attempts)
        self._call("check", None, lambda c: c.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1), max_attempts=attempts)

    def put_if_absent(self, key: str, data: bytes, content_type: str | None = None, *, sha256: str | None = None) -> bool:
        full = self._key(key)
        md5 = hashlib.md5(data).digest()  # noqa: S324 - Content-MD5 integrity header, not security
        kwargs = dict(Bucket=self.bucket, Key=full, Body=data, IfNoneMatch="*", ContentMD5=base64.b64encode(md5).decode(),
                      ContentType=content_type or guess_content_type(key), Metadata={"sha256": sha256 or sha256_hex(data)})

        def exists(exc: Any) -> bool:
            code, status, _ = client_error_parts(exc)
            if status == 412 or code == "PreconditionFailed":
                return False
            raise self._error("put", key, exc) from None

        def put(client: Any) -> bool:
            client.put_object(**kwargs)
            return True

        return self._call("put", key, put, on_client_error=exists)

    def get(self, key: str) -> bytes:
        full = self._key(key)

        def missing(exc: Any) -> bytes:
            code, status, _ = client_error_parts(exc)
            if code in ("NoSuchKey", "404") or (status == 404 and code != "NoSuchBucket"):
                raise NotFound(f"{self._where(key)} does not exist", fix="check the key or build/publish it first") from None
            raise self._error("get", key, exc) from None

        attempt = 0
        while True:
            resp = self._call("get", key, lambda c: c.get_object(Bucket=self.bucket, Key=full), on_client_error=missing)
            attempt += 1
            try:
                return resp["Body"].read()
            except Exception as exc:  # noqa: BLE001 - the answer broke off in the body: botocore has returned already
                if not is_connection_error(exc) or attempt >= self.settings.max_attempts:
                    raise self._error("get", key, exc) from None

    def _head(self, key: str) -> dict[str, Any] | None:
        full = self._key(key)

        def absent(exc: Any) -> None:
            code, status, _ = client_error_parts(exc)
            if status == 404 or code in ("NoSuchKey", "NotFound", "404"):
                return None
            raise self._error("head", key, exc) from None

        return self._call("head", key, lambda c: c.head_object(Bucket=self.bucket, Key=full), on_client_error=absent)

    def head(self, key: str) -> ObjectInfo | None:
        resp = self._head(key)
        if resp is None:
            return None
        return ObjectInfo(key=key.lstrip("/"), size=int(resp["ContentLength"]), etag=_strip_etag(resp.get("ETag")))

    def sha256_of(self, key: str) -> str | None:
        """The SHA-256 recorded at upload (``x-amz-meta-sha256``), or None (absent object or
        uploaded by another tool). One HEAD request."""
        resp = self._head(key)
        if resp is None:
            return None
        return (resp.get("Metadata") or {}).get("sha256")

    def _pages(self, full: str, what: str | None, delimiter: str | None = None) -> Iterator[dict[str, Any]]:
        """LIST pages under the full key prefix ``full``."""
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": full, "MaxKeys": self.list_page_size}
            if delimiter:
                kwargs["Delimiter"] = delimiter
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call("list", what, lambda c: c.list_objects_v2(**kwargs))
            yield page
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        n = len(self.prefix)
        for page in self._pages(self.prefix + prefix.lstrip("/"), prefix or None):
            for obj in page.get("Contents", []):
                yield ObjectInfo(key=obj["Key"][n:], size=int(obj["Size"]), etag=_strip_etag(obj.get("ETag")))

    def list_dirs(self, prefix: str = "") -> list[str]:
        """Immediate sub-"folders" under ``prefix`` (a delimiter LIST), e.g. ``["v1.0.0", ...]``."""
        full = self.prefix + prefix.lstrip("/")
        if full and not full.endswith("/"):
            full += "/"
        return sorted(cp["Prefix"][len(full):].rstrip("/") for page in self._pages(full, prefix or None, "/") for cp in page.get("CommonPrefixes", []))

    def replace(self, key: str, data: bytes, expected_etag: str | None, content_type: str | None = None) -> None:
        full = self._key(key)
        md5 = hashlib.md5(data).digest()  # noqa: S324
        kwargs: dict[str, Any] = dict(Bucket=self.bucket, Key=full, Body=data, ContentMD5=base64.b64encode(md5).decode(),
                                      ContentType=content_type or guess_content_type(key), Metadata={"sha256": sha256_hex(data)})
        if expected_etag is None:
            kwargs["IfNoneMatch"] = "*"
        else:
            kwargs["IfMatch"] = f'"{expected_etag.strip(chr(34))}"'

        def conflict(exc: Any) -> None:
            code, status, _ = client_error_parts(exc)
            if status in (412, 409) or code in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise ObjectConflictError(f"{self._where(key)} changed underneath us (expected ETag {expected_etag})",
                                          fix="re-run the command; it re-reads the current object") from None
            if status == 404 and expected_etag is not None and code != "NoSuchBucket":
                raise ObjectConflictError(f"{self._where(key)} was deleted underneath us (expected ETag {expected_etag})",
                                          fix="re-run the command; it re-reads the current object") from None
            raise self._error("replace", key, exc) from None

        self._call("replace", key, lambda c: c.put_object(**kwargs), on_client_error=conflict)

    def discard(self, key: str) -> None:
        """Delete an object this run wrote but did not commit (a failed scene's keys; see
        ``pipeline.discard_written``). Never used on published objects. Absent is fine."""
        full = self._key(key)

        def absent(exc: Any) -> None:
            code, status, _ = client_error_parts(exc)
            if status == 404 and code != "NoSuchBucket":
                return None
            raise self._error("delete", key, exc) from None

        self._call("delete", key, lambda c: c.delete_object(Bucket=self.bucket, Key=full), on_client_error=absent)

    def gdal_path(self, key: str) -> str:
        return f"/vsis3/{self.bucket}/{self._key(key)}"

    def gdal_env(self, **gdal_overrides: Any) -> dict[str, Any]:
        """``rasterio.Env`` kwargs to read :meth:`gdal_path` objects with the same endpoint and
        credentials (see :mod:`sen12stac.runtime.gdalenv`)."""
        from ...runtime.gdalenv import rasterio_env_kwargs

        resolved = self.settings.resolve()
        return rasterio_env_kwargs(endpoint_url=resolved.endpoint_url, region=resolved.region, boto3_session=resolved.session, **gdal_overrides)


def _restore(bucket: str, prefix: str, settings: S3Settings, list_page_size: int) -> S3Store:
    return S3Store(bucket, prefix, settings=settings, list_page_size=list_page_size)


def _strip_etag(etag: str | None) -> str | None:
    return etag.strip('"') if etag else None
