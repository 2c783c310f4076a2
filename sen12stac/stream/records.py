"""What a selection yields: one :class:`Pair` per item, with the two assets it streams."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class Band:
    name: str
    scale: float = 1.0
    offset: float = 0.0
    nodata: float | None = None
    unit: str | None = None


@dataclass(frozen=True)
class ShardRef:
    """Where an asset's COG sits in a training shard (docs/shards.md): ``href`` resolved like
    :attr:`Asset.href`, the member's first byte and length, its checksum; ``only``: the
    release has no per-file copy."""

    href: str
    offset: int
    size: int
    checksum: str | None
    only: bool = False


@dataclass(frozen=True)
class Asset:
    """One patch file: ``href`` is a key below the release root, or an absolute URL."""

    href: str
    size: int | None
    checksum: str | None  # file:checksum, sha2-256 multihash in hex ("1220" + sha256)
    bands: tuple[Band, ...]
    shard: ShardRef | None = None  # its copy in a training shard, when the release has shards


@dataclass(frozen=True)
class Pair:
    id: str
    collection: str
    split: str | None
    datetime: str | None
    bbox: tuple[float, float, float, float] | None
    scene_id: str | None
    s1: Asset
    s2: Asset

    @property
    def season(self) -> str | None:
        """``spring`` from ``ROIs1158_spring``."""
        return self.collection.rsplit("_", 1)[-1] if "_" in self.collection else None

    def asset(self, key: str) -> Asset:
        return {"s1": self.s1, "s2": self.s2}[key]


def bands_of(asset: Mapping[str, Any]) -> tuple[Band, ...]:
    """Scale/offset/nodata per band from ``raster:bands`` (raster v1) or STAC 1.1 ``bands``
    (raster v2: ``raster:scale``/``raster:offset``). Missing scale/offset: 1 and 0."""
    raw = asset.get("raster:bands") or asset.get("bands") or []
    out = []
    for i, b in enumerate(raw):
        b = b or {}
        scale = b.get("scale", b.get("raster:scale"))
        offset = b.get("offset", b.get("raster:offset"))
        out.append(Band(
            name=str(b.get("name") or f"b{i + 1}"),
            scale=1.0 if scale is None else float(scale),
            offset=0.0 if offset is None else float(offset),
            nodata=None if b.get("nodata") is None else float(b["nodata"]),
            unit=b.get("unit"),
        ))
    return tuple(out)
