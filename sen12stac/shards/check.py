"""Checking training shards: every member of the release manifest where it says, with its
checksum (``verify``), and one member opened through GDAL in place (``validate``)."""
from __future__ import annotations

import collections
import hashlib
from typing import Any, Callable, Iterable

from ..store.base import NotFound, ObjectStore


def member_problems(dest: ObjectStore, vdir: str, members: Iterable[dict[str, Any]], workers: int,
                    bounded: Callable[..., None]) -> tuple[list[str], int]:
    """Read each shard the manifest's ``members`` name once and check every member's byte
    range against its sha256. Returns (problems, members checked)."""
    by_shard: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for m in members:
        by_shard[str(m["shard"])].append(m)
    problems: list[str] = []
    checked = 0

    def one(shard: str) -> tuple[list[str], int]:
        try:
            data = dest.get(f"{vdir}/{shard}")
        except NotFound:
            return [f"{vdir}/{shard}: missing (a training shard the manifest lists members of)"], 0
        out = []
        view = memoryview(data)
        for m in by_shard[shard]:
            start, size = int(m["offset"]), int(m["size"])
            if start < 0 or start + size > len(data):
                out.append(f"{vdir}/{shard}: member {m['name']} at bytes {start}-{start + size - 1} lies outside its {len(data)} bytes")
            elif hashlib.sha256(view[start:start + size]).hexdigest() != m["sha256"]:
                out.append(f"{vdir}/{shard}: member {m['name']} (bytes {start}-{start + size - 1}): sha256 differs from the manifest")
        return out, len(by_shard[shard])

    def collect(r: tuple[list[str], int]) -> None:
        nonlocal checked
        problems.extend(r[0])
        checked += r[1]

    bounded(one, sorted(by_shard), workers, collect)
    return problems, checked


def gdal_member_path(store: ObjectStore, shard_key: str, offset: int, size: int) -> str:
    """GDAL's path of one member, read in place: ``/vsisubfile/OFFSET_SIZE,<shard>`` (the shard
    itself through the store's GDAL path: a file, or /vsis3/)."""
    return f"/vsisubfile/{int(offset)}_{int(size)},{store.gdal_path(shard_key)}"


class ShardCache:
    """The last few shards a catalog walk read, checked once each (items of a scene share theirs)."""

    def __init__(self, keep: int = 2) -> None:
        import threading

        self.keep, self._lock = keep, threading.Lock()
        self._data: "collections.OrderedDict[str, tuple[bytes | None, list[str]]]" = collections.OrderedDict()
        self.gdal_checked = False

    def get(self, store: ObjectStore, target: str, size: Any, checksum: Any, what: str) -> tuple[bytes | None, list[str]]:
        with self._lock:
            hit = self._data.get(target)
            if hit is not None:
                return hit[0], []  # its problems were reported once
        try:
            data: bytes | None = store.get(target)
        except NotFound:
            data, problems = None, [f"{what}: training shard {target} does not exist"]
        else:
            problems = []
            if size is not None and int(size) != len(data):
                problems.append(f"{what}: training shard {target} has {len(data)} bytes, file:size says {size}")
            if isinstance(checksum, str) and checksum.startswith("1220") and hashlib.sha256(data).hexdigest() != checksum[4:].lower():
                problems.append(f"{what}: training shard {target} checksum mismatch with file:checksum")
        with self._lock:
            self._data[target] = (data, problems)
            while len(self._data) > self.keep:
                self._data.popitem(last=False)
        return data, problems


def check_member(store: ObjectStore, owner: str, name: str, asset: Any, key: str, cache: ShardCache, check_cogs: bool) -> list[str] | None:
    """Validate the shard entry of an item asset (None: the asset has none): the shard exists
    with its size and checksum, the member's bytes match its checksum, and the walk's first
    member opens in place through GDAL (``/vsisubfile/``) as a valid COG."""
    from ..stac.hrefs import resolve_href
    from .layout import member_entry

    e = member_entry(asset)
    if e is None:
        return None
    what = f"{owner}: asset {name!r}"
    target = resolve_href(key, e.shard_href)
    if target is None:
        return [f"{what}: shard href {e.shard_href!r} leaves the catalog root"]
    data, problems = cache.get(store, target, e.shard_size, e.shard_checksum, what)
    if data is None:
        return problems
    if e.offset + e.size > len(data):
        return problems + [f"{what}: member {e.name} at bytes {e.offset}-{e.offset + e.size - 1} lies outside {target}"]
    if isinstance(e.checksum, str) and hashlib.sha256(memoryview(data)[e.offset:e.offset + e.size]).hexdigest() != e.checksum[4:].lower():
        problems.append(f"{what}: member {e.name} of {target} checksum mismatch with its archive entry's file:checksum")
    if check_cogs and not cache.gdal_checked:
        cache.gdal_checked = True
        from rio_cogeo.cogeo import cog_validate

        path = gdal_member_path(store, target, e.offset, e.size)
        try:
            ok, errors, _ = cog_validate(path, quiet=True)
        except Exception as exc:  # noqa: BLE001 - GDAL cannot open it in place
            return problems + [f"{what}: member {e.name} does not open through GDAL at {path}: {exc}"]
        if not ok:
            problems.append(f"{what}: member {e.name} read through GDAL in place is not a valid COG: {'; '.join(errors) or 'invalid'}")
    return problems
