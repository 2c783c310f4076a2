"""One STAC object against the core schema of its ``stac_version`` and the schema of every
extension it declares, offline; each problem one readable line naming the object."""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from .engines import fast_validator, jsonschema_validator
from .schemas import core_schema_url


def _short(url: str) -> str:
    """``https://stac-extensions.github.io/sar/v1.0.0/schema.json`` -> ``sar v1.0.0``."""
    parts = url.split("/")
    if "stac-extensions.github.io" in url and len(parts) >= 5:
        return f"{parts[3]} {parts[4]}"
    if "schemas.stacspec.org" in url and len(parts) >= 4:
        return f"STAC {parts[3]} core"
    return url


def _leaves(err: Any) -> Iterable[Any]:
    if not err.context:
        yield err
        return
    for sub in err.context:
        yield from _leaves(sub)


def _error_text(errors: list[Any]) -> str:
    """The most telling leaf of a (possibly oneOf/anyOf-nested) schema error: the deepest
    instance path wins, so 'XX is not one of [...] at properties/sar:polarizations/0'
    beats 'is not valid under any of the given schemas' at the top level."""
    leaves = [leaf for err in errors for leaf in _leaves(err)]
    best = max(leaves, key=lambda e: (len(e.absolute_path), e.validator != "not", -len(e.message)))
    path = "/".join(str(p) for p in best.absolute_path)
    msg = best.message
    if len(msg) > 300:
        msg = msg[:300] + "..."
    return f"{msg} (at {path or 'top level'})"


def validate_stac_object(obj: Any, where: str = "") -> list[str]:
    """Schema problems of one STAC object (catalog, collection or item) -- empty if valid.

    Checks the core schema of its ``stac_version`` and every ``stac_extensions`` schema,
    offline. ``where`` (e.g. the store key) is put into every message."""
    label_parts = []
    if isinstance(obj, Mapping):
        label_parts.append(f"{obj.get('type', '?')} {obj.get('id', '?')}")
    if where:
        label_parts.append(f"({where})")
    label = " ".join(label_parts) or "object"
    if not isinstance(obj, Mapping):
        return [f"{label}: not a JSON object"]
    problems: list[str] = []
    core = core_schema_url(obj)
    if core is None:
        return [f"{label}: not a STAC object (type {obj.get('type')!r}, stac_version {obj.get('stac_version')!r})"]
    schemas = [core]
    exts = obj.get("stac_extensions", [])
    if not isinstance(exts, list):
        problems.append(f"{label}: stac_extensions is not a list")
        exts = []
    schemas.extend(e for e in exts if isinstance(e, str))
    for url in schemas:
        v = jsonschema_validator(url)
        if v is None:
            if url == core:
                problems.append(f"{label}: STAC version {obj.get('stac_version')} is not among the carried core schemas")
            else:
                problems.append(
                    f"{label}: declares extension {url}, whose schema is not carried in sen12stac/schemas "
                    "(offline validation cannot check it)"
                )
            continue
        fast = fast_validator(url)
        fast_message = None
        if fast is not None:
            try:
                fast(obj)
                continue  # valid: the common case, no need for jsonschema's detail
            except Exception as exc:  # JsonSchemaException: invalid; get the detail below
                fast_message = getattr(exc, "message", str(exc))
        try:
            errors = list(v.iter_errors(obj))
        except Exception as exc:  # a broken $ref in a carried schema: report, do not crash the walk
            problems.append(f"{label}: schema {_short(url)} could not be evaluated ({type(exc).__name__}: {exc})")
            continue
        if errors:
            problems.append(f"{label}: {_short(url)}: {_error_text(errors)}")
        elif fast_message is not None:  # the engines disagree: keep the stricter verdict
            problems.append(f"{label}: {_short(url)}: {fast_message}")
    return problems
