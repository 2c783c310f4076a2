"""Recipe v2's array work (docs/v2.md): the views QC runs on, shape checks, a patch's land cover.

v2 publishes what the source delivers -- S1 VV+VH sigma0 in dB (float32, NaN = no-data), S2 L2A
reflectance x 10000 in 12 bands (uint16, 0 = no-data), an ESA WorldCover label (uint8, 0 = no-data)
-- with no cut and no stretch. Scene and patch QC are v1's, run on v1-shaped views of the v2 arrays:

* S1: VV, marked no-data wherever any S1 band (VV or VH) is;
* S2: B04, B03, B02 (the bands v1's cloud, haze, colour-cast and flat-channel tests are defined on),
  marked no-data wherever any of the 12 bands is.

So a v2 patch passes QC only when every published band is valid in every pixel (v1's patch rule:
no no-data at all), and the scene tests see the same colours v1's do (L2A instead of L1C:
docs/v2.md says what that changes).
"""
from __future__ import annotations

import numpy as np
from rasterio.windows import Window

from ..errors import SourceError
from ..models import ROI, LandCover
from .recipes import SCL_CLOUD, SCL_SHADOW, V2, WORLDCOVER_CLASSES

S2_RGB = tuple(V2.s2_bands.index(b) for b in ("B04", "B03", "B02"))
S2_SCALE = 0.0001  # uint16 -> reflectance (raster:scale; offset 0)
LABEL_NAME = "land_cover"
_CODES = np.array(sorted(WORLDCOVER_CLASSES), dtype=np.int64)


def qc_views(s1: np.ndarray, s2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(1, h, w) float32 VV and (3, h, w) uint16 B04/B03/B02, each with the no-data of all its sensor's bands."""
    vv = s1[0].copy()
    vv[np.isnan(s1).any(axis=0)] = np.nan
    rgb = s2[list(S2_RGB)]  # a copy (fancy indexing)
    if not s2.all():  # some band is 0 somewhere
        rgb[:, (s2 == 0).any(axis=0)] = 0
    return vv[None], rgb


def check_v2_scene(scene: object, source: str) -> None:
    """A v2 build needs a source that delivers the label (and may deliver the SCL): say so before any pixel."""
    if not callable(getattr(scene, "read_label", None)):
        raise SourceError(
            f"the {source} source does not deliver recipe v2's land-cover label (read_label)",
            fix="build with --recipe v1, or use a source that supports --recipe v2 (docs/v2.md)",
        )


def check_shapes_v2(s1: np.ndarray, s2: np.ndarray, label: np.ndarray, scl: np.ndarray | None, w: Window, roi: ROI) -> None:
    want = (int(w.height), int(w.width))
    expect = {"S1": (s1, (len(V2.s1_bands), *want), np.float32), "S2": (s2, (len(V2.s2_bands), *want), np.uint16),
              "label": (label, (1, *want), np.uint8)}
    if scl is not None:
        expect["SCL"] = (scl, (1, *want), np.uint8)
    bad = [f"{k} {a.shape} {a.dtype}" for k, (a, shape, dtype) in expect.items() if a.shape != shape or a.dtype != dtype]
    if bad:
        raise SourceError(
            f"source returned {', '.join(bad)} for a {want[1]}x{want[0]} window of {roi.scene_id} under recipe v2",
            fix=f"a v2 source returns S1 float32 {(len(V2.s1_bands), *want)}, S2 uint16 {(len(V2.s2_bands), *want)}, "
                f"label uint8 {(1, *want)} and SCL uint8 {(1, *want)} or None (sen12stac/recipe/recipes.py)",
        )


def land_cover(label: np.ndarray, scl: np.ndarray | None) -> LandCover:
    """Class fractions of a patch's valid label pixels (every WorldCover class, zeros included),
    the majority class (ties: the lower code), and the SCL cloud and shadow fractions."""
    counts = np.bincount(label.ravel(), minlength=256)
    per_class = counts[_CODES]
    valid = int(per_class.sum())  # codes outside WorldCover's list count as no-data, like 0
    fractions = tuple((int(c), round(int(n) / valid, 6) if valid else 0.0) for c, n in zip(_CODES, per_class))
    majority = int(_CODES[int(np.argmax(per_class))]) if valid else None
    cloud = shadow = None
    if scl is not None:
        sc = np.bincount(scl.ravel(), minlength=256)
        n = int(sc[1:].sum())  # SCL 0 = no data
        cloud = round(int(sc[list(SCL_CLOUD)].sum()) / n, 6) if n else 0.0
        shadow = round(int(sc[list(SCL_SHADOW)].sum()) / n, 6) if n else 0.0
    return LandCover(fractions, majority, cloud, shadow)


def worldcover_colormap() -> dict[int, tuple[int, int, int, int]]:
    """The label COG's colour table: WorldCover's own colours, no-data transparent."""
    cmap = {0: (0, 0, 0, 0)}
    for code, (_name, hexcol) in WORLDCOVER_CLASSES.items():
        cmap[code] = (int(hexcol[0:2], 16), int(hexcol[2:4], 16), int(hexcol[4:6], 16), 255)
    return cmap
