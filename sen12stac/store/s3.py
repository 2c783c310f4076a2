"""S3 object store (boto3): AWS S3 or any S3-compatible endpoint (MinIO, Ceph RGW, R2, moto).

``S3Store.from_url("s3://bucket/prefix", endpoint_url=..., region=..., profile=...,
access_key_id=..., secret_access_key=...)``. All configuration is passed in; this module
never reads environment variables. When neither keys nor a profile are given, boto3's own
standard credential chain is used (environment variables, ``~/.aws`` files, container or
instance roles) -- that lookup is boto3's, documented in docs/releases.md.

Semantics (see :class:`~sen12stac.store.base.ObjectStore`):

* ``put_if_absent``: ``PutObject`` with ``If-None-Match: *``; 412 -> ``False``. The body
  carries ``Content-MD5`` (the server refuses a corrupted upload) and the SHA-256 as
  ``x-amz-meta-sha256`` (read back by :meth:`S3Store.sha256_of`).
* ``replace``: ``If-Match: <etag>`` (``If-None-Match: *`` when ``expected_etag`` is None);
  412 -> :class:`~sen12stac.errors.ObjectConflictError`.
* Retries: throttling (503 SlowDown and friends), 5xx, 409 conditional-write conflicts,
  connection resets/drops and timeouts are retried here with exponential backoff and full
  jitter (botocore's own retries are switched off so the two do not multiply). A retried
  conditional PUT whose first attempt did land answers 412: callers that need to know
  compare checksums (the release publisher does).
* Errors name the bucket/key and the fix; credentials never appear in messages, logs or
  ``repr`` (they are held in :class:`Secret` wrappers and scrubbed from server messages).
* Picklable (``__reduce__``); the boto3 client is created lazily, once per process.
"""
from __future__ import annotations

import base64
import hashlib
import logging
import mimetypes
import os
import random
import re
import threading
import time
from typing import Any, Callable, Iterator, TypeVar

from ..errors import ConfigError, ObjectConflictError, StoreError
from .base import NotFound, ObjectInfo, ObjectStore, sha256_hex

log = logging.getLogger("sen12stac.store.s3")

T = TypeVar("T")

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-_]{1,61}[a-z0-9]$")
_MD5_ETAG_RE = re.compile(r"^[0-9a-f]{32}$")

# Error codes that are worth another attempt (besides any HTTP 5xx and connection errors).
RETRYABLE_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestLimitExceeded",
        "TooManyRequests",
        "TooManyRequestsException",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "ServiceUnavailable",
        "ConditionalRequestConflict",  # 409: a concurrent conditional write is in progress
        "OperationAborted",
        "BadDigest",  # Content-MD5 mismatch: the body was damaged in transit
        "IncompleteBody",
    }
)
_CREDENTIAL_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "TokenRefreshRequired",
        "InvalidClientTokenId",
        "AuthorizationHeaderMalformed",
        "UnrecognizedClientException",
    }
)


class Secret:
    """A credential that never shows itself in ``repr``/``str``/f-strings/logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "***"

    def __reduce__(self):
        return (Secret, (self._value,))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


def backoff_delay(attempt: int, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff with full jitter: uniform in ``[0, min(cap, base * 2**(attempt-1))]``."""
    return rand() * min(cap, base * (2 ** max(0, attempt - 1)))


def guess_content_type(key: str) -> str:
    low = key.lower()
    if low.endswith((".tif", ".tiff")):
        from ..cog import COG_MEDIA_TYPE

        return COG_MEDIA_TYPE
    if low.endswith(".json"):
        return "application/json"
    if low.endswith(".parquet"):
        return "application/vnd.apache.parquet"
    if low.endswith(".md"):
        return "text/markdown; charset=utf-8"
    if low.endswith(".ndjson"):
        return "application/x-ndjson"
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


