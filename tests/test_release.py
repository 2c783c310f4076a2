"""Releases against a real S3 server (moto_server on 127.0.0.1): publish, verify, refuse,
resume after SIGKILL, survive injected faults, landing catalog and versions."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio

from sen12stac.errors import ConfigError, DuplicateReleaseError, ReleaseError
from sen12stac.metadata import METADATA_KEYS as ML_METADATA
from sen12stac.release.layout import VERSION_EXT
from sen12stac.release.listing import list_releases
from sen12stac.release.publish import publish
from sen12stac.release.verify import verify
from sen12stac.release.version import latest_of, normalize_version, split_release_url, version_key
from sen12stac.store.prefixed import PrefixedStore
from sen12stac.store import LocalStore
from tests.fakebuild import make_build
from tests.faultproxy import FaultProxy
from tests.s3server import TEST_ACCESS_KEY, TEST_SECRET_KEY

# The S3 server fixtures (idempotent if tests/conftest.py registers them too).
pytest_plugins = ["tests.conftest_s3"]

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    root = tmp_path_factory.mktemp("builds")
    a = make_build(root / "a")
    b = make_build(root / "b", variant=1)  # one COG (and its item) differ from a
    return a, b


def _objects(store, prefix: str = "") -> dict[str, str]:
    """key -> sha256 of every object (downloaded)."""
    return {info.key: hashlib.sha256(store.get(info.key)).hexdigest() for info in store.list(prefix)}


def _etags(store, prefix: str = "") -> dict[str, tuple[int, str | None]]:
    return {i.key: (i.size, i.etag) for i in store.list(prefix)}


def _build_keys(build: Path) -> set[str]:
    return {p.relative_to(build).as_posix() for p in build.rglob("*") if p.is_file()}


# ----------------------------------------------------------------------------- pure parts


def test_semver_validation_and_order():
    assert normalize_version("v1.2.3") == "1.2.3"
    for bad in ("1.0", "01.0.0", "1.0.0+build.5", "latest", "1.0.0-", "1.0.0-01", "1.0.0-a..b", "1.0.0-rc.1+b"):
        with pytest.raises(ConfigError, match="MAJOR.MINOR.PATCH"):
            normalize_version(bad)
    order = ["0.9.9", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1",
             "1.0.0", "1.0.1", "1.1.0", "10.0.0"]  # semver.org section 11's example, and more
    assert sorted(reversed(order), key=version_key) == order
    assert latest_of(["1.0.0", "1.1.0-rc.1", "0.9.0"]) == "1.0.0"  # pre-releases are not "latest"
    assert latest_of(["2.0.0-rc.1"]) == "2.0.0-rc.1"
    assert split_release_url("s3://b/p/v1.0.0/") == ("s3://b/p", "1.0.0")
    with pytest.raises(ConfigError):
        split_release_url("s3://b/p")


def test_versions_with_non_ascii_digits_are_refused():
    """semver.org digits are ASCII; 'v1\u0663.0.0' (an Arabic-Indic 3) would name a release folder no one can type."""
    for bad in ("1\u0663.0.0", "1.0.\u0663", "\uff11.0.0"):
        with pytest.raises(ConfigError, match="MAJOR.MINOR.PATCH"):
            normalize_version(bad)


def test_publish_to_a_local_folder(builds, tmp_path):
    a, _ = builds
    dest = LocalStore(tmp_path / "releases")
    seen: list[tuple[int, int]] = []
    report = publish(LocalStore(a), dest, "1.0.0", workers=3, progress=lambda d, t: seen.append((d, t)))
    n = len(_build_keys(a)) + 5  # + release.json + RELEASE-NOTES.md + croissant.json, CITATION.cff, DATASHEET.md
    assert report.objects == n and report.written == n and report.skipped == 0
    assert seen[-1] == (n, n) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert report.verify.ok and report.verify.cogs_checked == 24
    assert {k.split("/", 1)[1] for k in _objects(dest, "v1.0.0/")} == _build_keys(a) | {"release.json", "RELEASE-NOTES.md", *ML_METADATA}
    # unchanged objects are byte-identical to the build
    cog = "ROIs1158_spring/s1_1/ROIs1158_spring_s1_1_p0.tif"
    assert dest.get(f"v1.0.0/{cog}") == (a / cog).read_bytes()


# ----------------------------------------------------------------------------- S3


@pytest.mark.s3
def test_publish_then_verify(builds, s3_store):
    a, _ = builds
    dest = s3_store("sen12")
    report = publish(LocalStore(a), dest, "1.0.0", workers=4)
    assert report.verify.ok, report.verify.problems
    assert report.landing_updated and report.latest == "1.0.0" and report.predecessor is None
    manifest = json.loads(dest.get("v1.0.0/release.json"))
    assert manifest["version"] == "1.0.0" and manifest["totals"]["objects"] == report.objects - 1
    assert manifest["counts"]["items"] == 12
    assert manifest["counts"]["by_season"]["spring"] == {"items": 6, "train": 2, "validate": 2, "test": 2}
    assert manifest["counts"]["by_split"] == {"test": 4, "train": 4, "validate": 4}
    by_key = {o["key"]: o for o in manifest["objects"]}
    assert set(by_key) == {k.split("/", 1)[1] for k in _objects(dest, "v1.0.0/")} - {"release.json"}
    for key, obj in by_key.items():  # every manifest checksum is the checksum of the object there
        data = dest.get(f"v1.0.0/{key}")
        assert len(data) == obj["size"] and hashlib.sha256(data).hexdigest() == obj["sha256"]
    root = json.loads(dest.get("v1.0.0/catalog.json"))
    assert root["version"] == "1.0.0" and root["deprecated"] is False and VERSION_EXT in root["stac_extensions"]
    coll = json.loads(dest.get("v1.0.0/ROIs1158_spring/collection.json"))
    assert coll["version"] == "1.0.0" and VERSION_EXT in coll["stac_extensions"]
    assert {"rel": "latest-version", "href": "../../catalog.json"}.items() <= next(
        link for link in coll["links"] if link["rel"] == "latest-version"
    ).items()
    landing = json.loads(dest.get("catalog.json"))
    assert [link["href"] for link in landing["links"] if link["rel"] == "latest-version"] == ["./v1.0.0/catalog.json"]
    # standalone verify, with full downloads, finds nothing
    again = verify(dest, "1.0.0", full_checksums=True)
    assert again.ok and again.checksums_downloaded == again.objects_checked and again.cogs_checked == 24
    # the COGs stream through GDAL /vsis3/ with the options derived from the store
    key = "v1.0.0/ROIs1868_summer/s2_2/ROIs1868_summer_s2_2_p1.tif"
    with rasterio.Env(**dest.gdal_env()):
        with rasterio.open(dest.gdal_path(key)) as src:
            remote = src.read()
    with rasterio.open(a / key.split("/", 1)[1]) as src:
        assert np.array_equal(remote, src.read())
    # the same command again: a no-op
    before = _etags(dest)
    again_report = publish(LocalStore(a), dest, "1.0.0", workers=4)
    assert again_report.written == 0 and again_report.skipped == report.objects and not again_report.landing_updated
    assert _etags(dest) == before


@pytest.mark.s3
def test_same_version_other_content_is_refused(builds, s3_store):
    a, b = builds
    dest = s3_store("dup")
    publish(LocalStore(a), dest, "1.0.0", workers=4)
    before = _etags(dest)
    with pytest.raises(DuplicateReleaseError) as info:
        publish(LocalStore(b), dest, "1.0.0", workers=4)
    msg = str(info.value)
    assert "ROIs1158_spring/s1_1/ROIs1158_spring_s1_1_p0.tif differs" in msg and "nothing was written" in msg
    assert "new version" in msg
    assert _etags(dest) == before  # nothing changed, landing catalog included


@pytest.mark.s3
def test_partial_release_with_other_content_is_refused_before_writing(builds, s3_store):
    """A killed publish of build a, then build b under the same version: refused up front."""
    a, b = builds
    dest = s3_store("partial")
    differing = "ROIs1158_spring/s1_1/ROIs1158_spring_s1_1_p0.tif"
    for key in (differing, "LICENSE-CC-BY-4.0.txt"):
        assert dest.put_if_absent(f"v1.0.0/{key}", (a / key).read_bytes())
    before = _etags(dest)
    with pytest.raises(DuplicateReleaseError, match="same size, different sha256|bytes there"):
        publish(LocalStore(b), dest, "1.0.0", workers=4)
    assert _etags(dest) == before
    # an object that is not part of the build is a conflict too
    dest.put_if_absent("v2.0.0/stray.txt", b"left over")
    with pytest.raises(DuplicateReleaseError, match="not part of this build"):
        publish(LocalStore(a), dest, "2.0.0", workers=4)
    assert [r.status for r in list_releases(dest)] == ["incomplete", "incomplete"]


_CHILD = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, {repo!r})
    from sen12stac.release.publish import publish
    from sen12stac.store import LocalStore
    from sen12stac.store.s3 import S3Store

    dest = S3Store.from_url({url!r}, endpoint_url={endpoint!r}, access_key_id=os.environ["T_KEY"],
                            secret_access_key=os.environ["T_SECRET"])

    def progress(done, total):
        print(done, total, flush=True)
        if done >= {hold}:
            time.sleep({pause})  # hold still (uploads in flight go on) so the parent's SIGKILL lands here

    publish(LocalStore({src!r}), dest, "1.0.0", workers=4, progress=progress)
    print("FINISHED", flush=True)
    """
)


