"""The release commands end to end through the CLI against the real S3 server (moto on 127.0.0.1):
build straight to s3:// with --release, verify, list releases, and the errors a user meets."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.s3server import TEST_ACCESS_KEY, TEST_SECRET_KEY

pytest_plugins = ["tests.conftest_s3"]

pytestmark = pytest.mark.s3


def _cli(args: list[str], cwd: Path, moto, **env_extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SEN12STAC_"))}
    env.update({"AWS_ACCESS_KEY_ID": TEST_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": TEST_SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1",
                "SEN12STAC_S3_ENDPOINT_URL": moto.endpoint_url, "SEN12STAC_WORK_DIR": str(cwd / "work"), **env_extra})
    return subprocess.run([sys.executable, "-m", "sen12stac.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_build_to_s3_verify_and_list(tmp_path, moto, bucket):
    url = f"s3://{bucket}/sen1-2"
    build = ["build", "--source", "synthetic", "--out", url, "--release", "1.0.0", "--seasons", "spring", "--scenes-per-season", "1", "--workers", "0", "--scene-size", "512"]
    r = _cli(build, tmp_path, moto)
    assert r.returncode == 0, r.stdout + r.stderr
    # a log (stderr not a terminal) gets plain progress lines for the build and the publish
    assert any(ln.startswith("progress: scenes 1/1") for ln in r.stderr.splitlines()), r.stderr
    assert any(ln.startswith("progress: ") and "writing the" in ln for ln in r.stderr.splitlines()), r.stderr  # the commit stages too
    v = _cli(["verify", f"{url}/v1.0.0"], tmp_path, moto)
    assert v.returncode == 0, v.stdout + v.stderr
    rel = _cli(["releases", url], tmp_path, moto)
    assert rel.returncode == 0 and "1.0.0" in rel.stdout and "complete" in rel.stdout, rel.stdout + rel.stderr
    # like a folder build, the release carries build-summary.json (the same bytes as the staging folder's)
    summary = json.loads(_cli_get(moto, bucket, "sen1-2/v1.0.0/build-summary.json"))
    assert summary["seasons"]["ROIs1158_spring"]["rois_processed"] == 1
    # the same version again is refused before any work (exit 5): releases are immutable
    again = _cli(build, tmp_path, moto)
    assert again.returncode == 5, again.stdout + again.stderr
    assert "release 1.0.0 is already published" in again.stderr and "Fix:" in again.stderr and "progress:" not in again.stderr
    # the same version with other content through publish is refused too (exit 5)
    notes = tmp_path / "notes.md"
    notes.write_text("Different notes: different content under the published version.\n")
    folder = _cli([*build[:4], str(tmp_path / "folder"), *build[7:]], tmp_path, moto)  # the same build into a folder
    assert folder.returncode == 0, folder.stdout + folder.stderr
    other = _cli(["publish", str(tmp_path / "folder"), url, "--release", "1.0.0", "--notes", str(notes)], tmp_path, moto)
    assert other.returncode == 5, other.stdout + other.stderr
    assert "1.0.0" in other.stderr and "Fix:" in other.stderr
    for out in (r, v, rel, again, other):
        assert TEST_SECRET_KEY not in out.stdout + out.stderr


def _cli_get(moto, bucket: str, key: str) -> bytes:
    return moto.client().get_object(Bucket=bucket, Key=key)["Body"].read()


def test_s3_without_version_and_unreachable_bucket_are_clear_errors(tmp_path, moto, bucket):
    r = _cli(["build", "--out", f"s3://{bucket}/x", "--seasons", "spring", "--scenes-per-season", "1", "--workers", "0", "--scene-size", "256"], tmp_path, moto)
    assert r.returncode == 2 and "--release" in r.stderr, r.stderr
    missing = _cli(["releases", "s3://no-such-bucket-here/x"], tmp_path, moto)
    assert missing.returncode == 4, missing.stdout + missing.stderr
    assert "no-such-bucket-here" in missing.stderr and "Fix:" in missing.stderr
    down = _cli(["releases", f"s3://{bucket}/x", "--endpoint-url", "http://127.0.0.1:9"], tmp_path, moto)
    assert down.returncode == 4, down.stdout + down.stderr
    assert "127.0.0.1:9" in down.stderr and TEST_SECRET_KEY not in down.stderr


# --------------------------------------------------------------------------- S3 as safe as a folder


def test_a_failed_scene_leaves_no_object_in_the_bucket_and_a_rerun_completes(s3_store, s3_client, bucket):
    """The pipeline writing straight to a bucket (as Dask workers will): a scene failing mid-way
    is rolled back through the store interface, so the corrected rerun meets no orphan."""
    from sen12stac.config import make_config
    from sen12stac.pipeline import build
    from tests.test_build import CFG, _BreaksMidScene

    store = s3_store("direct")
    # scene_cache_mb=0: the streaming path, where the patch pass reads the source again
    cfg = make_config(**{**CFG, "seasons": ("spring",), "scenes_per_season": 1, "scene_cache_mb": 0})
    summary = build(cfg, store, source=_BreaksMidScene(ok_reads=4))  # 2 stats strips + 2 patch strips, then it dies
    assert summary.scenes[0]["status"] == "failed", summary.scenes
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket, Prefix="direct/").get("Contents", [])]
    assert not [k for k in keys if k.endswith((".tif", ".jpg"))], keys
    again = build(cfg, store)  # the source works now: no conflict with leftovers
    assert again.scenes[0]["status"] == "published" and store.exists("catalog.json")


_BUILD = ["build", "--source", "synthetic", "--seasons", "spring", "--scenes-per-season", "1", "--workers", "0", "--scene-size", "256"]


def _refused_before_work(r: subprocess.CompletedProcess, tmp_path: Path, code: int, *needles: str) -> None:
    assert r.returncode == code, r.stdout + r.stderr
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("error: ")]
    assert len(err) == 1 and "Fix:" in err[0] and "Traceback" not in r.stderr, r.stderr
    for n in needles:
        assert n in err[0], (n, err[0])
    assert not (tmp_path / "work" / "staging").exists(), "work started before the check"
    assert TEST_SECRET_KEY not in r.stdout + r.stderr


def test_s3_build_checks_version_bucket_and_credentials_before_work(tmp_path, moto, bucket, auth_moto):
    r = _cli([*_BUILD, "--out", f"s3://{bucket}/x", "--release", "1.0"], tmp_path, moto)
    _refused_before_work(r, tmp_path, 2, "'1.0'", "semantic version")
    r = _cli([*_BUILD, "--out", "s3://no-such-bucket-here/x", "--release", "1.0.0"], tmp_path, moto)
    _refused_before_work(r, tmp_path, 4, "no-such-bucket-here")
    server, key_id, _secret = auth_moto
    r = _cli([*_BUILD, "--out", "s3://locked/x", "--release", "1.0.0"], tmp_path, server,
             AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY="not-the-secret-0123456789")
    _refused_before_work(r, tmp_path, 4, "credentials")


@pytest.fixture(scope="module")
def readonly_moto():
    """A server with authentication on and a user who may list and read but not write."""
    from tests.s3server import MotoServer

    server = MotoServer()
    try:
        server.start()
        server.client().create_bucket(Bucket="readonly")
        key = server.create_access_key("reader", {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject"], "Resource": ["arn:aws:s3:::readonly", "arn:aws:s3:::readonly/*"]}]})
        server.auth_after(0)
    except Exception as exc:  # noqa: BLE001 - a missing server is a failure, never a skip
        server.close()
        pytest.fail(f"could not start the authenticating moto_server: {exc}")
    yield server, key
    server.close()


def test_s3_build_without_write_permission_is_refused_before_work(tmp_path, readonly_moto):
    server, (key_id, secret) = readonly_moto
    r = _cli([*_BUILD, "--out", "s3://readonly/x", "--release", "1.0.0"], tmp_path, server, AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret)
    _refused_before_work(r, tmp_path, 4, "denied", "s3:PutObject")
    assert secret not in r.stdout + r.stderr


def test_the_cli_takes_the_standard_aws_settings_as_the_library_does(tmp_path, moto, bucket):
    """AWS_PROFILE beside AWS_ACCESS_KEY_ID (a usual shell: a default profile and a key pair for
    a job) is boto3's own affair, not a conflict; the endpoint may come from AWS_ENDPOINT_URL
    alone; an unknown profile is one clear line."""
    (tmp_path / "config").write_text("[profile sen12]\nregion = eu-west-1\n")
    (tmp_path / "credentials").write_text(f"[sen12]\naws_access_key_id = {TEST_ACCESS_KEY}\naws_secret_access_key = {TEST_SECRET_KEY}\n")
    aws = {"AWS_CONFIG_FILE": str(tmp_path / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
           "AWS_ENDPOINT_URL": moto.endpoint_url, "SEN12STAC_S3_ENDPOINT_URL": ""}
    moto.client().put_object(Bucket=bucket, Key="x/v1.0.0/release.json", Body=b"{}")
    r = _cli(["releases", f"s3://{bucket}/x"], tmp_path, moto, AWS_PROFILE="sen12", **aws)
    assert r.returncode == 0 and "1.0.0" in r.stdout, r.stdout + r.stderr
    r = _cli(["releases", f"s3://{bucket}/x"], tmp_path, moto, AWS_PROFILE="sen12", AWS_ACCESS_KEY_ID="", AWS_SECRET_ACCESS_KEY="", **aws)
    assert r.returncode == 0 and "1.0.0" in r.stdout, r.stdout + r.stderr  # the profile's keys
    r = _cli(["releases", f"s3://{bucket}/x"], tmp_path, moto, AWS_PROFILE="no-such-profile", **aws)
    assert r.returncode == 4 and "AWS profile 'no-such-profile' is not configured" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert TEST_SECRET_KEY not in r.stdout + r.stderr
