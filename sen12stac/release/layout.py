"""What a release looks like under its root: the reserved keys, the media types it writes,
and the STAC version extension that links versions together.

    catalog.json              landing catalog: a child link per verified release and a
                              ``latest-version`` link (the only object ever rewritten)
    v1.0.0/catalog.json       the release's own root catalog (version extension)
    v1.0.0/release.json       manifest: every object with size, sha256 and md5
    v1.0.0/RELEASE-NOTES.md
    v1.0.0/<the build>        collections, scene catalogs, items, COGs, thumbnails, parquet
"""
from __future__ import annotations

from ..stac.layout import GEOJSON_MEDIA_TYPE as GEOJSON_TYPE
from ..stac.layout import JSON_MEDIA_TYPE as JSON_TYPE
from ..stac.layout import ROOT_KEY

VERSION_EXT = "https://stac-extensions.github.io/version/v1.2.0/schema.json"
MANIFEST_KEY = "release.json"
NOTES_KEY = "RELEASE-NOTES.md"
# Files of a build a release carries although no STAC object links them (the build's counts)
BUILD_FILES = ("build-summary.json", "qc-overrides.json")  # the build's counts; its manual QC decisions
VERSION_LINK_RELS = ("latest-version", "predecessor-version", "successor-version")

__all__ = ["BUILD_FILES", "GEOJSON_TYPE", "JSON_TYPE", "MANIFEST_KEY", "NOTES_KEY", "ROOT_KEY", "VERSION_EXT", "VERSION_LINK_RELS"]
