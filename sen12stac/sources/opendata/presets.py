"""Per-sensor settings of the ``stac`` source and the providers' documented defaults.

Two presets:

``planetary-computer``
    Microsoft Planetary Computer (``https://planetarycomputer.microsoft.com/api/stac/v1``):
    S1 ``sentinel-1-rtc`` (asset ``vv``: gamma0, radiometrically terrain corrected, linear
    power, float32 COG, nodata -32768) and S2 ``sentinel-2-l2a`` (assets ``B04``, ``B03``,
    ``B02``: per-band COGs). Assets live in Azure Blob Storage and need a SAS token
    (``signer="planetary-computer"``, the ``planetary-computer`` package); PC marks
    ``sentinel-1-rtc`` ``msft:requires_account``, so its tokens need a (free) subscription key
    in ``PC_SDK_SUBSCRIPTION_KEY``. Filters as CQL2 JSON.

``earth-search``
    Element 84 Earth Search v1 (``https://earth-search.aws.element84.com/v1``) for S2
    ``sentinel-2-l1c``, the paper's Level-1C: assets ``red``, ``green``, ``blue`` (B04, B03,
    B02), the original JPEG 2000 files in the requester-pays bucket ``s3://sentinel-s2-l1c``
    (AWS credentials needed; the requester pays the transfer). Filters through the query
    extension. Earth Search has no analysis-ready Sentinel-1 (its ``sentinel-1-grd`` is the
    requester-pays GRD in radar geometry), so S1 comes from Planetary Computer's
    ``sentinel-1-rtc`` as in the other preset.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...config import StacSensorConfig, StacSourceConfig
from ...errors import ConfigError
from ...models import Sensor

PLANETARY_COMPUTER = "https://planetarycomputer.microsoft.com/api/stac/v1"
EARTH_SEARCH = "https://earth-search.aws.element84.com/v1"

#: the recipe's bands, in the order the assets are listed
S1_BANDS = ("VV",)
S2_BANDS = ("B04", "B03", "B02")


@dataclass(frozen=True)
class SensorSettings:
    """Resolved settings of one sensor (every field known)."""

    sensor: Sensor
    api_url: str
    collection: str
    assets: tuple[str, ...]
    filter_lang: Literal["cql2-json", "query"]
    signer: Literal["none", "planetary-computer"]
    units: Literal["linear", "db"]
    max_cloud_cover: float
    max_items: int
    requester_pays: bool
    s3_endpoint_url: str | None
    s3_region: str | None

    @property
    def where(self) -> str:
        return f"collection {self.collection} at {self.api_url}"


_PC_S1 = StacSensorConfig(api_url=PLANETARY_COMPUTER, collection="sentinel-1-rtc", assets=("vv",), filter_lang="cql2-json",
                          signer="planetary-computer", units="linear")
_PC_S2 = StacSensorConfig(api_url=PLANETARY_COMPUTER, collection="sentinel-2-l2a", assets=("B04", "B03", "B02"),
                          filter_lang="cql2-json", signer="planetary-computer")
_ES_S2 = StacSensorConfig(api_url=EARTH_SEARCH, collection="sentinel-2-l1c", assets=("red", "green", "blue"),
                          filter_lang="query", signer="none", requester_pays=True, s3_region="eu-central-1")

PRESETS: dict[str, dict[Sensor, StacSensorConfig]] = {
    "planetary-computer": {"s1": _PC_S1, "s2": _PC_S2},
    "earth-search": {"s1": _PC_S1, "s2": _ES_S2},
}

_DEFAULTS = {"filter_lang": "cql2-json", "signer": "none", "units": "linear", "max_cloud_cover": 1.0, "max_items": 50,
             "requester_pays": False, "s3_endpoint_url": None, "s3_region": None}


def resolve(config: StacSourceConfig) -> dict[Sensor, SensorSettings]:
    """Merge the preset with the per-sensor overrides; refuse what stays unknown."""
    base = PRESETS.get(config.preset) if config.preset else None
    out: dict[Sensor, SensorSettings] = {}
    for sensor in ("s1", "s2"):
        merged: dict = dict(_DEFAULTS)
        if base is not None:
            merged.update({k: v for k, v in base[sensor].model_dump().items() if v is not None})  # type: ignore[index]
        merged.update({k: v for k, v in getattr(config, sensor).model_dump().items() if v is not None})
        for key in ("api_url", "collection", "assets"):
            if not merged.get(key):
                raise ConfigError(
                    f"the stac source has no {sensor.upper()} {key.replace('_', ' ')}",
                    fix=f"pick a preset (--stac-preset earth-search | planetary-computer) or give {sensor}.{key} in the stac settings",
                )
        want = S1_BANDS if sensor == "s1" else S2_BANDS
        if len(merged["assets"]) != len(want):
            raise ConfigError(
                f"the stac source's {sensor.upper()} assets {list(merged['assets'])} are not {len(want)} keys",
                fix=f"list one asset key per band, in the order {', '.join(want)}",
            )
        url = str(merged["api_url"]).rstrip("/")
        if not url.startswith(("http://", "https://")) or "@" in url:
            raise ConfigError(f"STAC API URL {merged['api_url']!r} is not an http(s) URL without user information",
                              fix="give the API's landing page, e.g. https://planetarycomputer.microsoft.com/api/stac/v1")
        merged["api_url"] = url
        out[sensor] = SensorSettings(sensor=sensor, **merged)  # type: ignore[arg-type]
    return out
