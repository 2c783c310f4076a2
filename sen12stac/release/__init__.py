"""Versioned, immutable, resumable releases of a finished build in object storage.

Layout under a root (``s3://bucket/prefix`` or a folder)::

    catalog.json              landing catalog: a child link per verified release and a
                              ``latest-version`` link (the only object ever rewritten,
                              with a conditional replace on its ETag)
    v1.0.0/catalog.json       the release's own root catalog (version extension)
    v1.0.0/release.json       manifest: every object with size, sha256 and md5, counts
                              per season/collection and split
    v1.0.0/RELEASE-NOTES.md
    v1.0.0/croissant.json     ML metadata (also CITATION.cff, DATASHEET.md): sen12stac.metadata
    v1.0.0/<the build>        collections, scene catalogs, items, COGs, thumbnails, parquet

Ordering (the commit protocol): every object a STAC object links to is written before
that object -- assets and notes, then items, then scene catalogs, then collections, then
``release.json``, and the release's ``catalog.json`` last. The root catalog is the commit
point: whoever can read ``v1.0.0/catalog.json`` finds everything it leads to, and the
landing catalog names a release only after :func:`verify` passed. Every write is a
conditional put (``If-None-Match: *``); nothing published is ever overwritten or deleted.

Resuming: a publish killed at any point is resumed by running it again. The plan is a pure
function of the build (no timestamps; the release date the ML metadata states is read back
from an earlier attempt's CITATION.cff) and of the releases already listed in the landing
catalog, so the second run plans the same bytes; it lists what is already there, checks
size and checksum of each existing object against the plan *before writing anything* and
refuses (:class:`~sen12stac.errors.DuplicateReleaseError`) when any differs.

Public API (import it from the modules)::

    from sen12stac.release.publish import publish   # (src, dest, version, *, notes=None, workers=8, progress=None) -> ReleaseReport
    from sen12stac.release.verify import verify     # (dest, version, *, check_cogs=True, check_stac=True) -> VerifyReport
    from sen12stac.release.backfill import add_release_metadata  # (dest, version) -> BackfillReport: a folder release's ML metadata
    from sen12stac.release.listing import list_releases  # (dest) -> list[ReleaseInfo]

The other public names are re-exported here lazily for convenience (importing this package
loads nothing else); ``publish`` and ``verify`` are not, because ``sen12stac.release.publish``
and ``sen12stac.release.verify`` are the modules.

One module per concept::

    version   normalize_version, version_key, latest_of, release_dir, split_release_url
    layout    the reserved keys (catalog.json, release.json, RELEASE-NOTES.md), VERSION_EXT
    manifest  release.json: PlannedObject, manifest_bytes, diff_manifests
    scan      what planning learns from one object of the build
    plan      plan_release: every object, its checksums and write phase; versioned root/collections
    landing   the landing catalog (the only object ever rewritten)
    publish   publish, ReleaseReport
    verify    verify, VerifyReport
    listing   list_releases, ReleaseInfo
    pool      bounded: the bounded I/O thread pool

A view of a store under a prefix (:class:`~sen12stac.store.prefixed.PrefixedStore`) is a store
and lives in :mod:`sen12stac.store.prefixed`.
"""
from __future__ import annotations

from ..runtime.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "normalize_version": "version",
    "version_key": "version",
    "is_prerelease": "version",
    "release_dir": "version",
    "split_release_url": "version",
    "latest_of": "version",
    "VERSION_EXT": "layout",
    "MANIFEST_KEY": "layout",
    "NOTES_KEY": "layout",
    "ReleaseReport": "publish",
    "VerifyReport": "verify",
    "list_releases": "listing",
    "ReleaseInfo": "listing",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
