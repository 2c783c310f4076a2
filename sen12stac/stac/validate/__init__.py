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

One job per module:

- :mod:`.schemas` -- the carried schemas: registry, documents, URLs
- :mod:`.engines` -- the two validators over them (jsonschema for messages, fastjsonschema for speed)
- :mod:`.objects` -- one STAC object against its schemas, as readable problems
- :mod:`.checks` -- assets: presence, size, checksum, COG, geoparquet rows
- :mod:`.walk` -- the threaded walk over a store, and the entry points
"""
from __future__ import annotations

from .objects import validate_stac_object
from .schemas import carried_schema_urls, core_schema_url, schema_registry
from .walk import raise_for_problems, validate_catalog

__all__ = [
    "validate_catalog",
    "validate_stac_object",
    "raise_for_problems",
    "schema_registry",
    "carried_schema_urls",
    "core_schema_url",
]
