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


# -- a v2 release (the #22 contract: sen12stac/recipe/recipes.py, V2) ----------------------------
# (name, eo:common_name, centre wavelength um, FWHM um) of the 12 L2A bands, in recipes.V2.s2_bands order
S2_V2_BANDS = (
    ("B01", "coastal", 0.443, 0.027), ("B02", "blue", 0.49, 0.098), ("B03", "green", 0.56, 0.045), ("B04", "red", 0.665, 0.038),
    ("B05", "rededge071", 0.704, 0.019), ("B06", "rededge075", 0.74, 0.018), ("B07", "rededge078", 0.783, 0.028), ("B08", "nir", 0.842, 0.145),
    ("B8A", "nir08", 0.865, 0.033), ("B09", "nir09", 0.945, 0.026), ("B11", "swir16", 1.61, 0.143), ("B12", "swir22", 2.19, 0.242),
)
V2_EXTENSIONS = [
    "https://stac-extensions.github.io/ml-aoi/v0.2.0/schema.json",
    "https://stac-extensions.github.io/eo/v2.0.0/schema.json",
    "https://stac-extensions.github.io/raster/v2.0.0/schema.json",
    "https://stac-extensions.github.io/classification/v2.0.0/schema.json",
    "https://stac-extensions.github.io/file/v2.1.0/schema.json",
]
COG_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"


