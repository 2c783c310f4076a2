"""`sen12stac browse` end to end in headless Chromium (Debian's chromium driven by playwright-core).

A small release is built and published twice: into a folder, and into the real local S3
server (made public with `sen12stac infra apply`). `sen12stac browse` serves STAC Browser on
each; Chromium opens the root, the season collection and one item, and the test asserts
what a researcher must see: the release version and citation on the root, the ROI map and
contact sheet on the season, the item's title, split, thumbnail, both acquisitions (S1/S2
platforms and dates), QC metrics and links to the two COGs. Every request Chromium makes to
a host other than 127.0.0.1 is recorded and refused: only basemap tiles may try.

Screenshots are kept in test-artifacts/browse/ (git-ignored; the paths are printed).
The browser build and playwright-core come from scripts/build-stac-browser.sh --test-tools,
which `make test` runs before pytest; a missing build fails here (never a skip).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.s3server import TEST_ACCESS_KEY, TEST_SECRET_KEY

pytest_plugins = ["tests.conftest_s3", "tests.apifixtures"]

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts" / "browse"
SEASON = "ROIs1158_spring"
TILE_HOSTS = re.compile(r"^https://([a-c]\.)?tile\.openstreetmap\.org/")


def _cache_root() -> Path:
    env = os.environ.get("SEN12STAC_BROWSER_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sen12stac"


@pytest.fixture(scope="session")
def browser_tools() -> dict[str, str]:
    from sen12stac.browse import build_dir, build_is_ready

    cache = _cache_root()
    dist = build_dir(cache)
    script = REPO / "scripts" / "build-stac-browser.sh"
    tools = subprocess.run(["bash", str(script), "--print-dir"], capture_output=True, text=True, env={**os.environ, "SEN12STAC_BROWSER_CACHE": str(cache)})
    assert tools.returncode == 0 and Path(tools.stdout.strip()) == dist.parent, tools.stderr
    node_modules = next(iter(sorted(cache.glob("playwright-core-*/node_modules"))), None)
    missing = []
    if not build_is_ready(dist):
        missing.append(f"STAC Browser build in {dist}")
    if node_modules is None or not (node_modules / "playwright-core").is_dir():
        missing.append(f"playwright-core under {cache}")
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        missing.append("chromium (scripts/system-deps.sh)")
    node = shutil.which("node")
    if not node:
        missing.append("node (scripts/system-deps.sh)")
    assert not missing, f"missing: {', '.join(missing)}. Fix: bash scripts/build-stac-browser.sh --test-tools (make test runs it)"
    return {"cache": str(cache), "node_modules": str(node_modules), "chromium": chromium, "node": node}


def _cli_env(moto=None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SEN12STAC_"))}
    env.update(AWS_ACCESS_KEY_ID=TEST_ACCESS_KEY, AWS_SECRET_ACCESS_KEY=TEST_SECRET_KEY, AWS_DEFAULT_REGION="us-east-1",
               PYTHONUNBUFFERED="1", SEN12STAC_BROWSER_CACHE=str(_cache_root()))
    return env


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "sen12stac.cli", *args], cwd=cwd, env=_cli_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"sen12stac {' '.join(args)}:\n{r.stdout}\n{r.stderr}"
    return r


@pytest.fixture(scope="module")
def release(tmp_path_factory, moto, s3_client) -> dict[str, Any]:
    """One small build, published as 1.0.0 into a folder and into a public bucket on the local S3 server."""
    work = tmp_path_factory.mktemp("browse")
    _cli(["build", "--source", "synthetic", "--out", "build", "--seasons", "spring", "--scenes-per-season", "2",
          "--workers", "0", "--scene-size", "512"], work)
    _cli(["publish", "build", "releases", "--release", "1.0.0", "--verify-cogs", "0"], work)
    bucket = "browse-release"
    s3_client.create_bucket(Bucket=bucket)
    _cli(["publish", "build", f"s3://{bucket}/sen12", "--release", "1.0.0", "--verify-cogs", "0", "--endpoint-url", moto.endpoint_url], work)
    _cli(["infra", "apply", f"s3://{bucket}/sen12", "--public", "--allow-http", "--endpoint-url", moto.endpoint_url], work)
    item_path = sorted((work / "releases" / "v1.0.0" / SEASON).glob("*/*_p*.json"))[0]
    return {"work": work, "bucket": bucket, "item_path": item_path, "item": json.loads(item_path.read_text()),
            "item_rel": item_path.relative_to(work / "releases" / "v1.0.0").as_posix(),
            "root": json.loads((work / "releases" / "v1.0.0" / "catalog.json").read_text())}


class PageCommand:
    """A command that serves a page (`sen12stac browse ...`, `sen12stac review ...`) as a
    subprocess; ``url`` is the address it printed, ``printed`` that line."""

    command = "browse"

    def __init__(self, args: list[str], cwd: Path):
        self.proc = subprocess.Popen([sys.executable, "-m", "sen12stac.cli", self.command, *args], cwd=cwd, env=_cli_env(),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline, line = time.monotonic() + 60, ""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            m = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
            if m:
                self.url = m.group(1)
                self.printed = line
                return
            if self.proc.poll() is not None:
                break
        self.close()
        raise AssertionError(f"{self.command} printed no URL: {line!r} {self.proc.stderr.read() if self.proc.stderr else ''}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


class Browse(PageCommand):
    command = "browse"


def _drive(tools: dict[str, str], pages: list[dict[str, Any]], tmp: Path) -> dict[str, Any]:
    spec = tmp / "spec.json"
    spec.write_text(json.dumps({"executablePath": tools["chromium"], "timeoutMs": 30000, "pages": pages}))
    env = {**os.environ, "NODE_PATH": tools["node_modules"]}
    r = subprocess.run([tools["node"], str(REPO / "tests" / "browser_check.js"), str(spec)], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


def _us_date(iso: str) -> str:
    """How STAC Browser (locale en) prints a datetime's date: 4/17/2017."""
    d = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return f"{d.month}/{d.day}/{d.year}"


