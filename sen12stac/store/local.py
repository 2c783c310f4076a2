"""A local folder as an object store (file:// URLs or plain paths)."""
from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import tempfile
import time
from pathlib import Path
from typing import Iterator, Literal

from ..errors import ObjectConflictError, StoreError
from .base import NotFound, ObjectInfo, ObjectStore

# The time of the last durable checkpoint of a deferred-sync writer (its mtime): objects
# modified after it may be torn by an OS crash, so a rerun may replace them.
SYNC_MARKER = ".sen12stac-synced"


def _etag(path: Path) -> str:
    h = hashlib.md5()  # noqa: S324 - an ETag, not security
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class LocalStore(ObjectStore):
    """A folder. ``durability="object"`` (the default) fsyncs every object before it appears;
    ``"deferred"`` (:meth:`deferred`, what a build uses) writes without fsync and makes
    everything durable at once in :meth:`sync`, which a build calls when its catalog is
    complete (one ``sync(2)`` instead of one ``fsync`` per object: bench/results/catalog.md),
    and in a background thread while it runs (:mod:`.checkpoint`: ``sync(2)`` flushes the
    whole machine's dirty data, so the build never waits on one mid-run). What an OS crash
    can tear is what was written after the last sync; the folder's ``.sen12stac-synced``
    marker records that instant, and ``put_or_verify`` replaces an object written after it
    that differs (the rerun a crashed build needs anyway repairs it) while still refusing
    different content under an older, durable key.
    """

    def __init__(self, root: str | os.PathLike[str], *, durability: Literal["object", "deferred"] = "object") -> None:
        root_str = str(root)
        if root_str.startswith("file://"):
            root_str = root_str[len("file://") :]
        self.root = Path(root_str).resolve()
        self._root_str = str(self.root)
        self.url = self.root.as_uri()
        self.durability = durability

    @property
    def put_concurrency(self) -> int:  # type: ignore[override]
        # without an fsync a put is an open and a write: more threads only contend for the GIL
        # and the folder's lock (bench/results/catalog.md); an fsync waits, so threads overlap them
        return 1 if self.durability == "deferred" else 4

    def __reduce__(self):  # picklable for Dask workers
        return (_local_store, (str(self.root), self.durability))

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r}, durability={self.durability!r})"

    # -- deferred durability
    def deferred(self) -> "LocalStore":
        store = LocalStore(self.root, durability="deferred")
        marker = self.root / SYNC_MARKER
        if not marker.exists():
            # everything already here was written durably (per object, or synced): mark it so
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                marker.touch()
            except OSError as exc:
                raise StoreError(f"cannot write under {self.root}: {exc.strerror}", fix="check the output folder is writable") from exc
        return store

    def sync(self) -> None:
        if self.durability != "deferred":
            return
        t0 = time.time() - 0.05  # a margin for the kernel's coarse file timestamps
        os.sync()  # one flush of everything written so far (sync(2): data and metadata)
        marker = self.root / SYNC_MARKER
        try:
            marker.touch()
            os.utime(marker, (t0, t0))  # objects changed after t0 may not be on disk yet
        except OSError as exc:
            raise StoreError(f"cannot write {marker}: {exc.strerror}", fix="check the output folder is writable") from exc

    def _synced_at(self) -> float:
        try:
            return (self.root / SYNC_MARKER).stat().st_mtime
        except FileNotFoundError:
            return float("inf")  # never synced by a deferred writer: everything is durable

    def put_or_verify(self, key: str, data: bytes, content_type: str | None = None) -> Literal["written", "same"]:
        if self.durability != "deferred":
            return super().put_or_verify(key, data, content_type)
        if self.put_if_absent(key, data, content_type):
            return "written"
        path = self._path(key)
        existing = path.read_bytes()
        if existing == data:
            return "same"
        if path.stat().st_mtime >= self._synced_at():
            # written after the last durable checkpoint: possibly torn by a crash; replace it
            tmp = self._write_tmp(path, data)
            os.replace(tmp, path)
            return "written"
        return super().put_or_verify(key, data, content_type)  # raises the conflict

    def _path(self, key: str) -> Path:
        return Path(self._fspath(key))

    def _write_tmp(self, path: Path, data: bytes) -> Path:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        except OSError as exc:
            raise StoreError(f"cannot write under {path.parent}: {exc.strerror}", fix="check the output folder exists and is writable") from exc
        try:
            os.chmod(tmp, 0o644)  # published files are world-readable like any served object
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                if self.durability != "deferred":
                    f.flush()
                    os.fsync(f.fileno())
        except OSError as exc:  # disk full, quota, I/O error: no temp file left behind
            Path(tmp).unlink(missing_ok=True)
            raise StoreError(f"cannot write {path}: {exc.strerror}", fix="free space or fix the output folder, then run the same command again (finished objects are skipped)") from exc
        return Path(tmp)

    def put_if_absent(self, key: str, data: bytes, content_type: str | None = None) -> bool:
        if self.durability == "deferred":
            return self._create(self._fspath(key), data)
        path = self._path(key)
        if path.exists():
            return False
        tmp = self._write_tmp(path, data)
        try:
            os.link(tmp, path)  # atomic, and fails if the name exists: a reader never sees a torn file
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)

    def _fspath(self, key: str) -> str:
        """The file of ``key``, as a str (the deferred writer's hot path builds no Path objects)."""
        key = key.lstrip("/")
        norm = posixpath.normpath(key) if key else "."
        # lexical (no lstat per path component: that was 5 % of a build's time)
        if norm == ".." or norm.startswith("../"):
            raise StoreError(f"key {key!r} escapes the store root {self.root}", fix="use a relative key without '..'")
        return self._root_str if norm == "." else os.path.join(self._root_str, norm)

    def _create(self, path: str, data: bytes) -> bool:
        """Deferred durability: create the file in place (O_EXCL: never over an existing one).
        One open instead of mkstemp + link + unlink; a run killed mid-write leaves a short
        file modified after the sync marker, which the rerun replaces."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        try:
            try:
                fd = os.open(path, flags, 0o644)
            except FileNotFoundError:  # the folder is new: one mkdir per folder, not per object
                os.makedirs(os.path.dirname(path), exist_ok=True)
                fd = os.open(path, flags, 0o644)
        except FileExistsError:
            return False
        except OSError as exc:
            raise StoreError(f"cannot write under {os.path.dirname(path)}: {exc.strerror}", fix="check the output folder exists and is writable") from exc
        try:
            try:
                view = memoryview(data)
                while view:  # os.write may write less than asked (a signal, a full pipe or disk)
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
        except OSError as exc:
            Path(path).unlink(missing_ok=True)
            raise StoreError(f"cannot write {path}: {exc.strerror}", fix="free space or fix the output folder, then run the same command again (finished objects are skipped)") from exc
        return True

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"{self.join(key)} does not exist", fix="check the key or build/publish it first") from None
        except IsADirectoryError:
            raise NotFound(f"{self.join(key)} is a folder, not an object") from None

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        if not path.is_file():
            return None
        return ObjectInfo(key=key.lstrip("/"), size=st.st_size, etag=_etag(path))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        if not self.root.exists():
            return
        found = []
        for dirpath, _dirs, files in os.walk(self.root):
            for name in files:
                if name.startswith(".tmp-") or name == SYNC_MARKER:
                    continue
                full = Path(dirpath) / name
                key = full.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    found.append((key, full.stat().st_size))
        for key, size in sorted(found):
            yield ObjectInfo(key=key, size=size)

    def replace(self, key: str, data: bytes, expected_etag: str | None, content_type: str | None = None) -> None:
        path = self._path(key)
        current = self.head(key)
        current_etag = current.etag if current else None
        if current_etag != expected_etag:
            raise ObjectConflictError(
                f"{self.join(key)} changed underneath us (expected ETag {expected_etag}, found {current_etag})",
                fix="re-run the command; it re-reads the current object",
            )
        tmp = self._write_tmp(path, data)
        try:
            os.replace(tmp, path)
        except OSError as exc:  # pragma: no cover - unusual filesystems
            tmp.unlink(missing_ok=True)
            if exc.errno == errno.EXDEV:
                raise StoreError(f"cannot replace {path}", fix="keep the store on one filesystem") from exc
            raise

    def list_dirs(self, prefix: str = "") -> list[str]:
        """Immediate sub-folders under ``prefix`` (empty ones included)."""
        folder = self._path(prefix) if prefix.strip("/") else self.root
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir())

    def discard(self, key: str) -> None:
        """Remove an object this run wrote but did not commit (a failed scene). Never used on
        published objects: the pipeline only discards keys its own ``put`` returned "written" for."""
        self._path(key).unlink(missing_ok=True)

    def gdal_path(self, key: str) -> str:
        return str(self._path(key))


def _local_store(root: str, durability: str = "object") -> LocalStore:
    return LocalStore(root, durability=durability)  # type: ignore[arg-type]
