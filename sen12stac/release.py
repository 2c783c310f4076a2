"""Versioned, immutable, resumable releases of a finished build in object storage.

Layout under a root (``s3://bucket/prefix`` or a folder)::

    catalog.json              landing catalog: a child link per verified release and a
                              ``latest-version`` link (the only object ever rewritten,
                              with a conditional replace on its ETag)
    v1.0.0/catalog.json       the release's own root catalog (version extension)
    v1.0.0/release.json       manifest: every object with size, sha256 and md5, counts
                              per season/collection and split
    v1.0.0/RELEASE-NOTES.md
    v1.0.0/<the build>        collections, scene catalogs, items, COGs, thumbnails, parquet

Ordering (the commit protocol): every object a STAC object links to is written before
that object -- assets and notes, then items, then scene catalogs, then collections, then
``release.json``, and the release's ``catalog.json`` last. The root catalog is the commit
point: whoever can read ``v1.0.0/catalog.json`` finds everything it leads to, and the
landing catalog names a release only after :func:`verify` passed. Every write is a
conditional put (``If-None-Match: *``); nothing published is ever overwritten or deleted.

Resuming: a publish killed at any point is resumed by running it again. The plan is a pure
function of the build (no timestamps) and of the releases already listed in the landing
catalog, so the second run plans the same bytes; it lists what is already there, checks
size and checksum of each existing object against the plan *before writing anything* and
refuses (:class:`~sen12stac.errors.DuplicateReleaseError`) when any differs.

Public API::

    publish(src, dest, version, *, notes=None, workers=8, progress=None) -> ReleaseReport
    verify(dest, version, *, check_cogs=True, check_stac=True) -> VerifyReport
    list_releases(dest) -> list[ReleaseInfo]
"""
from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import re
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

from .errors import ConfigError, DuplicateReleaseError, ObjectConflictError, ReleaseError, StoreError, ValidationFailed
from .seasons import SEASONS
from .stac import resolve_href
from .store.base import NotFound, ObjectInfo, ObjectStore, sha256_hex

log = logging.getLogger("sen12stac.release")

T = TypeVar("T")
R = TypeVar("R")

VERSION_EXT = "https://stac-extensions.github.io/version/v1.2.0/schema.json"
ROOT_KEY = "catalog.json"
MANIFEST_KEY = "release.json"
NOTES_KEY = "RELEASE-NOTES.md"
MANIFEST_TYPE = "sen12stac-release"
MANIFEST_FORMAT = 1
JSON_TYPE = "application/json"
GEOJSON_TYPE = "application/geo+json"
VERSION_LINK_RELS = ("latest-version", "predecessor-version", "successor-version")

# semver.org's regex, without build metadata ("+..." has no precedence and needs URL escaping)
_SEMVER_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?$"
)


# ----------------------------------------------------------------------------- versions


def normalize_version(version: str) -> str:
    """``"1.0.0"`` (a leading ``v`` is dropped); ConfigError with the fix otherwise."""
    v = str(version).strip()
    if v[:1] in ("v", "V"):
        v = v[1:]
    if not _SEMVER_RE.match(v):
        raise ConfigError(
            f"release version {version!r} is not a semantic version",
            fix="use MAJOR.MINOR.PATCH such as 1.0.0 or 1.1.0-rc.1 (no build metadata '+...')",
        )
    return v


def version_key(version: str) -> tuple:
    """Semver precedence as a sort key (pre-releases sort before their release)."""
    m = _SEMVER_RE.match(normalize_version(version))
    assert m is not None
    major, minor, patch, pre = m.groups()
    if pre is None:
        pre_key: tuple = (1,)
    else:
        pre_key = (0,) + tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (int(major), int(minor), int(patch), pre_key)


def is_prerelease(version: str) -> bool:
    return "-" in normalize_version(version)


def release_dir(version: str) -> str:
    return "v" + normalize_version(version)


def split_release_url(url: str) -> tuple[str, str]:
    """``"s3://b/p/v1.0.0"`` -> ``("s3://b/p", "1.0.0")`` (for ``sen12stac verify URL``)."""
    root, _, last = url.rstrip("/").rpartition("/")
    if not root or not last.startswith(("v", "V")):
        raise ConfigError(f"{url} does not end in a release folder like v1.0.0", fix="pass ROOT/vX.Y.Z, e.g. s3://bucket/prefix/v1.0.0")
    return root, normalize_version(last)


def latest_of(versions: Iterable[str]) -> str | None:
    """The highest version, ignoring pre-releases when any final release exists."""
    vs = list(versions)
    finals = [v for v in vs if not is_prerelease(v)]
    pool = finals or vs
    return max(pool, key=version_key) if pool else None


# ----------------------------------------------------------------------------- a store under a prefix


