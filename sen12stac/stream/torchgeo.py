"""torchgeo adapter (optional extra ``torchgeo``): a dataset and a datamodule over any release.

    from lightning.pytorch import Trainer
    from sen12stac.stream.torchgeo import SEN12, SEN12DataModule
    ds = SEN12("s3://my-bucket/sen1-2/v1.0.0", split="train")     # or a folder, https://, or api=True
    dm = SEN12DataModule(root="demo", batch_size=16, num_workers=2)
    Trainer(max_epochs=1).fit(model, datamodule=dm)

Built on torchgeo's public base classes (:class:`torchgeo.datasets.NonGeoDataset`,
:class:`torchgeo.datamodules.NonGeoDataModule`) and on the stream layer
(:func:`sen12stac.stream.select` and :class:`sen12stac.stream.torch.PairDataset`): one ranged
GET per asset from the release's training shards when it has them, else one GET per file,
sha256 checked against the item, S3 settings and credentials as every command resolves
them, broken pairs skipped and counted, nothing readable raised.

Samples follow torchgeo's own SEN12MS dataset: ``image`` is the S1 bands followed by the S2
bands on the channel axis (float32), ``mask`` the land-cover label as a ``(H, W)`` long tensor
when the release has one (recipe v2; none in v1, the paper's translation task). The recipe is
read from the release (``sen12:recipe``), which fixes :attr:`SEN12.bands`. See docs/torchgeo.md.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..extras import require

require("torchgeo")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ..errors import ConfigError, MissingExtraError  # noqa: E402

try:
    from torchgeo.datamodules import NonGeoDataModule
    from torchgeo.datasets import NonGeoDataset

    import kornia.augmentation as K
except (ImportError, OSError, RuntimeError) as exc:  # torchvision built for another torch fails with RuntimeError
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    raise MissingExtraError(f"torchgeo cannot be imported: {first[:300]} (torch {torch.__version__})",
                            fix="install torch and torchvision as a pair built together: pip install 'sen12stac[torchgeo]' in an environment "
                                "without the [torch] extra's CPU pin, or both from PyTorch's CPU wheel index (docs/torchgeo.md)") from exc

from ..recipe.recipes import WORLDCOVER_CLASSES, RecipeSpec, recipe  # noqa: E402
from . import select  # noqa: E402
from .fetch import GIVE_UP_AFTER, OnError  # noqa: E402
from .select import Selection  # noqa: E402
from .torch import PairDataset  # noqa: E402

__all__ = ["SEN12", "SEN12DataModule", "release_recipe"]

#: torchgeo's split names (the datamodule asks for ``val``) -> the release's ``ml-aoi:split``.
SPLIT_NAMES = {"train": "train", "val": "validate", "validate": "validate", "test": "test"}

#: Divisors that bring each band near [-1, 1] (mean 0), as torchgeo's SEN12MS datamodule does for
#: the same units: S1 in dB (-25), S2 reflectance x 10000 (1e4). For ``values="uint8"`` of a v1
#: release (published DN 0-255) torchgeo's default (std 255) is kept.
S1_STD, S2_STD = -25.0, 1e4


def release_recipe(selection: Selection, *, root: str | None = None, api: bool = False) -> RecipeSpec:
    """The recipe of the release a selection comes from: ``sen12:recipe`` of the root catalog
    (one GET); for a STAC API, the recipe the stream read from the items, or the first pair's
    collection. Releases built before v2 carry no such string (v1 collections hold a dict of
    build settings under that name): v1."""
    if api:
        if not selection.pairs:
            return recipe("v1")
        value = getattr(selection.pairs[0], "recipe", None)
        if not isinstance(value, str):
            from pystac_client import Client

            coll = Client.open(str(root)).get_collection(selection.pairs[0].collection)
            value = (coll.extra_fields or {}).get("sen12:recipe") if coll is not None else None
    else:
        key = "catalog.json"
        if root is not None and str(root).endswith(".json"):
            key = str(root).rpartition("/")[2]
        value = json.loads(selection.location.get(key, plain=True)).get("sen12:recipe")
    return recipe(value if isinstance(value, str) else "v1")


class SEN12(NonGeoDataset):
    """SEN1-2 pairs of one split of a sen12stac release, as a torchgeo dataset.

    ``root``: the release -- a folder, ``s3://bucket/prefix/vX.Y.Z``, an ``https://`` URL of a
    release root, or with ``api=True`` the URL of a STAC API serving it. ``split``: ``train``,
    ``val`` (or ``validate``) or ``test``, on the items' ``ml-aoi:split``; ``None`` takes every
    pair. ``seasons``, ``bbox``, ``datetime``, ``filter`` (CQL2) and ``ids`` narrow the selection
    as :func:`sen12stac.stream.select` does; ``s3_options`` are the S3 store's settings
    (``endpoint_url``, ``region``, ``profile``, ``anonymous``, ...).

    A sample is ``{"image": (C, H, W) float32, "mask": (H, W) long}`` (``mask`` only when the
    release has labels), passed through ``transforms`` when given. ``values="raw"`` (or its v1
    name ``"uint8"``): as published (v1: DN 0-255; v2: S1 in dB, S2 reflectance x 10000);
    ``"physical"``: dB and reflectance x 10000 for both recipes, no-data as NaN. ``checksum``: compare every file's
    sha256 with the item's ``file:checksum``. ``cache_dir``, ``on_error`` and ``give_up_after``
    as for :class:`~sen12stac.stream.torch.PairDataset`.
    """

    def __init__(self, root: str = "demo", split: str | None = "train", *, transforms: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                 values: str = "raw", seasons: str | Iterable[str] | None = None, bbox: Sequence[float] | None = None, datetime: str | None = None,
                 filter: str | dict | None = None, ids: Iterable[str] | None = None, api: bool = False, checksum: bool = True,
                 cache_dir: str | None = None, on_error: OnError = "skip", give_up_after: int = GIVE_UP_AFTER, **s3_options: Any) -> None:
        if split is not None and split not in SPLIT_NAMES:
            raise ConfigError(f"unknown split {split!r}", fix="use train, val (or validate), test, or None for every pair")
        if values not in ("raw", "uint8", "physical"):
            raise ConfigError(f"unknown values {values!r}", fix='use values="raw" (as published) or values="physical" (dB and reflectance x 10000)')
        self.root, self.split, self.transforms = root, split, transforms
        self.selection = select(root, seasons=seasons, split=None if split is None else SPLIT_NAMES[split], bbox=bbox, datetime=datetime,
                                filter=filter, ids=ids, api=api, **s3_options)
        if not len(self.selection):
            where = self.selection.location.url if not api else root
            raise ConfigError(f"no pairs of {where} match split={split!r} and the other filters",
                              fix="check the release's splits (its collections' sen12:split_items) and the filters; torchgeo's datamodule "
                                  "needs train and val pairs for fit, test pairs for test")
        self.recipe = release_recipe(self.selection, root=str(root), api=api)  # one GET
        #: Channel names of ``image``: S1 bands then S2 bands (SEN12MS's order).
        self.bands: tuple[str, ...] = tuple(f"S1_{b}" for b in self.recipe.s1_bands) + tuple(f"S2_{b}" for b in self.recipe.s2_bands)
        if values != "physical":  # as published: "uint8" is v1's name for it, "raw" the name for every recipe
            values = "uint8" if self.recipe.name == "v1" else "raw"
        self.values = values
        self.pairs = PairDataset(self.selection, values=values, cache_dir=cache_dir, verify=checksum, on_error=on_error, give_up_after=give_up_after)

    @property
    def ids(self) -> list[str]:
        """Item ids in index order."""
        return [p.id for p in self.selection.pairs]

    @property
    def report(self):  # noqa: ANN201 - sen12stac.stream.Report
        """This process's counts of pairs read and problems met (each DataLoader worker keeps its own)."""
        return self.pairs.report

    def __len__(self) -> int:
        return len(self.selection)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} pairs")
        raw = self.pairs[index % len(self)]
        s1, s2 = raw["s1"].float(), raw["s2"].float()
        n1, n2 = len(self.recipe.s1_bands), len(self.recipe.s2_bands)
        if s1.shape[0] != n1 or s2.shape[0] != n2:
            raise ConfigError(f"item {raw['id']} has {s1.shape[0]} S1 and {s2.shape[0]} S2 bands, but recipe {self.recipe.name} has {n1} and {n2}",
                              fix="the release's sen12:recipe does not match its files: rebuild or repair the release")
        sample: dict[str, Any] = {"image": torch.cat([s1, s2], dim=0)}
        if "label" in raw:
            sample["mask"] = raw["label"][0].long()
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample

    def __str__(self) -> str:
        return (f"{super().__str__()}\n    release: {self.root}\n    split: {self.split}\n    recipe: {self.recipe.name}\n"
                f"    bands: {', '.join(self.bands)}")

    def plot(self, sample: dict[str, Any], show_titles: bool = True, suptitle: str | None = None):  # noqa: ANN201 - matplotlib Figure
        """Draw a sample as S1 | S2 (and label and prediction when present): S1 is its first
        band (VV) in grey, S2 its B04/B03/B02 in true colour, each stretched between its 2nd and
        98th percentile; a label in the WorldCover colours. ``sample["prediction"]``: an S2-like
        ``(C, H, W)`` image (C >= 3, the same bands as S2) or a ``(H, W)`` class map."""
        import matplotlib.pyplot as plt
        from matplotlib.colors import ListedColormap

        image = sample["image"]
        image = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
        n1 = len(self.recipe.s1_bands)
        rgb = [n1 + self.recipe.s2_bands.index(b) for b in ("B04", "B03", "B02")]
        panels: list[tuple[str, np.ndarray, Any]] = [
            (f"S1 {self.recipe.s1_bands[0]}", _stretch(image[0]), "gray"),
            ("S2 B04/B03/B02", np.moveaxis(_stretch(image[rgb]), 0, -1), None),
        ]
        classes = ListedColormap(["#000000"] + [f"#{WORLDCOVER_CLASSES.get(v, ('', '000000'))[1]}" for v in range(1, 101)])
        if "mask" in sample:
            panels.append(("Label (WorldCover)", _numpy(sample["mask"]), classes))
        if "prediction" in sample:
            pred = _numpy(sample["prediction"])
            if pred.ndim == 3 and pred.shape[0] >= 3:
                s2_rgb = [self.recipe.s2_bands.index(b) for b in ("B04", "B03", "B02")] if pred.shape[0] == len(self.recipe.s2_bands) else [0, 1, 2]
                panels.append(("Prediction", np.moveaxis(_stretch(pred[s2_rgb]), 0, -1), None))
            else:
                panels.append(("Prediction", pred.squeeze(), classes if "mask" in sample else "gray"))
        fig, axs = plt.subplots(nrows=1, ncols=len(panels), figsize=(4 * len(panels), 4), squeeze=False)
        for ax, (title, data, cmap) in zip(axs[0], panels):
            if cmap is classes:
                ax.imshow(data, cmap=cmap, vmin=0, vmax=100, interpolation="nearest")
            else:
                ax.imshow(data, cmap=cmap)
            ax.axis("off")
            if show_titles:
                ax.set_title(title)
        if suptitle is not None:
            fig.suptitle(suptitle)
        return fig


