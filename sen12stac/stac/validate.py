"""Validate a published catalog fully offline.

Walks root -> collections -> scene catalogs -> items through their relative links and
checks each JSON object against the STAC core schema of its ``stac_version`` and the
schema of every extension it declares in ``stac_extensions``. The schemas come from
``sen12stac/schemas`` (copied unmodified from the official sites; see its README);
references between schemas resolve through a :mod:`referencing` registry built from
those files, and nothing is ever fetched: an extension URL we do not carry is reported
as a problem.

With ``check_assets`` every asset must exist with the declared ``file:size`` and
``file:checksum`` (sha2-256 multihash), and a collection's stac-geoparquet asset must
hold one row per item found under the collection; with ``check_cogs`` every asset whose
media type says ``profile=cloud-optimized`` must pass
``rio_cogeo.cogeo.cog_validate`` on ``store.gdal_path(key)``.
"""
from __future__ import annotations

import hashlib
import io
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from importlib import resources
from typing import Any, Iterable, Mapping

from ..errors import ValidationFailed
from ..store import NotFound, ObjectStore
from .hrefs import resolve_href

SCHEMA_PACKAGE = "sen12stac"
SCHEMA_FOLDER = "schemas"

#: rels whose targets are STAC objects or files inside the catalog (must resolve in the store)
_INTERNAL_RELS = {"root", "parent", "child", "item", "collection"}

_CORE_PATHS = {
    "Feature": "item-spec/json-schema/item.json",
    "Catalog": "catalog-spec/json-schema/catalog.json",
    "Collection": "collection-spec/json-schema/collection.json",
}


# ----------------------------------------------------------------------------- schemas


def _iter_schema_files() -> Iterable[tuple[str, Any]]:
    root = resources.files(SCHEMA_PACKAGE) / SCHEMA_FOLDER

    def walk(node: Any, parts: tuple[str, ...]) -> Iterable[tuple[str, Any]]:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.is_dir():
                yield from walk(child, parts + (child.name,))
            elif child.name.endswith(".json") and parts:
                yield "/".join(parts + (child.name,)), child

    yield from walk(root, ())


@lru_cache(maxsize=1)
def schema_registry():
    """A :class:`referencing.Registry` of every carried schema, keyed by its public URL
    (``https://<host>/<path>``) and by its ``$id``, on top of the JSON Schema metaschemas.
    Unknown URLs raise (no retrieval: nothing goes to the network)."""
    from jsonschema_specifications import REGISTRY as METASCHEMAS
    from referencing import Resource
    from referencing.jsonschema import DRAFT7

    resources_: list[tuple[str, Any]] = []
    for rel, path in _iter_schema_files():
        contents = json.loads(path.read_text(encoding="utf-8"))
        resource = Resource.from_contents(contents, default_specification=DRAFT7)
        url = f"https://{rel}"
        resources_.append((url, resource))
        sid = contents.get("$id")
        if isinstance(sid, str) and sid.rstrip("#") != url:
            resources_.append((sid.rstrip("#"), resource))
    return METASCHEMAS.with_resources(resources_).crawl()


def carried_schema_urls() -> list[str]:
    """The public URLs of every schema carried in the package."""
    return sorted(f"https://{rel}" for rel, _ in _iter_schema_files())


_validators: dict[str, Any] = {}
_validators_lock = threading.Lock()


def _validator(url: str):
    """A compiled validator for the schema at ``url``, or None when we do not carry it."""
    key = url.split("#", 1)[0]
    with _validators_lock:
        if key in _validators:
            return _validators[key]
        from jsonschema.validators import validator_for
        from referencing.exceptions import NoSuchResource, Unresolvable

        registry = schema_registry()
        try:
            schema = registry.contents(key)
        except (NoSuchResource, Unresolvable, LookupError):
            _validators[key] = None
            return None
        cls = validator_for(schema, default=None)
        if cls is None:
            from jsonschema import Draft7Validator as cls  # noqa: N813
        v = cls(schema, registry=registry)
        _validators[key] = v
        return v


@lru_cache(maxsize=1)
def _schema_documents() -> dict[str, Any]:
    """Every carried schema by public URL and by ``$id`` (without a trailing ``#``)."""
    docs: dict[str, Any] = {}
    for rel, path in _iter_schema_files():
        contents = json.loads(path.read_text(encoding="utf-8"))
        docs[f"https://{rel}"] = contents
        sid = contents.get("$id")
        if isinstance(sid, str):
            docs.setdefault(sid.rstrip("#"), contents)
    return docs


def _offline_handler(uri: str) -> Any:
    """fastjsonschema's $ref resolver: carried schemas and the JSON Schema metaschemas only."""
    key = uri.split("#", 1)[0].rstrip("/")
    docs = _schema_documents()
    if key in docs:
        return docs[key]
    from jsonschema_specifications import REGISTRY as METASCHEMAS

    try:
        return METASCHEMAS.contents(key)
    except LookupError:
        raise LookupError(f"schema {uri} is not carried (offline validation fetches nothing)") from None


