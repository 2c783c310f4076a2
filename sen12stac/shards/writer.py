"""Writing a scene's shards, in the Dask worker that processes the scene.

:class:`ShardedStore` is the scene's view of the store: a COG put through it is appended to
the scene's current shard (and, with ``--layout both``, written as its own object too); a shard
is written with one ``put_or_verify`` when the next pair would take it past its size bound
(a pair's files always share a shard),
and the last one when the scene ends (:meth:`ShardedStore.close`). Memory: one shard at most
(``shard_mb``). The bytes depend only on the members and their order (fixed timestamps and
attributes), so a rerun after a kill writes the same shard, which ``put_or_verify`` accepts.
"""
from __future__ import annotations

import io
import zipfile
from typing import Any, Iterator, Literal

from ..store.base import ObjectInfo, ObjectStore, multihash_sha256
from ..store.media import COG_MEDIA_TYPE
from .layout import SHARD_MEDIA_TYPE, Member, ShardInfo, shard_key

#: ZIP without ZIP64: at most 65,535 entries and 4 GiB; shards stay far below both.
MAX_MEMBERS = 60_000
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_LOCAL_HEADER = 30  # bytes of a ZIP local file header before the name (no extra field here)
_CENTRAL_ENTRY = 46  # bytes of a central directory entry before the name
_END = 22  # end of central directory record


class _Part:
    def __init__(self, key: str) -> None:
        self.info = ShardInfo(key)
        self.buf = io.BytesIO()
        self.zf = zipfile.ZipFile(self.buf, "w", compression=zipfile.ZIP_STORED, allowZip64=False)
        self.names = 0
        self.central = 0

    def projected(self, name: str, size: int) -> int:
        n = len(name.encode())
        return self.buf.tell() + _LOCAL_HEADER + n + size + self.central + _CENTRAL_ENTRY + n + _END

    def add(self, name: str, data: bytes) -> int:
        zi = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
        zi.compress_type = zipfile.ZIP_STORED
        zi.create_system = 3
        zi.external_attr = 0o100644 << 16
        self.zf.writestr(zi, data)
        offset = zi.header_offset + _LOCAL_HEADER + len(zi.filename.encode()) + len(zi.extra)
        self.names += 1
        self.central += _CENTRAL_ENTRY + len(name.encode())
        return offset

    def close(self) -> bytes:
        self.zf.close()
        data = self.buf.getvalue()
        self.info.size, self.info.checksum = len(data), multihash_sha256(data)
        self.buf = None  # type: ignore[assignment]
        return data


class ShardedStore(ObjectStore):
    """A scene's view of ``inner`` (see the module's docstring). Everything but COG puts goes
    straight to ``inner``; :attr:`written` lists the shard keys this view wrote."""

    def __init__(self, inner: ObjectStore, set_name: str, scene_index: int, *, layout: Literal["shards", "both"], shard_mb: float) -> None:
        self.inner, self.url, self.root = inner, inner.url, getattr(inner, "root", None)
        self.set_name, self.scene_index = set_name, scene_index
        self.only = layout == "shards"
        self.max_bytes = int(shard_mb * 2**20)
        self.members: dict[str, Member] = {}
        self.written: list[str] = []
        # what this view adds to the sum of its COGs' sizes: the shards' bytes, less the COGs
        # that --layout shards keeps in shards only (a build's byte count is what it stored)
        self.extra_bytes = 0
        self._part: _Part | None = None
        self._parts = 0
        self._last: str | None = None

    def _flush(self) -> None:
        part, self._part = self._part, None
        if part is None or not part.names:
            return
        data = part.close()
        self.extra_bytes += len(data)
        if self.inner.put_or_verify(part.info.key, data, SHARD_MEDIA_TYPE) == "written":
            self.written.append(part.info.key)

    def _add(self, key: str, data: bytes) -> Member:
        name = key.split("/", 1)[1] if "/" in key else key
        group = name.rsplit("_p", 1)[-1]  # the patch: a pair's files stay in one shard
        part = self._part
        if (part is not None and part.names and group != self._last and
                (part.names >= MAX_MEMBERS or part.projected(name, len(data)) > self.max_bytes)):
            self._flush()
            part = None
        if part is None:
            part = self._part = _Part(shard_key(self.set_name, self.scene_index, self._parts))
            self._parts += 1
        self._last = group
        return Member(part.info, name, part.add(name, data), len(data), self.only)

    def close(self) -> list[str]:
        """Write the last shard; the keys of the shards this view wrote."""
        self._flush()
        return self.written

    # -- the store interface
    def put_or_verify(self, key: str, data: bytes, content_type: str | None = None) -> Literal["written", "same"]:
        if content_type != COG_MEDIA_TYPE:
            return self.inner.put_or_verify(key, data, content_type)
        self.members[key] = self._add(key, data)
        if self.only:
            self.extra_bytes -= len(data)
            return "same"  # no per-file object: nothing this scene would have to remove
        return self.inner.put_or_verify(key, data, content_type)

    def put_if_absent(self, key: str, data: bytes, content_type: str | None = None) -> bool:
        return self.inner.put_if_absent(key, data, content_type)

    def get(self, key: str) -> bytes:
        return self.inner.get(key)

    def head(self, key: str) -> ObjectInfo | None:
        return self.inner.head(key)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return self.inner.list(prefix)

    def replace(self, key: str, data: bytes, expected_etag: str | None, content_type: str | None = None) -> None:
        self.inner.replace(key, data, expected_etag, content_type)

    def gdal_path(self, key: str) -> str:
        return self.inner.gdal_path(key)

    def gdal_env(self) -> dict[str, Any]:
        return self.inner.gdal_env()

    def discard(self, key: str) -> None:
        self.inner.discard(key)


def open_shards(store: ObjectStore, set_name: str, scene_index: int, config: Any) -> ShardedStore | None:
    """The scene's sharded view of ``store``, or None with ``--layout cogs``."""
    layout = getattr(config, "layout", "cogs")
    if layout == "cogs":
        return None
    return ShardedStore(store, set_name, scene_index, layout=layout, shard_mb=config.shard_mb)


def member_of(store: ObjectStore, key: str) -> Member | None:
    """The shard member a sharded view recorded for ``key`` (None for any other store)."""
    members = getattr(store, "members", None)
    return members.get(key) if isinstance(members, dict) else None


def record_bytes(store: ObjectStore, record: Any, shards: dict[str, bytes] | None = None) -> bytes:
    """The bytes of an asset record: its object, or with ``--layout shards`` its member's range
    of the shard (``shards``: shards already read, by key, filled as a cache)."""
    member = getattr(record, "member", None)
    if member is None or not member.only:
        return store.get(record.key)
    cache = shards if shards is not None else {}
    data = cache.get(member.shard.key)
    if data is None:
        data = cache[member.shard.key] = store.get(member.shard.key)
    return data[member.offset: member.offset + member.size]
