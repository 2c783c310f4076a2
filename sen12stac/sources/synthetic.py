"""The synthetic source: the offline default. Deterministic per (seed, ROI).

Every pixel is a function of its position in the scene and of the scene's seed, so any
window can be read on its own (the pipeline streams strips; memory stays bounded):

* land cover from value noise evaluated on scene coordinates -- relief, water bodies and a
  river, forest, urban blocks (more of them for urban ROIs), agricultural parcels;
* S2 as L1C-like TOA reflectance x 10000 (uint16, B4/B3/B2) per land-cover class, with
  texture, relief shading and a mosaic seam (two acquisitions, last on top);
* S1 as sigma0 in dB over a backscatter map of the same land cover (water dark, urban
  bright, slopes facing the sensor brighter) with multiplicative gamma speckle of ENL 4.4;
* random noise drawn per fixed 512 px block from a generator keyed by (scene, block), so
  a pixel's value does not depend on the window that reads it; the normal and gamma variates
  are 16-bit uniform draws looked up in tables of 65,536 quantiles (a few ns a pixel);
* defects at a configurable rate so QC has real work: a large no-data area, cloud blobs,
  or a colour cast; and in otherwise clean scenes a small no-data corner or a few small
  clouds that patch QC must catch.

Under recipe v2 (``SceneRequest.recipe == "v2"``, sen12stac/recipe/recipes.py) the same land
cover renders S2 as L2A-like surface reflectance x 10000 in all 12 bands (a typical spectrum
per class, :data:`V2_SPECTRA`), S1 as VV and VH, the L2A scene classification (SCL: vegetation,
not vegetated, water, cloud, cloud shadow, no-data) and an ESA WorldCover label map of the same
classes (:data:`WORLDCOVER_OF_CLASS`). The v1 arrays are unchanged: v1's random draws come
first from the block's generator, v2's extra ones from a generator of their own.
"""
from __future__ import annotations

import functools
import hashlib
import math
import statistics
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone

import numpy as np
from rasterio.windows import Window

from ..errors import SceneUnavailable, SourceError
from ..models import ROI, Acquisition, Grid, SceneRequest

BLOCK = 512
ENL = 4.4  # equivalent number of looks of S1 GRD IW

# Land-cover classes: S2 TOA reflectance x 10000 (B4, B3, B2) and S1 VV sigma0 (dB).
CLASSES = {
    #            B4    B3    B2     VV dB
    "water": ((450, 650, 950), -21.0),
    "urban": ((1500, 1400, 1450), 1.0),
    "forest": ((550, 750, 1000), -7.5),
    "crop_green": ((650, 950, 1050), -10.0),
    "crop_harvested": ((1500, 1300, 1250), -14.0),
    "crop_lush": ((480, 880, 980), -9.0),
    "bare": ((2300, 1900, 1600), -16.0),
    "grass": ((900, 1050, 1150), -12.0),
}
_CLASS_NAMES = list(CLASSES)
_S2_TABLE = np.array([v[0] for v in CLASSES.values()], dtype=np.float32)  # (k, 3)
_S1_TABLE = np.array([v[1] for v in CLASSES.values()], dtype=np.float32)  # (k,)
CLOUD_TOA = np.array([6200.0, 6100.0, 6300.0], dtype=np.float32)

DEFECTS = ("nodata", "clouds", "colour")

# Recipe v2: S2 L2A surface reflectance x 10000 per class in recipes.V2.s2_bands order
# (B01 B02 B03 B04 B05 B06 B07 B08 B8A B09 B11 B12): typical spectra -- water dark beyond
# green, vegetation with the red edge (B05-B07) and a high NIR plateau, soils rising into the
# SWIR; lower in the blue than v1's top-of-atmosphere values (no path radiance).
V2_SPECTRA = {
    #                  B01   B02   B03   B04   B05   B06   B07   B08   B8A   B09   B11   B12
    "water":          (400, 450, 550, 350, 280, 200, 180, 150, 130, 100, 60, 40),
    "urban":          (1100, 1150, 1250, 1350, 1450, 1550, 1650, 1700, 1750, 1500, 2100, 1900),
    "forest":         (200, 250, 450, 250, 650, 2000, 2600, 2800, 2900, 2900, 1400, 600),
    "crop_green":     (300, 350, 650, 450, 1000, 2600, 3300, 3500, 3600, 3600, 2000, 1000),
    "crop_harvested": (900, 1000, 1250, 1500, 1650, 1800, 1950, 2050, 2150, 2100, 2900, 2500),
    "crop_lush":      (250, 300, 700, 350, 1050, 3200, 4200, 4500, 4600, 4600, 2200, 1000),
    "bare":           (1500, 1700, 2200, 2800, 3000, 3150, 3250, 3300, 3400, 3300, 4000, 3600),
    "grass":          (350, 450, 800, 650, 1200, 2300, 2800, 3000, 3100, 3100, 2300, 1300),
}
V2_VH_DB = {"water": -28.0, "urban": -6.0, "forest": -13.5, "crop_green": -17.0, "crop_harvested": -22.0,
            "crop_lush": -15.0, "bare": -25.0, "grass": -19.0}
