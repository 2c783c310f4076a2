"""Where a release lives, and one GET per object: a folder, ``s3://bucket/prefix``, or ``http(s)://``.

Reads go through obstore (object_store, Rust): it measured fastest here for whole-object
GETs of 60-100 KB patch files (bench/bench_stream.py; docs/streaming.md), with about a
quarter of boto3's client CPU per GET. Every :meth:`Location.get` is exactly one HTTP GET
of the whole object: no HEAD, no LIST, no ranged second read.

All configuration is passed in (the CLI reads the environment); S3 credentials come from
the explicit keys, else a profile, else boto3's standard chain; with none found, or with
``anonymous=True``, requests go unsigned (public buckets).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError, StoreError
from ..store.s3 import Secret, parse_s3_url


# obstore runs its requests on one tokio runtime per process, started by the first request;
# a process forked after that (a DataLoader worker) inherits a runtime without threads and
# its requests hang. So: obstore only in a process that started its own runtime (or none
# was started before the fork); otherwise, and for the few metadata reads of a selection
# (so the usual "select, then DataLoader(num_workers>0)" never starts it in the parent),
# the plain client: boto3 for S3, urllib for HTTP -- also one GET per object.
_RUNTIME_PID: int | None = None


class Missing(StoreError, FileNotFoundError):
    """The object does not exist (404 / no such file)."""


@dataclass(frozen=True)
class S3Options:
    """Endpoint and credentials for ``s3://`` locations (the same settings the S3 store takes)."""

    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    access_key_id: Secret | None = None
    secret_access_key: Secret | None = None
    session_token: Secret | None = None
    anonymous: bool = False

    @classmethod
    def make(cls, **options: Any) -> "S3Options":
        known = {k: options.get(k) for k in ("endpoint_url", "region", "profile", "access_key_id", "secret_access_key", "session_token")}
        for k in ("access_key_id", "secret_access_key", "session_token"):
            v = known[k]
            known[k] = None if not v else (v if isinstance(v, Secret) else Secret(str(v)))
        unknown = set(options) - set(known) - {"anonymous"}
        if unknown:
            raise ConfigError(f"unknown S3 option(s) {sorted(unknown)}", fix="use endpoint_url, region, profile, access_key_id, secret_access_key, session_token, anonymous")
        return cls(**known, anonymous=bool(options.get("anonymous", False)))


