"""What planning learns from one object of a build: its checksums, its STAC kind, where its
links and assets lead (what a release ships is what the root catalog reaches through them;
dangling, absolute or escaping hrefs make the build unpublishable) and, for an item, its
collection and split."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ..recipe.seasons import SEASONS
from ..shards.layout import item_members
from ..stac.hrefs import resolve_href
from ..store.base import ObjectStore, sha256_hex
from .layout import ROOT_KEY
from .manifest import md5_hex


@dataclass(slots=True)
class Scan:
    """What planning learns from one source object."""

    key: str
    size: int
    sha256: str
    md5: str
    kind: str
    children: tuple[str, ...] = ()  # catalogs: resolved child/item keys
    refs: tuple[str, ...] = ()  # every key its links (but self) and assets lead to
    problems: tuple[str, ...] = ()
    collection: str | None = None  # items
    split: str | None = None  # items
    members: tuple[dict, ...] = ()  # items: their assets' training-shard members (manifest lines)


def _resolve(from_key: str, href: str) -> tuple[str, str | None]:
    """(kind, key): kind 'url' (absolute URL, not checked), 'local-absolute' (an absolute
    filesystem path: not publishable), 'outside' (escapes the build), 'key'."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://", href):
        return ("local-absolute", None) if href.lower().startswith("file:") else ("url", None)
    if href.startswith("/") or re.match(r"^[a-zA-Z]:[\\/]", href):
        return "local-absolute", None
    if not href.split("#", 1)[0].split("?", 1)[0]:
        return "url", None  # a pure fragment or query: nothing to publish
    target = resolve_href(from_key, href)
    return ("key", target) if target is not None else ("outside", None)


def season_of(*texts: str | None) -> str:
    for text in texts:
        if not text:
            continue
        low = text.lower()
        for s in SEASONS.values():
            if s.set_name.lower() in low or re.search(rf"(?<![a-z]){s.name}(?![a-z])", low):
                return s.name
    return "unknown"


def stac_refs(key: str, obj: dict) -> tuple[list[tuple[str, str]], list[str]]:
    """The (rel, href) of a STAC object's links and assets, and the store keys the relative
    ones lead to (resolved from ``key``; a ``self`` link names the object itself)."""
    refs: list[tuple[str, str]] = [(str(link.get("rel", "")), str(link.get("href", ""))) for link in obj.get("links", []) or [] if isinstance(link, dict)]
    for name, asset in (obj.get("assets") or {}).items():
        if isinstance(asset, dict):
            refs.append((f"asset {name}", str(asset.get("href", ""))))
            for alt, other in (asset.get("alternate") or {}).items() if isinstance(asset.get("alternate"), dict) else ():
                if isinstance(other, dict) and "href" in other:  # e.g. the training shard holding the asset (docs/shards.md)
                    refs.append((f"asset {name} alternate {alt}", str(other["href"])))
    keys = []
    for rel, href in refs:
        what, target = _resolve(key, href)
        if what == "key" and rel != "self":
            keys.append(target)  # type: ignore[arg-type]
    return refs, keys


def scan_object(src: ObjectStore, key: str, keyset: frozenset[str] | set[str]) -> Scan:
    data = src.get(key)
    kind = "asset"
    children: list[str] = []
    targets: list[str] = []
    problems: list[str] = []
    collection = split = None
    members: tuple[dict, ...] = ()
    if key.lower().endswith(".json"):
        try:
            obj = json.loads(data)
        except ValueError:
            obj = None
            if key == ROOT_KEY:
                problems.append(f"{key}: not valid JSON")
        if isinstance(obj, dict) and "stac_version" in obj and obj.get("type") in ("Feature", "Catalog", "Collection"):
            kind = {"Feature": "item", "Catalog": "catalog", "Collection": "collection"}[obj["type"]]
            refs, targets = stac_refs(key, obj)
            for rel, href in refs:
                what, target = _resolve(key, href)
                if what == "local-absolute":
                    problems.append(f"{key}: {rel} href {href!r} is an absolute local path")
                elif what == "outside":
                    problems.append(f"{key}: {rel} href {href!r} points outside the build folder")
                elif what == "key":
                    if target not in keyset:
                        problems.append(f"{key}: {rel} href {href!r} points to {target}, which is not in the build")
                    elif kind != "item" and rel in ("child", "item"):
                        children.append(target)  # type: ignore[arg-type]
            if kind == "item":
                props = obj.get("properties") or {}
                split = str(props.get("ml-aoi:split") or "unassigned")
                collection = obj.get("collection")
                members = tuple(item_members(key, obj)[1])
        elif key == ROOT_KEY:
            problems.append(f"{key}: not a STAC catalog")
    return Scan(key, len(data), sha256_hex(data), md5_hex(data), kind, children=tuple(children), refs=tuple(targets),
                problems=tuple(problems), collection=collection, split=split, members=members)
