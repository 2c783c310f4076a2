"""What a shard is and how an item names its members (no I/O here).

Key: ``ROIs1158_spring/shards_7/ROIs1158_spring_7_00.zip`` (beside ``s1_7/``, ``s2_7/``,
``thumbs_7/``); member names are the COGs' keys below the season folder
(``s1_7/ROIs1158_spring_s1_7_p42.tif``), so unpacking a shard in the season folder gives the
per-file layout back.

In an item, an asset whose COG is also a member of a shard (``--layout both``) gets an
alternate (alternate-assets extension) named ``shard``: the archive, with one archive entry
(archive extension) giving the member's name, byte range and checksum. With ``--layout
shards`` there is no per-file object, so the asset itself is the archive entry's holder: its
``href`` is the shard, its ``file:size``/``file:checksum`` are the shard's (they describe what
``href`` points at), and its ``archive`` entry locates the COG inside. ``range`` is
``[first byte, last byte]``, both inclusive, as an HTTP ``Range: bytes=first-last``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ..store.media import COG_MEDIA_TYPE

LAYOUTS = ("cogs", "shards", "both")
SHARD_MEDIA_TYPE = "application/zip"
ARCHIVE_EXT = "https://stac-extensions.github.io/archive/v1.0.0/schema.json"
ALTERNATE_EXT = "https://stac-extensions.github.io/alternate-assets/v1.2.0/schema.json"


def shard_key(set_name: str, scene_index: int, part: int) -> str:
    return f"{set_name}/shards_{scene_index}/{set_name}_{scene_index}_{part:02d}.zip"


@dataclass
class ShardInfo:
    """One shard object: filled in when the shard is written (its size and checksum)."""

    key: str
    size: int = 0
    checksum: str = ""  # sha2-256 multihash hex of the whole shard


@dataclass(frozen=True)
class Member:
    """One COG inside a shard: its name there and where its bytes are."""

    shard: ShardInfo = field(compare=False)
    name: str
    offset: int  # first byte of the member's data in the shard
    size: int
    only: bool  # True with --layout shards: the shard is the only copy (no per-file object)

    @property
    def range(self) -> list[int]:
        return [self.offset, self.offset + self.size - 1]


def _entry(member: Member, checksum: str) -> dict[str, Any]:
    return {"href": member.name, "type": COG_MEDIA_TYPE, "range": member.range, "file:size": member.size, "file:checksum": checksum}


def asset_fields(asset: dict[str, Any], member: Member, checksum: str, shard_href: str) -> dict[str, Any]:
    """``asset`` (the per-file asset dict) with its shard copy recorded (see the module's docstring)."""
    shard = {"href": shard_href, "type": SHARD_MEDIA_TYPE, "file:size": member.shard.size, "file:checksum": member.shard.checksum}
    if not member.only:
        out = dict(asset)
        out["alternate"] = {"shard": dict(shard, title="Training shard (uncompressed ZIP)", roles=["archive"], archive=[_entry(member, checksum)])}
        return out
    out = {k: v for k, v in asset.items() if k not in ("href", "type", "file:size", "file:checksum")}
    out.update(shard)
    out["roles"] = list(dict.fromkeys([*(asset.get("roles") or []), "archive"]))
    out["archive"] = [_entry(member, checksum)]
    return out


@dataclass(frozen=True)
class Entry:
    """Where an item's asset sits in a shard, read back from the item (or its geoparquet row)."""

    shard_href: str  # as written in the item (relative to the item / parquet file)
    name: str
    offset: int
    size: int
    checksum: str | None
    shard_size: int | None
    shard_checksum: str | None
    only: bool


def member_entry(asset: Mapping[str, Any] | None) -> Entry | None:
    """The shard entry of an item asset dict, or None when the asset has no shard copy."""
    if not asset:
        return None
    holder, only = None, False
    alt = asset.get("alternate") or {}
    if isinstance(alt, Mapping) and isinstance(alt.get("shard"), Mapping) and alt["shard"].get("archive"):
        holder = alt["shard"]
    elif asset.get("archive") and asset.get("type") == SHARD_MEDIA_TYPE:
        holder, only = asset, True
    if holder is None:
        return None
    e = holder["archive"][0]
    first, last = (int(v) for v in e["range"])
    return Entry(str(holder["href"]), str(e["href"]), first, last - first + 1, e.get("file:checksum"),
                 holder.get("file:size"), holder.get("file:checksum"), only)


def extensions(base: list[str] | tuple[str, ...], assets: Mapping[str, Any]) -> list[str]:
    """An item's ``stac_extensions``: ``base`` plus the archive (and alternate-assets) schemas
    when an asset has a shard entry."""
    out = set(base)
    for a in assets.values():
        if "alternate" in a:
            out |= {ARCHIVE_EXT, ALTERNATE_EXT}
        elif "archive" in a:
            out.add(ARCHIVE_EXT)
    return sorted(out)


def item_members(item_key: str, item: Mapping[str, Any]) -> tuple[list[tuple[str, int, str]], list[dict[str, Any]]]:
    """From a STAC item stored at ``item_key``: the shard objects its assets lead to
    ``(key, size, sha256 hex)`` and its members as manifest lines
    ``{"shard", "name", "offset", "size", "sha256"}`` (keys from the release root)."""
    from ..stac.hrefs import resolve_href

    shards: list[tuple[str, int, str]] = []
    members: list[dict[str, Any]] = []
    for asset in (item.get("assets") or {}).values():
        e = member_entry(asset) if isinstance(asset, Mapping) else None
        if e is None:
            continue
        key = resolve_href(item_key, e.shard_href)
        if key is None:
            continue
        if e.shard_size is not None and str(e.shard_checksum or "").startswith("1220"):
            shards.append((key, int(e.shard_size), str(e.shard_checksum)[4:]))
        if str(e.checksum or "").startswith("1220"):
            members.append({"shard": key, "name": e.name, "offset": e.offset, "size": e.size, "sha256": str(e.checksum)[4:]})
    return shards, members
