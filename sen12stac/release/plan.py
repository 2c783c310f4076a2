"""Planning a release: a pure function of the build and of the releases already listed in
the landing catalog (no timestamps), so a resumed publish plans the same bytes.

A release holds what the build's root catalog reaches -- through child and item links, the
other links (the licence text) and the assets -- plus the build's own summary
(``build-summary.json``): an object of the folder that nothing leads to (a stray left by
some other run) is left out, with a warning, never published.

The plan holds every object with its checksums and its write phase (the commit order:
assets and notes, then items, then catalogs deepest first, then collections, then
``release.json``, and the release's ``catalog.json`` last), the versioned copies of the
root and collections, the release notes and the manifest."""
from __future__ import annotations

import dataclasses
import json
import logging
import posixpath
from dataclasses import dataclass
from fnmatch import fnmatch
from typing import Any, Iterable, Sequence

from ..errors import ReleaseError
from ..recipe.seasons import SEASONS
from ..stac.encoding import to_json_bytes
from ..stac.hrefs import relative_href
from ..store.base import ObjectStore, sha256_hex
from .landing import LandingEntry, landing_versions, read_landing
from .layout import BUILD_FILES, JSON_TYPE, MANIFEST_KEY, NOTES_KEY, ROOT_KEY, VERSION_EXT, VERSION_LINK_RELS
from .manifest import MANIFEST_FORMAT, MANIFEST_TYPE, PlannedObject, manifest_bytes, md5_hex, sorted_members
from ..metadata.release import CITATION_KEY, METADATA_KEYS, planned_metadata, read_summary, release_date
from ..runtime.pool import bounded
from .scan import Scan, scan_object, season_of
from .version import release_dir, version_key

log = logging.getLogger("sen12stac.release")


def versioned(obj: dict[str, Any], key: str, version: str, predecessor_href: str | None, landing_href: str) -> dict[str, Any]:
    """A copy of a catalog/collection with the version extension fields and links."""
    out = dict(obj)
    exts = list(out.get("stac_extensions") or [])
    if VERSION_EXT not in exts:
        exts.append(VERSION_EXT)
    out["stac_extensions"] = exts
    out["version"] = version
    out["deprecated"] = False
    links = [dict(link) for link in out.get("links", []) or [] if link.get("rel") not in VERSION_LINK_RELS]
    links.append(
        {
            "rel": "latest-version",
            "href": landing_href,
            "type": JSON_TYPE,
            "title": "Landing catalog of all versions (its own latest-version link names the newest release)",
        }
    )
    if predecessor_href:
        links.append({"rel": "predecessor-version", "href": predecessor_href, "type": JSON_TYPE})
    if key == ROOT_KEY:
        links.append({"rel": "describedby", "href": f"./{NOTES_KEY}", "type": "text/markdown", "title": "Release notes"})
        links.append(
            {"rel": "describedby", "href": f"./{MANIFEST_KEY}", "type": JSON_TYPE, "title": "Release manifest: every object with size and sha256"}
        )
    out["links"] = links
    return out


def default_notes(title: str, version: str, predecessor: str | None, counts: dict[str, Any], n_objects: int, n_bytes: int) -> str:
    lines = [f"# {title}: release {version}", ""]
    lines.append(f"Predecessor: v{predecessor}." if predecessor else "First release.")
    lines += ["", f"{counts['items']} items, {n_objects} objects, {n_bytes / 1e6:.1f} MB.", ""]
    splits = sorted(counts["by_split"])
    lines.append("| season | " + " | ".join(splits) + " | items |")
    lines.append("|---|" + "---|" * len(splits) + "---|")
    for season, row in counts["by_season"].items():
        lines.append(f"| {season} | " + " | ".join(str(row.get(s, 0)) for s in splits) + f" | {row['items']} |")
    lines += ["", "Checksums of every object: `release.json`. Published releases are immutable.", ""]
    return "\n".join(lines)


