"""Build straight into a release: workers write into ``v{version}/`` in object storage.

``sen12stac build --out s3://bucket/prefix --release X`` needs no local staging and no
shared disk: every Dask worker (on this machine or another) reads its scene from the source
and puts its COGs and thumbnails straight under ``v{version}/`` with conditional writes,
taking credentials from its own environment; only small records return to the client.
The client writes the catalog into the same prefix as results arrive (items after their
assets, each scene catalog after its items) and, once every scene succeeded, commits the
release as :func:`~sen12stac.release.publish.publish` does: release notes, the versioned
collections, ``release.json``, and the release's ``catalog.json`` last (the commit point),
then :func:`~sen12stac.release.verify.verify`, then the landing catalog.

Until the commit the objects under ``v{version}/`` are invisible to readers: no root
catalog leads to them and the landing catalog does not list the version (``sen12stac
releases`` shows it as ``incomplete``). A run that stops -- a failed scene, a killed client,
a killed worker whose scene Dask could not reschedule -- is completed by running the same
command again: the build is deterministic, so every object already there is the same bytes
(``put_or_verify`` skips it) and the commit writes the rest.

The manifest is the one ``publish`` would write for the same objects: sizes and SHA-256 of
the workers' assets come from the items (``file:size``/``file:checksum``, computed by the
worker from the bytes it sent), the MD5 from the server's listing (the ETag of a single PUT,
which S3 checks against the ``Content-MD5`` the store sends), everything the client wrote is
hashed as it is written.
"""
from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Literal

from ..errors import ReleaseError, ValidationFailed
from ..stac.encoding import to_json_bytes
from ..stac.hrefs import relative_href, resolve_href
from ..store.base import ObjectInfo, ObjectStore, sha256_hex
from ..store.prefixed import PrefixedStore
from .landing import landing_versions, read_landing, update_landing
from .layout import JSON_TYPE, MANIFEST_KEY, NOTES_KEY, ROOT_KEY
from ..shards.layout import item_members
from .manifest import PlannedObject, diff_manifests, md5_hex
from ..metadata.release import CITATION_KEY, METADATA_KEYS, read_summary, release_date
from .layout import BUILD_FILES
from .plan import Plan, add_metadata, count_items, default_notes, seal, versioned

SUMMARY_KEY = BUILD_FILES[0]
from .publish import ReleaseReport, duplicate_error
from .verify import verify
from .version import normalize_version, release_dir, version_key

_COLLECTION_RE = re.compile(r"^[^/]+/collection\.json$")
_MD5_RE = re.compile(r"^[0-9a-f]{32}$")


@dataclass(slots=True)
class _Written:
    size: int
    sha256: str
    md5: str | None
    kind: str  # asset | item | catalog | collection
    collection: str | None = None
    split: str | None = None


