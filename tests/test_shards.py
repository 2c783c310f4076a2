"""Training shards (docs/shards.md): written by the scene's worker, recorded in the items, the
geoparquet and the manifest, checked by verify and validate, read back by the stream with
ranged GETs counted at the local S3 server (moto on 127.0.0.1, through a counting proxy)."""
from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import rasterio

from sen12stac.config import make_config
from sen12stac.errors import ConfigError
from sen12stac.pipeline import build
from sen12stac.store import LocalStore
from sen12stac.stream import Report, select, stream
from tests.faultproxy import FaultProxy
from tests.s3server import TEST_ACCESS_KEY, TEST_SECRET_KEY

pytest_plugins = ["tests.conftest_s3"]

CREDS = dict(access_key_id=TEST_ACCESS_KEY, secret_access_key=TEST_SECRET_KEY)
PREFIX = "sen1-2/v1.0.0"
# 1,280 px scenes: 81 patch positions each, so one scene's shard holds more than 50 pairs
CFG = dict(seasons=("spring", "winter"), scenes_per_season=2, workers=0, scene_size_px=1280, defect_rate=0.0,
           split={"scheme": "by-season", "holdout_season": "winter"})


def _build(out: Path, **extra) -> Path:
    build(make_config(**{**CFG, **extra}), LocalStore(out))
    return out


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    return _build(tmp_path_factory.mktemp("shards") / "both")


@pytest.fixture(scope="module")
def only_shards(tmp_path_factory) -> Path:
    return _build(tmp_path_factory.mktemp("shards") / "only", layout="shards", seasons=("spring",))


@pytest.fixture(scope="module")
def s3_release(release, moto, s3_client):
    bucket = "shards-release"
    s3_client.create_bucket(Bucket=bucket)
    for p in sorted(release.rglob("*")):
        if p.is_file():
            s3_client.put_object(Bucket=bucket, Key=f"{PREFIX}/{p.relative_to(release).as_posix()}", Body=p.read_bytes())
    return bucket


@pytest.fixture
def proxy(moto):
    with FaultProxy(moto.endpoint_url, fault_rate=0.0, max_lifetime=300) as p:
        yield p


def _items(root: Path) -> list[tuple[Path, dict]]:
    return [(p, json.loads(p.read_text())) for p in sorted(root.rglob("*_p*.json"))]


def _entry(item_path: Path, asset: dict) -> tuple[Path, dict]:
    holder = asset["alternate"]["shard"] if "alternate" in asset else asset
    return (item_path.parent / holder["href"]).resolve(), holder["archive"][0]


# -- writing -----------------------------------------------------------------------------------
def test_every_cog_is_a_stored_member_of_its_scenes_shard_byte_for_byte(release):
    items = _items(release)
    assert len(items) > 100
    zips = sorted(release.rglob("*.zip"))
    assert [z.relative_to(release).as_posix() for z in zips] == sorted(
        f"{s}/shards_{i}/{s}_{i}_00.zip" for s in ("ROIs1158_spring", "ROIs2017_winter") for i in {p.parent.name for p, _ in items if s in str(p)})
    members = 0
    for path, item in items:
        assert "https://stac-extensions.github.io/archive/v1.0.0/schema.json" in item["stac_extensions"]
        assert "https://stac-extensions.github.io/alternate-assets/v1.2.0/schema.json" in item["stac_extensions"]
        for name in ("s1", "s2"):
            asset = item["assets"][name]
            cog = (path.parent / asset["href"]).read_bytes()
            shard, entry = _entry(path, asset)
            first, last = entry["range"]
            assert shard.read_bytes()[first:last + 1] == cog  # the member's bytes, where the item says
            assert entry["file:checksum"] == asset["file:checksum"] == "1220" + hashlib.sha256(cog).hexdigest()
            with zipfile.ZipFile(shard) as zf:
                info = zf.getinfo(entry["href"])
                assert info.compress_type == zipfile.ZIP_STORED and zf.read(info) == cog
            members += 1
        assert "alternate" not in item["assets"]["thumbnail"]  # only the data files go into shards
    assert members == 2 * len(items)


