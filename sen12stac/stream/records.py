"""What a selection yields: one :class:`Pair` per item, with the assets it streams.

Which assets a pair has is the release's recipe (the items' ``sen12:recipe``; no such
property: the 2018 recipe, v1), never guessed from a file: v1 streams ``s1`` and ``s2``,
v2 also its land-cover ``label`` (sen12stac.recipe.recipes).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from ..errors import ConfigError
from ..recipe.recipes import RECIPES, RecipeSpec


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
    label: Asset | None = None  # v2: the land-cover label raster
    recipe: str = "v1"  # the item's sen12:recipe

    @property
    def season(self) -> str | None:
        """``spring`` from ``ROIs1158_spring``."""
        return self.collection.rsplit("_", 1)[-1] if "_" in self.collection else None

    @property
    def asset_names(self) -> tuple[str, ...]:
        """The assets a sample of this pair holds, in order: ``s1``, ``s2`` (and ``label`` for v2)."""
        return asset_names(self.recipe)

    def asset(self, key: str) -> Asset:
        found = {"s1": self.s1, "s2": self.s2, "label": self.label}.get(key)
        if found is None:
            raise KeyError(f"pair {self.id} ({self.recipe}) has no {key!r} asset")
        return found


def recipe_of(item_id: str, value: Any) -> RecipeSpec:
    """The recipe an item names in ``sen12:recipe`` (none: v1); an unknown one is refused."""
    name = "v1" if value is None else str(value)
    spec = RECIPES.get(name)
    if spec is None:
        raise ConfigError(f"item {item_id} has sen12:recipe {name!r}, which this sen12stac cannot read",
                          fix=f"upgrade sen12stac, or select from a release of recipe {' or '.join(RECIPES)}")
    return spec


def asset_names(recipe: str) -> tuple[str, ...]:
    return ("s1", "s2", "label") if RECIPES[recipe].label else ("s1", "s2")


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
