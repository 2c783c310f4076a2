"""boto3/botocore failures -> one :class:`~sen12stac.errors.StoreError` naming the bucket/key and the fix.

Credentials never appear: server messages are scrubbed of the settings' keys.
"""
from __future__ import annotations

from typing import Any

from ...errors import StoreError
from .settings import S3Settings

CREDENTIAL_CODES = frozenset({
    "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "TokenRefreshRequired",
    "InvalidClientTokenId", "AuthorizationHeaderMalformed", "UnrecognizedClientException",
})
RESUME = "the command is safe to re-run: it skips what is already there"


def client_error_parts(exc: Any) -> tuple[str, int | None, str]:
    """(error code, HTTP status, message) of a botocore ClientError."""
    resp = getattr(exc, "response", {}) or {}
    err = resp.get("Error", {}) or {}
    status = (resp.get("ResponseMetadata", {}) or {}).get("HTTPStatusCode")
    return str(err.get("Code", "") or ""), status, str(err.get("Message", "") or "")


def attempts_of(exc: Any) -> int | None:
    """How many attempts botocore made for the request that answered ``exc`` (None: not known)."""
    resp = getattr(exc, "response", None) or {}
    retries = (resp.get("ResponseMetadata", {}) or {}).get("RetryAttempts")
    return None if retries is None else int(retries) + 1


def is_connection_error(exc: BaseException) -> bool:
    """A network failure (refused, reset, dropped, timed out), as opposed to an answer."""
    from botocore.exceptions import (
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        IncompleteReadError,
        ReadTimeoutError,
        ResponseStreamingError,
    )
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from urllib3.exceptions import HTTPError as Urllib3Error  # botocore's HTTP client; can leak out of a body read

    return isinstance(exc, (BotoConnectionError, ConnectionClosedError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError,
                            ResponseStreamingError, IncompleteReadError, ConnectionError, TimeoutError, Urllib3Error))


def store_error(op: str, where: str, exc: BaseException, *, settings: S3Settings, bucket: str, prefix: str = "",
                max_attempts: int | None = None) -> StoreError:
    """Map a boto3/botocore failure of ``op`` on ``where`` (an s3:// URL) to a StoreError
    (``max_attempts``: what the client that failed was allowed, for the message)."""
    from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError

    endpoint = settings.endpoint_name()
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, ClientError):
        code, status, message = client_error_parts(exc)
        message = settings.scrub(message)
        if code == "NoSuchBucket" or (op == "check" and status == 404):
            return StoreError(f"bucket {bucket!r} does not exist at {endpoint} ({op} {where})",
                              fix="create the bucket (infra/README.md: aws cloudformation deploy ...) or correct the s3:// URL / --endpoint-url")
        if code in CREDENTIAL_CODES:
            return StoreError(f"{op} {where} refused by {endpoint}: the credentials are not valid there ({code})",
                              fix="check the access key pair or --aws-profile (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_PROFILE for the CLI), "
                              "the --endpoint-url and the region")
        if code in ("AccessDenied", "AllAccessDisabled") or status == 403:
            return StoreError(f"{op} {where} denied by {endpoint} ({code or status})",
                              fix=f"grant these credentials s3:ListBucket on {bucket} and s3:GetObject/s3:PutObject on "
                              f"{bucket}/{prefix}* (infra/README.md lists the policy), or use other credentials")
        attempts = attempts_of(exc)
        retried = attempts is not None and attempts > 1
        tail = f" after {attempts} attempts" if retried else ""
        return StoreError(f"{op} {where} failed at {endpoint}{tail}: {code or 'HTTP ' + str(status)} {message}".rstrip(),
                          fix=RESUME if retried or (status or 0) >= 500 else "check the bucket, key and permissions")
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return StoreError(f"no usable AWS credentials for {where}",
                          fix="pass --aws-profile, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or run with an instance/container role)")
    if is_connection_error(exc):
        return StoreError(f"{op} {where}: cannot reach {endpoint} ({type(exc).__name__}; up to {max_attempts or settings.max_attempts} attempts)",
                          fix=f"check --endpoint-url and the network; {RESUME}")
    return StoreError(f"{op} {where} failed at {endpoint}: {type(exc).__name__}: {settings.scrub(str(exc))}", fix=RESUME)
