"""Quality control: scene QC (the paper's visual inspection, automated) and patch QC.

Every decision carries machine-readable reasons (``"nodata 0.312 > 0.100"``); manual
overrides (accept/reject by scene id, from a JSON or CSV file) are applied on top and
recorded.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import PatchQCConfig, SceneQCConfig
from ..errors import ConfigError
from ..models import PatchQC, SceneQC
from .preprocess import S1_BANDS, S2_BANDS, BandAccumulator


def cloud_mask(s2: np.ndarray, config: SceneQCConfig) -> np.ndarray:
    """Cloud-like pixels: bright and white in B4/B3/B2 (TOA reflectance x 10000).

    Bright = band mean above ``cloud_brightness``; white = (max - min) / mean below
    ``cloud_whiteness``. Snow and ice are cloud-like too by this test (documented).
    """
    return _cloud_and_valid(s2, config)[0]


def _cloud_and_valid(s2: np.ndarray, config: SceneQCConfig) -> tuple[np.ndarray, np.ndarray]:
    """The cloud mask and the S2 validity (every band > 0) it is computed with, in one pass."""
    if s2.dtype == np.uint16:
        # integer reductions (exact: a sum of uint16 bands is exact in float32), then the same
        # float32 division as mean(): the same mask as the float path, at half the cost
        lo, hi = s2.min(axis=0), s2.max(axis=0)
        mean = s2.sum(axis=0, dtype=np.uint32).astype(np.float32) / s2.shape[0]
        spread = (hi - lo).astype(np.float32)
        valid = lo > 0
    else:
        f = s2.astype(np.float32)
        mean = f.mean(axis=0)
        spread = f.max(axis=0) - f.min(axis=0)
        valid = np.all(s2 > 0, axis=0)
    return valid & (mean > config.cloud_brightness * 10000.0) & (spread < config.cloud_whiteness * np.maximum(mean, 1.0)), valid


def haze_index(b4_mean: float, b4_std: float, b2_mean: float) -> float:
    """Blue against red, per unit of contrast: ``ln(mean B2 / mean B4) / (std B4 / mean B4)``.

    Haze, thin overcast and the skylight under it lift blue over red and wash out contrast,
    so a hazy scene sits far out on both. The haze-optimized transform itself (HOT, blue
    against red along a clear-sky line; Fmask's B2 - 0.5 B4 - 0.08) does not see the real
    hazy SEN12MS-CR winter clip: the haze darkened it rather than brightened it, and its
    median HOT (-0.004) equals its cloud-free twin's (-0.006). This index gives 7.0 against
    1.8. Clear dark forest is blue against red on L1C too, but keeps its contrast; a uniform
    water body has both, so it scores high (docs/pipeline.md: what this misses and confuses).
    NaN when undefined (no valid pixel, a flat red band).
    """
    if not (b4_mean > 0 and b2_mean > 0 and b4_std > 0) or not all(map(math.isfinite, (b4_mean, b4_std, b2_mean))):
        return float("nan")
    return math.log(b2_mean / b4_mean) / (b4_std / b4_mean)


@dataclass
class SceneAccumulator:
    """Everything scene QC and preprocessing need, gathered in one streaming pass."""

    config: SceneQCConfig
    s1: list[BandAccumulator] = field(default_factory=lambda: [BandAccumulator(b, "db") for b in S1_BANDS])
    s2: list[BandAccumulator] = field(default_factory=lambda: [BandAccumulator(b, "uint16") for b in S2_BANDS])
    pixels: int = 0
    s1_nodata: int = 0
    s2_nodata: int = 0
    cloud: int = 0

    def add(self, s1: np.ndarray, s2: np.ndarray) -> None:
        v1 = np.isfinite(s1[0])
        cloud, v2 = _cloud_and_valid(s2, self.config)  # v2: every S2 band > 0
        self.pixels += v1.size
        n1, n2 = int(np.count_nonzero(v1)), int(np.count_nonzero(v2))
        self.s1_nodata += int(v1.size - n1)
        self.s2_nodata += int(v2.size - n2)
        self.cloud += int(np.count_nonzero(cloud))
        for i, acc in enumerate(self.s1):
            acc.add(s1[i].ravel() if n1 == v1.size else s1[i][v1])  # all valid: the same values, no mask copy
        for i, acc in enumerate(self.s2):
            acc.add(s2[i].ravel() if n2 == v2.size else s2[i][v2])

    def metrics(self) -> dict[str, float]:
        px = max(self.pixels, 1)
        s2_valid = max(px - self.s2_nodata, 1)
        means = [a.mean for a in self.s2]
        m: dict[str, float] = {
            "s1_nodata_fraction": self.s1_nodata / px,
            "s2_nodata_fraction": self.s2_nodata / px,
            "cloud_fraction": self.cloud / s2_valid,
        }
        if all(math.isfinite(x) and x > 0 for x in means):
            gm = math.exp(sum(math.log(x) for x in means) / len(means))
            m["colour_cast"] = max(abs(math.log(x / gm)) for x in means)
        b4, b2 = self.s2[S2_BANDS.index("B04")], self.s2[S2_BANDS.index("B02")]
        haze = haze_index(b4.mean, b4.std, b2.mean) if b4.count else float("nan")
        if math.isfinite(haze):  # recorded in items, which hold no NaN
            m["haze_index"] = haze
        for a in self.s2:
            m[f"{a.band}_mean"] = a.mean if a.count else float("nan")
            m[f"{a.band}_std"] = a.std if a.count else float("nan")
        m["VV_mean_db"] = self.s1[0].mean if self.s1[0].count else float("nan")
        return {k: round(float(v), 6) for k, v in m.items()}


def judge_scene(scene_id: str, metrics: dict[str, float], config: SceneQCConfig) -> SceneQC:
    reasons = []
    nod = max(metrics["s1_nodata_fraction"], metrics["s2_nodata_fraction"])
    if nod >= 1.0:
        reasons.append("nodata all pixels")
    elif nod > config.max_nodata_fraction:
        reasons.append(f"nodata {nod:.3f} > {config.max_nodata_fraction:.3f}")
    if metrics["cloud_fraction"] > config.max_cloud_fraction:
        reasons.append(f"clouds {metrics['cloud_fraction']:.3f} > {config.max_cloud_fraction:.3f}")
    haze = metrics.get("haze_index", float("nan"))  # absent in metrics recorded before the haze test
    if math.isfinite(haze) and haze > config.max_haze_index:
        reasons.append(f"haze {haze:.2f} > {config.max_haze_index:.2f}")
    cast = metrics.get("colour_cast")
    if cast is not None and cast > config.max_colour_cast:
        reasons.append(f"colour-cast {cast:.3f} > {config.max_colour_cast:.3f}")
    for band in S2_BANDS:
        std = metrics.get(f"{band}_std", float("nan"))
        if math.isfinite(std) and std < config.min_channel_std * 10000.0:
            reasons.append(f"flat-channel {band} std {std:.1f} < {config.min_channel_std * 10000.0:.1f}")
    return SceneQC(scene_id, not reasons, tuple(reasons), metrics)


@dataclass(frozen=True)
class Override:
    decision: str  # "accept" | "reject"
    note: str | None = None  # why
    who: str | None = None  # who decided (free text, e.g. a name or an email)
    when: str | None = None  # when (ISO 8601, as the review page writes it)


def load_overrides(path: Path | None) -> dict[str, Override]:
    """Manual decisions by scene id, or by pair id for one patch. JSON: ``{"ROIs1158_spring_7":
    {"decision": "reject", "note": "...", "who": "...", "when": "..."}}`` (or the decision as a plain
    string); CSV: columns ``scene_id,decision[,note,who,when]`` (scene_id may hold a pair id)."""
    if path is None:
        return {}
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the QC override file {path}: {exc.strerror}", fix="check the path given to --overrides") from None
    raw: dict[str, object]
    if str(path).lower().endswith(".csv"):
        rows = list(csv.DictReader(text.splitlines()))
        if rows and not {"scene_id", "decision"} <= set(rows[0]):
            raise ConfigError(f"QC override file {path} lacks the columns scene_id,decision", fix="add a header line 'scene_id,decision,note'")
        raw = {r["scene_id"].strip(): {"decision": r["decision"], "note": r.get("note"), "who": r.get("who"), "when": r.get("when")} for r in rows}
    else:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"QC override file {path} is not valid JSON ({exc.msg} at line {exc.lineno})", fix="fix the JSON syntax") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"QC override file {path} must hold an object keyed by scene id", fix='write {"ROIs1158_spring_7": "reject"}')
    out = {}
    for scene_id, v in raw.items():
        entry = v if isinstance(v, dict) else {"decision": v}
        decision = str(entry.get("decision", "")).strip().lower()
        if decision not in ("accept", "reject"):
            raise ConfigError(f"QC override for {scene_id} in {path} has decision {entry.get('decision')!r}", fix="use 'accept' or 'reject'")
        note, who, when = (entry.get(k) for k in ("note", "who", "when"))
        out[scene_id] = Override(decision, str(note) if note else None, str(who) if who else None, str(when) if when else None)
    return out


def apply_override(qc: SceneQC, overrides: dict[str, Override]) -> SceneQC:
    o = overrides.get(qc.scene_id)
    if o is None:
        return qc
    reasons = qc.reasons
    if o.decision == "reject" and not reasons:
        reasons = ("manual reject",)
    return SceneQC(qc.scene_id, o.decision == "accept", reasons, qc.metrics, o.decision, o.note, o.who, o.when)


def apply_patch_override(qc: PatchQC, pair: str, overrides: dict[str, Override]) -> PatchQC:
    """A manual decision on one patch (keyed by its pair id) on top of patch QC."""
    o = overrides.get(pair) if overrides else None
    if o is None:
        return qc
    reasons = qc.reasons if o.decision == "accept" or qc.reasons else ("manual reject",)
    return dataclasses.replace(qc, accepted=o.decision == "accept", reasons=reasons, override=o.decision,
                               override_note=o.note, override_who=o.who, override_when=o.when)


def judge_patch(s1: np.ndarray, s2: np.ndarray, seam: np.ndarray | None, scene_cfg: SceneQCConfig, cfg: PatchQCConfig) -> PatchQC:
    """Patch QC on the physical-unit patch arrays (S1 dB with NaN, S2 uint16 with 0)."""
    return StripQC(s1, s2, seam, scene_cfg, cfg).judge(0, s2.shape[2])


class StripQC:
    """Patch QC for the patches of one strip (patches side by side, all its rows): the masks
    are computed once for the strip -- neighbouring patches overlap by half their width --
    and each patch's counts come from column prefix sums. ``judge(x0, x1)`` gives exactly
    :func:`judge_patch` of the patch's arrays ``[..., x0:x1]``."""

    def __init__(self, s1: np.ndarray, s2: np.ndarray, seam: np.ndarray | None, scene_cfg: SceneQCConfig, cfg: PatchQCConfig) -> None:
        self.s2, self.cfg = s2, cfg
        v1 = np.isfinite(s1[0])
        clouds, self.v2 = _cloud_and_valid(s2, scene_cfg)  # v2: every S2 band > 0
        self._v1 = _column_prefix(v1)
        self._v2 = _column_prefix(self.v2)
        self._v12 = _column_prefix(v1 & self.v2)
        self._cloud = _column_prefix(clouds)
        self._seam = _column_prefix(seam) if seam is not None else None
        self._sums: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        if s2.dtype in (np.uint8, np.uint16):
            # the haze index's red mean and variance and blue mean from integer column sums of
            # the valid pixels, once per strip (each patch's from prefix differences, exactly)
            everywhere = int(self._v2[-1]) == self.v2.size
            red = s2[0].astype(np.uint32) if everywhere else np.where(self.v2, s2[0], 0).astype(np.uint32)
            blue = s2[2] if everywhere else np.where(self.v2, s2[2], 0)
            red_sum = red.sum(axis=0, dtype=np.uint64)
            red *= red  # < 2**32: a uint16 squared
            self._sums = (_prefix(red_sum), _prefix(red.sum(axis=0, dtype=np.uint64)), _prefix(blue.sum(axis=0, dtype=np.uint64)))

    def judge(self, x0: int, x1: int) -> PatchQC:
        rows = self.s2.shape[1]
        size = rows * (x1 - x0)
        n2 = int(self._v2[x1] - self._v2[x0])
        # counts of booleans over the patch: exactly what mean()/sum() of its masks give
        nodata = 1.0 - int(self._v12[x1] - self._v12[x0]) / size
        cloud = int(self._cloud[x1] - self._cloud[x0]) / n2 if n2 else 0.0
        seamline = bool(self._seam is not None and self._seam[x1] > self._seam[x0])
        haze = float("nan")
        if n2 and self._sums is not None:
            red_p, sq_p, blue_p = self._sums
            red, sq = int(red_p[x1] - red_p[x0]), int(sq_p[x1] - sq_p[x0])
            # Python integers: the mean and variance are the correctly rounded exact values
            haze = haze_index(red / n2, math.sqrt((n2 * sq - red * red) / (n2 * n2)), int(blue_p[x1] - blue_p[x0]) / n2)
        elif n2:
            s2 = self.s2[:, :, x0:x1]
            v2 = None if n2 == size else self.v2[:, x0:x1]
            red_f = (s2[0].ravel() if v2 is None else s2[0][v2]).astype(np.float64)
            blue_f = (s2[2].ravel() if v2 is None else s2[2][v2]).astype(np.float64)
            haze = haze_index(float(red_f.mean()), float(red_f.std()), float(blue_f.mean()))
        cfg = self.cfg
        reasons = []
        if nodata > cfg.max_nodata_fraction:
            reasons.append(f"nodata {nodata:.4f} > {cfg.max_nodata_fraction:.4f}")
        if cloud > cfg.max_cloud_fraction:
            reasons.append(f"clouds {cloud:.3f} > {cfg.max_cloud_fraction:.3f}")
        if cfg.max_haze_index is not None and math.isfinite(haze) and haze > cfg.max_haze_index:
            reasons.append(f"haze {haze:.2f} > {cfg.max_haze_index:.2f}")
        if seamline and cfg.reject_seamlines:
            reasons.append("seamline")
        return PatchQC(not reasons, tuple(reasons), round(nodata, 6), round(cloud, 6), seamline, round(haze, 6))


def _column_prefix(mask: np.ndarray) -> np.ndarray:
    """Prefix sums of a (rows, cols) mask's per-column counts: cols ``[a, b)`` hold ``p[b] - p[a]``."""
    return _prefix(np.count_nonzero(mask, axis=0))


def _prefix(per_column: np.ndarray) -> np.ndarray:
    """``p`` with ``p[b] - p[a]`` the sum of ``per_column[a:b]`` (in the column sums' own integer type)."""
    out = np.zeros(per_column.size + 1, dtype=np.uint64 if per_column.dtype == np.uint64 else np.int64)
    np.cumsum(per_column, out=out[1:])
    return out


def reason_code(reason: str) -> str:
    """The reason's kind, for counting: ``"nodata 0.3 > 0.1"`` -> ``"nodata"``."""
    return reason.split(" ", 1)[0]
