"""The recipes a build can follow: v1 (the 2018 paper's) and v2 (the paper's planned successor).

A recipe names what a source must deliver for each scene and how it is published. v1 is the
default and stays byte-identical: S1 VV and S2 L1C B4/B3/B2, cut, stretched and stored as 8-bit.
v2 (SEN1-2 paper, sections 5-6): S1 VV+VH in dB at full precision, S2 Level-2A surface
reflectance in all 12 bands on the 10 m grid, stored as uint16 reflectance x 10000 with no cut
and no stretch, and a 10 m ESA WorldCover land-cover label per pair.

This module is the contract between sources and the recipe:

* ``SceneRequest.recipe`` names the recipe; a source reads it to choose what to fetch.
* ``read_s1(window)`` returns float32 ``(len(spec.s1_bands), h, w)`` sigma0 in dB, NaN for no-data,
  bands in ``spec.s1_bands`` order.
* ``read_s2(window)`` returns uint16 ``(len(spec.s2_bands), h, w)`` reflectance x 10000 in
  ``spec.s2_bands`` order, 0 for no-data. For L2A the processing-baseline offset (BOA_ADD_OFFSET,
  -1000 from baseline 04.00) is already removed, as in Earth Engine's harmonized collection; a
  valid pixel whose reflectance is <= 0 is stored as 1 so it is never read as no-data.
  Bands coarser than 10 m are resampled onto the 10 m grid by the source (see docs/v2.md).
* v2 sources also implement ``read_label(window)`` -> uint8 ``(1, h, w)`` ESA WorldCover class
  codes (``WORLDCOVER_CLASSES``), 0 for no-data, and ``read_scl(window)`` -> uint8 ``(1, h, w)``
  Sentinel-2 L2A scene classification codes, or ``None`` when the source has no SCL.
  A source that cannot deliver what the recipe asks raises ``SourceError`` (the whole source is
  unusable, with a fix) or ``SceneUnavailable`` (this scene only) before any pixel is read.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RecipeName = Literal["v1", "v2"]


@dataclass(frozen=True)
class RecipeSpec:
    name: str
    s1_bands: tuple[str, ...]
    s2_bands: tuple[str, ...]
    s2_level: Literal["L1C", "L2A"]
    label: bool  # a land-cover label raster per pair


V1 = RecipeSpec("v1", ("VV",), ("B04", "B03", "B02"), "L1C", False)
V2 = RecipeSpec(
    "v2",
    ("VV", "VH"),
    ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12"),
    "L2A",
    True,
)
RECIPES: dict[str, RecipeSpec] = {"v1": V1, "v2": V2}

# ESA WorldCover v200 classes: code -> (name, colour), from the product user manual
WORLDCOVER_CLASSES: dict[int, tuple[str, str]] = {
    10: ("tree_cover", "006400"),
    20: ("shrubland", "ffbb22"),
    30: ("grassland", "ffff4c"),
    40: ("cropland", "f096ff"),
    50: ("built_up", "fa0000"),
    60: ("bare_sparse_vegetation", "b4b4b4"),
    70: ("snow_and_ice", "f0f0f0"),
    80: ("permanent_water_bodies", "0064c8"),
    90: ("herbaceous_wetland", "0096a0"),
    95: ("mangroves", "00cf75"),
    100: ("moss_and_lichen", "fae6a0"),
}

# Sentinel-2 L2A scene classification (SCL) codes counted per patch in v2
SCL_CLOUD = (8, 9, 10)  # cloud medium probability, cloud high probability, thin cirrus
SCL_SHADOW = (3,)  # cloud shadows


def recipe(name: str) -> RecipeSpec:
    try:
        return RECIPES[name]
    except KeyError:
        from ..errors import ConfigError

        raise ConfigError(f"unknown recipe {name!r}", fix="use --recipe v1 (the paper's) or --recipe v2") from None
