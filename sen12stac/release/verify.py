"""Verifying a published release against its manifest: every object present with its size
and checksum, nothing extra, the manifest and the catalog in agreement (the catalog reaches
every object the manifest lists, and nothing else; as many items as the manifest counts), COGs
valid through the store, STAC fields, links and schemas."""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any, Iterator

from ..errors import StoreError, ValidationFailed
from ..stac.hrefs import resolve_href
from ..stac.validate import validate_catalog, validate_stac_object
from ..store.base import NotFound, ObjectInfo, ObjectStore, sha256_hex
from ..store.prefixed import PrefixedStore
from .layout import BUILD_FILES, MANIFEST_KEY, NOTES_KEY, ROOT_KEY, VERSION_EXT
from .manifest import MANIFEST_TYPE, PlannedObject
from ..metadata.agree import metadata_problems
from ..runtime.pool import bounded
from .scan import stac_refs
from .version import normalize_version, release_dir


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
    catalog_disagrees: bool = False  # the manifest lists or counts what the catalog does not hold (or the reverse)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def fix(self) -> str:
        if self.catalog_disagrees:
            return ("its manifest and its catalog disagree, which no re-run can repair (a published release is immutable): "
                    "publish the build again as a new version (publish ships only what the catalog reaches)")
        return ("re-run the same publish command: it resumes and rewrites what is missing; a size/checksum "
                "mismatch of a published object needs a new version")

    def raise_for_problems(self) -> None:
        if self.problems:
            raise ValidationFailed(f"release v{self.version} at {self.url}: {len(self.problems)} problem(s)", self.problems, fix=self.fix)

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