V2_CLOUD = np.array([6000, 5900, 5900, 5900, 5950, 6000, 6000, 6050, 6000, 4500, 4000, 3000], dtype=np.float32)
V2_RGB = (3, 2, 1)  # B04, B03, B02 in the v2 band order (the colour-cast defect's bands)
# ESA WorldCover code per class (arid grass is shrubland, see _worldcover)
WORLDCOVER_OF_CLASS = {"water": 80, "urban": 50, "forest": 10, "crop_green": 40, "crop_harvested": 40,
                       "crop_lush": 40, "bare": 60, "grass": 30}
# L2A scene classification per class: 4 vegetation, 5 not vegetated, 6 water
SCL_OF_CLASS = {"water": 6, "urban": 5, "forest": 4, "crop_green": 4, "crop_harvested": 5, "crop_lush": 4, "bare": 5, "grass": 4}
SHADOW_SHIFT = 60.0  # px: a cloud's shadow falls this far from it (east and south)
_V2_S2_TABLE = np.array([V2_SPECTRA[k] for k in CLASSES], dtype=np.float32)  # (k, 12)
_V2_VH_TABLE = np.array([V2_VH_DB[k] for k in CLASSES], dtype=np.float32)
_WC_TABLE = np.array([WORLDCOVER_OF_CLASS[k] for k in CLASSES], dtype=np.uint8)
_SCL_TABLE = np.array([SCL_OF_CLASS[k] for k in CLASSES], dtype=np.uint8)


def _seed_of(*parts: object) -> int:
    h = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:8], "little")


_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xC2B2AE3D27D4EB4F)
_M3 = np.uint64(0xFF51AFD7ED558CCD)
_M4 = np.uint64(0xC4CEB9FE1A85EC53)


