"""Training shards: per scene, uncompressed ZIP archives whose members are the release's COGs
byte for byte (docs/shards.md).

A Dask worker that processes a scene writes that scene's shards straight into the release
(:class:`ShardedStore`, the scene's view of the store); each member's shard, byte range and
checksum travel with its :class:`~sen12stac.models.AssetRecord` into the item
(:func:`asset_fields`: the alternate-assets and archive extensions) and from there into the
collection's stac-geoparquet and the release manifest.
"""
from __future__ import annotations

from .layout import LAYOUTS, SHARD_MEDIA_TYPE, Member, ShardInfo, asset_fields, member_entry, shard_key
from .writer import ShardedStore, member_of, open_shards

__all__ = ["LAYOUTS", "SHARD_MEDIA_TYPE", "Member", "ShardInfo", "ShardedStore", "asset_fields", "member_entry", "member_of", "open_shards", "shard_key"]
