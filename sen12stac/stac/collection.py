"""The collection of one season set: extents and summaries from a
:class:`~sen12stac.stac.summary.CollectionSummary`, words from the catalog texts."""
from __future__ import annotations

from typing import Any, Mapping

from ..config import BuildConfig
from ..models import format_datetime
from ..recipe.seasons import season_by_set_name
from .assets import asset_base
from .extensions import EXT, STAC_VERSION
from .hrefs import relative_href
from .layout import JSON_MEDIA_TYPE, ROOT_KEY, collection_key, scene_catalog_key
from .summary import SPLIT_ORDER, CollectionSummary
from .texts import CatalogTexts, fill_template


def build_collection(
    summary: CollectionSummary,
    *,
    texts: CatalogTexts,
    assets: Mapping[str, dict[str, Any]],
    counts: Mapping[str, Any] | None = None,
    config: BuildConfig | None = None,
) -> dict[str, Any]:
    """The collection of one season set, with extents and summaries from ``summary``."""
    set_name = summary.set_name
    key = collection_key(set_name)
    season = season_by_set_name(set_name)
    c = texts.collections
    values = dict(
        set_name=set_name,
        season=season.name,
        season_title=c["season_titles"].get(season.name, season.name),
        seed=season.seed,
        start=season.start.isoformat(),
        end=season.end.isoformat(),
    )
    providers = []
    for p in texts.providers:
        if "sources" in p and not (set(p["sources"]) & summary.sources):
            continue
        q = {k: v for k, v in p.items() if k != "sources" and not k.startswith("$")}
        if "processor" in q.get("roles", ()) and q.get("name") == "sen12stac" and summary.software:
            q["processing:software"] = dict(sorted(summary.software.items()))
            if config is not None:
                q["processing:lineage"] = fill_template(
                    c["processing_lineage_template"],
                    source="/".join(sorted(summary.sources)) or "unknown",
                    clip_sigma=config.preprocess.clip_sigma,
                    p_low=config.preprocess.stretch_percentiles[0],
                    p_high=config.preprocess.stretch_percentiles[1],
                    stride=config.stride,
                )
        providers.append(q)
    has_processing = any(k.startswith("processing:") for p in providers for k in p)

    lic = texts.license
    links: list[dict[str, Any]] = [
        {"rel": "root", "href": relative_href(key, ROOT_KEY), "type": JSON_MEDIA_TYPE},
        {"rel": "parent", "href": relative_href(key, ROOT_KEY), "type": JSON_MEDIA_TYPE},
        {"rel": "license", "href": lic["href"], "type": "text/html", "title": lic["title"]},
        {"rel": "license", "href": relative_href(key, lic["text_file"]), "type": "text/plain", "title": f"{lic['title']}: legal code"},
        {"rel": "cite-as", "href": f"https://doi.org/{texts.citation['doi']}", "title": texts.citation["citation"]},
    ]
    for idx in sorted(summary.scenes):
        links.append(
            {
                "rel": "child",
                "href": relative_href(key, scene_catalog_key(set_name, idx)),
                "type": JSON_MEDIA_TYPE,
                "title": summary.scenes[idx],
            }
        )
    item_assets = {k: asset_base(v) for k, v in texts.item_assets.items()}
    v2 = config is not None and config.recipe == "v2"
    exts = ["eo", "file", "ml-aoi", "proj", "raster", "sar", "sci"]  # proj/sar/sat: used in summaries
    if v2:
        exts.append("classification")  # the label's classes in item_assets
    if summary.orbit_states or summary.relative_orbits:
        exts.append("sat")
    if has_processing:
        exts.append("processing")
    rec_counts: dict[str, Any] = {
        "items": summary.n_items,
        "scenes_with_items": len(summary.scenes),
    }
    for status, n in sorted(summary.scene_status.items()):
        rec_counts[f"scenes_{status}"] = n
    if summary.patch_rejections:
        rec_counts["patch_rejections"] = dict(sorted(summary.patch_rejections.items()))
    for k, v in sorted((counts or {}).items()):
        rec_counts[k] = v
    out: dict[str, Any] = {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "stac_extensions": sorted(EXT[e] for e in exts),
        "id": set_name,
        "title": fill_template(c["title_template"], **values),
        "description": fill_template(c["description_template"], **values),
        "keywords": list(c["keywords"]),
        "license": lic["license"],
        "providers": providers,
        "extent": {
            "spatial": {"bbox": summary.extent_bboxes()},
            "temporal": {"interval": [[format_datetime(summary.start), format_datetime(summary.end)]]},  # type: ignore[arg-type]
        },
        "summaries": summary.summaries(),
        "item_assets": item_assets,
        "sci:doi": texts.citation["doi"],
        "sci:citation": texts.citation["citation"],
        "sen12:season": season.name,
        "sen12:seed": season.seed,
        "sen12:date_window": [season.start.isoformat(), season.end.isoformat()],
        "sen12:attribution": lic["attribution"],
        "sen12:counts": rec_counts,
        "sen12:split_items": {k: summary.splits[k] for k in sorted(summary.splits, key=lambda k: SPLIT_ORDER.get(k, 9))},
        "sen12:split_scenes": {k: summary.scene_splits[k] for k in sorted(summary.scene_splits, key=lambda k: SPLIT_ORDER.get(k, 9))},
    }
    if v2:  # its own dataset: the recipe's name, and its parameters (no cut, no stretch)
        out["sen12:recipe"] = "v2"
        out["sen12:recipe_parameters"] = {
            "patch_size": config.patch_size,
            "stride": config.stride,
            "pixel_size": config.pixel_size,
            "split_scheme": config.split.scheme,
            "split_ratios": list(config.split.ratios),
            "split_holdout_season": config.split.holdout_season,
        }
    elif config is not None:
        out["sen12:recipe"] = {
            "patch_size": config.patch_size,
            "stride": config.stride,
            "pixel_size": config.pixel_size,
            "clip_sigma": config.preprocess.clip_sigma,
            "stretch_percentiles": list(config.preprocess.stretch_percentiles),
            "split_scheme": config.split.scheme,
            "split_ratios": list(config.split.ratios),
            "split_holdout_season": config.split.holdout_season,
        }
    out["assets"] = dict(assets)
    out["links"] = links
    return out
