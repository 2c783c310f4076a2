"""Listing the releases under a root, with their state: complete, unverified or incomplete."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ..errors import ConfigError, StoreError
from ..store.base import NotFound, ObjectStore
from .landing import read_landing
from .layout import MANIFEST_KEY, ROOT_KEY
from .version import latest_of, normalize_version, release_dir, version_key


@dataclass(frozen=True)
class ReleaseInfo:
    version: str
    status: str  # "complete" (verified, in the landing catalog) | "unverified" (committed, not listed) | "incomplete"
    latest: bool
    url: str
    objects: int | None = None
    items: int | None = None
    predecessor: str | None = None


def list_releases(dest: ObjectStore) -> list[ReleaseInfo]:
    """Every release under ``dest``, oldest first: ``complete`` (verified and listed in the
    landing catalog), ``unverified`` (committed -- root catalog and manifest there -- but
    not listed: its publish stopped before or during verification), ``incomplete``
    (objects there, not committed: resume with the same publish command)."""
    landing, _ = read_landing(dest)
    listed = {normalize_version(str(l["version"])): l for l in (landing or {}).get("links", []) if l.get("rel") == "child" and l.get("version")}
    latest = latest_of(listed)
    versions: dict[str, str] = {}
    for name in dest.list_dirs(""):
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
