"""What the ML metadata says, gathered once from one source: the release's own catalog (root
and collections: titles, licence, citation, bands, extents, lineage, the geoparquet assets),
the build's counts (items per season and split, as in ``release.json``), the build summary
(what QC rejected) and the checksums of the release's files; plus the few texts no catalog
object holds (``catalog/ml_metadata.json``: the paper's bibliographic record, who publishes,
the datasheet's fixed answers).

Nothing here knows a recipe: bands, texts and asset names are read from the release, so a
v2 release (12 S2 bands, VV+VH, a label) is described as it is."""
from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from ..errors import ConfigError
from ..stac.hrefs import resolve_href
from ..stac.texts import TEXTS_PACKAGE

ML_TEXTS = "ml_metadata.json"


def ml_texts() -> dict[str, Any]:
    """``catalog/ml_metadata.json`` (installed as ``sen12stac.catalog_texts``)."""
    try:
        data = json.loads(resources.files(TEXTS_PACKAGE).joinpath(ML_TEXTS).read_text(encoding="utf-8"))
    except (FileNotFoundError, ModuleNotFoundError, ValueError) as exc:
        raise ConfigError(f"catalog text file {ML_TEXTS} cannot be read ({exc})",
                          fix="restore catalog/ml_metadata.json and reinstall (pip install -e .)") from None
    data.pop("$comment", None)
    return data


@dataclass
class DataAsset:
    """One data asset of every pair (``s1``, ``s2``, a label ...), from the collections' ``item_assets``."""

    name: str
    title: str
    description: str
    media_type: str
    bands: list[dict[str, Any]]
    classes: list[dict[str, Any]] = field(default_factory=list)  # classification:classes (a label)
    gsd: float | None = None