class ReleaseBuildStore(ObjectStore):
    """What a direct build writes through on the client: ``v{version}/`` of the destination.

    Objects go straight to the release prefix; the root catalog and the collections, which
    the release rewrites with version fields, are held back for :func:`commit_release`;
    every object is recorded (size, checksums, and for items their split and their assets'
    checksums) for the manifest. Pickled (to Dask workers) it is the plain prefixed store:
    workers write their assets and nothing else travels.
    """

    def __init__(self, dest: ObjectStore, version: str) -> None:
        self.dest = dest
        self.version = normalize_version(version)
        self.vdir = release_dir(self.version)
        self.inner = PrefixedStore(dest, self.vdir)
        self.url = self.inner.url
        self.held: dict[str, bytes] = {}
        self.written: dict[str, _Written] = {}
        self.assets: dict[str, tuple[int, str]] = {}  # key -> (size, sha256) from items
        self.members: list[dict[str, Any]] = []  # training-shard members named by the items
        self._lock = threading.Lock()

    def __reduce__(self):
        return (PrefixedStore, (self.dest, self.vdir))

    def __repr__(self) -> str:
        return f"ReleaseBuildStore({self.dest!r}, {self.version!r})"

    # -- writes
    def _record(self, key: str, data: bytes) -> None:
        kind, collection, split = "asset", None, None
        found: list[tuple[str, tuple[int, str]]] = []
        members: list[dict[str, Any]] = []
        if key.endswith(".json"):
            try:
                obj = json.loads(data)
            except ValueError:
                obj = None
            if isinstance(obj, dict) and "stac_version" in obj:
                kind = {"Feature": "item", "Catalog": "catalog", "Collection": "collection"}.get(str(obj.get("type")), "asset")
                if kind == "item":
                    split = str((obj.get("properties") or {}).get("ml-aoi:split") or "unassigned")
                    collection = obj.get("collection")
                    found = []
                    for asset in (obj.get("assets") or {}).values():
                        target = resolve_href(key, str(asset.get("href", "")))
                        checksum = str(asset.get("file:checksum", ""))
                        if target is not None and checksum.startswith("1220") and "file:size" in asset:
                            found.append((target, (int(asset["file:size"]), checksum[4:])))
                    shards, members = item_members(key, obj)  # training shards the workers wrote (docs/shards.md)
                    found += [(k, (size, sha)) for k, size, sha in shards]
        entry = _Written(len(data), sha256_hex(data), md5_hex(data), kind, collection, split)
        with self._lock:
            self.written[key] = entry
            if kind == "item":
                self.assets.update(found)
                self.members.extend(members)

    def _held(self, key: str) -> bool:
        return key == ROOT_KEY or bool(_COLLECTION_RE.match(key))

    def put_if_absent(self, key: str, data: bytes, content_type: str | None = None) -> bool:
        if self._held(key):
            with self._lock:
                if key in self.held:
                    return False
                self.held[key] = data
            return True
        wrote = self.inner.put_if_absent(key, data, content_type)
        if wrote:
            self._record(key, data)
        return wrote

    def put_or_verify(self, key: str, data: bytes, content_type: str | None = None) -> Literal["written", "same"]:
        if self._held(key):
            with self._lock:
                old = self.held.setdefault(key, data)
            if old != data:
                raise ReleaseError(f"{key} was written twice with different content in one build", fix="report this as a bug")
            return "written"
        outcome = self.inner.put_or_verify(key, data, content_type)
        self._record(key, data)
        return outcome

    def replace(self, key: str, data: bytes, expected_etag: str | None, content_type: str | None = None) -> None:
        raise ReleaseError(f"{self.join(key)}: a release is write-once", fix="report this as a bug: a build never replaces objects of a release")

    def discard(self, key: str) -> None:
        """A failed scene's rollback (only keys its own puts wrote): remove and forget."""
        self.inner.discard(key)
        with self._lock:
            self.written.pop(key, None)

    # -- reads (the build reads its own COGs back for the contact sheet)
    def get(self, key: str) -> bytes:
        if key in self.held:
            return self.held[key]
        return self.inner.get(key)

    def head(self, key: str) -> ObjectInfo | None:
        if key in self.held:
            return ObjectInfo(key, len(self.held[key]))
        return self.inner.head(key)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return self.inner.list(prefix)

    def gdal_path(self, key: str) -> str:
        return self.inner.gdal_path(key)

    def gdal_env(self) -> dict[str, Any]:
        return self.inner.gdal_env()

    def check(self) -> None:
        self.dest.check()


def check_release_target(dest: ObjectStore, version: str) -> None:
    """Before any work: a valid version, and a bucket that answers (credentials, endpoint).
    A version already there is not refused here: the same build again writes nothing new and
    re-verifies, while a different build meets its first differing object and stops
    (:class:`~sen12stac.errors.ObjectConflictError`, nothing overwritten)."""
    normalize_version(version)
    dest.check()


