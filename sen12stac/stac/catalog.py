"""Catalogs: the root ``sen1-2`` and one sub-catalog per scene."""
from __future__ import annotations

from typing import Any, Mapping

from .encoding import json_number
from .extensions import STAC_VERSION
from .hrefs import relative_href
from .layout import GEOJSON_MEDIA_TYPE, JSON_MEDIA_TYPE, ROOT_KEY, collection_key, item_key, scene_catalog_key
from .texts import CatalogTexts, fill_template


def build_scene_catalog(
    set_name: str,
    scene_index: int,
    scene_id: str,
    item_ids: list[str],
    *,
    texts: CatalogTexts,
    roi: Any,
    split: str,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The sub-catalog of one scene, with an ``item`` link per item (in the given order)."""
    key = scene_catalog_key(set_name, scene_index)
    c = texts.collections
    values = dict(
        set_name=set_name,
        scene_index=scene_index,
        scene_id=scene_id,
        lon=roi.lon,
        lat=roi.lat,
        kind=roi.kind,
        n_items=len(item_ids),
        split=split,
    )
    links = [
        {"rel": "root", "href": relative_href(key, ROOT_KEY), "type": JSON_MEDIA_TYPE},
        {"rel": "parent", "href": relative_href(key, collection_key(set_name)), "type": JSON_MEDIA_TYPE},
    ]
    for iid in item_ids:
        links.append({"rel": "item", "href": relative_href(key, item_key(set_name, scene_index, iid)), "type": GEOJSON_MEDIA_TYPE})
    out: dict[str, Any] = {
        "type": "Catalog",
        "stac_version": STAC_VERSION,
        "stac_extensions": [],
        "id": scene_id,
        "title": fill_template(c["scene_title_template"], **values),
        "description": fill_template(c["scene_description_template"], **values),
        "sen12:scene_index": int(scene_index),
        "sen12:split": split,
        "sen12:roi_lon": json_number(roi.lon),
        "sen12:roi_lat": json_number(roi.lat),
        "sen12:roi_kind": roi.kind,
    }
    if extra:
        out.update(extra)
    out["links"] = links
    return out


def build_root(collection_ids: list[str], *, texts: CatalogTexts, recipe: str = "v1") -> dict[str, Any]:
    """The root catalog (``sen1-2``; recipe v2's ``sen1-2-v2``) with a ``child`` link per collection."""
    r = texts.root
    lic = texts.license
    links: list[dict[str, Any]] = [
        {"rel": "root", "href": "./catalog.json", "type": JSON_MEDIA_TYPE, "title": r["title"]},
        {"rel": "license", "href": lic["href"], "type": "text/html", "title": lic["title"]},
        {"rel": "license", "href": relative_href(ROOT_KEY, lic["text_file"]), "type": "text/plain", "title": f"{lic['title']}: legal code"},
        {"rel": "cite-as", "href": f"https://doi.org/{texts.citation['doi']}", "title": texts.citation["citation"]},
    ]
    for cid in sorted(collection_ids):
        links.append({"rel": "child", "href": relative_href(ROOT_KEY, collection_key(cid)), "type": JSON_MEDIA_TYPE, "title": cid})
    out: dict[str, Any] = {
        "type": "Catalog",
        "stac_version": STAC_VERSION,
        "stac_extensions": [],
        "id": r["id"],
        "title": r["title"],
        "description": r["description"],
    }
    if recipe != "v1":  # v1's root is unchanged
        out["sen12:recipe"] = recipe
    out["links"] = links
    return out
