"""``croissant.json``: the release as an MLCommons Croissant 1.1 dataset with the GeoCroissant
1.0 terms (``geocr:``: coordinate reference system, spatial resolution, band configuration and
spectral band metadata per data asset), for ML tools (``mlcroissant``, Hugging Face, Kaggle,
OpenML).

* ``distribution``: one ``cr:FileObject`` per collection's stac-geoparquet file (with its
  SHA-256, as the manifest lists it) and one ``cr:FileSet`` per kind of
  per-pair file (``*/s1_*/*.tif``, ``*/s2_*/*.tif``, ``*/thumbs_*/*.jpg``, a v2 label ...).
  URLs are relative to the release folder, as every STAC href of a release is: the release
  stays self-contained and can be copied or mirrored. (The root catalog is the dataset's
  ``url``, not a FileObject: it links this file, so it cannot carry its checksum.)
* ``recordSet`` ``pairs``: one record per patch pair, read from the geoparquet files: id,
  collection, season, split, scene, datetime, CRS, footprint (WGS 84 bounding box) and one URL
  per data asset (relative to the collection folder, as in the geoparquet).
* The counts are ``additionalProperty`` values (``pairs``, ``pairs/<season>/<split>`` ...),
  the same numbers as ``release.json``.
"""
from __future__ import annotations

import json
from typing import Any

from .facts import ReleaseFacts, quantities

CONTEXT: dict[str, Any] = {
    # The official Croissant 1.1 context (docs/croissant-spec-1.1.md), plus the geocr prefix.
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "geocr": "http://mlcommons.org/croissant/geo/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}
CONFORMS_TO = ["http://mlcommons.org/croissant/1.1", "http://mlcommons.org/croissant/geo/1.0"]
PARQUET = "application/x-parquet"  # the media type mlcroissant reads parquet by
RECORD_SET = "pairs"


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"@type": "QuantitativeValue", "value": value, "unitText": unit}


def _band_terms(bands: list[dict[str, Any]]) -> dict[str, Any]:
    """GeoCroissant band configuration and spectral metadata of one asset's STAC ``bands``."""
    names = [str(b.get("name") or f"band{i + 1}") for i, b in enumerate(bands)]
    out: dict[str, Any] = {
        "geocr:bandConfiguration": {"@type": "geocr:BandConfiguration", "geocr:totalBands": len(bands), "geocr:bandNameList": names}
    }
    spectral = []
    for name, b in zip(names, bands):
        if b.get("eo:center_wavelength") is None:
            continue
        entry: dict[str, Any] = {"@type": "geocr:SpectralBand", "name": name,
                                 "geocr:centerWavelength": _quantity(round(float(b["eo:center_wavelength"]) * 1000, 3), "nm")}
        if b.get("eo:full_width_half_max") is not None:
            entry["geocr:bandwidth"] = _quantity(round(float(b["eo:full_width_half_max"]) * 1000, 3), "nm")
        if b.get("eo:common_name"):
            entry["description"] = str(b["eo:common_name"])
        spectral.append(entry)
    if spectral:
        out["geocr:spectralBandMetadata"] = spectral
    return out


def _field(name: str, description: str, data_type: str, column: str, *, json_path: str | None = None, **extra: Any) -> dict[str, Any]:
    source: dict[str, Any] = {"fileSet": {"@id": "geoparquet"}, "extract": {"column": column}}
    if json_path:
        source["transform"] = {"jsonPath": json_path}
    return {"@type": "cr:Field", "@id": f"{RECORD_SET}/{name}", "name": name, "description": description,
            "dataType": data_type, "source": source, **extra}