_fast: dict[str, Any] = {}
#: Use the fastjsonschema fast path (bench/bench_catalog.py switches it off to compare).
USE_FAST_PATH = True


def _fast_validator(url: str):
    """A fastjsonschema-compiled check for ``url`` (validate_catalog runs ~10x faster with it:
    bench/results/catalog.md), or None when fastjsonschema is missing or cannot compile the
    schema. It only says valid/invalid; the messages come from jsonschema."""
    if not USE_FAST_PATH:
        return None
    key = url.split("#", 1)[0]
    with _validators_lock:
        if key in _fast:
            return _fast[key]
        fn = None
        try:
            import fastjsonschema

            schema = _schema_documents().get(key)
            if schema is not None:
                fn = fastjsonschema.compile(
                    schema, handlers={"https": _offline_handler, "http": _offline_handler}, use_formats=False
                )
        except Exception:  # not installed, or a construct it does not compile: use jsonschema alone
            fn = None
        _fast[key] = fn
        return fn


def core_schema_url(obj: Mapping[str, Any]) -> str | None:
    t = obj.get("type")
    ver = obj.get("stac_version")
    if t not in _CORE_PATHS or not isinstance(ver, str):
        return None
    return f"https://schemas.stacspec.org/v{ver}/{_CORE_PATHS[t]}"


def _short(url: str) -> str:
    """``https://stac-extensions.github.io/sar/v1.0.0/schema.json`` -> ``sar v1.0.0``."""
    parts = url.split("/")
    if "stac-extensions.github.io" in url and len(parts) >= 5:
        return f"{parts[3]} {parts[4]}"
    if "schemas.stacspec.org" in url and len(parts) >= 4:
        return f"STAC {parts[3]} core"
    return url


def _leaves(err: Any) -> Iterable[Any]:
    if not err.context:
        yield err
        return
    for sub in err.context:
        yield from _leaves(sub)


def _error_text(errors: list[Any]) -> str:
    """The most telling leaf of a (possibly oneOf/anyOf-nested) schema error: the deepest
    instance path wins, so 'XX is not one of [...] at properties/sar:polarizations/0'
    beats 'is not valid under any of the given schemas' at the top level."""
    leaves = [leaf for err in errors for leaf in _leaves(err)]
    best = max(leaves, key=lambda e: (len(e.absolute_path), e.validator != "not", -len(e.message)))
    path = "/".join(str(p) for p in best.absolute_path)
    msg = best.message
    if len(msg) > 300:
        msg = msg[:300] + "..."
    return f"{msg} (at {path or 'top level'})"


def validate_stac_object(obj: Any, where: str = "") -> list[str]:
    """Schema problems of one STAC object (catalog, collection or item) -- empty if valid.

    Checks the core schema of its ``stac_version`` and every ``stac_extensions`` schema,
    offline. ``where`` (e.g. the store key) is put into every message."""
    label_parts = []
    if isinstance(obj, Mapping):
        label_parts.append(f"{obj.get('type', '?')} {obj.get('id', '?')}")
    if where:
        label_parts.append(f"({where})")
    label = " ".join(label_parts) or "object"
    if not isinstance(obj, Mapping):
        return [f"{label}: not a JSON object"]
    problems: list[str] = []
    core = core_schema_url(obj)
    if core is None:
        return [f"{label}: not a STAC object (type {obj.get('type')!r}, stac_version {obj.get('stac_version')!r})"]
    schemas = [core]
    exts = obj.get("stac_extensions", [])
    if not isinstance(exts, list):
        problems.append(f"{label}: stac_extensions is not a list")
        exts = []
    schemas.extend(e for e in exts if isinstance(e, str))
    for url in schemas:
        v = _validator(url)
        if v is None:
            if url == core:
                problems.append(f"{label}: STAC version {obj.get('stac_version')} is not among the carried core schemas")
            else:
                problems.append(
                    f"{label}: declares extension {url}, whose schema is not carried in sen12stac/schemas "
                    "(offline validation cannot check it)"
                )
            continue
        fast = _fast_validator(url)
        fast_message = None
        if fast is not None:
            try:
                fast(obj)
                continue  # valid: the common case, no need for jsonschema's detail
            except Exception as exc:  # JsonSchemaException: invalid; get the detail below
                fast_message = getattr(exc, "message", str(exc))
        try:
            errors = list(v.iter_errors(obj))
        except Exception as exc:  # a broken $ref in a carried schema: report, do not crash the walk
            problems.append(f"{label}: schema {_short(url)} could not be evaluated ({type(exc).__name__}: {exc})")
            continue
        if errors:
            problems.append(f"{label}: {_short(url)}: {_error_text(errors)}")
        elif fast_message is not None:  # the engines disagree: keep the stricter verdict
            problems.append(f"{label}: {_short(url)}: {fast_message}")
    return problems


# ----------------------------------------------------------------------------- assets


