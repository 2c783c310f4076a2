"""Streaming and downloading a v2 release (issue #22): every pair yields ``s1`` (2,256,256),
``s2`` (12,256,256) and ``label`` (1,256,256), raw as published or physical in v1's units, the
assets chosen from the items' ``sen12:recipe``; ``download --format png`` is refused.

Two releases: a real ``build --recipe v2`` (synthetic source; beside it a v1 build of the same
ROIs, whose pairs join the v2 ones by id), and ``tests.fakebuild.make_v2_release`` (the
contract's assets and properties over arrays the test knows, for exact values and for items
edited to break the contract)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from sen12stac.errors import ConfigError
from sen12stac.stream import select, stream
from tests.fakebuild import make_v2_release, v2_arrays

REPO = Path(__file__).resolve().parents[1]


BUILD = dict(seasons=("spring", "winter"), scenes_per_season=1, workers=0, scene_size_px=512, defect_rate=0.0)


def _build(out: Path, recipe: str) -> Path:
    from sen12stac.config import make_config
    from sen12stac.pipeline import build
    from sen12stac.store import LocalStore

    build(make_config(recipe=recipe, **BUILD), LocalStore(out))
    return out


@pytest.fixture(scope="module")
def real(tmp_path_factory) -> Path:
    """A real v2 build (synthetic source)."""
    return _build(tmp_path_factory.mktemp("v2real") / "release", "v2")


@pytest.fixture(scope="module")
def v2(tmp_path_factory) -> Path:
    return make_v2_release(tmp_path_factory.mktemp("v2") / "release")


def items_on_disk(release: Path) -> dict[str, tuple[Path, dict]]:
    """Every item JSON of the release (walking files, not through the code under test)."""
    return {p.stem: (p, json.loads(p.read_text())) for p in sorted(release.rglob("*_p*.json"))}


def read_file(item_path: Path, item: dict, key: str) -> np.ndarray:
    with rasterio.open(item_path.parent / item["assets"][key]["href"]) as ds:
        return ds.read()


@pytest.mark.parametrize("which", ["real", "v2"])
def test_a_v2_sample_holds_s1_s2_and_label_as_published(which, request):
    v2 = request.getfixturevalue(which)
    items = items_on_disk(v2)
    assert items and all(it["properties"]["sen12:recipe"] == "v2" for _, it in items.values())
    samples = list(stream(select(str(v2)), seed=None, threads=2))
    assert [s["id"] for s in samples] == sorted(items)
    for s in samples:
        path, item = items[s["id"]]
        assert (s["s1"].shape, s["s1"].dtype) == ((2, 256, 256), np.float32)
        assert (s["s2"].shape, s["s2"].dtype) == ((12, 256, 256), np.uint16)
        assert (s["label"].shape, s["label"].dtype) == ((1, 256, 256), np.uint8)
        for key in ("s1", "s2", "label"):
            np.testing.assert_array_equal(s[key], read_file(path, item, key))


def test_physical_values_are_in_v1s_units(v2):
    """dB for S1 and reflectance x 10000 for S2 (v1's physical units, docs/stac.md), NaN at
    no-data; the label keeps its class codes. The fixture's arrays are the truth: its S2 DN
    is reflectance x 10000 by construction, its catalog scale 0.0001 maps it to reflectance."""
    sel = select(str(v2))
    got = {s["id"]: s for s in stream(sel, seed=None, values="physical", threads=2)}
    first = got[sel[0].id]
    truth = v2_arrays(1)  # the first pair of the fixture (seed 1)
    assert first["s2"].dtype == np.float32 and first["s1"].dtype == np.float32
    want_s2 = truth["s2"].astype(np.float32)
    want_s2[truth["s2"] == 0] = np.nan
    np.testing.assert_array_equal(first["s2"], want_s2)
    np.testing.assert_array_equal(first["s1"], truth["s1"])  # NaN where NaN
    assert first["label"].dtype == np.uint8
    np.testing.assert_array_equal(first["label"], truth["label"])
    assert np.isnan(first["s2"][:, :4, :4]).all() and not np.isnan(first["s2"][:, 4:, 4:]).any()
    assert 1 <= np.nanmin(first["s2"]) and np.nanmax(first["s2"]) <= 10000


def test_physical_values_of_a_real_v2_build_are_in_v1s_units(real, tmp_path):
    """The same ROIs built with v1: the pairs join by id, and v2's physical red band (L2A) is of
    the size of v1's physical red (L1C reflectance x 10000, from its 8-bit stretch), not 10000
    times smaller (the catalog's 0.0001 scale gives reflectance 0..1)."""
    v1 = _build(tmp_path / "v1", "v1")
    a = {s["id"]: s for s in stream(select(str(real)), seed=None, values="physical", threads=2)}
    b = {s["id"]: s for s in stream(select(str(v1)), seed=None, values="physical", threads=2)}
    both = sorted(set(a) & set(b))
    assert both, (sorted(a), sorted(b))
    for i in both:
        red_v2 = a[i]["s2"][3]  # B04 in recipes.V2.s2_bands
        red_v1 = b[i]["s2"][0]  # B04 first in v1 (B04, B03, B02)
        ratio = np.nanmedian(red_v2) / np.nanmedian(red_v1)
        assert 0.2 < ratio < 5.0, (i, ratio)  # L2A is not L1C (no atmosphere), but the same unit: not 1e-4
        vv = np.nanmedian(a[i]["s1"][0]) - np.nanmedian(b[i]["s1"][0])
        assert abs(vv) < 3.0, (i, vv)  # dB both


def test_uint8_values_are_refused_on_a_v2_release(v2):
    with pytest.raises(ConfigError, match="values='raw'"):
        next(stream(select(str(v2)), values="uint8", threads=1))
    with pytest.raises(ConfigError, match="values='reflectance'"):
        next(stream(select(str(v2)), values="reflectance", threads=1))


def _rewrite_parquet(release: Path, change) -> None:
    import pyarrow.parquet as pq
    from stac_geoparquet.arrow import parse_stac_items_to_arrow, stac_table_to_items, to_parquet

    for path in release.glob("*/items.parquet"):
        items = [change(it) for it in stac_table_to_items(pq.read_table(path))]
        to_parquet(parse_stac_items_to_arrow(items), str(path))


def test_the_assets_come_from_the_recipe_not_from_the_files(tmp_path):
    """A v2 item without its label asset is refused at selection (the recipe says it must have
    one); an unknown recipe is refused with the fix; without sen12:recipe the item is v1 and
    streams s1 and s2 only, whatever the files hold."""
    rel = make_v2_release(tmp_path / "a", seasons=(("spring", 1158),), patches=1)

    def no_label(it):
        it["assets"].pop("label")
        return it

    _rewrite_parquet(rel, no_label)
    with pytest.raises(ConfigError, match="has no 'label' asset"):
        select(str(rel))

    rel = make_v2_release(tmp_path / "b", seasons=(("spring", 1158),), patches=1)
    _rewrite_parquet(rel, lambda it: {**it, "properties": {**it["properties"], "sen12:recipe": "v9"}})
    with pytest.raises(ConfigError, match="sen12:recipe 'v9'.*Fix: upgrade sen12stac"):
        select(str(rel))

    rel = make_v2_release(tmp_path / "c", seasons=(("spring", 1158),), patches=1)
    _rewrite_parquet(rel, lambda it: {**it, "properties": {k: v for k, v in it["properties"].items() if k != "sen12:recipe"}})
    sel = select(str(rel))
    assert sel[0].recipe == "v1" and sel[0].asset_names == ("s1", "s2")
    # a v1 pair must hold v1's bands: the 2-band S1 file is reported, not passed on
    from sen12stac.stream import Report

    report = Report()
    with pytest.raises(Exception, match="nothing could be read"):
        list(stream(sel, threads=1, report=report, give_up_after=1))
    assert report.problems[0].kind == "undecodable" and "recipe v1" in report.problems[0].detail


def test_pytorch_batches_of_a_v2_release(real):
    v2 = real
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    from sen12stac.stream.torch import PairDataset, PairStream

    sel = select(str(v2))
    batch = next(iter(DataLoader(PairStream(sel, seed=0, values="physical", threads=2), batch_size=4)))
    assert batch["s1"].shape == (4, 2, 256, 256) and batch["s1"].dtype == torch.float32
    assert batch["s2"].shape == (4, 12, 256, 256) and batch["s2"].dtype == torch.float32
    assert batch["label"].shape == (4, 1, 256, 256) and batch["label"].dtype == torch.uint8
    raw = next(iter(DataLoader(PairDataset(sel), batch_size=2)))
    assert raw["s2"].dtype == torch.uint16 and raw["label"].dtype == torch.uint8 and raw["s1"].dtype == torch.float32
    assert raw["id"] == [sel[0].id, sel[1].id]
    # a 2-worker DataLoader over the stream: every pair once, each with its label
    ids = [i for b in DataLoader(PairStream(sel, seed=0, threads=1), batch_size=2, num_workers=2) for i in b["id"]]
    assert sorted(ids) == sorted(p.id for p in sel)


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SEN12STAC_"))}
    return subprocess.run([sys.executable, "-m", "sen12stac.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_download_png_of_a_v2_release_is_refused_before_anything_is_written(real, tmp_path):
    v2 = real
    r = _cli(["download", str(v2), "--to", "out", "--format", "png"], tmp_path)
    if r.returncode == -6 and "terminate called without an active exception" in r.stderr:
        # pyarrow's parquet threads now and then abort the interpreter at exit (apache/arrow#34314,
        # seen on main too, ~2 in 100 runs on a busy machine): not this refusal's doing; once more
        r = _cli(["download", str(v2), "--to", "out", "--format", "png"], tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = [l for l in (r.stdout + r.stderr).splitlines() if l.strip()]
    assert len(lines) == 1, lines
    assert "8-bit" in lines[0] and "--format cog" in lines[0] and "v2" in lines[0]
    assert not (tmp_path / "out").exists()


def test_download_cog_of_a_v2_release_copies_the_three_files_of_each_pair(real, tmp_path):
    v2 = real
    r = _cli(["download", str(v2), "--to", "out", "--season", "spring"], tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    items = {k: v for k, v in items_on_disk(v2).items() if "spring" in k}
    got = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.tif"))
    want = sorted((p.parent / a["href"]).resolve().relative_to(v2.resolve()).as_posix()
                  for p, it in items.values() for k, a in it["assets"].items() if k in ("s1", "s2", "label"))
    assert got == want and any("/lc_" in g for g in got)
    for g in got:
        assert (tmp_path / "out" / g).read_bytes() == (v2 / g).read_bytes()


def test_a_v2_release_has_training_shards_holding_its_three_cogs(real):
    """The default layout (both) packs every pair's s1, s2 and label COG into its scene's shard,
    byte for byte; each item names the members; streaming by shards gives the per-file pixels."""
    import zipfile

    items = items_on_disk(real)
    shards = sorted(real.rglob("shards_*/*.zip"))
    assert shards, "a v2 build with the default layout writes shards"
    members: dict[str, bytes] = {}
    for z in shards:
        with zipfile.ZipFile(z) as f:
            members.update({f"{z.parent.parent.name}/{n}": f.read(n) for n in f.namelist()})
    for path, item in items.values():
        for key in ("s1", "s2", "label"):
            asset = item["assets"][key]
            entry = asset["alternate"]["shard"]["archive"][0]
            cog = (path.parent / asset["href"]).resolve()
            assert members[f"{cog.parent.parent.name}/{entry['href']}"] == cog.read_bytes(), (item["id"], key)
    by_file = {s["id"]: s for s in stream(select(str(real)), seed=None, threads=2, layout="files")}
    by_shard = list(stream(select(str(real)), seed=None, threads=2, layout="shards"))
    assert sorted(s["id"] for s in by_shard) == sorted(by_file) == sorted(items)
    for s in by_shard:
        for key in ("s1", "s2", "label"):
            np.testing.assert_array_equal(s[key], by_file[s["id"]][key])
    r = subprocess.run([sys.executable, "-m", "sen12stac.cli", "validate", str(real / "catalog.json")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
