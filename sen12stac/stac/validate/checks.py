"""Checks of a catalog's files: an asset exists with its declared size and checksum, a COG
passes rio-cogeo's validator, a stac-geoparquet file has one row per item; and the GDAL
options under which COGs are read from the store."""
from __future__ import annotations

import hashlib
import io
from typing import Any, Mapping

from ...store import NotFound, ObjectStore
from ..hrefs import resolve_href


def check_asset(store: ObjectStore, owner: str, name: str, asset: Mapping[str, Any], key: str, check_cogs: bool,
                shards: Any = None) -> tuple[list[str], bytes | None]:
    if shards is not None:  # a COG in a training shard (docs/shards.md): the shard and the member
        from ...shards.check import check_member

        member = check_member(store, owner, name, asset, key, shards, check_cogs)
        if member is not None and "archive" in asset:  # --layout shards: href is the shard itself, checked there
            return member, None
    else:
        member = None
    problems: list[str] = list(member or [])
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
        problems.extend(check_cog(store, owner, name, target))
    return problems, data


def check_cog(store: ObjectStore, owner: str, name: str, target: str) -> list[str]:
    """rio-cogeo's validator on the stored object (inside the caller's rasterio.Env)."""
    from rio_cogeo.cogeo import cog_validate

    try:
        ok, errors, _warnings = cog_validate(store.gdal_path(target), quiet=True)
    except Exception as exc:  # rasterio/GDAL errors: the file is not a readable GeoTIFF
        return [f"{owner}: asset {name!r} ({target}) is not a readable GeoTIFF: {exc}"]
    if not ok:
        return [f"{owner}: asset {name!r} ({target}) is not a valid COG: {'; '.join(errors) or 'invalid'}"]
    return []


def gdal_env_kwargs(store: ObjectStore) -> dict[str, Any]:
    """``rasterio.Env`` kwargs for reading ``store.gdal_path`` objects (the store's own for S3)."""
    kwargs = dict(store.gdal_env())
    kwargs.setdefault("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR")
    kwargs.setdefault("GDAL_PAM_ENABLED", "NO")
    # a validator must see the bytes as they are now, not GDAL's per-process cache of an
    # earlier read of the same URL (each file is read once here anyway)
    kwargs.setdefault("CPL_VSIL_CURL_NON_CACHED", "/vsis3/:/vsigs/:/vsiaz/:/vsicurl/")
    return kwargs


def check_parquet_rows(label: str, name: str, data: bytes, n_items: int) -> list[str]:
    try:
        import pyarrow.parquet as pq

        rows = pq.read_metadata(io.BytesIO(data)).num_rows
    except Exception as exc:  # not a parquet file
        return [f"{label}: asset {name!r} is not a readable parquet file ({type(exc).__name__}: {exc})"]
    if rows != n_items:
        return [f"{label}: asset {name!r} has {rows} rows but {n_items} items are linked under the collection"]
    return []
