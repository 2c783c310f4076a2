"""The paper's Earth Engine computation graphs, built with earthengine-api and nothing else.

Plain functions: settings in, ``ee`` objects out. Nothing here talks to the server; the
graphs are sent by :mod:`.export` (pixels, batch tasks) and :mod:`.source` (metadata, ROI
points). Tests build every graph offline and compare its serialization with goldens.

The recipe (Schmitt et al. 2018):

* S2: ``COPERNICUS/S2_HARMONIZED`` (Level-1C TOA, configurable), filtered to the season
  window, the ROI and ``CLOUDY_PIXEL_PERCENTAGE <= 1``; bands B4, B3, B2.
* S1: ``COPERNICUS/S1_GRD`` with ``instrumentMode == 'IW'`` and ``'VV'`` in
  ``transmitterReceiverPolarisation``; band VV (sigma0 in dB).
* Each collection sorted by acquisition time, ``mosaic()`` (the last, i.e. latest, on top),
  ``clip()`` to the ROI, exported at 10 m on the ROI's UTM grid.
* ROIs: ``ee.FeatureCollection.randomPoints`` over the land and urban layers with the
  season's seed (100 + 50 points), then the offline sampler's de-overlap rule.

Recipe v2 (the paper's planned successor; :mod:`sen12stac.recipe.recipes`):

* S2: ``COPERNICUS/S2_SR_HARMONIZED`` (Level-2A surface reflectance; Earth Engine has already
  removed the processing-baseline offset), the same window, ROI and ``CLOUDY_PIXEL_PERCENTAGE
  <= 1``; the 12 bands B1..B12 with B8A, each granule's bands ``resample('bilinear')`` (20 m and
  60 m bands are interpolated onto the 10 m grid), and the granule's ``SCL`` added unresampled
  (nearest: it is categorical), then mosaicked: 13 bands, uint16.
* S1: ``COPERNICUS/S1_GRD`` IW with both ``VV`` and ``VH``; bands VV, VH (sigma0 dB).
* Label: ``ESA/WorldCover/v200`` (one 2021 image), band ``Map``, nearest, uint8, 0 outside.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Sequence

import ee

from ...models import Grid
from ...recipe.seasons import Season

S2_COLLECTION = "COPERNICUS/S2_HARMONIZED"
S1_COLLECTION = "COPERNICUS/S1_GRD"
S2_BANDS_EE = ("B4", "B3", "B2")
S1_BANDS_EE = ("VV",)
MAX_CLOUDY_PIXEL_PERCENTAGE = 1.0
S1_NODATA = -9999.0  # masked S1 pixels are exported as this value (0 dB is a valid sigma0)
TOP_BAND = "top"  # S2 seam image: seconds from the season start of the granule on top
MAX_GRANULES = 500  # metadata of at most this many granules per collection and scene

# Properties read back per granule (the names of the two Earth Engine catalogs).
S1_PROPERTIES = ("platform_number", "orbitProperties_pass", "relativeOrbitNumber_start")
S2_PROPERTIES = ("PRODUCT_ID", "SPACECRAFT_NAME", "SENSING_ORBIT_NUMBER", "SENSING_ORBIT_DIRECTION", "CLOUDY_PIXEL_PERCENTAGE", "MGRS_TILE")


S2_SR_COLLECTION = "COPERNICUS/S2_SR_HARMONIZED"
S2_BANDS_V2_EE = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12")  # recipes.V2.s2_bands
SCL_BAND = "SCL"
S1_BANDS_V2_EE = ("VV", "VH")
WORLDCOVER = "ESA/WorldCover/v200"
WORLDCOVER_BAND = "Map"


@dataclass(frozen=True)
class Recipe:
    """The selection parameters (defaults: the paper's)."""

    s2_collection: str = S2_COLLECTION
    s1_collection: str = S1_COLLECTION
    max_cloud: float = MAX_CLOUDY_PIXEL_PERCENTAGE
    polarizations: tuple[str, ...] = ("VV",)  # S1 granules must have each (v2: VV and VH)


#: recipe v2's selection (the S1 collection and the cloud rule as configured: :func:`v2_recipe`)
def v2_recipe(recipe: Recipe = Recipe()) -> Recipe:
    return Recipe(S2_SR_COLLECTION, recipe.s1_collection, recipe.max_cloud, S1_BANDS_V2_EE)


def window(season: Season) -> tuple[str, str]:
    """``filterDate`` arguments: the season's first day and the day after its last (end exclusive)."""
    return season.start.isoformat(), (season.end + timedelta(days=1)).isoformat()


def roi_region(grid: Grid) -> ee.Geometry:
    """The scene's footprint: the grid's rectangle in its own UTM CRS (planar, not geodesic)."""
    x0, y0, x1, y1 = grid.bounds
    return ee.Geometry.Rectangle([x0, y0, x1, y1], grid.crs, False)


def s2_collection(region: ee.Geometry, season: Season, recipe: Recipe = Recipe()) -> ee.ImageCollection:
    start, end = window(season)
    return (
        ee.ImageCollection(recipe.s2_collection)
        .filterDate(start, end)
        .filterBounds(region)
        .filter(ee.Filter.lte("CLOUDY_PIXEL_PERCENTAGE", recipe.max_cloud))
        .sort("system:time_start")
    )


def s1_collection(region: ee.Geometry, season: Season, recipe: Recipe = Recipe()) -> ee.ImageCollection:
    start, end = window(season)
    coll = (
        ee.ImageCollection(recipe.s1_collection)
        .filterDate(start, end)
        .filterBounds(region)
        .filter(ee.Filter.eq("instrumentMode", "IW"))
    )
    for pol in recipe.polarizations:
        coll = coll.filter(ee.Filter.listContains("transmitterReceiverPolarisation", pol))
    return coll.sort("system:time_start")


def s2_image(collection: ee.ImageCollection, region: ee.Geometry) -> ee.Image:
    """B4, B3, B2 as uint16 TOA x 10000; 0 where nothing was acquired (the pipeline's no-data)."""
    return collection.select(list(S2_BANDS_EE)).mosaic().clip(region).unmask(0).toUint16()


def s1_image(collection: ee.ImageCollection, region: ee.Geometry) -> ee.Image:
    """VV sigma0 in dB as float32; :data:`S1_NODATA` where nothing was acquired."""
    return collection.select(list(S1_BANDS_EE)).mosaic().clip(region).unmask(S1_NODATA).toFloat()


def s2_image_v2(collection: ee.ImageCollection, region: ee.Geometry) -> ee.Image:
    """v2: the 12 L2A bands (reflectance x 10000, bilinear onto the export grid) and the SCL
    (nearest) of the granule on top, uint16; 0 where nothing was acquired."""

    def bands(img: Any) -> ee.Image:
        img = ee.Image(img)
        return img.select(list(S2_BANDS_V2_EE)).resample("bilinear").addBands(img.select([SCL_BAND]))

    mos = collection.map(bands).mosaic()
    refl = mos.select(list(S2_BANDS_V2_EE)).max(1)  # a valid reflectance <= 0 stays valid as 1 (0 is no-data)
    return refl.addBands(mos.select([SCL_BAND])).clip(region).unmask(0).toUint16()


def s1_image_v2(collection: ee.ImageCollection, region: ee.Geometry) -> ee.Image:
    """v2: VV and VH sigma0 in dB as float32; :data:`S1_NODATA` where nothing was acquired."""
    return collection.select(list(S1_BANDS_V2_EE)).mosaic().clip(region).unmask(S1_NODATA).toFloat()


def label_image(region: ee.Geometry) -> ee.Image:
    """v2: ESA WorldCover v200 class codes (nearest), uint8; 0 (no-data) outside the map."""
    return ee.ImageCollection(WORLDCOVER).first().select([WORLDCOVER_BAND]).clip(region).unmask(0).toUint8()


def s2_top_image(collection: ee.ImageCollection, region: ee.Geometry, season: Season) -> ee.Image:
    """Which granule is on top of the S2 mosaic, per pixel: its acquisition time in seconds after
    the season start (int32; -1 where none). Where it changes, the mosaic has a seamline."""
    t0 = ee.Date(season.start.isoformat()).millis()

    def stamp(img: Any) -> ee.Image:
        img = ee.Image(img)
        seconds = ee.Number(img.get("system:time_start")).subtract(t0).divide(1000).round()
        return ee.Image.constant(seconds).toInt32().rename(TOP_BAND).updateMask(img.select("B4").mask())  # B4: in both recipes' collections

    return collection.map(stamp).mosaic().clip(region).unmask(-1).toInt32()


def granules(collection: ee.ImageCollection, properties: Sequence[str]) -> ee.List:
    """Per granule, in mosaic order (last on top): id, acquisition time and ``properties``."""

    def describe(img: Any) -> ee.Dictionary:
        img = ee.Image(img)
        return img.toDictionary(list(properties)).set("id", img.get("system:index")).set("time", img.get("system:time_start"))

    return collection.toList(MAX_GRANULES).map(describe)


def scene_metadata(region: ee.Geometry, season: Season, recipe: Recipe = Recipe()) -> ee.Dictionary:
    """One request per scene: both collections' sizes and granule metadata (empty: ROI dropped)."""
    s1, s2 = s1_collection(region, season, recipe), s2_collection(region, season, recipe)
    return ee.Dictionary({
        "s1_count": s1.size(),
        "s2_count": s2.size(),
        "s1": granules(s1, S1_PROPERTIES),
        "s2": granules(s2, S2_PROPERTIES),
    })


def pixel_grid(grid: Grid, col_off: int = 0, row_off: int = 0, width: int | None = None, height: int | None = None) -> dict[str, Any]:
    """A REST ``PixelGrid`` for a window of ``grid``: exactly the pipeline's pixels (CRS, 10 m, origin)."""
    a, b, c, d, e, f = grid.transform
    return {
        "crsCode": grid.crs,
        "affineTransform": {
            "scaleX": a, "shearX": b, "translateX": c + a * col_off + b * row_off,
            "shearY": d, "scaleY": e, "translateY": f + d * col_off + e * row_off,
        },
        "dimensions": {"width": int(width if width is not None else grid.width), "height": int(height if height is not None else grid.height)},
    }


# --------------------------------------------------------------------------- ROI sampling


def layer_geometry(polygons: Sequence[Any]) -> ee.Geometry:
    """A carried Natural Earth layer uploaded inline: one planar lon/lat MultiPolygon."""
    coords = [[list(map(list, p.exterior.coords))] + [list(map(list, r.coords)) for r in p.interiors] for p in polygons]
    return ee.Geometry.MultiPolygon(coords, None, False)


def layer_from_asset(asset_id: str) -> ee.Geometry:
    """A layer the user uploaded as a table asset (its features' union)."""
    return ee.FeatureCollection(asset_id).geometry()


def s2_band(lat_min: float = -56.0, lat_max: float = 83.0) -> ee.Geometry:
    return ee.Geometry.Rectangle([-180.0, lat_min, 180.0, lat_max], None, False)


def random_points(land: ee.Geometry, urban: ee.Geometry, season: Season, n_land: int = 100, n_urban: int = 50) -> ee.Dictionary:
    """The paper's sampling: ``randomPoints`` with the season's seed over land and over urban
    areas inside Sentinel-2 coverage; returned as lon/lat lists (land first, then urban)."""
    band = s2_band()

    def coords(region: ee.Geometry, n: int) -> ee.List:
        pts = ee.FeatureCollection.randomPoints(region.intersection(band, 1), n, season.seed, 1)
        return pts.geometry().coordinates()

    return ee.Dictionary({"land": coords(land, n_land), "urban": coords(urban, n_urban)})


def serialize(obj: ee.ComputedObject) -> dict[str, Any]:
    """The graph as the REST API receives it (the cloud API encoding), as a plain dict."""
    return json.loads(obj.serialize(for_cloud_api=True))


def describe(season: Season, grid: Grid, recipe: Recipe = Recipe(), *, land_asset: str = "projects/YOUR_PROJECT/assets/ne_50m_land",
             urban_asset: str = "projects/YOUR_PROJECT/assets/ne_50m_urban_areas") -> dict[str, Any]:
    """Every graph the source sends for one scene of ``season`` on ``grid``, serialized (for
    review, and for the golden files under tests/earthengine/)."""
    region = roi_region(grid)
    s1, s2 = s1_collection(region, season, recipe), s2_collection(region, season, recipe)
    export = ee.batch.Export.image.toDrive(image=s2_image(s2, region), description="s2", folder="sen12stac", fileNamePrefix="s2",
                                           crs=grid.crs, crsTransform=list(grid.transform), dimensions=f"{grid.width}x{grid.height}",
                                           maxPixels=1e13, fileFormat="GeoTIFF")
    config = dict(export.config)
    config["expression"] = json.loads(ee.serializer.toJSON(config["expression"], for_cloud_api=True))
    return {
        "season": season.name,
        "grid": {"crs": grid.crs, "transform": list(grid.transform), "width": grid.width, "height": grid.height},
        "scene_metadata": serialize(scene_metadata(region, season, recipe)),
        "s1_image": serialize(s1_image(s1, region)),
        "s2_image": serialize(s2_image(s2, region)),
        "s2_top_image": serialize(s2_top_image(s2, region, season)),
        "compute_pixels_grid": pixel_grid(grid),
        "batch_export_request": config,
        "random_points": serialize(random_points(layer_from_asset(land_asset), layer_from_asset(urban_asset), season)),
    }


def describe_v2(season: Season, grid: Grid, recipe: Recipe = Recipe()) -> dict[str, Any]:
    """Every graph the source sends for one scene of ``season`` under recipe v2 (the golden files
    ``tests/earthengine/golden/v2_<season>.json``); ROI sampling is v1's and not repeated."""
    region = roi_region(grid)
    rv2 = v2_recipe(recipe)
    s1, s2 = s1_collection(region, season, rv2), s2_collection(region, season, rv2)
    return {
        "season": season.name,
        "recipe": "v2",
        "grid": {"crs": grid.crs, "transform": list(grid.transform), "width": grid.width, "height": grid.height},
        "scene_metadata": serialize(scene_metadata(region, season, rv2)),
        "s1_image": serialize(s1_image_v2(s1, region)),
        "s2_image": serialize(s2_image_v2(s2, region)),
        "s2_top_image": serialize(s2_top_image(s2, region, season)),
        "label_image": serialize(label_image(region)),
        "compute_pixels_grid": pixel_grid(grid),
    }
