"""The two validators of a carried schema, compiled once per URL and shared by all threads:
jsonschema (complete messages) and fastjsonschema (about 10x faster, valid/invalid only;
bench/results/catalog.md). :func:`.objects.validate_stac_object` asks the fast one first."""
from __future__ import annotations

import threading
from typing import Any

from .schemas import offline_handler, schema_documents, schema_registry

#: Use the fastjsonschema fast path (bench/bench_catalog.py switches it off to compare).
USE_FAST_PATH = True

_validators: dict[str, Any] = {}
_fast: dict[str, Any] = {}
_lock = threading.Lock()


def jsonschema_validator(url: str):
    """A compiled jsonschema validator for the schema at ``url``, or None when we do not carry it."""
    key = url.split("#", 1)[0]
    with _lock:
        if key in _validators:
            return _validators[key]
        from jsonschema.validators import validator_for
        from referencing.exceptions import NoSuchResource, Unresolvable

        registry = schema_registry()
        try:
            schema = registry.contents(key)
        except (NoSuchResource, Unresolvable, LookupError):
            _validators[key] = None
            return None
        cls = validator_for(schema, default=None)
        if cls is None:
            from jsonschema import Draft7Validator as cls  # noqa: N813
        v = cls(schema, registry=registry)
        _validators[key] = v
        return v


def fast_validator(url: str):
    """A fastjsonschema-compiled check for ``url`` (validate_catalog runs ~10x faster with it:
    bench/results/catalog.md), or None when fastjsonschema is missing or cannot compile the
    schema. It only says valid/invalid; the messages come from jsonschema."""
    if not USE_FAST_PATH:
        return None
    key = url.split("#", 1)[0]
    with _lock:
        if key in _fast:
            return _fast[key]
        fn = None
        try:
            import fastjsonschema

            schema = schema_documents().get(key)
            if schema is not None:
                fn = fastjsonschema.compile(
                    schema, handlers={"https": offline_handler, "http": offline_handler}, use_formats=False
                )
        except Exception:  # not installed, or a construct it does not compile: use jsonschema alone
            fn = None
        _fast[key] = fn
        return fn
