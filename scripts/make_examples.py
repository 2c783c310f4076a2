#!/usr/bin/env python
"""Regenerate ``catalog/examples/``: a tiny catalog (root, one collection, one scene
catalog, one item) written by :class:`sen12stac.stac.writer.CatalogWriter` from
synthetic PatchRecords built here -- no pipeline, no rasters.

    .venv/bin/python scripts/make_examples.py            # rewrite catalog/examples/
    .venv/bin/python scripts/make_examples.py --out DIR  # write somewhere else

Deterministic: the same code and catalog/ texts give byte-identical JSON. Only the JSON
files are kept; the assets they point to (COGs, thumbnail, geoparquet, figures) are not
committed -- their ``file:size``/``file:checksum`` describe placeholder bytes (the
geoparquet's are real but depend on the pyarrow version, so the CI comparison in
tests/test_stac.py masks those two values).

The helpers ``synthetic_scene`` / ``synthetic_record`` are also used by the tests and by
bench/bench_catalog.py.
"""
from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sen12stac.config import BuildConfig  # noqa: E402
from sen12stac.models import (  # noqa: E402
    ROI,
    Acquisition,
    AssetRecord,
    BandStats,
    Grid,
    PatchQC,
    PatchRecord,
    SceneQC,
    SceneResult,
)
from sen12stac.recipe.seasons import season_by_name  # noqa: E402
from sen12stac.recipe.cog import COG_MEDIA_TYPE as COG  # noqa: E402

EXAMPLE_FILES = (
    "catalog.json",
    "ROIs1158_spring/collection.json",
    "ROIs1158_spring/7/catalog.json",
    "ROIs1158_spring/7/ROIs1158_spring_7_p42.json",
    "LICENSE-CC-BY-4.0.txt",
)

# AssetWriter(key, kind) -> AssetRecord: kind is "s1", "s2" or "thumbnail"
AssetWriter = Callable[[str, str, Grid], AssetRecord]


def placeholder_asset(key: str, kind: str, grid: Grid) -> AssetRecord:
    """An AssetRecord describing deterministic placeholder bytes (nothing is written)."""
    data = f"sen12stac placeholder for {key}".encode()
    media = "image/jpeg" if kind == "thumbnail" else COG
    return AssetRecord(key=key, size=len(data), checksum="1220" + hashlib.sha256(data).hexdigest(), media_type=media)


def store_asset_writer(store) -> AssetWriter:
    """An AssetWriter that writes real bytes into ``store``: tiny uint8 COGs (GDAL's COG
    driver via sen12stac.recipe.cog.encode_cog) for s1/s2 and a JPEG thumbnail."""
    import io

    import numpy as np
    from PIL import Image

    from sen12stac.recipe.cog import encode_cog
    from sen12stac.store import multihash_sha256

    def write(key: str, kind: str, grid: Grid) -> AssetRecord:
        seed = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)
        rng = np.random.default_rng(seed)
        if kind == "thumbnail":
            buf = io.BytesIO()
            Image.fromarray(rng.integers(1, 256, (32, 64, 3), dtype=np.uint8)).save(buf, format="JPEG", quality=80)
            data, media = buf.getvalue(), "image/jpeg"
        else:
            bands = 1 if kind == "s1" else 3
            arr = rng.integers(1, 256, (bands, grid.height, grid.width), dtype=np.uint8)
            data, media = encode_cog(arr, grid, nodata=0), COG
        store.put_or_verify(key, data, media)
        return AssetRecord(key=key, size=len(data), checksum=multihash_sha256(data), media_type=media)

    return write


def utm_grid(lon: float, lat: float, size_px: int, pixel: float = 10.0) -> Grid:
    """A north-up UTM grid of ``size_px`` pixels whose centre is near (lon, lat)."""
    from pyproj import Transformer

    zone = int((lon + 180.0) // 6.0) + 1
    epsg = (32600 if lat >= 0 else 32700) + zone
    x, y = Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True).transform(lon, lat)
    half = size_px * pixel / 2.0
    x0 = round((x - half) / pixel) * pixel
    y0 = round((y + half) / pixel) * pixel
    return Grid(f"EPSG:{epsg}", (pixel, 0.0, x0, 0.0, -pixel, y0), size_px, size_px)