@dataclass
class ReleaseFacts:
    version: str
    date: str  # YYYY-MM-DD, the release date
    root: dict[str, Any]  # the release's root catalog
    collections: dict[str, dict[str, Any]]  # release key of collection.json -> collection
    counts: dict[str, Any]  # items, by_split, by_season (release.json's counts)
    summary: dict[str, Any] | None  # build-summary.json, when the release carries one
    files: dict[str, tuple[int, str]]  # release key -> (size, sha256) of the release's objects
    texts: dict[str, Any] = field(default_factory=ml_texts)

    # -- read from the catalog
    @property
    def dataset_id(self) -> str:
        return str(self.root.get("id") or "dataset")

    @property
    def title(self) -> str:
        return str(self.root.get("title") or self.dataset_id)

    @property
    def description(self) -> str:
        return str(self.root.get("description") or self.title)

    @property
    def recipe(self) -> str:
        return str(self.root.get("sen12:recipe") or "v1")

    def _first(self, name: str) -> Any:
        for key in sorted(self.collections):
            value = self.collections[key].get(name)
            if value:
                return value
        return None

    @property
    def license_id(self) -> str:
        ids = sorted({str(c.get("license")) for c in self.collections.values() if c.get("license")})
        if len(ids) != 1:
            raise ConfigError(f"the release's collections name {len(ids)} licences ({', '.join(ids) or 'none'}), not one",
                              fix="give every collection the same `license` (catalog/license.json) and rebuild")
        return ids[0]

    @property
    def license_url(self) -> str | None:
        for link in self.root.get("links", []) or []:
            href = str(link.get("href", ""))
            if link.get("rel") == "license" and href.startswith("http") and "legalcode" not in href:
                return href
        return None

    @property
    def doi(self) -> str | None:
        return self._first("sci:doi")

    @property
    def citation(self) -> str | None:
        return self._first("sci:citation")

    @property
    def keywords(self) -> list[str]:
        return list(self._first("keywords") or [])

    @property
    def attribution(self) -> str | None:
        return self._first("sen12:attribution")

    @property
    def season_names(self) -> list[str]:
        return list(self.counts.get("by_season", {}))

    def bbox(self) -> list[float] | None:
        boxes = [c["extent"]["spatial"]["bbox"][0] for c in self.collections.values()
                 if c.get("extent", {}).get("spatial", {}).get("bbox")]
        if not boxes:
            return None
        return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]

    def interval(self) -> tuple[str, str] | None:
        spans = [c["extent"]["temporal"]["interval"][0] for c in self.collections.values()
                 if c.get("extent", {}).get("temporal", {}).get("interval")]
        starts = [s[0] for s in spans if s and s[0]]
        ends = [s[1] for s in spans if len(s) > 1 and s[1]]
        if not starts or not ends:
            return None
        return min(starts), max(ends)

    def crs_codes(self) -> list[str]:
        codes: set[str] = set()
        for c in self.collections.values():
            codes.update(str(x) for x in (c.get("summaries", {}).get("proj:code") or []))
        return sorted(codes)

    def gsd(self) -> float | None:
        values = sorted({float(x) for c in self.collections.values() for x in (c.get("summaries", {}).get("gsd") or [])})
        return values[0] if len(values) == 1 else None

    def lineage(self) -> list[str]:
        out: list[str] = []
        for key in sorted(self.collections):
            for p in self.collections[key].get("providers", []) or []:
                text = p.get("processing:lineage")
                if text and text not in out:
                    out.append(str(text))
        return out

    def providers(self) -> list[dict[str, Any]]:
        seen: dict[str, dict[str, Any]] = {}
        for key in sorted(self.collections):
            for p in self.collections[key].get("providers", []) or []:
                seen.setdefault(str(p.get("name")), p)
        return list(seen.values())

    def software(self) -> dict[str, str]:
        for p in self.providers():
            if p.get("processing:software"):
                return {str(k): str(v) for k, v in p["processing:software"].items()}
        return {}

    def data_assets(self) -> list[DataAsset]:
        """The pair's data assets (role ``data``), in the catalog's order."""
        found: dict[str, DataAsset] = {}
        for key in sorted(self.collections):
            for name, a in (self.collections[key].get("item_assets") or {}).items():
                if name in found or "data" not in (a.get("roles") or []):
                    continue
                found[name] = DataAsset(
                    name=name,
                    title=str(a.get("title") or name),
                    description=str(a.get("description") or ""),
                    media_type=str(a.get("type") or "application/octet-stream"),
                    bands=[dict(b) for b in a.get("bands") or []],
                    classes=[dict(c) for c in a.get("classification:classes") or []],
                    gsd=a.get("gsd"),
                )
        return list(found.values())

    def geoparquet(self) -> list[tuple[str, str]]:
        """(collection id, release key) of each collection's stac-geoparquet file."""
        out = []
        for key in sorted(self.collections):
            c = self.collections[key]
            for asset in (c.get("assets") or {}).values():
                if "stac-items" in (asset.get("roles") or []) or asset.get("type") == "application/vnd.apache.parquet":
                    target = resolve_href(key, str(asset.get("href", "")))
                    if target is not None and target in self.files:
                        out.append((str(c.get("id")), target))
                        break
        return out

    def file_sets(self) -> list[tuple[str, str, str, int]]:
        """(name, glob, media type, count) of the per-pair files, one per folder kind:
        ``<collection>/<kind>_<scene>/<file>`` (``s1_7``, ``s2_7``, ``thumbs_7``, ...)."""
        kinds: dict[tuple[str, str], int] = {}
        for key in self.files:
            parts = key.split("/")
            if len(parts) != 3 or "_" not in parts[1]:
                continue
            kind, _, scene = parts[1].rpartition("_")
            ext = posixpath.splitext(parts[2])[1].lower()
            if not scene.isdigit() or ext not in _MEDIA:
                continue
            kinds[(kind, ext)] = kinds.get((kind, ext), 0) + 1
        return [(f"{kind}-files", f"*/{kind}_*/*{ext}", _MEDIA[ext], n) for (kind, ext), n in sorted(kinds.items())]

    # -- the build's counts
    @property
    def items(self) -> int:
        return int(self.counts.get("items", 0))

    def splits(self) -> list[str]:
        order = ["train", "validate", "test"]
        names = set(self.counts.get("by_split", {}))
        return [s for s in order if s in names] + sorted(names - set(order))

    def season_table(self) -> list[tuple[str, dict[str, int], int]]:
        return [(season, {s: int(row.get(s, 0)) for s in self.splits()}, int(row.get("items", 0)))
                for season, row in self.counts.get("by_season", {}).items()]


_MEDIA = {
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
}


def counts_sentence(facts: ReleaseFacts) -> str:
    """The counts in one sentence (the datasheet and CITATION.cff's abstract both say it)."""
    parts = []
    for season, row, n in facts.season_table():
        split_text = ", ".join(f"{s} {row[s]}" for s in facts.splits())
        parts.append(f"{season} {n} ({split_text})")
    return f"Release {facts.version} holds {facts.items} patch pairs: " + "; ".join(parts) + "."


def quantities(facts: ReleaseFacts) -> dict[str, int]:
    """Every count as a flat name -> number map (``pairs``, ``pairs/<split>``,
    ``pairs/<season>``, ``pairs/<season>/<split>``): how Croissant carries them."""
    out = {"pairs": facts.items}
    for split, n in facts.counts.get("by_split", {}).items():
        out[f"pairs/{split}"] = int(n)
    for season, row, n in facts.season_table():
        out[f"pairs/{season}"] = n
        for split, m in row.items():
            out[f"pairs/{season}/{split}"] = m
    return out

