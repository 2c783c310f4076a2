"""A small STAC-shaped build folder for release tests and the publish benchmark.

Same layout as the real build (sen12stac/stac/): ``catalog.json`` -> season collections
``ROIs1158_spring/collection.json`` (with an ``items.parquet``-like asset and a map PNG) ->
scene catalogs ``ROIs1158_spring/7/catalog.json`` -> items ``.../ROIs1158_spring_7_p42.json``
-> tiny COGs ``ROIs1158_spring/s1_7/ROIs1158_spring_s1_7_p42.tif`` and ``s2_7/...``.
Every href is relative. ``variant`` changes the pixels of one COG (and so its item's
checksum field): "the same version with other content".
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from rasterio.io import MemoryFile
from affine import Affine

SPLITS = ("train", "train", "validate", "test")


def cog_bytes(seed: int, *, size: int = 32, bands: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    arr = rng.integers(1, 255, size=(bands, size, size), dtype=np.uint8)
    with MemoryFile() as mf:
        with mf.open(
            driver="COG",
            width=size,
            height=size,
            count=bands,
            dtype="uint8",
            crs="EPSG:32632",
            transform=Affine(10.0, 0.0, 500000.0 + seed * 10, 0.0, -10.0, 5000000.0),
            nodata=0,
            compress="DEFLATE",
            blocksize=256,
        ) as ds:
            ds.write(arr)
        return mf.read()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _json(path: Path, obj: dict) -> None:
    _write(path, (json.dumps(obj, indent=2) + "\n").encode())


def make_build(
    root: Path,
    *,
    seasons: tuple[tuple[str, int], ...] = (("spring", 1158), ("summer", 1868)),
    scenes: int = 2,
    patches: int = 3,
    variant: int = 0,
    cog_size: int = 32,
    padding: int = 0,
) -> Path:
    """Write the build under ``root``; returns ``root``. ``padding`` adds random bytes to every
    thumbnail; with ``cog_size=256`` the COGs have realistic sizes (random pixels: ~65 KB S1,
    ~195 KB S2)."""
    root = Path(root)
    stac_ext_ml = "https://stac-extensions.github.io/ml-aoi/v0.2.0/schema.json"
    collection_links = []
    seed = 0
    for season, set_seed in seasons:
        set_name = f"ROIs{set_seed}_{season}"
        coll_links = [
            {"rel": "root", "href": "../catalog.json", "type": "application/json"},
            {"rel": "parent", "href": "../catalog.json", "type": "application/json"},
        ]
        for scene in range(1, scenes + 1):
            scene_id = f"{set_name}_{scene}"
            scene_links = [
                {"rel": "root", "href": "../../catalog.json", "type": "application/json"},
                {"rel": "parent", "href": "../collection.json", "type": "application/json"},
            ]
            for p in range(patches):
                seed += 1
                pair = f"{scene_id}_p{p}"
                assets = {}
                for sensor, bands in (("s1", 1), ("s2", 3)):
                    data = cog_bytes(seed * 2 + (sensor == "s2") + (1000 if (variant and seed == 1) else 0), size=cog_size, bands=bands)
                    key = f"{set_name}/{sensor}_{scene}/{set_name}_{sensor}_{scene}_p{p}.tif"
                    _write(root / key, data)
                    assets[sensor] = {
                        "href": f"../{sensor}_{scene}/{set_name}_{sensor}_{scene}_p{p}.tif",
                        "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                        "roles": ["data"],
                        "file:size": len(data),
                        "file:checksum": "1220" + hashlib.sha256(data).hexdigest(),
                    }
                thumb = f"{set_name}/thumbs_{scene}/{set_name}_{scene}_p{p}.png"
                png = b"\x89PNG\r\n\x1a\n" + np.random.default_rng(seed).bytes(64 + padding)
                _write(root / thumb, png)
                assets["thumbnail"] = {"href": f"../thumbs_{scene}/{set_name}_{scene}_p{p}.png", "type": "image/png", "roles": ["thumbnail"]}
                item = {
                    "type": "Feature",
                    "stac_version": "1.1.0",
                    "stac_extensions": [stac_ext_ml],
                    "id": pair,
                    "geometry": {"type": "Polygon", "coordinates": [[[9.0, 45.0], [9.01, 45.0], [9.01, 45.01], [9.0, 45.01], [9.0, 45.0]]]},
                    "bbox": [9.0, 45.0, 9.01, 45.01],
                    "properties": {"datetime": "2017-04-01T10:00:00Z", "ml-aoi:split": SPLITS[(scene + p) % len(SPLITS)]},
                    "links": [
                        {"rel": "root", "href": "../../catalog.json", "type": "application/json"},
                        {"rel": "parent", "href": "./catalog.json", "type": "application/json"},
                        {"rel": "collection", "href": "../collection.json", "type": "application/json"},
                    ],
                    "assets": assets,
                    "collection": set_name,
                }
                _write(root / f"{set_name}/{scene}/{pair}.json", (json.dumps(item, separators=(",", ":")) + "\n").encode())
                scene_links.append({"rel": "item", "href": f"./{pair}.json", "type": "application/geo+json"})
            _json(root / f"{set_name}/{scene}/catalog.json", {"type": "Catalog", "stac_version": "1.1.0", "id": scene_id, "description": f"scene {scene_id}", "links": scene_links})
            coll_links.append({"rel": "child", "href": f"./{scene}/catalog.json", "type": "application/json"})
        _write(root / f"{set_name}/items.parquet", b"PAR1" + np.random.default_rng(set_seed).bytes(200) + b"PAR1")
        _write(root / f"{set_name}/roi_map.png", b"\x89PNG\r\n\x1a\n" + np.random.default_rng(set_seed + 1).bytes(100))
        _json(
            root / f"{set_name}/collection.json",
            {
                "type": "Collection",
                "stac_version": "1.1.0",
                "stac_extensions": [],
                "id": set_name,
                "description": f"SEN1-2 {season}",
                "license": "CC-BY-4.0",
                "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [["2017-01-01T00:00:00Z", None]]}},
                "links": coll_links,
                "assets": {
                    "geoparquet": {"href": "./items.parquet", "type": "application/vnd.apache.parquet", "roles": ["metadata"]},
                    "roi_map": {"href": "./roi_map.png", "type": "image/png", "roles": ["overview"]},
                },
            },
        )
        collection_links.append({"rel": "child", "href": f"./{set_name}/collection.json", "type": "application/json", "title": set_name})
    _write(root / "LICENSE-CC-BY-4.0.txt", b"Creative Commons Attribution 4.0\n")
    _json(
        root / "catalog.json",
        {
            "type": "Catalog",
            "stac_version": "1.1.0",
            "stac_extensions": [],
            "id": "sen1-2",
            "title": "SEN1-2 test build",
            "description": "A tiny build for tests.",
            "links": [
                {"rel": "root", "href": "./catalog.json", "type": "application/json"},
                {"rel": "license", "href": "./LICENSE-CC-BY-4.0.txt", "type": "text/plain"},
            ]
            + collection_links,
        },
    )
    return root


def count_objects(root: Path) -> int:
    return sum(1 for p in Path(root).rglob("*") if p.is_file())