class PrefixedStore(ObjectStore):
    """A view of ``store`` under ``prefix`` (keys are relative to the prefix)."""

    def __init__(self, store: ObjectStore, prefix: str) -> None:
        self.store = store
        self.prefix = prefix.strip("/") + "/"
        self.url = store.join(self.prefix.rstrip("/"))

    def __reduce__(self):
        return (PrefixedStore, (self.store, self.prefix))

    def __repr__(self) -> str:
        return f"PrefixedStore({self.store!r}, {self.prefix!r})"

    def _k(self, key: str) -> str:
        return self.prefix + key.lstrip("/")

    def put_if_absent(self, key: str, data: bytes, content_type: str | None = None) -> bool:
        return self.store.put_if_absent(self._k(key), data, content_type)

    def get(self, key: str) -> bytes:
        return self.store.get(self._k(key))

    def head(self, key: str) -> ObjectInfo | None:
        info = self.store.head(self._k(key))
        return None if info is None else ObjectInfo(key=key.lstrip("/"), size=info.size, etag=info.etag)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        n = len(self.prefix)
        for info in self.store.list(self._k(prefix)):
            yield ObjectInfo(key=info.key[n:], size=info.size, etag=info.etag)

    def replace(self, key: str, data: bytes, expected_etag: str | None, content_type: str | None = None) -> None:
        self.store.replace(self._k(key), data, expected_etag, content_type)

    def gdal_path(self, key: str) -> str:
        return self.store.gdal_path(self._k(key))

    def gdal_env(self) -> dict[str, Any]:
        from .gdalenv import env_kwargs_for

        return env_kwargs_for(self.store)


# ----------------------------------------------------------------------------- reports


@dataclass(frozen=True)
class VerifyReport:
    version: str
    url: str
    problems: list[str] = field(default_factory=list)
    objects_checked: int = 0
    bytes_checked: int = 0
    checksums_downloaded: int = 0
    cogs_checked: int = 0
    cogs_total: int = 0
    stac_checked: bool = False
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_for_problems(self) -> None:
        if self.problems:
            raise ValidationFailed(
                f"release v{self.version} at {self.url}: {len(self.problems)} problem(s)",
                self.problems,
                fix="re-run the same publish command: it resumes and rewrites what is missing; a size/checksum "
                "mismatch of a published object needs a new version",
            )

    def __str__(self) -> str:
        head = f"v{self.version} at {self.url}: " + ("verified" if self.ok else f"{len(self.problems)} problem(s)")
        parts = [
            f"{self.objects_checked} objects ({self.bytes_checked / 1e6:.1f} MB) present with the manifest's size and checksum"
            if self.ok
            else f"{self.objects_checked} objects checked",
            f"{self.cogs_checked}/{self.cogs_total} COGs validated",
            "STAC checked" if self.stac_checked else "STAC not checked",
        ]
        text = head + "; " + ", ".join(parts)
        if self.skipped:
            text += " (skipped: " + "; ".join(self.skipped) + ")"
        if self.problems:
            text += "\n" + "\n".join(f"  - {p}" for p in self.problems[:50])
            if len(self.problems) > 50:
                text += f"\n  ... and {len(self.problems) - 50} more"
        return text


@dataclass(frozen=True)
class ReleaseReport:
    version: str
    url: str
    objects: int
    bytes: int
    written: int
    skipped: int
    bytes_written: int
    seconds: float
    predecessor: str | None
    latest: str | None
    landing_updated: bool
    verify: VerifyReport
    counts: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        rate = self.written / self.seconds if self.seconds else 0.0
        return (
            f"release v{self.version} -> {self.url}: {self.objects} objects ({self.bytes / 1e6:.1f} MB); "
            f"{self.written} written ({self.bytes_written / 1e6:.1f} MB, {rate:.0f} objects/s), {self.skipped} already there; "
            f"{self.verify}; landing catalog {'updated' if self.landing_updated else 'unchanged'}, latest v{self.latest}"
        )


@dataclass(frozen=True)
class ReleaseInfo:
    version: str
    status: str  # "complete" (verified, in the landing catalog) | "unverified" (committed, not listed) | "incomplete"
    latest: bool
    url: str
    objects: int | None = None
    items: int | None = None
    predecessor: str | None = None


# ----------------------------------------------------------------------------- planning


@dataclass(slots=True)
class _Planned:
    key: str  # relative to the release folder
    size: int
    sha256: str
    md5: str
    kind: str  # asset | item | catalog | collection | root | notes | manifest
    source: str | None  # source key in the build, or None for generated bytes
    phase: int = 0


@dataclass(slots=True)
class _Scan:
    """What planning learns from one source object."""

    key: str
    size: int
    sha256: str
    md5: str
    kind: str
    children: tuple[str, ...] = ()  # catalogs: resolved child/item keys
    problems: tuple[str, ...] = ()
    collection: str | None = None  # items
    split: str | None = None  # items


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # noqa: S324 - equals the S3 ETag of a single PUT


