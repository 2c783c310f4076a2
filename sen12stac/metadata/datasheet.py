"""``DATASHEET.md``: the release's datasheet (Gebru et al., "Datasheets for Datasets",
Communications of the ACM 64(12), 2021): motivation, composition with the measured counts per
season and split, the collection process (the recipe and its sources), what QC rejected,
preprocessing, uses, distribution and licence, maintenance and versioning.

Measured facts come from the release (its catalog, ``release.json``'s counts, the build
summary); the fixed answers from ``catalog/ml_metadata.json``."""
from __future__ import annotations

from typing import Any

from .facts import ReleaseFacts, counts_sentence


def _rejections(table: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(table.items(), key=lambda kv: (-int(kv[1]), kv[0]))) or "none"


def _qc_section(facts: ReleaseFacts) -> list[str]:
    summary = facts.summary
    if not summary or not isinstance(summary.get("seasons"), dict):
        return ["This release carries no build summary (`build-summary.json`), so the QC outcome of its build is not known here; "
                "every published pair records its own patch QC figures (`sen12:nodata_fraction`, `sen12:cloud_fraction`, ...)."]
    lines = ["Counted by the build (`build-summary.json`, shipped with the release). Scene QC rejects whole scenes "
             "(no-data, clouds, haze, colour casts, flat channels); patch QC rejects single patch positions of accepted scenes "
             "(no-data, clouds, optionally seamlines and haze). A reason code names the check.", "",
             "| set | ROIs sampled | kept (no overlap) | processed | with data | scenes accepted | scenes rejected | scene QC rejections | patch positions | patch QC rejections | pairs published |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, s in summary["seasons"].items():
        scene_rej = s.get("scene_rejections") or {}
        rejected = sum(1 for sc in summary.get("scenes", []) if sc.get("status") == "rejected" and str(sc.get("scene_id", "")).startswith(f"{name}_"))
        lines.append(f"| {name} | {s.get('rois_sampled', '-')} | {s.get('rois_kept', '-')} | {s.get('rois_processed', '-')} | "
                     f"{s.get('rois_with_data', '-')} | {s.get('scenes_accepted', '-')} | {rejected} | {_rejections(scene_rej)} | "
                     f"{s.get('patch_positions', '-')} | {_rejections(s.get('patch_rejections') or {})} | {s.get('patches_published', '-')} |")
    overrides = [sc for sc in summary.get("scenes", []) if sc.get("override")]
    lines += ["", f"Manual scene decisions (overrides) applied: {len(overrides)}."]
    failed = [sc for sc in summary.get("scenes", []) if sc.get("status") == "failed"]
    if failed:
        lines.append(f"Scenes that failed to process (not QC): {len(failed)}.")
    return lines


def datasheet_md(facts: ReleaseFacts) -> str:
    ds = facts.texts["datasheet"]
    splits = facts.splits()
    out: list[str] = [
        f"# Datasheet: {facts.title}, release {facts.version}",
        "",
        f"Release {facts.version} of `{facts.dataset_id}` (recipe `{facts.recipe}`), released {facts.date}. "
        "A datasheet after Gebru et al., \"Datasheets for Datasets\" (Communications of the ACM 64(12), 2021), written from the "
        "release's own catalog and counts; `croissant.json` and `CITATION.cff` beside it say the same.",
        "",
        "## Motivation",
        "",
        *[f"- {t}" for t in ds["motivation"]],
        "",
        "## Composition",
        "",
        facts.description,
        "",
        ds["instances"],
        "",
        f"**Counts.** {counts_sentence(facts)}",
        "",
        "| season | " + " | ".join(splits) + " | pairs |",
        "|---|" + "---|" * len(splits) + "---|",
    ]
    for season, row, n in facts.season_table():
        out.append(f"| {season} | " + " | ".join(str(row[s]) for s in splits) + f" | {n} |")
    total = facts.counts.get("by_split", {})
    out.append("| all | " + " | ".join(str(int(total.get(s, 0))) for s in splits) + f" | {facts.items} |")
    out += ["", "**What each pair holds** (the collections' `item_assets`):", ""]
    for a in facts.data_assets():
        bands = ", ".join(str(b.get("name")) for b in a.bands) or "-"
        types = sorted({str(b.get("data_type")) for b in a.bands if b.get("data_type")})
        out.append(f"- `{a.name}`: {a.title}; bands {bands}" + (f"; {', '.join(types)}" if types else "") + f". {a.description}".rstrip())
        if a.classes:
            out.append("  Classes: " + ", ".join(f"{c.get('value')} = {c.get('name') or c.get('description')}" for c in a.classes) + ".")
    crs = facts.crs_codes()
    out += [
        "",
        f"Every raster is on a {facts.gsd() or 10:g} m grid in the UTM zone of its scene ({len(crs)} zone(s) in this release: {', '.join(crs) or '-'}); "
        "footprints are WGS 84.",
        "",
        ds["splits"],
        "",
        ds["no_people"],
        "",
        "## Collection process",
        "",
        "The pairs are made by the SEN1-2 recipe (Schmitt, Hughes and Zhu 2018"
        + (f", doi:{facts.doi}" if facts.doi else "") + "): regions of interest sampled at random over land and urban areas with one "
        "seed per season, one Sentinel-1 and one Sentinel-2 scene per region and season, co-registered on one 10 m UTM grid and cut into "
        "256 x 256 pixel patches.",
        "",
    ]
    interval = facts.interval()
    if interval:
        out += [f"Acquisitions between {interval[0]} and {interval[1]}.", ""]
    providers = facts.providers()
    if providers:
        out += ["Sources and processors (the collections' `providers`):", ""]
        out += [f"- {p.get('name')} ({', '.join(p.get('roles') or [])}): {p.get('description', '')}".rstrip() for p in providers]
        out.append("")
    out += ["## Quality control: what was rejected", "", *_qc_section(facts), "",
            "## Preprocessing", ""]
    lineage = facts.lineage()
    out += [f"- {t}" for t in lineage] or ["- (the release's catalog records no processing lineage)"]
    software = facts.software()
    if software:
        out += ["", "Software: " + ", ".join(f"{k} {v}" for k, v in sorted(software.items())) + ". The build is deterministic: the same "
                "command and sources give byte-identical files."]
    out += ["", "## Uses", "", *[f"- {t}" for t in ds["uses"]], "",
            "## Distribution and licence", "", ds["distribution"], "",
            f"Licence (SPDX): {facts.license_id}" + (f" ({facts.license_url})" if facts.license_url else "") + "."
            + (f" Attribution: {facts.attribution}" if facts.attribution else ""), "",
            "Cite the recipe as: " + (facts.citation or "-"), "",
            "## Maintenance and versioning", "", *[f"- {t}" for t in ds["maintenance"]], ""]
    return "\n".join(out)


def datasheet_bytes(facts: ReleaseFacts) -> bytes:
    return datasheet_md(facts).encode("utf-8")