def _publish_and_kill(a: Path, url: str, endpoint: str, *, hold: int, pause: float, kill_at: int) -> None:
    code = _CHILD.format(repo=str(REPO), url=url, endpoint=endpoint, hold=hold, pause=pause, src=str(a))
    env = dict(os.environ, T_KEY=TEST_ACCESS_KEY, T_SECRET=TEST_SECRET_KEY)
    err = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: a chatty child can never block on a full pipe
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        done = 0
        while done < kill_at and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            assert "FINISHED" not in line
            done = int(line.split()[0])
        if done < kill_at:
            err.seek(0)
            raise AssertionError(f"child did not progress: {err.read()[-3000:]}")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.s3
@pytest.mark.parametrize(
    "where, hold, pause, kill_at, status",
    [
        ("mid-upload", 20, 0.2, 24, "incomplete"),  # objects there, no commit
        ("after the commit", 65, 30.0, 65, "unverified"),  # root catalog there, landing not updated
    ],
)
def test_killed_publish_resumes_to_identical_bytes(builds, s3_store, moto, bucket, where, hold, pause, kill_at, status):
    a, _ = builds
    dest = s3_store("killed")
    _publish_and_kill(a, f"s3://{bucket}/killed", moto.endpoint_url, hold=hold, pause=pause, kill_at=kill_at)
    partial = _objects(dest, "v1.0.0/")
    committed = "v1.0.0/catalog.json" in partial
    assert committed == (status == "unverified")
    if not committed:
        assert 20 <= len(partial) < 65 and "v1.0.0/release.json" not in partial
        assert not verify(dest, "1.0.0").ok
    assert dest.head("catalog.json") is None  # the landing catalog does not list it yet
    assert [(r.version, r.status) for r in list_releases(dest)] == [("1.0.0", status)]

    resumed = publish(LocalStore(a), dest, "1.0.0", workers=4)  # the same command
    assert resumed.skipped >= len(partial) and resumed.written == resumed.objects - resumed.skipped
    assert resumed.verify.ok and resumed.verify.stac_checked and resumed.landing_updated
    assert verify(dest, "1.0.0", full_checksums=True).ok

    clean = s3_store("uninterrupted")
    publish(LocalStore(a), clean, "1.0.0", workers=4)
    assert _objects(dest) == _objects(clean)  # landing catalog and every release object, byte for byte
    assert [(r.version, r.status) for r in list_releases(dest)] == [("1.0.0", "complete")]


