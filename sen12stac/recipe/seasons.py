"""The paper's four seasons: seed, name and date window (Schmitt et al. 2018)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..errors import ConfigError


@dataclass(frozen=True)
class Season:
    name: str
    seed: int
    start: date
    end: date  # inclusive

    @property
    def set_name(self) -> str:
        """The original set name, e.g. ``ROIs1158_spring``."""
        return f"ROIs{self.seed}_{self.name}"


SEASONS: dict[str, Season] = {
    s.name: s
    for s in (
        Season("spring", 1158, date(2017, 3, 1), date(2017, 5, 30)),
        Season("summer", 1868, date(2017, 6, 1), date(2017, 8, 31)),
        Season("fall", 1970, date(2017, 9, 1), date(2017, 11, 30)),
        Season("winter", 2017, date(2016, 12, 1), date(2017, 2, 28)),
    )
}
SEEDS: dict[int, Season] = {s.seed: s for s in SEASONS.values()}


def season_by_name(name: str) -> Season:
    try:
        return SEASONS[name.strip().lower()]
    except KeyError:
        raise ConfigError(
            f"unknown season {name!r}", fix=f"use one of {', '.join(SEASONS)}"
        ) from None


def season_by_seed(seed: int) -> Season:
    try:
        return SEEDS[int(seed)]
    except (KeyError, ValueError):
        raise ConfigError(
            f"unknown seed {seed!r}",
            fix=f"use one of the paper's seeds {', '.join(str(s) for s in SEEDS)}",
        ) from None


def season_by_set_name(set_name: str) -> Season:
    for s in SEASONS.values():
        if s.set_name == set_name:
            return s
    raise ConfigError(f"unknown ROI set {set_name!r}", fix=f"use one of {', '.join(s.set_name for s in SEASONS.values())}")
