"""STAC items: one per published patch pair, built as plain dicts from its record (no pystac
tree, no href resolution, so writing 300k items stays linear; ``pystac.Item.from_dict``
reads every one, with the extension helpers working). The scene-level part is built once
per scene (:class:`SceneContext`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import quote

from ..config import BuildConfig
from ..errors import ConfigError, ValidationFailed
from ..models import Acquisition, LandCover, PatchRecord, format_datetime
from ..recipe.recipes import WORLDCOVER_CLASSES
from .assets import item_asset_template, bands_with_stats
from ..shards.layout import asset_fields as shard_asset, extensions as shard_extensions
from .encoding import json_number, parse_datetime
from .extensions import EXT, SAR_FIELDS, SAR_POLARIZATIONS, STAC_VERSION
from .footprint import footprint, grid_bounds, proj_fields
from .hrefs import rebase_href, relative_href
from .layout import JSON_MEDIA_TYPE, ROOT_KEY, collection_key, item_key
from .overrides import manual_decision
from .texts import CatalogTexts, fill_template, load_catalog_texts


def split_software(software: str) -> dict[str, str]:
    """``"sen12stac 0.1.0"`` -> ``{"sen12stac": "0.1.0"}`` (processing:software)."""
    parts = software.strip().rsplit(" ", 1)
    if len(parts) == 2 and parts[0] and parts[1]:
        return {parts[0]: parts[1]}
    return {software.strip() or "sen12stac": "unknown"}


def _acquisition_asset_fields(acq: Acquisition, what: str) -> dict[str, Any]:
    """Per-asset acquisition fields. An unknown time of day (a local scene whose sidecar gives
    only a date, or only a season) leaves ``datetime`` out; the range must then be known."""
    d: dict[str, Any] = {}
    if acq.datetime:
        d["datetime"] = format_datetime(parse_datetime(acq.datetime, f"{what}.datetime"))
    elif not (acq.start_datetime and acq.end_datetime):
        raise ConfigError(
            f"{what} has no datetime and no start_datetime/end_datetime",
            fix="give the acquisition time, or at least the date range, in the scene's metadata",
        )
    if acq.start_datetime:
        d["start_datetime"] = format_datetime(parse_datetime(acq.start_datetime, f"{what}.start_datetime"))
    if acq.end_datetime:
        d["end_datetime"] = format_datetime(parse_datetime(acq.end_datetime, f"{what}.end_datetime"))
    if acq.platform:
        d["platform"] = acq.platform
    d["constellation"] = acq.constellation
    d["instruments"] = [acq.instrument]
    if acq.orbit_state:
        d["sat:orbit_state"] = acq.orbit_state
    if acq.relative_orbit is not None:
        d["sat:relative_orbit"] = int(acq.relative_orbit)
    return d


def acquisition_text(fields: Mapping[str, Any], texts: CatalogTexts) -> str:
    """One line on one acquisition for the item description: platform, time (or date range), orbit."""
    c = texts.collections
    time = fields.get("datetime") or f"{fields.get('start_datetime')} to {fields.get('end_datetime')}"
    orbit = ""
    if fields.get("sat:orbit_state") and fields.get("sat:relative_orbit") is not None:
        orbit = fill_template(c["acquisition_orbit_template"], orbit_state=fields["sat:orbit_state"], relative_orbit=fields["sat:relative_orbit"])
    return fill_template(c["acquisition_template"], platform=fields.get("platform") or c["acquisition_unknown_platform"], time=time, orbit=orbit)


def _derived_from_links(acq: Acquisition, templates: Mapping[str, Any]) -> list[dict[str, Any]]:
    t = templates.get(acq.sensor)
    links = []
    for pid in acq.product_ids:
        if not pid:
            continue
        if pid.startswith(("http://", "https://")):
            links.append({"rel": "derived_from", "href": pid})
            continue
        if not t:
            continue
        name = pid.rsplit("/", 1)[-1]
        if name.endswith(".SAFE"):
            name = name[: -len(".SAFE")]
        link = {
            "rel": "derived_from",
            "href": t["href_template"].format(name=quote(name, safe=""), product_id=quote(pid, safe="")),
        }
        if t.get("type"):
            link["type"] = t["type"]
        links.append(link)
    return links


@dataclass
class SceneContext:
    """What every item of one scene shares, built once per scene (the per-item cost is
    then the footprint and a few dict copies)."""

    record: PatchRecord  # the record this context was built from
    split: str
    properties: dict[str, Any]
    s1_asset: dict[str, Any]
    s2_asset: dict[str, Any]
    thumbnail_asset: dict[str, Any]
    derived_from: list[dict[str, Any]]
    extensions: list[str]
    acquisitions: dict[str, str]  # "s1"/"s2" -> one line for the item description
    title_template: str
    description_template: str
    label_asset: dict[str, Any] | None = None  # recipe v2

    def matches(self, record: PatchRecord) -> bool:
        r = self.record
        return record is r or (
            record.scene_id == r.scene_id
            and record.s1 == r.s1
            and record.s2 == r.s2
            and record.s1_stats == r.s1_stats
            and record.s2_stats == r.s2_stats
            and record.scene_qc == r.scene_qc
            and record.roi == r.roi
            and record.source == r.source
            and record.software == r.software
            and record.seed == r.seed
            and record.season == r.season
            and record.recipe == r.recipe
        )


def scene_qc_dict(sqc: Any) -> dict[str, Any]:
    """A scene's QC decision for its scene catalog (``sen12:scene_qc``): the same for every
    item of the scene, so it is written once per scene, not in each item."""
    out: dict[str, Any] = {
        "accepted": bool(sqc.accepted),
        "reasons": list(sqc.reasons),
        "metrics": {k: json_number(v) for k, v in sorted(sqc.metrics.items())},
    }
    if sqc.override is not None:
        out["override"] = sqc.override
    if sqc.override_note is not None:
        out["override_note"] = sqc.override_note
    for k in ("who", "when"):
        if getattr(sqc, f"override_{k}", None) is not None:
            out[f"override_{k}"] = getattr(sqc, f"override_{k}")
    return out


def scene_context(
    record: PatchRecord, split: str, texts: CatalogTexts, config: BuildConfig | None = None
) -> SceneContext:
    """The shared part of the items of ``record``'s scene."""
    s1f = _acquisition_asset_fields(record.s1, f"{record.pair_id} s1")
    s2f = _acquisition_asset_fields(record.s2, f"{record.pair_id} s2")
    times = []
    for f in (s1f, s2f):
        for k in ("datetime", "start_datetime", "end_datetime"):
            if k in f:
                times.append(parse_datetime(f[k], k))
    props: dict[str, Any] = {
        "datetime": s2f.get("datetime"),  # the S2 acquisition; null when only its date range is known
        "start_datetime": format_datetime(min(times)),
        "end_datetime": format_datetime(max(times)),
        "instruments": sorted({record.s1.instrument, record.s2.instrument}),
        "gsd": json_number(abs(record.grid.transform[0])),
    }
    props.update(SAR_FIELDS)
    v2 = record.recipe == "v2"
    if v2:
        props["sar:polarizations"] = list(SAR_POLARIZATIONS["v2"])
    if record.s1.orbit_state:
        props["sat:orbit_state"] = record.s1.orbit_state
    if record.s1.relative_orbit is not None:
        props["sat:relative_orbit"] = int(record.s1.relative_orbit)
    props["ml-aoi:split"] = split
    props["processing:software"] = split_software(record.software)
    props["sen12:set"] = record.set_name
    props["sen12:season"] = record.season
    props["sen12:seed"] = int(record.seed)
    props["sen12:scene_id"] = record.scene_id
    props["sen12:scene_index"] = int(record.scene_index)
    props["sen12:roi_lon"] = json_number(record.roi.lon)
    props["sen12:roi_lat"] = json_number(record.roi.lat)
    props["sen12:roi_kind"] = record.roi.kind
    props["sen12:source"] = record.source
    if record.s2.cloud_cover is not None:
        props["sen12:s2_product_cloud_cover"] = json_number(record.s2.cloud_cover, 3)

    if v2:
        props["sen12:recipe"] = "v2"  # v1 items carry no such property (their bytes are unchanged)

    s1_asset = item_asset_template(texts, "s1")
    s1_asset.update(s1f)
    s2_asset = item_asset_template(texts, "s2")
    s2_asset.update(s2f)
    label_asset = None
    if v2:  # physical values as delivered: the bands' scale/offset are the template's (S2 0.0001 / 0), S1 has none
        label_asset = item_asset_template(texts, "label")
    else:  # v1: each band's stretch, per scene
        s1_asset["bands"] = bands_with_stats(s1_asset["bands"], record.s1_stats, f"{record.scene_id} s1")
        s2_asset["bands"] = bands_with_stats(s2_asset["bands"], record.s2_stats, f"{record.scene_id} s2")
    thumb = item_asset_template(texts, "thumbnail")

    if record.source in texts.derived_from.get("skip_sources", ()):
        derived = []
    else:
        derived = _derived_from_links(record.s1, texts.derived_from) + _derived_from_links(record.s2, texts.derived_from)
    exts = ["eo", "file", "ml-aoi", "processing", "proj", "raster", "sar"]
    if "sat:orbit_state" in props or "sat:relative_orbit" in props:
        exts.append("sat")
    if v2:
        exts.append("classification")
    return SceneContext(
        record=record,
        split=split,
        properties=props,
        s1_asset=s1_asset,
        s2_asset=s2_asset,
        thumbnail_asset=thumb,
        derived_from=derived,
        extensions=sorted(EXT[e] for e in exts),
        acquisitions={"s1": acquisition_text(s1f, texts), "s2": acquisition_text(s2f, texts)},
        title_template=texts.collections["item_title_template"],
        description_template=texts.collections["item_description_template"],
        label_asset=label_asset,
    )