@pytest.mark.s3
def test_missing_bucket_or_wrong_credentials_stop_publish_before_writing(builds, moto, auth_moto):
    a, _ = builds
    from sen12stac.errors import StoreError
    from sen12stac.store.s3 import S3Store

    missing = S3Store.from_url("s3://no-such-bucket-4/sen12", endpoint_url=moto.endpoint_url, access_key_id=TEST_ACCESS_KEY, secret_access_key=TEST_SECRET_KEY)
    with pytest.raises(StoreError, match="bucket 'no-such-bucket-4' does not exist"):
        publish(LocalStore(a), missing, "1.0.0")
    server, key_id, secret = auth_moto
    wrong = S3Store.from_url("s3://locked/sen12", endpoint_url=server.endpoint_url, access_key_id=key_id, secret_access_key=TEST_SECRET_KEY)
    with pytest.raises(StoreError, match="credentials are not valid") as info:
        publish(LocalStore(a), wrong, "1.0.0")
    assert TEST_SECRET_KEY not in str(info.value) and secret not in str(info.value)
    right = S3Store.from_url("s3://locked/sen12", endpoint_url=server.endpoint_url, access_key_id=key_id, secret_access_key=secret)
    assert list(right.list()) == []  # nothing was written


@pytest.mark.s3
def test_publish_survives_injected_faults(builds, s3_store, moto, caplog):
    a, _ = builds
    caplog.set_level(logging.INFO, logger="sen12stac")
    with FaultProxy(moto.endpoint_url, fault_rate=0.25, seed=11) as proxy:
        dest = s3_store("faults", endpoint_url=proxy.url, max_attempts=10)
        report = publish(LocalStore(a), dest, "1.0.0", workers=4)  # verify (incl. GDAL reads) through the proxy too
    assert report.verify.ok and report.verify.cogs_checked == 24
    assert proxy.total_faults >= 20 and all(proxy.faults[m] > 0 for m in proxy.faults), proxy.faults
    direct = s3_store("faults")
    assert verify(direct, "1.0.0", full_checksums=True).ok
    clean = s3_store("clean")
    publish(LocalStore(a), clean, "1.0.0", workers=4)
    assert _objects(direct) == _objects(clean)
    assert TEST_SECRET_KEY not in caplog.text and TEST_ACCESS_KEY not in caplog.text


