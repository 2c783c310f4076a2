"""What a collection needs from its items, kept small: O(scenes), not O(items)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from ..errors import ValidationFailed
from .encoding import parse_datetime
from .extensions import SAR_FIELDS


SPLIT_ORDER = {"train": 0, "validate": 1, "test": 2}


@dataclass
class CollectionSummary:
    """Everything a collection needs from its items, kept small: O(scenes), not O(items)."""

    set_name: str
    n_items: int = 0
    west: float = math.inf
    south: float = math.inf
    east: float = -math.inf
    north: float = -math.inf
    crosses_antimeridian: bool = False
    start: datetime | None = None
    end: datetime | None = None
    scenes: dict[int, str] = field(default_factory=dict)  # scene index -> scene id
    scene_bboxes: dict[int, list[float]] = field(default_factory=dict)  # scene index -> union of its items' bboxes
    splits: dict[str, int] = field(default_factory=dict)  # items per split
    scene_splits: dict[str, int] = field(default_factory=dict)  # scenes per split
    platforms: set[str] = field(default_factory=set)
    constellations: set[str] = field(default_factory=set)
    instruments: set[str] = field(default_factory=set)
    orbit_states: set[str] = field(default_factory=set)
    relative_orbits: set[int] = field(default_factory=set)
    proj_codes: set[str] = field(default_factory=set)
    roi_kinds: set[str] = field(default_factory=set)
    gsd: set[float] = field(default_factory=set)
    cloud_min: float = math.inf
    cloud_max: float = -math.inf
    software: dict[str, str] = field(default_factory=dict)
    sources: set[str] = field(default_factory=set)
    scene_status: dict[str, int] = field(default_factory=dict)
    patch_positions: int = 0
    patch_rejections: dict[str, int] = field(default_factory=dict)
    polarizations: list[str] = field(default_factory=list)  # the items' sar:polarizations (v2: VV, VH)

    def add_scene_result(self, status: str, patch_positions: int, rejections: Mapping[str, int]) -> None:
        self.scene_status[status] = self.scene_status.get(status, 0) + 1
        self.patch_positions += int(patch_positions)
        for k, v in rejections.items():
            self.patch_rejections[k] = self.patch_rejections.get(k, 0) + int(v)

    def add_scene(self, scene_index: int, scene_id: str, split: str) -> None:
        self.scenes[int(scene_index)] = scene_id
        self.scene_splits[split] = self.scene_splits.get(split, 0) + 1

    def add_item(self, item: Mapping[str, Any]) -> None:
        self.n_items += 1
        w, s, e, n = item["bbox"][:4]
        p = item["properties"]
        if w > e:
            self.crosses_antimeridian = True
            w, e = -180.0, 180.0
        else:
            self.west, self.east = min(self.west, w), max(self.east, e)
        self.south, self.north = min(self.south, s), max(self.north, n)
        idx = p.get("sen12:scene_index")
        if idx is not None:
            sb = self.scene_bboxes.get(idx)
            if sb is None:
                self.scene_bboxes[idx] = [w, s, e, n]
            else:
                sb[0], sb[1], sb[2], sb[3] = min(sb[0], w), min(sb[1], s), max(sb[2], e), max(sb[3], n)
        st = parse_datetime(p.get("start_datetime") or p["datetime"], "start_datetime")
        en = parse_datetime(p.get("end_datetime") or p["datetime"], "end_datetime")
        self.start = st if self.start is None else min(self.start, st)
        self.end = en if self.end is None else max(self.end, en)
        split = p.get("ml-aoi:split")
        if split:
            self.splits[split] = self.splits.get(split, 0) + 1
        for a in item["assets"].values():
            if "platform" in a:
                self.platforms.add(a["platform"])
            if "constellation" in a:
                self.constellations.add(a["constellation"])
            self.instruments.update(a.get("instruments", ()))
        if "sat:orbit_state" in p:  # the item-level sat fields are Sentinel-1's
            self.orbit_states.add(p["sat:orbit_state"])
        if "sat:relative_orbit" in p:
            self.relative_orbits.add(int(p["sat:relative_orbit"]))
        if p.get("proj:code"):
            self.proj_codes.add(p["proj:code"])
        if "sen12:roi_kind" in p:
            self.roi_kinds.add(p["sen12:roi_kind"])
        if "gsd" in p:
            self.gsd.add(p["gsd"])
        if "eo:cloud_cover" in p:
            self.cloud_min = min(self.cloud_min, p["eo:cloud_cover"])
            self.cloud_max = max(self.cloud_max, p["eo:cloud_cover"])
        self.software.update(p.get("processing:software", {}))
        if "sen12:source" in p:
            self.sources.add(p["sen12:source"])
        for pol in p.get("sar:polarizations", ()):
            if pol not in self.polarizations:
                self.polarizations.append(pol)

    def bbox(self) -> list[float]:
        if self.n_items == 0:
            raise ValidationFailed(f"collection {self.set_name} has no items", [f"{self.set_name}: no items"], fix="publish at least one scene")
        if self.crosses_antimeridian or not math.isfinite(self.west):
            return [-180.0, self.south, 180.0, self.north]
        return [self.west, self.south, self.east, self.north]

    def extent_bboxes(self) -> list[list[float]]:
        """The overall box, then one box per scene when there are several scenes (STAC 1.1:
        further boxes describe sub-extents, and a single sub-extent is not allowed)."""
        boxes = [self.bbox()]
        if len(self.scene_bboxes) > 1:
            boxes.extend(self.scene_bboxes[i] for i in sorted(self.scene_bboxes))
        return boxes

    def summaries(self) -> dict[str, Any]:
        s: dict[str, Any] = {
            "platform": sorted(self.platforms),
            "constellation": sorted(self.constellations),
            "instruments": sorted(self.instruments),
            "gsd": sorted(self.gsd),
        }
        s = {k: v for k, v in s.items() if v}  # STAC: a summary list is never empty (unknown platforms)
        for k, v in SAR_FIELDS.items():
            s[k] = list(v) if isinstance(v, list) else [v]
        if self.polarizations and self.polarizations != SAR_FIELDS["sar:polarizations"]:
            s["sar:polarizations"] = list(self.polarizations)  # recipe v2: VV and VH
        if self.orbit_states:
            s["sat:orbit_state"] = sorted(self.orbit_states)
        if self.relative_orbits:
            s["sat:relative_orbit"] = {"minimum": min(self.relative_orbits), "maximum": max(self.relative_orbits)}
        if math.isfinite(self.cloud_min):
            s["eo:cloud_cover"] = {"minimum": self.cloud_min, "maximum": self.cloud_max}
        if self.proj_codes:
            s["proj:code"] = sorted(self.proj_codes)
        s["ml-aoi:split"] = sorted(self.splits, key=lambda k: SPLIT_ORDER.get(k, 9))
        if self.roi_kinds:
            s["sen12:roi_kind"] = sorted(self.roi_kinds)
        return s