def test_members_open_in_place_through_gdal(release):
    path, item = _items(release)[7]
    asset = item["assets"]["s2"]
    shard, entry = _entry(path, asset)
    first, last = entry["range"]
    with rasterio.open(path.parent / asset["href"]) as ds:
        want = ds.read()
    with rasterio.open(f"/vsizip/{shard}/{entry['href']}") as ds:
        assert np.array_equal(ds.read(), want)
    with rasterio.open(f"/vsisubfile/{first}_{last - first + 1},{shard}") as ds:
        assert np.array_equal(ds.read(), want) and ds.crs is not None


def test_the_geoparquet_rows_carry_each_members_shard_and_byte_range(release):
    rows = pq.read_table(release / "ROIs1158_spring" / "items.parquet").to_pylist()
    on_disk = {item["id"]: (p, item) for p, item in _items(release)}
    assert len(rows) > 50
    for row in rows:
        p, item = on_disk[row["id"]]
        for name in ("s1", "s2"):
            alt = row["assets"][name]["alternate"]["shard"]
            assert alt["archive"][0]["range"] == item["assets"][name]["alternate"]["shard"]["archive"][0]["range"]
            # the href is relative to the parquet file
            assert (release / "ROIs1158_spring" / alt["href"]).resolve() == _entry(p, item["assets"][name])[0]


def test_a_size_bound_splits_a_scene_into_several_shards_without_splitting_a_pair(tmp_path):
    out = _build(tmp_path / "small", seasons=("spring",), scenes_per_season=1, shard_mb=2)
    zips = sorted(out.rglob("*.zip"))
    assert len(zips) >= 3
    for z in zips[:-1]:
        assert z.stat().st_size <= 2 * 2**20 + 400_000  # the bound, give or take the pair that crossed it
    for path, item in _items(out):
        a, b = (_entry(path, item["assets"][n])[0] for n in ("s1", "s2"))
        assert a == b  # a pair's files share a shard
    sel = select(str(out))
    per_file = {s["id"]: s for s in stream(sel, layout="files", seed=None)}
    got = list(stream(sel, layout="shards", seed=5))
    assert sorted(s["id"] for s in got) == sorted(per_file)
    assert all(np.array_equal(s["s2"], per_file[s["id"]]["s2"]) for s in got)


def test_layout_cogs_writes_no_shard_and_streams_files(tmp_path):
    out = _build(tmp_path / "cogs", seasons=("spring",), scenes_per_season=1, scene_size_px=512, layout="cogs")
    assert not list(out.rglob("*.zip"))
    assert all("alternate" not in item["assets"]["s1"] for _, item in _items(out))
    sel = select(str(out))
    assert len(list(stream(sel))) == len(sel)
    with pytest.raises(ConfigError, match="no training shards"):
        stream(sel, layout="shards")


@pytest.mark.parametrize("layout", ["cogs", "shards", "both"])
def test_the_build_summary_counts_the_bytes_each_layout_stores(tmp_path, layout):
    """What `build` reports as written is what lies in the patch folders (COGs, thumbnails,
    shards): both counts the COGs twice, shards once, inside the ZIPs."""
    out = tmp_path / layout
    summary = build(make_config(**{**CFG, "seasons": ("spring",), "scenes_per_season": 1, "scene_size_px": 512, "layout": layout}), LocalStore(out))
    stored = sum(p.stat().st_size for p in out.glob("ROIs*/*_*/*") if p.is_file() and p.parent.name.split("_")[0] in ("s1", "s2", "thumbs", "shards"))
    assert summary.patches_published > 0 and summary.bytes_written == stored


