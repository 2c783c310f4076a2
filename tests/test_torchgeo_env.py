"""The torchgeo adapter (sen12stac.stream.torchgeo, extra ``torchgeo``) with torchgeo itself: a
dataset and a datamodule over a release, trained one step through torchgeo's datamodule from a
folder and from the local S3 server (moto on 127.0.0.1). A small release is built once with the
real pipeline.

These tests run in the torchgeo environment (``.venv/tools-torchgeo``: torchgeo with a matching
torch and torchvision, docs/torchgeo.md), which ``make test`` builds; the dev environment's
``tests/test_torchgeo.py`` runs this file there and fails unless every test in it passes.
In an environment without torchgeo, tests/conftest.py leaves this file out of collection.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from sen12stac.errors import ConfigError
from tests.s3server import TEST_ACCESS_KEY, TEST_SECRET_KEY

pytest_plugins = ["tests.conftest_s3"]

PREFIX = "sen1-2/v1.0.0"
CREDS = dict(access_key_id=TEST_ACCESS_KEY, secret_access_key=TEST_SECRET_KEY)


def items_on_disk(release: Path) -> list[dict]:
    """Every item JSON of the release, found by walking files (not through the code under test)."""
    return [json.loads(p.read_text()) for p in sorted(release.rglob("*_p*.json"))]


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    """Spring (three scenes: the ratios put two in train and one in validate, by scene hash) and winter (the
    held-out test season): all three splits occur."""
    from sen12stac.config import make_config
    from sen12stac.pipeline import build
    from sen12stac.store import LocalStore

    out = tmp_path_factory.mktemp("torchgeo") / "release"
    build(make_config(seasons=("spring", "winter"), scenes_per_season=3, workers=0, scene_size_px=512, defect_rate=0.0,
                      split={"scheme": "by-season", "holdout_season": "winter", "ratios": (0.3, 0.7, 0.0)}), LocalStore(out))
    return out


@pytest.fixture(scope="module")
def s3_release(release, moto, s3_client) -> str:
    bucket = "torchgeo-release"
    s3_client.create_bucket(Bucket=bucket)
    for p in sorted(release.rglob("*")):
        if p.is_file():
            s3_client.put_object(Bucket=bucket, Key=f"{PREFIX}/{p.relative_to(release).as_posix()}", Body=p.read_bytes())
    return f"s3://{bucket}/{PREFIX}"


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read()


# -- the dataset -----------------------------------------------------------------------------
def test_release_has_every_split(release):
    assert {i["properties"]["ml-aoi:split"] for i in items_on_disk(release)} == {"train", "validate", "test"}


@pytest.mark.parametrize("split,ml_aoi", [("train", "train"), ("val", "validate"), ("validate", "validate"), ("test", "test")])
def test_splits_follow_ml_aoi_split(release, split, ml_aoi):
    from sen12stac.stream.torchgeo import SEN12

    ds = SEN12(str(release), split=split)
    assert ds.ids == sorted(i["id"] for i in items_on_disk(release) if i["properties"]["ml-aoi:split"] == ml_aoi)
    assert len(ds) == len(ds.ids)


def test_sample_is_sen12ms_style_image_of_s1_then_s2(release):
    """``image`` = the S1 COG's band then the S2 COG's bands, as published (uint8 DN as float32);
    no ``mask`` in a v1 release. Compared with rasterio's read of the files themselves."""
    from sen12stac.stream.torchgeo import SEN12

    ds = SEN12(str(release), split="test")
    assert ds.recipe.name == "v1" and ds.bands == ("S1_VV", "S2_B04", "S2_B03", "S2_B02")
    item = next(i for i in items_on_disk(release) if i["id"] == ds.ids[1])
    folder = next(release.rglob(f"{item['id']}.json")).parent
    sample = ds[1]
    assert set(sample) == {"image"}
    assert sample["image"].dtype.is_floating_point and tuple(sample["image"].shape) == (4, 256, 256)
    s1 = _read((folder / item["assets"]["s1"]["href"]).resolve())
    s2 = _read((folder / item["assets"]["s2"]["href"]).resolve())
    np.testing.assert_array_equal(sample["image"].numpy(), np.concatenate([s1, s2]).astype(np.float32))
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_an_http_release_gives_the_same_samples(release):
    """A release behind a plain HTTP server on 127.0.0.1 (the https:// path of the stream):
    the same ids, recipe and image tensors as the folder."""
    import functools
    import http.server
    import threading

    import torch

    from sen12stac.stream.torchgeo import SEN12

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(release))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        remote = SEN12(f"http://127.0.0.1:{server.server_address[1]}", split="val")
        local = SEN12(str(release), split="val")
        assert remote.ids == local.ids and remote.recipe == local.recipe
        assert torch.equal(remote[len(remote) - 1]["image"], local[len(local) - 1]["image"])
    finally:
        server.shutdown()
        server.server_close()