@pytest.mark.s3
def test_landing_catalog_versions_and_links(builds, s3_store):
    a, b = builds
    dest = s3_store("versions")
    publish(LocalStore(a), dest, "1.0.0", workers=4)
    r2 = publish(LocalStore(b), dest, "1.1.0", workers=4, notes="# v1.1.0\n\nFixed one patch.\n")
    assert r2.predecessor == "1.0.0" and r2.latest == "1.1.0"
    landing = json.loads(dest.get("catalog.json"))
    children = [link for link in landing["links"] if link["rel"] == "child"]
    assert [(c["href"], c["version"]) for c in children] == [("./v1.0.0/catalog.json", "1.0.0"), ("./v1.1.0/catalog.json", "1.1.0")]
    assert [link["href"] for link in landing["links"] if link["rel"] == "latest-version"] == ["./v1.1.0/catalog.json"]
    root = json.loads(dest.get("v1.1.0/catalog.json"))
    links = {link["rel"]: link["href"] for link in root["links"]}
    assert links["predecessor-version"] == "../v1.0.0/catalog.json" and links["latest-version"] == "../catalog.json"
    coll = json.loads(dest.get("v1.1.0/ROIs1868_summer/collection.json"))
    assert {link["rel"]: link["href"] for link in coll["links"]}["predecessor-version"] == "../../v1.0.0/ROIs1868_summer/collection.json"
    assert dest.get("v1.1.0/RELEASE-NOTES.md") == b"# v1.1.0\n\nFixed one patch.\n"
    # v1.0.0 is untouched by the second release (immutable): no successor link written into it
    old_root = json.loads(dest.get("v1.0.0/catalog.json"))
    assert "predecessor-version" not in {link["rel"] for link in old_root["links"]}
    assert verify(dest, "1.0.0").ok
    # a patch of the old line does not become "latest"
    publish(LocalStore(a), dest, "1.0.1", workers=4)
    infos = list_releases(dest)
    assert [(i.version, i.status, i.latest) for i in infos] == [
        ("1.0.0", "complete", False),
        ("1.0.1", "complete", False),
        ("1.1.0", "complete", True),
    ]
    assert infos[1].predecessor == "1.0.0" and infos[2].items == 12


