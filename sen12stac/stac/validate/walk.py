"""The walk over a published catalog: root -> collections -> scene catalogs -> items through
their relative links, each object checked once; the items of a scene catalog on a few threads."""
from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from typing import Any, Callable, ContextManager, Mapping

from ...errors import ValidationFailed
from ...store import NotFound, ObjectStore
from ..hrefs import resolve_href
from ...shards.check import ShardCache
from .checks import check_asset, check_parquet_rows, gdal_env_kwargs
from .objects import validate_stac_object

#: rels whose targets are STAC objects or files inside the catalog (must resolve in the store)
_INTERNAL_RELS = {"root", "parent", "child", "item", "collection"}


class _Walk:
    def __init__(self, store: ObjectStore, check_assets: bool, check_cogs: bool, workers: int) -> None:
        self.store = store
        self.check_assets = check_assets
        self.check_cogs = check_cogs
        self.shards = ShardCache()  # training shards: read once per scene, one member opened through GDAL
        self.workers = max(1, workers)
        self.problems: list[str] = []
        self.visited: set[str] = set()
        self.exists_cache: dict[str, bool] = {}
        self.items_seen = 0
        self.env_kwargs = gdal_env_kwargs(store) if check_cogs else None

    def gdal_env(self) -> ContextManager[Any]:
        """The GDAL options COG checks read under, for the calling thread (rasterio's ``Env`` is
        per thread); nothing when COGs are not checked."""
        if self.env_kwargs is None:
            return nullcontext()
        import rasterio

        return rasterio.Env(**self.env_kwargs)

    def map_items(self, fn: Callable[[str], list[str]], keys: list[str]) -> list[list[str]]:
        """``fn`` over ``keys`` on ``workers`` threads, results in the order of ``keys``. Each
        thread takes the next key until none is left, inside one ``Env`` of its own that it
        leaves when it is done (one long-lived Env per thread: FIELD-NOTES)."""
        results: list[list[str]] = [[] for _ in keys]
        todo = iter(range(len(keys)))
        lock = threading.Lock()

        def worker() -> None:
            with self.gdal_env():
                while True:
                    with lock:
                        i = next(todo, None)
                    if i is None:
                        return
                    results[i] = fn(keys[i])

        n = min(self.workers, len(keys))
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="stac-validate") as pool:
            for future in [pool.submit(worker) for _ in range(n)]:
                future.result()
        return results

    def load(self, key: str, what: str, parent: str, probs: list[str]) -> dict[str, Any] | None:
        try:
            data = self.store.get(key)
        except NotFound:
            probs.append(f"{parent}: {what} link points to {key}, which does not exist")
            return None
        try:
            obj = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            probs.append(f"{key}: not valid JSON ({exc})")
            return None
        if not isinstance(obj, dict):
            probs.append(f"{key}: not a JSON object")
            return None
        return obj

    def exists(self, key: str) -> bool:
        hit = self.exists_cache.get(key)
        if hit is None:
            hit = self.exists_cache[key] = self.store.head(key) is not None
        return hit

    def check_links(self, obj: Mapping[str, Any], key: str, label: str) -> tuple[list[str], list[tuple[str, str]]]:
        """Problems with the links of ``obj`` and the (rel, key) of its child/item links."""
        probs: list[str] = []
        follow: list[tuple[str, str]] = []
        links = obj.get("links", [])
        for link in links if isinstance(links, list) else []:
            if not isinstance(link, Mapping):
                continue
            rel, href = link.get("rel"), link.get("href")
            if not isinstance(href, str):
                continue
            if rel == "self":
                if "://" not in href:
                    probs.append(f"{label}: self link {href!r} is not absolute (STAC requires an absolute self href)")
                continue
            target = resolve_href(key, href)
            if rel not in _INTERNAL_RELS:
                if target is not None and not self.exists(target):  # e.g. the local license text
                    probs.append(f"{label}: {rel} link {href!r} points to {target}, which does not exist")
                continue
            if "://" in href or href.startswith("/"):
                probs.append(f"{label}: {rel} link {href!r} is absolute; the catalog must use relative links")
            elif target is None:
                probs.append(f"{label}: {rel} link {href!r} leaves the catalog root")
            elif rel in ("child", "item"):
                follow.append((rel, target))
            elif not self.exists(target):
                probs.append(f"{label}: {rel} link {href!r} points to {target}, which does not exist")
        return probs, follow

    def check_assets_of(self, owner_key: str, label: str, assets: Any) -> tuple[list[str], dict[str, bytes | None]]:
        probs: list[str] = []
        items_files: dict[str, bytes | None] = {}
        if not isinstance(assets, Mapping):
            return probs, items_files
        for name, asset in assets.items():
            if not isinstance(asset, Mapping):
                probs.append(f"{label}: asset {name!r} is not an object")
                continue
            p, data = check_asset(self.store, label, name, asset, owner_key, self.check_cogs, self.shards)
            probs.extend(p)
            if "stac-items" in (asset.get("roles") or []):
                items_files[name] = data
        return probs, items_files

    def item(self, key: str, parent_label: str, collection_id: str | None) -> list[str]:
        probs: list[str] = []
        obj = self.load(key, "item", parent_label, probs)
        if obj is None:
            return probs
        label = f"Item {obj.get('id', '?')} ({key})"
        probs.extend(validate_stac_object(obj, key))
        if obj.get("type") != "Feature":
            probs.append(f"{label}: an item link points to a {obj.get('type')!r}, not an Item")
        if collection_id is not None and obj.get("collection") != collection_id:
            probs.append(f"{label}: collection field is {obj.get('collection')!r} but the item is under collection {collection_id!r}")
        link_probs, follow = self.check_links(obj, key, label)
        probs.extend(link_probs)
        if follow:
            probs.append(f"{label}: an item must not have child or item links")
        if self.check_assets:
            probs.extend(self.check_assets_of(key, label, obj.get("assets"))[0])
        return probs

    def items(self, keys: list[str], parent_label: str, collection_id: str | None) -> None:
        fresh = []
        for k in keys:
            if k in self.visited:
                self.problems.append(f"{parent_label}: item {k} is linked twice")
            else:
                self.visited.add(k)
                fresh.append(k)
        self.items_seen += len(fresh)
        if self.workers > 1 and len(fresh) > 1:
            results = self.map_items(lambda k: self.item(k, parent_label, collection_id), fresh)
        else:
            results = [self.item(k, parent_label, collection_id) for k in fresh]
        for r in results:
            self.problems.extend(r)

    def node(self, key: str, parent_label: str, collection_id: str | None) -> None:
        if key in self.visited:
            self.problems.append(f"{parent_label}: {key} is reached twice (a link cycle or a duplicate child link)")
            return
        self.visited.add(key)
        obj = self.load(key, "child", parent_label, self.problems)
        if obj is None:
            return
        label = f"{obj.get('type', '?')} {obj.get('id', '?')} ({key})"
        self.problems.extend(validate_stac_object(obj, key))
        if obj.get("type") == "Feature":
            self.problems.append(f"{label}: a child link points to an Item (use rel 'item')")
            return
        if obj.get("type") == "Collection":
            collection_id = obj.get("id")
        link_probs, follow = self.check_links(obj, key, label)
        self.problems.extend(link_probs)
        before = self.items_seen
        for rel, target in follow:
            if rel == "child":
                self.node(target, label, collection_id)
        item_keys = [t for rel, t in follow if rel == "item"]
        if item_keys:
            self.items(item_keys, label, collection_id)
        if obj.get("type") == "Collection" and self.check_assets:
            probs, items_files = self.check_assets_of(key, label, obj.get("assets"))
            self.problems.extend(probs)
            for name, data in items_files.items():
                if data is not None:
                    self.problems.extend(check_parquet_rows(label, name, data, self.items_seen - before))


def validate_catalog(
    store: ObjectStore,
    root_key: str = "catalog.json",
    *,
    check_assets: bool = True,
    check_cogs: bool = True,
    workers: int = 4,
) -> list[str]:
    """Walk root -> collections -> scene catalogs -> items via relative links and return
    the problems found (empty = valid), each naming the object id/key and what is wrong.

    ``workers`` threads check the items of a scene catalog in parallel (reads, hashing,
    COG checks). COGs are opened inside ``rasterio.Env(**store.gdal_env())``,
    so an S3 store's endpoint and credentials apply to its ``/vsis3/`` paths.
    """
    w = _Walk(store, check_assets, check_cogs and check_assets, workers)
    if store.head(root_key) is None:
        return [f"{root_key}: the root catalog does not exist in {store.url}"]
    with w.gdal_env():  # for the checks run on this thread
        w.node(root_key, "root", None)
    return w.problems


def raise_for_problems(problems: list[str], what: str = "catalog") -> None:
    """Raise :class:`ValidationFailed` listing ``problems`` (no-op when empty)."""
    if problems:
        head = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        raise ValidationFailed(
            f"{what} has {len(problems)} problem(s): {head}",
            problems,
            fix="fix the objects named above (or rebuild them) and validate again",
        )
