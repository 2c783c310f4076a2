"""A view of a store under a key prefix: the same objects, keys relative to the prefix
(a release ``v1.0.0/`` seen as a self-contained catalog, for instance)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from .base import ObjectInfo, ObjectStore


class PrefixedStore(ObjectStore):
    """A view of ``store`` under ``prefix`` (keys are relative to the prefix)."""

    def __init__(self, store: ObjectStore, prefix: str) -> None:
        self.store = store
        self.prefix = prefix.strip("/") + "/"
        self.url = store.join(self.prefix.rstrip("/"))

    def __reduce__(self):
        return (PrefixedStore, (self.store, self.prefix))

    def __repr__(self) -> str:
        return f"PrefixedStore({self.store!r}, {self.prefix!r})"

    def _k(self, key: str) -> str:
        return self.prefix + key.lstrip("/")

    @property
    def root(self) -> Path | None:  # type: ignore[override]
        inner = self.store.root
        return None if inner is None else inner / self.prefix.rstrip("/")

    @property
    def put_concurrency(self) -> int:  # type: ignore[override]
        return self.store.put_concurrency

    def check(self) -> None:
        self.store.check()

    def put_if_absent(self, key: str, data: bytes, content_type: str | None = None) -> bool:
        return self.store.put_if_absent(self._k(key), data, content_type)

    def get(self, key: str) -> bytes:
        return self.store.get(self._k(key))

    def head(self, key: str) -> ObjectInfo | None:
        info = self.store.head(self._k(key))
        return None if info is None else ObjectInfo(key=key.lstrip("/"), size=info.size, etag=info.etag)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        n = len(self.prefix)
        for info in self.store.list(self._k(prefix)):
            yield ObjectInfo(key=info.key[n:], size=info.size, etag=info.etag)

    def list_dirs(self, prefix: str = "") -> list[str]:
        return self.store.list_dirs(self._k(prefix))

    def replace(self, key: str, data: bytes, expected_etag: str | None, content_type: str | None = None) -> None:
        self.store.replace(self._k(key), data, expected_etag, content_type)

    def discard(self, key: str) -> None:
        self.store.discard(self._k(key))

    def gdal_path(self, key: str) -> str:
        return self.store.gdal_path(self._k(key))

    def gdal_env(self) -> dict[str, Any]:
        return self.store.gdal_env()