@pytest.mark.s3
def test_verify_finds_tampering(builds, s3_store, s3_client, bucket):
    a, _ = builds
    dest = s3_store("tamper")
    publish(LocalStore(a), dest, "1.0.0", workers=4)
    cog = "v1.0.0/ROIs1158_spring/s2_2/ROIs1158_spring_s2_2_p2.tif"
    data = bytearray(dest.get(cog))
    data[-1] ^= 0xFF
    s3_client.put_object(Bucket=bucket, Key=f"tamper/{cog}", Body=bytes(data))  # behind the tool's back
    s3_client.delete_object(Bucket=bucket, Key="tamper/v1.0.0/ROIs1868_summer/1/catalog.json")
    s3_client.put_object(Bucket=bucket, Key="tamper/v1.0.0/extra.bin", Body=b"x")
    s3_client.put_object(Bucket=bucket, Key="tamper/v1.0.0/ROIs1158_spring/s1_1/ROIs1158_spring_s1_1_p1.tif", Body=b"not a tiff")
    report = verify(dest, "1.0.0")
    text = "\n".join(report.problems)
    assert not report.ok
    assert f"{cog}: sha256 differs from the manifest" in text
    assert "v1.0.0/ROIs1868_summer/1/catalog.json: missing" in text
    assert "v1.0.0/extra.bin: not in the manifest" in text
    assert "ROIs1158_spring_s1_1_p1.tif: " in text and "bytes, manifest says" in text
    assert "ROIs1158_spring_s1_1_p1.tif: not a GeoTIFF" in text  # read fresh, not from GDAL's cache
    assert "STAC: " in text and "ROIs1868_summer/1/catalog.json, which does not exist" in text
    with pytest.raises(Exception, match="problem"):
        report.raise_for_problems()
    assert not verify(dest, "9.9.9").ok  # never published


@pytest.mark.s3
def test_no_credentials_in_outputs(builds, s3_store, caplog):
    a, _ = builds
    caplog.set_level(logging.DEBUG, logger="sen12stac")
    dest = s3_store("secrets")
    report = publish(LocalStore(a), dest, "1.0.0", workers=4)
    outputs = [str(report), repr(report), repr(dest), caplog.text]
    outputs += [dest.get(k).decode("utf-8", "replace") for k in ("catalog.json", "v1.0.0/catalog.json", "v1.0.0/release.json", "v1.0.0/RELEASE-NOTES.md")]
    outputs += [str(r) for r in list_releases(dest)] + [str(verify(dest, "1.0.0"))]
    for text in outputs:
        assert TEST_SECRET_KEY not in text and TEST_ACCESS_KEY not in text