def _resolve(from_key: str, href: str) -> tuple[str, str | None]:
    """(kind, key): kind 'url' (absolute URL, not checked), 'local-absolute' (an absolute
    filesystem path: not publishable), 'outside' (escapes the build), 'key'."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://", href):
        return ("local-absolute", None) if href.lower().startswith("file:") else ("url", None)
    if href.startswith("/") or re.match(r"^[a-zA-Z]:[\\/]", href):
        return "local-absolute", None
    if not href.split("#", 1)[0].split("?", 1)[0]:
        return "url", None  # a pure fragment or query: nothing to publish
    target = resolve_href(from_key, href)
    return ("key", target) if target is not None else ("outside", None)


def _rel(from_key: str, to_key: str) -> str:
    rel = posixpath.relpath(to_key, posixpath.dirname(from_key) or ".")
    return rel if rel.startswith("../") else f"./{rel}"


def _season_of(*texts: str | None) -> str:
    for text in texts:
        if not text:
            continue
        low = text.lower()
        for s in SEASONS.values():
            if s.set_name.lower() in low or re.search(rf"(?<![a-z]){s.name}(?![a-z])", low):
                return s.name
    return "unknown"


def _scan(src: ObjectStore, key: str, keyset: frozenset[str] | set[str]) -> _Scan:
    data = src.get(key)
    kind = "asset"
    children: list[str] = []
    problems: list[str] = []
    collection = split = None
    if key.lower().endswith(".json"):
        try:
            obj = json.loads(data)
        except ValueError:
            obj = None
            if key == ROOT_KEY:
                problems.append(f"{key}: not valid JSON")
        if isinstance(obj, dict) and "stac_version" in obj and obj.get("type") in ("Feature", "Catalog", "Collection"):
            kind = {"Feature": "item", "Catalog": "catalog", "Collection": "collection"}[obj["type"]]
            refs: list[tuple[str, str]] = [(str(link.get("rel", "")), str(link.get("href", ""))) for link in obj.get("links", []) or []]
            for name, asset in (obj.get("assets") or {}).items():
                refs.append((f"asset {name}", str(asset.get("href", ""))))
            for rel, href in refs:
                what, target = _resolve(key, href)
                if what == "local-absolute":
                    problems.append(f"{key}: {rel} href {href!r} is an absolute local path")
                elif what == "outside":
                    problems.append(f"{key}: {rel} href {href!r} points outside the build folder")
                elif what == "key":
                    if target not in keyset:
                        problems.append(f"{key}: {rel} href {href!r} points to {target}, which is not in the build")
                    elif kind != "item" and rel in ("child", "item"):
                        children.append(target)  # type: ignore[arg-type]
            if kind == "item":
                props = obj.get("properties") or {}
                split = str(props.get("ml-aoi:split") or "unassigned")
                collection = obj.get("collection")
        elif key == ROOT_KEY:
            problems.append(f"{key}: not a STAC catalog")
    return _Scan(key, len(data), sha256_hex(data), _md5(data), kind, tuple(children), tuple(problems), collection, split)


def _bounded(fn: Callable[[T], R], items: Iterable[T], workers: int, on_result: Callable[[R], None]) -> None:
    """Run ``fn`` over ``items`` on ``workers`` threads with at most ``2*workers`` tasks in
    flight (bounded memory: each task holds one object). The first error stops submission;
    in-flight tasks finish; then it is raised."""
    it = iter(items)
    error: BaseException | None = None
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="release") as pool:
        inflight: set[Future] = set()
        while True:
            while error is None and len(inflight) < 2 * workers:
                try:
                    item = next(it)
                except StopIteration:
                    break
                inflight.add(pool.submit(fn, item))
            if not inflight:
                break
            done, inflight = wait(inflight, return_when=FIRST_COMPLETED)
            for fut in done:
                exc = fut.exception()
                if exc is not None:
                    error = error or exc
                elif error is None:
                    on_result(fut.result())
    if error is not None:
        raise error


def _to_bytes(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, indent=2, allow_nan=False) + "\n").encode("utf-8")


def _manifest_bytes(header: dict[str, Any], objects: Iterable[dict[str, Any]]) -> bytes:
    """Pretty header, one compact line per object (diffable, ~130 bytes per object)."""
    head = json.dumps(header, ensure_ascii=False, indent=2)
    assert head.endswith("\n}")
    lines = ",\n".join("    " + json.dumps(o, ensure_ascii=False, separators=(",", ":")) for o in objects)
    return (head[:-2] + ',\n  "objects": [\n' + lines + "\n  ]\n}\n").encode("utf-8")


def _versioned(obj: dict[str, Any], key: str, version: str, predecessor_href: str | None, landing_href: str) -> dict[str, Any]:
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


def _default_notes(title: str, version: str, predecessor: str | None, counts: dict[str, Any], n_objects: int, n_bytes: int) -> str:
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
class _Plan:
    version: str
    vdir: str
    entries: dict[str, _Planned]  # by release-relative key, including release.json
    generated: dict[str, bytes]
    manifest: bytes
    counts: dict[str, Any]
    predecessor: str | None
    collections: list[str]
    title: str
    listed: list[str]  # versions in the landing catalog when planning

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self.entries.values())


def _landing(dest: ObjectStore) -> tuple[dict[str, Any] | None, str | None]:
    info = dest.head(ROOT_KEY)
    if info is None:
        return None, None
    try:
        obj = json.loads(dest.get(ROOT_KEY))
    except NotFound:
        return None, None
    except ValueError:
        raise ReleaseError(
            f"{dest.join(ROOT_KEY)} is not JSON, so it is not a sen12stac landing catalog",
            fix="publish releases under an empty prefix or one created by sen12stac publish",
        ) from None
    if not isinstance(obj, dict) or obj.get("type") not in ("Catalog", "Collection"):
        raise ReleaseError(
            f"{dest.join(ROOT_KEY)} is not a STAC catalog, so it is not a sen12stac landing catalog",
            fix="publish releases under an empty prefix or one created by sen12stac publish",
        )
    return obj, info.etag


def _landing_versions(landing: dict[str, Any] | None) -> list[str]:
    if not landing:
        return []
    out = []
    for link in landing.get("links", []) or []:
        if link.get("rel") == "child" and link.get("version"):
            try:
                out.append(normalize_version(str(link["version"])))
            except ConfigError:
                continue
    return out


def _plan(src: ObjectStore, dest: ObjectStore, version: str, notes: str | None, workers: int, exclude: Sequence[str]) -> _Plan:
    vdir = release_dir(version)
    keys = [
        info.key
        for info in src.list("")
        if not any(fnmatch(info.key, pat) for pat in exclude) and not posixpath.basename(info.key).startswith(".tmp-")
    ]
    keyset = set(keys)
    if ROOT_KEY not in keyset:
        raise ReleaseError(
            f"{src.join(ROOT_KEY)} does not exist: {src.url} is not a finished build",
            fix="run `sen12stac build` to completion first (the catalog writer writes catalog.json last)",
        )
    for reserved in (MANIFEST_KEY, NOTES_KEY):
        if reserved in keyset:
            raise ReleaseError(
                f"the build {src.url} contains {reserved}, a name the release reserves",
                fix=f"remove or rename {src.join(reserved)} (or pass exclude=['{reserved}'])",
            )
    scans: dict[str, _Scan] = {}
    _bounded(lambda k: _scan(src, k, keyset), keys, workers, lambda s: scans.__setitem__(s.key, s))
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

    landing, _ = _landing(dest)
    earlier = [v for v in _landing_versions(landing) if version_key(v) < version_key(version)]
    predecessor = max(earlier, key=version_key) if earlier else None

    # counts per collection/season and split, from the items
    by_split: dict[str, int] = {}
    by_collection: dict[str, dict[str, int]] = {}
    by_season: dict[str, dict[str, int]] = {}
    n_items = 0
    for k in sorted(scans):
        s = scans[k]
        if s.kind != "item":
            continue
        n_items += 1
        split = s.split or "unassigned"
        by_split[split] = by_split.get(split, 0) + 1
        for table, name in ((by_collection, s.collection or "none"), (by_season, _season_of(s.collection, k.split("/")[0]))):
            row = table.setdefault(name, {"items": 0})
            row["items"] += 1
            row[split] = row.get(split, 0) + 1
    counts = {
        "items": n_items,
        "by_split": dict(sorted(by_split.items())),
        "by_season": {k: by_season[k] for k in sorted(by_season, key=lambda n: (list(SEASONS) + [n]).index(n))},
        "by_collection": dict(sorted(by_collection.items())),
    }

    entries: dict[str, _Planned] = {}
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
                    pred_href = _rel(f"{vdir}/{k}", pred_key)
            data = _to_bytes(_versioned(obj, k, version, pred_href, _rel(f"{vdir}/{k}", ROOT_KEY)))
            generated[k] = data
            kind = "root" if k == ROOT_KEY else s.kind
            entries[k] = _Planned(k, len(data), sha256_hex(data), _md5(data), kind, k)
        else:
            entries[k] = _Planned(k, s.size, s.sha256, s.md5, s.kind, k)
        e = entries[k]
        if e.kind in ("asset", "notes"):
            e.phase = 0
        elif e.kind == "item":
            e.phase = 1
        elif e.kind == "root":
            e.phase = max_depth + 4
        else:  # catalogs and collections, deepest first; unreachable ones before all catalogs
            e.phase = 2 + (max_depth - depth.get(k, max_depth + 1) + 1)

    n_src_bytes = sum(e.size for e in entries.values())
    notes_text = notes if notes is not None else _default_notes(title, version, predecessor, counts, len(entries) + 2, n_src_bytes)
    notes_bytes = notes_text.encode("utf-8")
    if not notes_bytes.endswith(b"\n"):
        notes_bytes += b"\n"
    generated[NOTES_KEY] = notes_bytes
    entries[NOTES_KEY] = _Planned(NOTES_KEY, len(notes_bytes), sha256_hex(notes_bytes), _md5(notes_bytes), "notes", None, 0)

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
    manifest = _manifest_bytes(header, ({"key": k, "size": entries[k].size, "sha256": entries[k].sha256, "md5": entries[k].md5} for k in ordered))
    del scans
    generated[MANIFEST_KEY] = manifest
    entries[MANIFEST_KEY] = _Planned(MANIFEST_KEY, len(manifest), sha256_hex(manifest), _md5(manifest), "manifest", None, max_depth + 3)
    return _Plan(version, vdir, entries, generated, manifest, counts, predecessor, collections, title, _landing_versions(landing))


# ----------------------------------------------------------------------------- checks


def _remote_matches(dest: ObjectStore, key: str, planned: _Planned, info: ObjectInfo | None) -> tuple[bool, str]:
    """Does the object at ``key`` hold the planned bytes? Size, then the ETag when it is an
    MD5, else (or on an MD5 mismatch: SSE-KMS ETags are not MD5s) download and hash."""
    if info is None or info.etag is None:
        info = dest.head(key)
        if info is None:
            return False, "missing"
    if info.size != planned.size:
        return False, f"{info.size} bytes there, {planned.size} planned"
    etag = (info.etag or "").strip('"').lower()
    if etag == planned.md5:
        return True, "same"
    data = dest.get(key)
    if sha256_hex(data) == planned.sha256:
        return True, "same"
    return False, "same size, different sha256"


def _diff_manifests(old: bytes, new: bytes) -> list[str]:
    try:
        a = {o["key"]: o for o in json.loads(old).get("objects", [])}
        b = {o["key"]: o for o in json.loads(new).get("objects", [])}
    except (ValueError, AttributeError, TypeError):
        return ["release.json is not a sen12stac manifest"]
    out = [f"{k} differs" for k in sorted(set(a) & set(b)) if a[k].get("sha256") != b[k].get("sha256")]
    out += [f"{k} only in the published release" for k in sorted(set(a) - set(b))]
    out += [f"{k} only in this build" for k in sorted(set(b) - set(a))]
    return out or ["manifest header differs (counts, predecessor or notes)"]


def _duplicate(dest: ObjectStore, plan: _Plan, what: list[str]) -> DuplicateReleaseError:
    shown = "; ".join(what[:8]) + (f"; ... {len(what) - 8} more" if len(what) > 8 else "")
    return DuplicateReleaseError(
        f"release v{plan.version} already exists at {dest.join(plan.vdir)} with different content ({shown}); nothing was written",
        fix=f"publish this build as a new version (e.g. the next patch or minor version after {plan.version}); published "
        "releases are never overwritten. If v" + plan.version + " was never announced and must go, delete its prefix "
        "with your own tools (sen12stac never deletes)",
    )


# ----------------------------------------------------------------------------- publish


def publish(
    src: ObjectStore,
    dest: ObjectStore,
    version: str,
    *,
    notes: str | None = None,
    workers: int = 8,
    progress: Callable[[int, int], None] | None = None,
    exclude: Sequence[str] = (),
    verify_cogs: int | None = 200,
    verify_stac_walk: bool = True,
) -> ReleaseReport:
    """Publish the finished build in ``src`` as the immutable release ``v{version}`` under ``dest``.

    Safe to repeat: the same build resumes (skips what is there and checksum-correct,
    writes what is missing); a different build under an existing version raises
    :class:`DuplicateReleaseError` before anything is written. After the upload the
    release is verified (:func:`verify`: checksums from the listing, ``verify_cogs`` COGs
    validated through the store -- None: all, 0: none -- and the STAC checks, with the
    walk over every item unless ``verify_stac_walk`` is False) and only then listed in the landing catalog. A re-run that writes nothing
    for a release already listed re-checks checksums only.

    ``progress(done, total)`` is called from the calling thread as objects complete.
    ``exclude``: fnmatch patterns of build keys not to publish.
    """
    t0 = time.perf_counter()
    version = normalize_version(version)
    if workers < 1:
        raise ConfigError(f"workers={workers}", fix="use 1 or more concurrent uploads")
    a, b = src.url.rstrip("/") + "/", dest.url.rstrip("/") + "/"
    if a.startswith(b) or b.startswith(a):
        raise ConfigError(
            f"the build {src.url} and the release root {dest.url} overlap",
            fix="publish into a location outside the build folder (and not containing it)",
        )
    check = getattr(dest, "check", None)
    if callable(check):
        check()  # missing bucket / wrong credentials / unreachable endpoint: fail before planning
    plan = _plan(src, dest, version, notes, workers, exclude)
    vdir = plan.vdir
    entries = plan.entries
    total = len(entries)

    # Early conflict detection: nothing is written unless every existing object matches.
    try:
        published_manifest = dest.get(f"{vdir}/{MANIFEST_KEY}")
    except NotFound:
        published_manifest = None
    if published_manifest is not None and published_manifest != plan.manifest:
        raise _duplicate(dest, plan, _diff_manifests(published_manifest, plan.manifest))
    existing = {info.key[len(vdir) + 1 :]: info for info in dest.list(vdir + "/")}
    mismatches: list[str] = []
    done_keys: set[str] = set()

    def check_existing(k: str) -> tuple[str, bool, str]:
        if k not in entries:
            return k, False, "not part of this build"
        ok, why = _remote_matches(dest, f"{vdir}/{k}", entries[k], existing[k])
        return k, ok, why

    def collect(r: tuple[str, bool, str]) -> None:
        k, ok, why = r
        if ok:
            done_keys.add(k)
        else:
            mismatches.append(f"{vdir}/{k}: {why}")

    _bounded(check_existing, sorted(existing), workers, collect)
    if mismatches:
        raise _duplicate(dest, plan, sorted(mismatches))
    if existing:
        log.info("resuming v%s: %d of %d objects already there", version, len(done_keys), total)

    done = len(done_keys)
    written = 0
    bytes_written = 0
    lock = threading.Lock()
    if progress:
        progress(done, total)

    def upload(e: _Planned) -> tuple[_Planned, bool]:
        if e.key in plan.generated:
            data = plan.generated[e.key]
        else:
            assert e.source is not None
            data = src.get(e.source)
            if len(data) != e.size or sha256_hex(data) != e.sha256:
                raise ReleaseError(
                    f"{src.join(e.source)} changed while v{version} was being published",
                    fix="let the build finish (or stop whatever writes to it), then run the same publish command again",
                )
        key = f"{vdir}/{e.key}"
        ctype = GEOJSON_TYPE if e.kind == "item" else (JSON_TYPE if e.kind in ("catalog", "collection", "root", "manifest") else None)
        if dest.put_if_absent(key, data, ctype):
            return e, True
        # There already (a concurrent publisher, or our own retried PUT that had landed).
        ok, why = _remote_matches(dest, key, e, None)
        if not ok:
            raise _duplicate(dest, plan, [f"{key}: {why}"])
        return e, False

    def finished(r: tuple[_Planned, bool]) -> None:
        nonlocal done, written, bytes_written
        e, wrote = r
        with lock:
            done += 1
            if wrote:
                written += 1
                bytes_written += e.size
        if progress:
            progress(done, total)

    for phase in sorted({e.phase for e in entries.values()}):
        todo = [e for k, e in sorted(entries.items()) if e.phase == phase and k not in done_keys]
        if todo:
            _bounded(upload, todo, workers, finished)

    if written == 0 and version in plan.listed:
        # A no-op re-run of a release that verified before: every object was just matched
        # against the plan (size and checksum); the STAC walk and COG reads are not repeated.
        report = verify(dest, version, check_cogs=False, check_stac=False, workers=workers)
    else:
        report = verify(
            dest, version, check_cogs=verify_cogs != 0, cog_sample=verify_cogs, stac_walk=verify_stac_walk, workers=workers
        )
    if not report.ok:
        raise ValidationFailed(
            f"release v{version} was uploaded to {dest.join(vdir)} but did not verify; the landing catalog was not updated",
            report.problems,
            fix="see the problems; re-run the same publish command to resume (it rewrites only missing objects)",
        )
    updated, latest = _update_landing(dest, plan)
    return ReleaseReport(
        version=version,
        url=dest.join(vdir),
        objects=total,
        bytes=plan.total_bytes,
        written=written,
        skipped=total - written,
        bytes_written=bytes_written,
        seconds=time.perf_counter() - t0,
        predecessor=plan.predecessor,
        latest=latest,
        landing_updated=updated,
        verify=report,
        counts=plan.counts,
    )


def _landing_with(current: dict[str, Any] | None, plan: _Plan, root_obj: dict[str, Any]) -> dict[str, Any]:
    """The landing catalog with ``plan``'s version added and ``latest-version`` recomputed."""
    if current is None:
        current = {
            "type": "Catalog",
            "stac_version": root_obj.get("stac_version", "1.1.0"),
            "stac_extensions": [VERSION_EXT],
            "id": str(root_obj.get("id", "releases")),
            "title": f"{root_obj.get('title') or root_obj.get('id', 'Dataset')}: all releases",
            "description": (
                "Landing catalog: one child link per published release. Every release (v*/) is immutable and "
                "self-contained, with its own root catalog and a release.json manifest of checksums. The "
                "latest-version link names the newest release; cite a specific version."
            ),
            "links": [],
        }
    out = dict(current)
    exts = list(out.get("stac_extensions") or [])
    if VERSION_EXT not in exts:
        exts.append(VERSION_EXT)
    out["stac_extensions"] = exts
    children: dict[str, dict[str, Any]] = {}
    other: list[dict[str, Any]] = []
    for link in current.get("links", []) or []:
        if link.get("rel") == "child" and link.get("version"):
            children[normalize_version(str(link["version"]))] = dict(link)
        elif link.get("rel") not in ("latest-version", "root"):
            other.append(dict(link))
    children.setdefault(
        plan.version,
        {
            "rel": "child",
            "href": f"./{plan.vdir}/{ROOT_KEY}",
            "type": JSON_TYPE,
            "title": f"{plan.title} v{plan.version}",
            "version": plan.version,
            "sen12stac:objects": len(plan.entries),
            "sen12stac:items": plan.counts["items"],
        },
    )
    ordered = [children[v] for v in sorted(children, key=version_key)]
    latest = latest_of(children)
    links = [{"rel": "root", "href": f"./{ROOT_KEY}", "type": JSON_TYPE}] + other + ordered
    links.append({"rel": "latest-version", "href": f"./v{latest}/{ROOT_KEY}", "type": JSON_TYPE, "title": f"v{latest}"})
    out["links"] = links
    return out