def _hash01(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """A uniform [0, 1) value per integer lattice point, reproducible everywhere."""
    with np.errstate(over="ignore"):
        ix_u, iy_u = np.broadcast_arrays(ix.astype(np.int64).view(np.uint64), iy.astype(np.int64).view(np.uint64))
        h = ix_u * _M1
        h ^= iy_u * _M2
        h ^= np.uint64(seed & 0xFFFFFFFFFFFFFFFF)
        h ^= h >> np.uint64(33)
        h *= _M3
        h ^= h >> np.uint64(33)
        h *= _M4
        h ^= h >> np.uint64(33)
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def value_noise(xs: np.ndarray, ys: np.ndarray, cell: float, seed: int) -> np.ndarray:
    """Smooth value noise in [0, 1] on the outer product of pixel columns ``xs`` and rows ``ys``."""
    out = np.empty((ys.size, xs.size), dtype=np.float32)
    _add_noise(out, xs, ys, cell, seed, 1.0, first=True)
    return out


def fbm(xs: np.ndarray, ys: np.ndarray, cell: float, seed: int, octaves: int) -> np.ndarray:
    """Fractal sum of ``octaves`` octaves of value noise (halving cell and amplitude), in [0, 1]."""
    norm = sum(0.5**k for k in range(octaves))
    total = np.empty((ys.size, xs.size), dtype=np.float32)
    for k in range(octaves):
        _add_noise(total, xs, ys, cell / (2**k), seed + 7919 * k, 0.5**k / norm, first=k == 0)
    return total


def _add_noise(total: np.ndarray, xs: np.ndarray, ys: np.ndarray, cell: float, seed: int, amp: float, *, first: bool) -> None:
    """``total += amp * value_noise(...)`` (``total = ...`` when ``first``), separably: the small
    lattice is interpolated along x first; then every run of rows between the same two lattice
    rows is ``lower + t * (upper - lower)`` of two x-interpolated lattice rows, written straight
    into ``total`` (three passes over a run instead of gathering whole rows)."""
    fx, fy = xs / cell, ys / cell
    ix0, iy0 = np.floor(fx).astype(np.int64), np.floor(fy).astype(np.int64)
    tx, ty = fx - ix0, fy - iy0
    tx, ty = tx * tx * (3 - 2 * tx), ty * ty * (3 - 2 * ty)
    gx = np.arange(ix0.min(), ix0.max() + 2)
    gy = np.arange(iy0.min(), iy0.max() + 2)
    table = _hash01(gx[None, :], gy[:, None], seed)
    cx, cy = ix0 - gx[0], iy0 - gy[0]
    along_x = table[:, cx] * (1.0 - tx)[None, :] + table[:, cx + 1] * tx[None, :]  # (lattice rows, w), float64
    lower = (along_x[:-1] * amp).astype(np.float32)
    delta = ((along_x[1:] - along_x[:-1]) * amp).astype(np.float32)
    ty32 = ty.astype(np.float32)[:, None]
    cut = np.flatnonzero(cy[1:] != cy[:-1]) + 1
    bounds = np.concatenate(([0], cut, [cy.size])).tolist()
    tmp = None if first else np.empty_like(total[: max(b - a for a, b in zip(bounds, bounds[1:]))])
    for r0, r1 in zip(bounds, bounds[1:]):
        j = int(cy[r0])
        if first:
            run = total[r0:r1]
            np.multiply(ty32[r0:r1], delta[j], out=run)
            run += lower[j]
        else:
            t = tmp[: r1 - r0]
            np.multiply(ty32[r0:r1], delta[j], out=t)
            t += lower[j]
            total[r0:r1] += t


@dataclass(frozen=True)
class SceneParams:
    """Everything random about a scene, drawn once from its seed."""

    seed: int
    water_level: float
    urban_threshold: float
    forest_threshold: float
    arid: bool
    defect: str | None  # one of DEFECTS or None
    nodata_line: tuple[float, float, float] | None  # (cos, sin, offset px): pixels beyond are no-data
    nodata_sensor: str  # "s1" | "s2"
    cloud_threshold: float | None
    colour_gain: tuple[float, float, float]
    seam_line: tuple[float, float, float] | None  # S2 mosaic seam (cos, sin, offset)
    seam_gain: float


def draw_params(roi: ROI, grid: Grid, defect_rate: float) -> SceneParams:
    rng = np.random.default_rng(_seed_of("params", roi.set_name, roi.index))
    seed = _seed_of("pixels", roi.set_name, roi.index)
    size = max(grid.width, grid.height)
    defect = DEFECTS[int(rng.integers(len(DEFECTS)))] if rng.random() < defect_rate else None
    angle = rng.uniform(0, 2 * math.pi)
    c, s = math.cos(angle), math.sin(angle)
    centre = c * grid.width / 2 + s * grid.height / 2
    # the half-plane offset that leaves a fraction f of the scene as no-data (approximately)
    nodata_line = None
    if defect == "nodata":
        nodata_line = (c, s, centre + size * rng.uniform(0.0, 0.2))  # ~30-50 % no-data
    elif rng.random() < 0.4:
        nodata_line = (c, s, centre + size * 0.62)  # a small corner: patch QC's work
    cloud_threshold = None
    if defect == "clouds":
        cloud_threshold = float(rng.uniform(0.52, 0.58))
    elif rng.random() < 0.5:
        cloud_threshold = 0.76  # a few small clouds
    gain = [1.0, 1.0, 1.0]
    if defect == "colour":
        band = int(rng.integers(3))
        gain[band] = float(rng.choice([0.3, 3.0]))
    seam_line = None
    if rng.random() < 0.5:
        a2 = rng.uniform(0, 2 * math.pi)
        c2, s2 = math.cos(a2), math.sin(a2)
        seam_line = (c2, s2, c2 * grid.width / 2 + s2 * grid.height / 2 + size * rng.uniform(-0.3, 0.3))
    return SceneParams(
        seed=seed,
        water_level=float(rng.uniform(0.22, 0.34)),
        urban_threshold=0.56 if roi.kind == "urban" else 0.70,
        forest_threshold=float(rng.uniform(0.52, 0.62)),
        arid=bool(15 <= abs(roi.lat) <= 35 and rng.random() < 0.5),
        defect=defect,
        nodata_line=nodata_line,
        nodata_sensor="s1" if rng.random() < 0.5 else "s2",
        cloud_threshold=cloud_threshold,
        colour_gain=(gain[0], gain[1], gain[2]),
        seam_line=seam_line,
        seam_gain=float(rng.uniform(1.03, 1.08)),
    )


@functools.cache
def _quantiles() -> tuple[np.ndarray, np.ndarray]:
    """Tables of 65,536 quantiles (float32) of N(0, 1) and of the speckle in dB, 10 log10 g for
    g ~ Gamma(ENL, 1/ENL).

    A uniform 16-bit draw indexes them: a draw per pixel costs a few ns instead of the tens a
    gamma variate costs (the speckle alone was the renderer's largest step). Normal quantiles are
    exact (inverse CDF at the bin centres); gamma quantiles are the means of 16 consecutive order
    statistics of 2**20 variates from a fixed seed (no inverse gamma CDF without scipy).
    """
    dist = statistics.NormalDist()
    normal_q = np.array([dist.inv_cdf((i + 0.5) / 65536) for i in range(65536)], dtype=np.float32)
    sample = np.random.default_rng(_seed_of("speckle", ENL)).standard_gamma(ENL, 1 << 20)
    sample.sort()
    gamma_q = sample.reshape(65536, 16).mean(axis=1) / ENL
    return normal_q, (10.0 * np.log10(gamma_q)).astype(np.float32)


def _halfplane(line: tuple[float, float, float], xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    c, s, off = line
    return (c * xs[None, :] + s * ys[:, None]) > off


class SyntheticScene:
    """A :class:`~sen12stac.models.SceneRaster` computed on demand, block by block."""

    def __init__(self, roi: ROI, grid: Grid, s1: Acquisition, s2: Acquisition, params: SceneParams, recipe: str = "v1") -> None:
        self.roi, self.grid, self.s1, self.s2, self.params = roi, grid, s1, s2, params
        self.recipe = recipe
        self._cache: OrderedDict[tuple[int, int], tuple[np.ndarray, ...]] = OrderedDict()
        self._cache_size = 2 * (math.ceil(grid.width / BLOCK) + 1)  # two block rows: a 256 px strip

    # -- the SceneRaster interface ------------------------------------------------------
    def read_s1(self, window: Window) -> np.ndarray:
        return self._read(window, 0)

    def read_s2(self, window: Window) -> np.ndarray:
        return self._read(window, 1)

    def read_label(self, window: Window) -> np.ndarray:
        """Recipe v2: ESA WorldCover codes (1, h, w) uint8 of the scene's land cover."""
        self._need_v2("read_label")
        return self._read(window, 2)

    def read_scl(self, window: Window) -> np.ndarray:
        """Recipe v2: the L2A scene classification (1, h, w) uint8."""
        self._need_v2("read_scl")
        return self._read(window, 3)

    def _need_v2(self, what: str) -> None:
        if self.recipe != "v2":
            raise SourceError(f"{what} of {self.roi.scene_id}: the scene was opened for recipe {self.recipe}", fix="open it with SceneRequest(recipe='v2')")

    def seam_mask(self, window: Window) -> np.ndarray | None:
        if self.params.seam_line is None:
            return None
        r0, c0, h, w = self._check(window)
        xs, ys = np.arange(c0, c0 + w, dtype=np.float64), np.arange(r0, r0 + h, dtype=np.float64)
        c, s, off = self.params.seam_line
        d = c * xs[None, :] + s * ys[:, None] - off
        return np.abs(d) < 1.0

    def close(self) -> None:
        self._cache.clear()

    # -- internals -------------------------------------------------------------------------
    def _check(self, window: Window) -> tuple[int, int, int, int]:
        r0, c0 = int(window.row_off), int(window.col_off)
        h, w = int(window.height), int(window.width)
        if r0 < 0 or c0 < 0 or r0 + h > self.grid.height or c0 + w > self.grid.width:
            raise SourceError(f"window {window} is outside scene {self.roi.scene_id} ({self.grid.width}x{self.grid.height})")
        return r0, c0, h, w

    def _read(self, window: Window, which: int) -> np.ndarray:
        r0, c0, h, w = self._check(window)
        out = None
        for br in range(r0 // BLOCK, (r0 + h - 1) // BLOCK + 1):
            for bc in range(c0 // BLOCK, (c0 + w - 1) // BLOCK + 1):
                blk = self._block(br, bc)[which]
                if out is None:
                    out = np.empty((blk.shape[0], h, w), dtype=blk.dtype)
                y0, x0 = br * BLOCK, bc * BLOCK
                ra, rb = max(r0, y0), min(r0 + h, y0 + blk.shape[1])
                ca, cb = max(c0, x0), min(c0 + w, x0 + blk.shape[2])
                out[:, ra - r0 : rb - r0, ca - c0 : cb - c0] = blk[:, ra - y0 : rb - y0, ca - x0 : cb - x0]
        return out

    def _block(self, br: int, bc: int) -> tuple[np.ndarray, ...]:
        key = (br, bc)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        blk = render_block_v2(self.params, self.grid, br, bc) if self.recipe == "v2" else render_block(self.params, self.grid, br, bc)
        self._cache[key] = blk
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return blk


def land_cover(p: SceneParams, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class index per pixel (keys of CLASSES, in order), the east-west slope, and the relief shading."""
    elev = fbm(xs, ys, 1100.0, p.seed + 1, 5)
    river = np.abs(fbm(xs, ys, 700.0, p.seed + 2, 3) - 0.5) < 0.006
    water = (elev < p.water_level) | (river & (elev < 0.62))
    urban = fbm(xs, ys, 380.0, p.seed + 3, 3) > p.urban_threshold
    forest = fbm(xs, ys, 260.0, p.seed + 4, 3) > p.forest_threshold
    # agricultural parcels: a jittered rectangular cadastre, one crop per parcel
    warp = (value_noise(xs, ys, 300.0, p.seed + 5) - 0.5) * 60.0
    px = np.floor((xs[None, :] + warp) / 55.0).astype(np.int64)
    py = np.floor((ys[:, None] + warp) / 38.0).astype(np.int64)
    # one crop per parcel: drawn on the block's few hundred parcels, then gathered per pixel
    # (the hash is a function of the parcel's indices: the same values as hashing every pixel)
    px0, py0 = int(px.min()), int(py.min())
    crop_u = _hash01(np.arange(px0, int(px.max()) + 1)[None, :], np.arange(py0, int(py.max()) + 1)[:, None], p.seed + 6)
    if p.arid:
        crop_t = np.select([crop_u < 0.65, crop_u < 0.85], [6, 7], 3)
    else:
        crop_t = np.select([crop_u < 0.3, crop_u < 0.55, crop_u < 0.75, crop_u < 0.9], [3, 4, 5, 7], 6)
    px -= px0
    py -= py0
    crop = crop_t[py, px]
    cls = np.where(water, 0, np.where(urban, 1, np.where(forest & ~p.arid, 2, crop))).astype(np.int64)
    # relief: illumination for S2, local incidence for S1 (slopes facing east = the sensor)
    elev *= np.float32(600.0)  # pseudo-metres
    gy, gx = np.gradient(elev)
    shade = gx - gy
    shade *= np.float32(0.04)
    shade += np.float32(1.0)
    np.clip(shade, np.float32(0.7), np.float32(1.3), out=shade)
    return cls, gx, shade


@dataclass
class _BlockBase:
    """What v1 and v2 renderings of one block share: the pixel coordinates, land cover,
    relief and v1's random draws (drawn in v1's order, so v1's values never change)."""

    xs: np.ndarray
    ys: np.ndarray
    h: int
    w: int
    cls: np.ndarray
    gx: np.ndarray
    shade: np.ndarray
    draws: np.ndarray  # (2, h, w) uint16: texture, VV speckle
    urban: np.ndarray
    urban_draws: np.ndarray | None  # (2, n_urban) uint16: urban texture, urban VV noise


def _block_base(p: SceneParams, grid: Grid, br: int, bc: int) -> _BlockBase:
    y0, x0 = br * BLOCK, bc * BLOCK
    h, w = min(BLOCK, grid.height - y0), min(BLOCK, grid.width - x0)
    xs = np.arange(x0, x0 + w, dtype=np.float64)
    ys = np.arange(y0, y0 + h, dtype=np.float64)
    rng = np.random.default_rng([p.seed & 0xFFFFFFFF, p.seed >> 32, br, bc])
    cls, gx, shade = land_cover(p, xs, ys)
    # the block's random draws: 16-bit uniform indices into quantile tables (see _quantiles):
    # texture and speckle for every pixel, the urban texture and backscatter noise only where urban
    draws = rng.integers(0, 1 << 16, (2, h, w), dtype=np.uint16)
    urban = cls == 1
    n_urban = int(np.count_nonzero(urban))
    urban_draws = rng.integers(0, 1 << 16, (2, n_urban), dtype=np.uint16) if n_urban else None
    return _BlockBase(xs, ys, h, w, cls, gx, shade, draws, urban, urban_draws)


def _optical(p: SceneParams, b: _BlockBase, table: np.ndarray, cloud: np.ndarray, colour_bands: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray | None]:
    """S2 float32 (bands, h, w): class reflectance x texture x relief, mosaic seam, colour gain,
    clouds; and the cloud opacity (h, w) or None. In-place and band-major throughout."""
    s2 = np.take(table.T, b.cls, axis=1)  # (bands, h, w), contiguous
    s2 *= b.shade[None]
    normal_q, _ = _quantiles()
    tex = np.take(normal_q, b.draws[0])
    tex *= 0.025
    tex += 1.0
    s2 *= tex[None]
    if b.urban_draws is not None:
        s2[:, b.urban] *= (b.urban_draws[0] * np.float32(0.85 / 65536) + np.float32(0.65 + 0.85 / 131072))[None]
    if p.seam_line is not None:
        s2 *= np.where(_halfplane(p.seam_line, b.xs, b.ys), p.seam_gain, 1.0).astype(np.float32)[None]
    if p.colour_gain != (1.0, 1.0, 1.0):
        gain = np.ones(table.shape[1], dtype=np.float32)
        gain[list(colour_bands)] = np.array(p.colour_gain, dtype=np.float32)
        s2 *= gain[:, None, None]
    alpha = None
    if p.cloud_threshold is not None:
        n = fbm(b.xs, b.ys, 320.0, p.seed + 8, 4)
        alpha = np.clip((n - p.cloud_threshold) / 0.05, 0.0, 1.0)
        s2 *= 1 - alpha[None]
        s2 += alpha[None] * cloud[:, None, None]
    return s2, alpha


def _backscatter(b: _BlockBase, table: np.ndarray, speckle_draws: np.ndarray | None, urban_noise: np.ndarray | None) -> np.ndarray:
    """sigma0 in dB (h, w): backscatter map + slope term, urban noise, gamma speckle (multiplicative
    in linear power, so added in dB: 10 log10(10**(db/10) * g) = db + 10 log10(g), no power or log per pixel)."""
    normal_q, speckle_db = _quantiles()
    db = table[b.cls]
    db += np.clip(b.gx * np.float32(8.0), -6, 6)
    if urban_noise is not None:
        db[b.urban] += np.take(normal_q, urban_noise) * np.float32(3.0)
    if speckle_draws is not None:
        db += np.take(speckle_db, speckle_draws)
    np.maximum(db, np.float32(-50.0), out=db)  # 1e-5 in linear power
    return db


def render_block(p: SceneParams, grid: Grid, br: int, bc: int, *, speckle: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """S1 (1, h, w) float32 dB and S2 (3, h, w) uint16 for one fixed block of the scene (recipe v1)."""
    b = _block_base(p, grid, br, bc)
    s2f, _ = _optical(p, b, _S2_TABLE, CLOUD_TOA, (0, 1, 2))
    np.clip(s2f, 1, 20000, out=s2f)
    s2 = s2f.astype(np.uint16)
    s1 = _backscatter(b, _S1_TABLE, b.draws[1] if speckle else None, b.urban_draws[1] if b.urban_draws is not None else None)[None]
    if p.nodata_line is not None:
        nod = _halfplane(p.nodata_line, b.xs, b.ys)
        if p.nodata_sensor == "s1" or p.defect != "nodata":
            s1[:, nod] = np.nan
        if p.nodata_sensor == "s2" or p.defect != "nodata":
            s2[:, nod] = 0
    return s1, s2


def render_block_v2(p: SceneParams, grid: Grid, br: int, bc: int, *, speckle: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Recipe v2 for one fixed block: S1 (2, h, w) float32 dB (VV as v1's, VH), S2 (12, h, w) uint16
    L2A-like reflectance x 10000 (0 = no-data), the WorldCover label (1, h, w) uint8 and the
    SCL (1, h, w) uint8 (0 = no-data, 3 cloud shadow, 4 vegetation, 5 not vegetated, 6 water,
    8/9 cloud medium/high probability)."""
    b = _block_base(p, grid, br, bc)
    s2f, alpha = _optical(p, b, _V2_S2_TABLE, V2_CLOUD, V2_RGB)
    scl = _SCL_TABLE[b.cls]
    if alpha is not None:
        # the clouds' shadows: the same cloud field shifted, darkening the ground where no cloud is
        shade_alpha = np.clip((fbm(b.xs - SHADOW_SHIFT, b.ys - SHADOW_SHIFT, 320.0, p.seed + 8, 4) - p.cloud_threshold) / 0.05, 0.0, 1.0)
        shadow = (shade_alpha > 0.3) & (alpha < 0.3)
        s2f[:, shadow] *= (1.0 - 0.6 * shade_alpha[shadow])[None]
        scl = np.where(shadow, np.uint8(3), scl)
        scl = np.where(alpha > 0.7, np.uint8(9), np.where(alpha > 0.3, np.uint8(8), scl))
    np.clip(s2f, 1, 20000, out=s2f)
    s2 = s2f.astype(np.uint16)
    vv = _backscatter(b, _S1_TABLE, b.draws[1] if speckle else None, b.urban_draws[1] if b.urban_draws is not None else None)
    # VH: its own speckle and urban noise, from a generator of its own (v1's draws stay as they are)
    rng2 = np.random.default_rng([p.seed & 0xFFFFFFFF, p.seed >> 32, br, bc, 2])
    vh_draws = rng2.integers(0, 1 << 16, (b.h, b.w), dtype=np.uint16)
    vh_urban = rng2.integers(0, 1 << 16, int(np.count_nonzero(b.urban)), dtype=np.uint16) if b.urban_draws is not None else None
    vh = _backscatter(b, _V2_VH_TABLE, vh_draws if speckle else None, vh_urban)
    s1 = np.stack([vv, vh])
    label = _WC_TABLE[b.cls]
    if p.arid:
        label = np.where(b.cls == _CLASS_NAMES.index("grass"), np.uint8(20), label)  # arid grass: shrubland
    if p.nodata_line is not None:
        nod = _halfplane(p.nodata_line, b.xs, b.ys)
        if p.nodata_sensor == "s1" or p.defect != "nodata":
            s1[:, nod] = np.nan
        if p.nodata_sensor == "s2" or p.defect != "nodata":
            s2[:, nod] = 0
            scl = np.where(nod, np.uint8(0), scl)
    return s1, s2, label[None], scl[None]


def _ts(d: date, seconds: float) -> str:
    t = datetime(d.year, d.month, d.day, tzinfo=timezone.utc) + timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def synth_acquisitions(roi: ROI, grid: Grid, start: str, end: str, n_s2: int) -> tuple[Acquisition, Acquisition]:
    """Believable metadata: S2 near 10:30 local solar time, S1 near 06:00/18:00, real id formats."""
    rng = np.random.default_rng(_seed_of("acq", roi.set_name, roi.index))
    d0, d1 = date.fromisoformat(start), date.fromisoformat(end)
    span = (d1 - d0).days
    solar = -roi.lon / 15.0 * 3600.0  # seconds offset of local solar noon from UTC noon
    s2_day = d0 + timedelta(days=int(rng.integers(0, span + 1)))
    s2_sec = float(np.clip(10.5 * 3600 + solar + rng.normal(0, 600), 0, 86399))
    s1_day = s2_day + timedelta(days=int(rng.integers(-6, 7)))
    s1_day = min(max(s1_day, d0), d1)
    asc = bool(rng.random() < 0.5)
    s1_sec = float(np.clip((18.0 if asc else 6.0) * 3600 + solar + rng.normal(0, 900), 0, 86399))
    s1_plat = "sentinel-1a" if rng.random() < 0.6 or s1_day < date(2016, 9, 26) else "sentinel-1b"
    s2_plat = "sentinel-2a" if rng.random() < 0.6 or s2_day < date(2017, 6, 29) else "sentinel-2b"
    s1_rel, s2_rel = int(rng.integers(1, 176)), int(rng.integers(1, 144))
    s1_t = _ts(s1_day, s1_sec)  # the S2 times are per acquisition below
    zone = int(grid.crs.split(":")[1]) % 100
    band = "CDEFGHJKLMNPQRSTUVWX"[min(19, max(0, int((roi.lat + 80) // 8)))]
    compact = lambda t: t.replace("-", "").replace(":", "").rstrip("Z")  # noqa: E731
    abs_orbit = 10000 + int(rng.integers(0, 9000))
    s1_stop = (datetime.strptime(s1_t, "%Y-%m-%dT%H:%M:%SZ") + timedelta(seconds=25)).strftime("%Y%m%dT%H%M%S")
    s1_id = f"S1{s1_plat[-1].upper()}_IW_GRDH_1SDV_{compact(s1_t)}_{s1_stop}_{abs_orbit:06d}_{int(rng.integers(0, 0xFFFFFF)):06X}_{int(rng.integers(0, 0xFFFF)):04X}"
    s2_ids = []
    s2_times = []
    for k in range(n_s2):
        day = s2_day - timedelta(days=10 * k)
        day = max(day, d0)
        t = _ts(day, s2_sec)
        s2_times.append(t)
        s2_ids.append(f"S2{s2_plat[-1].upper()}_MSIL1C_{compact(t)}_N0204_R{s2_rel:03d}_T{zone:02d}{band}{'ABCDEFGHJKLMNPQRSTUVWXYZ'[int(rng.integers(0, 24))]}{'ABCDEFGHJKLMNPQRSTUV'[int(rng.integers(0, 20))]}_{compact(t)}")
    s1 = Acquisition("s1", s1_t, s1_plat, "sentinel-1", "c-sar", "ascending" if asc else "descending", s1_rel, None, (s1_id,), s1_t, s1_t)
    s2 = Acquisition(
        "s2", s2_times[0], s2_plat, "sentinel-2", "msi", "descending", s2_rel, round(float(rng.uniform(0.0, 1.0)), 2),
        tuple(s2_ids), min(s2_times), max(s2_times),
    )
    return s1, s2


class SyntheticSource:
    """The offline default source (see module docstring)."""

    name = "synthetic"

    def __init__(self, defect_rate: float = 0.3, unavailable_rate: float = 0.08) -> None:
        self.defect_rate = defect_rate
        self.unavailable_rate = unavailable_rate

    def rois(self, season_name: str) -> list[ROI] | None:
        return None  # use the sampled ROIs

    def grid_for(self, roi: ROI, default: Grid) -> Grid:
        return default

    def open_scene(self, request: SceneRequest) -> SyntheticScene:
        roi = request.roi
        rng = np.random.default_rng(_seed_of("availability", roi.set_name, roi.index))
        # the recipe needs an S2 scene with <= 1 % cloud: rarer in the cloudy tropics
        p_missing = self.unavailable_rate * (3.0 if abs(roi.lat) < 12 else 1.0)
        if rng.random() < p_missing:
            raise SceneUnavailable(
                f"no Sentinel-2 acquisition with cloud cover <= 1% for {roi.scene_id} between {request.start} and {request.end}"
            )
        params = draw_params(roi, request.grid, self.defect_rate)
        s1, s2 = synth_acquisitions(roi, request.grid, request.start, request.end, 2 if params.seam_line else 1)
        if request.recipe == "v2":
            s2 = replace(s2, product_ids=tuple(i.replace("_MSIL1C_", "_MSIL2A_").replace("_N0204_", "_N0500_") for i in s2.product_ids))
        return SyntheticScene(roi, request.grid, s1, s2, params, request.recipe)
