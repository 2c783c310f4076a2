"""Asset dicts: templates from the catalog texts, hrefs and file fields from asset records,
STAC 1.1 ``bands`` filled from band statistics (``raster:scale``/``raster:offset``; the scene's
statistics themselves live once per scene, in the scene catalog's ``sen12:band_stats``)."""
from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from ..errors import ValidationFailed
from ..models import AssetRecord, BandStats
from .encoding import json_number
from .hrefs import relative_href
from .texts import CatalogTexts


def asset_base(template: Mapping[str, Any], *, drop: Iterable[str] = ()) -> dict[str, Any]:
    out = {}
    for k, v in template.items():
        if k in drop or k.startswith("$"):
            continue
        out[k] = json.loads(json.dumps(v))  # deep copy of plain JSON
    return out


def asset_from_record(
    record: AssetRecord, from_key: str, template: Mapping[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """An asset dict for ``record`` as seen from the object at ``from_key`` (relative href):
    the template's fields, the record's media type, ``extra``, then file:size/file:checksum."""
    d: dict[str, Any] = {"href": relative_href(from_key, record.key)}
    d.update(asset_base(template or {}))
    if record.media_type:
        d["type"] = record.media_type  # the record knows what was written
    d.update(extra)
    d["file:size"] = int(record.size)
    d["file:checksum"] = record.checksum
    return d


def item_asset_template(texts: CatalogTexts, name: str) -> dict[str, Any]:
    """The item_assets template of asset ``name`` minus the fields kept in the collection only."""
    drop_asset = set(texts.collection_only.get("asset", ()))
    drop_band = set(texts.collection_only.get("band", ()))
    out = asset_base(texts.item_assets[name], drop=drop_asset)
    if isinstance(out.get("bands"), list):
        out["bands"] = [{k: v for k, v in b.items() if k not in drop_band} for b in out["bands"]]
    return out


def band_stats_dict(stats: BandStats) -> dict[str, Any]:
    """All of a BandStats, JSON-safe (the scene catalogs carry these)."""
    return {
        "band": stats.band,
        "mean": json_number(stats.mean),
        "std": json_number(stats.std),
        "clip_min": json_number(stats.clip_min),
        "clip_max": json_number(stats.clip_max),
        "stretch_min": json_number(stats.stretch_min),
        "stretch_max": json_number(stats.stretch_max),
        "scale": json_number(stats.scale, 9),
        "offset": json_number(stats.offset, 9),
        "valid_pixels": int(stats.valid_pixels),
    }


def bands_with_stats(template: list[dict[str, Any]], stats: tuple[BandStats, ...], what: str) -> list[dict[str, Any]]:
    if len(stats) != len(template):
        raise ValidationFailed(
            f"{what}: {len(stats)} band statistics for {len(template)} bands",
            [f"{what}: expected {len(template)} BandStats, got {len(stats)}"],
            fix="give one BandStats per published band, in band order",
        )
    bands = []
    for tmpl, st in zip(template, stats):
        b = dict(tmpl)
        if "name" in b and st.band and b["name"] != st.band:
            raise ValidationFailed(
                f"{what}: band statistics for {st.band!r} where {b['name']!r} is expected",
                [f"{what}: band order {st.band} != {b['name']}"],
                fix="give BandStats in the published band order (S1: VV; S2: B04, B03, B02)",
            )
        b["raster:scale"] = json_number(st.scale, 9)
        b["raster:offset"] = json_number(st.offset, 9)
        bands.append(b)
    return bands
