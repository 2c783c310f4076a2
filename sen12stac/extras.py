"""The optional parts of sen12stac and the extra that installs each, checked in one place.

Every module that needs an optional stack calls ``require("<extra>")`` before importing it
(a package's ``__init__`` does it once for all of its modules). When a distribution of
that extra is missing, the call raises :class:`~sen12stac.errors.MissingExtraError`: one
line naming what needs it, what is missing and ``pip install 'sen12stac[<extra>]'``.

What an extra holds is read from sen12stac's own metadata (``[project.optional-dependencies]``
of pyproject.toml, as installed), so the list is written once. Run from a source tree that
is not installed there is no metadata to read, and the imports report for themselves.
"""
from __future__ import annotations

import re
from functools import lru_cache
from importlib import metadata

from .errors import MissingExtraError

#: What each extra enables, as the error message names it.
PURPOSE = {
    "stream": "streaming and downloading a release (sen12stac.stream, `sen12stac download`)",
    "earthengine": "the Earth Engine source (--source earthengine, `sen12stac ee-tasks`)",
    "opendata": "the public STAC API source (--source stac)",
    "api": "the STAC API (`sen12stac api`)",
    "torch": "the PyTorch adapter (sen12stac.stream.torch)",
    "torchgeo": "the torchgeo dataset and datamodule (sen12stac.stream.torchgeo)",
}

_REQUIREMENT = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")


@lru_cache(maxsize=None)
def missing(extra: str) -> tuple[str, ...]:
    """The distributions of ``extra`` that are not installed (empty when all are, or when
    sen12stac itself is not installed and there is nothing to read)."""
    if extra not in PURPOSE:
        raise ValueError(f"sen12stac has no extra {extra!r} (known: {', '.join(PURPOSE)})")
    try:
        requirements = metadata.requires("sen12stac") or []
    except metadata.PackageNotFoundError:
        return ()
    marker = re.compile(r"""extra\s*==\s*["']""" + re.escape(extra) + """["']""")
    gone: list[str] = []
    for requirement in requirements:
        m = _REQUIREMENT.match(requirement)
        if not m or not marker.search(requirement.partition(";")[2]):
            continue
        if m.group(1) == "sen12stac":  # an extra that includes another: torch = ["sen12stac[stream]", ...]
            gone += [g for e in m.group(2).split(",") for g in missing(e.strip()) if g not in gone]
            continue
        try:
            metadata.distribution(m.group(1))
        except metadata.PackageNotFoundError:
            gone.append(m.group(1))
    return tuple(gone)


def require(extra: str) -> None:
    """Return when every distribution of ``extra`` is installed; else one clear error."""
    gone = missing(extra)
    if gone:
        verb = "is" if len(gone) == 1 else "are"
        raise MissingExtraError(
            f"{PURPOSE[extra]} needs the '{extra}' extra: {', '.join(gone)} {verb} not installed",
            fix=f"pip install 'sen12stac[{extra}]'",
        )
