"""What a build keeps for `sen12stac review` (``build --review``): per scene, kept and rejected
alike, a small S1 | S2 preview and the QC outcome of every patch position.

Written by the workers beside the scene's patches, under ``review/`` of the build (a release
never carries it: :mod:`sen12stac.release.plan` leaves the prefix out)::

    review/build-config.json                    the build's settings (the rebuild command uses them)
    review/ROIs1158_spring/ROIs1158_spring_7.png   S1 | S2, at most PREVIEW_PX on a side each
    review/ROIs1158_spring/ROIs1158_spring_7.json  grid, scene QC, every patch position's QC

The preview is taken from the strips the statistics pass reads anyway (every k-th row and
column), so it costs no read; the patch outcomes come from the patch QC the build runs. A
scene rejected by scene QC is never tiled: its record has no patch outcomes (``tiled``: false).
"""
from __future__ import annotations

import io
import json
import math
from typing import Any

import numpy as np

from ..models import PatchQC, SceneQC

REVIEW_PREFIX = "review/"
CONFIG_KEY = REVIEW_PREFIX + "build-config.json"
PREVIEW_PX = 256


def preview_key(set_name: str, scene_id: str) -> str:
    return f"{REVIEW_PREFIX}{set_name}/{scene_id}.png"


def record_key(set_name: str, scene_id: str) -> str:
    return f"{REVIEW_PREFIX}{set_name}/{scene_id}.json"


def _finite(v: Any) -> Any:
    return round(float(v), 6) if isinstance(v, (int, float)) and math.isfinite(v) else None


class SceneReview:
    """Collects one scene's preview (strip by strip) and its patch outcomes."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.step = max(1, math.ceil(max(width, height) / PREVIEW_PX))
        self._s1: list[np.ndarray] = []
        self._s2: list[np.ndarray] = []
        self.patches: list[dict[str, Any]] = []
        self.tiled = False

    def add_strip(self, s1: np.ndarray, s2: np.ndarray, row_off: int) -> None:
        first = (-row_off) % self.step  # rows of the whole scene on the step, in this strip
        self._s1.append(np.asarray(s1[0, first::self.step, ::self.step], dtype=np.float32))
        self._s2.append(np.asarray(s2[:, first::self.step, ::self.step], dtype=np.float32))

    def add_patch(self, number: int, row: int, col: int, pair: str, qc: PatchQC) -> None:
        self.tiled = True
        entry: dict[str, Any] = {"n": int(number), "row": int(row), "col": int(col), "pair_id": pair,
                                 "accepted": bool(qc.accepted), "reasons": list(qc.reasons)}
        if qc.override is not None:
            entry["override"] = qc.override
        self.patches.append(entry)

    def preview_png(self) -> bytes:
        """S1 VV (grey) | S2 B4/B3/B2 (true colour), each stretched to its 2nd-98th percentile."""
        from PIL import Image

        s1 = np.concatenate(self._s1, axis=0) if self._s1 else np.zeros((1, 1), np.float32)
        s2 = np.concatenate(self._s2, axis=1) if self._s2 else np.zeros((3, 1, 1), np.float32)
        grey = _stretch(s1, np.isfinite(s1))
        valid = np.all(s2 > 0, axis=0)
        rgb = np.stack([_stretch(b, valid) for b in s2], axis=-1)
        h, w = grey.shape
        canvas = np.full((h, 2 * w + 4, 3), 255, np.uint8)
        canvas[:, :w] = grey[..., None]
        canvas[:, w + 4:] = rgb
        buf = io.BytesIO()
        Image.fromarray(canvas).save(buf, format="PNG", optimize=False)
        return buf.getvalue()

    def record(self, set_name: str, scene_id: str, qc: SceneQC | None, patch_size: int, stride: int, status: str) -> bytes:
        doc: dict[str, Any] = {
            "scene_id": scene_id, "set": set_name, "status": status, "width": self.width, "height": self.height,
            "patch_size": patch_size, "stride": stride, "preview": preview_key(set_name, scene_id).rsplit("/", 1)[-1],
            "tiled": self.tiled, "patches": self.patches,
        }
        if qc is not None:
            doc["scene_qc"] = {"accepted": bool(qc.accepted), "reasons": list(qc.reasons),
                               "metrics": {k: _finite(v) for k, v in sorted(qc.metrics.items())}}
            if qc.override is not None:
                doc["scene_qc"]["override"] = qc.override
        return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()


def _stretch(band: np.ndarray, valid: np.ndarray) -> np.ndarray:
    out = np.zeros(band.shape, np.uint8)
    if not valid.any():
        return out
    lo, hi = np.percentile(band[valid], [2, 98])
    scaled = (band - lo) / max(float(hi - lo), 1e-6) * 254.0 + 1.0
    out[valid] = np.clip(scaled[valid], 1, 255).astype(np.uint8)
    return out


# -- the manual decisions a build was made with (published with it) ------------------------

OVERRIDES_KEY = "qc-overrides.json"


def overrides_bytes(overrides: dict[str, Any]) -> bytes:
    """The manual decisions (:class:`~sen12stac.recipe.qc.Override` by scene or pair id) as the
    overrides file format, sorted: the build writes it as ``qc-overrides.json`` and a release
    carries it, so a reader tells a human decision from an automatic one."""
    doc = {}
    for key in sorted(overrides):
        o = overrides[key]
        doc[key] = {k: v for k, v in (("decision", o.decision), ("note", o.note), ("who", o.who), ("when", o.when)) if v is not None}
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()


def config_bytes(config: Any) -> bytes:
    """The build's settings as a ``--config`` file, every field spelled out (a default that an
    environment variable changes later does not change the rebuild); the overrides file is
    given on the command line."""
    doc = config.model_dump(mode="json", exclude_none=True)
    doc.pop("review", None)  # the rebuild command says --review itself (a build into s3:// has none)
    (doc.get("scene_qc") or {}).pop("overrides", None)
    if doc.get("scene_qc") == {}:
        del doc["scene_qc"]
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()