def cog_problems(dest: ObjectStore, keys: list[str], workers: int) -> list[str]:
    """Validate COGs: each object's bytes through the store (one GET, with the store's own
    retries: a dropped connection is not an invalid COG), then rio-cogeo's validator on them
    in memory (GDAL ``/vsimem/``), one long-lived ``rasterio.Env`` per worker thread.

    Reading through the store rather than GDAL's ``/vsis3/`` means no per-process GDAL
    network cache can hand back an earlier read (a verify sees the objects as they are now;
    rasterio has no public way to clear that cache) and no credentials go to GDAL. A patch
    COG is read whole either way (``GDAL_INGESTED_BYTES_AT_OPEN`` covers it)."""
    if not keys:
        return []
    import rasterio
    from rasterio.errors import RasterioIOError
    from rasterio.io import MemoryFile
    from rio_cogeo.cogeo import cog_validate

    n = max(1, min(workers, len(keys)))
    chunks = [keys[i::n] for i in range(n)]

    def run(chunk: list[str]) -> list[str]:
        out: list[str] = []
        with rasterio.Env(GDAL_PAM_ENABLED="NO", GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"):
            for key in chunk:
                try:
                    data = dest.get(key)
                except NotFound:
                    continue  # reported by the object check
                except StoreError as exc:
                    out.append(f"{key}: unreadable through the store ({exc})")
                    continue
                try:
                    with MemoryFile(data) as mem:
                        valid, errors, _warnings = cog_validate(mem.name, quiet=True)
                except RasterioIOError as exc:
                    out.append(f"{key}: not a GeoTIFF ({exc})")
                    continue
                if not valid:
                    out.append(f"{key}: not a valid COG ({'; '.join(errors)})")
        return out

    problems: list[str] = []
    bounded(run, chunks, n, problems.extend)
    return sorted(problems)


class _Reach(ObjectStore):
    """A read-only view of a release that notes, from every STAC object read through it, the
    keys its links and assets lead to, and which of the objects read are items: the schema
    walk over the release then tells what its catalog reaches, with no extra GET."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.url = inner.url
        self.reached: set[str] = set()
        self.items: set[str] = set()
        self._lock = threading.Lock()

    def note(self, key: str, obj: Any) -> None:
        if not isinstance(obj, dict):
            return
        _refs, keys = stac_refs(key, obj)
        with self._lock:
            self.reached.update(keys)
            if obj.get("type") == "Feature":
                self.items.add(key)

    def get(self, key: str) -> bytes:
        data = self.inner.get(key)
        if key.endswith(".json"):
            try:
                self.note(key, json.loads(data))
            except ValueError:
                pass  # the walk reports it
        return data

    def head(self, key: str) -> ObjectInfo | None:
        return self.inner.head(key)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return self.inner.list(prefix)

    def gdal_path(self, key: str) -> str:
        return self.inner.gdal_path(key)

    def gdal_env(self) -> dict[str, Any]:
        return self.inner.gdal_env()

    def put_if_absent(self, key: str, data: bytes, content_type: str | None = None) -> bool:
        raise StoreError(f"{self.join(key)}: verify writes nothing", fix="report this as a bug")

    def replace(self, key: str, data: bytes, expected_etag: str | None, content_type: str | None = None) -> None:
        raise StoreError(f"{self.join(key)}: verify writes nothing", fix="report this as a bug")


def _light_walk(view: _Reach, root: str) -> None:
    """The catalogs' tree without the items: root, collections and scene catalogs are read
    (their child links followed), each item only counted from its catalog's item link."""
    seen: set[str] = set()
    frontier = [root]
    while frontier:
        nxt = []
        for key in frontier:
            if key in seen:
                continue
            seen.add(key)
            try:
                obj = json.loads(view.inner.get(key))
            except (NotFound, ValueError):
                continue  # reported by the object and STAC checks
            view.note(key, obj)
            for link in obj.get("links", []) if isinstance(obj, dict) else []:
                target = resolve_href(key, str(link.get("href", ""))) if isinstance(link, dict) else None
                if target is None:
                    continue
                if link.get("rel") == "child":
                    nxt.append(target)
                elif link.get("rel") == "item":
                    view.items.add(target)
        frontier = nxt


def catalog_problems(vdir: str, manifest: dict[str, Any], planned: set[str], view: _Reach, walked_items: bool) -> list[str]:
    """Manifest and catalog in agreement: the catalog reaches every object the manifest lists
    (but the release's own files) and nothing it does not list, and holds as many items as
    the manifest counts. Without the items' walk (``walked_items`` False) the items' assets
    are not known, so only JSON objects are held to the first rule."""
    root = manifest.get("root", ROOT_KEY)
    reached = view.reached | view.items | {root}
    own = {MANIFEST_KEY, NOTES_KEY, root, *BUILD_FILES}
    problems = [f"{vdir}/{k}: the catalog leads to it, but the manifest does not list it" for k in sorted(reached - planned - {MANIFEST_KEY})]
    for k in sorted(planned - reached - own):
        if walked_items or k.endswith(".json"):
            problems.append(f"{vdir}/{k}: listed in the manifest, but no object of the catalog leads to it")
    counted = (manifest.get("counts") or {}).get("items")
    if counted is not None and counted != len(view.items):
        problems.append(f"{vdir}/{MANIFEST_KEY} counts {counted} items, the catalog holds {len(view.items)}")
    return problems


def stac_problems(dest: ObjectStore, vdir: str, version: str, manifest: dict[str, Any], walk: bool, workers: int,
                  planned: set[str] | None = None) -> tuple[list[str], list[str], bool]:
    """Version fields and links on the release root and collections; schema validation of
    those (``walk=False``) or of the whole tree (``walk=True``: validate_catalog); and, given
    the manifest's keys (``planned``), :func:`catalog_problems`. Returns (problems, skipped,
    whether the manifest and the catalog disagree)."""
    problems: list[str] = []
    skipped: list[str] = []
    read: dict[str, Any] = {}
    for key in [manifest.get("root", ROOT_KEY)] + list(manifest.get("collections", [])):
        try:
            obj = read[key] = json.loads(dest.get(f"{vdir}/{key}"))
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
        if not walk:
            problems += [f"STAC: {p}" for p in validate_stac_object(obj, f"{vdir}/{key}")]
    root = manifest.get("root", ROOT_KEY)
    found, present = metadata_problems(lambda k: dest.get(f"{vdir}/{k}"), manifest, read.get(root) or {},
                                       [o for k, o in read.items() if k != root])
    problems += [f"{vdir}/{p}" for p in found]
    if not present:
        skipped.append("ML metadata (croissant.json, CITATION.cff, DATASHEET.md): this release has none; `sen12stac metadata` adds them to a folder release")
    view = _Reach(PrefixedStore(dest, vdir))  # the release as a self-contained catalog
    disagree: list[str] = []
    if walk:
        problems += [f"STAC: {p}" for p in validate_catalog(view, root, check_assets=False, check_cogs=False, workers=workers)]
    else:
        skipped.append("STAC schema walk over items and scene catalogs (root and collections were validated)")
        if planned is not None:
            _light_walk(view, root)
            skipped.append("whether the catalog reaches each non-JSON object the manifest lists (items were not read)")
    if planned is not None:
        disagree = catalog_problems(vdir, manifest, planned, view, walk)
    return problems + disagree, skipped, bool(disagree)


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
      ``rio_cogeo`` validation on its bytes read through the store;
    * ``check_stac``: the manifest and the catalog agree (:func:`catalog_problems`: with
      ``stac_walk=False`` the items are counted from their catalogs' links, not read);
      version fields and links on the root and collections, and
      :func:`sen12stac.stac.validate.validate_catalog` on the release (schemas and internal
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
        o["key"]: PlannedObject(o["key"], int(o["size"]), o["sha256"], o.get("md5", ""), "asset", None) for o in objects
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

    bounded(check_one, sorted(planned), workers, collect)

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
        problems += cog_problems(dest, [f"{vdir}/{k}" for k in checked_cogs], workers)
    else:
        skipped.append("COG validation")
    stac_checked = disagrees = False
    if check_stac:
        found, stac_skipped, disagrees = stac_problems(dest, vdir, version, manifest, stac_walk, workers, set(planned))
        problems += found
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
        catalog_disagrees=disagrees,
    )
