"""Leak-free, deterministic train/validate/test splits by scene.

Every patch of a scene goes to the same split: neighbouring patches overlap by 50 %
(stride 128 on 256 px patches), so a per-patch split would put near-copies of training
pixels into the test set.

The assignment is a pure function of the scene id (and, for the ``by-season`` scheme,
the season), so adding or removing other scenes never moves a scene to another split:

    u = int(sha256(scene_id.encode("utf-8")).hexdigest()[:16], 16) / 2**64   # uniform in [0, 1)

``random`` scheme, ratios ``(r_train, r_validate, r_test)``::

    u <  r_train                 -> "train"
    u <  r_train + r_validate    -> "validate"
    otherwise                    -> "test"

``by-season`` scheme: every scene of the hold-out season (default ``winter``) is
``"test"``; the other seasons are split into train/validate with the ratios renormalised
to ``r_train / (r_train + r_validate)`` (the test ratio is unused), so the default 80/10/10
becomes 8/9 train and 1/9 validate.

The values are exactly those the ml-aoi STAC extension allows: ``train``, ``validate``,
``test``.
"""
from __future__ import annotations

import hashlib
from typing import Literal

from ..config import SplitConfig
from ..errors import ConfigError
from .seasons import SEASONS

Split = Literal["train", "validate", "test"]
SPLITS: tuple[Split, Split, Split] = ("train", "validate", "test")

_SCALE = float(1 << 64)


def scene_hash_fraction(scene_id: str) -> float:
    """The scene's position in [0, 1): the first 64 bits of sha256(scene_id), divided by 2**64."""
    if not scene_id:
        raise ConfigError("cannot assign a split to an empty scene id", fix="pass the scene id, e.g. 'ROIs1158_spring_7'")
    digest = hashlib.sha256(scene_id.encode("utf-8")).hexdigest()
    return int(digest[:16], 16) / _SCALE


def _season_name(season: str) -> str:
    name = season.strip().lower()
    if name in SEASONS:
        return name
    for s in SEASONS.values():  # also accept the set name, e.g. ROIs2017_winter
        if s.set_name.lower() == name:
            return s.name
    raise ConfigError(f"unknown season {season!r} for split assignment", fix=f"use one of {', '.join(SEASONS)}")


def assign_split(scene_id: str, season: str, config: SplitConfig) -> Split:
    """The split of every patch of scene ``scene_id`` (see the module docstring for the scheme)."""
    u = scene_hash_fraction(scene_id)
    r_train, r_validate, _r_test = config.ratios
    if config.scheme == "random":
        if u < r_train:
            return "train"
        if u < r_train + r_validate:
            return "validate"
        return "test"
    if config.scheme == "by-season":
        if _season_name(season) == config.holdout_season:
            return "test"
        denom = r_train + r_validate
        if denom <= 0:
            raise ConfigError(
                f"split scheme by-season with ratios {config.ratios} leaves no train or validate share for the "
                f"seasons other than {config.holdout_season}",
                fix="give train and/or validate a ratio above 0 (e.g. 0.8, 0.1, 0.1)",
            )
        return "train" if u < r_train / denom else "validate"
    raise ConfigError(f"unknown split scheme {config.scheme!r}", fix="use 'random' or 'by-season'")
