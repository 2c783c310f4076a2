"""Recipe v1 stays byte-identical: a small v1 build hashes to the bytes main's code wrote before
recipe v2 existed (tests/data/v1_build_hashes.json).

Regenerate only on purpose, from the code whose bytes are the reference:
``python tests/test_v1_unchanged.py --write`` (it builds with whatever sen12stac it imports).
Left out of the comparison: the stac-geoparquet files and the ROI maps, whose bytes follow the
pyarrow and matplotlib versions (their content is covered by tests/test_geoparquet.py and the
items they are made of), and build-summary.json (timings).
"""
from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

HASHES = Path(__file__).parent / "data" / "v1_build_hashes.json"
# layout="cogs": the per-file layout, the only one when the reference was written; the default
# (both) adds the training shards and their alternate assets to the same files (docs/shards.md)
CFG = dict(seasons=("spring", "fall"), scenes_per_season=3, workers=0, scene_size_px=640, defect_rate=0.3, layout="cogs")


def _skip(rel: str) -> bool:
    return rel.endswith((".parquet", "roi_map.png")) or rel == "build-summary.json"


def build_hashes(out: Path) -> dict[str, str]:
    from sen12stac.config import make_config
    from sen12stac.pipeline import build
    from sen12stac.store import LocalStore

    summary = build(make_config(**CFG), LocalStore(out))
    assert summary.patches_published > 0
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file() and not _skip(p.relative_to(out).as_posix())}


def test_a_small_v1_build_has_mains_bytes(tmp_path):
    want = json.loads(HASHES.read_text())
    got = build_hashes(tmp_path)
    assert sorted(got) == sorted(want["files"]), "the v1 build writes other files than before"
    changed = sorted(k for k in want["files"] if got[k] != want["files"][k])
    assert not changed, f"{len(changed)} v1 file(s) changed bytes, e.g. {changed[:5]}"


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_v1_unchanged.py --write")
    with tempfile.TemporaryDirectory() as tmp:
        files = build_hashes(Path(tmp))
    HASHES.parent.mkdir(exist_ok=True)
    HASHES.write_text(json.dumps({"config": CFG, "files": files}, indent=1, sort_keys=True) + "\n")
    print(f"{len(files)} files -> {HASHES}")
