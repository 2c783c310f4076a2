"""Searching a STAC API for one ROI and season with the paper's filters (pystac-client).

S2: ``eo:cloud_cover <= max_cloud_cover`` (paper: 1 %). S1: ``sar:instrument_mode = IW`` and
``VV`` in ``sar:polarizations``. Sent as CQL2 JSON (the filter extension: Planetary Computer,
pgstac) or through the query extension (Earth Search's stac-server), and checked again on the
returned items, so a server that ignores a filter cannot slip a wrong item into a scene.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from ...errors import ConfigError, SourceError
from ...runtime.iostats import count_responses
from .presets import SensorSettings

TIMEOUT_S = 60

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def _pystac_client() -> Any:
    import pystac_client  # the opendata extra (checked by sources/opendata/__init__.py)

    return pystac_client


def _reason(exc: BaseException) -> str:
    """A short cause: the innermost message of a requests/urllib3 chain, no URL repeated."""
    text = str(exc)
    for known in ("Connection refused", "timed out", "Name or service not known", "Temporary failure in name resolution",
                  "No route to host", "Connection reset"):
        if known in text:
            return known.lower()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _outage(settings: SensorSettings, what: str, exc: BaseException) -> SourceError:
    return SourceError(
        f"STAC API {settings.api_url} failed while {what} ({_reason(exc)})",
        fix="check that the API is up and reachable from here (open the URL in a browser), then run the same command again; finished scenes are kept",
    )


def client(settings: SensorSettings) -> Any:
    """One pystac-client Client per API per process (the landing page is fetched once)."""
    with _lock:
        c = _clients.get(settings.api_url)
    if c is not None:
        return c
    pc = _pystac_client()
    from pystac_client.stac_api_io import StacApiIO

    io = StacApiIO(timeout=TIMEOUT_S)
    count_responses(io.session)
    try:
        c = pc.Client.open(settings.api_url, stac_io=io)
    except Exception as exc:
        raise _outage(settings, "opening its landing page", exc) from exc
    with _lock:
        _clients[settings.api_url] = c
    return c


def check_collection(settings: SensorSettings) -> None:
    """Before any scene: the API answers and has the collection (a wrong id is a ConfigError)."""
    c = client(settings)
    try:
        found = c.get_collection(settings.collection)
    except Exception as exc:
        if "404" in str(exc) or "not found" in str(exc).lower():
            found = None
        else:
            raise _outage(settings, f"reading collection {settings.collection}", exc) from exc
    if found is None:
        raise ConfigError(f"STAC API {settings.api_url} has no collection {settings.collection!r}",
                          fix="check the collection id (e.g. sentinel-1-rtc, sentinel-2-l1c, sentinel-2-l2a) or the API URL")


def recipe_filter(settings: SensorSettings) -> dict[str, Any]:
    """pystac-client search keywords for the recipe's filters in the sensor's filter language."""
    if settings.sensor == "label":
        from .presets import WORLDCOVER_VERSION

        key, version = WORLDCOVER_VERSION
        if settings.filter_lang == "query":
            return {"query": {key: {"eq": version}}}
        return {"filter_lang": "cql2-json", "filter": {"op": "=", "args": [{"property": key}, version]}}
    if settings.sensor == "s2":
        if settings.filter_lang == "query":
            return {"query": {"eo:cloud_cover": {"lte": settings.max_cloud_cover}}}
        return {"filter_lang": "cql2-json",
                "filter": {"op": "<=", "args": [{"property": "eo:cloud_cover"}, settings.max_cloud_cover]}}
    pols = list(settings.polarizations)
    if settings.filter_lang == "query":
        return {"query": {"sar:instrument_mode": {"eq": "IW"}, "sar:polarizations": {"in": pols}}}
    return {"filter_lang": "cql2-json", "filter": {"op": "and", "args": [
        {"op": "=", "args": [{"property": "sar:instrument_mode"}, "IW"]},
        {"op": "a_contains", "args": [{"property": "sar:polarizations"}, pols]},
    ]}}


def matches_recipe(settings: SensorSettings, item: dict[str, Any]) -> str | None:
    """Why ``item`` does not meet the recipe (None: it does)."""
    p = item.get("properties") or {}
    if settings.sensor == "label":
        from .presets import WORLDCOVER_VERSION

        key, version = WORLDCOVER_VERSION
        if key in p and str(p[key]) != version:
            return f"{key} {p[key]!r} is not {version}"
    elif settings.sensor == "s2":
        cc = p.get("eo:cloud_cover")
        if not isinstance(cc, (int, float)) or cc > settings.max_cloud_cover:
            return f"eo:cloud_cover {cc!r} > {settings.max_cloud_cover:g}"
    else:
        if p.get("sar:instrument_mode") != "IW":
            return f"sar:instrument_mode {p.get('sar:instrument_mode')!r} is not IW"
        lacking = [pol for pol in settings.polarizations if pol not in (p.get("sar:polarizations") or [])]
        if lacking:
            return f"sar:polarizations {p.get('sar:polarizations')!r} lack {lacking[0]}"
    wanted = (*settings.assets, settings.scl_asset) if settings.scl_asset else settings.assets
    missing = [k for k in wanted if k not in (item.get("assets") or {})]
    if missing:
        return f"asset {missing[0]!r} missing"
    return None


@dataclass(frozen=True)
class SearchResult:
    items: list[dict[str, Any]]  # meeting the recipe, oldest first
    skipped: dict[str, str]  # item id -> why it was left out


def search(settings: SensorSettings, bbox: tuple[float, float, float, float], start: str | None, end: str | None) -> SearchResult:
    """Items of ``settings.collection`` intersecting ``bbox`` (WGS84) between ``start`` and ``end``
    (ISO dates, inclusive; None: any time, as for a land-cover map), oldest first; at most
    ``max_items`` (the newest)."""
    c = client(settings)
    kwargs = recipe_filter(settings)
    if start is not None and end is not None:
        kwargs["datetime"] = f"{start}T00:00:00Z/{end}T23:59:59Z"
    try:
        found = list(c.search(
            collections=[settings.collection], bbox=list(bbox),
            limit=min(settings.max_items * 2, 250), max_items=settings.max_items * 4, **kwargs,
        ).items_as_dicts())
    except Exception as exc:
        raise _outage(settings, f"searching {settings.collection}", exc) from exc
    kept, skipped = [], {}
    for item in found:
        why = matches_recipe(settings, item)
        if why:
            skipped[str(item.get("id"))] = why
        else:
            kept.append(item)
    kept.sort(key=lambda it: (str((it.get("properties") or {}).get("datetime") or (it.get("properties") or {}).get("start_datetime") or ""), str(it.get("id"))))
    return SearchResult(kept[-settings.max_items:], skipped)