def test_transforms_get_the_sample(release):
    from sen12stac.stream.torchgeo import SEN12

    seen = []

    def transform(sample):
        seen.append(sorted(sample))
        return {"image": sample["image"][:1] * 0 + 7}

    ds = SEN12(str(release), split="test", transforms=transform)
    assert float(ds[0]["image"].max()) == 7.0 and seen == [["image"]]


def test_plot_draws_s1_beside_s2(release):
    import torch
    from matplotlib.figure import Figure

    from sen12stac.stream.torchgeo import SEN12

    ds = SEN12(str(release), split="test")
    sample = ds[0]
    fig = ds.plot(sample, suptitle="pair")
    assert isinstance(fig, Figure)
    assert [ax.get_title() for ax in fig.axes] == ["S1 VV", "S2 B04/B03/B02"]
    drawn = fig.axes[1].get_images()[0].get_array()
    assert drawn.shape == (256, 256, 3) and 0.0 <= float(drawn.min()) and float(drawn.max()) <= 1.0
    fig = ds.plot({**sample, "prediction": torch.rand(3, 256, 256)}, show_titles=False)
    assert len(fig.axes) == 3 and all(ax.get_title() == "" for ax in fig.axes)


def test_a_split_with_no_pairs_is_one_clear_error(release):
    from sen12stac.stream.torchgeo import SEN12

    with pytest.raises(ConfigError, match="no pairs of .* match split='test'") as exc:
        SEN12(str(release), split="test", seasons="spring")
    assert "\n" not in str(exc.value) and exc.value.fix
    with pytest.raises(ConfigError, match="unknown split 'valid'"):
        SEN12(str(release), split="valid")


def test_recipe_comes_from_the_release(release, tmp_path):
    """A root catalog that says ``sen12:recipe: v2`` makes a v2 dataset (14 bands); files of v1
    under it are refused with one line instead of wrong channels."""
    import shutil

    from sen12stac.stream.torchgeo import SEN12

    copy = tmp_path / "v2ish"
    shutil.copytree(release, copy)
    root = json.loads((copy / "catalog.json").read_text())
    root["sen12:recipe"] = "v2"
    (copy / "catalog.json").write_text(json.dumps(root))
    ds = SEN12(str(copy), split="test", values="physical")
    assert ds.recipe.name == "v2" and len(ds.bands) == 14 and ds.bands[:2] == ("S1_VV", "S1_VH")
    with pytest.raises(ConfigError, match="has 1 S1 and 3 S2 bands, but recipe v2 has 2 and 12"):
        ds[0]




def test_v2_release_gives_14_bands_and_the_label_as_mask(tmp_path):
    """A real v2 build (synthetic source): image = S1 VV, VH then the 12 S2 bands as published,
    mask = the label COG; one segmentation step through the datamodule, normalised as SEN12MS."""
    import lightning.pytorch as pl
    import torch

    from sen12stac.config import make_config
    from sen12stac.pipeline import build
    from sen12stac.store import LocalStore
    from sen12stac.stream.torchgeo import SEN12, SEN12DataModule

    out = tmp_path / "v2"
    build(make_config(recipe="v2", seasons=("spring",), scenes_per_season=3, workers=0, scene_size_px=512, defect_rate=0.0,
                      split={"scheme": "random", "ratios": (0.3, 0.7, 0.0)}), LocalStore(out))
    ds = SEN12(str(out), split="train")
    assert ds.recipe.name == "v2" and ds.bands[:3] == ("S1_VV", "S1_VH", "S2_B01") and len(ds.bands) == 14
    item = next(i for i in items_on_disk(out) if i["id"] == ds.ids[0])
    folder = next(out.rglob(f"{item['id']}.json")).parent
    sample = ds[0]
    assert set(sample) == {"image", "mask"} and sample["mask"].dtype == torch.int64 and tuple(sample["mask"].shape) == (256, 256)
    s1, s2, label = (_read((folder / item["assets"][k]["href"]).resolve()) for k in ("s1", "s2", "label"))
    np.testing.assert_array_equal(sample["image"].numpy(), np.concatenate([s1, s2.astype(np.float32)]))
    np.testing.assert_array_equal(sample["mask"].numpy(), label[0])
    assert [ax.get_title() for ax in ds.plot(sample).axes] == ["S1 VV", "S2 B04/B03/B02", "Label (WorldCover)"]

    class Seg(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(14, 101, 1)
            self.images: list = []

        def training_step(self, batch, batch_idx):
            self.images.append(batch["image"].detach().clone())
            return torch.nn.functional.cross_entropy(self.conv(batch["image"].nan_to_num(0.0)), batch["mask"])

        def validation_step(self, batch, batch_idx):
            pass

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    model = Seg()
    before = model.conv.weight.detach().clone()
    dm = SEN12DataModule(root=str(out), batch_size=2)
    pl.Trainer(max_steps=1, limit_val_batches=1, num_sanity_val_steps=0, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
               enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path).fit(model, datamodule=dm)
    assert not torch.equal(before, model.conv.weight.detach())
    assert dm.std.tolist() == [-25.0, -25.0] + [1e4] * 12
    s2_seen = model.images[0][:, 2:]
    assert float(s2_seen[~s2_seen.isnan()].max()) <= 1.5  # reflectance x 10000 / 1e4


# -- one training step through torchgeo's datamodule -----------------------------------------
def _tiny_model():
    import lightning.pytorch as pl
    import torch

    class Tiny(pl.LightningModule):
        """S1 -> S2 translation (the SEN1-2 task) with one 3x3 convolution."""

        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 3, 3, padding=1)
            self.batches: list[dict] = []

        def training_step(self, batch, batch_idx):
            self.batches.append({k: v.detach().clone() for k, v in batch.items()})
            image = batch["image"]
            return torch.nn.functional.l1_loss(self.conv(image[:, :1]), image[:, 1:])

        def validation_step(self, batch, batch_idx):
            self.log("val_loss", torch.nn.functional.l1_loss(self.conv(batch["image"][:, :1]), batch["image"][:, 1:]))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    return Tiny()