def synthetic_scene(
    season: str = "spring",
    index: int = 7,
    *,
    lon: float = 11.57,
    lat: float = 48.14,
    kind: str = "urban",
    positions: list[tuple[int, int]] | None = None,
    cols: int = 16,
    patch_size: int = 256,
    stride: int = 128,
    asset_writer: AssetWriter = placeholder_asset,
    thumbnails: bool = True,
    product_ids: bool = True,
    source: str = "synthetic",
) -> SceneResult:
    """A published SceneResult with one PatchRecord per (row, col) in ``positions``
    (default: the single position of patch p42 in a 16-column scene)."""
    s = season_by_name(season)
    set_name = s.set_name
    roi = ROI(set_name, index, lon, lat, kind)  # type: ignore[arg-type]
    scene_px = patch_size + stride * (cols - 1)
    scene_grid = utm_grid(lon, lat, scene_px)
    if positions is None:
        positions = [divmod(41, cols)]  # patch_index 42 (1-based, row-major)
    day = s.start.replace(day=12).isoformat()
    s1 = Acquisition(
        "s1",
        f"{day}T05:45:28Z",
        "sentinel-1a",
        "sentinel-1",
        "c-sar",
        orbit_state="descending",
        relative_orbit=95,
        product_ids=("S1A_IW_GRDH_1SDV_20170312T054528_20170312T054553_015653_019C2C_1A2B",) if product_ids else (),
    )
    s2 = Acquisition(
        "s2",
        f"{day}T10:20:21Z",
        "sentinel-2a",
        "sentinel-2",
        "msi",
        orbit_state="descending",
        relative_orbit=22,
        cloud_cover=3.25,
        product_ids=("S2A_MSIL1C_20170312T102021_N0204_R065_T32UPU_20170312T102546",) if product_ids else (),
        start_datetime=f"{day}T10:20:21Z",
        end_datetime=f"{day}T10:30:05.5Z",
    )
    s1_stats = (BandStats("VV", -11.2, 4.1, -21.45, -0.95, -20.0, -2.5, 1_000_000),)
    s2_stats = (
        BandStats("B04", 812.0, 301.0, 59.5, 1564.5, 150.0, 1500.0, 1_000_000),
        BandStats("B03", 905.0, 260.0, 255.0, 1555.0, 300.0, 1500.0, 1_000_000),
        BandStats("B02", 1105.0, 240.0, 505.0, 1705.0, 550.0, 1650.0, 1_000_000),
    )
    sqc = SceneQC(f"{set_name}_{index}", True, (), {"nodata_fraction": 0.0, "cloud_fraction": 0.012, "colour_cast": 0.04})
    patches = []
    for row, col in positions:
        patch_index = row * cols + col + 1
        pair_id = f"{set_name}_{index}_p{patch_index}"
        a, b, c, d, e, f = scene_grid.transform
        x_off, y_off = col * stride, row * stride
        window_grid = Grid(scene_grid.crs, (a, b, c + a * x_off + b * y_off, d, e, f + d * x_off + e * y_off), patch_size, patch_size)
        assets = {
            "s1": asset_writer(f"{set_name}/s1_{index}/{set_name}_s1_{index}_p{patch_index}.tif", "s1", window_grid),
            "s2": asset_writer(f"{set_name}/s2_{index}/{set_name}_s2_{index}_p{patch_index}.tif", "s2", window_grid),
        }
        if thumbnails:
            assets["thumbnail"] = asset_writer(f"{set_name}/thumbs_{index}/{set_name}_{index}_p{patch_index}.jpg", "thumbnail", window_grid)
        patches.append(
            PatchRecord(
                pair_id=pair_id,
                scene_id=f"{set_name}_{index}",
                set_name=set_name,
                season=s.name,
                seed=s.seed,
                scene_index=index,
                patch_index=patch_index,
                row=row,
                col=col,
                grid=window_grid,
                assets=assets,
                s1=s1,
                s2=s2,
                s1_stats=s1_stats,
                s2_stats=s2_stats,
                qc=PatchQC(True, (), 0.0, 0.004, False),
                scene_qc=sqc,
                roi=roi,
                source=source,
                software="sen12stac 0.1.0",
            )
        )
    return SceneResult(
        roi=roi,
        season=s.name,
        status="published",
        grid=scene_grid,
        qc=sqc,
        patches=patches,
        patch_positions=cols * cols,
        patch_rejections={"cloud:0.150>0.100": 3} if len(positions) < cols * cols else {},
    )


def other_scene(season: str, index: int, status: str, *, lon: float = 10.0, lat: float = 50.0) -> SceneResult:
    """A scene that published nothing (status unavailable | rejected | failed)."""
    s = season_by_name(season)
    roi = ROI(s.set_name, index, lon, lat, "land")
    qc = None
    positions = 0
    if status == "rejected":
        qc = SceneQC(roi.scene_id, False, ("nodata:0.231>0.100",), {"nodata_fraction": 0.231})
        positions = 0
    return SceneResult(roi=roi, season=s.name, status=status, qc=qc, patch_positions=positions, message=None if status != "failed" else "synthetic failure")  # type: ignore[arg-type]