def _fresh_artifacts(tag: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob(f"{tag}-*.png"):
        old.unlink()


def _pages(base: str, prefix: str, rel: dict[str, Any], tag: str) -> list[dict[str, Any]]:
    item = rel["item"]
    props, assets = item["properties"], item["assets"]
    thumb = assets["thumbnail"]["href"].rsplit("/", 1)[-1]
    _fresh_artifacts(tag)
    pages = []
    if prefix:  # the landing catalog above the releases
        pages.append({"name": "landing", "url": base, "waitText": ["1.0.0"], "screenshot": str(ARTIFACTS / f"{tag}-landing.png")})
    return pages + [
        {"name": "root", "url": base + "#/" + (prefix + "catalog.json" if prefix else ""), "waitText": [rel["root"]["title"], "1.0.0"],
         "screenshot": str(ARTIFACTS / f"{tag}-root.png")},
        {"name": "collection", "url": base + f"#/{prefix}{SEASON}/collection.json", "waitText": ["Contact sheet", "Map of the regions of interest"],
         "waitImages": ["roi_map.png", "contact_sheet.png"], "screenshot": str(ARTIFACTS / f"{tag}-collection.png")},
        {"name": "item", "url": base + f"#/{prefix}{rel['item_rel']}", "waitText": [props["title"], props["ml-aoi:split"]],
         "waitImages": [thumb], "click": [assets["s1"]["title"], assets["s2"]["title"]], "settleMs": 1500, "clickTabs": ["Thumbnails"],
         "waitTextAfterClick": [assets["s1"]["platform"], assets["s2"]["platform"]],
         "screenshot": str(ARTIFACTS / f"{tag}-item.png")},
    ]


def _check(report: dict[str, Any], rel: dict[str, Any], data_base: str) -> None:
    pages = {p["name"]: p for p in report["pages"]}
    for p in report["pages"]:
        assert p["ok"], f"{p['name']} ({p['url']}): {p['error']}\n{p['text'][:2000]}"
    # nothing from the internet but (refused) basemap tiles
    assert all(TILE_HOSTS.match(u) for u in report["external"]), [u for u in report["external"] if not TILE_HOSTS.match(u)]

    root = pages["root"]["text"]
    assert rel["root"]["title"] in root
    assert "Schmitt, M., Hughes, L. H., and Zhu, X. X." in root          # citation (cite-as)
    assert "CC BY 4.0" in root or "CC-BY-4.0" in root                     # licence
    assert re.search(r"Version\s+1\.0\.0", root), root[:3000]             # release version (version extension)

    coll = pages["collection"]
    loaded = {i["src"].rsplit("/", 1)[-1] for i in coll["images"] if i["naturalWidth"] > 0}
    assert {"roi_map.png", "contact_sheet.png"} <= loaded, coll["images"]
    assert "CC-BY-4.0" in coll["text"] or "CC BY 4.0" in coll["text"]

    item, page = rel["item"], pages["item"]
    props, assets = item["properties"], item["assets"]
    text = page["text"]
    assert props["title"] in text and props["title"] != item["id"]
    assert re.search(r"Split\s+" + props["ml-aoi:split"], text), "split not shown"
    thumb = assets["thumbnail"]["href"].rsplit("/", 1)[-1]
    shown = [i for i in page["images"] if i["src"].endswith(thumb) and i["naturalWidth"] > 0 and i["width"] > 50]
    assert shown, f"thumbnail {thumb} not shown: {page['images']}"
    assert page["mapCanvases"] > 0  # the map with the footprint
    for key in ("s1", "s2"):  # both acquisitions at a glance, in the item's description
        assert f"Sentinel-{key[1]}: {assets[key]['platform']}, {assets[key]['datetime']}" in text
    for key, after_click in zip(("s1", "s2"), page["clickTexts"]):  # and in each asset's own fields  # both acquisitions: platform, date, orbit
        assert assets[key]["platform"] in after_click
        assert _us_date(assets[key]["datetime"]) in after_click, (key, assets[key]["datetime"])
        assert re.search(r"Rel\. Orbit Number\s+" + str(assets[key]["sat:relative_orbit"]), after_click), key
    # Expanding the S2 asset (role visual) draws the COG itself on the map: true colour, not black
    # (it was black while the bands' statistics held physical values).
    assert _map_is_drawn(page["screenshot"].replace(".png", "-click2.png"), page["clickMapRects"][1])
    for label in ("Cloud Fraction", "Nodata Fraction", "Seamline", "Qc Reasons"):  # the pair's QC metrics
        assert label in text
    cogs = {l["href"] for l in page["links"] if l["href"].endswith(".tif")}
    expected = {data_base + (Path(rel["item_rel"]).parent / assets[k]["href"]).as_posix() for k in ("s1", "s2")}
    normalise = lambda u: re.sub(r"/[^/]+/\.\./", "/", u)  # noqa: E731
    assert {normalise(u) for u in expected} <= {normalise(u) for u in cogs}, (expected, cogs)


def _map_is_drawn(screenshot: str, rect: dict[str, float] | None) -> bool:
    """The middle of the map (where the patch is) is drawn, not black: with the bug every pixel
    there was (0, 0, 0); the synthetic scene's darkest surface (water) is about (20, 25, 50)."""
    import numpy as np
    from PIL import Image

    assert rect, "no map on the page"
    x, y, w, h = rect["x"], rect["y"], rect["width"], rect["height"]
    box = (int(x + 0.3 * w), int(y + 0.3 * h), int(x + 0.7 * w), int(y + 0.7 * h))
    px = np.asarray(Image.open(screenshot).convert("RGB").crop(box)).reshape(-1, 3).astype(int)
    black = px.max(axis=1) < 12
    return bool(black.mean() < 0.5)


def _print_artifacts(capsys, tag: str) -> None:
    with capsys.disabled():
        print(f"\n[browse] screenshots: {ARTIFACTS}/{tag}-{{root,collection,item}}.png", file=sys.stderr)


def test_browse_a_release_folder(release, browser_tools, tmp_path, capsys):
    server = Browse([str(release["work"] / "releases" / "v1.0.0")], release["work"])
    try:
        assert "folder" in server.printed
        import urllib.request

        with urllib.request.urlopen(server.url + "data/catalog.json", timeout=10) as r:  # the landing catalog beside the release
            assert "1.0.0" in r.read().decode()
        report = _drive(browser_tools, _pages(server.url, "", release, "folder"), tmp_path)
    finally:
        server.close()
    _print_artifacts(capsys, "folder")
    _check(report, release, server.url + "data/v1.0.0/")  # the releases folder is served, so the landing catalog resolves too


@pytest.mark.s3
def test_browse_a_release_in_s3(release, browser_tools, moto, tmp_path, capsys):
    bucket = release["bucket"]
    server = Browse([f"s3://{bucket}/sen12", "--endpoint-url", moto.endpoint_url], release["work"])
    try:
        assert f"{moto.endpoint_url}/{bucket}/sen12/catalog.json" in server.printed
        report = _drive(browser_tools, _pages(server.url, "v1.0.0/", release, "s3"), tmp_path)
    finally:
        server.close()
    _print_artifacts(capsys, "s3")
    _check(report, release, f"{moto.endpoint_url}/{bucket}/sen12/v1.0.0/")


def test_browse_a_stac_api(api_url, built_release, browser_tools, tmp_path, capsys):
    """`sen12stac browse --api URL` on the API `sen12stac api serve` runs (real PostgreSQL + pgstac):
    the landing page lists the seasons, a collection and an item open, and the search form works."""
    item_path = sorted(built_release.glob("ROIs*/*/*_p*.json"))[0]
    item = json.loads(item_path.read_text())
    coll = json.loads((built_release / item["collection"] / "collection.json").read_text())
    server = Browse(["--api", api_url + "/"], tmp_path)
    try:
        assert "api" in server.printed and api_url in server.printed
        _fresh_artifacts("api")
        pages = [
            {"name": "landing", "url": server.url, "waitText": ["SEN1-2 (sen12stac)", coll["title"]], "screenshot": str(ARTIFACTS / "api-landing.png")},
            {"name": "collection", "url": server.url + f"#/collections/{coll['id']}", "waitText": [coll["title"], "CC-BY-4.0"],
             "screenshot": str(ARTIFACTS / "api-collection.png")},
            {"name": "item", "url": server.url + f"#/collections/{coll['id']}/items/{item['id']}",
             "waitText": [item["properties"]["title"], item["properties"]["ml-aoi:split"]], "screenshot": str(ARTIFACTS / "api-item.png")},
            {"name": "search", "url": server.url + "#/search", "waitText": ["Search for Items"], "click": ["Search for Items", "Submit"],
             "waitTextAfterClick": ["Submit", ", pair "], "settleMs": 500, "screenshot": str(ARTIFACTS / "api-search.png")},
        ]
        report = _drive(browser_tools, pages, tmp_path)
    finally:
        server.close()
    with capsys.disabled():
        print(f"\n[browse] screenshots: {ARTIFACTS}/api-{{landing,collection,item,search}}.png", file=sys.stderr)
    for p in report["pages"]:
        assert p["ok"], f"{p['name']} ({p['url']}): {p['error']}\n{p['text'][:2000]}"
    assert all(TILE_HOSTS.match(u) for u in report["external"]), report["external"]
    page = {p["name"]: p for p in report["pages"]}["item"]
    assert re.search(r"Split\s+" + item["properties"]["ml-aoi:split"], page["text"])
    for key in ("s1", "s2"):
        assert f"Sentinel-{key[1]}: {item['assets'][key]['platform']}" in page["text"]
    assert page["mapCanvases"] > 0
    found = {p["name"]: p for p in report["pages"]}["search"]["clickTexts"][-1]  # item search over the API
    assert re.search(r"ROIs\d+_\w+ scene \d+, pair \d+", found)


@pytest.mark.s3
def test_browse_refuses_what_a_browser_could_not_read(tmp_path, moto, s3_client, bucket):
    missing = subprocess.run([sys.executable, "-m", "sen12stac.cli", "browse", str(tmp_path / "nothing-here")], env=_cli_env(), capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "nothing-here" in missing.stderr and "Fix:" in missing.stderr, missing.stderr
    s3_client.put_object(Bucket=bucket, Key="sen12/catalog.json", Body=b'{"type": "Catalog", "links": []}')
    private = subprocess.run([sys.executable, "-m", "sen12stac.cli", "browse", f"s3://{bucket}/sen12", "--endpoint-url", moto.endpoint_url],
                             env=_cli_env(), capture_output=True, text=True, timeout=60)
    assert private.returncode == 4 and "403" in private.stderr and "infra apply" in private.stderr, private.stderr
    both = subprocess.run([sys.executable, "-m", "sen12stac.cli", "browse", str(tmp_path), "--api", "http://127.0.0.1:9/"], env=_cli_env(), capture_output=True, text=True, timeout=60)
    assert both.returncode == 2 and "--api" in both.stderr
    down = subprocess.run([sys.executable, "-m", "sen12stac.cli", "browse", "--api", "http://127.0.0.1:9/"], env=_cli_env(), capture_output=True, text=True, timeout=60)
    assert down.returncode == 4 and "127.0.0.1:9" in down.stderr and "Fix:" in down.stderr, down.stderr


def test_the_build_is_made_once_lazily_and_failures_are_clear(tmp_path):
    """ensure_build: a ready build is used as is; a missing one runs the project script with the
    cache folder, and a script that leaves no build is one clear error."""
    from sen12stac import browse
    from sen12stac.errors import ConfigError

    calls = []

    def fake_build(cmd):  # stands in for npm: writes what the real script leaves behind
        calls.append(cmd)
        dist = browse.build_dir(Path(cmd[cmd.index("--cache") + 1]))
        dist.mkdir(parents=True)
        (dist / "index.html").write_text("<html></html>")
        (dist / browse.BUILD_STAMP).write_text("{}")
        return subprocess.CompletedProcess(cmd, 0)

    dist = browse.ensure_build(tmp_path / "cache", run=fake_build)
    assert dist == tmp_path / "cache" / "stac-browser-4.0.1" / "dist" and browse.build_is_ready(dist)
    assert calls == [["bash", str(REPO / "scripts" / "build-stac-browser.sh"), "--cache", str(tmp_path / "cache")]]
    assert browse.ensure_build(tmp_path / "cache", run=fake_build) == dist and len(calls) == 1  # cached
    with pytest.raises(ConfigError, match="building STAC Browser .* failed") as err:
        browse.ensure_build(tmp_path / "other", run=lambda cmd: subprocess.CompletedProcess(cmd, 1))
    assert "Fix:" in str(err.value)


def test_the_folder_server_serves_the_release_and_byte_ranges(tmp_path):
    """One origin: browser files at /, the release under /data/, /config.js names the catalog;
    COG readers get byte ranges (one or several per request); nothing outside the folder is reachable."""
    import urllib.error
    import urllib.request

    from sen12stac import browse

    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<html>stac browser</html>")
    (dist / browse.BUILD_STAMP).write_text("{}")
    rel = tmp_path / "release"
    (rel / "sub").mkdir(parents=True)
    (rel / "catalog.json").write_text('{"type": "Catalog", "links": []}')
    blob = bytes(range(256)) * 40
    (rel / "sub" / "a.tif").write_bytes(blob)
    (tmp_path / "secret.txt").write_text("outside")
    with browse.serve(browse.folder_target(rel), dist) as server:
        def get(path: str, **headers: str):
            req = urllib.request.Request(server.url + path, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    return r.status, r.headers, r.read()
            except urllib.error.HTTPError as exc:
                return exc.code, exc.headers, b""

        assert get("")[2] == b"<html>stac browser</html>"
        status, _, body = get("config.js")
        config = json.loads(body.decode().split("=", 1)[1].rstrip().rstrip(";"))
        assert config["catalogUrl"] == server.url + "data/catalog.json" and config["historyMode"] == "hash"
        status, headers, body = get("data/catalog.json")
        assert status == 200 and headers["Content-Type"] == "application/json" and json.loads(body)["type"] == "Catalog"
        status, headers, body = get("data/sub/a.tif", Range="bytes=100-355")
        assert status == 206 and body == blob[100:356] and headers["Content-Range"] == f"bytes 100-355/{len(blob)}"
        assert get("data/sub/a.tif", Range="bytes=-16")[2] == blob[-16:]
        assert get("data/sub/a.tif", Range=f"bytes={len(blob)}-")[0] == 416
        status, headers, body = get("data/sub/a.tif", Range="bytes=0-9,200-209")  # several ranges in one request
        assert status == 206 and headers["Content-Type"].startswith("multipart/byteranges")
        assert blob[0:10] in body and blob[200:210] in body and len(body) < len(blob)
        assert get("data/sub/a.tif")[2] == blob
        assert get("data/../secret.txt")[0] == 404 and get("data/%2e%2e/secret.txt")[0] == 404
        assert get("data/sub/")[0] == 404  # no listings
    assert server.url.startswith("http://127.0.0.1:")


def test_browse_a_v2_item_shows_its_thumbnail_and_the_label_legend(browser_tools, tmp_path, capsys):
    """A v2 release (issue #22): the item page shows the RGB thumbnail, and the label asset,
    expanded, its legend: every WorldCover class with its value, name and colour swatch."""
    from sen12stac.recipe.recipes import WORLDCOVER_CLASSES

    _cli(["build", "--recipe", "v2", "--source", "synthetic", "--out", "v2", "--seasons", "spring", "--scenes-per-season", "1",
          "--workers", "0", "--scene-size", "512"], tmp_path)
    rel = tmp_path / "v2"
    item_path = sorted(rel.glob(f"{SEASON}/*/*_p*.json"))[0]
    item = json.loads(item_path.read_text())
    label = item["assets"]["label"]
    thumb = item["assets"]["thumbnail"]["href"].rsplit("/", 1)[-1]
    _fresh_artifacts("v2")
    server = Browse([str(rel)], tmp_path)
    try:
        pages = [{"name": "item", "url": server.url + "#/" + item_path.relative_to(rel).as_posix(), "waitText": [item["properties"]["title"]],
                  "waitImages": [thumb], "click": [label.get("title") or "label"], "waitTextAfterClick": ["moss_and_lichen"], "settleMs": 500, "clickTabs": ["Thumbnails"],
                  "screenshot": str(ARTIFACTS / "v2-item.png")}]
        report = _drive(browser_tools, pages, tmp_path)
    finally:
        server.close()
    with capsys.disabled():
        print(f"\n[browse] screenshots: {ARTIFACTS}/v2-item*.png", file=sys.stderr)
    page = report["pages"][0]
    assert page["ok"], f"{page['error']}\n{page['text'][:2000]}"
    assert all(TILE_HOSTS.match(u) for u in report["external"]), report["external"]
    shown = [i for i in page["images"] if i["src"].endswith(thumb) and i["naturalWidth"] > 0 and i["width"] > 50]
    assert shown, f"thumbnail {thumb} not shown: {page['images']}"
    legend = page["clickTexts"][0]
    assert "Classes" in legend, legend[:3000]
    for value, (name, colour) in WORLDCOVER_CLASSES.items():  # a row per class: colour, value, name
        assert re.search(rf"#{colour}\s+{value}\s+{name}\b", legend, re.IGNORECASE), (value, name, colour)
    assert re.search(r"Lc Majority\s+" + str(item["properties"]["sen12:lc_majority"]), page["text"])  # the queryable properties
