"""Patch windows: 256 x 256 at stride 128, and the original SEN1-2 naming.

Positions form a grid of ``n_rows x n_cols`` windows with row/col offsets
``0, stride, 2*stride, ...`` as long as the window fits; when the scene side is not
``patch + k*stride`` a last window flush with the edge is added so every pixel is
covered. Patch numbers are 1-based and row-major over all positions (before patch QC),
so a rejected patch leaves a gap and the numbers of the others never change:
``p = row * n_cols + col + 1``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from rasterio.windows import Window


def offsets(size: int, patch: int, stride: int) -> list[int]:
    """Window offsets along one axis covering ``size`` pixels."""
    if size < patch:
        return []
    offs = list(range(0, size - patch + 1, stride))
    if offs[-1] != size - patch:
        offs.append(size - patch)
    return offs


@dataclass(frozen=True)
class PatchPosition:
    row: int
    col: int
    number: int  # 1-based, row-major
    window: Window


def patch_grid(height: int, width: int, patch: int = 256, stride: int = 128) -> tuple[list[int], list[int]]:
    return offsets(height, patch, stride), offsets(width, patch, stride)


def iter_positions(height: int, width: int, patch: int = 256, stride: int = 128) -> Iterator[PatchPosition]:
    rows, cols = patch_grid(height, width, patch, stride)
    for r, y in enumerate(rows):
        for c, x in enumerate(cols):
            yield PatchPosition(r, c, r * len(cols) + c + 1, Window(x, y, patch, patch))


def scene_index_label(set_name: str, sensor: str, scene_index: int, number: int) -> str:
    """The original file stem: ``ROIs1158_spring_s1_7_p42``."""
    return f"{set_name}_{sensor}_{scene_index}_p{number}"


def pair_id(set_name: str, scene_index: int, number: int) -> str:
    """The pair id used for STAC items: ``ROIs1158_spring_7_p42``."""
    return f"{set_name}_{scene_index}_p{number}"


def patch_key(set_name: str, sensor: str, scene_index: int, number: int) -> str:
    """Store key mirroring the original layout: ``ROIs1158_spring/s1_7/ROIs1158_spring_s1_7_p42.tif``."""
    return f"{set_name}/{sensor}_{scene_index}/{scene_index_label(set_name, sensor, scene_index, number)}.tif"


def thumbnail_key(set_name: str, scene_index: int, number: int) -> str:
    return f"{set_name}/thumbs_{scene_index}/{pair_id(set_name, scene_index, number)}.jpg"
