"""`sen12stac review` and `sen12stac diff`, end to end.

A small build is made with ``--review`` and published as 1.0.0. `sen12stac review` serves the
page; headless Chromium (tests/review_check.js) sorts a season by a metric, rejects a kept scene
with a click and a note, and rejects then clears a patch. The overrides file then holds the
scene's decision (with who/when/why); the rebuild command the page shows is run as printed,
the new build leaves the scene out, and is published as 1.1.0: `sen12stac diff` reports exactly
that scene's pairs as removed (from folders and from the real local S3 server), the decision
is published in the release, and the release notes carry the changelog.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.test_browse import PageCommand, _cli_env, browser_tools  # noqa: F401 -- the session fixture (browser build, playwright-core, chromium)

pytest_plugins = ["tests.conftest_s3"]

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts" / "review"
SPRING = "ROIs1158_spring"


def _cli(args: list[str], cwd: Path, ok: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "sen12stac.cli", *args], cwd=cwd, env=_cli_env(), capture_output=True, text=True, timeout=300)
    if ok:
        assert r.returncode == 0, f"sen12stac {' '.join(args)}:\n{r.stdout}\n{r.stderr}"
    return r


class Review(PageCommand):
    """`sen12stac review ...` as a subprocess; ``url`` is what it printed."""

    command = "review"


def _drive(tools: dict[str, str], url: str, steps: list[dict[str, Any]], tmp: Path) -> dict[str, Any]:
    spec = tmp / "review-spec.json"
    spec.write_text(json.dumps({"executablePath": tools["chromium"], "timeoutMs": 30000, "url": url, "steps": steps}))
    r = subprocess.run([tools["node"], str(REPO / "tests" / "review_check.js"), str(spec)], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "NODE_PATH": tools["node_modules"]})
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(r.stdout)
    assert report["ok"], f"step {report['step']}: {report['error']}\n{report.get('text', '')[:3000]}"
    assert report["external"] == [], report["external"]
    return report


def _items(release: Path) -> set[str]:
    return set(pq.read_table(next(release.glob(f"{SPRING}/*.parquet")), columns=["id"]).column("id").to_pylist())


@pytest.fixture(scope="module")
def first(tmp_path_factory) -> dict[str, Any]:
    """A build with --review (spring: two scenes kept, one rejected by QC) published as 1.0.0."""
    work = tmp_path_factory.mktemp("review")
    _cli(["build", "--source", "synthetic", "--out", "build", "--seasons", "spring", "--scenes-per-season", "3",
          "--workers", "0", "--scene-size", "512", "--review"], work)
    _cli(["publish", "build", "releases", "--release", "1.0.0", "--verify-cogs", "0"], work)
    summary = json.loads((work / "build" / "build-summary.json").read_text())
    kept = [s["scene_id"] for s in summary["scenes"] if s["status"] == "published"]
    assert len(kept) >= 2 and any(s["status"] == "rejected" for s in summary["scenes"]), summary["scenes"]
    return {"work": work, "summary": summary, "kept": kept}


def test_review_page_reject_a_scene_rebuild_and_diff(first, browser_tools, tmp_path):  # noqa: F811
    work = first["work"]
    scene = first["kept"][-1]
    other = first["kept"][0]
    record = json.loads((work / "build" / "review" / SPRING / f"{other}.json").read_text())
    patch = record["patches"][0]["pair_id"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    server = Review(["build", "--who", "Rev Iewer", "--port", "0"], work)
    try:
        report = _drive(browser_tools, server.url, [
            {"waitSelector": f"tr[data-scene='{scene}'] img.preview"},
            {"images": "img.preview", "as": "previews"},
            {"click": f"section[data-set='{SPRING}'] th button[data-sort='colour_cast']"},
            {"texts": f"section[data-set='{SPRING}'] td[data-metric='colour_cast']", "as": "up"},
            {"click": f"section[data-set='{SPRING}'] th button[data-sort='colour_cast']"},
            {"texts": f"section[data-set='{SPRING}'] td[data-metric='colour_cast']", "as": "down"},
            {"texts": f"section[data-set='{SPRING}'] tr[data-scene] td.status", "as": "status"},
            # a patch: rejected by a click, then cleared again
            {"click": f"tr[data-scene='{other}'] a.open"},
            {"waitSelector": f".cell[data-pair='{patch}']"},
            {"texts": ".cell.rejected", "as": "rejected_cells"},
            {"click": f".cell[data-pair='{patch}']"},
            {"fill": "#pair-note", "value": "a seam"},
            {"click": "#pair-reject"},
            {"waitText": f"saved: {patch} reject"},
            {"waitSelector": f".cell.override[data-pair='{patch}']"},
            {"click": "#pair-clear"},
            {"waitText": f"saved: {patch} cleared"},
            # the scene: rejected by a click, with a note
            {"fill": f"tr[data-scene='{scene}'] input.note", "value": "striped S1, by eye"},
            {"click": f"tr[data-scene='{scene}'] button.reject"},
            {"waitText": f"saved: {scene} reject"},
            {"texts": f"tr[data-scene='{scene}'] .decision", "as": "decision"},
            {"texts": "#command", "as": "command"},
            {"screenshot": str(ARTIFACTS / "page.png")},
        ], tmp_path)
    finally:
        server.close()
    res = report["results"]
    assert len(res["previews"]) == len(first["summary"]["scenes"]) and all(i["complete"] and i["naturalWidth"] > 0 for i in res["previews"])
    up = [float(v) for v in res["up"]]
    assert up == sorted(up) and len(set(up)) > 1 and [float(v) for v in res["down"]] == sorted(up, reverse=True)
    assert "rejected" in res["status"] and "kept" in res["status"]  # kept and rejected alike
    assert "striped S1, by eye" in res["decision"][0] and "Rev Iewer" in res["decision"][0]

    overrides = work / "build" / "review" / "overrides.json"
    held = json.loads(overrides.read_text())
    assert set(held) == {scene}  # the cleared patch is gone
    entry = held[scene]
    assert entry["decision"] == "reject" and entry["note"] == "striped S1, by eye" and entry["who"] == "Rev Iewer"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry["when"])

    # the command the page shows, run as shown
    command = shlex.split(res["command"][0].strip())
    assert command[:2] == ["sen12stac", "build"] and str(overrides) in command
    _cli(command[1:], work)
    rebuilt = Path(command[command.index("--out") + 1])
    summary = json.loads((rebuilt / "build-summary.json").read_text())
    status = {s["scene_id"]: (s["status"], s["override"]) for s in summary["scenes"]}
    assert status[scene] == ("rejected", "reject")
    assert not list((rebuilt / SPRING).glob(f"*/{scene}_p*.json"))
    assert json.loads((rebuilt / "qc-overrides.json").read_text()) == held  # the decisions travel with the build

    _cli(["publish", str(rebuilt), "releases", "--release", "1.1.0", "--verify-cogs", "0"], work)
    v1, v2 = work / "releases" / "v1.0.0", work / "releases" / "v1.1.0"
    assert json.loads((v2 / "qc-overrides.json").read_text()) == held  # published in the release
    scene_pairs = {i for i in _items(v1) if i.startswith(scene + "_p")}
    assert scene_pairs and _items(v2) == _items(v1) - scene_pairs

    d = json.loads(_cli(["diff", str(v1), str(v2), "--json"], work).stdout)
    assert set(d["pairs"]["removed"]) == scene_pairs and len(d["pairs"]["removed"]) == len(scene_pairs)
    assert d["pairs"]["added"] == [] and d["pairs"]["changed"] == [] and d["items_with_changed_fields"] == {}
    assert d["by_season_split"] == {"spring": {"train": {"added": 0, "removed": len(scene_pairs), "changed": 0}}} or \
        sum(c["removed"] for s in d["by_season_split"].values() for c in s.values()) == len(scene_pairs)
    assert [(f["scene_id"], f["from"], f["to"], f.get("override")) for f in d["qc_flipped"]] == [(scene, "kept", "rejected", "reject")]
    assert list(d["overrides"]["added"]) == [scene]
    text = _cli(["diff", str(v1), str(v2)], work).stdout
    assert f"0 pairs added, {len(scene_pairs)} removed, 0 changed" in text.splitlines()[0]
    notes = (v2 / "RELEASE-NOTES.md").read_text()
    assert "## Changes since v1.0.0" in notes and f"{len(scene_pairs)} removed" in notes and f"QC flipped: {scene} kept -> rejected" in notes
    assert "Manual QC decisions this release was built with: `qc-overrides.json` (1)" in notes
    assert "qc-overrides.json" not in (work / "releases" / "v1.0.0" / "RELEASE-NOTES.md").read_text()  # built without any
    first["v2"] = v2


def test_diff_of_a_release_with_itself_reports_nothing(first):
    v1 = first["work"] / "releases" / "v1.0.0"
    d = json.loads(_cli(["diff", str(v1), str(v1), "--json"], first["work"]).stdout)
    assert d["pairs"] == {"added": [], "removed": [], "changed": []}
    assert d["fields"] == {} and d["qc_flipped"] == [] and d["by_season_split"] == {}
    assert not any(d["overrides"].values())
    assert "no difference" in _cli(["diff", str(v1), str(v1)], first["work"]).stdout


def test_diff_names_changed_checksums_and_fields(first, tmp_path):
    """A pair whose S2 COG checksum changed is 'changed'; one whose cloud fraction changed has that field named."""
    from sen12stac.release.diff import diff_releases, view_of
    from sen12stac.store import open_store

    v1 = first["work"] / "releases" / "v1.0.0"
    a = json.loads((v1 / "release.json").read_text())
    keys = [o["key"] for o in a["objects"]]
    key = next(k for k in keys if k.endswith(".parquet"))
    table = pq.read_table(v1 / key)
    ids = table.column("id").to_pylist()
    rows = table.to_pylist()
    rows[0]["assets"]["s2"]["file:checksum"] = "1220" + "0" * 64
    rows[1]["sen12:cloud_fraction"] = 0.5
    changed = pa.Table.from_pylist(rows, schema=table.schema)
    sink = pa.BufferOutputStream()
    pq.write_table(changed, sink)
    store = open_store(str(v1))
    new = view_of("edited", None, keys, lambda k: sink.getvalue().to_pybytes() if k == key else store.get(k))
    old = view_of("v1.0.0", "1.0.0", keys, store.get)
    d = diff_releases(old, new)
    assert d.changed == [ids[0]] and d.added == [] and d.removed == []
    assert d.fields == {"sen12:cloud_fraction": 1} and d.items_with_changed_fields == {ids[1]: ["sen12:cloud_fraction"]}
    assert "1 changed" in d.summary() and "sen12:cloud_fraction" in d.summary()


@pytest.mark.s3
def test_diff_reads_releases_in_s3(first, moto, s3_client):
    """The same difference read from the real local S3 server (1.1.0 built there directly with
    the reviewed overrides): manifests and geoparquet only."""
    assert "v2" in first, "runs after test_review_page_reject_a_scene_rebuild_and_diff"
    work = first["work"]
    bucket = "review-diff"
    s3_client.create_bucket(Bucket=bucket)
    _cli(["publish", str(work / "build"), f"s3://{bucket}/sen12", "--release", "1.0.0", "--verify-cogs", "0", "--endpoint-url", moto.endpoint_url], work)
    # 1.1.0 built straight into the bucket with the reviewed decisions (a direct build writes the changelog too)
    overrides = work / "build" / "review" / "overrides.json"
    _cli(["build", "--config", str(work / "build" / "review" / "build-config.json"), "--overrides", str(overrides),
          "--out", f"s3://{bucket}/sen12", "--release", "1.1.0", "--endpoint-url", moto.endpoint_url], work)
    local = json.loads(_cli(["diff", str(work / "releases" / "v1.0.0"), str(first["v2"]), "--json"], work).stdout)
    remote = json.loads(_cli(["diff", f"s3://{bucket}/sen12/v1.0.0", f"s3://{bucket}/sen12/v1.1.0", "--json", "--endpoint-url", moto.endpoint_url], work).stdout)
    for d in (local, remote):
        d.pop("a"), d.pop("b"), d.pop("summary")
    assert remote == local and remote["pairs"]["removed"]
    notes = s3_client.get_object(Bucket=bucket, Key="sen12/v1.1.0/RELEASE-NOTES.md")["Body"].read().decode()
    assert "## Changes since v1.0.0" in notes
    missing = _cli(["diff", f"s3://{bucket}/sen12", f"s3://{bucket}/sen12/v1.1.0", "--endpoint-url", moto.endpoint_url], work, ok=False)
    assert missing.returncode != 0 and "release.json" in missing.stderr and "Fix:" in missing.stderr, missing.stderr


def test_review_needs_a_review_build_and_the_page_token(first, tmp_path):
    work = first["work"]
    plain = _cli(["review", str(work / "releases" / "v1.0.0")], work, ok=False)
    assert plain.returncode == 2 and "--review" in plain.stderr and "Fix:" in plain.stderr, plain.stderr
    server = Review(["build", "--port", "0", "--overrides", str(tmp_path / "mine.json")], work)
    try:
        def post(body: dict, token: str | None) -> int:
            req = urllib.request.Request(server.url + "api/decide", data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json", **({"X-Review-Token": token} if token else {})})
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    return r.status
            except urllib.error.HTTPError as exc:
                return exc.code

        assert post({"id": first["kept"][0], "decision": "reject"}, None) == 403  # another site cannot post one
        with urllib.request.urlopen(server.url, timeout=10) as r:
            token = json.loads(re.search(r"const TOKEN = (\"[^\"]+\");", r.read().decode()).group(1))
        assert post({"id": "ROIs1158_spring_99", "decision": "reject"}, token) == 400  # not in the build
        assert post({"id": first["kept"][0], "decision": "maybe"}, token) == 400
        assert not (tmp_path / "mine.json").exists()
        assert post({"id": first["kept"][0], "decision": "accept", "note": "fine"}, token) == 200
        assert json.loads((tmp_path / "mine.json").read_text())[first["kept"][0]]["note"] == "fine"
    finally:
        server.close()


def test_overrides_by_pair_and_scene_accept_are_recorded(first, tmp_path):
    """A pair rejected by id leaves the build; a scene accepted by hand publishes items that say so."""
    from sen12stac.recipe.qc import load_overrides

    work = first["work"]
    rejected = next(s for s in first["summary"]["scenes"] if s["status"] == "rejected")["scene_id"]
    pair = f"{first['kept'][0]}_p2"
    records = [json.loads(p.read_text()) for p in sorted((work / "build" / "review" / SPRING).glob("*.json"))]
    qc_rejected = [p for r in records for p in r["patches"] if not p["accepted"]]
    assert qc_rejected, "the synthetic build has a patch rejected by patch QC"
    saved = qc_rejected[0]["pair_id"]
    (tmp_path / "o.csv").write_text(f"scene_id,decision,note,who,when\n{pair},reject,a seam,A,2026-01-02T03:04:05Z\n{rejected},accept,looks fine,B,\n"
                                    f"{saved},accept,edge is fine,C,\n")
    loaded = load_overrides(tmp_path / "o.csv")
    assert loaded[pair].who == "A" and loaded[pair].when == "2026-01-02T03:04:05Z" and loaded[rejected].when is None
    out = tmp_path / "b"
    _cli(["build", "--config", str(work / "build" / "review" / "build-config.json"), "--overrides", str(tmp_path / "o.csv"), "--out", str(out), "--review"], work)
    assert not list(out.glob(f"{SPRING}/*/{pair}.json"))
    record = json.loads((out / "review" / SPRING / f"{first['kept'][0]}.json").read_text())
    p = next(p for p in record["patches"] if p["pair_id"] == pair)
    assert p["accepted"] is False and p["override"] == "reject"
    items = sorted(out.glob(f"{SPRING}/*/{rejected}_p*.json"))
    assert items, "the scene accepted by hand is published"
    props = json.loads(items[0].read_text())["properties"]
    assert props["sen12:qc_override"] == {"scope": "scene", "decision": "accept", "note": "looks fine", "who": "B"}
    other = json.loads(next(p for p in sorted(out.glob(f"{SPRING}/*/{first['kept'][0]}_p*.json")) if p.stem != saved).read_text())["properties"]
    assert "sen12:qc_override" not in other  # decided by QC alone
    kept_by_hand = json.loads(next(out.glob(f"{SPRING}/*/{saved}.json")).read_text())["properties"]
    assert kept_by_hand["sen12:qc_override"] == {"scope": "pair", "decision": "accept", "note": "edge is fine", "who": "C"}
    assert kept_by_hand["sen12:qc_reasons"] == qc_rejected[0]["reasons"]  # QC's reasons stay on record
