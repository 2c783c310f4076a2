"""ML metadata of a release, from one source (the release's catalog, its counts and build
summary, and ``catalog/ml_metadata.json``): ``croissant.json`` (Croissant 1.1 + GeoCroissant),
``CITATION.cff`` and ``DATASHEET.md``. ``release`` makes them for a release being planned,
``agree`` reads them back and compares them with the catalog (``verify``). docs/metadata.md."""
from __future__ import annotations

from .facts import ReleaseFacts
from .release import CITATION_KEY, CROISSANT_KEY, DATASHEET_KEY, METADATA_KEYS, metadata_files, planned_metadata, release_date

__all__ = ["CITATION_KEY", "CROISSANT_KEY", "DATASHEET_KEY", "METADATA_KEYS", "ReleaseFacts", "metadata_files", "planned_metadata", "release_date"]
