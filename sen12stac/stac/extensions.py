"""The STAC vocabulary the catalog speaks: version, extension schemas, fixed SAR fields."""
from __future__ import annotations

from typing import Any

STAC_VERSION = "1.1.0"

#: Extension schema URIs, all carried in ``sen12stac/schemas``. eo and raster are v2.0: STAC 1.1 ``bands`` (one array
#: per asset, ``eo:``/``raster:`` fields inside it) replace ``eo:bands``/``raster:bands``; the others are pystac 1.15's defaults.
EXT: dict[str, str] = {
    "classification": "https://stac-extensions.github.io/classification/v1.1.0/schema.json",  # recipe v2's label
    "eo": "https://stac-extensions.github.io/eo/v2.0.0/schema.json",
    "file": "https://stac-extensions.github.io/file/v2.1.0/schema.json",
    "ml-aoi": "https://stac-extensions.github.io/ml-aoi/v0.2.0/schema.json",
    "processing": "https://stac-extensions.github.io/processing/v1.2.0/schema.json",
    "proj": "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
    "raster": "https://stac-extensions.github.io/raster/v2.0.0/schema.json",
    "sar": "https://stac-extensions.github.io/sar/v1.0.0/schema.json",
    "sat": "https://stac-extensions.github.io/sat/v1.0.0/schema.json",
    "sci": "https://stac-extensions.github.io/scientific/v1.0.0/schema.json",
}

#: SAR fields of every item (Sentinel-1 IW GRD, VV, C band at 5.405 GHz).
SAR_FIELDS: dict[str, Any] = {
    "sar:instrument_mode": "IW",
    "sar:frequency_band": "C",
    "sar:center_frequency": 5.405,
    "sar:polarizations": ["VV"],
    "sar:product_type": "GRD",
}

#: Recipe v2 publishes VH beside VV.
SAR_POLARIZATIONS: dict[str, list[str]] = {"v1": ["VV"], "v2": ["VV", "VH"]}