def test_layout_shards_items_point_at_the_shard_and_stream_the_same_pixels(release, only_shards):
    assert not list(only_shards.rglob("*.tif"))  # no per-file COG
    for path, item in _items(only_shards):
        asset = item["assets"]["s1"]
        assert asset["type"] == "application/zip" and "archive" in asset["roles"] and "bands" in asset
        shard = (path.parent / asset["href"]).read_bytes()
        assert asset["file:checksum"] == "1220" + hashlib.sha256(shard).hexdigest()  # file: fields describe the href: the shard
        first, last = asset["archive"][0]["range"]
        twin = json.loads((release / path.relative_to(only_shards)).read_text())["assets"]["s1"]
        assert shard[first:last + 1] == (release / path.relative_to(only_shards)).parent.joinpath(twin["href"]).read_bytes()
    sel = select(str(only_shards))
    both = {s["id"]: s for s in stream(select(str(release), seasons="spring"), layout="files", seed=None)}
    got = list(stream(sel, seed=1))  # the default: shards
    assert sorted(s["id"] for s in got) == sorted(both)
    for s in got:
        assert np.array_equal(s["s1"], both[s["id"]]["s1"]) and np.array_equal(s["s2"], both[s["id"]]["s2"])
    with pytest.raises(ConfigError, match="only inside training shards"):
        stream(sel, layout="files")


# -- reading from S3: requests counted at the server ----------------------------------------------
def _gets(proxy: FaultProxy, after: int) -> list[tuple[str, str | None, int]]:
    return [(path, rng, n) for method, path, rng, status, n in proxy.served[after:] if method == "GET"]


def test_a_season_streams_with_at_most_one_get_per_50_pairs_and_the_same_pixels(release, s3_release, proxy):
    sel = select(f"s3://{s3_release}/{PREFIX}", seasons="spring", endpoint_url=proxy.url, **CREDS)
    assert len(sel) >= 100
    before = len(proxy.served)
    report = Report()
    got = list(stream(sel, seed=7, report=report))  # the default picks shards
    gets = _gets(proxy, before)
    assert len(gets) <= len(sel) / 50, gets
    assert all(path.endswith(".zip") and rng and rng.startswith("bytes=") for path, rng, _ in gets)
    assert report.fetched == len(gets) and report.pairs == len(sel) and not report.problems
    assert len(proxy.log) == len(proxy.served)  # nothing else: no HEAD, no LIST
    local = {p.id: p for p in select(str(release), seasons="spring")}
    assert sorted(s["id"] for s in got) == sorted(local)
    for s in got:  # every pair: the pixels of its COG file on disk
        for name in ("s1", "s2"):
            with rasterio.open(release / local[s["id"]].asset(name).href) as ds:
                assert np.array_equal(s[name], ds.read())
    assert [s["id"] for s in stream(sel, seed=7)] == [s["id"] for s in got]  # (seed, epoch) fixes the order
    assert [s["id"] for s in stream(sel, seed=7, epoch=1)] != [s["id"] for s in got]


def test_a_partial_selection_reads_only_its_members_byte_ranges(release, s3_release, proxy):
    full = select(str(release), seasons="winter")
    ids = [p.id for p in full.pairs[::3]]  # every third pair: its neighbours are left out
    sel = select(f"s3://{s3_release}/{PREFIX}", seasons="winter", ids=ids, endpoint_url=proxy.url, **CREDS)
    before = len(proxy.served)
    got = list(stream(sel, seed=None))
    assert sorted(s["id"] for s in got) == sorted(ids)
    gets = _gets(proxy, before)
    assert all(rng for _, rng, _ in gets)
    served = []
    for path, rng, n in gets:
        first, last = (int(v) for v in rng.split("=")[1].split("-"))
        assert n == last - first + 1
        served.append((path.split(f"/{PREFIX}/", 1)[1], first, last))
    wanted = {(p.s1.shard.href, p.s1.shard.offset, p.s1.shard.offset + p.s1.shard.size - 1) for p in sel}
    wanted |= {(p.s2.shard.href, p.s2.shard.offset, p.s2.shard.offset + p.s2.shard.size - 1) for p in sel}
    others = {(p.asset(a).shard.href, p.asset(a).shard.offset) for p in full.pairs if p.id not in set(ids) for a in ("s1", "s2")}
    for key, first, last in wanted:  # every member needed was read ...
        assert any(k == key and f <= first and last <= l for k, f, l in served)
    for key, off in others:  # ... and no byte of a left-out pair's members
        assert not any(k == key and f <= off <= l for k, f, l in served)
    member_bytes = sum(last - first + 1 for _, first, last in wanted)
    assert sum(n for _, _, n in gets) < member_bytes + 400 * len(wanted)  # at most the ZIP headers between neighbours
    assert len(gets) < len(wanted) / 2  # a pair's two neighbouring members come in one GET


