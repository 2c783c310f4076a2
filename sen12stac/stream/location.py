"""Where a release lives, and one GET per object: a folder, ``s3://bucket/prefix``, or ``http(s)://``.

Reads go through obstore (object_store, Rust): it measured fastest here for whole-object
GETs of 60-100 KB patch files (bench/bench_stream.py; docs/streaming.md), with about a
quarter of boto3's client CPU per GET. Every :meth:`Location.get` is exactly one HTTP GET
of the whole object: no HEAD, no LIST, no ranged second read.

S3 settings are the store's (:class:`~sen12stac.store.s3.S3Settings`, one resolution for
both): the endpoint given, else ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` / the profile's;
the region; credentials from the explicit keys, a profile or boto3's standard chain. The
obstore client and the boto3 client of the metadata reads are both configured from that one
:class:`~sen12stac.store.s3.ResolvedS3`. With no credentials found anywhere, or with
``anonymous=True``, requests go unsigned (public buckets).

A pickled location (a DataLoader worker's copy) carries no credentials: each process takes
them from its own environment, profile or role.
"""
from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError, StoreError
from ..store.s3.settings import S3Settings
from ..store.s3.url import S3Url, parse_s3_url

#: The stream's S3 settings are the store's (the old name, kept for callers).
S3Options = S3Settings

# obstore runs its requests on one tokio runtime per process, started by the first request;
# a process forked after that (a DataLoader worker) inherits a runtime without threads and
# its requests hang. So: obstore only in a process that started its own runtime (or none
# was started before the fork); otherwise, and for the few metadata reads of a selection
# (so the usual "select, then DataLoader(num_workers>0)" never starts it in the parent),
# the plain client: boto3 for S3, urllib for HTTP -- also one GET per object.
_RUNTIME_PID: int | None = None

# Per process: obstore stores of http(s) base URLs (S3 ones are kept by their settings object).
_lock = threading.Lock()
_http_stores: dict[tuple[int, str], Any] = {}

NO_CREDENTIALS = "no AWS credentials were found (environment, profile or role), so the request went unsigned"


class Missing(StoreError, FileNotFoundError):
    """The object does not exist (404 / no such file)."""


def unsigned(settings: S3Settings) -> bool:
    """Whether reads with ``settings`` go unsigned: ``anonymous=True``, or no credentials anywhere."""
    return settings.cached("unsigned", lambda: settings.anonymous or settings.resolve().credentials() is None)


def obstore_s3(bucket: str, settings: S3Settings) -> Any:
    """The obstore S3 client for ``bucket``, configured from the settings' one resolution
    (endpoint, path style and plain HTTP off AWS, region, credentials, timeouts, attempts)."""
    from datetime import timedelta

    from obstore.store import S3Store

    resolved = settings.resolve()
    kw: dict[str, Any] = {
        "region": resolved.region,
        "client_options": {"timeout": f"{settings.read_timeout:g}s", "connect_timeout": f"{settings.connect_timeout:g}s"},
        "retry_config": {"max_retries": settings.max_attempts - 1, "retry_timeout": timedelta(minutes=3)},
    }
    if resolved.endpoint_url:
        # both keys: obstore also reads AWS_ENDPOINT_URL_S3 itself, which would win over `endpoint`
        kw.update(endpoint=resolved.endpoint_url, aws_endpoint_url_s3=resolved.endpoint_url, virtual_hosted_style_request=False)
        kw["client_options"]["allow_http"] = resolved.allow_http
    if unsigned(settings):
        kw["skip_signature"] = True
    else:
        from obstore.auth.boto3 import Boto3CredentialProvider

        kw["credential_provider"] = Boto3CredentialProvider(resolved.session)
    try:
        return S3Store(bucket, **kw)
    except Exception as exc:  # noqa: BLE001 - obstore's config errors
        raise ConfigError(f"cannot set up reads from s3://{bucket}: {settings.scrub(str(exc))[:300]}", fix="check the endpoint URL and region") from None


