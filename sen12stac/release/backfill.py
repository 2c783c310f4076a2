"""``sen12stac metadata RELEASE``: give a release published before the ML metadata existed its
``croissant.json``, ``CITATION.cff`` and ``DATASHEET.md`` without a rebuild.

The files are made exactly as ``publish`` makes them (:func:`sen12stac.release.plan.add_metadata`),
from the release's own root catalog, collections, ``release.json`` counts and build summary.

* **A folder release** (``./releases/v1.0.0``) is completed in place: the three files first, then
  ``release.json`` listing them (and the root's new checksum), then the root catalog linking them
  (last, so an interrupted run leaves the old root and is finished by running the command again).
  The release's date is the date of this run (or ``SOURCE_DATE_EPOCH``), kept on a re-run.
* **A release in object storage** is immutable (conditional writes, no overwrite; the bucket
  policy forbids it): its metadata goes into the next version, which ``publish`` writes with
  them; the command refuses and says so, changing nothing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from ..errors import ReleaseError
from ..metadata.release import CITATION_KEY, METADATA_KEYS, read_summary, release_date
from ..store.base import ObjectStore
from .layout import BUILD_FILES, MANIFEST_KEY, ROOT_KEY
from .manifest import MANIFEST_TYPE, PlannedObject, manifest_bytes
from .plan import add_metadata
from .version import release_dir


@dataclass
class BackfillReport:
    url: str
    version: str
    written: list[str]
    date: str

    def __str__(self) -> str:
        if not self.written:
            return f"{self.url}: croissant.json, CITATION.cff and DATASHEET.md are already there and current; nothing changed"
        return (f"{self.url}: wrote {', '.join(self.written)} (release {self.version}, dated {self.date}); "
                f"check it with: sen12stac verify {self.url}")


def add_release_metadata(dest: ObjectStore, version: str) -> BackfillReport:
    """Write the ML metadata into the folder release ``v{version}`` under ``dest``."""
    vdir = release_dir(version)
    url = dest.join(vdir)
    if dest.root is None:
        raise ReleaseError(
            f"{url} is a published release in object storage, and published releases are immutable: its metadata cannot be added in place",
            fix=f"publish the build again as the next version (`sen12stac publish BUILD {dest.url} --release NEXT`): every publish writes croissant.json, CITATION.cff and DATASHEET.md",
        )
    if dest.head(f"{vdir}/{MANIFEST_KEY}") is None or dest.head(f"{vdir}/{ROOT_KEY}") is None:
        raise ReleaseError(
            f"{url} is not a release (no {MANIFEST_KEY} and {ROOT_KEY} there)",
            fix="point at a release folder made by `sen12stac publish` (e.g. ./releases/v1.0.0); a build folder gets its metadata when it is published",
        )
    try:
        manifest = json.loads(dest.get(f"{vdir}/{MANIFEST_KEY}"))
    except ValueError:
        manifest = {}
    manifest = manifest if isinstance(manifest, dict) else {}
    header = {k: v for k, v in manifest.items() if k not in ("objects", "members")}
    members = manifest.get("members") or []  # training shards' member lines, kept as they are
    objects = {o["key"]: o for o in manifest.get("objects", [])}
    if not isinstance(header.get("counts"), dict) or header.get("type") != MANIFEST_TYPE:
        raise ReleaseError(f"{url}/{MANIFEST_KEY} is not a sen12stac release manifest with counts",
                           fix="publish the build again as the next version: publish writes the metadata with the manifest")
    if str(header.get("version")) != version:
        raise ReleaseError(f"{url}/{MANIFEST_KEY} names version {header.get('version')!r}, not {version}",
                           fix="point at the release folder of the version its manifest names")

    generated: dict[str, bytes] = {ROOT_KEY: dest.get(f"{vdir}/{ROOT_KEY}")}
    for key in header.get("collections", []):
        generated[key] = dest.get(f"{vdir}/{key}")
    entries = {k: PlannedObject(k, int(o["size"]), str(o["sha256"]), str(o["md5"]), "asset", k) for k, o in objects.items()
               if k != MANIFEST_KEY}
    existing = dest.get(f"{vdir}/{CITATION_KEY}") if dest.head(f"{vdir}/{CITATION_KEY}") is not None else None
    date = release_date(existing)
    summary = read_summary(lambda k: dest.get(f"{vdir}/{k}"), BUILD_FILES[0] in objects, BUILD_FILES[0])
    add_metadata(entries, generated, version=version, counts=header["counts"], date=date, summary=summary)

    written: list[str] = []
    for key in (*METADATA_KEYS, ROOT_KEY):
        objects[key] = {"key": key, "size": entries[key].size, "sha256": entries[key].sha256, "md5": entries[key].md5}
    listed = [objects[k] for k in sorted(objects) if k != MANIFEST_KEY]  # as seal(): the manifest does not list itself
    header["totals"] = {"objects": len(listed), "bytes": sum(int(o["size"]) for o in listed)}
    new_manifest = manifest_bytes(header, listed, members)
    changes = [(key, generated[key]) for key in METADATA_KEYS] + [(MANIFEST_KEY, new_manifest), (ROOT_KEY, generated[ROOT_KEY])]
    for key, data in changes:
        full = f"{vdir}/{key}"
        info = dest.head(full)
        if info is not None and dest.get(full) == data:
            continue
        if info is None:
            dest.put_if_absent(full, data)
        else:
            dest.replace(full, data, info.etag)
        written.append(key)
    return BackfillReport(url, version, written, date)

