"""The object-store interface: put-if-absent, get, head/exists, list, conditional replace.

Keys are '/'-separated and relative to the store's root URL. Stores never overwrite an
object unconditionally: ``put_if_absent`` refuses, and ``replace`` needs the current ETag
(used only for mutable indexes such as a release landing catalog).

Every ability a caller uses is a method here (as pystac's ``StacIO``): the abstract ones
each store implements; ``check``, ``list_dirs``, ``gdal_env``, ``root`` and ``discard`` have defaults
that are right for a store without the ability, and stores override them where they can do
better (S3: a one-request probe, a delimiter LIST, its endpoint and credentials for GDAL;
a folder: its path).
"""
from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Literal

from ..errors import ObjectConflictError, StoreError


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str | None = None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def multihash_sha256(data: bytes) -> str:
    """sha2-256 multihash (hex), as STAC's file:checksum wants: 0x12 0x20 + digest."""
    return "1220" + sha256_hex(data)


class NotFound(StoreError, FileNotFoundError):
    """The object does not exist."""


class ObjectStore(ABC):
    url: str
    #: The local folder holding the objects, or None when they are not files on this machine.
    root: Path | None = None
    #: How many puts a bulk writer (the catalog writer) should keep in flight: a put that
    #: waits on the network or an fsync overlaps with others; a store whose put is a few
    #: syscalls says 1 (threads would only contend for the GIL).
    put_concurrency: int = 4

    @abstractmethod
    def put_if_absent(self, key: str, data: bytes, content_type: str | None = None) -> bool:
        """Write ``data`` at ``key`` unless an object is there. True if written, False if it existed."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """Return the object's bytes; raise :class:`NotFound`."""

    @abstractmethod
    def head(self, key: str) -> ObjectInfo | None:
        """Size and ETag, or None when absent."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object whose key starts with ``prefix``, in key order."""

    @abstractmethod
    def replace(self, key: str, data: bytes, expected_etag: str | None, content_type: str | None = None) -> None:
        """Conditional write of a mutable object: only if its current ETag is ``expected_etag``
        (None: only if absent). Raise :class:`ObjectConflictError` when someone else changed it."""

    @abstractmethod
    def gdal_path(self, key: str) -> str:
        """A path GDAL/rasterio can open (a filesystem path or /vsis3/...)."""

    def check(self) -> None:
        """Fail early with a clear :class:`StoreError` when the store cannot be used (missing
        bucket, wrong credentials, unreachable endpoint), before any work starts. The default
        checks nothing: a store that has nothing to probe is usable."""

    def list_dirs(self, prefix: str = "") -> list[str]:
        """The immediate sub-"folders" under ``prefix`` (names only, sorted), e.g. the release
        folders ``["v1.0.0", "v1.1.0"]``. The default derives them from :meth:`list` (every
        object); stores override it with something cheaper."""
        base = prefix.strip("/")
        base = base + "/" if base else ""
        names = set()
        for info in self.list(base):
            rest = info.key[len(base) :]
            if "/" in rest:
                names.add(rest.split("/", 1)[0])
        return sorted(names)

    def gdal_env(self) -> dict[str, Any]:
        """``rasterio.Env`` keyword arguments needed to open :meth:`gdal_path` paths (endpoint,
        credentials session, read options). The default, for files on disk, needs none."""
        return {}

    def discard(self, key: str) -> None:
        """Remove an object this run wrote but did not commit (a failed scene's keys, through
        ``pipeline.discard_written``); absent is fine. Never used on published objects. The
        default, for a store that cannot remove objects, refuses with a :class:`StoreError`."""
        raise StoreError(f"{self.join(key)} cannot be removed: {type(self).__name__} has no discard",
                         fix="implement discard() for this store, or remove the object by hand before a rerun")

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def put_or_verify(self, key: str, data: bytes, content_type: str | None = None) -> Literal["written", "same"]:
        """Write once; if the object exists it must hold the same bytes, else ObjectConflictError.

        This is what makes a repeated or resumed run safe: identical content is skipped,
        different content under an existing key is never written.
        """
        if self.put_if_absent(key, data, content_type):
            return "written"
        existing = self.get(key)
        if existing == data:
            return "same"
        raise ObjectConflictError(
            f"{self.url.rstrip('/')}/{key} already exists with different content "
            f"({len(existing)} bytes there, {len(data)} bytes new)",
            fix="write to a new, empty output location or a new release version; published objects are never overwritten",
        )

    def deferred(self) -> "ObjectStore":
        """This store with durability deferred to :meth:`sync` (a bulk writer calls ``sync`` at its
        checkpoints: the end of a scene, of a collection). Default: the store itself, whose
        every put is durable when it returns (S3)."""
        return self

    def sync(self) -> None:
        """Make every object written so far durable. Default: nothing to do."""

    def join(self, key: str) -> str:
        return f"{self.url.rstrip('/')}/{key.lstrip('/')}"