def croissant(facts: ReleaseFacts) -> dict[str, Any]:
    """The Croissant JSON-LD document of a release."""
    paper = facts.texts["paper"]
    gsd = facts.gsd()
    interval = facts.interval()
    bbox = facts.bbox()
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CONFORMS_TO,
        "name": facts.dataset_id,
        "alternateName": facts.title,
        "description": facts.description,
        "version": facts.version,
        "datePublished": facts.date,
        "license": facts.license_url or facts.license_id,
        "url": "./catalog.json",
        "keywords": facts.keywords,
        "creator": [{"@type": "Organization", "name": a["name"]} if "name" in a else
                    {"@type": "Person", "givenName": a.get("given-names"), "familyName": a.get("family-names")}
                    for a in facts.texts["release_authors"]],
        "isBasedOn": {
            "@type": "ScholarlyArticle",
            "name": paper["title"],
            "author": [{"@type": "Person", "givenName": a["given-names"], "familyName": a["family-names"]} for a in paper["authors"]],
            **({"identifier": f"https://doi.org/{facts.doi}"} if facts.doi else {}),
            "datePublished": str(paper["year"]),
        },
        "isLiveDataset": False,
    }
    if facts.citation:
        doc["citeAs"] = facts.citation
    if facts.attribution:
        doc["creditText"] = facts.attribution
    if interval:
        doc["temporalCoverage"] = f"{interval[0]}/{interval[1]}"
    if bbox:
        doc["spatialCoverage"] = {"@type": "Place", "geo": {"@type": "GeoShape", "box": f"{bbox[1]} {bbox[0]} {bbox[3]} {bbox[2]}"}}
    # GeoCroissant: footprints are WGS 84; each pair's rasters are in the UTM zone of its scene
    # (the record's `crs` field; every zone the release holds is listed in `crs_codes`).
    doc["geocr:coordinateReferenceSystem"] = "EPSG:4326"
    if gsd is not None:
        doc["geocr:spatialResolution"] = _quantity(gsd, "m")
    doc["additionalProperty"] = (
        [{"@type": "PropertyValue", "name": name, "value": value} for name, value in quantities(facts).items()]
        + [{"@type": "PropertyValue", "name": "crs_codes", "value": ", ".join(facts.crs_codes())},
           {"@type": "PropertyValue", "name": "sen12:recipe", "value": facts.recipe}]
    )

    distribution: list[dict[str, Any]] = []
    for collection, key in facts.geoparquet():
        size, sha = facts.files[key]
        distribution.append({"@type": "cr:FileObject", "@id": key, "name": key,
                             "description": f"stac-geoparquet of every item (pair) of collection {collection}.",
                             "contentUrl": key, "encodingFormat": PARQUET, "contentSize": f"{size} B", "sha256": sha})
    distribution.append({"@type": "cr:FileSet", "@id": "geoparquet", "name": "geoparquet",
                         "description": "The stac-geoparquet files of all collections (one per season): one row per pair.",
                         "encodingFormat": PARQUET, "includes": "*/items.parquet"})
    for name, glob, media, n in facts.file_sets():
        distribution.append({"@type": "cr:FileSet", "@id": name, "name": name,
                             "description": f"{n} files, one per pair.", "encodingFormat": media, "includes": glob})
    doc["distribution"] = distribution

    fields = [
        _field("id", "STAC item id of the pair (the original SEN1-2 naming: <set>_<scene>_p<patch>).", "sc:Text", "id"),
        _field("collection", "STAC collection (one per season).", "sc:Text", "collection"),
        _field("season", "Season of the paper's ROI set.", "sc:Text", "sen12:season"),
        _field("split", "train, validate or test (ml-aoi:split), assigned per scene.", "sc:Text", "ml-aoi:split"),
        _field("scene", "Scene (ROI) id; all pairs of a scene share one split.", "sc:Text", "sen12:scene_id"),
        _field("datetime", "Acquisition time of the pair (the later of the two).", "sc:Date", "datetime"),
        _field("crs", "Coordinate reference system of the pair's rasters (the UTM zone of its scene).", "sc:Text", "proj:code"),
    ]
    for corner, path in (("west", "xmin"), ("south", "ymin"), ("east", "xmax"), ("north", "ymax")):
        fields.append(_field(f"footprint_{corner}", f"Footprint bounding box, {corner} edge (WGS 84 degrees).", "sc:Float", "bbox", json_path=path))
    for asset in facts.data_assets():
        extra: dict[str, Any] = _band_terms(asset.bands) if asset.bands else {}
        if asset.gsd:
            extra["geocr:spatialResolution"] = _quantity(float(asset.gsd), "m")
        if asset.classes and "geocr:bandConfiguration" in extra:
            extra["geocr:bandConfiguration"]["description"] = "classes: " + ", ".join(
                f"{c.get('value')} {c.get('name') or c.get('description') or ''}".strip() for c in asset.classes)
        fields.append(_field(asset.name, f"{asset.title}. URL relative to the collection folder. {asset.description}".strip(),
                             "sc:URL", "assets", json_path=f"{asset.name}.href", encodingFormat=asset.media_type, **extra))
    doc["recordSet"] = [{
        "@type": "cr:RecordSet",
        "@id": RECORD_SET,
        "name": RECORD_SET,
        "description": f"One record per patch pair ({facts.items} in this release), read from the stac-geoparquet files.",
        "key": {"@id": f"{RECORD_SET}/id"},
        "field": fields,
    }]
    return doc


def croissant_bytes(facts: ReleaseFacts) -> bytes:
    return (json.dumps(croissant(facts), indent=2, ensure_ascii=False) + "\n").encode("utf-8")
