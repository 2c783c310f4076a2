"""A human QC decision on an item: ``sen12:qc_override`` (docs/review.md).

An item carries it when a manual decision made it published: its scene accepted by hand
(``scope: scene``) or the pair itself (``scope: pair``), with the decision, the note (why),
who and when, as given in the overrides file the build read. Rejections leave no item; they
are in the release's ``qc-overrides.json``. An item without the field was decided by QC alone.
"""
from __future__ import annotations

from typing import Any


def manual_decision(record: Any) -> dict[str, Any] | None:
    """The item's ``sen12:qc_override`` (None: QC alone decided); the pair's own decision wins."""
    for scope, qc in (("pair", record.qc), ("scene", record.scene_qc)):
        decision = getattr(qc, "override", None)
        if decision is not None:
            out = {"scope": scope, "decision": decision}
            for field, attr in (("note", "override_note"), ("who", "override_who"), ("when", "override_when")):
                value = getattr(qc, attr, None)
                if value is not None:
                    out[field] = value
            return out
    return None
