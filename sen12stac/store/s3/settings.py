"""S3 settings, resolved once, and the one boto3 client builder: shared by the store and the stream.

:class:`S3Settings` holds what a caller passes (endpoint, region, profile, keys, ``anonymous``,
retry and timeout tuning); everything left out is taken where every AWS tool takes it, by
boto3 itself:

* **endpoint**: ``endpoint_url``, else what boto3 resolves for S3 (``AWS_ENDPOINT_URL_S3``,
  ``AWS_ENDPOINT_URL``, a profile's ``endpoint_url``; ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS``
  honoured). An endpoint that is not AWS's own (MinIO, Ceph, R2, moto) is addressed path
  style, and a plain ``http://`` one is allowed;
* **region**: ``region``, else ``AWS_REGION``, else boto3's (``AWS_DEFAULT_REGION``, the
  profile's), else ``us-east-1``;
* **credentials**: the explicit key pair, else the profile, else boto3's standard chain
  (environment, ``~/.aws`` files, container or instance role); ``anonymous=True`` signs nothing.

:meth:`S3Settings.resolve` does that once per process and :meth:`S3Settings.boto3_client`
builds every boto3 client from it (the store's, the stream's metadata reads, ``infra``);
the stream's obstore client is configured from the same :class:`ResolvedS3`.

Retries are botocore's own (``Config(retries={"mode": ..., "total_max_attempts": ...})``):
``standard`` by default (or ``AWS_RETRY_MODE``), ``adaptive`` on request: throttling, 5xx,
timeouts and dropped connections, exponential backoff with jitter, a retry quota per client.

Pickled settings carry no credentials: the copy (a Dask or DataLoader worker) resolves its
own from where it runs.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, fields, replace
from typing import Any
from urllib.parse import urlsplit

from ...errors import ConfigError, StoreError
from .secret import Secret, secret

RETRY_MODES = ("standard", "adaptive")
_CREDENTIALS = ("access_key_id", "secret_access_key", "session_token")
_AWS_HOSTS = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")

_lock = threading.RLock()


@dataclass(frozen=True)
class ResolvedS3:
    """What one process talks to: the endpoint (None: AWS's own, by region), the region, and the
    boto3 session that holds the credentials (explicit keys, a profile, or the standard chain)."""

    endpoint_url: str | None
    region: str
    session: Any

    @property
    def path_style(self) -> bool:
        return self.endpoint_url is not None

    @property
    def allow_http(self) -> bool:
        return bool(self.endpoint_url) and self.endpoint_url.startswith("http://")

    def credentials(self) -> Any:
        """boto3's credentials for this session, or None when none are found anywhere."""
        return self.session.get_credentials()


@dataclass(frozen=True)
class S3Settings:
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    access_key_id: Secret | None = None
    secret_access_key: Secret | None = None
    session_token: Secret | None = None
    anonymous: bool = False
    max_attempts: int = 8
    retry_mode: str | None = None  # None: botocore's (AWS_RETRY_MODE, the profile's, else standard)
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_pool_connections: int = 32

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # normalising our own frozen fields before anyone sees them
        for name in _CREDENTIALS:
            set_(self, name, secret(getattr(self, name)))
        if self.endpoint_url:
            from ...runtime.gdalenv import endpoint_parts

            endpoint_parts(self.endpoint_url)  # validates: http(s), no user:password@
            set_(self, "endpoint_url", self.endpoint_url.rstrip("/"))
        else:
            set_(self, "endpoint_url", None)
        set_(self, "region", self.region or None)
        set_(self, "profile", self.profile or None)
        if bool(self.access_key_id) != bool(self.secret_access_key):
            raise ConfigError("only one of access key id / secret access key was given",
                              fix="pass both, or neither to use a profile or boto3's standard credential chain")
        if self.profile and self.access_key_id:
            raise ConfigError("both an AWS profile and explicit keys were given", fix="pass either the profile or the access key pair, not both")
        if self.anonymous and (self.profile or self.access_key_id):
            raise ConfigError("anonymous (unsigned) reads were asked for together with credentials",
                              fix="drop anonymous=True / --anonymous, or the profile and keys")
        if int(self.max_attempts) < 1:
            raise ConfigError(f"max_attempts={self.max_attempts}", fix="use 1 or more (1 = no retries)")
        if self.retry_mode is not None and self.retry_mode not in RETRY_MODES:
            raise ConfigError(f"retry_mode={self.retry_mode!r}", fix=f"use one of {', '.join(RETRY_MODES)} (botocore's retry modes)")
        set_(self, "max_attempts", int(self.max_attempts))

    @classmethod
    def make(cls, **options: Any) -> "S3Settings":
        """From keyword options, refusing unknown ones with the list of known ones."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"unknown S3 option(s) {unknown}", fix=f"use {', '.join(sorted(known))}")
        return cls(**{k: v for k, v in options.items() if v is not None})

    def without_credentials(self) -> "S3Settings":
        return replace(self, access_key_id=None, secret_access_key=None, session_token=None)

    def __reduce__(self):
        """Pickled without credentials (a pickle travels): the copy resolves its own where it runs."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _CREDENTIALS}
        return (_restore, (values,))

    def __repr__(self) -> str:
        shown = [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self)
                 if f.name not in _CREDENTIALS and getattr(self, f.name) != f.default]
        if self.access_key_id:
            shown.append("access_key_id=***")
        return f"S3Settings({', '.join(shown)})"

    # -- per process --------------------------------------------------------------------------
    def cached(self, key: Any, make: Any) -> Any:
        """``make()`` once per process for this settings object (resolution, clients): a copy
        (pickled to a worker, or made after the environment changed) starts afresh."""
        memo = self.__dict__.get("_memo")
        if memo is None or memo[0] != os.getpid():
            with _lock:
                memo = self.__dict__.get("_memo")
                if memo is None or memo[0] != os.getpid():
                    memo = (os.getpid(), {})
                    object.__setattr__(self, "_memo", memo)  # not a field: no part of eq, hash or pickle
        values = memo[1]
        if key not in values:
            with _lock:
                if key not in values:
                    values[key] = make()
        return values[key]

    # -- resolution ---------------------------------------------------------------------------
    def resolve(self) -> ResolvedS3:
        """Endpoint, region and credentials session, resolved once per process (see the module)."""
        return self.cached("resolved", self._resolve)

    def _resolve(self) -> ResolvedS3:
        import boto3
        from botocore.exceptions import BotoCoreError, ProfileNotFound

        try:
            if self.access_key_id is not None:
                session = boto3.Session(aws_access_key_id=self.access_key_id.reveal(), aws_secret_access_key=self.secret_access_key.reveal(),
                                        aws_session_token=self.session_token.reveal() if self.session_token else None, region_name=self.region)
            else:
                session = boto3.Session(profile_name=self.profile, region_name=self.region)
            region = self.region or os.environ.get("AWS_REGION") or session.region_name or "us-east-1"
            endpoint = self.endpoint_url
            if endpoint is None:
                # what boto3 itself would talk to (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile's endpoint_url)
                found = session.client("s3", region_name=region).meta.endpoint_url
                endpoint = None if is_aws_endpoint(found) else found.rstrip("/")
        except ProfileNotFound as exc:  # the one given, or AWS_PROFILE's
            profile = self.profile or (getattr(exc, "kwargs", None) or {}).get("profile")
            raise StoreError(f"AWS profile {profile!r} is not configured",
                             fix="use a profile listed in ~/.aws/config or ~/.aws/credentials, or pass the access key pair") from None
        except BotoCoreError as exc:  # an invalid region, a broken config file, ...
            raise StoreError(f"cannot set up S3 access: {type(exc).__name__}: {_scrub(str(exc), self)}",
                             fix="check the region, endpoint URL and ~/.aws/config") from None
        if endpoint is not None and endpoint != self.endpoint_url:
            from ...runtime.gdalenv import endpoint_parts

            endpoint_parts(endpoint)  # the same checks as an explicit one
        return ResolvedS3(endpoint, region, session)

    def boto3_client(self, *, max_attempts: int | None = None, unsigned: bool = False) -> Any:
        """The project's one way to build a boto3 S3 client: the resolved endpoint (path style off
        AWS), region, botocore's retry mode with ``max_attempts`` attempts in all, timeouts, and
        Content-MD5 rather than the CRC trailers botocore >= 1.36 adds (several S3-compatible
        servers reject those). ``unsigned`` (or ``anonymous``): no signature. Cached per process."""
        attempts = int(max_attempts or self.max_attempts)
        unsigned = bool(unsigned or self.anonymous)
        return self.cached(("boto3", attempts, unsigned), lambda: self._boto3_client(attempts, unsigned))

    def _boto3_client(self, attempts: int, unsigned: bool) -> Any:
        from botocore import UNSIGNED
        from botocore.config import Config

        resolved = self.resolve()
        retries: dict[str, Any] = {"total_max_attempts": attempts}
        if self.retry_mode:
            retries["mode"] = self.retry_mode
        config = Config(
            region_name=resolved.region,
            retries=retries,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            max_pool_connections=self.max_pool_connections,
            s3={"addressing_style": "path"} if resolved.path_style else {},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            signature_version=UNSIGNED if unsigned else None,
        )
        return resolved.session.client("s3", endpoint_url=resolved.endpoint_url, config=config)  # under the lock: sessions are not thread-safe

    def endpoint_name(self) -> str:
        """The endpoint for messages: the resolved one when known, else the given one, else AWS S3."""
        memo = self.__dict__.get("_memo")
        got = memo[1].get("resolved") if memo is not None and memo[0] == os.getpid() else None
        endpoint = got.endpoint_url if got is not None else self.endpoint_url
        return endpoint or "AWS S3"

    def scrub(self, text: str) -> str:
        return _scrub(text, self)


def _restore(values: dict[str, Any]) -> S3Settings:
    return S3Settings(**values)


def _scrub(text: str, settings: S3Settings) -> str:
    for s in (settings.access_key_id, settings.secret_access_key, settings.session_token):
        if s is not None and s.reveal():
            text = text.replace(s.reveal(), "***")
    return text


def is_aws_endpoint(url: str) -> bool:
    """True for AWS's own S3 endpoints (``https://s3.eu-central-1.amazonaws.com``, ...)."""
    host = (urlsplit(url).hostname or "").lower()
    return host.endswith(_AWS_HOSTS)
