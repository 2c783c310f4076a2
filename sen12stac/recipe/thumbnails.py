"""Small PNG previews: an S1 | S2 pair side by side, and a contact sheet of pairs."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

PNG_MEDIA_TYPE = "image/png"
JPEG_MEDIA_TYPE = "image/jpeg"


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def pair_image(s1: np.ndarray, s2: np.ndarray, step: int = 2) -> np.ndarray:
    """(h/step, 2*w/step, 3) uint8: S1 grey on the left, S2 RGB on the right."""
    g = s1[0, ::step, ::step]
    h, w = g.shape
    out = np.empty((h, 2 * w, 3), dtype=np.uint8)
    for c in range(3):  # one plane at a time: a third of the time of stacking and concatenating
        out[:, :w, c] = g
        out[:, w:, c] = s2[c, ::step, ::step]
    return out


def pair_thumbnail(s1: np.ndarray, s2: np.ndarray) -> bytes:
    """A 256 x 128 JPEG (S1 | S2 at half resolution): ~10 KB, against ~70 KB as PNG."""
    buf = io.BytesIO()
    Image.fromarray(pair_image(s1, s2)).save(buf, format="JPEG", quality=85, optimize=False)
    return buf.getvalue()


def contact_sheet(pairs: list[tuple[np.ndarray, np.ndarray]], columns: int = 2, gap: int = 6) -> bytes:
    """A grid of S1|S2 pairs (the paper's Fig. 4), white gaps between tiles."""
    if not pairs:
        return _png(np.full((64, 128, 3), 255, np.uint8))
    tiles = [pair_image(a, b, step=1) for a, b in pairs]
    th, tw = tiles[0].shape[:2]
    rows = (len(tiles) + columns - 1) // columns
    sheet = np.full((rows * th + (rows + 1) * gap, columns * tw + (columns + 1) * gap, 3), 255, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, columns)
        y, x = gap + r * (th + gap), gap + c * (tw + gap)
        sheet[y : y + th, x : x + tw] = t
    return _png(sheet)
