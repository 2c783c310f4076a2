"""Relative hrefs between store keys: the one relativizer and the one resolver (catalog
writing, validation and releases all use them). Pure string work, no filesystem."""
from __future__ import annotations

import re
from functools import lru_cache

#: Last path segments that are not an object's name: keys ending so take the general path.
_NOT_A_NAME = ("", ".", "..")


def key_parts(key: str) -> list[str]:
    parts = [p for p in key.split("/") if p and p != "."]
    if ".." in parts:
        raise ValueError(f"store key {key!r} must not contain '..'")
    return parts


def relative_href(from_key: str, to_key: str) -> str:
    """The href of ``to_key`` as seen from the object at ``from_key`` (both store keys).

    Pure string work (``posixpath.relpath`` consults the working directory and was the
    writer's hottest call); the folder part is worked out once per pair of folders (the
    items of a scene share theirs), the name appended."""
    head, sep, name = to_key.rpartition("/")
    from_folder, _, from_name = from_key.rpartition("/")
    if name in _NOT_A_NAME or from_name in _NOT_A_NAME:
        return _relative_href(from_key, to_key)  # the general case (and its errors)
    return _relative_folder(from_folder, head + sep) + name


@lru_cache(maxsize=4096)
def _relative_folder(from_folder: str, to_folder: str) -> str:
    """The href prefix of a name in ``to_folder`` (ending in "/" or empty) seen from an object
    in ``from_folder``: the general function on a placeholder name, which is then cut off."""
    return _relative_href(from_folder + "/_", to_folder + "_")[:-1]


def _relative_href(from_key: str, to_key: str) -> str:
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
    The one resolver: validation, catalog writing, releases and the API loader all use it.

    The folder part is worked out once per (folder of ``from_key``, folder part of ``href``):
    the items of a scene share theirs, so each further href costs a dict lookup."""
    if "://" in href or href.startswith("/") or (href[1:2] == ":" and _DRIVE.match(href)):
        return None
    head, sep, tail = href.rpartition("/")
    from_folder, _, from_name = from_key.rpartition("/")
    if tail in _NOT_A_NAME or from_name in _NOT_A_NAME or "#" in href or "?" in href:
        return _resolve_href(from_key, href)  # the general case (and its errors)
    prefix = _resolved_folder(from_folder, head + sep)
    return None if prefix is None else prefix + tail


@lru_cache(maxsize=4096)
def _resolved_folder(from_folder: str, href_folder: str) -> str | None:
    """The key prefix (ending in "/" or empty) ``href_folder`` leads to from an object in
    ``from_folder``, or None when it leaves the store: the general walk on a placeholder name,
    which is then cut off."""
    target = _resolve_href(from_folder + "/_", href_folder + "_")
    return None if target is None else target[:-1]


_DRIVE = re.compile(r"^[a-zA-Z]:[\\/]")


def _resolve_href(from_key: str, href: str) -> str | None:
    """The general walk, for a relative href."""
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


def rebase_href(href: str, from_key: str, to_key: str) -> str:
    """An href of the object at ``from_key`` as seen from ``to_key`` instead (unchanged when it
    does not point into the store: an absolute URL or path, or above the store root).

    ``relative_href(to_key, resolve_href(from_key, href))``, with the folder part worked out
    once per (folder of ``from_key``, folder part of ``href``, ``to_key``): the items of a
    scene share their folders, so the writer's 60,000 rebased hrefs per 10k items cost a
    dict lookup each instead of two key walks (bench/results/catalog.md)."""
    head, sep, tail = href.rpartition("/")
    from_folder, _, from_name = from_key.rpartition("/")
    if not sep or tail in _NOT_A_NAME or from_name in _NOT_A_NAME or "#" in href or "?" in href:
        target = resolve_href(from_key, href)  # the general case, not memoised
        return href if target is None else relative_href(to_key, target)
    prefix = _rebased_folder(from_folder, head + sep, to_key)
    return href if prefix is None else prefix + tail


@lru_cache(maxsize=4096)
def _rebased_folder(from_folder: str, href_folder: str, to_key: str) -> str | None:
    """The rebased form of ``href_folder`` (ending in "/"), or None when it leaves the store:
    the general functions applied to a placeholder name, which is then cut off."""
    target = resolve_href(from_folder + "/_", href_folder + "_")
    return None if target is None else relative_href(to_key, target)[:-1]
