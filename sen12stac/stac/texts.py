"""The dataset's metadata kept as data (the repository's ``catalog/``, packaged as
``sen12stac.catalog_texts``): titles, descriptions, license, citation, providers, asset
templates. Read with :mod:`importlib.resources`, as the schemas are, so a checkout and an
installed wheel find the same files."""
from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from ..errors import ConfigError

#: The package the repository's ``catalog/`` folder is installed as (pyproject.toml maps one onto the other).
TEXTS_PACKAGE = "sen12stac.catalog_texts"


@dataclass(frozen=True)
class CatalogTexts:
    """The metadata kept as data in ``catalog/`` (see catalog/README.md)."""

    root: dict[str, Any]
    collections: dict[str, Any]
    license: dict[str, Any]
    citation: dict[str, Any]
    providers: list[dict[str, Any]]
    item_assets: dict[str, dict[str, Any]]
    collection_only: dict[str, list[str]]  # item-asset fields kept in the collection only ("asset", "band")
    collection_assets: dict[str, dict[str, Any]]
    derived_from: dict[str, dict[str, Any]]
    license_text: bytes
    folder: str


_REQUIRED: dict[str, tuple[str, ...]] = {
    "root.json": ("id", "title", "description"),
    "collections.json": (
        "title_template",
        "description_template",
        "keywords",
        "season_titles",
        "scene_title_template",
        "scene_description_template",
        "item_title_template",
        "item_description_template",
        "acquisition_template",
        "acquisition_unknown_platform",
        "acquisition_orbit_template",
        "processing_lineage_template",
    ),
    "license.json": ("license", "title", "href", "text_file", "attribution"),
    "citation.json": ("doi", "citation"),
    "providers.json": ("providers",),
    "item_assets.json": ("s1", "s2", "thumbnail"),
    "collection_assets.json": ("items", "default"),
    "derived_from.json": ("s1", "s2"),
}


def packaged_texts() -> Traversable:
    """The catalog texts installed with the package (``catalog/`` as ``sen12stac.catalog_texts``)."""
    try:
        return resources.files(TEXTS_PACKAGE)
    except ModuleNotFoundError:
        raise ConfigError(
            f"the catalog texts ({TEXTS_PACKAGE}) are not installed with sen12stac",
            fix="install the package (pip install -e . in a checkout, or pip install sen12stac); running from a bare source folder on PYTHONPATH misses them",
        ) from None


V2_TEXTS = "v2.json"  # recipe v2's texts where they differ from v1's (catalog/v2.json)


def load_catalog_texts(folder: str | Path | None = None, recipe: str = "v1") -> CatalogTexts:
    """Read the catalog texts (JSON) from ``folder`` (default: the packaged ``catalog/``).
    ``recipe="v2"``: v1's texts with ``v2.json``'s root, collection texts and item assets over them."""
    path: Traversable = Path(folder) if folder is not None else packaged_texts()
    if not path.is_dir():
        raise ConfigError(
            f"catalog texts folder {path} does not exist",
            fix="pass the folder holding root.json, collections.json, ... (the repository's catalog/)",
        )
    loaded: dict[str, Any] = {}
    for name, required in _REQUIRED.items():
        f = path / name
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"catalog text file {f} is missing", fix=f"restore {name} in {path}") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"catalog text file {f} is not valid JSON ({exc})", fix="correct the JSON syntax") from None
        if not isinstance(data, dict):
            raise ConfigError(f"catalog text file {f} must hold a JSON object", fix="wrap the content in {...}")
        missing = [k for k in required if k not in data]
        if missing:
            raise ConfigError(f"catalog text file {f} lacks {', '.join(missing)}", fix=f"add the key(s) to {name}")
        data.pop("$comment", None)
        loaded[name] = data
    text_file = path / loaded["license.json"]["text_file"]
    try:
        license_text = text_file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"license text {text_file} is missing", fix="restore it or correct text_file in license.json") from None
    item_assets_doc = loaded["item_assets.json"]
    if recipe == "v2":
        f = path / V2_TEXTS
        try:
            v2 = json.loads(f.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"catalog text file {f} is missing", fix=f"restore {V2_TEXTS} in {path} (recipe v2's texts)") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"catalog text file {f} is not valid JSON ({exc})", fix="correct the JSON syntax") from None
        missing = [k for k in ("root", "collections", "item_assets") if k not in v2]
        missing += [f"item_assets.{k}" for k in ("s1", "s2", "label", "thumbnail") if k not in v2.get("item_assets", {})]
        if missing:
            raise ConfigError(f"catalog text file {f} lacks {', '.join(missing)}", fix=f"add the key(s) to {V2_TEXTS}")
        loaded["root.json"] = v2["root"]
        loaded["collections.json"] = {**loaded["collections.json"], **v2["collections"]}
        item_assets_doc = v2["item_assets"]
    return CatalogTexts(
        root=loaded["root.json"],
        collections=loaded["collections.json"],
        license=loaded["license.json"],
        citation=loaded["citation.json"],
        providers=list(loaded["providers.json"]["providers"]),
        item_assets={k: v for k, v in item_assets_doc.items() if not k.startswith("$")},
        collection_only={k: list(v) for k, v in item_assets_doc.get("$collection_only", {}).items()},
        collection_assets=loaded["collection_assets.json"],
        derived_from=loaded["derived_from.json"],
        license_text=license_text,
        folder=str(path),
    )


def fill_template(template: str, **values: Any) -> str:
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"catalog text template {template[:60]!r}... cannot be filled ({exc})",
            fix=f"use only the placeholders {', '.join(sorted(values))}",
        ) from None