@dataclass
class Location:
    """A release root (or any folder of objects) that can GET keys below it.

    ``kind`` is ``file``, ``s3`` or ``http``; ``root`` a folder path, ``bucket/prefix`` or a
    base URL. Picklable without credentials; the obstore client is built lazily once per
    process (a client made before a fork is not used after it), so DataLoader workers each
    get their own.
    """

    kind: str
    root: str
    s3: S3Settings = field(default_factory=S3Settings)

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def parse(cls, url: str, **s3_options: Any) -> "Location":
        """A folder path, ``file://``, ``s3://bucket/prefix`` or ``http(s)://`` URL of a folder."""
        url = str(url)
        if url.startswith("s3://"):
            parsed = parse_s3_url(url)
            return cls("s3", f"{parsed.bucket}/{parsed.path}".rstrip("/"), S3Settings.make(**s3_options))
        if url.startswith(("http://", "https://")):
            return cls("http", url.rstrip("/"))
        if "://" in url and not url.startswith("file://"):
            raise ConfigError(f"{url!r}: unsupported location", fix="use a folder, file://, s3://bucket/prefix or an http(s):// URL")
        path = url[len("file://"):] if url.startswith("file://") else url
        return cls("file", str(Path(path).resolve()))

    @property
    def url(self) -> str:
        return {"s3": "s3://", "http": "", "file": ""}[self.kind] + self.root

    def join(self, key: str) -> str:
        return f"{self.url.rstrip('/')}/{key.lstrip('/')}"

    def child(self, sub: str) -> "Location":
        sub = sub.strip("/")
        return Location(self.kind, f"{self.root.rstrip('/')}/{sub}" if sub else self.root, self.s3)

    def _s3_object(self, key: str) -> S3Url:
        """The bucket and full object key of ``key`` below this S3 location."""
        root = parse_s3_url(self.url)
        return S3Url(root.bucket, root.prefix + key)

    # -- obstore plumbing --------------------------------------------------------------------
    def _client(self) -> Any:
        """This process's obstore store: for the bucket (keys from the bucket's root) or the base URL."""
        if self.kind == "s3":
            bucket = parse_s3_url(self.url).bucket
            return self.s3.cached(("obstore", bucket), lambda: obstore_s3(bucket, self.s3))
        key = (os.getpid(), self.root)
        store = _http_stores.get(key)
        if store is None:
            from obstore.store import HTTPStore

            with _lock:
                store = _http_stores.get(key)
                if store is None:
                    store = _http_stores[key] = HTTPStore.from_url(self.root + "/", client_options={
                        "allow_http": True, "timeout": "60s", "connect_timeout": "10s"})
        return store

    # -- reads -------------------------------------------------------------------------------
    def get(self, key: str, *, plain: bool = False, start: int | None = None, length: int | None = None) -> bytes:
        """The whole object at ``key`` in one GET (with ``start``/``length``: that byte range, in
        one ranged GET). :class:`Missing` when absent, :class:`StoreError` otherwise.

        ``plain``: use the plain client (boto3 / urllib) instead of obstore (metadata reads)."""
        global _RUNTIME_PID
        key = key.lstrip("/")
        ranged = start is not None and length is not None
        if self.kind == "file":
            path = Path(self.root) / key
            try:
                if ranged:
                    with open(path, "rb") as f:
                        f.seek(start)  # type: ignore[arg-type]
                        return f.read(length)  # type: ignore[arg-type]
                return path.read_bytes()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                raise Missing(f"{path} does not exist", fix="check the release location and the selection") from None
            except OSError as exc:
                raise StoreError(f"cannot read {path}: {exc.strerror}", fix="check the file's permissions") from None
        if plain or (_RUNTIME_PID is not None and _RUNTIME_PID != os.getpid()) or (ranged and self.kind == "http"):
            # http ranges: urllib, which also takes a server's whole-file 200 answer (a server without Range support)
            return self._plain_get(key, (start, length) if ranged else None)
        import obstore
        from obstore.exceptions import NotFoundError, PermissionDeniedError, UnauthenticatedError

        path = self._s3_object(key).key if self.kind == "s3" else key
        try:
            store = self._client()
            if _RUNTIME_PID is None:
                _RUNTIME_PID = os.getpid()
            if ranged:  # a shard's range: obstore's buffer as it is (no copy of up to 16 MiB; len and memoryview work)
                return obstore.get_range(store, path, start=start, length=length)  # type: ignore[arg-type,return-value]
            return bytes(obstore.get(store, path).bytes())
        except (NotFoundError, FileNotFoundError):
            raise Missing(f"{self.join(key)} does not exist", fix="check the release location and the selection") from None
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - network, permission, server errors
            msg = self.s3.scrub(_obstore_reason(exc))
            if self.kind == "s3" and isinstance(exc, (PermissionDeniedError, UnauthenticatedError)) and unsigned(self.s3) and not self.s3.anonymous:
                msg = f"{NO_CREDENTIALS}: {msg}"
            hint = "check the endpoint, credentials or --anonymous for a public bucket" if self.kind == "s3" else "check the URL"
            raise StoreError(f"cannot read {self.join(key)}: {msg}", fix=hint) from None

    def _plain_get(self, key: str, byte_range: tuple[int, int] | None = None) -> bytes:
        rng = {} if byte_range is None else {"Range": f"bytes={byte_range[0]}-{byte_range[0] + byte_range[1] - 1}"}
        if self.kind == "http":
            import urllib.error
            import urllib.request

            url = self.join(key)
            try:
                with urllib.request.urlopen(urllib.request.Request(url, headers=rng), timeout=60) as resp:  # noqa: S310 - http(s) only (checked in parse)
                    data = resp.read()
                    if byte_range is not None and resp.status == 200:  # the server sent the whole object
                        data = data[byte_range[0]: byte_range[0] + byte_range[1]]
                    return data
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    raise Missing(f"{url} does not exist", fix="check the release location and the selection") from None
                raise StoreError(f"cannot read {url}: HTTP {exc.code}", fix="check the URL") from None
            except (urllib.error.URLError, OSError) as exc:
                raise StoreError(f"cannot read {url}: {getattr(exc, 'reason', exc)}", fix="check the URL and the network") from None
        from botocore.exceptions import BotoCoreError, ClientError

        from ..store.s3.errors import client_error_parts

        obj = self._s3_object(key)
        try:
            return self.s3.boto3_client(unsigned=unsigned(self.s3)).get_object(Bucket=obj.bucket, Key=obj.key, **rng)["Body"].read()
        except ClientError as exc:
            code, status, _ = client_error_parts(exc)
            if code in ("NoSuchKey", "404", "NotFound"):
                raise Missing(f"{self.join(key)} does not exist", fix="check the release location and the selection") from None
            why = f"{code} (HTTP {status})"
            if status == 403 and unsigned(self.s3) and not self.s3.anonymous:
                why = f"{NO_CREDENTIALS}: {why}"
            raise StoreError(f"cannot read {self.join(key)} at {self.s3.endpoint_name()}: {why}",
                             fix="check the endpoint, credentials or --anonymous for a public bucket") from None
        except BotoCoreError as exc:
            raise StoreError(f"cannot read {self.join(key)} at {self.s3.endpoint_name()}: {self.s3.scrub(str(exc))[:300]}",
                             fix="check the endpoint URL and the network") from None


