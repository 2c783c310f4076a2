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

Recipe v2 (``resolve(config, "v2")``) reads, per preset: S2 ``sentinel-2-l2a`` in all 12 bands
plus the scene classification (Planetary Computer: assets ``B01`` .. ``B12``, ``B8A``, ``SCL``;
Earth Search: ``coastal``, ``blue``, ``green``, ``red``, ``rededge1``-``3``, ``nir``, ``nir08``,
``nir09``, ``swir16``, ``swir22``, ``scl``: public COGs, no AWS account); S1 ``sentinel-1-rtc``
``vv`` and ``vh`` (gamma0 in linear power, made dB by the source: RTC is gamma0, not the sigma0
of a GRD); the label from Planetary Computer's ``esa-worldcover`` (asset ``map``, version 2.0.0,
the 2021 map) for both presets.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...config import StacSensorConfig, StacSourceConfig
from ...errors import ConfigError
from ...models import Sensor
from ...recipe.recipes import V2

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
    scl_asset: str | None = None  # v2 S2: the scene classification asset (read nearest), None: none
    polarizations: tuple[str, ...] = ("VV",)  # S1: what every item must have

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

# recipe v2: all 12 L2A bands in recipes.V2.s2_bands order, VV+VH, and ESA WorldCover
_PC_S1_V2 = _PC_S1.model_copy(update={"assets": ("vv", "vh")})
_PC_S2_V2 = _PC_S2.model_copy(update={"assets": V2.s2_bands})
_ES_S2_V2 = StacSensorConfig(api_url=EARTH_SEARCH, collection="sentinel-2-l2a", filter_lang="query", signer="none",
                             assets=("coastal", "blue", "green", "red", "rededge1", "rededge2", "rededge3", "nir", "nir08",
                                     "nir09", "swir16", "swir22"))
_PC_LABEL = StacSensorConfig(api_url=PLANETARY_COMPUTER, collection="esa-worldcover", assets=("map",), filter_lang="cql2-json",
                             signer="planetary-computer")
PRESETS_V2: dict[str, dict[str, StacSensorConfig]] = {
    "planetary-computer": {"s1": _PC_S1_V2, "s2": _PC_S2_V2, "label": _PC_LABEL},
    "earth-search": {"s1": _PC_S1_V2, "s2": _ES_S2_V2, "label": _PC_LABEL},
}
#: the scene classification asset of each preset's sentinel-2-l2a items
SCL_ASSET = {"planetary-computer": "SCL", "earth-search": "scl"}
#: the ESA WorldCover version v2 publishes (the 2021 map, v200) and its item property
WORLDCOVER_VERSION = ("esa_worldcover:product_version", "2.0.0")

_DEFAULTS = {"filter_lang": "cql2-json", "signer": "none", "units": "linear", "max_cloud_cover": 1.0, "max_items": 50,
             "requester_pays": False, "s3_endpoint_url": None, "s3_region": None}


def resolve(config: StacSourceConfig, recipe: str = "v1") -> dict[str, SensorSettings]:
    """Merge the preset with the per-sensor overrides; refuse what stays unknown. Recipe v2 adds
    the ``label`` collection and reads v2's bands (``PRESETS_V2``)."""
    v2 = recipe == "v2"
    presets: dict = PRESETS_V2 if v2 else PRESETS
    base = presets.get(config.preset) if config.preset else None
    out: dict[str, SensorSettings] = {}
    for sensor in ("s1", "s2", "label") if v2 else ("s1", "s2"):
        merged: dict = dict(_DEFAULTS)
        if base is not None:
            merged.update({k: v for k, v in base[sensor].model_dump().items() if v is not None})  # type: ignore[index]
        user = getattr(config, sensor, None)
        if user is not None:
            merged.update({k: v for k, v in user.model_dump().items() if v is not None})
        for key in ("api_url", "collection", "assets"):
            if not merged.get(key):
                raise ConfigError(
                    f"the stac source has no {sensor.upper()} {key.replace('_', ' ')}",
                    fix=f"pick a preset (--stac-preset earth-search | planetary-computer) or give {sensor}.{key} in the stac settings",
                )
        want = {"s1": S1_BANDS, "s2": S2_BANDS, "label": ("map",)}[sensor]
        if v2 and sensor != "label":
            want = V2.s1_bands if sensor == "s1" else V2.s2_bands
        if v2 and sensor == "s2" and "l1c" in str(merged["collection"]).lower():
            raise ConfigError(f"the stac source's S2 collection {merged['collection']!r} is Level-1C; a v2 build publishes Level-2A surface reflectance",
                              fix="use an L2A collection (sentinel-2-l2a), or build with --recipe v1")
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
        if v2 and sensor == "s2":
            merged["scl_asset"] = SCL_ASSET.get(config.preset or "") if "l2a" in str(merged["collection"]).lower() else None
        if v2 and sensor == "s1":
            merged["polarizations"] = V2.s1_bands
        out[sensor] = SensorSettings(sensor=sensor, **merged)  # type: ignore[arg-type]
    return out