def _numpy(value: Any) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def _stretch(a: np.ndarray) -> np.ndarray:
    """Between the 2nd and 98th percentile of all its values (the bands together, so true
    colour keeps its balance), clipped to [0, 1]; NaN (no-data) as 0."""
    a = np.asarray(a, dtype=np.float32)
    if not np.isfinite(a).any():
        return np.zeros_like(a)
    with np.errstate(all="ignore"):
        lo, hi = np.nanpercentile(a, [2, 98])
        out = np.clip((a - lo) / max(float(hi - lo), 1e-6), 0, 1)
    return np.nan_to_num(out, nan=0.0)


class SEN12DataModule(NonGeoDataModule):
    """A torchgeo datamodule over a release: ``setup("fit")`` builds the ``train`` and ``val``
    datasets, ``setup("test")`` the ``test`` one, by the items' ``ml-aoi:split`` (no random
    re-split: the release's splits keep scenes apart). Keyword arguments go to :class:`SEN12`
    (``root``, ``values``, ``seasons``, ``api``, S3 settings, ...).

    Normalisation (``aug``, applied on the device after transfer, as in every torchgeo
    datamodule), chosen in :meth:`setup` from the release's recipe: a v1 release read as
    published (DN 0-255) is divided by 255 (torchgeo's default); otherwise S1 (dB) by -25 and S2
    (reflectance x 10000) by 1e4, as torchgeo's SEN12MS datamodule does. Set ``train_aug``
    (or ``val_aug``, ``test_aug``) for augmentations of your own."""

    def __init__(self, batch_size: int = 32, num_workers: int = 0, **kwargs: Any) -> None:
        super().__init__(SEN12, batch_size, num_workers, **kwargs)
        self.recipe: RecipeSpec | None = None

    def setup(self, stage: str) -> None:
        super().setup(stage)
        dataset = next((d for d in (self.train_dataset, self.val_dataset, self.test_dataset, self.predict_dataset) if d is not None), None)
        if not isinstance(dataset, SEN12):
            return
        self.recipe = dataset.recipe
        if self.recipe.name == "v1" and dataset.values != "physical":
            return  # torchgeo's default: mean 0, std 255
        n1, n2 = len(self.recipe.s1_bands), len(self.recipe.s2_bands)
        self.mean = torch.zeros(n1 + n2)
        self.std = torch.tensor([S1_STD] * n1 + [S2_STD] * n2)
        self.aug = K.AugmentationSequential(K.Normalize(mean=self.mean, std=self.std), data_keys=None, keepdim=True)