def land_cover_properties(lc: LandCover) -> dict[str, Any]:
    """Recipe v2's queryable land-cover fields of an item: the majority class, each WorldCover
    class's fraction of the valid label pixels (every class, zeros included), the SCL fractions,
    and the source's own patch-level classes when it gives them. A patch with no valid label
    pixel (a source without a pixel map, such as BigEarthNet) has no majority and no fractions:
    its land cover is unknown, not 0 % of every class."""
    out: dict[str, Any] = {}
    if lc.majority is not None:
        out["sen12:lc_majority"] = int(lc.majority)
        fractions = dict(lc.fractions)
        for code, (name, _colour) in WORLDCOVER_CLASSES.items():
            out[f"sen12:lc_{name}"] = json_number(fractions.get(code, 0.0))
    if lc.source_labels:
        out["sen12:source_labels"] = list(lc.source_labels)
    if lc.scl_cloud_fraction is not None:
        out["sen12:scl_cloud_fraction"] = json_number(lc.scl_cloud_fraction)
    if lc.scl_shadow_fraction is not None:
        out["sen12:scl_shadow_fraction"] = json_number(lc.scl_shadow_fraction)
    return out


def build_item(
    record: PatchRecord,
    split: str,
    *,
    texts: CatalogTexts | None = None,
    config: BuildConfig | None = None,
    context: SceneContext | None = None,
) -> dict[str, Any]:
    """The STAC item (dict) of one published patch pair, with hrefs relative to its key
    :func:`item_key`. Pass ``context`` (from :func:`scene_context`) to share the
    scene-level work between the items of a scene."""
    if context is None or not context.matches(record) or context.split != split:
        context = scene_context(record, split, texts or load_catalog_texts(), config)
    key = item_key(record.set_name, record.scene_index, record.pair_id)
    geometry, bbox = footprint(record.grid)
    where = dict(set_name=record.set_name, scene_index=int(record.scene_index), patch_index=int(record.patch_index),
                 row=int(record.row), col=int(record.col), split=split, **context.acquisitions)
    props: dict[str, Any] = {
        "title": fill_template(context.title_template, **where),
        "description": fill_template(context.description_template, **where),
    }
    props.update(context.properties)
    qc = record.qc
    props["eo:cloud_cover"] = json_number(100.0 * qc.cloud_fraction, 4)
    props.update(dict(proj_fields(record.grid.crs)))
    props["proj:shape"] = [int(record.grid.height), int(record.grid.width)]
    props["proj:transform"] = [float(v) for v in record.grid.transform]
    props["proj:bbox"] = grid_bounds(record.grid)
    props["sen12:patch_index"] = int(record.patch_index)
    props["sen12:row"] = int(record.row)
    props["sen12:col"] = int(record.col)
    props["sen12:nodata_fraction"] = json_number(qc.nodata_fraction)
    props["sen12:cloud_fraction"] = json_number(qc.cloud_fraction)
    props["sen12:seamline"] = bool(qc.seamline)
    props["sen12:qc_reasons"] = list(qc.reasons)
    manual = manual_decision(record)  # a human's accept, with who/when/why (stac/overrides.py)
    if manual:
        props["sen12:qc_override"] = manual
    if record.land_cover is not None:
        props.update(land_cover_properties(record.land_cover))

    assets: dict[str, Any] = {}
    layers = [("s1", context.s1_asset), ("s2", context.s2_asset)]
    if context.label_asset is not None:
        layers.append(("label", context.label_asset))
    for name, base in (*layers, ("thumbnail", context.thumbnail_asset)):
        rec = record.assets.get(name)
        if rec is None:
            if name == "thumbnail":
                continue
            raise ValidationFailed(
                f"patch {record.pair_id} has no {name!r} asset record",
                [f"{record.pair_id}: missing asset record {name}"],
                fix="publish both COGs before adding the scene to the catalog",
            )
        a: dict[str, Any] = {"href": relative_href(key, rec.key)}
        a.update(base)
        if rec.media_type and name == "thumbnail":
            a["type"] = rec.media_type
        a["file:size"] = int(rec.size)
        a["file:checksum"] = rec.checksum
        if rec.member is not None:  # also (or only) in a training shard: docs/shards.md
            a = shard_asset(a, rec.member, rec.checksum, relative_href(key, rec.member.shard.key))
        assets[name] = a

    links = [
        {"rel": "root", "href": relative_href(key, ROOT_KEY), "type": JSON_MEDIA_TYPE},
        {"rel": "parent", "href": "./catalog.json", "type": JSON_MEDIA_TYPE},
        {"rel": "collection", "href": relative_href(key, collection_key(record.set_name)), "type": JSON_MEDIA_TYPE},
    ]
    links.extend(dict(link) for link in context.derived_from)
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": shard_extensions(context.extensions, assets),
        "id": record.pair_id,
        "geometry": geometry,
        "bbox": bbox,
        "properties": props,
        "links": links,
        "assets": assets,
        "collection": record.set_name,
    }


def rebase_item(item: Mapping[str, Any], from_key: str, to_key: str) -> dict[str, Any]:
    """A copy of ``item`` (stored at ``from_key``) whose relative hrefs are relative to
    ``to_key`` instead -- used for the geoparquet rows (hrefs relative to the parquet file)."""
    out = dict(item)
    out["links"] = [dict(link, href=rebase_href(link["href"], from_key, to_key)) for link in item.get("links", [])]
    out["assets"] = {k: _rebase_alternates(dict(a, href=rebase_href(a["href"], from_key, to_key)), from_key, to_key) for k, a in item.get("assets", {}).items()}
    return out


def _rebase_alternates(asset: dict[str, Any], from_key: str, to_key: str) -> dict[str, Any]:
    alt = asset.get("alternate")
    if isinstance(alt, Mapping):
        asset["alternate"] = {k: dict(v, href=rebase_href(v["href"], from_key, to_key)) if isinstance(v, Mapping) and "href" in v else v for k, v in alt.items()}
    return asset