def _update_landing(dest: ObjectStore, plan: _Plan, attempts: int = 10) -> tuple[bool, str | None]:
    """Add the release to the landing catalog: read, modify, conditional replace on the ETag;
    on a conflict (someone else updated it) read again."""
    root_obj = json.loads(plan.generated[ROOT_KEY])
    tried = False  # a retried replace whose first attempt landed meets its own write: still "updated"
    for _ in range(attempts):
        current, etag = _landing(dest)
        new = _landing_with(current, plan, root_obj)
        latest = latest_of(_landing_versions(new))
        if current == new:
            return tried, latest
        tried = True
        try:
            dest.replace(ROOT_KEY, _to_bytes(new), etag, JSON_TYPE)
            return True, latest
        except ObjectConflictError:
            time.sleep(0.05)
            continue
    raise ReleaseError(
        f"{dest.join(ROOT_KEY)} kept changing while v{plan.version} was being added ({attempts} attempts)",
        fix="re-run the same publish command when other publishers have finished; the release itself is complete",
    )


# ----------------------------------------------------------------------------- verify


def _cog_check(dest: ObjectStore, keys: list[str], workers: int, fresh_prefix: str | None = None) -> list[str]:
    """Validate COGs through the store (GDAL /vsis3/ for S3), one long-lived rasterio.Env per
    worker thread; I/O errors are retried (a dropped connection is not an invalid COG)."""
    if not keys:
        return []
    import rasterio
    from rasterio.errors import RasterioIOError
    from rio_cogeo.cogeo import cog_validate

    from .gdalenv import env_kwargs_for

    env_kwargs = env_kwargs_for(dest)
    from .gdalenv import clear_vsi_cache

    if fresh_prefix:
        # GDAL caches /vsis3/ sizes and content per process: a verify must see the objects as
        # they are now. Clear that cache (with the store's endpoint options active, which the
        # cache keys are built from), or else bypass it.
        with rasterio.Env(**env_kwargs):
            cleared = clear_vsi_cache(fresh_prefix)
        if not cleared:
            env_kwargs["CPL_VSIL_CURL_NON_CACHED"] = fresh_prefix
    n = max(1, min(workers, len(keys)))
    chunks = [keys[i::n] for i in range(n)]

    def run(chunk: list[str]) -> list[str]:
        out: list[str] = []
        with rasterio.Env(**env_kwargs):
            for key in chunk:
                path = dest.gdal_path(key)
                for attempt in range(1, 6):
                    try:
                        valid, errors, _warnings = cog_validate(path, quiet=True)
                        if not valid:
                            out.append(f"{key}: not a valid COG ({'; '.join(errors)})")
                        break
                    except RasterioIOError as exc:
                        # A dropped connection or an exhausted 503 also ends as "not recognized as
                        # a supported format" (GDAL saw no TIFF header): retry from a clean cache.
                        if attempt == 5:
                            what = "not a GeoTIFF" if "not recognized as" in str(exc) else "unreadable through GDAL"
                            out.append(f"{key}: {what} ({exc})")
                        else:
                            if fresh_prefix:
                                clear_vsi_cache(path)
                            time.sleep(0.1 * attempt)
        return out

    problems: list[str] = []
    _bounded(run, chunks, n, problems.extend)
    return sorted(problems)


