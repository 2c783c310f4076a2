"""Scale-out on a real cluster: a `dask scheduler` and two `dask worker` processes on 127.0.0.1,
each in its own empty folder with only its own environment's credentials, build straight into
the local S3 server (moto) through `build --scheduler`; the release is byte-identical to a
1-worker build, `verify` passes, and a worker killed with SIGKILL mid-run does not leave a
release readers can see half-made."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sen12stac.config import make_config
from tests.daskcluster import DASK_SETTINGS, DaskCluster
from tests.s3server import TEST_ACCESS_KEY, TEST_SECRET_KEY

pytest_plugins = ["tests.conftest_s3"]

pytestmark = [pytest.mark.s3, pytest.mark.slow]

SMALL = ["--source", "synthetic", "--seasons", "spring", "--scenes-per-season", "3", "--scene-size", "640"]  # = _config()


def _aws_env(moto) -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": TEST_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": TEST_SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_S3": moto.endpoint_url}


def _cli(args: list[str], cwd: Path, moto, **kw) -> subprocess.Popen | subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SEN12STAC_", "DASK_"))}
    env.update(_aws_env(moto))
    cwd.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "sen12stac.cli", *args]
    if kw.get("background"):
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _tree(s3, bucket: str, prefix: str) -> dict[str, str]:
    """key (below prefix) -> sha256 of the object's bytes."""
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            out[o["Key"][len(prefix):]] = hashlib.sha256(body).hexdigest()
    return out


def _store(moto, url: str):
    from sen12stac.store.s3 import S3Store

    return S3Store.from_url(url, endpoint_url=moto.endpoint_url, access_key_id=TEST_ACCESS_KEY, secret_access_key=TEST_SECRET_KEY)


def _config():
    return make_config(source="synthetic", seasons=("spring",), scenes_per_season=3, scene_size_px=640, workers=0)


@pytest.fixture(scope="module")
def reference(moto):
    """One bucket for the module and the 1-worker build of SMALL into it, in this process
    (release v1.0.0 under ref/): what every other way of building must reproduce."""
    from sen12stac.pipeline import build_release

    s3 = moto.client()
    bucket = f"cluster-{os.getpid()}"
    s3.create_bucket(Bucket=bucket)
    summary, report = build_release(_config(), _store(moto, f"s3://{bucket}/ref"), "1.0.0", verify_cogs=5)
    assert report is not None and report.verify.ok
    tree = _tree(s3, bucket, "ref/v1.0.0/")
    assert any(k.endswith(".tif") for k in tree) and "catalog.json" in tree and "release.json" in tree
    return bucket, tree


def test_two_worker_processes_write_straight_to_s3_byte_identical_to_one_worker(reference, moto, tmp_path):
    bucket, ref = reference
    s3 = moto.client()
    with DaskCluster(tmp_path / "cluster", workers=2, env=_aws_env(moto)) as cluster:
        r = _cli(["build", "--out", f"s3://{bucket}/two", "--release", "1.0.0", "--scheduler", cluster.address, *SMALL], tmp_path / "client", moto)
        assert r.returncode == 0, r.stdout + r.stderr + cluster.logs()
        logs = cluster.logs()
    assert _tree(s3, bucket, "two/v1.0.0/") == ref  # every object, byte for byte
    v = _cli(["verify", f"s3://{bucket}/two/v1.0.0"], tmp_path / "client", moto)
    assert v.returncode == 0 and "verified" in v.stdout, v.stdout + v.stderr
    # nothing was staged on the client's disk, and the workers' folders hold no build output
    assert not [p for p in (tmp_path / "client").rglob("*") if p.suffix in (".tif", ".jpg", ".json")]
    assert not [p for p in (tmp_path / "cluster").rglob("*") if p.suffix in (".tif", ".jpg")]
    assert TEST_SECRET_KEY not in r.stdout + r.stderr + logs
    # the direct release equals the classic path: a folder build (with its build-summary.json)
    # published with `publish`
    from sen12stac.pipeline import SUMMARY_KEY, build, summary_bytes
    from sen12stac.release.publish import publish
    from sen12stac.store import LocalStore

    folder = LocalStore(tmp_path / "folder")
    folder.put_if_absent(SUMMARY_KEY, summary_bytes(build(_config(), folder)))
    publish(folder, _store(moto, f"s3://{bucket}/staged"), "1.0.0", verify_cogs=5)
    assert _tree(s3, bucket, "staged/v1.0.0/") == ref