def test_unpublishable_builds_are_refused(builds, tmp_path):
    a, _ = builds
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(a, bad)
    item_path = next(bad.glob("ROIs1158_spring/1/*.json"))
    item = json.loads(item_path.read_text())
    item["assets"]["s1"]["href"] = str(bad / "ROIs1158_spring/s1_1/x.tif")  # an absolute local path
    item_path.write_text(json.dumps(item))
    dest = LocalStore(tmp_path / "out")
    with pytest.raises(ReleaseError, match="absolute local path"):
        publish(LocalStore(bad), dest, "1.0.0")
    item["assets"]["s1"]["href"] = "../s1_1/missing.tif"  # dangling
    item_path.write_text(json.dumps(item))
    with pytest.raises(ReleaseError, match="missing.tif, which is not in the build"):
        publish(LocalStore(bad), dest, "1.0.0")
    with pytest.raises(ReleaseError, match="thumbs_1/.*not in the build"):  # excluding what items link to
        publish(LocalStore(a), dest, "1.0.0", exclude=["*/thumbs_1/*"])
    (bad / "catalog.json").unlink()
    with pytest.raises(ReleaseError, match="not a finished build"):
        publish(LocalStore(bad), dest, "1.0.0")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))
    with pytest.raises(ConfigError):
        publish(LocalStore(a), dest, "1.0")
    with pytest.raises(ConfigError, match="overlap"):
        publish(LocalStore(a), LocalStore(a / "releases"), "1.0.0")
    assert not (a / "releases").exists()


def test_prefixed_store_view(tmp_path):
    base = LocalStore(tmp_path)
    view = PrefixedStore(base, "v1.0.0")
    assert view.put_if_absent("a/b.json", b"{}")
    assert base.get("v1.0.0/a/b.json") == b"{}"
    assert [i.key for i in view.list()] == ["a/b.json"] and view.head("a/b.json").size == 2
    assert view.gdal_path("a/b.json") == str(tmp_path.resolve() / "v1.0.0/a/b.json")


# ----------------------------------------------------------------------------- the release is what the catalog holds


def _with_strays(src: Path, dst: Path) -> list[str]:
    """A copy of a build plus what a failed run used to leave beside it: an item, its scene
    catalog and its two COGs and thumbnail under a scene the collection does not link."""
    import shutil

    shutil.copytree(src, dst)
    strays = []
    for sensor in ("s1", "s2"):
        key = f"ROIs1868_summer/{sensor}_9/ROIs1868_summer_{sensor}_9_p0.tif"
        (dst / key).parent.mkdir(parents=True)
        shutil.copyfile(src / f"ROIs1868_summer/{sensor}_1/ROIs1868_summer_{sensor}_1_p0.tif", dst / key)
        strays.append(key)
    thumb = "ROIs1868_summer/thumbs_9/ROIs1868_summer_9_p0.png"
    (dst / thumb).parent.mkdir(parents=True)
    shutil.copyfile(src / "ROIs1868_summer/thumbs_1/ROIs1868_summer_1_p0.png", dst / thumb)
    item = json.loads((src / "ROIs1868_summer/1/ROIs1868_summer_1_p0.json").read_text())
    item["id"] = "ROIs1868_summer_9_p0"
    for name, href in (("s1", "../s1_9/ROIs1868_summer_s1_9_p0.tif"), ("s2", "../s2_9/ROIs1868_summer_s2_9_p0.tif"), ("thumbnail", "../thumbs_9/ROIs1868_summer_9_p0.png")):
        item["assets"][name]["href"] = href
    (dst / "ROIs1868_summer/9").mkdir()
    (dst / "ROIs1868_summer/9/ROIs1868_summer_9_p0.json").write_text(json.dumps(item))
    cat = json.loads((src / "ROIs1868_summer/1/catalog.json").read_text())
    cat["links"] = [link for link in cat["links"] if link["rel"] != "item"] + [{"rel": "item", "href": "./ROIs1868_summer_9_p0.json"}]
    (dst / "ROIs1868_summer/9/catalog.json").write_text(json.dumps(cat))
    return sorted(strays + [thumb, "ROIs1868_summer/9/ROIs1868_summer_9_p0.json", "ROIs1868_summer/9/catalog.json"])


def test_publish_ships_only_what_the_catalog_reaches(builds, tmp_path, caplog):
    a, _ = builds
    strays = _with_strays(a, tmp_path / "build")
    dest = LocalStore(tmp_path / "releases")
    with caplog.at_level(logging.WARNING, logger="sen12stac.release"):
        report = publish(LocalStore(tmp_path / "build"), dest, "1.0.0", workers=3)
    manifest = json.loads(dest.get("v1.0.0/release.json"))
    assert {o["key"] for o in manifest["objects"]} == _build_keys(a) | {"RELEASE-NOTES.md", *ML_METADATA}  # not one stray
    assert manifest["counts"]["items"] == 12 and report.verify.ok
    assert not any(k.split("/", 1)[1] in strays for k in _objects(dest, "v1.0.0/"))
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and f"left out {len(strays)} object(s)" in warned[0] and strays[0] in warned[0], warned


