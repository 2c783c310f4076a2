"""Streaming a release (sen12stac.stream): selection, one GET per asset counted at the
server side, decoding, errors, cache, sharding, PyTorch, download. A small release is built
once with the real pipeline and put into the local S3 server (moto on 127.0.0.1)."""
from __future__ import annotations

import functools
import hashlib
import http.server
import json
import logging
import os
import pickle
import re
import stat
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio

from sen12stac.errors import ConfigError
from sen12stac.store import open_store
from sen12stac.store.s3 import S3Settings, Secret
from sen12stac.stream import GIVE_UP_AFTER, AssetError, Location, NothingReadable, Report, epoch_order, select, shard, stream
from tests.faultproxy import FaultProxy
from tests.s3server import TEST_ACCESS_KEY, TEST_SECRET_KEY

pytest_plugins = ["tests.conftest_s3"]

REPO = Path(__file__).resolve().parents[1]
PREFIX = "sen1-2/v1.0.0"
CREDS = dict(access_key_id=TEST_ACCESS_KEY, secret_access_key=TEST_SECRET_KEY)


def build_small_release(out: Path) -> Path:
    """Two seasons, two ROIs each, 512 px scenes (9 patch positions each): about 25 pairs; winter
    is the held-out test season, so both splits occur."""
    from sen12stac.config import make_config
    from sen12stac.pipeline import build
    from sen12stac.store import LocalStore

    build(make_config(seasons=("spring", "winter"), scenes_per_season=2, workers=0, scene_size_px=512, defect_rate=0.0, split={"scheme": "by-season", "holdout_season": "winter"}), LocalStore(out))
    return out


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    return build_small_release(tmp_path_factory.mktemp("stream") / "release")


@pytest.fixture(scope="module")
def s3_release(release, moto, s3_client):
    bucket = "stream-release"
    s3_client.create_bucket(Bucket=bucket)
    for p in sorted(release.rglob("*")):
        if p.is_file():
            s3_client.put_object(Bucket=bucket, Key=f"{PREFIX}/{p.relative_to(release).as_posix()}", Body=p.read_bytes())
    return bucket


def upload(client, bucket: str, release: Path, prefix: str = PREFIX) -> None:
    for p in sorted(release.rglob("*")):
        if p.is_file():
            client.put_object(Bucket=bucket, Key=f"{prefix}/{p.relative_to(release).as_posix()}", Body=p.read_bytes())


@pytest.fixture
def proxy(moto):
    with FaultProxy(moto.endpoint_url, fault_rate=0.0, max_lifetime=120) as p:
        yield p


def items_on_disk(release: Path) -> list[dict]:
    """Every item JSON of the release, found by walking files (not through the code under test)."""
    return [json.loads(p.read_text()) for p in sorted(release.rglob("*_p*.json"))]


def _requests(proxy: FaultProxy) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"GET": [], "HEAD": [], "LIST": [], "other": []}
    for method, path, _signed in proxy.log:
        if method == "GET" and ("list-type" in path or "prefix=" in path or path.rstrip("/").count("/") <= 1):
            out["LIST"].append(path)
        elif method in ("GET", "HEAD"):
            out[method].append(path)
        else:
            out["other"].append(path)
    return out


# -- selection -------------------------------------------------------------------------------
def test_release_has_both_seasons_and_all_splits(release):
    items = items_on_disk(release)
    assert len(items) >= 20
    assert {i["collection"] for i in items} == {"ROIs1158_spring", "ROIs2017_winter"}


