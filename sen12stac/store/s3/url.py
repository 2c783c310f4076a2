"""The project's one ``s3://`` URL parser: a release root, a bucket for ``infra``, an asset href.

``parse_s3_url("s3://bucket/a/b/")`` -> ``S3Url(bucket="bucket", key="a/b/")``, checked: a valid
bucket name and no ``.``/``..`` segment (a key can never climb out of its prefix). ``key`` is
the rest of the URL as written (an object's key); ``prefix`` is the same path as a folder
(``"a/b/"``, ``""`` for the whole bucket, empty segments dropped), for store roots.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ...errors import ConfigError

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-_]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class S3Url:
    bucket: str
    key: str = ""

    @property
    def prefix(self) -> str:
        """The key as a folder: ``"a/b/"`` (``""`` for the bucket itself)."""
        path = "/".join(p for p in self.key.split("/") if p)
        return path + "/" if path else ""

    @property
    def path(self) -> str:
        """The key as a folder without the trailing slash: ``"a/b"``."""
        return self.prefix.rstrip("/")

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.key else f"s3://{self.bucket}"


def parse_s3_url(url: str, *, fix: str = "use s3://BUCKET[/PREFIX]") -> S3Url:
    """``s3://bucket[/key]`` -> :class:`S3Url`; :class:`ConfigError` naming the fix otherwise."""
    url = str(url)
    if not url.startswith("s3://"):
        raise ConfigError(f"{url!r} is not an s3:// URL", fix=fix)
    bucket, _, key = url[len("s3://"):].partition("/")
    if not _BUCKET_RE.match(bucket or ""):
        raise ConfigError(
            f"{url!r} does not name a valid bucket ({bucket!r})",
            fix="use s3://BUCKET[/PREFIX] with a bucket name of 3-63 lower-case letters, digits, '.' or '-'",
        )
    if any(p in (".", "..") for p in key.split("/")):
        raise ConfigError(f"{url!r} has '.' or '..' in its path", fix="use a plain prefix such as s3://bucket/sen12")
    return S3Url(bucket, key)