@dataclass
class Plan:
    version: str
    vdir: str
    entries: dict[str, PlannedObject]  # by release-relative key, including release.json
    generated: dict[str, bytes]
    manifest: bytes
    counts: dict[str, Any]
    predecessor: str | None
    collections: list[str]
    title: str
    listed: list[str]  # versions in the landing catalog when planning
    left_out: list[str] = dataclasses.field(default_factory=list)  # build objects nothing leads to (not published)

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self.entries.values())

    def landing_entry(self) -> LandingEntry:
        """What the landing catalog records of this release."""
        return LandingEntry(self.version, self.vdir, self.title, len(self.entries), self.counts["items"],
                            json.loads(self.generated[ROOT_KEY]))



def count_items(objects: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Items per split, per season and per collection, from ``(key, record)`` pairs whose records
    carry ``kind``, ``split`` and ``collection`` (a :class:`Scan`, or a worker's write record)."""
    by_split: dict[str, int] = {}
    by_collection: dict[str, dict[str, int]] = {}
    by_season: dict[str, dict[str, int]] = {}
    n_items = 0
    for key, rec in sorted(objects, key=lambda kv: kv[0]):
        if rec.kind != "item":
            continue
        n_items += 1
        split = rec.split or "unassigned"
        by_split[split] = by_split.get(split, 0) + 1
        for table, name in ((by_collection, rec.collection or "none"), (by_season, season_of(rec.collection, key.split("/")[0]))):
            row = table.setdefault(name, {"items": 0})
            row["items"] += 1
            row[split] = row.get(split, 0) + 1
    return {
        "items": n_items,
        "by_split": dict(sorted(by_split.items())),
        "by_season": {k: by_season[k] for k in sorted(by_season, key=lambda n: (list(SEASONS) + [n]).index(n))},
        "by_collection": dict(sorted(by_collection.items())),
    }


def seal(entries: dict[str, PlannedObject], generated: dict[str, bytes], *, version: str, predecessor: str | None,
         collections: list[str], counts: dict[str, Any], notes_text: str, manifest_phase: int = 0, members: Iterable[dict[str, Any]] = ()) -> bytes:
    """Add the release notes and the manifest (listing every entry, notes included) to a plan's
    ``entries`` and ``generated`` bytes; return the manifest."""
    notes_bytes = notes_text.encode("utf-8")
    if not notes_bytes.endswith(b"\n"):
        notes_bytes += b"\n"
    generated[NOTES_KEY] = notes_bytes
    entries[NOTES_KEY] = PlannedObject(NOTES_KEY, len(notes_bytes), sha256_hex(notes_bytes), md5_hex(notes_bytes), "notes", None, 0)
    ordered = sorted(entries)
    header = {
        "type": MANIFEST_TYPE,
        "format": MANIFEST_FORMAT,
        "version": version,
        "root": ROOT_KEY,
        "notes": NOTES_KEY,
        "predecessor": predecessor,
        "collections": collections,
        "counts": counts,
        "totals": {"objects": len(ordered), "bytes": sum(entries[k].size for k in ordered)},
        "checksums": "sha256 of the bytes; md5 equals the S3 ETag of a single-part upload",
    }
    members = sorted_members(members)
    if members:
        header["member_lines"] = "the list members: each training-shard member, its shard, name, first byte, size and sha256 (docs/shards.md)"
    manifest = manifest_bytes(header, ({"key": k, "size": entries[k].size, "sha256": entries[k].sha256, "md5": entries[k].md5} for k in ordered), members)
    generated[MANIFEST_KEY] = manifest
    entries[MANIFEST_KEY] = PlannedObject(MANIFEST_KEY, len(manifest), sha256_hex(manifest), md5_hex(manifest), "manifest", None, manifest_phase)
    return manifest

def add_metadata(entries: dict[str, PlannedObject], generated: dict[str, bytes], *, version: str, counts: dict[str, Any],
                 date: str, summary: dict[str, Any] | None) -> None:
    """Add the ML metadata files (:mod:`sen12stac.metadata`) to a plan, and link them from its root."""
    files = {k: (e.size, e.sha256) for k, e in entries.items()}
    for key, data in planned_metadata(generated, files, version=version, counts=counts, summary=summary, date=date).items():
        old = entries.get(key)
        entries[key] = PlannedObject(key, len(data), sha256_hex(data), md5_hex(data), old.kind if old else "asset",
                                     old.source if old else None, old.phase if old else 0)
        generated[key] = data


def reached_scans(src: ObjectStore, keyset: set[str], workers: int) -> dict[str, Scan]:
    """Scan what the root catalog reaches, level by level (root, collections, scene catalogs,
    items, assets), plus the build's own files (:data:`BUILD_FILES`); nothing else is read."""
    scans: dict[str, Scan] = {}
    frontier = [ROOT_KEY] + [k for k in BUILD_FILES if k in keyset]
    while frontier:
        bounded(lambda k: scan_object(src, k, keyset), frontier, workers, lambda s: scans.__setitem__(s.key, s))
        frontier = sorted({t for k in frontier for t in scans[k].refs if t in keyset and t not in scans})
    return scans


def check_build_summary(src: ObjectStore, scans: dict[str, Scan], counts: dict[str, Any]) -> None:
    """A ``build-summary.json`` ships with the release only when it describes this catalog:
    its published pairs must be the catalog's items (one left by another build is refused)."""
    for key in BUILD_FILES[:1]:  # build-summary.json (qc-overrides.json counts nothing)
        if key not in scans:
            continue
        try:
            pairs = sum(int(s["patches_published"]) for s in json.loads(src.get(key))["seasons"].values())
        except (ValueError, KeyError, TypeError, AttributeError):
            pairs = None
        if pairs != counts["items"]:
            raise ReleaseError(
                f"{src.join(key)} counts {pairs if pairs is not None else 'no'} published pairs but the catalog holds {counts['items']} items: it describes another build",
                fix=f"rebuild into a new folder, or leave it out (--exclude {key})",
            )


def plan_release(src: ObjectStore, dest: ObjectStore, version: str, notes: str | None, workers: int, exclude: Sequence[str]) -> Plan:
    vdir = release_dir(version)
    keys = [
        info.key
        for info in src.list("")
        if not any(fnmatch(info.key, pat) for pat in exclude) and not posixpath.basename(info.key).startswith(".tmp-")
        and not info.key.startswith("review/")  # `build --review`'s previews: for the reviewer, never published
    ]
    keyset = set(keys)
    if ROOT_KEY not in keyset:
        raise ReleaseError(
            f"{src.join(ROOT_KEY)} does not exist: {src.url} is not a finished build",
            fix="run `sen12stac build` to completion first (the catalog writer writes catalog.json last)",
        )
    scans = reached_scans(src, keyset, workers)
    for reserved in (MANIFEST_KEY, NOTES_KEY, *METADATA_KEYS):
        if reserved in scans:
            raise ReleaseError(
                f"the catalog of the build {src.url} links {reserved}, a name the release reserves",
                fix=f"remove or rename {src.join(reserved)} and the link to it",
            )
    left_out = sorted(keyset - set(scans))
    if left_out:
        shown = ", ".join(left_out[:5]) + (f" and {len(left_out) - 5} more" if len(left_out) > 5 else "")
        log.warning("left out %d object(s) of %s that its catalog does not reach: %s", len(left_out), src.url, shown)
    problems = [p for k in sorted(scans) for p in scans[k].problems]  # incl. dangling relative hrefs
    if scans[ROOT_KEY].kind not in ("catalog", "collection") and not problems:
        problems.append(f"{ROOT_KEY}: not a STAC catalog")
    if problems:
        shown = "; ".join(problems[:10]) + (f"; ... {len(problems) - 10} more" if len(problems) > 10 else "")
        raise ReleaseError(
            f"the build {src.url} is not publishable as a self-contained catalog: {shown}",
            fix="write the catalog with relative hrefs inside the build folder (pystac CatalogType.SELF_CONTAINED) and rebuild",
        )

    # depth of each catalog from the root, via child/item links: deepest written first
    depth: dict[str, int] = {ROOT_KEY: 0}
    frontier = [ROOT_KEY]
    while frontier:
        nxt = []
        for k in frontier:
            for c in scans[k].children:
                if c not in depth and scans.get(c) and scans[c].kind in ("catalog", "collection"):
                    depth[c] = depth[k] + 1
                    nxt.append(c)
        frontier = nxt
    max_depth = max(depth.values())

    landing, _ = read_landing(dest)
    earlier = [v for v in landing_versions(landing) if version_key(v) < version_key(version)]
    predecessor = max(earlier, key=version_key) if earlier else None

    counts = count_items(scans.items())
    if not counts["items"]:
        raise ReleaseError(f"the build {src.url} has no item: there is nothing to publish",
                           fix="build at least one pair that passes QC (`sen12stac build` says what to change when none does)")
    check_build_summary(src, scans, counts)

    entries: dict[str, PlannedObject] = {}
    generated: dict[str, bytes] = {}
    collections = sorted(k for k, s in scans.items() if s.kind == "collection" and k != ROOT_KEY)
    title = "release"
    for k in sorted(scans):
        s = scans[k]
        if s.kind in ("catalog", "collection") and (k == ROOT_KEY or s.kind == "collection"):
            obj = json.loads(src.get(k))
            if k == ROOT_KEY:
                title = str(obj.get("title") or obj.get("id") or "release")
            pred_href = None
            if predecessor:
                pred_key = f"v{predecessor}/{k}"
                if dest.head(pred_key) is not None:
                    pred_href = relative_href(f"{vdir}/{k}", pred_key)
            data = to_json_bytes(versioned(obj, k, version, pred_href, relative_href(f"{vdir}/{k}", ROOT_KEY)))
            generated[k] = data
            kind = "root" if k == ROOT_KEY else s.kind
            entries[k] = PlannedObject(k, len(data), sha256_hex(data), md5_hex(data), kind, k)
        else:
            entries[k] = PlannedObject(k, s.size, s.sha256, s.md5, s.kind, k)
        e = entries[k]
        if e.kind in ("asset", "notes"):
            e.phase = 0
        elif e.kind == "item":
            e.phase = 1
        elif e.kind == "root":
            e.phase = max_depth + 4
        else:  # catalogs and collections, deepest first; unreachable ones before all catalogs
            e.phase = 2 + (max_depth - depth.get(k, max_depth + 1) + 1)

    existing = dest.get(f"{vdir}/{CITATION_KEY}") if dest.head(f"{vdir}/{CITATION_KEY}") is not None else None
    add_metadata(entries, generated, version=version, counts=counts, date=release_date(existing),
                 summary=read_summary(src.get, BUILD_FILES[0] in scans, BUILD_FILES[0]))
    n_src_bytes = sum(e.size for e in entries.values())
    notes_text = notes if notes is not None else default_notes(title, version, predecessor, counts, len(entries) + 2, n_src_bytes)
    members = [m for s in scans.values() for m in s.members]
    if notes is None:  # the manual decisions and the changelog since the predecessor (release/diff.py: manifests and geoparquet only)
        from .diff import notes_addendum
        notes_text = "\n\n".join(t for t in (notes_text.rstrip("\n"), notes_addendum(dest, predecessor, src.get, list(entries), f"v{version}")) if t)
    del scans
    manifest = seal(entries, generated, version=version, predecessor=predecessor, collections=collections, counts=counts,
                    notes_text=notes_text, manifest_phase=max_depth + 3, members=members)
    return Plan(version, vdir, entries, generated, manifest, counts, predecessor, collections, title, landing_versions(landing), left_out)
