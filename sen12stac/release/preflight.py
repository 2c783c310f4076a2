"""Checks before work on a release destination: everything a build straight into object
storage can find out before the first scene. A bad version is a :class:`ConfigError` (exit 2),
a bucket that cannot be reached or written a :class:`StoreError` (4), a version already
published a :class:`DuplicateReleaseError` (5). The write probe is one small fixed object beside
the releases (``WRITE_PROBE_KEY``), never mistaken for data.
"""
from __future__ import annotations

from ..errors import DuplicateReleaseError
from .listing import list_releases
from .version import normalize_version

WRITE_PROBE_KEY = ".sen12stac-write-check"
WRITE_PROBE_BODY = b"sen12stac: this object proves the publisher may write here; it is not part of any release\n"


def check_release_version(version: str) -> str:
    """The release version string, normalized (``v1.0.0`` -> ``1.0.0``); ConfigError otherwise."""
    return normalize_version(version)


def check_release_destination(dest, version: str) -> None:
    """For an object-store release root: the bucket exists, the credentials work and may write
    (one conditional PUT of :data:`WRITE_PROBE_KEY`, identical bytes every time), and
    ``version`` is not already published (a complete release refuses; an unfinished one is
    resumed by the same command)."""
    dest.check()  # bucket, credentials, endpoint, list permission: one LIST on S3
    # write permission: a conditional PUT is authorized before its condition is tested, so "written"
    # and "already there" (412) both prove it; a denied PUT raises StoreError naming the fix
    dest.put_if_absent(WRITE_PROBE_KEY, WRITE_PROBE_BODY, "text/plain; charset=utf-8")
    for info in list_releases(dest):
        if info.version == version and info.status == "complete":
            raise DuplicateReleaseError(
                f"release {version} is already published at {info.url}",
                fix="choose a new version (releases are immutable); `sen12stac releases ROOT` lists the existing ones",
            )
