"""Checks before work on an output folder: everything ``build`` can find out about it before
the first scene (a release destination's checks are :mod:`sen12stac.release.preflight`).

A bad option is a :class:`ConfigError` (exit 2), a folder that cannot be written a
:class:`StoreError` (4). The write probe is a temporary file removed at once.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import ConfigError, StoreError


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