def _stac_check(dest: ObjectStore, vdir: str, version: str, manifest: dict[str, Any], walk: bool, workers: int) -> tuple[list[str], list[str]]:
    """Version fields and links on the release root and collections; schema validation of
    those (``walk=False``) or of the whole tree (``walk=True``: validate_catalog)."""
    problems: list[str] = []
    skipped: list[str] = []
    try:
        from .validate import validate_catalog, validate_stac_object
    except ImportError:
        validate_catalog = validate_stac_object = None  # type: ignore[assignment]
        skipped.append("STAC schema validation (sen12stac.validate is not available)")
    for key in [manifest.get("root", ROOT_KEY)] + list(manifest.get("collections", [])):
        try:
            obj = json.loads(dest.get(f"{vdir}/{key}"))
        except NotFound:
            continue  # reported by the object check
        except ValueError:
            problems.append(f"{vdir}/{key}: not valid JSON")
            continue
        if obj.get("version") != version:
            problems.append(f"{vdir}/{key}: version field is {obj.get('version')!r}, expected {version!r}")
        if VERSION_EXT not in (obj.get("stac_extensions") or []):
            problems.append(f"{vdir}/{key}: does not declare the version extension")
        if not any(link.get("rel") == "latest-version" for link in obj.get("links", [])):
            problems.append(f"{vdir}/{key}: no latest-version link")
        if validate_stac_object is not None and not walk:
            problems += [f"STAC: {p}" for p in validate_stac_object(obj, f"{vdir}/{key}")]
    if validate_catalog is not None:
        if walk:
            view = PrefixedStore(dest, vdir)  # the release as a self-contained catalog
            root = manifest.get("root", ROOT_KEY)
            problems += [f"STAC: {p}" for p in validate_catalog(view, root, check_assets=False, check_cogs=False, workers=workers)]
        else:
            skipped.append("STAC schema walk over items and scene catalogs (root and collections were validated)")
    return problems, skipped


