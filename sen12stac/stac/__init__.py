"""The STAC catalog of a build: builders return plain dicts from records, the writer writes them.

Like stactools' ``create_item``: builders return objects, :mod:`.writer` writes them through
an :class:`~sen12stac.store.ObjectStore`. Every link and asset href is relative; no ``self``
links, so a release can be copied anywhere. See docs/stac.md for the field reference and
the ``sen12:`` namespace.

One module per concept (import from them; their public names are also re-exported here
lazily, for convenience only, so importing this package loads nothing else; ``footprint``
is the module, ``footprint.footprint`` the function)::

    extensions  STAC_VERSION, EXT (extension schema URLs), SAR_FIELDS
    layout      where each object lives (ROOT_KEY, collection_key, item_key, ...) and media types
    hrefs       relative_href, resolve_href: the one relativizer and the one resolver
    texts       CatalogTexts, load_catalog_texts: the dataset's words, from catalog/
    encoding    to_json_bytes, parse_datetime, json_number
    footprint   footprint, grid_bounds, proj_fields
    assets      asset dicts and their STAC 1.1 bands from records and band statistics
    item        SceneContext, scene_context, build_item, rebase_item
    summary     CollectionSummary
    catalog     build_root, build_scene_catalog
    collection  build_collection
    writer      CatalogWriter: writes a whole catalog, one scene at a time
    validate    validate_catalog, validate_stac_object: offline, against the carried schemas
"""
from __future__ import annotations

from ..runtime.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "STAC_VERSION": "extensions",
    "EXT": "extensions",
    "SAR_FIELDS": "extensions",
    "ROOT_KEY": "layout",
    "JSON_MEDIA_TYPE": "layout",
    "GEOJSON_MEDIA_TYPE": "layout",
    "PARQUET_MEDIA_TYPE": "layout",
    "collection_key": "layout",
    "geoparquet_key": "layout",
    "scene_catalog_key": "layout",
    "item_key": "layout",
    "relative_href": "hrefs",
    "resolve_href": "hrefs",
    "CatalogTexts": "texts",
    "load_catalog_texts": "texts",
    "to_json_bytes": "encoding",
    "parse_datetime": "encoding",
    "grid_bounds": "footprint",
    "asset_from_record": "assets",
    "item_asset_template": "assets",
    "band_stats_dict": "assets",
    "SceneContext": "item",
    "scene_context": "item",
    "build_item": "item",
    "rebase_item": "item",
    "split_software": "item",
    "CollectionSummary": "summary",
    "build_root": "catalog",
    "build_scene_catalog": "catalog",
    "build_collection": "collection",
    "CatalogWriter": "writer",
    "validate_catalog": "validate",
    "validate_stac_object": "validate",
    "raise_for_problems": "validate",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