def _check_asset(store: ObjectStore, owner: str, name: str, asset: Mapping[str, Any], key: str, check_cogs: bool) -> tuple[list[str], bytes | None]:
    problems: list[str] = []
    href = asset.get("href")
    if not isinstance(href, str):
        return [f"{owner}: asset {name!r} has no href"], None
    target = resolve_href(key, href)
    if target is None:
        if "://" in href:
            return [], None  # an external URL: not ours to check
        return [f"{owner}: asset {name!r} href {href!r} leaves the catalog root"], None
    try:
        data = store.get(target)
    except NotFound:
        return [f"{owner}: asset {name!r} is missing: {target} does not exist"], None
    size = asset.get("file:size")
    if size is not None and size != len(data):
        problems.append(f"{owner}: asset {name!r} ({target}) has {len(data)} bytes, file:size says {size}")
    checksum = asset.get("file:checksum")
    if checksum is not None:
        if not (isinstance(checksum, str) and checksum.startswith("1220") and len(checksum) == 68):
            problems.append(f"{owner}: asset {name!r} file:checksum {checksum!r} is not a sha2-256 multihash (1220 + 64 hex)")
        elif hashlib.sha256(data).hexdigest() != checksum[4:].lower():
            problems.append(f"{owner}: asset {name!r} ({target}) checksum mismatch: file:checksum {checksum[:16]}..., content 1220{hashlib.sha256(data).hexdigest()[:12]}...")
    if check_cogs and "profile=cloud-optimized" in str(asset.get("type", "")):
        problems.extend(_check_cog(store, owner, name, target))
    return problems, data


def _check_cog(store: ObjectStore, owner: str, name: str, target: str) -> list[str]:
    """rio-cogeo's validator on the stored object (inside the caller's rasterio.Env)."""
    from rio_cogeo.cogeo import cog_validate

    try:
        ok, errors, _warnings = cog_validate(store.gdal_path(target), quiet=True)
    except Exception as exc:  # rasterio/GDAL errors: the file is not a readable GeoTIFF
        return [f"{owner}: asset {name!r} ({target}) is not a readable GeoTIFF: {exc}"]
    if not ok:
        return [f"{owner}: asset {name!r} ({target}) is not a valid COG: {'; '.join(errors) or 'invalid'}"]
    return []


def _gdal_env_kwargs(store: ObjectStore) -> dict[str, Any]:
    """``rasterio.Env`` kwargs for reading ``store.gdal_path`` objects (the store's own for S3)."""
    kwargs = dict(store.gdal_env())
    kwargs.setdefault("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR")
    kwargs.setdefault("GDAL_PAM_ENABLED", "NO")
    # a validator must see the bytes as they are now, not GDAL's per-process cache of an
    # earlier read of the same URL (each file is read once here anyway)
    kwargs.setdefault("CPL_VSIL_CURL_NON_CACHED", "/vsis3/:/vsigs/:/vsiaz/:/vsicurl/")
    return kwargs


# ----------------------------------------------------------------------------- walk


class _Walk:
    def __init__(self, store: ObjectStore, check_assets: bool, check_cogs: bool, workers: int) -> None:
        self.store = store
        self.check_assets = check_assets
        self.check_cogs = check_cogs
        self.workers = max(1, workers)
        self.problems: list[str] = []
        self.visited: set[str] = set()
        self.exists_cache: dict[str, bool] = {}
        self.items_seen = 0
        self.env_kwargs = _gdal_env_kwargs(store) if check_cogs else None
        self._thread_envs: list[Any] = []

    def _enter_env(self) -> None:
        """Pool initializer: one long-lived rasterio.Env per worker thread (FIELD-NOTES)."""
        if self.env_kwargs is not None:
            import rasterio

            env = rasterio.Env(**self.env_kwargs)
            env.__enter__()
            self._thread_envs.append(env)  # the thread ends with the pool; GDAL's thread-local options go with it

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
            p, data = _check_asset(self.store, label, name, asset, owner_key, self.check_cogs)
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
            with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="stac-validate", initializer=self._enter_env) as pool:
                results = list(pool.map(lambda k: self.item(k, parent_label, collection_id), fresh))
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
                    self.problems.extend(_check_parquet_rows(label, name, data, self.items_seen - before))


def _check_parquet_rows(label: str, name: str, data: bytes, n_items: int) -> list[str]:
    try:
        import pyarrow.parquet as pq

        rows = pq.read_metadata(io.BytesIO(data)).num_rows
    except Exception as exc:  # not a parquet file
        return [f"{label}: asset {name!r} is not a readable parquet file ({type(exc).__name__}: {exc})"]
    if rows != n_items:
        return [f"{label}: asset {name!r} has {rows} rows but {n_items} items are linked under the collection"]
    return []


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
    if w.env_kwargs is not None:
        import rasterio

        with rasterio.Env(**w.env_kwargs):  # for the checks run on this thread
            w.node(root_key, "root", None)
    else:
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


__all__ = [
    "validate_catalog",
    "validate_stac_object",
    "raise_for_problems",
    "schema_registry",
    "carried_schema_urls",
    "core_schema_url",
]