def verify(
    dest: ObjectStore,
    version: str,
    *,
    check_cogs: bool = True,
    check_stac: bool = True,
    full_checksums: bool = False,
    cog_sample: int | None = None,
    stac_walk: bool = True,
    workers: int = 8,
) -> VerifyReport:
    """Check the release ``v{version}`` under ``dest`` against its ``release.json``.

    * every manifest object exists with its size and checksum (the S3 ETag when it is an
      MD5 -- the server's own digest of the stored bytes -- else, or with
      ``full_checksums``, the object is downloaded and its SHA-256 compared);
    * no object under ``v{version}/`` is missing from the manifest;
    * ``check_cogs``: every ``.tif`` (or an evenly spaced sample of ``cog_sample``) passes
      ``rio_cogeo`` validation, read through GDAL from the store itself;
    * ``check_stac``: version fields and links on the root and collections, and
      :func:`sen12stac.validate.validate_catalog` on the release (schemas and internal
      links of every catalog, collection and item; one GET per JSON object). With
      ``stac_walk=False`` only the root and collections are schema-validated: the items'
      bytes are still proven identical to the build's by their checksums.
    """
    version = normalize_version(version)
    vdir = release_dir(version)
    url = dest.join(vdir)
    try:
        raw = dest.get(f"{vdir}/{MANIFEST_KEY}")
    except NotFound:
        return VerifyReport(
            version,
            url,
            problems=[f"{vdir}/{MANIFEST_KEY} does not exist: v{version} was never published, or its publish stopped before the commit"],
        )
    try:
        manifest = json.loads(raw)
        objects = manifest["objects"]
        if manifest.get("type") != MANIFEST_TYPE:
            raise KeyError("type")
    except (ValueError, KeyError, TypeError):
        return VerifyReport(version, url, problems=[f"{vdir}/{MANIFEST_KEY} is not a sen12stac release manifest"])
    problems: list[str] = []
    if manifest.get("version") != version:
        problems.append(f"{vdir}/{MANIFEST_KEY} is for version {manifest.get('version')!r}, not {version!r}")

    listing = {info.key[len(vdir) + 1 :]: info for info in dest.list(vdir + "/")}
    planned = {
        o["key"]: _Planned(o["key"], int(o["size"]), o["sha256"], o.get("md5", ""), "asset", None) for o in objects
    }
    for k in sorted(set(listing) - set(planned) - {MANIFEST_KEY}):
        problems.append(f"{vdir}/{k}: not in the manifest")
    downloaded = 0
    n_bytes = 0

    def check_one(k: str) -> tuple[str, str | None, bool, int]:
        e = planned[k]
        info = listing.get(k)
        if info is None:
            return k, "missing", False, 0
        if info.size != e.size:
            return k, f"{info.size} bytes, manifest says {e.size}", False, 0
        etag = (info.etag or "").strip('"').lower()
        if not full_checksums and e.md5 and etag == e.md5:
            return k, None, False, e.size
        if not full_checksums and info.etag is None:  # e.g. a local folder: head computes the MD5
            head = dest.head(f"{vdir}/{k}")
            if head is not None and head.etag and head.etag.strip('"').lower() == e.md5:
                return k, None, False, e.size
        data = dest.get(f"{vdir}/{k}")
        if sha256_hex(data) != e.sha256:
            return k, "sha256 differs from the manifest", True, 0
        return k, None, True, e.size

    def collect(r: tuple[str, str | None, bool, int]) -> None:
        nonlocal downloaded, n_bytes
        k, problem, dl, size = r
        downloaded += dl
        n_bytes += size
        if problem:
            problems.append(f"{vdir}/{k}: {problem}")

    _bounded(check_one, sorted(planned), workers, collect)

    skipped: list[str] = []
    cogs = sorted(k for k in planned if k.lower().endswith((".tif", ".tiff")) and k in listing)
    cogs_total = len(cogs)
    checked_cogs: list[str] = []
    if check_cogs:
        checked_cogs = cogs
        if cog_sample is not None and cog_sample < len(cogs):
            step = len(cogs) / max(cog_sample, 1)
            checked_cogs = [cogs[int(i * step)] for i in range(cog_sample)]
            skipped.append(f"COG validation of {cogs_total - len(checked_cogs)} of {cogs_total} COGs (sample of {len(checked_cogs)})")
        prefix = dest.gdal_path(f"{vdir}/{MANIFEST_KEY}")[: -len(MANIFEST_KEY)]
        problems += _cog_check(dest, [f"{vdir}/{k}" for k in checked_cogs], workers, prefix if prefix.startswith("/vsi") else None)
    else:
        skipped.append("COG validation")
    stac_checked = False
    if check_stac:
        stac_problems, stac_skipped = _stac_check(dest, vdir, version, manifest, stac_walk, workers)
        problems += stac_problems
        skipped += stac_skipped
        stac_checked = True
    else:
        skipped.append("STAC checks")
    return VerifyReport(
        version=version,
        url=url,
        problems=sorted(set(problems), key=problems.index),
        objects_checked=len(planned),
        bytes_checked=n_bytes,
        checksums_downloaded=downloaded,
        cogs_checked=len(checked_cogs),
        cogs_total=cogs_total,
        stac_checked=stac_checked,
        skipped=skipped,
    )


