"""Per-band preprocessing, the paper's recipe, computed in one streaming pass.

1. cut each band to mean +- k sigma (k = 2.5);
2. scale to [0, 1];
3. contrast-stretch: the ``stretch_percentiles`` of the cut band map to the ends of the range.

Steps 1-3 compose into one linear map per band, from [stretch_min, stretch_max] in
physical units (dB for S1, reflectance x 10000 for S2) onto DN 1..255; DN 0 is no-data.
That map is kept in :class:`~sen12stac.models.BandStats` (``scale``/``offset``), so users
recover physical values as ``offset + scale * DN`` (STAC 1.1 ``bands``: ``raster:scale``/``raster:offset``).

Statistics come from exact histograms accumulated strip by strip: S2 uint16 values are
counted exactly; S1 dB values are binned at 0.01 dB over -80..+40 dB (values outside
are clamped into the end bins and still counted in the moments).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..config import PreprocessConfig
from ..errors import SourceError
from ..models import BandStats

S1_BANDS = ("VV",)
S2_BANDS = ("B04", "B03", "B02")
_DB_MIN, _DB_MAX, _DB_STEP = -80.0, 40.0, 0.01
_DB_BINS = int(round((_DB_MAX - _DB_MIN) / _DB_STEP))


@dataclass
class BandAccumulator:
    """Histogram + moments of one band, fed strip by strip."""

    band: str
    kind: str  # "db" | "uint16"
    hist: np.ndarray = field(init=False)
    total: float = 0.0
    total_sq: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.hist = np.zeros(_DB_BINS if self.kind == "db" else 65536, dtype=np.int64)

    def add(self, values: np.ndarray) -> None:
        """``values``: the valid pixels only (1-D)."""
        if values.size == 0:
            return
        if self.kind != "db" and values.dtype in (np.uint8, np.uint16) and values.size < 2**31:
            # integers: the moments come exactly from this strip's histogram (integer dot
            # products). Below 2**53 every partial sum of the float64 path is an exact integer
            # too, so its result is this one; above, that path rounds: take it as before.
            counts = np.bincount(values, minlength=65536)
            dn = np.arange(counts.size, dtype=np.int64)
            total, total_sq = int(counts @ dn), int(counts @ (dn * dn))
            if total_sq < 2**53:
                self.total += float(total)
                self.total_sq += float(total_sq)
                self.count += int(values.size)
                self.hist += counts
                return
        v64 = values.astype(np.float64)
        self.total += float(v64.sum())
        self.total_sq += float(np.square(v64).sum())
        self.count += int(values.size)
        if self.kind == "db":
            idx = np.clip(((v64 - _DB_MIN) / _DB_STEP).astype(np.int64), 0, _DB_BINS - 1)
            self.hist += np.bincount(idx, minlength=_DB_BINS)
        else:
            self.hist += np.bincount(values.astype(np.int64), minlength=65536)

    def _value_of_bin(self, i: np.ndarray | int) -> np.ndarray | float:
        if self.kind == "db":
            return _DB_MIN + (np.asarray(i) + 0.5) * _DB_STEP
        return np.asarray(i, dtype=np.float64)

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else float("nan")

    @property
    def std(self) -> float:
        if not self.count:
            return float("nan")
        var = max(0.0, self.total_sq / self.count - self.mean**2)
        return var**0.5

    def percentile_clipped(self, q: float, lo: float, hi: float) -> float:
        """Percentile ``q`` (0..100) of the band after clamping values to [lo, hi]."""
        centres = self._value_of_bin(np.arange(self.hist.size))
        clamped = np.clip(centres, lo, hi)
        order = np.argsort(clamped, kind="stable")
        cum = np.cumsum(self.hist[order])
        target = q / 100.0 * (cum[-1] - 1)
        k = int(np.searchsorted(cum, target, side="right"))
        return float(clamped[order][min(k, order.size - 1)])

    def stats(self, config: PreprocessConfig) -> BandStats:
        if self.count == 0:
            raise SourceError(f"band {self.band} has no valid pixels", fix="check the scene's no-data value and extent")
        m, s = self.mean, self.std
        k = config.clip_sigma
        clip_min, clip_max = m - k * s, m + k * s
        p_lo, p_hi = config.stretch_percentiles
        smin = self.percentile_clipped(p_lo, clip_min, clip_max)
        smax = self.percentile_clipped(p_hi, clip_min, clip_max)
        if not smax > smin:  # a flat band: keep the map defined; scene QC flags it
            smin, smax = clip_min, max(clip_max, clip_min + 1e-3)
            if not smax > smin:
                smax = smin + 1e-3
        return BandStats(self.band, round(m, 6), round(s, 6), round(clip_min, 6), round(clip_max, 6), round(smin, 6), round(smax, 6), self.count)


def to_uint8(values: np.ndarray, valid: np.ndarray, stats: BandStats) -> np.ndarray:
    """Map physical values to DN 1..255 (0 where not valid)."""
    span = stats.stretch_max - stats.stretch_min
    # in place on one float32 copy: the same float32 operations, in the same order, as
    # ((v - min) / span, clip to [0, 1], NaN -> 0, rint(x * 254)) written out; fmax/fmin
    # are clip's values and send NaN to 0 on the way (nan_to_num's answer, two passes fewer)
    x = values.astype(np.float32)
    x -= np.float32(stats.stretch_min)
    x /= np.float32(span)
    np.fmax(x, np.float32(0.0), out=x)
    np.fmin(x, np.float32(1.0), out=x)
    x *= np.float32(254.0)
    np.rint(x, out=x)
    dn = x.astype(np.uint8)
    dn += np.uint8(1)
    dn[~valid] = 0
    return dn


def scale_s1(s1: np.ndarray, stats: tuple[BandStats, ...]) -> np.ndarray:
    """(1, h, w) float32 dB with NaN -> (1, h, w) uint8."""
    return np.stack([to_uint8(s1[i], np.isfinite(s1[i]), st) for i, st in enumerate(stats)])


def scale_s2(s2: np.ndarray, stats: tuple[BandStats, ...], valid: np.ndarray | None = None) -> np.ndarray:
    """(3, h, w) uint16 with 0 = no-data -> (3, h, w) uint8; a pixel is valid only if all bands are
    (``valid``: that mask when the caller has it already, as patch QC does for its strip)."""
    if valid is None:
        valid = np.all(s2 > 0, axis=0)
    return np.stack([to_uint8(s2[i], valid, st) for i, st in enumerate(stats)])


def to_physical(dn: np.ndarray, stats: BandStats) -> np.ndarray:
    """Inverse map for users: DN -> physical (NaN for DN 0). Exact up to the 8-bit quantisation."""
    out = stats.offset + stats.scale * dn.astype(np.float64)
    return np.where(dn == 0, np.nan, out)