def test_workers_and_ranks_get_disjoint_complete_parts_of_whole_shards(release, s3_release, moto):
    sel = select(f"s3://{s3_release}/{PREFIX}", endpoint_url=moto.endpoint_url, **CREDS)
    parts = {(r, w): [s["id"] for s in stream(sel, seed=3, epoch=2, rank=r, world_size=2, worker=w, num_workers=2)]
             for r in range(2) for w in range(2)}
    every = [i for ids in parts.values() for i in ids]
    assert sorted(every) == sorted(p.id for p in sel)  # complete, and each pair once
    shard_of = {p.id: p.s1.shard.href for p in sel}
    owners = {}
    for part, ids in parts.items():
        for i in ids:
            assert owners.setdefault(shard_of[i], part) == part  # a shard is read by one worker of one rank
    assert all(parts.values())


def test_torch_dataloader_two_workers_and_random_access_is_one_ranged_get_per_asset(release, s3_release, proxy):
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    from sen12stac.stream.torch import PairDataset, PairStream

    sel = select(f"s3://{s3_release}/{PREFIX}", seasons="winter", endpoint_url=proxy.url, **CREDS)
    ds = PairStream(sel, seed=0)
    assert ds.layout == "shards" and len(ds) == len(sel)
    ids = [i for batch in DataLoader(ds, batch_size=8, num_workers=2) for i in batch["id"]]
    assert sorted(ids) == sorted(p.id for p in sel)

    rand = PairDataset(sel)
    before = len(proxy.served)
    sample = rand[5]
    gets = _gets(proxy, before)
    pair = sel.pairs[5]
    assert sample["id"] == pair.id and len(gets) == 2
    assert sorted(rng for _, rng, _ in gets) == sorted(f"bytes={a.shard.offset}-{a.shard.offset + a.shard.size - 1}" for a in (pair.s1, pair.s2))
    with rasterio.open(release / pair.s2.href) as src:
        assert torch.equal(sample["s2"], torch.from_numpy(src.read()))


def test_a_missing_shard_and_a_damaged_member_are_reported_per_pair(release, s3_release, moto, s3_client):
    bad = "shards-bad"
    s3_client.create_bucket(Bucket=bad)
    for p in sorted(release.rglob("*")):
        if p.is_file():
            s3_client.put_object(Bucket=bad, Key=f"{PREFIX}/{p.relative_to(release).as_posix()}", Body=p.read_bytes())
    sel = select(f"s3://{bad}/{PREFIX}", seasons="winter", endpoint_url=moto.endpoint_url, **CREDS)
    by_id = {p.id: p for p in sel}
    order = [by_id[s["id"]].s1.shard.href for s in stream(sel, seed=0)]
    damaged, gone = order[0], order[-1]  # a pass that read pairs before the shard that is gone
    assert damaged != gone
    s3_client.delete_object(Bucket=bad, Key=f"{PREFIX}/{gone}")
    victim = next(p for p in sel if p.s2.shard.href == damaged)
    data = bytearray((release / damaged).read_bytes())
    data[victim.s2.shard.offset + 5000] ^= 0xFF
    s3_client.put_object(Bucket=bad, Key=f"{PREFIX}/{damaged}", Body=bytes(data))
    report = Report()
    got = {s["id"] for s in stream(sel, seed=0, report=report)}
    lost = {p.id for p in sel if p.s1.shard.href == gone}
    assert got == {p.id for p in sel} - lost - {victim.id}
    kinds = {(p.item_id, p.asset): p.kind for p in report.problems}
    assert kinds[(victim.id, "s2")] == "checksum" and {kinds[(i, "s1")] for i in lost} == {"missing"}
    assert report.skipped == len(lost) + 1