def _fit_one_step(datamodule, tmp_path):
    import lightning.pytorch as pl
    import torch

    model = _tiny_model()
    before = model.conv.weight.detach().clone()
    trainer = pl.Trainer(max_steps=1, limit_val_batches=1, num_sanity_val_steps=0, accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(model, datamodule=datamodule)
    assert trainer.global_step == 1
    assert not torch.equal(before, model.conv.weight.detach())  # one optimiser step was taken
    return model


def test_one_training_step_through_the_datamodule_from_a_folder(release, tmp_path):
    from sen12stac.stream.torchgeo import SEN12, SEN12DataModule

    dm = SEN12DataModule(batch_size=2, num_workers=0, root=str(release))
    model = _fit_one_step(dm, tmp_path)
    (batch,) = model.batches
    assert set(batch) == {"image"} and tuple(batch["image"].shape) == (2, 4, 256, 256)
    assert 0.0 <= float(batch["image"].min()) and float(batch["image"].max()) <= 1.0  # DN / 255, torchgeo's default
    assert float(batch["image"].max()) > 0.5
    assert isinstance(dm.train_dataset, SEN12) and dm.train_dataset.split == "train" and dm.val_dataset.split == "val"
    assert set(dm.train_dataset.ids).isdisjoint(dm.val_dataset.ids)
    assert dm.recipe.name == "v1"


def test_one_training_step_from_s3_with_workers(s3_release, moto, tmp_path, monkeypatch):
    """From the local S3 server, the endpoint from ``AWS_ENDPOINT_URL`` alone and two DataLoader
    workers (each reads with its own client); physical values, normalised as SEN12MS's datamodule."""
    from sen12stac.stream.torchgeo import SEN12DataModule

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", TEST_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TEST_SECRET_KEY)
    dm = SEN12DataModule(batch_size=2, num_workers=2, root=s3_release, values="physical")
    model = _fit_one_step(dm, tmp_path)
    (batch,) = model.batches
    image = batch["image"]
    assert tuple(image.shape) == (2, 4, 256, 256)
    s1, s2 = image[:, 0], image[:, 1:]
    valid1, valid2 = ~s1.isnan(), ~s2.isnan()
    # dB / -25: backscatter of -25..+5 dB becomes about -0.2..1; reflectance x 10000 / 1e4 is 0..~1
    assert float(s1[valid1].min()) > -1.0 and float(s1[valid1].max()) < 2.0 and float(s1[valid1].mean()) > 0.2
    assert float(s2[valid2].min()) >= 0.0 and float(s2[valid2].max()) <= 1.5
    assert dm.std.tolist() == [-25.0, 1e4, 1e4, 1e4]


def test_readme_line_runs_as_printed(release, tmp_path, monkeypatch):
    """The README's torchgeo line (section "Stream"), run as printed on the release as ./demo
    with a tiny model: it trains on the train split."""
    import re

    from lightning.pytorch import Trainer

    from sen12stac.stream.torchgeo import SEN12DataModule

    section = (Path(__file__).resolve().parents[1] / "README.md").read_text().split("### Stream", 1)[1].split("\n#", 1)[0]
    (line,) = [l for l in section.splitlines() if l.startswith("torchgeo:")]
    code = re.match(r"torchgeo: `([^`]+)`", line).group(1)
    (tmp_path / "demo").symlink_to(release)
    monkeypatch.chdir(tmp_path)
    model = _tiny_model()
    exec(compile(code, "README.md", "exec"), {"Trainer": Trainer, "SEN12DataModule": SEN12DataModule, "model": model})
    assert model.batches and tuple(model.batches[0]["image"].shape[1:]) == (4, 256, 256)
