"""The one S3 layer, under the store and the stream.

* :mod:`.url`      -- ``s3://`` URLs: :func:`parse_s3_url`, :class:`S3Url` (the project's one parser);
* :mod:`.secret`   -- :class:`Secret`: credentials that never show, never pickle;
* :mod:`.settings` -- :class:`S3Settings`: endpoint, region, credentials and retries resolved
  once per process as every AWS tool does, and the one boto3 client builder;
* :mod:`.errors`   -- botocore failures -> one StoreError naming the bucket/key and the fix;
* :mod:`.store`    -- :class:`S3Store`, the object store.
"""
from __future__ import annotations

from .secret import Secret
from .settings import ResolvedS3, S3Settings
from .store import S3Store
from .url import S3Url, parse_s3_url

__all__ = ["S3Store", "S3Settings", "ResolvedS3", "S3Url", "Secret", "parse_s3_url"]
