"""What the review page shows and writes: a folder build read once (its summary and the
``review/`` records `build --review` keeps), and the overrides file the page edits.

The overrides file is the one ``sen12stac build --overrides`` reads (recipe/qc.py): an object
keyed by scene id or pair id, each ``{"decision", "note", "who", "when"}``. It starts from the
file given (when it exists) or from the decisions the build was made with
(``qc-overrides.json``), and is rewritten whole on each decision (a temporary file, then a
rename: a reader never sees half a file).
"""
from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..recipe.qc import load_overrides
from ..recipe.review import CONFIG_KEY, OVERRIDES_KEY, REVIEW_PREFIX, preview_key, record_key
from ..recipe.tiling import thumbnail_key
from ..runtime.files import write_atomic

SUMMARY = "build-summary.json"
NOTE_MAX = 500
WHO_MAX = 100
# the scene QC metrics the page offers as columns (the others are in each scene's details)
METRICS = ("cloud_fraction", "s1_nodata_fraction", "s2_nodata_fraction", "haze_index", "colour_cast")


def _set_of(scene_id: str) -> tuple[str, int]:
    set_name, _, index = scene_id.rpartition("_")
    return set_name, int(index)


@dataclass
class ReviewState:
    build: Path
    overrides_path: Path
    who: str
    scenes: dict[str, dict[str, Any]]  # scene id -> what the list shows
    records: dict[str, dict[str, Any]]  # scene id -> its review record (grid, patch outcomes)
    decisions: dict[str, dict[str, str]] = field(default_factory=dict)  # the overrides file's content
    pairs: set[str] = field(default_factory=set)

    # -- reading ---------------------------------------------------------------------------

    @classmethod
    def open(cls, build: Path, overrides: Path | None = None, who: str = "") -> "ReviewState":
        build = Path(build).resolve()
        summary_path = build / SUMMARY
        if not summary_path.is_file():
            raise ConfigError(f"{build} is not a finished folder build (no {SUMMARY})", fix="pass the folder `sen12stac build --out` wrote")
        if not (build / CONFIG_KEY).is_file():
            raise ConfigError(f"{build} was built without --review: it keeps no scene previews to review",
                              fix="build it again with --review (same options; `sen12stac build ... --review`)")
        try:
            summary = json.loads(summary_path.read_text())
            scenes_in = summary["scenes"]
        except (ValueError, KeyError, TypeError):
            raise ConfigError(f"{summary_path} is not a build summary", fix="pass the folder `sen12stac build --out` wrote") from None
        scenes: dict[str, dict[str, Any]] = {}
        records: dict[str, dict[str, Any]] = {}
        pairs: set[str] = set()
        for s in scenes_in:
            sid = s["scene_id"]
            set_name, index = _set_of(sid)
            rec_path = build / record_key(set_name, sid)
            rec = json.loads(rec_path.read_text()) if rec_path.is_file() else None
            qc = (rec or {}).get("scene_qc") or {}
            metrics = qc.get("metrics") or {}
            scenes[sid] = {
                "scene_id": sid, "set": set_name, "index": index, "status": s.get("status"),
                "reasons": s.get("reasons") or qc.get("reasons") or [], "built_override": s.get("override"),
                "patches": s.get("patches", 0), "patch_rejections": s.get("patch_rejections") or {},
                "metrics": {k: metrics.get(k) for k in METRICS}, "all_metrics": metrics,
                "preview": "data/" + preview_key(set_name, sid) if (build / preview_key(set_name, sid)).is_file() else None,
                "message": s.get("message"),
            }
            if rec is not None:
                records[sid] = rec
                pairs.update(p["pair_id"] for p in rec.get("patches", []))
        overrides_path = Path(overrides).resolve() if overrides is not None else build / REVIEW_PREFIX / "overrides.json"
        start = overrides_path if overrides_path.is_file() else (build / OVERRIDES_KEY if (build / OVERRIDES_KEY).is_file() else None)
        decisions = {k: {f: v for f, v in (("decision", o.decision), ("note", o.note), ("who", o.who), ("when", o.when)) if v}
                     for k, o in load_overrides(start).items()} if start is not None else {}
        return cls(build, overrides_path, who, scenes, records, decisions, pairs)

    def seasons(self) -> list[dict[str, Any]]:
        by_set: dict[str, list[dict[str, Any]]] = {}
        for s in self.scenes.values():
            by_set.setdefault(s["set"], []).append({**s, "override": self.decisions.get(s["scene_id"])})
        return [{"set": k, "scenes": sorted(v, key=lambda s: s["index"])} for k, v in sorted(by_set.items())]

    def scene(self, scene_id: str) -> dict[str, Any]:
        if scene_id not in self.scenes:
            raise KeyError(scene_id)
        s = self.scenes[scene_id]
        rec = self.records.get(scene_id) or {}
        patches = []
        for p in rec.get("patches", []):
            thumb = thumbnail_key(s["set"], s["index"], p["n"])
            patches.append({**p, "thumbnail": "data/" + thumb if p["accepted"] and (self.build / thumb).is_file() else None,
                            "decision": self.decisions.get(p["pair_id"])})
        return {**s, "override": self.decisions.get(scene_id), "tiled": bool(rec.get("tiled")),
                "rows": 1 + max((p["row"] for p in patches), default=-1), "cols": 1 + max((p["col"] for p in patches), default=-1),
                "patch_list": patches}

    def command(self) -> str:
        """The command that rebuilds with the decisions (into a new folder beside the build)."""
        out = self.build.with_name(self.build.name + "-reviewed")
        return " ".join(["sen12stac", "build", "--config", shlex.quote(str(self.build / CONFIG_KEY)),
                         "--overrides", shlex.quote(str(self.overrides_path)), "--out", shlex.quote(str(out)), "--review"])

    # -- writing ---------------------------------------------------------------------------

    def decide(self, key: str, decision: str, note: str = "", who: str = "", now: datetime | None = None) -> dict[str, Any]:
        """Record (or with ``decision="clear"`` remove) a decision on a scene or pair; rewrite the file."""
        if key not in self.scenes and key not in self.pairs:
            raise ConfigError(f"{key!r} is neither a scene nor a patch position of {self.build}", fix="decide on an id the page lists")
        if decision not in ("accept", "reject", "clear"):
            raise ConfigError(f"decision {decision!r}", fix="use accept, reject or clear")
        note, who = (note or "").strip(), (who or self.who or "").strip()
        if len(note) > NOTE_MAX or len(who) > WHO_MAX:
            raise ConfigError(f"the note or the name is too long (at most {NOTE_MAX} and {WHO_MAX} characters)", fix="shorten it")
        decisions = dict(self.decisions)
        if decision == "clear":
            decisions.pop(key, None)
        else:
            when = (now or datetime.now(timezone.utc)).replace(microsecond=0).isoformat().replace("+00:00", "Z")
            decisions[key] = {k: v for k, v in (("decision", decision), ("note", note), ("who", who), ("when", when)) if v}
        self._write(decisions)
        self.decisions = decisions
        return decisions.get(key) or {}

    def _write(self, decisions: dict[str, dict[str, str]]) -> None:
        path = self.overrides_path
        data = (json.dumps(dict(sorted(decisions.items())), indent=1, ensure_ascii=False) + "\n").encode()
        write_atomic(path, data, what="the overrides file", fix="pass a writable --overrides path", error=ConfigError)

