"""Media types of the objects a release holds, by file name (the Content-Type a store sends)."""
from __future__ import annotations

import mimetypes

COG_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"


def guess_content_type(key: str) -> str:
    low = key.lower()
    if low.endswith((".tif", ".tiff")):
        return COG_MEDIA_TYPE
    if low.endswith(".json"):
        return "application/json"
    if low.endswith(".parquet"):
        return "application/vnd.apache.parquet"
    if low.endswith(".md"):
        return "text/markdown; charset=utf-8"
    if low.endswith(".ndjson"):
        return "application/x-ndjson"
    return mimetypes.guess_type(key)[0] or "application/octet-stream"
