"""GDAL ``/vsis3/`` read options derived from the same S3 configuration as the S3 store.

Readers (COG validation in ``sen12stac verify``, dataloaders, notebooks) open published
objects through GDAL. The options below are what was measured to work well on this
project's data (FIELD-NOTES, "Object storage"):

* ``GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR`` -- otherwise every open LISTs the "folder";
* ``GDAL_INGESTED_BYTES_AT_OPEN=262144`` -- a 256x256 patch COG is read with one GET
  instead of two (+55 % throughput);
* for a non-AWS endpoint (MinIO, Ceph, R2, moto): ``AWS_S3_ENDPOINT=host:port``,
  ``AWS_VIRTUAL_HOSTING=FALSE`` (path-style, as the S3 store uses) and ``AWS_HTTPS=NO``
  when the endpoint is plain ``http://``;
* retries on 429/5xx with a short delay (GDAL's default delay is 30 s).

Credentials never go into GDAL config options (rasterio refuses them there): they travel
in a :class:`rasterio.session.AWSSession` built from the same explicit keys, profile or
boto3 session as the store. Nothing here reads environment variables; when no keys or
profile are given, boto3's standard chain (which may) supplies them.

Use::

    kwargs = rasterio_env_kwargs(endpoint_url="http://127.0.0.1:9000")
    with rasterio.Env(**kwargs):
        with rasterio.open("/vsis3/bucket/key.tif") as src: ...

or ``store.gdal_env()`` on any :class:`~sen12stac.store.ObjectStore`. ``rasterio.Env`` is
per thread: give each worker thread its own long-lived ``Env``.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError

#: A 256x256 patch COG is smaller than this, so one GET reads the whole file.
INGESTED_BYTES_AT_OPEN = 262144


def endpoint_parts(endpoint_url: str) -> tuple[str, bool]:
    """``"http://127.0.0.1:9000"`` -> ``("127.0.0.1:9000", False)``: GDAL's AWS_S3_ENDPOINT and https flag."""
    if "@" in endpoint_url:  # first, so that no message below can echo user information
        raise ConfigError(
            "S3 endpoint URL carries user information (user:password@host)",
            fix="pass credentials with --aws-profile or the standard AWS variables, never inside the endpoint URL",
        )
    parts = urlsplit(endpoint_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"S3 endpoint URL {endpoint_url!r} is not an http(s) URL",
            fix="pass the endpoint as http://HOST:PORT or https://HOST[:PORT], e.g. --endpoint-url http://127.0.0.1:9000",
        )
    host = parts.netloc + parts.path.rstrip("/")
    return host, parts.scheme == "https"


def gdal_options(
    endpoint_url: str | None = None,
    region: str | None = None,
    *,
    ingested_bytes_at_open: int = INGESTED_BYTES_AT_OPEN,
    http_max_retry: int = 5,
    http_retry_delay: float = 0.5,
) -> dict[str, str]:
    """GDAL config options (no credentials) for reading ``/vsis3/`` objects of one store."""
    opts: dict[str, str] = {
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "GDAL_INGESTED_BYTES_AT_OPEN": str(int(ingested_bytes_at_open)),
        "GDAL_HTTP_MAX_RETRY": str(int(http_max_retry)),
        "GDAL_HTTP_RETRY_DELAY": f"{float(http_retry_delay):g}",
        # GDAL waits forever by default: a server that accepts and never answers would hang a read
        "GDAL_HTTP_CONNECTTIMEOUT": "10",
        "GDAL_HTTP_TIMEOUT": "30",
    }
    if region:
        opts["AWS_REGION"] = region
    if endpoint_url:
        host, https = endpoint_parts(endpoint_url)
        opts["AWS_S3_ENDPOINT"] = host
        opts["AWS_HTTPS"] = "YES" if https else "NO"
        opts["AWS_VIRTUAL_HOSTING"] = "FALSE"
        opts.setdefault("AWS_REGION", "us-east-1")
    return opts


def rasterio_env_kwargs(
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    boto3_session: Any = None,
    **gdal_overrides: Any,
) -> dict[str, Any]:
    """Keyword arguments for :class:`rasterio.Env`: a ``session`` carrying the credentials plus
    :func:`gdal_options`. ``gdal_overrides`` (GDAL option names) win over the defaults.

    Credentials: ``boto3_session`` if given (the S3 store passes its own), else explicit keys,
    else ``profile``, else boto3's standard chain.
    """
    import boto3
    from rasterio.session import AWSSession

    if boto3_session is None:
        if access_key_id or secret_access_key:
            if not (access_key_id and secret_access_key):
                raise ConfigError(
                    "only one of access key id / secret access key was given",
                    fix="pass both (or neither, to use a profile or boto3's standard credential chain)",
                )
            boto3_session = boto3.Session(
                aws_access_key_id=access_key_id,
                aws_secret_access_key=secret_access_key,
                aws_session_token=session_token,
                region_name=region,
            )
        else:
            boto3_session = boto3.Session(profile_name=profile, region_name=region)
    opts = gdal_options(endpoint_url, region)
    host = opts.get("AWS_S3_ENDPOINT")
    session = AWSSession(session=boto3_session, aws_unsigned=False, endpoint_url=host)
    kwargs: dict[str, Any] = {"session": session}
    kwargs.update(opts)
    kwargs.update({k: str(v) for k, v in gdal_overrides.items()})
    return kwargs
