"""The landing catalog at the root of all releases: one child link per verified release and
a ``latest-version`` link. It is the only object ever rewritten, with a conditional replace
on its ETag (read, modify, replace; on a conflict read again)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, ObjectConflictError, ReleaseError
from ..stac.encoding import to_json_bytes
from ..store.base import NotFound, ObjectStore
from .layout import JSON_TYPE, ROOT_KEY, VERSION_EXT
from .version import latest_of, normalize_version, version_key



@dataclass(frozen=True)
class LandingEntry:
    """What the landing catalog records of one release (a plan's :meth:`~.plan.Plan.landing_entry`)."""

    version: str
    vdir: str
    title: str
    objects: int
    items: int
    root: dict[str, Any]  # the release's root catalog


def read_landing(dest: ObjectStore) -> tuple[dict[str, Any] | None, str | None]:
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


def landing_versions(landing: dict[str, Any] | None) -> list[str]:
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


def landing_with(current: dict[str, Any] | None, entry: LandingEntry) -> dict[str, Any]:
    """The landing catalog with ``entry``'s version added and ``latest-version`` recomputed."""
    root_obj = entry.root
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
        entry.version,
        {
            "rel": "child",
            "href": f"./{entry.vdir}/{ROOT_KEY}",
            "type": JSON_TYPE,
            "title": f"{entry.title} v{entry.version}",
            "version": entry.version,
            "sen12stac:objects": entry.objects,
            "sen12stac:items": entry.items,
        },
    )
    ordered = [children[v] for v in sorted(children, key=version_key)]
    latest = latest_of(children)
    links = [{"rel": "root", "href": f"./{ROOT_KEY}", "type": JSON_TYPE}] + other + ordered
    links.append({"rel": "latest-version", "href": f"./v{latest}/{ROOT_KEY}", "type": JSON_TYPE, "title": f"v{latest}"})
    out["links"] = links
    return out


def update_landing(dest: ObjectStore, entry: LandingEntry, attempts: int = 10) -> tuple[bool, str | None]:
    """Add the release to the landing catalog: read, modify, conditional replace on the ETag;
    on a conflict (someone else updated it) read again."""
    tried = False  # a retried replace whose first attempt landed meets its own write: still "updated"
    for _ in range(attempts):
        current, etag = read_landing(dest)
        new = landing_with(current, entry)
        latest = latest_of(landing_versions(new))
        if current == new:
            return tried, latest
        tried = True
        try:
            dest.replace(ROOT_KEY, to_json_bytes(new), etag, JSON_TYPE)
            return True, latest
        except ObjectConflictError:
            time.sleep(0.05)
            continue
    raise ReleaseError(
        f"{dest.join(ROOT_KEY)} kept changing while v{entry.version} was being added ({attempts} attempts)",
        fix="re-run the same publish command when other publishers have finished; the release itself is complete",
    )