def small_catalog_scenes(asset_writer: AssetWriter = placeholder_asset) -> list[SceneResult]:
    """Two seasons, three published scenes (one south of the equator, one without
    thumbnails), plus an unavailable and a rejected scene."""
    return [
        synthetic_scene("spring", 7, cols=4, positions=[(0, 0), (0, 1), (1, 0), (1, 1)], asset_writer=asset_writer),
        synthetic_scene("spring", 12, lon=2.35, lat=48.85, kind="land", cols=4, positions=[(0, 0), (2, 3)], asset_writer=asset_writer, thumbnails=False, product_ids=False),
        other_scene("spring", 3, "unavailable"),
        other_scene("spring", 5, "rejected"),
        synthetic_scene("winter", 2, lon=-43.2, lat=-22.9, cols=4, positions=[(3, 3)], asset_writer=asset_writer),
    ]


def example_collection_assets(set_name: str = "ROIs1158_spring") -> dict[str, dict[str, AssetRecord]]:
    grid = Grid("EPSG:4326", (1.0, 0.0, 0.0, 0.0, -1.0, 0.0), 1, 1)
    out = {}
    for name in ("roi_map", "contact_sheet"):
        rec = placeholder_asset(f"{set_name}/{name}.png", "thumbnail", grid)
        out[name] = AssetRecord(rec.key, rec.size, rec.checksum, "image/png")
    return {set_name: out}


SMALL_COUNTS = {
    "ROIs1158_spring": {"rois_sampled": 150, "rois_with_data": 3, "scenes_accepted": 2, "patch_positions": 32, "patches_published": 6},
    "ROIs2017_winter": {"rois_sampled": 150, "rois_with_data": 1, "scenes_accepted": 1, "patch_positions": 16, "patches_published": 1},
}


def figure_assets(store) -> dict[str, dict[str, AssetRecord]]:
    """Tiny PNG roi_map / contact_sheet per season of the small catalog, written to ``store``."""
    import io

    from PIL import Image

    from sen12stac.store import multihash_sha256

    out: dict[str, dict[str, AssetRecord]] = {}
    for set_name in ("ROIs1158_spring", "ROIs2017_winter"):
        out[set_name] = {}
        for name in ("roi_map", "contact_sheet"):
            buf = io.BytesIO()
            Image.new("RGB", (8, 4), (200, 10, 10)).save(buf, format="PNG")
            data = buf.getvalue()
            key = f"{set_name}/{name}.png"
            store.put_or_verify(key, data, "image/png")
            out[set_name][name] = AssetRecord(key, len(data), multihash_sha256(data), "image/png")
    return out


def write_small_catalog(root, *, order_seed: int | None = None, config=None, put_workers: int = 4):
    """Write :func:`small_catalog_scenes` with real COG/JPEG/PNG assets into ``root`` (a
    folder, made a LocalStore, or any ObjectStore), scenes in a shuffled order when
    ``order_seed`` is given; return the store."""
    import random

    from sen12stac.stac.writer import CatalogWriter
    from sen12stac.store import LocalStore, ObjectStore

    store = root if isinstance(root, ObjectStore) else LocalStore(root)
    config = config or BuildConfig()
    scenes = small_catalog_scenes(store_asset_writer(store))
    if order_seed is not None:
        random.Random(order_seed).shuffle(scenes)
    writer = CatalogWriter(store, config, put_workers=put_workers)
    for s in scenes:
        writer.add_scene(s)
    writer.finish(SMALL_COUNTS, figure_assets(store))
    return store


def write_example(out: Path) -> list[Path]:
    """Write the example catalog's JSON files under ``out`` (replacing them) and return them."""
    from sen12stac.stac.writer import CatalogWriter
    from sen12stac.store import LocalStore

    config = BuildConfig()
    with tempfile.TemporaryDirectory(prefix="sen12stac-example-") as tmp:
        store = LocalStore(tmp)
        writer = CatalogWriter(store, config, put_workers=1)
        writer.add_scene(synthetic_scene(source="earthengine"))  # made-up records shaped like an Earth Engine build
        writer.finish(
            {"ROIs1158_spring": {"rois_sampled": 150, "rois_with_data": 1, "scenes_accepted": 1, "patch_positions": 256, "patches_published": 1}},
            example_collection_assets(),
        )
        written = []
        for rel in EXAMPLE_FILES:
            dest = out / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(tmp) / rel, dest)
            written.append(dest)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "catalog" / "examples", help="output folder (default: catalog/examples)")
    args = ap.parse_args(argv)
    for p in write_example(args.out):
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
