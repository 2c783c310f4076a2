"""The ML metadata files of a release: made when a release is planned (``publish``, and the
commit of ``build --out s3://... --release X``), listed in ``release.json``, linked from the
release's root catalog (rel ``describedby``), and checked by ``verify``.

The release date is the only input that is not in the build: the date of the first attempt
(UTC; ``SOURCE_DATE_EPOCH`` when set, for reproducible releases). A resumed publish reads it
back from the ``CITATION.cff`` it already uploaded, so it plans the same bytes."""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
from typing import Any, Callable, Mapping

from ..errors import ConfigError
from ..stac.encoding import to_json_bytes
from .citation import citation_bytes
from .croissant import croissant_bytes
from .datasheet import datasheet_bytes
from .facts import ReleaseFacts

CROISSANT_KEY = "croissant.json"
CITATION_KEY = "CITATION.cff"
DATASHEET_KEY = "DATASHEET.md"
METADATA_KEYS = (CROISSANT_KEY, CITATION_KEY, DATASHEET_KEY)
MEDIA_TYPES = {CROISSANT_KEY: "application/ld+json", CITATION_KEY: "application/yaml", DATASHEET_KEY: "text/markdown"}
# Linked from the release's root catalog with rel ``describedby``, as the release notes and the
# manifest are. Not as root ``assets``: STAC 1.1 allows them on a Catalog, but STAC Browser 4.0.1
# (the newest on npm, which ``browse`` serves) fails on a Catalog that has assets (its stac-js
# wraps assets of Collections and Items only: "isPreview is not a function") and shows nothing of
# the root; its "Additional Resources" list shows these links with their titles.
ROOT_LINKS: dict[str, dict[str, Any]] = {
    CROISSANT_KEY: {"rel": "describedby", "href": f"./{CROISSANT_KEY}", "type": MEDIA_TYPES[CROISSANT_KEY],
                    "title": "Croissant 1.1 / GeoCroissant 1.0 metadata (croissant.json: for ML dataset loaders)"},
    CITATION_KEY: {"rel": "describedby", "href": f"./{CITATION_KEY}", "type": MEDIA_TYPES[CITATION_KEY],
                   "title": "How to cite this release (CITATION.cff, Citation File Format 1.2.0)"},
    DATASHEET_KEY: {"rel": "describedby", "href": f"./{DATASHEET_KEY}", "type": MEDIA_TYPES[DATASHEET_KEY],
                    "title": "Datasheet (DATASHEET.md): motivation, composition, collection, QC, licence, maintenance"},
}
_DATE_RE = re.compile(r'^date-released:\s*"?(\d{4}-\d{2}-\d{2})"?\s*$', re.M)


def date_of(cff: bytes | str) -> str | None:
    text = cff.decode("utf-8", "replace") if isinstance(cff, bytes) else cff
    m = _DATE_RE.search(text)
    return m.group(1) if m else None


def release_date(existing_citation: bytes | None = None) -> str:
    """The date a release states: the one its already-written ``CITATION.cff`` says (a resumed
    publish), else ``SOURCE_DATE_EPOCH``, else today (UTC)."""
    if existing_citation is not None:
        found = date_of(existing_citation)
        if found:
            return found
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            return _dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc).date().isoformat()
        except (ValueError, OverflowError):
            raise ConfigError(f"SOURCE_DATE_EPOCH={epoch!r} is not a number of seconds since 1970",
                              fix="set it to an integer (e.g. $(date +%s)) or unset it") from None
    return _dt.datetime.now(_dt.timezone.utc).date().isoformat()


def metadata_files(facts: ReleaseFacts) -> dict[str, bytes]:
    """The three files of a release, by release key."""
    return {CROISSANT_KEY: croissant_bytes(facts), CITATION_KEY: citation_bytes(facts), DATASHEET_KEY: datasheet_bytes(facts)}


def with_metadata_links(root: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a root catalog that links the metadata files (rel ``describedby``, last)."""
    out = dict(root)
    hrefs = {link["href"] for link in ROOT_LINKS.values()}
    out["links"] = [dict(link) for link in root.get("links", []) or [] if link.get("href") not in hrefs]
    out["links"] += [dict(ROOT_LINKS[k]) for k in METADATA_KEYS]
    return out


def release_facts(*, version: str, date: str, root: dict[str, Any], collections: dict[str, dict[str, Any]],
                  counts: dict[str, Any], summary: dict[str, Any] | None,
                  files: Mapping[str, tuple[int, str]]) -> ReleaseFacts:
    return ReleaseFacts(version=version, date=date, root=root, collections=collections, counts=counts, summary=summary,
                        files={k: v for k, v in files.items() if k not in METADATA_KEYS})


def read_summary(get: Callable[[str], bytes], present: bool, key: str = "build-summary.json") -> dict[str, Any] | None:
    if not present:
        return None
    try:
        data = json.loads(get(key))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def planned_metadata(generated: Mapping[str, bytes], files: Mapping[str, tuple[int, str]], *, version: str,
                     counts: dict[str, Any], summary: dict[str, Any] | None, date: str,
                     root_key: str = "catalog.json") -> dict[str, bytes]:
    """For a release being planned: the metadata files and the root catalog that links them, by
    release key. ``generated`` holds the release's versioned root and collections (the bytes the
    release will hold), ``files`` every planned object's (size, sha256)."""
    root = json.loads(generated[root_key])
    collections = {k: json.loads(v) for k, v in generated.items() if k.endswith("/collection.json")}
    facts = release_facts(version=version, date=date, root=root, collections=collections, counts=counts,
                          summary=summary, files=files)
    out = metadata_files(facts)
    out[root_key] = to_json_bytes(with_metadata_links(root))
    return out
