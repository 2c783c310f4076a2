"""Where each STAC object of a catalog lives (store keys relative to the output root) and its media type.

    catalog.json                                   root catalog "sen1-2"
    LICENSE-CC-BY-4.0.txt                          license text (linked, rel "license")
    ROIs1158_spring/collection.json                one collection per season
    ROIs1158_spring/items.parquet                  stac-geoparquet of the collection's items
    ROIs1158_spring/7/catalog.json                 one sub-catalog per scene (id = scene id)
    ROIs1158_spring/7/ROIs1158_spring_7_p42.json   one item per patch pair (id = pair id)
    ROIs1158_spring/s1_7/..., s2_7/..., thumbs_7/... assets (written by the pipeline)
"""
from __future__ import annotations

JSON_MEDIA_TYPE = "application/json"
GEOJSON_MEDIA_TYPE = "application/geo+json"
PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"

ROOT_KEY = "catalog.json"


def collection_key(set_name: str) -> str:
    return f"{set_name}/collection.json"


def geoparquet_key(set_name: str) -> str:
    return f"{set_name}/items.parquet"


def scene_catalog_key(set_name: str, scene_index: int) -> str:
    return f"{set_name}/{scene_index}/catalog.json"


def item_key(set_name: str, scene_index: int, pair_id: str) -> str:
    return f"{set_name}/{scene_index}/{pair_id}.json"
