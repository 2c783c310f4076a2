"""stac-fastapi-pgstac's read client, with the same answers built with less Python per item.

Two changes, both by subclassing ``CoreCrudClient`` (the installed package is not patched):

* Item results are returned as ready JSON bytes. Returned as a dict, a search result goes
  through FastAPI's ``jsonable_encoder``, which visits every value of every item in Python:
  75 % of a 100-item search's time under cProfile (bench/bench_api.py). A ``Response`` is passed
  through untouched, so orjson serialises the dict once. (stac-fastapi's own
  ``enable_direct_response`` setting does this by re-wrapping routes, which has no effect with
  the FastAPI release its pins resolve to, 0.165.)
* Each item's links are built by :func:`item_links` instead of stac-fastapi-pgstac's
  ``ItemLinks``, which per item lists its own attributes (``dir``) to find its ``link_*``
  methods, rebuilds the base URL four times and parses every href with ``urljoin``: about
  0.1 ms per item, the API's largest own cost at limit 100 (cProfile of the running app at
  282,384 items). :func:`item_links` gives the same list (same links, same order, same hrefs
  through the same ``urljoin``), with the base URL and the collection links computed once per
  request; tests/test_api_client.py checks it against ``ItemLinks`` itself.

``_search_base`` below is stac-fastapi-pgstac 7.2.0's own (``stac_fastapi/pgstac/core.py``),
with only the links step changed; the versions are pinned in pyproject.toml.
"""
from __future__ import annotations

from typing import Any, cast
from urllib.parse import urljoin

# ItemLinks.create_links walks dir(self), so an item's inferred links come in the sorted order
# of their method names: link_collection, link_parent, link_root, link_self.
_JSON = "application/json"
_GEOJSON = "application/geo+json"


class LinkMaker:
    """The links of each item of one request, as ``ItemLinks(...).get_links()`` builds them."""

    def __init__(self, base_url: str) -> None:
        from stac_fastapi.pgstac.models.links import INFERRED_LINK_RELS

        self.base_url = base_url
        self._inferred = frozenset(INFERRED_LINK_RELS)
        self._collection_href: dict[str, str] = {}
        self._resolved: dict[str, str] = {}

    def resolve(self, href: str) -> str:
        out = self._resolved.get(href)
        if out is None:
            out = self._resolved[href] = urljoin(self.base_url, str(href))
        return out

    def item_links(self, collection_id: str, item_id: str, extra_links: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
        chref = self._collection_href.get(collection_id)
        if chref is None:
            chref = self._collection_href[collection_id] = urljoin(self.base_url, f"collections/{collection_id}")
        links = [
            {"rel": "collection", "type": _JSON, "href": chref},
            {"rel": "parent", "type": _JSON, "href": chref},
            {"rel": "root", "type": _JSON, "href": self.base_url},
            {"rel": "self", "type": _GEOJSON, "href": urljoin(self.base_url, f"collections/{collection_id}/items/{item_id}")},
        ]
        if extra_links:
            links += [{**link, "href": self.resolve(link["href"])} for link in extra_links if link["rel"] not in self._inferred]
        return links


def item_links(request: Any, collection_id: str, item_id: str, extra_links: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One item's links (for tests and single items; a search uses one :class:`LinkMaker`)."""
    from stac_fastapi.types.requests import get_base_url

    return LinkMaker(get_base_url(request)).item_links(collection_id, item_id, extra_links)


def direct_response_client() -> type:
    """The client class (imports stac-fastapi only when the API is built)."""
    import orjson
    from asyncpg.exceptions import InvalidDatetimeFormatError
    from buildpg import render
    from hydraters import hydrate
    from starlette.responses import Response
    from stac_fastapi.pgstac.core import CoreCrudClient
    from stac_fastapi.pgstac.models.links import PagingLinks
    from stac_fastapi.pgstac.utils import filter_fields
    from stac_fastapi.types.errors import InvalidQueryParameter
    from stac_fastapi.types.requests import get_base_url

    def direct(result: Any) -> Any:
        if isinstance(result, dict):
            return Response(orjson.dumps(result), media_type="application/geo+json")
        return result

    class DirectResponseClient(CoreCrudClient):
        async def post_search(self, *args: Any, **kwargs: Any) -> Any:
            return direct(await super().post_search(*args, **kwargs))

        async def get_search(self, *args: Any, **kwargs: Any) -> Any:
            return direct(await super().get_search(*args, **kwargs))

        async def item_collection(self, *args: Any, **kwargs: Any) -> Any:
            return direct(await super().item_collection(*args, **kwargs))

        async def get_item(self, *args: Any, **kwargs: Any) -> Any:
            return direct(await super().get_item(*args, **kwargs))

        async def _search_base(self, search_request: Any, request: Any) -> Any:  # noqa: C901
            settings = request.app.state.settings

            search_request.conf = search_request.conf or {}
            search_request.conf["nohydrate"] = settings.use_api_hydrate
            search_request_json = search_request.model_dump_json(exclude_none=True, by_alias=True)
            try:
                async with request.app.state.get_connection(request, "r") as conn:
                    q, p = render("""
                    SELECT * FROM search(:req::text::jsonb);
                    """, req=search_request_json)
                    item_collection = await conn.fetchval(q, *p)
            except InvalidDatetimeFormatError as e:
                raise InvalidQueryParameter(f"Datetime parameter {search_request.datetime} is invalid.") from e

            next_from_link = prev_from_link = None
            for link in item_collection.get("links", []):
                if link.get("rel") == "next":
                    next_from_link = link["href"].split("token=next:")[1]
                if link.get("rel") == "prev":
                    prev_from_link = link["href"].split("token=prev:")[1]
            next_ = item_collection.pop("next", next_from_link)
            prev = item_collection.pop("prev", prev_from_link)

            fields = getattr(search_request, "fields", None)
            include: set[str] = fields.include if fields and fields.include else set()
            exclude: set[str] = fields.exclude if fields and fields.exclude else set()
            links = LinkMaker(get_base_url(request))

            def add_item_links(feature: dict, collection_id: str | None = None, item_id: str | None = None) -> None:
                collection_id = feature.get("collection") or collection_id
                item_id = feature.get("id") or item_id
                if not exclude or "links" not in exclude and all([collection_id, item_id]):
                    feature["links"] = links.item_links(collection_id, item_id, feature.get("links"))  # type: ignore[arg-type]

            items: list[dict] = []
            if settings.use_api_hydrate:
                async def _get_base_item(collection_id: str) -> dict[str, Any]:
                    return await self._get_base_item(collection_id, request=request)

                base_item_cache = settings.base_item_cache(fetch_base_item=_get_base_item, request=request)
                for item in item_collection.get("features", []):
                    base_item = cast(dict, item).pop("pgstac:base_item", None)  # pgstac>=0.10: each item's own base item
                    if not isinstance(base_item, dict):
                        base_item = await base_item_cache.get(item.get("collection"))
                    base_item = {k: v for k, v in base_item.items() if v is not None}
                    item = hydrate(base_item, dict(item), strip_unmatched_markers=settings.exclude_hydrate_markers)
                    collection_id = item.get("collection")
                    item_id = item.get("id")
                    item = filter_fields(item, include, exclude)
                    add_item_links(item, collection_id, item_id)
                    items.append(item)
            else:
                for item in item_collection.get("features", []):
                    add_item_links(item)
                    items.append(item)

            item_collection["features"] = items
            item_collection["links"] = await PagingLinks(request=request, next=next_, prev=prev).get_links()
            return item_collection

    return DirectResponseClient