def test_a_worker_killed_mid_run_leaves_nothing_visible_and_the_release_completes(reference, moto, tmp_path):
    bucket, ref = reference
    s3 = moto.client()
    url = f"s3://{bucket}/killed"
    with DaskCluster(tmp_path / "cluster", workers=2, env=_aws_env(moto)) as cluster:
        run = _cli(["build", "--out", url, "--release", "1.0.0", "--scheduler", cluster.address, *SMALL], tmp_path / "client", moto, background=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and run.poll() is None:  # wait until the workers are writing COGs
            listed = s3.list_objects_v2(Bucket=bucket, Prefix="killed/v1.0.0/").get("Contents", [])
            if any(o["Key"].endswith(".tif") for o in listed):
                break
            time.sleep(0.05)
        assert run.poll() is None, "the build finished before a worker could be killed"
        # mid-run: objects are there, but no release root and no landing entry leads to them
        assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="killed/v1.0.0/catalog.json")
        cluster.kill_worker(0)
        stdout, stderr = run.communicate(timeout=300)
        if run.returncode != 0:  # Dask could not reschedule: a clear report, nothing committed
            assert "Fix:" in stderr, stdout + stderr
            assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="killed/v1.0.0/catalog.json")
        again = _cli(["build", "--out", url, "--release", "1.0.0", "--scheduler", cluster.address, *SMALL], tmp_path / "client", moto)
        if run.returncode != 0:  # ... and a rerun completes it
            assert again.returncode == 0, again.stdout + again.stderr + cluster.logs()
        else:  # Dask rescheduled the scene and the run completed: the version is published, a rerun is refused up front
            assert again.returncode == 5, again.stdout + again.stderr
            assert "already" in again.stderr and "Fix:" in again.stderr, again.stderr
    assert _tree(s3, bucket, "killed/v1.0.0/") == ref
    rel = _cli(["releases", url], tmp_path / "client", moto)
    assert "complete" in rel.stdout, rel.stdout + rel.stderr


def test_a_clusters_processes_and_a_builds_local_cluster_run_with_the_projects_dask_settings(tmp_path):
    """infra/dask/sen12stac.yaml (rendered from sen12stac/runtime/daskconfig.py) is what `dask
    scheduler`/`dask worker` read through DASK_CONFIG, and a build's own LocalCluster puts the
    same settings in its worker processes."""
    import dask
    import distributed

    from sen12stac.runtime.daskconfig import flat_settings
    from sen12stac.pipeline import _dask_client

    want = flat_settings()
    assert want and all(dask.config.get(k) != v for k, v in want.items())  # not Dask's defaults
    probe = "import json, dask; print(json.dumps({k: dask.config.get(k) for k in %r}))" % sorted(want)
    out = subprocess.run([sys.executable, "-c", probe], env={**os.environ, "DASK_CONFIG": str(DASK_SETTINGS)}, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == want
    with DaskCluster(tmp_path / "cluster", workers=1) as cluster, distributed.Client(cluster.address) as client:
        seen = client.run(lambda: {k: dask.config.get(k) for k in want})
        seen["scheduler"] = client.run_on_scheduler(lambda: {k: dask.config.get(k) for k in want})
        preloaded = client.run(lambda: "sen12stac.pipeline" in sys.modules)  # before any task ran
    assert list(seen.values()) == [want, want] and list(preloaded.values()) == [True]
    with _dask_client(make_config(seasons=("spring",), workers=1)) as client:
        assert list(client.run(lambda: {k: dask.config.get(k) for k in want}).values()) == [want]
        assert list(client.run(lambda: "sen12stac.pipeline" in sys.modules).values()) == [True]
