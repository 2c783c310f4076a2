"""The STAC schemas carried in ``sen12stac/schemas``: a :mod:`referencing` registry, the raw
documents, and the URL of an object's core schema. Nothing here reaches the network."""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any, Iterable, Mapping

SCHEMA_PACKAGE = "sen12stac"
SCHEMA_FOLDER = "schemas"

_CORE_PATHS = {
    "Feature": "item-spec/json-schema/item.json",
    "Catalog": "catalog-spec/json-schema/catalog.json",
    "Collection": "collection-spec/json-schema/collection.json",
}


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


@lru_cache(maxsize=1)
def schema_documents() -> dict[str, Any]:
    """Every carried schema by public URL and by ``$id`` (without a trailing ``#``)."""
    docs: dict[str, Any] = {}
    for rel, path in _iter_schema_files():
        contents = json.loads(path.read_text(encoding="utf-8"))
        docs[f"https://{rel}"] = contents
        sid = contents.get("$id")
        if isinstance(sid, str):
            docs.setdefault(sid.rstrip("#"), contents)
    return docs


def offline_handler(uri: str) -> Any:
    """fastjsonschema's $ref resolver: carried schemas and the JSON Schema metaschemas only."""
    key = uri.split("#", 1)[0].rstrip("/")
    docs = schema_documents()
    if key in docs:
        return docs[key]
    from jsonschema_specifications import REGISTRY as METASCHEMAS

    try:
        return METASCHEMAS.contents(key)
    except LookupError:
        raise LookupError(f"schema {uri} is not carried (offline validation fetches nothing)") from None


def core_schema_url(obj: Mapping[str, Any]) -> str | None:
    t = obj.get("type")
    ver = obj.get("stac_version")
    if t not in _CORE_PATHS or not isinstance(ver, str):
        return None
    return f"https://schemas.stacspec.org/v{ver}/{_CORE_PATHS[t]}"