@pytest.mark.parametrize("walk", [True, False])
def test_verify_fails_a_release_whose_manifest_and_catalog_disagree(builds, tmp_path, walk):
    """The release a publish that shipped strays made: every object there and in the manifest
    with its checksum, but the manifest lists (and counts) what no catalog object leads to."""
    from sen12stac.release.manifest import manifest_bytes, md5_hex

    a, _ = builds
    strays = _with_strays(a, tmp_path / "build")
    dest = LocalStore(tmp_path / "releases")
    publish(LocalStore(a), dest, "1.0.0", workers=3)
    assert verify(dest, "1.0.0", stac_walk=walk).ok
    vdir = tmp_path / "releases" / "v1.0.0"
    manifest = json.loads((vdir / "release.json").read_text())
    objects = manifest.pop("objects")
    for key in strays:
        data = (tmp_path / "build" / key).read_bytes()
        (vdir / key).parent.mkdir(parents=True, exist_ok=True)
        (vdir / key).write_bytes(data)
        objects.append({"key": key, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "md5": md5_hex(data)})
    manifest["counts"]["items"] += 1
    manifest["totals"]["objects"] += len(strays)
    (vdir / "release.json").unlink()
    (vdir / "release.json").write_bytes(manifest_bytes(manifest, sorted(objects, key=lambda o: o["key"])))
    report = verify(dest, "1.0.0", stac_walk=walk)
    assert not report.ok and report.catalog_disagrees and "publish the build again as a new version" in report.fix
    unreached = [p for p in report.problems if "no object of the catalog leads to it" in p]
    json_strays = [k for k in strays if k.endswith(".json")]
    assert sorted(p.split(":")[0] for p in unreached) == [f"v1.0.0/{k}" for k in (strays if walk else json_strays)], report.problems
    assert "v1.0.0/release.json counts 13 items, the catalog holds 12" in report.problems, report.problems


def test_a_build_without_any_item_is_not_published_and_latest_stays(builds, tmp_path):
    a, _ = builds
    dest = LocalStore(tmp_path / "releases")
    publish(LocalStore(a), dest, "0.9.0", workers=3)
    landing = dest.get("catalog.json")
    empty = make_build(tmp_path / "empty", patches=0)
    with pytest.raises(ReleaseError, match="has no item: there is nothing to publish"):
        publish(LocalStore(empty), dest, "1.0.0")
    assert dest.get("catalog.json") == landing and not (tmp_path / "releases" / "v1.0.0").exists()


def test_a_build_summary_of_another_build_is_refused(builds, tmp_path):
    import shutil

    a, _ = builds
    shutil.copytree(a, tmp_path / "build")
    summary = {"root": "catalog.json", "seasons": {"ROIs1158_spring": {"patches_published": 6}, "ROIs1868_summer": {"patches_published": 6}}, "scenes": []}
    (tmp_path / "build" / "build-summary.json").write_text(json.dumps(summary))
    report = publish(LocalStore(tmp_path / "build"), LocalStore(tmp_path / "ok"), "1.0.0")  # 12 pairs, 12 items: it ships
    assert "build-summary.json" in {o["key"] for o in json.loads((tmp_path / "ok/v1.0.0/release.json").read_text())["objects"]} and report.verify.ok
    summary["seasons"]["ROIs1868_summer"]["patches_published"] = 7
    (tmp_path / "build" / "build-summary.json").write_text(json.dumps(summary))
    with pytest.raises(ReleaseError, match="counts 13 published pairs but the catalog holds 12 items"):
        publish(LocalStore(tmp_path / "build"), LocalStore(tmp_path / "other"), "1.0.0")
