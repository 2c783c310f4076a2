"""Checks before work: everything ``build`` can find out before the first scene.

Each check raises the error class whose exit code (``errors.EXIT_CODES``) fits: a bad option
is a :class:`ConfigError` (2), an output that cannot be written a :class:`StoreError` (4), a
version already published a :class:`DuplicateReleaseError` (5). Nothing here writes an object
a reader could mistake for data: the folder probe is a temporary file removed at once, the S3
probe one small fixed object beside the releases (``WRITE_PROBE_KEY``).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import ConfigError, StoreError

WRITE_PROBE_KEY = ".sen12stac-write-check"
WRITE_PROBE_BODY = b"sen12stac: this object proves the publisher may write here; it is not part of any release\n"


def local_path(url: str) -> Path:
    """The folder a ``file://`` URL or plain path names."""
    return Path(url[len("file://"):] if url.startswith("file://") else url)


def check_output_folder(url: str) -> None:
    """``--out`` must be a folder (existing, or creatable) this process can write into.

    An existing file (or a file where a parent folder should be) is a :class:`ConfigError`;
    a folder that cannot be written a :class:`StoreError`. Creates nothing: it writes one
    temporary file into the folder, or into its nearest existing parent when the folder does
    not exist yet, and removes it at once (permission bits do not tell: root ignores them,
    read-only and immutable filesystems do not show in them)."""
    path = local_path(url)
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        what = "is an existing file" if existing == path else f"lies under {existing}, which is a file"
        raise ConfigError(f"--out {path} {what}, not a folder", fix="give a folder path (it is created when missing) that is not a file")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-write-check-", dir=existing if existing is not None else Path.cwd())
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        where = "" if existing == path else f" (its folder {existing} cannot be written)"
        raise StoreError(f"--out {path} cannot be written{where}: {reason}",
                         fix="choose a folder you may write to, or fix its permissions (the build writes nothing until this passes)") from None
    os.close(fd)
    os.unlink(tmp)


def check_release_version(version: str) -> str:
    """The release version string, normalized (``v1.0.0`` -> ``1.0.0``); ConfigError otherwise."""
    from ..release.version import normalize_version

    return normalize_version(version)


def check_release_destination(dest, version: str) -> None:
    """For an object-store release root: the bucket exists, the credentials work and may write
    (one conditional PUT of :data:`WRITE_PROBE_KEY`, identical bytes every time), and
    ``version`` is not already published (a complete release refuses; an unfinished one is
    resumed by the same command)."""
    from ..errors import DuplicateReleaseError
    from ..release.listing import list_releases

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