def _obstore_reason(exc: BaseException) -> str:
    """An obstore error in a few words: the HTTP status and the S3 error code when the server
    answered (``HTTP 403 Forbidden (SignatureDoesNotMatch)``), else its first line."""
    text = str(exc)
    status = re.search(r"status code: (\d{3}[A-Za-z -]*)", text)
    if status:
        code = re.search(r"<Code>([^<]{1,80})</Code>", text)
        return f"HTTP {status.group(1).strip()}" + (f" ({code.group(1)})" if code else "")
    first = text.splitlines()[0] if text else type(exc).__name__
    return first[:300]


def resolve(base_key: str, href: str) -> str:
    """A relative href inside an object at ``base_key`` -> a key from the location's root
    (the project's one resolver, :func:`sen12stac.stac.hrefs.resolve_href`); absolute hrefs stay as they are."""
    from ..stac.hrefs import resolve_href

    if "://" in href or href.startswith("/"):
        return href
    key = resolve_href(base_key, href)
    if key is None:
        raise ConfigError(f"href {href!r} in {base_key} points outside the release", fix="republish the release with hrefs inside it")
    return key


def split_absolute(href: str, base: Location) -> tuple[Location, str]:
    """An absolute href (``s3://``, ``http(s)://``, ``file://``, ``/path``) -> (location, key).

    An href under ``base`` keeps ``base`` (and its credentials); other S3 hrefs take
    ``base``'s S3 settings (the API path: a base with an empty root only carries them)."""
    if base.root and href.startswith(base.url.rstrip("/") + "/"):
        return base, href[len(base.url.rstrip("/")) + 1:]
    if href.startswith("s3://"):
        obj = parse_s3_url(href)
        return Location("s3", obj.bucket, base.s3), obj.key
    if href.startswith(("http://", "https://")):
        parts = urlsplit(href)
        return Location("http", f"{parts.scheme}://{parts.netloc}"), parts.path.lstrip("/")
    path = href[len("file://"):] if href.startswith("file://") else href
    return Location("file", "/"), path.lstrip("/")
