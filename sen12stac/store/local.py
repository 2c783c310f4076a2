"""A local folder as an object store (file:// URLs or plain paths)."""
from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from ..errors import ObjectConflictError, StoreError
from .base import NotFound, ObjectInfo, ObjectStore


def _etag(path: Path) -> str:
    h = hashlib.md5()  # noqa: S324 - an ETag, not security
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class LocalStore(ObjectStore):
    def __init__(self, root: str | os.PathLike[str]) -> None:
        root_str = str(root)
        if root_str.startswith("file://"):
            root_str = root_str[len("file://") :]
        self.root = Path(root_str).resolve()
        self.url = self.root.as_uri()

    def __reduce__(self):  # picklable for Dask workers
        return (LocalStore, (str(self.root),))

    def _path(self, key: str) -> Path:
        key = key.lstrip("/")
        p = (self.root / key).resolve()
        if self.root not in p.parents and p != self.root:
            raise StoreError(f"key {key!r} escapes the store root {self.root}", fix="use a relative key without '..'")
        return p

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
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:  # disk full, quota, I/O error: no temp file left behind
            Path(tmp).unlink(missing_ok=True)
            raise StoreError(f"cannot write {path}: {exc.strerror}", fix="free space or fix the output folder, then run the same command again (finished objects are skipped)") from exc
        return Path(tmp)

    def put_if_absent(self, key: str, data: bytes, content_type: str | None = None) -> bool:
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
                if name.startswith(".tmp-"):
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