# -- verify, validate, publish ------------------------------------------------------------------
def test_publish_carries_the_shards_and_verify_and_validate_check_every_member(release, tmp_path, s3_store):
    from sen12stac.release.publish import publish
    from sen12stac.release.verify import verify
    from sen12stac.stac.validate import validate_catalog

    dest = s3_store("pub")
    report = publish(LocalStore(release), dest, "1.0.0", verify_cogs=4)
    assert report.verify.ok
    manifest = json.loads(dest.get("v1.0.0/release.json"))
    keys = {o["key"] for o in manifest["objects"]}
    zips = {p.relative_to(release).as_posix() for p in release.rglob("*.zip")}
    assert zips <= keys
    members = manifest["members"]
    assert len(members) == 2 * report.counts["items"]
    m = members[0]
    shard = (release / m["shard"]).read_bytes()
    assert hashlib.sha256(shard[m["offset"]:m["offset"] + m["size"]]).hexdigest() == m["sha256"]
    assert verify(dest, "1.0.0", check_cogs=False).members_checked == len(members)

    # a member damaged in a copy of the build: validate finds it; the manifest's member line too
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(release, copy)
    bad = copy / m["shard"]
    data = bytearray(bad.read_bytes())
    data[m["offset"] + 100] ^= 0xFF
    bad.write_bytes(bytes(data))
    problems = validate_catalog(LocalStore(copy), check_cogs=False)
    assert any(f"member {m['name']}" in p and "checksum" in p for p in problems), problems
    from sen12stac.shards.check import member_problems
    from sen12stac.runtime.pool import bounded

    found, n = member_problems(LocalStore(copy), ".", [m], 1, bounded)
    assert n == 1 and found and "sha256 differs" in found[0]


def test_validate_opens_one_member_in_place_through_gdal(only_shards):
    from sen12stac.shards.check import ShardCache, check_member

    path, item = _items(only_shards)[0]
    key = path.relative_to(only_shards).as_posix()
    asset = item["assets"]["s2"]
    store = LocalStore(only_shards)
    cache = ShardCache()
    assert check_member(store, "item", "s2", asset, key, cache, True) == [] and cache.gdal_checked
    # an entry whose bytes match its checksum but are no GeoTIFF (the shard's central directory):
    # only opening it through GDAL can tell
    shard = (path.parent / asset["href"]).read_bytes()
    tail = shard[-200:]
    bogus = json.loads(json.dumps(asset))
    bogus["archive"][0].update({"range": [len(shard) - 200, len(shard) - 1], "file:checksum": "1220" + hashlib.sha256(tail).hexdigest()})
    problems = check_member(store, "item", "s2", bogus, key, ShardCache(), True)
    assert len(problems) == 1 and "/vsisubfile/" in problems[0], problems


def test_column_built_pairs_carry_the_shard_refs_made_item_by_item(release, only_shards):
    """select() builds a folder release's pairs column by column from the stac-geoparquet; each
    asset's shard member (alternate with --layout both, the asset itself with --layout shards)
    equals what the per-item path makes of the same row as an item dict."""
    import pyarrow.parquet as pq
    from stac_geoparquet.arrow import stac_table_to_items

    from sen12stac.stream.location import resolve
    from sen12stac.stream.select import pair_from_item

    for root in (release, only_shards):
        got = {p.id: p for p in select(str(root))}
        checked = 0
        for path in sorted(root.glob("*/items.parquet")):
            key = f"{path.parent.name}/items.parquet"
            for item in stac_table_to_items(pq.read_table(path)):
                want = pair_from_item(item, lambda h: resolve(key, h))
                assert want.s1.shard is not None and want.s2.shard is not None
                assert (got[item["id"]].s1, got[item["id"]].s2, got[item["id"]].label) == (want.s1, want.s2, want.label), item["id"]
                checked += 1
        assert checked == len(got) > 0