@pytest.mark.parametrize("case", ["all", "winter-test", "bbox", "datetime", "cql2", "cql2-json", "ids", "two-splits"])
def test_selection_equals_a_walk_of_the_item_files(release, case):
    items = items_on_disk(release)
    some = items[len(items) // 3]
    dts = sorted(i["properties"]["datetime"] for i in items)
    lo = dts[0]  # items share their scene's datetime: the earliest scene's
    w, s, e, n = some["bbox"]

    def dt(t):
        return datetime.fromisoformat(t.replace("Z", "+00:00"))

    cases = {
        "all": ({}, lambda i: True),
        "winter-test": ({"seasons": "winter", "split": "test"}, lambda i: i["collection"] == "ROIs2017_winter" and i["properties"]["ml-aoi:split"] == "test"),
        "bbox": ({"bbox": (w, s, e, n)}, lambda i: i["bbox"][0] <= e and i["bbox"][2] >= w and i["bbox"][1] <= n and i["bbox"][3] >= s),
        "datetime": ({"datetime": f"../{lo}"}, lambda i: dt(i["properties"]["datetime"]) <= dt(lo)),
        "cql2": ({"filter": "\"eo:cloud_cover\" < 0.5 AND \"sen12:scene_index\" >= 1"},
                 lambda i: i["properties"]["eo:cloud_cover"] < 0.5 and i["properties"]["sen12:scene_index"] >= 1),
        "cql2-json": ({"filter": {"op": "=", "args": [{"property": "sen12:patch_index"}, some["properties"]["sen12:patch_index"]]}},
                      lambda i: i["properties"]["sen12:patch_index"] == some["properties"]["sen12:patch_index"]),
        "ids": ({"ids": [items[0]["id"], some["id"], "no-such-id"]}, lambda i: i["id"] in (items[0]["id"], some["id"])),
        "two-splits": ({"split": "train,validate"}, lambda i: i["properties"]["ml-aoi:split"] in ("train", "validate")),
    }
    kwargs, keep = cases[case]
    expected = sorted(i["id"] for i in items if keep(i))
    assert expected, f"case {case} selects nothing: the test would prove nothing"
    got = [p.id for p in select(str(release), **kwargs)]
    assert got == expected
    if case != "all":
        assert len(expected) < len(items)


def test_selection_refuses_bad_input_with_the_fix(release, tmp_path):
    for kwargs, word in [({"seasons": "autumn"}, "autumn"), ({"split": "training"}, "training"), ({"bbox": (1, 2, 3)}, "bbox"),
                         ({"datetime": "yesterday"}, "yesterday"), ({"filter": "eo:cloud_cover <<< 3"}, "CQL2")]:
        with pytest.raises(ConfigError, match=word) as err:
            select(str(release), **kwargs)
        assert "Fix:" in str(err.value)
    with pytest.raises(ConfigError, match="not a sen12stac release"):
        select(str(tmp_path))


# -- one GET per asset, counted at the server side --------------------------------------------
def test_stream_from_s3_is_one_get_per_asset_no_head_no_list(release, s3_release, proxy):
    sel = select(f"s3://{s3_release}/{PREFIX}", seasons="winter", split="test,validate", endpoint_url=proxy.url, **CREDS)
    assert len(sel) > 0
    meta = len(proxy.log)
    assert meta == 3  # catalog.json, the winter collection.json, its items.parquet: nothing else
    report = Report()
    samples = list(stream(sel, seed=3, threads=4, prefetch=4, report=report, layout="files"))  # the per-file path (shards: test_shards.py)
    req = _requests(proxy)
    assert req["HEAD"] == [] and req["LIST"] == [] and req["other"] == []
    asset_gets = req["GET"][meta:]
    keys = sorted(f"/{s3_release}/{PREFIX}/{p.asset(a).href}" for p in sel for a in ("s1", "s2"))
    assert sorted(asset_gets) == keys  # every asset exactly once, nothing else
    assert sorted(s["id"] for s in samples) == [p.id for p in sel]
    assert report.pairs == len(sel) and report.fetched == 2 * len(sel) and not report.problems


def test_decoded_arrays_equal_rasterio_and_physical_values_match_the_catalog(release, s3_release, moto):
    sel = select(f"s3://{s3_release}/{PREFIX}", seasons="spring", endpoint_url=moto.endpoint_url, **CREDS)
    by_id = {p.id: p for p in sel}
    items = {i["id"]: i for i in items_on_disk(release)}
    n = 0
    for raw, phys in zip(stream(sel, seed=None), stream(sel, seed=None, values="physical")):
        assert raw["id"] == phys["id"]
        pair = by_id[raw["id"]]
        for name, bands in (("s1", 1), ("s2", 3)):
            with rasterio.open(release / pair.asset(name).href) as ds:
                ref = ds.read()
            assert raw[name].dtype == np.uint8 and raw[name].shape == (bands, 256, 256)
            assert np.array_equal(raw[name], ref)
            # physical: NaN exactly at no-data, and inside the range the catalog states for DN 1..255
            asset = items[raw["id"]]["assets"][name]
            # the physical values of DN 1 and DN 255, from each band's raster:offset/raster:scale
            stats = [{"minimum": b["raster:offset"] + b["raster:scale"], "maximum": b["raster:offset"] + 255 * b["raster:scale"]} for b in asset["bands"]]
            for b in range(bands):
                assert np.array_equal(np.isnan(phys[name][b]), ref[b] == 0)
                valid = phys[name][b][ref[b] > 0]
                assert valid.min() >= stats[b]["minimum"] - 1e-3 and valid.max() <= stats[b]["maximum"] + 1e-3
                if (ref[b] == 1).any():
                    assert abs(float(phys[name][b][ref[b] == 1][0]) - stats[b]["minimum"]) < 1e-3
                if (ref[b] == 255).any():
                    assert abs(float(phys[name][b][ref[b] == 255][0]) - stats[b]["maximum"]) < 1e-3
        n += 1
    assert n == len(sel) > 0


def test_anonymous_reads_are_unsigned(s3_release, s3_client, proxy):
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{s3_release}/{PREFIX}/*"}]}
    s3_client.put_bucket_policy(Bucket=s3_release, Policy=json.dumps(policy))  # a public bucket (read-only, released prefix)
    sel = select(f"s3://{s3_release}/{PREFIX}", seasons="winter", split="test", endpoint_url=proxy.url, anonymous=True)
    assert len(list(stream(sel, threads=2))) == len(sel) > 0
    assert proxy.log and not any(signed for _m, _p, signed in proxy.log)


def test_https_release(release):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(release))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        sel = select(url, seasons="winter", split="test")
        want = [p.id for p in select(str(release), seasons="winter", split="test")]
        assert [s["id"] for s in stream(sel, seed=None, layout="files")] == want
        assert sorted(s["id"] for s in stream(sel, seed=None)) == want  # shards (ranged GETs; this server ignores Range)
    finally:
        server.shutdown()
        server.server_close()


# -- problems: reported with item id and asset, skipped or stopping ---------------------------
def test_missing_damaged_and_undecodable_files_are_reported(release, s3_release, moto, s3_client, caplog):
    sel = select(f"s3://{s3_release}/{PREFIX}", seasons="winter", endpoint_url=moto.endpoint_url, **CREDS)
    bad = f"stream-bad-{os.getpid()}"
    s3_client.create_bucket(Bucket=bad)
    for p in sorted(release.rglob("*")):
        if p.is_file():
            s3_client.put_object(Bucket=bad, Key=f"{PREFIX}/{p.relative_to(release).as_posix()}", Body=p.read_bytes())
    missing, damaged, garbage = sel.pairs[0], sel.pairs[1], sel.pairs[2]
    s3_client.delete_object(Bucket=bad, Key=f"{PREFIX}/{missing.s1.href}")
    other = (release / sel.pairs[3].s2.href).read_bytes()
    s3_client.put_object(Bucket=bad, Key=f"{PREFIX}/{damaged.s2.href}", Body=other)  # a valid COG, but not this one
    junk = b"II*\x00" + b"\x00" * 500
    s3_client.put_object(Bucket=bad, Key=f"{PREFIX}/{garbage.s1.href}", Body=junk)
    sel_bad = select(f"s3://{bad}/{PREFIX}", seasons="winter", endpoint_url=moto.endpoint_url, **CREDS)
    # the catalog states the junk's checksum for the undecodable case (as if published that way)
    sel_bad.pairs[2] = replace(garbage, s1=replace(garbage.s1, checksum="1220" + hashlib.sha256(junk).hexdigest()))

    report = Report()
    with caplog.at_level(logging.WARNING, logger="sen12stac.stream"):
        got = [s["id"] for s in stream(sel_bad, seed=None, report=report, layout="files")]  # per-file objects (shards: test_shards.py)
    assert got == [p.id for p in sel.pairs[3:]]
    kinds = {(p.item_id, p.asset): p.kind for p in report.problems}
    assert kinds == {(missing.id, "s1"): "missing", (damaged.id, "s2"): "checksum", (garbage.id, "s1"): "undecodable"}
    assert report.skipped == 3
    for pair, asset in ((missing, "s1"), (damaged, "s2"), (garbage, "s1")):
        assert re.search(rf"item {pair.id}, asset {asset}:", caplog.text)
    assert "3 pairs skipped" in caplog.text

    with pytest.raises(AssetError, match=rf"item {missing.id}, asset s1: missing") as err:
        list(stream(sel_bad, seed=None, on_error="stop", layout="files"))
    assert "Fix:" in str(err.value)


# -- cache -----------------------------------------------------------------------------------
def test_cache_makes_epoch_two_read_from_disk_and_catches_damage(s3_release, proxy, tmp_path):
    sel = select(f"s3://{s3_release}/{PREFIX}", seasons="winter", split="test", endpoint_url=proxy.url, **CREDS)
    first = {s["id"]: s for s in stream(sel, seed=0, epoch=0, cache_dir=str(tmp_path))}
    n_after_first = len(proxy.log)
    report = Report()
    second = {s["id"]: s for s in stream(sel, seed=0, epoch=1, cache_dir=str(tmp_path), report=report)}
    assert len(proxy.log) == n_after_first  # nothing fetched
    assert report.from_cache == 2 * len(sel) and report.fetched == 0
    assert all(np.array_equal(first[k]["s2"], second[k]["s2"]) for k in first)
    victim = tmp_path / sel.pairs[0].s1.href
    victim.write_bytes(b"damaged")
    report = Report()
    third = {s["id"]: s for s in stream(sel, seed=0, cache_dir=str(tmp_path), report=report)}
    assert report.fetched == 1 and np.array_equal(third[sel.pairs[0].id]["s1"], first[sel.pairs[0].id]["s1"])
    assert _requests(proxy)["GET"][-1].endswith(sel.pairs[0].s1.href)


# -- order and sharding --------------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 1, 7, 31, 100])
def test_shards_are_disjoint_and_complete(n):
    for world in (1, 2, 3):
        for workers in (1, 2, 4):
            order = epoch_order(n, seed=5, epoch=2)
            parts = [shard(order, rank=r, world_size=world, worker=w, num_workers=workers) for r in range(world) for w in range(workers)]
            flat = np.concatenate(parts) if parts else np.array([])
            assert sorted(flat.tolist()) == list(range(n))  # complete, each once
            assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert np.array_equal(epoch_order(50, seed=1, epoch=0), epoch_order(50, seed=1, epoch=0))
    if n >= 7:
        assert not np.array_equal(epoch_order(n, seed=1, epoch=0), epoch_order(n, seed=1, epoch=1))
        assert not np.array_equal(epoch_order(n, seed=1, epoch=0), epoch_order(n, seed=2, epoch=0))


def test_streamed_shards_cover_the_selection_once(release):
    sel = select(str(release))
    seen = []
    for rank in range(2):
        for worker in range(3):
            seen += [s["id"] for s in stream(sel, seed=9, rank=rank, world_size=2, worker=worker, num_workers=3, threads=2)]
    assert sorted(seen) == [p.id for p in sel]
    assert [s["id"] for s in stream(sel, seed=9, threads=3)] == [s["id"] for s in stream(sel, seed=9, threads=1)]


# -- PyTorch -------------------------------------------------------------------------------
def test_torch_dataloader_with_two_workers(s3_release, moto, tmp_path):
    import torch  # the dev extra installs it: a missing torch fails here, never skips
    from torch.utils.data import DataLoader

    from sen12stac.stream.torch import PairDataset, PairStream

    sel = select(f"s3://{s3_release}/{PREFIX}", endpoint_url=moto.endpoint_url, **CREDS)
    ds = PairStream(sel, seed=1, values="physical", threads=2)
    for epoch in (0, 1):
        ds.set_epoch(epoch)
        ids = []
        for batch in DataLoader(ds, batch_size=4, num_workers=2):
            assert batch["s1"].dtype == torch.float32 and batch["s1"].shape[1:] == (1, 256, 256)
            assert batch["s2"].shape[1:] == (3, 256, 256) and batch["bbox"].shape[1:] == (4,)
            assert isinstance(batch["id"], list) and set(batch["split"]) <= {"train", "validate", "test"}
            ids += batch["id"]
        assert sorted(ids) == [p.id for p in sel]  # each pair once per epoch across both workers
    mapped = PairDataset(sel)
    ids = []
    for batch in DataLoader(mapped, batch_size=5, num_workers=2, shuffle=True, generator=torch.Generator().manual_seed(0)):
        assert batch["s2"].dtype == torch.uint8
        ids += batch["id"]
    assert sorted(ids) == [p.id for p in sel]
    assert mapped[3]["id"] == sel.pairs[3].id


# -- download --------------------------------------------------------------------------------
def _cli(args: list[str], endpoint: str, cwd: Path, *, endpoint_var: str = "SEN12STAC_S3_ENDPOINT_URL", umask: int | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SEN12STAC_"))}
    env.update({"AWS_ACCESS_KEY_ID": TEST_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": TEST_SECRET_KEY, endpoint_var: endpoint})
    return subprocess.run([sys.executable, "-m", "sen12stac.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
                          preexec_fn=None if umask is None else (lambda: os.umask(umask)))


def test_download_cog_is_one_get_per_file_verified_and_resumable(release, s3_release, proxy, tmp_path):
    url = f"s3://{s3_release}/{PREFIX}"
    sel = select(str(release), seasons="winter", split="test")
    r = _cli(["download", url, "--season", "winter", "--split", "test", "--to", str(tmp_path / "dl")], proxy.url, tmp_path)
    assert r.returncode == 0, r.stderr
    req = _requests(proxy)
    assert req["HEAD"] == [] and req["LIST"] == [] and req["other"] == []
    assert sorted(req["GET"][3:]) == sorted(f"/{s3_release}/{PREFIX}/{p.asset(a).href}" for p in sel for a in ("s1", "s2"))
    for p in sel:
        for a in ("s1", "s2"):
            assert (tmp_path / "dl" / p.asset(a).href).read_bytes() == (release / p.asset(a).href).read_bytes()
    (tmp_path / "dl" / sel.pairs[0].s2.href).unlink()  # an interrupted run
    (tmp_path / "dl" / sel.pairs[1].s1.href).write_bytes(b"torn")
    before = len(proxy.log)
    r = _cli(["download", url, "--season", "winter", "--split", "test", "--to", str(tmp_path / "dl")], proxy.url, tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(_requests(proxy)["GET"][before + 3:]) == sorted([f"/{s3_release}/{PREFIX}/{sel.pairs[0].s2.href}", f"/{s3_release}/{PREFIX}/{sel.pairs[1].s1.href}"])
    assert "2 files written" in r.stdout
    assert (tmp_path / "dl" / sel.pairs[1].s1.href).read_bytes() == (release / sel.pairs[1].s1.href).read_bytes()


def test_download_png_writes_the_original_layout(release, s3_release, moto, tmp_path):
    from PIL import Image

    r = _cli(["download", f"s3://{s3_release}/{PREFIX}", "--season", "spring", "--split", "train", "--to", str(tmp_path / "png"), "--format", "png"], moto.endpoint_url, tmp_path)
    assert r.returncode == 0, r.stderr
    sel = select(str(release), seasons="spring", split="train")
    assert len(sel) > 0
    for p in sel:
        scene = p.id.rsplit("_p", 1)[0].rsplit("_", 1)[1]
        patch = p.id.rsplit("_p", 1)[1]
        for sensor, mode in (("s1", "L"), ("s2", "RGB")):
            path = tmp_path / "png" / "ROIs1158_spring" / f"{sensor}_{scene}" / f"ROIs1158_spring_{sensor}_{scene}_p{patch}.png"
            img = Image.open(path)
            assert img.mode == mode and img.size == (256, 256)
            with rasterio.open(release / p.asset(sensor).href) as ds:
                ref = ds.read()
            arr = np.asarray(img)
            assert np.array_equal(arr if arr.ndim == 2 else arr.transpose(2, 0, 1), ref[0] if sensor == "s1" else ref)


def test_download_reports_a_missing_file_and_exits_non_zero(release, moto, s3_client, tmp_path):
    bucket = f"stream-dl-missing-{os.getpid()}"
    s3_client.create_bucket(Bucket=bucket)
    for p in sorted(release.rglob("*")):
        if p.is_file():
            s3_client.put_object(Bucket=bucket, Key=f"{PREFIX}/{p.relative_to(release).as_posix()}", Body=p.read_bytes())
    sel = select(str(release), seasons="winter", split="test")
    s3_client.delete_object(Bucket=bucket, Key=f"{PREFIX}/{sel.pairs[0].s2.href}")
    r = _cli(["download", f"s3://{bucket}/{PREFIX}", "--season", "winter", "--split", "test", "--to", str(tmp_path / "d")], moto.endpoint_url, tmp_path)
    assert r.returncode == 4
    assert f"item {sel.pairs[0].id}, asset s2: missing" in r.stderr
    assert "Fix:" in r.stderr
    r = _cli(["download", f"s3://{bucket}/{PREFIX}", "--season", "winter", "--split", "test", "--to", str(tmp_path / "e"), "--on-error", "stop"], moto.endpoint_url, tmp_path)
    assert r.returncode == 4 and f"item {sel.pairs[0].id}, asset s2: missing" in r.stderr
    r = _cli(["download", f"s3://{bucket}/{PREFIX}", "--season", "autumn", "--to", str(tmp_path / "f")], moto.endpoint_url, tmp_path)
    assert r.returncode == 2 and "autumn" in r.stderr and "Traceback" not in r.stderr


# -- README ----------------------------------------------------------------------------------
def test_readme_train_on_it_runs_as_printed(release, tmp_path):
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Stream", 1)[1].split("\n#", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(code.strip().splitlines()) <= 12
    (tmp_path / "demo").symlink_to(release)
    (tmp_path / "snippet.py").write_text(code)
    r = subprocess.run([sys.executable, "snippet.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip(), "the snippet prints what it trained on"


FORK_SCRIPT = r"""
import sys
from torch.utils.data import DataLoader
from sen12stac.stream import select, stream
from sen12stac.stream.torch import PairStream
endpoint, bucket, prefix, key, secret = sys.argv[1:6]
sel = select(f"s3://{bucket}/{prefix}", endpoint_url=endpoint, access_key_id=key, secret_access_key=secret)
want = sorted(p.id for p in sel)
def epoch():
    return sorted(i for b in DataLoader(PairStream(sel, threads=2), batch_size=4, num_workers=2) for i in b["id"])
assert epoch() == want                       # workers forked before any stream in this process
assert sorted(s["id"] for s in stream(sel)) == want   # this process streams too
assert epoch() == want                       # workers forked after it: still every pair once
print("ok", len(want))
"""


def test_dataloader_workers_after_streaming_in_the_parent(s3_release, moto, tmp_path):
    """The HTTP client of a process that already streamed cannot be used after fork; the
    workers must still deliver every pair (they fall back to a fresh plain client)."""
    (tmp_path / "fork.py").write_text(FORK_SCRIPT)
    r = subprocess.run([sys.executable, "fork.py", moto.endpoint_url, s3_release, PREFIX, TEST_ACCESS_KEY, TEST_SECRET_KEY],
                       cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.startswith("ok ")


# -- one S3 layer: the stream takes its settings exactly as the store does ---------------------
@pytest.mark.parametrize("var", ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"])
def test_the_endpoint_from_the_environment_reaches_the_stream_the_store_and_gdal(release, s3_release, moto, monkeypatch, var):
    """Only the standard variable names the (plain http://) endpoint: selection, every streamed
    pair, the store and GDAL reads all go there, as every CLI command already did."""
    for k in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_REGION"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv(var, moto.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", TEST_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TEST_SECRET_KEY)
    url = f"s3://{s3_release}/{PREFIX}"
    sel = select(url, seasons="winter")
    report = Report()
    got = sorted(s["id"] for s in stream(sel, seed=1, threads=2, report=report))
    assert got == [p.id for p in sel] and len(got) > 0, report.summary()
    assert report.pairs == len(sel) and not report.problems
    store = open_store(url)
    assert store.get("catalog.json") == (release / "catalog.json").read_bytes()
    href = sel.pairs[0].s2.href
    with rasterio.Env(**store.gdal_env()), rasterio.open(store.gdal_path(href)) as remote, rasterio.open(release / href) as local:
        assert np.array_equal(remote.read(), local.read())


def test_cli_download_with_only_aws_endpoint_url(release, s3_release, moto, tmp_path):
    sel = select(str(release), seasons="winter", split="test")
    r = _cli(["download", f"s3://{s3_release}/{PREFIX}", "--season", "winter", "--split", "test", "--to", str(tmp_path / "dl")],
             moto.endpoint_url, tmp_path, endpoint_var="AWS_ENDPOINT_URL")
    assert r.returncode == 0, r.stderr
    assert f"{len(sel)} pairs: {2 * len(sel)} files written" in r.stdout
    for p in sel:
        assert (tmp_path / "dl" / p.s1.href).read_bytes() == (release / p.s1.href).read_bytes()


# -- nothing readable: raise with the reason after the first few failures ----------------------
@pytest.fixture
def counting(moto, auth_moto):
    """A counting proxy in front of the plain server and one in front of the authenticating one."""
    with FaultProxy(moto.endpoint_url, fault_rate=0.0, max_lifetime=120) as plain, \
            FaultProxy(auth_moto[0].endpoint_url, fault_rate=0.0, max_lifetime=120) as authed:
        yield plain, authed


@pytest.mark.parametrize("case", ["wrong bucket", "objects gone", "no credentials"])
def test_a_stream_that_can_read_nothing_raises_with_the_reason(release, s3_release, moto, s3_client, auth_moto, counting, monkeypatch, case):
    plain, authed = counting
    url = f"s3://{s3_release}/{PREFIX}"
    if case == "wrong bucket":
        sel = select(url, endpoint_url=plain.url, **CREDS)
        sel.location = Location.parse(f"s3://no-such-bucket-stream/{PREFIX}", endpoint_url=plain.url, **CREDS)
        proxy, reason = plain, "missing"
    elif case == "objects gone":
        bucket = f"stream-gone-{os.getpid()}"
        s3_client.create_bucket(Bucket=bucket)
        upload(s3_client, bucket, release)
        sel = select(f"s3://{bucket}/{PREFIX}", endpoint_url=plain.url, **CREDS)
        for p in [*release.rglob("*.tif"), *release.rglob("*.zip")]:  # the COGs and the training shards
            s3_client.delete_object(Bucket=bucket, Key=f"{PREFIX}/{p.relative_to(release).as_posix()}")
        proxy, reason = plain, "missing"
    else:  # the selection was made with keys; this process (a worker) has none of its own
        server, key_id, secret = auth_moto
        prefix = f"nocreds-{os.getpid()}/{PREFIX}"
        upload(server.client(access_key=key_id, secret_key=secret), "locked", release, prefix)
        sel = select(f"s3://locked/{prefix}", endpoint_url=authed.url, access_key_id=key_id, secret_access_key=secret)
        for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(release / "none"))
        monkeypatch.setenv("AWS_CONFIG_FILE", str(release / "none"))
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        sel.location = pickle.loads(pickle.dumps(sel.location))  # what a spawned DataLoader worker gets
        proxy, reason = authed, "no AWS credentials were found"
    assert len(sel) > 4 * GIVE_UP_AFTER
    before = len(proxy.log)
    with pytest.raises(NothingReadable) as err:
        list(stream(sel, seed=0, threads=4, prefetch=4))
    msg = str(err.value)
    assert msg.startswith("nothing could be read from") and reason in msg and "Fix:" in msg, msg
    assert f"the {GIVE_UP_AFTER} pair(s) tried all failed" in msg
    # it gave up after the first few: at most the pairs in flight were tried, not the whole selection
    assert len(proxy.log) - before <= 2 * (GIVE_UP_AFTER + 4) < 2 * len(sel)
    assert TEST_SECRET_KEY not in msg and auth_moto[2] not in msg


def test_the_torch_datasets_raise_too_when_nothing_is_readable(s3_release, moto):
    from sen12stac.stream.torch import PairDataset, PairStream

    sel = select(f"s3://{s3_release}/{PREFIX}", endpoint_url=moto.endpoint_url, **CREDS)
    sel.location = Location.parse(f"s3://no-such-bucket-torch/{PREFIX}", endpoint_url=moto.endpoint_url, **CREDS)
    with pytest.raises(NothingReadable, match="nothing could be read"):
        list(PairStream(sel, threads=2))
    with pytest.raises(NothingReadable, match=f"the {GIVE_UP_AFTER} pair"):
        PairDataset(sel)[0]


# -- no secret in any pickle -------------------------------------------------------------------
def test_no_pickle_carries_a_key(s3_release, moto):
    from sen12stac.stream.torch import PairDataset, PairStream

    sel = select(f"s3://{s3_release}/{PREFIX}", endpoint_url=moto.endpoint_url, session_token="sen12stac-test-TOKEN-0123", **CREDS)
    for obj in (sel, sel.location, sel.location.s3, PairStream(sel), PairDataset(sel), open_store(f"s3://{s3_release}", endpoint_url=moto.endpoint_url, **CREDS)):
        blob = pickle.dumps(obj)
        for secret in (TEST_ACCESS_KEY, TEST_SECRET_KEY, "sen12stac-test-TOKEN-0123"):
            assert secret.encode() not in blob, (type(obj).__name__, secret)
    copy = pickle.loads(pickle.dumps(sel.location))
    assert copy.s3 == sel.location.s3.without_credentials() and copy.s3.endpoint_url == moto.endpoint_url
    with pytest.raises(TypeError, match="never pickled"):
        pickle.dumps(Secret(TEST_SECRET_KEY))
    with pytest.raises(TypeError, match="never pickled"):
        pickle.dumps({"key": S3Settings(access_key_id=TEST_ACCESS_KEY, secret_access_key=TEST_SECRET_KEY).access_key_id})


SPAWN_SCRIPT = r"""
import json, os, pickle, sys
from torch.utils.data import DataLoader
from sen12stac.stream import select
from sen12stac.stream.torch import PairStream

def epoch(ds, workers):
    try:
        return sorted(i for b in DataLoader(ds, batch_size=4, num_workers=workers, multiprocessing_context="spawn") for i in b["id"])
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"

def main():
    url, key, secret = sys.argv[1:4]
    sel = select(url, access_key_id=key, secret_access_key=secret)   # keys given to this process only; endpoint: AWS_ENDPOINT_URL
    ds = PairStream(sel, threads=2)
    blob = pickle.dumps(ds)                                           # what spawn sends to each worker
    first = epoch(ds, 2)                                              # workers: credentials from their own environment
    os.environ["AWS_SECRET_ACCESS_KEY"] = "not-the-secret-0123456789" # a worker started now inherits a wrong one
    second = epoch(ds, 1)
    print(json.dumps({"want": sorted(p.id for p in sel), "first": first, "second": second,
                      "leak": key.encode() in blob or secret.encode() in blob}))

if __name__ == "__main__":
    main()
"""


def test_spawned_dataloader_workers_stream_with_their_own_credentials(release, auth_moto, tmp_path):
    """DataLoader workers started by spawn get the dataset by pickle: no key travels, each worker
    signs with its own environment's credentials (the server checks them), and a worker whose
    environment has wrong ones raises the reason instead of delivering nothing."""
    server, key_id, secret = auth_moto
    prefix = f"spawn-{os.getpid()}/{PREFIX}"
    upload(server.client(access_key=key_id, secret_key=secret), "locked", release, prefix)
    (tmp_path / "spawn.py").write_text(SPAWN_SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SEN12STAC_"))}
    env.update(AWS_ENDPOINT_URL=server.endpoint_url, AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret)
    r = subprocess.run([sys.executable, "spawn.py", f"s3://locked/{prefix}", key_id, secret], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["leak"] is False
    assert out["first"] == out["want"] and len(out["want"]) > 0
    assert isinstance(out["second"], str) and "NothingReadable" in out["second"] and "nothing could be read" in out["second"], out["second"]
    assert secret not in r.stdout + r.stderr


# -- download: files follow the umask; a failed download leaves nothing -----------------------
@pytest.mark.parametrize("umask, fmt, mode", [(0o022, "cog", 0o644), (0o027, "png", 0o640)])
def test_downloaded_files_follow_the_umask(s3_release, moto, tmp_path, umask, fmt, mode):
    to = tmp_path / "dl"
    r = _cli(["download", f"s3://{s3_release}/{PREFIX}", "--season", "winter", "--split", "test", "--format", fmt, "--to", str(to)],
             moto.endpoint_url, tmp_path, umask=umask)
    assert r.returncode == 0, r.stderr
    files = [p for p in to.rglob("*") if p.is_file()]
    assert (to / "download.json") in files and any(p.suffix == (".tif" if fmt == "cog" else ".png") for p in files)
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {mode}


def test_a_failed_download_leaves_nothing_behind(release, s3_release, moto, s3_client, tmp_path):
    url = f"s3://{s3_release}/{PREFIX}"
    gone = f"stream-dl-gone-{os.getpid()}"
    s3_client.create_bucket(Bucket=gone)
    upload(s3_client, gone, release)
    for p in release.rglob("*.tif"):
        s3_client.delete_object(Bucket=gone, Key=f"{PREFIX}/{p.relative_to(release).as_posix()}")
    nested = tmp_path / "new" / "deeper" / "dl"
    mine = tmp_path / "mine"
    mine.mkdir()
    cases = [
        (["download", url, "--season", "autumn"], 2, "autumn"),                                      # a misspelt season
        (["download", f"s3://no-such-bucket-dl/{PREFIX}"], 4, "no-such-bucket-dl"),                 # a missing bucket
        (["download", url, "--season", "winter", "--split", "train"], 2, "no pair matches"),         # nothing selected
        (["download", f"s3://{gone}/{PREFIX}", "--season", "winter"], 4, "nothing could be read"),   # every object gone
    ]
    for i, (args, code, words) in enumerate(cases):
        for to in (nested, mine) if i in (0, 3) else (nested,):
            r = _cli([*args, "--to", str(to)], moto.endpoint_url, tmp_path)
            assert r.returncode == code, (args, r.stdout, r.stderr)
            assert words in r.stderr and "Fix:" in r.stderr and "Traceback" not in r.stderr, r.stderr
            assert not (tmp_path / "new").exists(), args  # nothing created, not even the parents
            assert mine.is_dir() and list(mine.iterdir()) == [], args  # a folder that was there stays, empty
