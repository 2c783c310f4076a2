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


# Recipe v2's arrays are physical values (no stretch): thumbnails and contact sheets show them
# with fixed display ranges, the same for every scene, so a thumbnail never hides a radiometric
# difference between scenes the way a per-scene stretch would.
S1_DISPLAY_DB = (-25.0, 0.0)  # VV sigma0 in dB -> DN 1..255
S2_DISPLAY = (0.0, 3000.0)  # reflectance x 10000 -> 0..255 (true colour: 0.30 reflectance is white)


def display_u8(s1: np.ndarray, s2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(1, h, w) and (3, h, w) uint8 to draw: v1's arrays as they are; v2's (float32 dB with VV
    first; uint16 in recipes.V2.s2_bands order) through the fixed display ranges, S2 as B04/B03/B02."""
    if s1.dtype == np.uint8 and s2.dtype == np.uint8 and s1.shape[0] == 1 and s2.shape[0] == 3:
        return s1, s2
    from .v2 import S2_RGB

    lo, hi = S1_DISPLAY_DB
    vv = s1[:1].astype(np.float32)
    g = np.rint(np.clip((vv - lo) / (hi - lo), 0.0, 1.0) * 254.0) + 1.0
    g = np.where(np.isnan(vv), 0.0, g).astype(np.uint8)
    lo, hi = S2_DISPLAY
    rgb = s2[list(S2_RGB)].astype(np.float32) if s2.shape[0] != 3 else s2.astype(np.float32)
    c = np.rint(np.clip((rgb - lo) / (hi - lo), 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.ascontiguousarray(g), np.ascontiguousarray(c)