def is_md5_etag(etag: str | None) -> bool:
    """True when an ETag is a plain MD5 of the body (single-part PUT, no SSE-KMS)."""
    return bool(etag) and bool(_MD5_ETAG_RE.match(etag.strip('"')))


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ``("bucket", "a/b/")`` (prefix ``""`` for a whole bucket), checked:
    a valid bucket name and no ``.``/``..`` in the prefix (:class:`ConfigError` naming the fix)."""
    if not url.startswith("s3://"):
        raise ConfigError(f"{url!r} is not an s3:// URL", fix="use s3://BUCKET[/PREFIX]")
    rest = url[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    if not _BUCKET_RE.match(bucket or ""):
        raise ConfigError(
            f"{url!r} does not name a valid bucket ({bucket!r})",
            fix="use s3://BUCKET[/PREFIX] with a bucket name of 3-63 lower-case letters, digits, '.' or '-'",
        )
    prefix = "/".join(p for p in prefix.split("/") if p)
    if any(p in (".", "..") for p in prefix.split("/")):
        raise ConfigError(f"{url!r} has '.' or '..' in its prefix", fix="use a plain prefix such as s3://bucket/sen12")
    return bucket, (prefix + "/" if prefix else "")


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
        backoff_base: float = 0.1,
        backoff_cap: float = 10.0,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_pool_connections: int = 32,
        list_page_size: int = 1000,
    ) -> None:
        bucket_url = f"s3://{bucket}/{prefix}"
        self.bucket, self.prefix = parse_s3_url(bucket_url)
        if endpoint_url is not None:
            from ..gdalenv import endpoint_parts

            endpoint_parts(endpoint_url)  # validates (scheme, no user:password@)
            endpoint_url = endpoint_url.rstrip("/")
        if bool(access_key_id) != bool(secret_access_key):
            raise ConfigError(
                f"for s3://{self.bucket}: only one of access key id / secret access key was given",
                fix="pass both, or neither to use a profile or boto3's standard credential chain",
            )
        if profile and access_key_id:
            raise ConfigError(
                f"for s3://{self.bucket}: both a profile and explicit keys were given",
                fix="pass either --profile or the access key pair, not both",
            )
        if max_attempts < 1:
            raise ConfigError(f"max_attempts={max_attempts}", fix="use 1 or more (1 = no retries)")
        self.endpoint_url = endpoint_url
        self.region = region
        self.profile = profile
        self._key_id = _secret(access_key_id)
        self._secret_key = _secret(secret_access_key)
        self._token = _secret(session_token)
        self.max_attempts = int(max_attempts)
        self.backoff_base = float(backoff_base)
        self.backoff_cap = float(backoff_cap)
        self.connect_timeout = float(connect_timeout)
        self.read_timeout = float(read_timeout)
        self.max_pool_connections = int(max_pool_connections)
        self.list_page_size = max(1, min(1000, int(list_page_size)))
        self.url = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self._lock = threading.Lock()
        self._client_obj: Any = None
        self._session_obj: Any = None
        self._pid: int | None = None

    # -- construction -----------------------------------------------------------------
    @classmethod
    def from_url(cls, url: str, **options: Any) -> "S3Store":
        """``s3://bucket[/prefix]`` plus the keyword options of :class:`S3Store`."""
        bucket, prefix = parse_s3_url(url)
        return cls(bucket, prefix, **options)

    def _options(self) -> dict[str, Any]:
        return dict(
            endpoint_url=self.endpoint_url,
            region=self.region,
            profile=self.profile,
            access_key_id=self._key_id,
            secret_access_key=self._secret_key,
            session_token=self._token,
            max_attempts=self.max_attempts,
            backoff_base=self.backoff_base,
            backoff_cap=self.backoff_cap,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            max_pool_connections=self.max_pool_connections,
            list_page_size=self.list_page_size,
        )

    def child(self, sub: str) -> "S3Store":
        """The same bucket and configuration with ``sub`` appended to the prefix."""
        return S3Store(self.bucket, self.prefix + sub.strip("/"), **self._options())

    def __reduce__(self):  # picklable for Dask workers / subprocesses (credentials included)
        return (_restore, (self.bucket, self.prefix, self._options()))

    def __repr__(self) -> str:
        extra = f", endpoint_url={self.endpoint_url!r}" if self.endpoint_url else ""
        if self.profile:
            extra += f", profile={self.profile!r}"
        return f"S3Store({self.url!r}{extra})"

    # -- boto3 plumbing -------------------------------------------------------------------
    def _session(self) -> Any:
        self._client()
        return self._session_obj

    def _client(self) -> Any:
        pid = os.getpid()
        if self._client_obj is not None and self._pid == pid:
            return self._client_obj
        with self._lock:
            if self._client_obj is not None and self._pid == pid:
                return self._client_obj
            import boto3
            from botocore.config import Config
            from botocore.exceptions import BotoCoreError

            try:
                if self._key_id is not None:
                    session = boto3.Session(
                        aws_access_key_id=self._key_id.reveal(),
                        aws_secret_access_key=self._secret_key.reveal() if self._secret_key else None,
                        aws_session_token=self._token.reveal() if self._token else None,
                        region_name=self.region,
                    )
                else:
                    session = boto3.Session(profile_name=self.profile, region_name=self.region)
                config = Config(
                    region_name=self.region or session.region_name or "us-east-1",
                    retries={"mode": "standard", "total_max_attempts": 1},  # we retry ourselves
                    connect_timeout=self.connect_timeout,
                    read_timeout=self.read_timeout,
                    max_pool_connections=self.max_pool_connections,
                    s3={"addressing_style": "path"} if self.endpoint_url else {},
                    # Content-MD5 instead of the CRC trailers botocore >= 1.36 adds by default
                    # (several S3-compatible servers reject those).
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                )
                client = session.client("s3", endpoint_url=self.endpoint_url, config=config)
            except BotoCoreError as exc:  # ProfileNotFound, invalid region, ...
                raise self._error("connect", None, exc) from None
            self._session_obj = session
            self._client_obj = client
            self._pid = pid
            return client

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

    def _endpoint_name(self) -> str:
        return self.endpoint_url or "AWS S3"

    def _scrub(self, text: str) -> str:
        for s in (self._key_id, self._secret_key, self._token):
            if s is not None and s.reveal():
                text = text.replace(s.reveal(), "***")
        return text

    def _retrying(self, op: str, key: str | None, fn: Callable[[], T], max_attempts: int | None = None) -> T:
        """Run ``fn``; retry retryable failures with backoff and full jitter. Non-retryable
        exceptions propagate unchanged (callers map them); exhausted retries -> StoreError."""
        max_attempts = max_attempts or self.max_attempts
        attempt = 0
        while True:
            attempt += 1
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 - classified below
                if not _retryable(exc):
                    raise
                if attempt >= max_attempts:
                    raise self._error(op, key, exc, attempts=attempt) from None
                delay = backoff_delay(attempt, self.backoff_base, self.backoff_cap)
                log.info(
                    "%s %s: %s, retry %d/%d in %.2fs",
                    op,
                    self._where(key),
                    self._scrub(_describe(exc)),
                    attempt,
                    max_attempts - 1,
                    delay,
                )
                time.sleep(delay)

    def _error(self, op: str, key: str | None, exc: BaseException, *, attempts: int | None = None) -> StoreError:
        """Map a boto3/botocore failure to a StoreError naming the bucket/key and the fix."""
        from botocore.exceptions import (
            ClientError,
            EndpointConnectionError,
            NoCredentialsError,
            PartialCredentialsError,
            ProfileNotFound,
        )

        where = self._where(key)
        endpoint = self._endpoint_name()
        resume = "the command is safe to re-run: it skips what is already there"
        if isinstance(exc, ClientError):
            code, status, message = _client_error_parts(exc)
            message = self._scrub(message)
            if code == "NoSuchBucket" or (op == "check" and status == 404):
                return StoreError(
                    f"bucket {self.bucket!r} does not exist at {endpoint} ({op} {where})",
                    fix="create the bucket (infra/README.md: aws cloudformation deploy ...) or correct the s3:// URL / --endpoint-url",
                )
            if code in _CREDENTIAL_CODES:
                return StoreError(
                    f"{op} {where} refused by {endpoint}: the credentials are not valid there ({code})",
                    fix="check the access key pair or --profile (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_PROFILE for the CLI), "
                    "the --endpoint-url and the region",
                )
            if code in ("AccessDenied", "AllAccessDisabled") or status == 403:
                return StoreError(
                    f"{op} {where} denied by {endpoint} ({code or status})",
                    fix=f"grant these credentials s3:ListBucket on {self.bucket} and s3:GetObject/s3:PutObject on "
                    f"{self.bucket}/{self.prefix}* (infra/README.md lists the policy), or use other credentials",
                )
            tail = f" after {attempts} attempts" if attempts else ""
            return StoreError(
                f"{op} {where} failed at {endpoint}{tail}: {code or 'HTTP ' + str(status)} {message}".rstrip(),
                fix=resume if attempts else "check the bucket, key and permissions",
            )
        if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
            return StoreError(
                f"no usable AWS credentials for {where}",
                fix="pass --profile, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or run with an instance/container role)",
            )
        if isinstance(exc, ProfileNotFound):
            return StoreError(
                f"AWS profile {self.profile!r} (for {where}) is not configured",
                fix="use a profile listed in ~/.aws/config or ~/.aws/credentials, or pass the access key pair",
            )
        if isinstance(exc, EndpointConnectionError) or _is_connection_error(exc):
            tail = f" after {attempts} attempts" if attempts else ""
            return StoreError(
                f"{op} {where}: cannot reach {endpoint}{tail} ({type(exc).__name__})",
                fix=f"check --endpoint-url and the network; {resume}",
            )
        return StoreError(
            f"{op} {where} failed at {endpoint}: {type(exc).__name__}: {self._scrub(str(exc))}",
            fix=resume,
        )

    # -- ObjectStore ---------------------------------------------------------------------
    def check(self) -> None:
        """Fail early with a clear StoreError when the bucket is missing, the credentials are
        wrong, the endpoint is unreachable or listing is not allowed. One LIST request (not
        HEAD bucket: a HEAD answer has no body, so a 403 could not tell bad keys from
        missing rights)."""
        client = self._client()
        kwargs = {"Bucket": self.bucket, "Prefix": self.prefix, "MaxKeys": 1}
        try:
            # few attempts: at the start an unreachable endpoint is more likely a typo than a blip
            self._retrying("check", None, lambda: client.list_objects_v2(**kwargs), max_attempts=min(3, self.max_attempts))
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._error("check", None, exc) from None

    def put_if_absent(
        self, key: str, data: bytes, content_type: str | None = None, *, sha256: str | None = None
    ) -> bool:
        from botocore.exceptions import ClientError

        full = self._key(key)
        md5 = hashlib.md5(data).digest()  # noqa: S324 - Content-MD5 integrity header, not security
        kwargs = dict(
            Bucket=self.bucket,
            Key=full,
            Body=data,
            IfNoneMatch="*",
            ContentMD5=base64.b64encode(md5).decode(),
            ContentType=content_type or guess_content_type(key),
            Metadata={"sha256": sha256 or sha256_hex(data)},
        )
        client = self._client()
        try:
            self._retrying("put", key, lambda: client.put_object(**kwargs))
            return True
        except ClientError as exc:
            code, status, _ = _client_error_parts(exc)
            if status == 412 or code == "PreconditionFailed":
                return False
            raise self._error("put", key, exc) from None
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._error("put", key, exc) from None

    def get(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        full = self._key(key)
        client = self._client()
        try:
            return self._retrying("get", key, lambda: client.get_object(Bucket=self.bucket, Key=full)["Body"].read())
        except ClientError as exc:
            code, status, _ = _client_error_parts(exc)
            if code in ("NoSuchKey", "404") or (status == 404 and code != "NoSuchBucket"):
                raise NotFound(f"{self._where(key)} does not exist", fix="check the key or build/publish it first") from None
            raise self._error("get", key, exc) from None
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._error("get", key, exc) from None

    def _head(self, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        full = self._key(key)
        client = self._client()
        try:
            return self._retrying("head", key, lambda: client.head_object(Bucket=self.bucket, Key=full))
        except ClientError as exc:
            code, status, _ = _client_error_parts(exc)
            if status == 404 or code in ("NoSuchKey", "NotFound", "404"):
                return None
            raise self._error("head", key, exc) from None
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._error("head", key, exc) from None

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
        """LIST pages under the full key prefix ``full``, each request retried."""
        client = self._client()
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": full, "MaxKeys": self.list_page_size}
            if delimiter:
                kwargs["Delimiter"] = delimiter
            if token:
                kwargs["ContinuationToken"] = token
            try:
                page = self._retrying("list", what, lambda: client.list_objects_v2(**kwargs))
            except StoreError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise self._error("list", what, exc) from None
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
        return sorted(cp["Prefix"][len(full) :].rstrip("/") for page in self._pages(full, prefix or None, "/") for cp in page.get("CommonPrefixes", []))

    def replace(self, key: str, data: bytes, expected_etag: str | None, content_type: str | None = None) -> None:
        from botocore.exceptions import ClientError

        full = self._key(key)
        md5 = hashlib.md5(data).digest()  # noqa: S324
        kwargs: dict[str, Any] = dict(
            Bucket=self.bucket,
            Key=full,
            Body=data,
            ContentMD5=base64.b64encode(md5).decode(),
            ContentType=content_type or guess_content_type(key),
            Metadata={"sha256": sha256_hex(data)},
        )
        if expected_etag is None:
            kwargs["IfNoneMatch"] = "*"
        else:
            kwargs["IfMatch"] = f'"{expected_etag.strip(chr(34))}"'
        client = self._client()
        try:
            self._retrying("replace", key, lambda: client.put_object(**kwargs))
        except ClientError as exc:
            code, status, _ = _client_error_parts(exc)
            if status in (412, 409) or code in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise ObjectConflictError(
                    f"{self._where(key)} changed underneath us (expected ETag {expected_etag})",
                    fix="re-run the command; it re-reads the current object",
                ) from None
            if status == 404 and expected_etag is not None and code != "NoSuchBucket":
                raise ObjectConflictError(
                    f"{self._where(key)} was deleted underneath us (expected ETag {expected_etag})",
                    fix="re-run the command; it re-reads the current object",
                ) from None
            raise self._error("replace", key, exc) from None
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._error("replace", key, exc) from None

    def gdal_path(self, key: str) -> str:
        return f"/vsis3/{self.bucket}/{self._key(key)}"

    def gdal_env(self, **gdal_overrides: Any) -> dict[str, Any]:
        """``rasterio.Env`` kwargs to read :meth:`gdal_path` objects with the same endpoint and
        credentials (see :mod:`sen12stac.gdalenv`)."""
        from ..gdalenv import rasterio_env_kwargs

        return rasterio_env_kwargs(
            endpoint_url=self.endpoint_url, region=self.region, boto3_session=self._session(), **gdal_overrides
        )


def _restore(bucket: str, prefix: str, options: dict[str, Any]) -> S3Store:
    return S3Store(bucket, prefix, **options)


def _secret(value: str | Secret | None) -> Secret | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, Secret) else Secret(str(value))


def _strip_etag(etag: str | None) -> str | None:
    return etag.strip('"') if etag else None


def _client_error_parts(exc: Any) -> tuple[str, int | None, str]:
    resp = getattr(exc, "response", {}) or {}
    err = resp.get("Error", {}) or {}
    status = (resp.get("ResponseMetadata", {}) or {}).get("HTTPStatusCode")
    return str(err.get("Code", "") or ""), status, str(err.get("Message", "") or "")


def _is_connection_error(exc: BaseException) -> bool:
    from botocore.exceptions import (
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        IncompleteReadError,
        ReadTimeoutError,
        ResponseStreamingError,
    )
    from botocore.exceptions import ConnectionError as BotoConnectionError

    if isinstance(
        exc,
        (
            BotoConnectionError,
            ConnectionClosedError,
            ConnectTimeoutError,
            EndpointConnectionError,
            ReadTimeoutError,
            ResponseStreamingError,
            IncompleteReadError,
            ConnectionError,  # builtin: reset, aborted, refused
            TimeoutError,
        ),
    ):
        return True
    from urllib3.exceptions import HTTPError as Urllib3Error  # botocore's HTTP client

    return isinstance(exc, Urllib3Error)  # urllib3 errors can leak out of a streaming body read


def _retryable(exc: BaseException) -> bool:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        code, status, _ = _client_error_parts(exc)
        return code in RETRYABLE_CODES or (status is not None and status >= 500)
    return _is_connection_error(exc)


def _describe(exc: BaseException) -> str:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        code, status, _ = _client_error_parts(exc)
        return f"{code or 'error'} (HTTP {status})"
    return type(exc).__name__
