"""ML metadata in every release (croissant.json, CITATION.cff, DATASHEET.md): made at publish
from the release's catalog and counts, validated offline by mlcroissant and cffconvert, loaded
by mlcroissant (one record per pair), agreeing with STAC, in the manifest, checked by verify,
shown by STAC Browser, and added to a release made before them by `sen12stac metadata`."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from sen12stac.store.base import sha256_hex

pytest_plugins = ["tests.conftest_s3"]

from tests.test_browse import browser_tools  # noqa: E402,F401 -- the STAC Browser build, playwright-core and chromium

REPO = Path(__file__).resolve().parents[1]
EPOCH = "1796083200"  # 2026-12-01 UTC: the release date the publish states
DATE = "2026-12-01"
META = ("croissant.json", "CITATION.cff", "DATASHEET.md")
OFFLINE = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9",
           "https_proxy": "http://127.0.0.1:9", "NO_PROXY": "", "no_proxy": ""}  # any network request fails at once


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SEN12STAC_", "SOURCE_DATE_EPOCH"))}
    env.update({"PYTHONUNBUFFERED": "1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1", **extra})
    return env


def _cli(args: list[str], cwd: Path, *, ok: bool = True, **extra: str) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "sen12stac.cli", *args], cwd=cwd, env=_env(**extra), capture_output=True, text=True, timeout=600)
    if ok:
        assert r.returncode == 0, f"sen12stac {' '.join(args)}:\n{r.stdout}\n{r.stderr}"
    return r


@pytest.fixture(scope="module")
def rel(tmp_path_factory) -> dict[str, Any]:
    """Two seasons of a small synthetic build (one of its scenes rejected by QC), published as 1.0.0 into a folder."""
    work = tmp_path_factory.mktemp("meta")
    _cli(["build", "--source", "synthetic", "--out", "build", "--seasons", "spring,fall", "--scenes-per-season", "2",
          "--workers", "0", "--scene-size", "512", "--defect-rate", "0.5"], work)
    _cli(["publish", "build", "releases", "--release", "1.0.0", "--verify-cogs", "0"], work, SOURCE_DATE_EPOCH=EPOCH)
    vdir = work / "releases" / "v1.0.0"
    items = [json.loads(p.read_text()) for p in sorted(vdir.glob("*/*/*_p*.json"))]
    return {"work": work, "vdir": vdir, "items": items, "root": json.loads((vdir / "catalog.json").read_text()),
            "manifest": json.loads((vdir / "release.json").read_text()),
            "collections": [json.loads(p.read_text()) for p in sorted(vdir.glob("*/collection.json"))]}


def test_a_release_carries_its_metadata_in_the_manifest_and_linked_from_the_root(rel):
    vdir, manifest = rel["vdir"], rel["manifest"]
    listed = {o["key"]: o for o in manifest["objects"]}
    for name in META:
        data = (vdir / name).read_bytes()
        assert listed[name]["sha256"] == sha256_hex(data) and listed[name]["size"] == len(data)
    described = [link["href"] for link in rel["root"]["links"] if link["rel"] == "describedby"]
    assert {f"./{n}" for n in META} <= set(described)
    assert listed["catalog.json"]["sha256"] == sha256_hex((vdir / "catalog.json").read_bytes())
    r = _cli(["verify", str(vdir), "--no-cogs"], rel["work"])
    assert "verified" in r.stdout and "ML metadata" not in r.stdout, r.stdout


def test_croissant_validates_offline_and_mlcroissant_loads_one_record_per_pair(rel):
    vdir = rel["vdir"]
    mlc = Path(sys.executable).parent / "mlcroissant"
    r = subprocess.run([str(mlc), "validate", "--jsonld", str(vdir / "croissant.json")], capture_output=True, text=True,
                       timeout=300, env={**os.environ, **OFFLINE})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "not standard" not in r.stderr and "error" not in r.stderr.lower(), r.stderr  # official context, no problem

    import mlcroissant

    records = list(mlcroissant.Dataset(jsonld=str(vdir / "croissant.json")).records("pairs"))
    first = {k.split("/", 1)[1] for k in records[0]}
    assert first >= {"id", "split", "season", "scene", "collection", "crs", "s1", "s2", "footprint_west"}
    by_id = {}
    for rec in records:
        row = {k.split("/", 1)[1]: (v.decode() if isinstance(v, bytes) else v) for k, v in rec.items()}
        by_id.setdefault(row["id"], []).append(row)
    items = {i["id"]: i for i in rel["items"]}
    assert sorted(by_id) == sorted(items) and all(len(v) == 1 for v in by_id.values())  # one record per pair
    for item_id, (row,) in by_id.items():
        item = items[item_id]
        props = item["properties"]
        assert (row["split"], row["season"], row["scene"], row["collection"], row["crs"]) == (
            props["ml-aoi:split"], props["sen12:season"], props["sen12:scene_id"], item["collection"], props["proj:code"])
        assert [row[f"footprint_{c}"] for c in ("west", "south", "east", "north")] == pytest.approx(item["bbox"])
        for key in ("s1", "s2"):  # the asset URL leads to the pair's file (relative to its collection folder)
            path = (vdir / row["collection"] / row[key]).resolve()
            assert path.is_file() and path.name == Path(item["assets"][key]["href"]).name


def test_croissant_says_crs_resolution_bands_and_files_as_geocroissant(rel):
    doc = json.loads((rel["vdir"] / "croissant.json").read_text())
    assert doc["conformsTo"] == ["http://mlcommons.org/croissant/1.1", "http://mlcommons.org/croissant/geo/1.0"]
    assert doc["geocr:coordinateReferenceSystem"] == "EPSG:4326"
    assert doc["geocr:spatialResolution"] == {"@type": "QuantitativeValue", "value": 10.0, "unitText": "m"}
    fields = {f["name"]: f for f in doc["recordSet"][0]["field"]}
    s2 = fields["s2"]
    assert s2["geocr:bandConfiguration"]["geocr:bandNameList"] == ["B04", "B03", "B02"]
    assert [b["geocr:centerWavelength"]["value"] for b in s2["geocr:spectralBandMetadata"]] == [665.0, 560.0, 490.0]
    assert fields["s1"]["geocr:bandConfiguration"]["geocr:bandNameList"] == ["VV"]
    files = {d["@id"]: d for d in doc["distribution"]}
    for c in rel["collections"]:  # every geoparquet file, with its checksum
        key = f"{c['id']}/items.parquet"
        assert files[key]["sha256"] == sha256_hex((rel["vdir"] / key).read_bytes())
    n_s1 = len(list(rel["vdir"].glob("*/s1_*/*.tif")))
    assert files["s1-files"]["includes"] == "*/s1_*/*.tif" and files["s1-files"]["description"].startswith(f"{n_s1} files")


def test_citation_cff_is_valid_and_cites_the_paper_first(rel):
    cff = rel["vdir"] / "CITATION.cff"
    tool = Path(sys.prefix) / "tools-cffconvert" / "bin" / "cffconvert"
    tool = tool if tool.exists() else Path(shutil.which("cffconvert") or tool)
    assert tool.exists(), f"cffconvert is missing. Fix: make venv (it installs cffconvert 2.0.0 into {tool.parent.parent})"
    r = subprocess.run([str(tool), "--validate", "-i", str(cff)], capture_output=True, text=True, timeout=120, env={**os.environ, **OFFLINE})
    assert r.returncode == 0 and "valid" in r.stdout, r.stdout + r.stderr
    bib = subprocess.run([str(tool), "-i", str(cff), "-f", "bibtex"], capture_output=True, text=True, timeout=120, env={**os.environ, **OFFLINE})
    assert bib.returncode == 0 and "release 1.0.0" in bib.stdout, bib.stdout + bib.stderr
    doc = yaml.safe_load(cff.read_text())
    assert doc["type"] == "dataset" and doc["version"] == "1.0.0" and doc["date-released"] == DATE
    assert doc["preferred-citation"]["doi"] == "10.5194/isprs-annals-IV-1-141-2018"
    assert [a["family-names"] for a in doc["preferred-citation"]["authors"]] == ["Schmitt", "Hughes", "Zhu"]


def _stac_counts(items: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {"pairs": len(items)}
    for i in items:
        season, split = i["properties"]["sen12:season"], i["properties"]["ml-aoi:split"]
        for k in (f"pairs/{split}", f"pairs/{season}", f"pairs/{season}/{split}"):
            out[k] = out.get(k, 0) + 1
    return out


def _datasheet_counts(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    rows = [[c.strip() for c in ln.strip("|").split("|")] for ln in text.splitlines() if ln.startswith("| ")]
    header = next(r for r in rows if r[0] == "season")
    for r in rows:
        if len(r) == len(header) and r[-1].isdigit():
            name = "" if r[0] == "all" else f"/{r[0]}"
            out[f"pairs{name}"] = int(r[-1])
            out.update({f"pairs{name}/{s}" if name else f"pairs/{s}": int(v) for s, v in zip(header[1:-1], r[1:-1])})
    return out


def test_stac_croissant_citation_and_datasheet_agree(rel):
    """Licence, version, counts and citation, read from each of the four as a reader would."""
    vdir, items = rel["vdir"], rel["items"]
    stac_licence = {c["license"] for c in rel["collections"]}
    stac_doi = {c["sci:doi"] for c in rel["collections"]}
    counts = _stac_counts(items)  # counted from the items themselves
    assert len(stac_licence) == 1 and len(stac_doi) == 1 and len({i["properties"]["ml-aoi:split"] for i in items}) >= 1
    (licence,), (doi,) = stac_licence, stac_doi
    licence_url = next(link["href"] for link in rel["root"]["links"] if link["rel"] == "license" and link["href"].startswith("https"))
    version = rel["root"]["version"]

    croissant = json.loads((vdir / "croissant.json").read_text())
    assert croissant["version"] == version and croissant["license"] == licence_url and croissant["datePublished"] == DATE
    assert croissant["isBasedOn"]["identifier"] == f"https://doi.org/{doi}"
    assert {p["name"]: p["value"] for p in croissant["additionalProperty"] if p["name"].startswith("pairs")} == counts

    cff = yaml.safe_load((vdir / "CITATION.cff").read_text())
    assert (cff["version"], cff["license"], cff["preferred-citation"]["doi"]) == (version, licence, doi)
    assert f"holds {counts['pairs']} patch pairs" in cff["abstract"]
    for season in {i["properties"]["sen12:season"] for i in items}:
        assert f"{season} {counts[f'pairs/{season}']} (" in cff["abstract"]

    sheet = (vdir / "DATASHEET.md").read_text()
    assert sheet.startswith(f"# Datasheet: {rel['root']['title']}, release {version}\n")
    assert f"Licence (SPDX): {licence} ({licence_url})." in sheet and f"doi:{doi}" in sheet
    assert _datasheet_counts(sheet) == counts
    summary = json.loads((vdir / "build-summary.json").read_text())
    for name, season in summary["seasons"].items():  # what QC rejected, as the build counted it
        assert f"| {name} | {season['rois_sampled']} |" in sheet
        for reason, n in season["patch_rejections"].items():
            assert f"{reason} {n}" in sheet
    assert counts["pairs"] == rel["manifest"]["counts"]["items"]


def test_verify_finds_a_metadata_file_that_disagrees_with_the_catalog(rel, tmp_path):
    """A file whose checksum matches the manifest but whose counts do not (edited, manifest
    updated to match): verify compares what it says, not only its bytes."""
    copy = tmp_path / "releases"
    shutil.copytree(rel["work"] / "releases", copy)
    vdir = copy / "v1.0.0"
    sheet = (vdir / "DATASHEET.md").read_text()
    n = rel["manifest"]["counts"]["items"]
    edited = sheet.replace(f"| {n} |\n", f"| {n + 1} |\n", 1).encode()
    assert edited != sheet.encode()
    (vdir / "DATASHEET.md").write_bytes(edited)
    manifest = (vdir / "release.json").read_text()
    old = next(o for o in json.loads(manifest)["objects"] if o["key"] == "DATASHEET.md")
    import hashlib

    new = {"key": "DATASHEET.md", "size": len(edited), "sha256": sha256_hex(edited), "md5": hashlib.md5(edited).hexdigest()}
    (vdir / "release.json").write_text(manifest.replace(json.dumps(old, separators=(",", ":")), json.dumps(new, separators=(",", ":"))))
    r = _cli(["verify", str(vdir), "--no-cogs"], tmp_path, ok=False)
    assert r.returncode == 6, r.stdout + r.stderr
    assert "DATASHEET.md counts differ from release.json" in r.stderr, r.stderr


def _strip_metadata(vdir: Path) -> None:
    """Make the release look like one published before the metadata existed."""
    for name in META:
        (vdir / name).unlink()
    root = json.loads((vdir / "catalog.json").read_text())
    root["links"] = [link for link in root["links"] if link["href"].removeprefix("./") not in META]
    root_bytes = (json.dumps(root, indent=2, ensure_ascii=False) + "\n").encode()
    (vdir / "catalog.json").write_bytes(root_bytes)
    import hashlib

    manifest = json.loads((vdir / "release.json").read_text())
    objects = [o for o in manifest.pop("objects") if o["key"] not in META]
    members = manifest.pop("members", [])  # the training shards' lines stay as they were
    for o in objects:
        if o["key"] == "catalog.json":
            o.update(size=len(root_bytes), sha256=sha256_hex(root_bytes), md5=hashlib.md5(root_bytes).hexdigest())
    manifest["totals"] = {"objects": len(objects), "bytes": sum(o["size"] for o in objects)}
    from sen12stac.release.manifest import manifest_bytes

    (vdir / "release.json").write_bytes(manifest_bytes(manifest, objects, members))


def test_metadata_command_gives_an_older_folder_release_the_same_files_publish_writes(rel, tmp_path):
    copy = tmp_path / "releases"
    shutil.copytree(rel["work"] / "releases", copy)
    vdir = copy / "v1.0.0"
    _strip_metadata(vdir)
    r = _cli(["verify", str(vdir), "--no-cogs"], tmp_path)  # an older release verifies, saying it has none
    assert "this release has none" in r.stdout, r.stdout
    r = _cli(["metadata", str(vdir)], tmp_path, SOURCE_DATE_EPOCH=EPOCH)
    assert "wrote croissant.json, CITATION.cff, DATASHEET.md, release.json, catalog.json" in r.stdout, r.stdout
    for name in (*META, "catalog.json", "release.json"):  # byte for byte what publish wrote
        assert (vdir / name).read_text() == (rel["vdir"] / name).read_text(), name
    _cli(["verify", str(vdir), "--no-cogs"], tmp_path)
    again = _cli(["metadata", str(vdir)], tmp_path)  # another day, nothing to do: the date is kept
    assert "nothing changed" in again.stdout, again.stdout
    assert (vdir / "CITATION.cff").read_bytes() == (rel["vdir"] / "CITATION.cff").read_bytes()


def test_metadata_command_refuses_what_it_cannot_change(rel, tmp_path):
    r = _cli(["metadata", "s3://some-bucket/sen1-2/v1.0.0"], tmp_path, ok=False, **OFFLINE)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 7 and len(lines) == 1, r.stderr
    assert "immutable" in lines[0] and "--release NEXT" in lines[0] and "Fix:" in lines[0]
    build = rel["work"] / "build"
    before = sorted(p.relative_to(build) for p in build.rglob("*"))
    r = _cli(["metadata", str(build / "v1.0.0")], tmp_path, ok=False)  # not a release: no release.json there
    assert r.returncode == 7 and "is not a release" in r.stderr and "Fix:" in r.stderr, r.stderr
    assert sorted(p.relative_to(build) for p in build.rglob("*")) == before


def test_a_resumed_publish_keeps_the_release_date(rel, tmp_path):
    """Interrupted before its commit and resumed on another day, a publish plans the same bytes."""
    dest = tmp_path / "releases"
    _cli(["publish", str(rel["work"] / "build"), str(dest), "--release", "1.0.0", "--verify-cogs", "0"], tmp_path, SOURCE_DATE_EPOCH=EPOCH)
    for name in ("catalog.json", "release.json"):  # as if killed before the commit point
        (dest / "v1.0.0" / name).unlink()
    (dest / "catalog.json").unlink()
    _cli(["publish", str(rel["work"] / "build"), str(dest), "--release", "1.0.0", "--verify-cogs", "0"], tmp_path,
         SOURCE_DATE_EPOCH=str(int(EPOCH) + 3 * 86400))
    for name in (*META, "catalog.json", "release.json"):
        assert (dest / "v1.0.0" / name).read_bytes() == (rel["vdir"] / name).read_bytes(), name


def test_bands_and_texts_come_from_the_release_catalog_not_from_v1():
    """A v2-shaped catalog (12 S2 bands, VV+VH, a label with classes) is described as it is."""
    from sen12stac.metadata.croissant import croissant
    from sen12stac.metadata.datasheet import datasheet_md
    from sen12stac.metadata.facts import ReleaseFacts

    names = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12"]
    waves = [0.443, 0.49, 0.56, 0.665, 0.704, 0.74, 0.783, 0.842, 0.865, 0.945, 1.61, 2.19]
    collection = {
        "id": "ROIs1158_spring", "license": "CC-BY-4.0", "sci:doi": "10.5194/isprs-annals-IV-1-141-2018", "keywords": ["x"],
        "extent": {"spatial": {"bbox": [[1.0, 2.0, 3.0, 4.0]]}, "temporal": {"interval": [["2017-03-01T00:00:00Z", "2017-05-30T00:00:00Z"]]}},
        "summaries": {"gsd": [10.0], "proj:code": ["EPSG:32631"]},
        "providers": [{"name": "p", "roles": ["processor"], "processing:lineage": "v2 lineage: no cut, no stretch"}],
        "item_assets": {
            "s1": {"title": "S1 VV+VH", "type": "image/tiff", "roles": ["data"], "bands": [{"name": "VV"}, {"name": "VH"}]},
            "s2": {"title": "S2 L2A", "type": "image/tiff", "roles": ["data"],
                   "bands": [{"name": n, "eo:center_wavelength": w, "data_type": "uint16"} for n, w in zip(names, waves)]},
            "label": {"title": "WorldCover", "type": "image/tiff", "roles": ["data"], "bands": [{"name": "class", "data_type": "uint8"}],
                      "classification:classes": [{"value": 10, "name": "tree_cover"}, {"value": 80, "name": "permanent_water_bodies"}]},
            "thumbnail": {"title": "t", "type": "image/jpeg", "roles": ["thumbnail"]},
        },
    }
    facts = ReleaseFacts(version="2.0.0", date=DATE, root={"id": "sen1-2-v2", "title": "SEN1-2 v2", "description": "v2 text", "sen12:recipe": "v2"},
                         collections={"ROIs1158_spring/collection.json": collection},
                         counts={"items": 3, "by_split": {"train": 3}, "by_season": {"spring": {"items": 3, "train": 3}}},
                         summary=None, files={})
    doc = croissant(facts)
    fields = {f["name"]: f for f in doc["recordSet"][0]["field"]}
    assert fields["s2"]["geocr:bandConfiguration"]["geocr:totalBands"] == 12
    assert fields["s2"]["geocr:bandConfiguration"]["geocr:bandNameList"] == names
    assert fields["s1"]["geocr:bandConfiguration"]["geocr:bandNameList"] == ["VV", "VH"]
    assert "label" in fields and "permanent_water_bodies" in fields["label"]["geocr:bandConfiguration"]["description"]
    assert "thumbnail" not in fields and doc["name"] == "sen1-2-v2"
    sheet = datasheet_md(facts)
    assert "recipe `v2`" in sheet and "v2 lineage: no cut, no stretch" in sheet and "B8A" in sheet and "80 = permanent_water_bodies" in sheet
    assert "B4/B3/B2" not in sheet and "uint8 Cloud" not in sheet


@pytest.mark.s3
def test_a_build_straight_into_a_release_carries_its_metadata(tmp_path, moto, bucket, s3_client):
    from tests.s3server import TEST_ACCESS_KEY, TEST_SECRET_KEY

    url = f"s3://{bucket}/sen1-2"
    env = {"AWS_ACCESS_KEY_ID": TEST_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": TEST_SECRET_KEY, "SEN12STAC_S3_ENDPOINT_URL": moto.endpoint_url,
           "SOURCE_DATE_EPOCH": EPOCH}
    _cli(["build", "--source", "synthetic", "--out", url, "--release", "1.0.0", "--seasons", "spring", "--scenes-per-season", "1",
          "--workers", "0", "--scene-size", "512"], tmp_path, **env)
    keys = {o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket, Prefix="sen1-2/v1.0.0/")["Contents"]}
    assert {f"sen1-2/v1.0.0/{n}" for n in META} <= keys
    manifest = json.loads(s3_client.get_object(Bucket=bucket, Key="sen1-2/v1.0.0/release.json")["Body"].read())
    assert set(META) <= {o["key"] for o in manifest["objects"]}
    cff = yaml.safe_load(s3_client.get_object(Bucket=bucket, Key="sen1-2/v1.0.0/CITATION.cff")["Body"].read())
    assert cff["date-released"] == DATE and f"holds {manifest['counts']['items']} patch pairs" in cff["abstract"]
    r = _cli(["verify", f"{url}/v1.0.0", "--no-cogs"], tmp_path, **env)
    assert "ML metadata" not in r.stdout, r.stdout
    assert re.search(r"verified", r.stdout)


def test_stac_browser_lists_the_metadata_files_on_the_root(rel, browser_tools, tmp_path):
    """Headless Chromium on `sen12stac browse RELEASE`: the root page lists the three files (its
    "Additional Resources") and links each to the release's own copy."""
    from tests.test_browse import Browse, _drive

    titles = {link["href"].removeprefix("./"): link["title"] for link in rel["root"]["links"] if link["rel"] == "describedby"}
    server = Browse([str(rel["vdir"])], rel["work"])
    try:
        report = _drive(browser_tools, [{"name": "root", "url": server.url + "#/", "waitText": [titles[n] for n in META], "settleMs": 500}], tmp_path)
    finally:
        server.close()
    (page,) = report["pages"]
    assert page["ok"], f"{page['error']}\n{page['text'][:2000]}"
    shown = {link["href"] for link in page["links"]}
    assert {f"{server.url}data/v1.0.0/{n}" for n in META} <= shown, shown
    assert not [e for e in page.get("consoleErrors", []) if "TypeError" in e], page["consoleErrors"]


def test_readme_croissant_snippet_runs_as_printed(rel, tmp_path):
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Croissant", 1)[1].split("\n#", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    (tmp_path / "releases").symlink_to(rel["work"] / "releases")
    (tmp_path / "snippet.py").write_text(code)
    r = subprocess.run([sys.executable, "snippet.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert sorted(line.split()[0] for line in r.stdout.splitlines()) == sorted(i["id"] for i in rel["items"])