def v2_arrays(seed: int, size: int = 256) -> dict[str, np.ndarray]:
    """The three patch arrays of a v2 pair as the contract stores them: ``s1`` float32 (2,h,w) dB
    with NaN no-data, ``s2`` uint16 (12,h,w) reflectance x 10000 with 0 no-data, ``label`` uint8
    (1,h,w) WorldCover codes with 0 no-data. Each has a no-data corner (rows 0-3, cols 0-3)."""
    from sen12stac.recipe.recipes import WORLDCOVER_CLASSES

    rng = np.random.default_rng(seed)
    s1 = rng.normal(-12.0, 4.0, size=(2, size, size)).astype(np.float32)
    s1[:, :4, :4] = np.nan
    s2 = rng.integers(1, 10001, size=(12, size, size), dtype=np.uint16)
    s2[:, :4, :4] = 0
    codes = np.array(sorted(WORLDCOVER_CLASSES), dtype=np.uint8)
    label = codes[rng.integers(0, len(codes), size=(1, size // 16, size // 16))].repeat(16, 1).repeat(16, 2)
    label[:, :4, :4] = 0
    return {"s1": s1, "s2": s2, "label": np.ascontiguousarray(label)}


def cog_of(arr: np.ndarray, nodata: float, seed: int) -> bytes:
    with MemoryFile() as mf:
        with mf.open(driver="COG", width=arr.shape[2], height=arr.shape[1], count=arr.shape[0], dtype=arr.dtype.name, crs="EPSG:32632",
                     transform=Affine(10.0, 0.0, 500000.0 + seed * 2560, 0.0, -10.0, 5000000.0), nodata=nodata, compress="DEFLATE", blocksize=256) as ds:
            ds.write(arr)
        return mf.read()


def v2_label_classes() -> list[dict]:
    from sen12stac.recipe.recipes import WORLDCOVER_CLASSES

    return [{"value": v, "name": n, "color_hint": c.upper()} for v, (n, c) in sorted(WORLDCOVER_CLASSES.items())]


def v2_assets(arrays: dict[str, np.ndarray], keys: dict[str, str], item_key: str) -> tuple[dict, dict[str, bytes]]:
    """The item's ``s1``, ``s2``, ``label`` assets (contract fields) and the files' bytes by store key."""
    from sen12stac.stac.hrefs import relative_href

    files, assets = {}, {}
    bands = {
        "s1": [{"name": n, "data_type": "float32", "nodata": "nan", "unit": "dB"} for n in ("VV", "VH")],
        "s2": [{"name": n, "eo:common_name": c, "eo:center_wavelength": w, "eo:full_width_half_max": f, "data_type": "uint16", "nodata": 0,
                "raster:scale": 0.0001, "raster:offset": 0} for n, c, w, f in S2_V2_BANDS],
        "label": [{"name": "worldcover", "data_type": "uint8", "nodata": 0}],
    }
    for name, nodata in (("s1", np.nan), ("s2", 0), ("label", 0)):
        data = cog_of(arrays[name], nodata, int(abs(hash(keys[name])) % 1000))
        files[keys[name]] = data
        assets[name] = {"href": relative_href(item_key, keys[name]), "type": COG_MEDIA_TYPE, "roles": ["data"] if name != "label" else ["data", "labels"],
                        "bands": bands[name], "file:size": len(data), "file:checksum": "1220" + hashlib.sha256(data).hexdigest()}
    assets["label"]["classification:classes"] = v2_label_classes()
    assets["label"]["title"] = "ESA WorldCover land cover (10 m)"
    return assets, files


def v2_properties(label: np.ndarray, *, scl: bool = True) -> dict:
    """``sen12:lc_*`` (every class, zeros included) and the SCL fractions, from the label."""
    from sen12stac.recipe.recipes import WORLDCOVER_CLASSES

    valid = label[label != 0]
    codes, counts = np.unique(valid, return_counts=True)
    props = {"sen12:recipe": "v2", "sen12:lc_majority": int(codes[np.argmax(counts)])}
    for code, (name, _c) in sorted(WORLDCOVER_CLASSES.items()):
        props[f"sen12:lc_{name}"] = round(float((valid == code).sum() / max(1, valid.size)), 6)
    if scl:
        props["sen12:scl_cloud_fraction"], props["sen12:scl_shadow_fraction"] = 0.125, 0.0
    return props


def make_v2_release(root: Path, *, seasons: tuple[tuple[str, int], ...] = (("spring", 1158), ("winter", 2017)), scenes: int = 1, patches: int = 3) -> Path:
    """A small v2 release under ``root``: the layout and catalog of a real build (root ->
    season collections with a real stac-geoparquet ``items.parquet`` -> scene catalogs -> items),
    every item with the v2 assets and properties of the contract. Returns ``root``."""
    import io

    from PIL import Image

    from sen12stac.recipe.tiling import patch_key, thumbnail_key
    from sen12stac.stac.geoparquet import scene_rows, write_geoparquet
    from sen12stac.stac.item import rebase_item

    root = Path(root)
    coll_links_root = []
    seed = 0
    for season, set_seed in seasons:
        set_name = f"ROIs{set_seed}_{season}"
        coll_links = [{"rel": "root", "href": "../catalog.json", "type": "application/json"},
                      {"rel": "parent", "href": "../catalog.json", "type": "application/json"}]
        items = []
        for scene in range(1, scenes + 1):
            scene_id = f"{set_name}_{scene}"
            scene_links = [{"rel": "root", "href": "../../catalog.json", "type": "application/json"},
                           {"rel": "parent", "href": "../collection.json", "type": "application/json"},
                           {"rel": "collection", "href": "../collection.json", "type": "application/json"}]
            for p in range(patches):
                seed += 1
                pair = f"{scene_id}_p{p}"
                ikey = f"{set_name}/{scene}/{pair}.json"
                arrays = v2_arrays(seed)
                keys = {"s1": patch_key(set_name, "s1", scene, p), "s2": patch_key(set_name, "s2", scene, p), "label": patch_key(set_name, "lc", scene, p)}
                assets, files = v2_assets(arrays, keys, ikey)
                for k, data in files.items():
                    _write(root / k, data)
                rgb = arrays["s2"][[3, 2, 1]].astype(np.float32) / 10000.0 * 255
                s1g = np.nan_to_num((arrays["s1"][0] + 25) * 10, nan=0).clip(0, 255)
                thumb = np.concatenate([np.repeat(s1g[None], 3, 0), rgb.clip(0, 255)], axis=2).astype(np.uint8).transpose(1, 2, 0)
                buf = io.BytesIO()
                Image.fromarray(np.ascontiguousarray(thumb), mode="RGB").save(buf, format="JPEG", quality=80)
                tkey = thumbnail_key(set_name, scene, p)
                _write(root / tkey, buf.getvalue())
                assets["thumbnail"] = {"href": f"../thumbs_{scene}/{pair}.jpg", "type": "image/jpeg", "roles": ["thumbnail"],
                                       "title": "Thumbnail: Sentinel-1 (left) and Sentinel-2 RGB (right)"}
                props = {"title": f"{set_name} scene {scene}, pair {p}", "datetime": "2017-04-01T10:00:00Z", "ml-aoi:split": SPLITS[(scene + p) % len(SPLITS)],
                         "sen12:scene_id": scene_id, "sen12:scene_index": scene, "sen12:patch_index": p, "eo:cloud_cover": 1.5,
                         **v2_properties(arrays["label"], scl=p != 2)}
                x0 = 9.0 + seed * 0.03
                item = {"type": "Feature", "stac_version": "1.1.0", "stac_extensions": V2_EXTENSIONS, "id": pair,
                        "geometry": {"type": "Polygon", "coordinates": [[[x0, 45.0], [x0 + 0.03, 45.0], [x0 + 0.03, 45.03], [x0, 45.03], [x0, 45.0]]]},
                        "bbox": [x0, 45.0, x0 + 0.03, 45.03], "properties": props,
                        "links": [{"rel": "root", "href": "../../catalog.json", "type": "application/json"},
                                  {"rel": "parent", "href": "./catalog.json", "type": "application/json"},
                                  {"rel": "collection", "href": "../collection.json", "type": "application/json"}],
                        "assets": assets, "collection": set_name}
                items.append(rebase_item(item, ikey, f"{set_name}/collection.json"))  # parquet hrefs: relative to the collection folder
                _write(root / ikey, (json.dumps(item, separators=(",", ":")) + "\n").encode())
                scene_links.append({"rel": "item", "href": f"./{pair}.json", "type": "application/geo+json"})
            _json(root / f"{set_name}/{scene}/catalog.json", {"type": "Catalog", "stac_version": "1.1.0", "id": scene_id, "description": f"scene {scene_id}",
                                                             "sen12:recipe": "v2", "links": scene_links})
            coll_links.append({"rel": "child", "href": f"./{scene}/catalog.json", "type": "application/json"})
        write_geoparquet([scene_rows(items)], root / f"{set_name}/items.parquet", chunk=1000)
        _json(root / f"{set_name}/collection.json", {
            "type": "Collection", "stac_version": "1.1.0", "stac_extensions": [], "id": set_name, "sen12:recipe": "v2",
            "title": f"SEN1-2 v2 {season}", "description": f"SEN1-2 v2 {season}: S1 VV+VH dB, S2 L2A 12 bands, WorldCover labels",
            "license": "CC-BY-4.0",
            "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [["2017-01-01T00:00:00Z", None]]}},
            "links": coll_links,
            "assets": {"geoparquet": {"href": "./items.parquet", "type": "application/vnd.apache.parquet", "roles": ["stac-items"]}},
        })
        coll_links_root.append({"rel": "child", "href": f"./{set_name}/collection.json", "type": "application/json", "title": set_name})
    _json(root / "catalog.json", {
        "type": "Catalog", "stac_version": "1.1.0", "stac_extensions": [], "id": "sen1-2-v2", "sen12:recipe": "v2",
        "title": "SEN1-2 v2 test release", "description": "A tiny v2 release for tests.",
        "links": [{"rel": "root", "href": "./catalog.json", "type": "application/json"}] + coll_links_root,
    })
    return root