@dataclass
class Location:
    """A release root (or any folder of objects) that can GET keys below it.

    ``kind`` is ``file``, ``s3`` or ``http``; ``root`` a folder path, ``bucket/prefix`` or a
    base URL. Picklable: the obstore client is built lazily once per process (a client
    made before a fork is not used after it), so DataLoader workers each get their own.
    """

    kind: str
    root: str
    s3: S3Options = field(default_factory=S3Options)
    _store: Any = field(default=None, init=False, repr=False, compare=False)
    _pid: int | None = field(default=None, init=False, repr=False, compare=False)
    _lock: Any = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def parse(cls, url: str, **s3_options: Any) -> "Location":
        """A folder path, ``file://``, ``s3://bucket/prefix`` or ``http(s)://`` URL of a folder."""
        url = str(url)
        if url.startswith("s3://"):
            bucket, prefix = parse_s3_url(url.rstrip("/"))
            return cls("s3", f"{bucket}/{prefix}".rstrip("/"), S3Options.make(**s3_options))
        if url.startswith(("http://", "https://")):
            return cls("http", url.rstrip("/"))
        if "://" in url and not url.startswith("file://"):
            raise ConfigError(f"{url!r}: unsupported location", fix="use a folder, file://, s3://bucket/prefix or an http(s):// URL")
        path = url[len("file://"):] if url.startswith("file://") else url
        return cls("file", str(Path(path).resolve()))

    def __getstate__(self) -> dict[str, Any]:
        return {"kind": self.kind, "root": self.root, "s3": self.s3}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.kind, self.root, self.s3 = state["kind"], state["root"], state["s3"]
        self._store, self._pid, self._lock, self._boto3_client = None, None, threading.Lock(), None

    @property
    def url(self) -> str:
        return {"s3": "s3://", "http": "", "file": ""}[self.kind] + self.root

    def join(self, key: str) -> str:
        return f"{self.url.rstrip('/')}/{key.lstrip('/')}"

    def child(self, sub: str) -> "Location":
        sub = sub.strip("/")
        return Location(self.kind, f"{self.root.rstrip('/')}/{sub}" if sub else self.root, self.s3)

    # -- obstore plumbing --------------------------------------------------------------------
    def _client(self) -> Any:
        pid = os.getpid()
        if self._store is not None and self._pid == pid:
            return self._store
        with self._lock:
            if self._store is None or self._pid != pid:
                self._store = self._make_store()
                self._pid = pid
        return self._store

    def _make_store(self) -> Any:
        if self.kind == "http":
            from obstore.store import HTTPStore

            return HTTPStore.from_url(self.root + "/", client_options={"allow_http": True, "timeout": "60s", "connect_timeout": "10s"})
        from obstore.store import S3Store

        bucket, _, prefix = self.root.partition("/")
        o = self.s3
        kw: dict[str, Any] = {"client_options": {"timeout": "60s", "connect_timeout": "10s"}}
        if o.endpoint_url:
            kw["endpoint"] = o.endpoint_url.rstrip("/")
            kw["virtual_hosted_style_request"] = False
            if o.endpoint_url.startswith("http://"):
                kw["client_options"]["allow_http"] = True
        kw["region"] = o.region or "us-east-1"
        if prefix:
            kw["prefix"] = prefix
        if o.anonymous:
            kw["skip_signature"] = True
        elif o.access_key_id is not None:
            kw["access_key_id"] = o.access_key_id.reveal()
            kw["secret_access_key"] = o.secret_access_key.reveal() if o.secret_access_key else ""
            if o.session_token is not None:
                kw["session_token"] = o.session_token.reveal()
        else:
            import boto3

            session = boto3.Session(profile_name=o.profile) if o.profile else boto3.Session()
            if session.get_credentials() is None:
                kw["skip_signature"] = True  # no credentials anywhere: read a public bucket unsigned
            else:
                from obstore.auth.boto3 import Boto3CredentialProvider

                kw["credential_provider"] = Boto3CredentialProvider(session)
        try:
            return S3Store(bucket, **kw)
        except Exception as exc:  # noqa: BLE001 - obstore's config errors
            raise ConfigError(f"cannot set up reads from s3://{self.root}: {exc}", fix="check the endpoint URL and region") from None

    # -- reads -------------------------------------------------------------------------------
    def get(self, key: str, *, plain: bool = False) -> bytes:
        """The whole object at ``key`` in one GET. :class:`Missing` when absent, :class:`StoreError` otherwise.

        ``plain``: use the plain client (boto3 / urllib) instead of obstore (metadata reads)."""
        global _RUNTIME_PID
        key = key.lstrip("/")
        if self.kind == "file":
            path = Path(self.root) / key
            try:
                return path.read_bytes()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                raise Missing(f"{path} does not exist", fix="check the release location and the selection") from None
            except OSError as exc:
                raise StoreError(f"cannot read {path}: {exc.strerror}", fix="check the file's permissions") from None
        if plain or (_RUNTIME_PID is not None and _RUNTIME_PID != os.getpid()):
            return self._plain_get(key)
        import obstore
        from obstore.exceptions import NotFoundError

        try:
            store = self._client()
            if _RUNTIME_PID is None:
                _RUNTIME_PID = os.getpid()
            return bytes(obstore.get(store, key).bytes())
        except NotFoundError:
            raise Missing(f"{self.join(key)} does not exist", fix="check the release location and the selection") from None
        except FileNotFoundError:
            raise Missing(f"{self.join(key)} does not exist", fix="check the release location and the selection") from None
        except Exception as exc:  # noqa: BLE001 - network, permission, server errors
            msg = _scrub(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, self.s3)
            hint = "check the endpoint, credentials or --anonymous for a public bucket" if self.kind == "s3" else "check the URL"
            raise StoreError(f"cannot read {self.join(key)}: {msg}", fix=hint) from None


    def _plain_get(self, key: str) -> bytes:
        if self.kind == "http":
            import urllib.error
            import urllib.request

            url = self.join(key)
            try:
                with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310 - http(s) only (checked in parse)
                    return resp.read()
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    raise Missing(f"{url} does not exist", fix="check the release location and the selection") from None
                raise StoreError(f"cannot read {url}: HTTP {exc.code}", fix="check the URL") from None
            except (urllib.error.URLError, OSError) as exc:
                raise StoreError(f"cannot read {url}: {getattr(exc, 'reason', exc)}", fix="check the URL and the network") from None
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, _, prefix = self.root.partition("/")
        full = f"{prefix}/{key}" if prefix else key
        try:
            return self._boto3().get_object(Bucket=bucket, Key=full)["Body"].read()
        except ClientError as exc:
            err = exc.response.get("Error", {})
            if err.get("Code") in ("NoSuchKey", "404", "NotFound"):
                raise Missing(f"{self.join(key)} does not exist", fix="check the release location and the selection") from None
            raise StoreError(f"cannot read {self.join(key)}: {err.get('Code')} (HTTP {exc.response.get('ResponseMetadata', {}).get('HTTPStatusCode')})",
                             fix="check the endpoint, credentials or --anonymous for a public bucket") from None
        except BotoCoreError as exc:
            raise StoreError(f"cannot read {self.join(key)}: {_scrub(str(exc), self.s3)}", fix="check the endpoint URL and the network") from None

    def _boto3(self) -> Any:
        pid = os.getpid()
        cached = getattr(self, "_boto3_client", None)
        if cached is not None and cached[0] == pid:
            return cached[1]
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config

        o = self.s3
        if o.access_key_id is not None:
            session = boto3.Session(aws_access_key_id=o.access_key_id.reveal(), aws_secret_access_key=o.secret_access_key.reveal() if o.secret_access_key else None,
                                    aws_session_token=o.session_token.reveal() if o.session_token else None)
        else:
            session = boto3.Session(profile_name=o.profile) if o.profile else boto3.Session()
        unsigned = o.anonymous or (o.access_key_id is None and session.get_credentials() is None)
        config = Config(region_name=o.region or session.region_name or "us-east-1", s3={"addressing_style": "path"} if o.endpoint_url else {},
                        signature_version=UNSIGNED if unsigned else None, max_pool_connections=32, retries={"mode": "standard"},
                        connect_timeout=10, read_timeout=60)
        client = session.client("s3", endpoint_url=o.endpoint_url, config=config)
        self._boto3_client = (pid, client)
        return client


def _scrub(text: str, o: S3Options) -> str:
    for s in (o.access_key_id, o.secret_access_key, o.session_token):
        if s is not None and s.reveal():
            text = text.replace(s.reveal(), "***")
    return text[:300]


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
    ``base``'s S3 settings (the API path: the release's bucket)."""
    if href.startswith(base.url.rstrip("/") + "/"):
        return base, href[len(base.url.rstrip("/")) + 1:]
    if href.startswith("s3://"):
        bucket, _, key = href[len("s3://"):].partition("/")
        return Location("s3", bucket, base.s3), key
    if href.startswith(("http://", "https://")):
        parts = urlsplit(href)
        return Location("http", f"{parts.scheme}://{parts.netloc}"), parts.path.lstrip("/")
    path = href[len("file://"):] if href.startswith("file://") else href
    return Location("file", "/"), path.lstrip("/")