# ----------------------------------------------------------------------------- list


def _dirs(dest: ObjectStore) -> list[str]:
    fn = getattr(dest, "list_dirs", None)
    if callable(fn):
        return list(fn(""))
    root = getattr(dest, "root", None)
    if isinstance(root, Path):
        return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.exists() else []
    return sorted({info.key.split("/", 1)[0] for info in dest.list("") if "/" in info.key})


def list_releases(dest: ObjectStore) -> list[ReleaseInfo]:
    """Every release under ``dest``, oldest first: ``complete`` (verified and listed in the
    landing catalog), ``unverified`` (committed -- root catalog and manifest there -- but
    not listed: its publish stopped before or during verification), ``incomplete``
    (objects there, not committed: resume with the same publish command)."""
    landing, _ = _landing(dest)
    listed = {normalize_version(str(l["version"])): l for l in (landing or {}).get("links", []) if l.get("rel") == "child" and l.get("version")}
    latest = latest_of(listed)
    versions: dict[str, str] = {}
    for name in _dirs(dest):
        try:
            v = normalize_version(name) if name.startswith("v") else None
        except ConfigError:
            v = None
        if v:
            versions[v] = name
    for v in listed:
        versions.setdefault(v, release_dir(v))
    out = []
    for v in sorted(versions, key=version_key):
        vdir = versions[v]
        committed = dest.head(f"{vdir}/{ROOT_KEY}") is not None and dest.head(f"{vdir}/{MANIFEST_KEY}") is not None
        if committed and v in listed:
            status = "complete"
        elif committed:
            status = "unverified"
        else:
            status = "incomplete"
        link = listed.get(v, {})
        objects = link.get("sen12stac:objects")
        items = link.get("sen12stac:items")
        predecessor = None
        if committed:
            try:
                root = json.loads(dest.get(f"{vdir}/{ROOT_KEY}"))
                for l in root.get("links", []):
                    if l.get("rel") == "predecessor-version":
                        m = re.search(r"v(\d[^/]*)/", l.get("href", ""))
                        predecessor = m.group(1) if m else None
            except (NotFound, ValueError, StoreError):
                pass
        out.append(ReleaseInfo(v, status, v == latest, dest.join(vdir), objects, items, predecessor))
    return out
