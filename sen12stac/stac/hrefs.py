"""Relative hrefs between store keys: the one relativizer and the one resolver (catalog
writing, validation and releases all use them). Pure string work, no filesystem."""
from __future__ import annotations

import re


def key_parts(key: str) -> list[str]:
    parts = [p for p in key.split("/") if p and p != "."]
    if ".." in parts:
        raise ValueError(f"store key {key!r} must not contain '..'")
    return parts


def relative_href(from_key: str, to_key: str) -> str:
    """The href of ``to_key`` as seen from the object at ``from_key`` (both store keys).

    Pure string work (``posixpath.relpath`` consults the working directory and was the
    writer's hottest call)."""
    base = key_parts(from_key)[:-1]
    target = key_parts(to_key)
    common = 0
    for a, b in zip(base, target[:-1]):
        if a != b:
            break
        common += 1
    ups = len(base) - common
    rest = "/".join(target[common:])
    return "../" * ups + rest if ups else "./" + rest


def resolve_href(from_key: str, href: str) -> str | None:
    """The store key an href of the object at ``from_key`` points to (a ``#fragment`` or
    ``?query`` ignored); None for absolute URLs and paths, and for hrefs leaving the store root.
    The one resolver: validation, catalog writing and releases all use it."""
    if "://" in href or href.startswith("/") or re.match(r"^[a-zA-Z]:[\\/]", href):
        return None
    href = href.split("#", 1)[0].split("?", 1)[0]
    parts = key_parts(from_key)[:-1]
    for p in href.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(p)
    return "/".join(parts) if parts else None
