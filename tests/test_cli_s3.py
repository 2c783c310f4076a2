"""The release commands end to end through the CLI against the real S3 server (moto on 127.0.0.1):
build straight to s3:// with --version, verify, list releases, and the errors a user meets."""
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
    env.update(AWS_ACCESS_KEY_ID=TEST_ACCESS_KEY, AWS_SECRET_ACCESS_KEY=TEST_SECRET_KEY, AWS_DEFAULT_REGION="us-east-1",
               SEN12STAC_S3_ENDPOINT_URL=moto.endpoint_url, SEN12STAC_WORK_DIR=str(cwd / "work"), **env_extra)
    return subprocess.run([sys.executable, "-m", "sen12stac.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_build_to_s3_verify_and_list(tmp_path, moto, bucket):
    url = f"s3://{bucket}/sen1-2"
    build = ["build", "--source", "synthetic", "--out", url, "--version", "1.0.0", "--seasons", "spring", "--scenes-per-season", "1", "--workers", "0", "--scene-size", "512"]
    r = _cli(build, tmp_path, moto)
    assert r.returncode == 0, r.stdout + r.stderr
    v = _cli(["verify", f"{url}/v1.0.0"], tmp_path, moto)
    assert v.returncode == 0, v.stdout + v.stderr
    rel = _cli(["releases", url], tmp_path, moto)
    assert rel.returncode == 0 and "1.0.0" in rel.stdout and "complete" in rel.stdout, rel.stdout + rel.stderr
    # the same command again is a no-op resume; the same version with other content is refused (exit 5)
    again = _cli(build, tmp_path, moto)
    assert again.returncode == 0, again.stdout + again.stderr
    notes = tmp_path / "notes.md"
    notes.write_text("Different notes: different content under the published version.\n")
    folder = _cli([*build[:4], str(tmp_path / "folder"), *build[7:]], tmp_path, moto)  # the same build into a folder
    assert folder.returncode == 0, folder.stdout + folder.stderr
    other = _cli(["publish", str(tmp_path / "folder"), url, "--version", "1.0.0", "--notes", str(notes)], tmp_path, moto)
    assert other.returncode == 5, other.stdout + other.stderr
    assert "1.0.0" in other.stderr and "Fix:" in other.stderr
    for out in (r, v, rel, again, other):
        assert TEST_SECRET_KEY not in out.stdout + out.stderr


def test_s3_without_version_and_unreachable_bucket_are_clear_errors(tmp_path, moto, bucket):
    r = _cli(["build", "--out", f"s3://{bucket}/x", "--seasons", "spring", "--scenes-per-season", "1", "--workers", "0", "--scene-size", "256"], tmp_path, moto)
    assert r.returncode == 2 and "--version" in r.stderr, r.stderr
    missing = _cli(["releases", "s3://no-such-bucket-here/x"], tmp_path, moto)
    assert missing.returncode == 4, missing.stdout + missing.stderr
    assert "no-such-bucket-here" in missing.stderr and "Fix:" in missing.stderr
    down = _cli(["releases", f"s3://{bucket}/x", "--endpoint-url", "http://127.0.0.1:9"], tmp_path, moto)
    assert down.returncode == 4, down.stdout + down.stderr
    assert "127.0.0.1:9" in down.stderr and TEST_SECRET_KEY not in down.stderr