def commit_release(
    store: ReleaseBuildStore,
    *,
    notes: str | None = None,
    verify_cogs: int | None = 200,
    verify_stac_walk: bool = True,
    workers: int = 8,
    progress: Callable[[str], None] | None = None,
) -> ReleaseReport:
    """Commit a finished direct build: notes, versioned collections, ``release.json``, the
    root catalog last; verify; add the release to the landing catalog."""
    t0 = time.perf_counter()
    say = progress or (lambda stage: None)
    dest, version, vdir = store.dest, store.version, store.vdir
    if ROOT_KEY not in store.held:
        raise ReleaseError(
            f"the build into {store.url} did not finish its catalog, so v{version} cannot be committed",
            fix="correct what failed and run the same command again: objects already written are kept and skipped",
        )
    say("listing")
    listing = {info.key[len(vdir) + 1 :]: info for info in dest.list(vdir + "/")}
    reserved = {MANIFEST_KEY, NOTES_KEY, ROOT_KEY, *METADATA_KEYS} | set(store.held)
    entries: dict[str, PlannedObject] = {}
    unknown: list[str] = []
    for key, info in sorted(listing.items()):
        if key in reserved:
            continue  # written by an earlier commit of the same build; checked below by content
        w = store.written.get(key)
        if w is not None:
            entries[key] = PlannedObject(key, w.size, w.sha256, w.md5 or "", w.kind, key)
            continue
        known = store.assets.get(key)
        if known is None or known[0] != info.size:
            unknown.append(key)
            continue
        etag = (info.etag or "").strip('"').lower()
        md5 = etag if _MD5_RE.match(etag) else None
        if md5 is None:  # not an MD5 ETag (SSE-KMS, multipart): read the object once
            data = dest.get(f"{vdir}/{key}")
            if sha256_hex(data) != known[1]:
                unknown.append(key)
                continue
            md5 = md5_hex(data)
        entries[key] = PlannedObject(key, info.size, known[1], md5, "asset", key)
    missing = sorted(k for k in set(store.written) | set(store.assets) if k not in listing)
    if unknown or missing:
        what = [f"{k}: not written by this build" for k in unknown[:8]] + [f"{k}: missing after the build wrote it" for k in missing[:8]]
        raise ReleaseError(
            f"{dest.join(vdir)} does not hold exactly this build ({len(unknown)} unexpected object(s), {len(missing)} missing): " + "; ".join(what),
            fix="objects under an uncommitted version that this build does not produce come from another build: build this one as a new version",
        )

    counts = count_items(store.written.items())

    landing, _ = read_landing(dest)
    earlier = [v for v in landing_versions(landing) if version_key(v) < version_key(version)]
    predecessor = max(earlier, key=version_key) if earlier else None
    generated: dict[str, bytes] = {}
    title = "release"
    for key in sorted(store.held):
        obj = json.loads(store.held[key])
        if key == ROOT_KEY:
            title = str(obj.get("title") or obj.get("id") or "release")
        pred_href = None
        if predecessor and dest.head(f"v{predecessor}/{key}") is not None:
            pred_href = relative_href(f"{vdir}/{key}", f"v{predecessor}/{key}")
        data = to_json_bytes(versioned(obj, key, version, pred_href, relative_href(f"{vdir}/{key}", ROOT_KEY)))
        generated[key] = data
        entries[key] = PlannedObject(key, len(data), sha256_hex(data), md5_hex(data), "root" if key == ROOT_KEY else "collection", None)
    existing = dest.get(f"{vdir}/{CITATION_KEY}") if CITATION_KEY in listing else None
    add_metadata(entries, generated, version=version, counts=counts, date=release_date(existing),
                 summary=read_summary(store.get, SUMMARY_KEY in store.written, SUMMARY_KEY))
    n_bytes = sum(e.size for e in entries.values())
    notes_text = notes if notes is not None else default_notes(title, version, predecessor, counts, len(entries) + 2, n_bytes)
    if notes is None:  # the manual decisions and the changelog since the predecessor (release/diff.py)
        from .diff import notes_addendum
        notes_text = "\n\n".join(t for t in (notes_text.rstrip("\n"), notes_addendum(dest, predecessor, lambda k: dest.get(f"{vdir}/{k}"), list(entries), f"v{version}")) if t)
    collections = sorted(k for k in store.held if k != ROOT_KEY)
    manifest = seal(entries, generated, version=version, predecessor=predecessor, collections=collections, counts=counts, notes_text=notes_text,
                    members=store.members)
    plan = Plan(version, vdir, entries, generated, manifest, counts, predecessor, collections, title, landing_versions(landing))

    published = listing.get(MANIFEST_KEY)
    if published is not None:
        old = dest.get(f"{vdir}/{MANIFEST_KEY}")
        if old != manifest:
            raise duplicate_error(dest, plan, diff_manifests(old, manifest))

    say("commit")
    written = 0
    bytes_written = 0
    for key in [NOTES_KEY, *METADATA_KEYS, *collections, MANIFEST_KEY, ROOT_KEY]:  # the root catalog last: the commit point
        ctype = None if key in (NOTES_KEY, *METADATA_KEYS) else JSON_TYPE  # as publish writes them
        if store.inner.put_or_verify(key, generated[key], ctype) == "written":
            written += 1
            bytes_written += len(generated[key])

    say("verify")
    report = verify(dest, version, check_cogs=verify_cogs != 0, cog_sample=verify_cogs, stac_walk=verify_stac_walk, workers=workers)
    if not report.ok:
        raise ValidationFailed(
            f"release v{version} was committed at {dest.join(vdir)} but did not verify; the landing catalog was not updated",
            report.problems,
            fix="see the problems; run the same command again to repair and re-verify",
        )
    say("landing catalog")
    updated, latest = update_landing(dest, plan.landing_entry())
    return ReleaseReport(
        version=version,
        url=dest.join(vdir),
        objects=len(entries),
        bytes=plan.total_bytes,
        written=len(store.written) + written,
        skipped=len(entries) - len(store.written) - written,
        bytes_written=sum(w.size for w in store.written.values()) + bytes_written,
        seconds=time.perf_counter() - t0,
        predecessor=predecessor,
        latest=latest,
        landing_updated=updated,
        verify=report,
        counts=counts,
    )
