"""Object stores: ``file://`` (or a plain path) and ``s3://bucket/prefix``."""
from __future__ import annotations

from typing import Any

from .base import NotFound, ObjectInfo, ObjectStore, multihash_sha256, sha256_hex
from .local import LocalStore

__all__ = ["NotFound", "ObjectInfo", "ObjectStore", "LocalStore", "open_store", "multihash_sha256", "sha256_hex"]


def open_store(url: str, **s3_options: Any) -> ObjectStore:
    """Open a store by URL. ``s3_options`` go to the S3 store (endpoint, region, profile, ...)."""
    if url.startswith("s3://"):
        from .s3 import S3Store  # boto3 only when needed

        return S3Store.from_url(url, **s3_options)
    return LocalStore(url)
