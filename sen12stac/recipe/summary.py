"""What a build counts: the paper's counts per season, the scenes' outcomes, and
``build-summary.json`` (deterministic: part of the build and of its release)."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from ..errors import SourceError
from ..models import PatchRecord, SceneResult
from .qc import reason_code
from .rois import Candidate


@dataclass
class SeasonCounts:
    """The paper's counts for one season set."""

    set_name: str
    rois_sampled: int = 0  # candidate points drawn
    rois_kept: int = 0  # after dropping overlaps
    rois_processed: int = 0  # after --scenes-per-season
    rois_with_data: int = 0  # S1 and S2 available
    scenes_accepted: int = 0  # after scene QC
    scenes_failed: int = 0
    patch_positions: int = 0  # in accepted scenes
    patches_published: int = 0  # after patch QC
    bytes_written: int = 0
    scene_rejections: Counter = field(default_factory=Counter)
    patch_rejections: Counter = field(default_factory=Counter)

    def as_counts(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in ("rois_sampled", "rois_kept", "rois_processed", "rois_with_data", "scenes_accepted", "scenes_failed", "patch_positions", "patches_published", "bytes_written")}


@dataclass
class BuildSummary:
    seasons: dict[str, SeasonCounts]
    scenes: list[dict]  # per scene: id, status, reasons, patches (small)
    root_key: str | None
    seconds: float = 0.0
    candidates: dict[str, list[Candidate]] = field(default_factory=dict)

    @property
    def patches_published(self) -> int:
        return sum(c.patches_published for c in self.seasons.values())

    @property
    def bytes_written(self) -> int:
        return sum(c.bytes_written for c in self.seasons.values())

    @property
    def requests(self) -> dict[str, int | None] | None:
        """Network cost of the whole build (remote sources only): the scenes' requests summed."""
        per = [s["requests"] for s in self.scenes if s.get("requests")]
        if not per:
            return None
        total: dict[str, int | None] = {}
        for r in per:
            for k, v in r.items():
                total[k] = None if v is None or total.get(k, 0) is None else int(total.get(k) or 0) + int(v)
        return total

    def to_dict(self) -> dict:
        """Deterministic (no timings): the file is part of the build and of its release."""
        return {
            **({"requests": self.requests} if self.requests is not None else {}),
            "root": self.root_key,
            "seasons": {k: {**v.as_counts(), "scene_rejections": dict(v.scene_rejections), "patch_rejections": dict(v.patch_rejections)} for k, v in self.seasons.items()},
            "scenes": self.scenes,
        }



def count_scene(sc: SeasonCounts, res: SceneResult) -> None:
    """Add one scene's outcome to its season's counts (a failed scene adds only to scenes_failed)."""
    if res.status != "unavailable":
        sc.rois_with_data += 1
    if res.status == "failed":
        sc.scenes_failed += 1
        return
    if res.qc is not None:
        if res.qc.accepted:
            sc.scenes_accepted += 1
            sc.patch_positions += res.patch_positions
        else:
            for r in res.qc.reasons:
                sc.scene_rejections[reason_code(r)] += 1
    sc.patch_rejections.update(res.patch_rejections)
    sc.patches_published += len(res.patches)
    sc.bytes_written += res.bytes_written


def keep_samples(keep: list[PatchRecord], res: SceneResult) -> None:
    """Two patches per scene (at a third and two thirds) as contact-sheet candidates; the figure
    takes the first few by pair id, so the choice does not depend on the order scenes finish."""
    if not res.patches:
        return
    ordered = sorted(res.patches, key=lambda p: p.patch_index)
    for i in sorted({len(ordered) // 3, (2 * len(ordered)) // 3}):  # one pick when a scene has a single patch
        keep.append(ordered[i])


SUMMARY_KEY = "build-summary.json"


def summary_bytes(summary: BuildSummary) -> bytes:
    """``build-summary.json``: deterministic (no timings), part of the build and of its release."""
    return (json.dumps(summary.to_dict(), indent=1, sort_keys=True) + "\n").encode()


# scene-QC reason code -> the BuildConfig field that sets its threshold
_SCENE_QC_FIELDS = {"nodata": "scene_qc.max_nodata_fraction", "clouds": "scene_qc.max_cloud_fraction", "haze": "scene_qc.max_haze_index",
                    "colour-cast": "scene_qc.max_colour_cast", "flat-channel": "scene_qc.min_channel_std"}
_PATCH_QC_FIELDS = {"nodata": "patch_qc.max_nodata_fraction", "clouds": "patch_qc.max_cloud_fraction", "haze": "patch_qc.max_haze_index",
                    "seamline": "patch_qc.reject_seamlines"}


def _tally(counter: Counter) -> str:
    return ", ".join(f"{k} {v}" for k, v in counter.most_common())


def nothing_published(summary: BuildSummary, outcome: str, *, source: str | None = None, defect_rate: float | None = None) -> SourceError:
    """The one-line error of a build in which no pair passed QC: what the scenes became and
    what to change. ``outcome`` says what happened to the output ("nothing was written to
    out/"): an empty catalog is not a build, and no release is made of one."""
    n = len(summary.scenes)
    status = Counter(s["status"] for s in summary.scenes)
    scene_why: Counter = Counter()
    patch_why: Counter = Counter()
    for c in summary.seasons.values():
        scene_why.update(c.scene_rejections)
        patch_why.update(c.patch_rejections)
    accepted = sum(c.scenes_accepted for c in summary.seasons.values())
    parts = []
    if status["unavailable"]:
        parts.append(f"{status['unavailable']} had no S1/S2 pair")
    if scene_why:
        parts.append(f"{n - status['unavailable'] - accepted} failed scene QC ({_tally(scene_why)})")
    if accepted:
        parts.append(f"{accepted} passed scene QC but every patch failed patch QC ({_tally(patch_why) or 'no patch position'})")
    fixes = []
    if source == "synthetic" and defect_rate is not None and defect_rate > 0.5:
        share = "every synthetic scene is" if defect_rate >= 1 else f"{defect_rate:.0%} of the synthetic scenes are"
        fixes.append(f"lower --defect-rate (at {defect_rate:g} {share} given a defect that QC rejects)")
    if scene_why:
        fields = sorted({_SCENE_QC_FIELDS[k] for k in scene_why if k in _SCENE_QC_FIELDS})
        fixes.append("relax " + (", ".join(fields) or "the scene QC thresholds") + " in a --config file or accept scenes by hand (--overrides)")
    if patch_why:
        fields = sorted({_PATCH_QC_FIELDS[k] for k in patch_why if k in _PATCH_QC_FIELDS})
        fixes.append("relax " + (", ".join(fields) or "the patch QC thresholds") + " in a --config file")
    fixes.append("or process more ROIs or other seasons (--scenes-per-season, --seasons)" if fixes else "process more ROIs or other seasons (--scenes-per-season, --seasons)")
    what = "; ".join(parts) if n else "no ROI was planned"
    return SourceError(f"no patch pair passed QC, so {outcome}: of {n} scene(s), {what}",
                       fix="; ".join(fixes))
