"""The API client's item links are the links stac-fastapi-pgstac's own ``ItemLinks`` builds,
for the same request: same links, order, hrefs (relative ones resolved), extra fields kept,
inferred rels dropped. The served items are compared with the static catalog in test_api.py."""
from __future__ import annotations

import asyncio
import json

import pytest

pytest.importorskip("stac_fastapi.pgstac")


def _request(method: str, path: str, root_path: str = "", prefix: str = "", host: bytes = b"127.0.0.1:8081"):
    from starlette.datastructures import State
    from starlette.requests import Request

    app = type("App", (), {})()
    app.state = State({"router_prefix": prefix})
    body = json.dumps({"collections": ["c"], "limit": 2}).encode()

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": method, "path": root_path + path, "root_path": root_path, "query_string": b"limit=2",
             "headers": [(b"host", host), (b"content-type", b"application/json")], "scheme": "http", "server": ("127.0.0.1", 8081), "app": app}
    return Request(scope, receive)


EXTRA = [
    {"rel": "license", "href": "https://creativecommons.org/licenses/by/4.0/", "type": "text/html", "title": "CC-BY-4.0"},
    {"rel": "self", "href": "./stale-self.json"},
    {"rel": "via", "href": "../ROIs1158_spring/0/catalog.json", "type": "application/json"},
    {"rel": "parent", "href": "../catalog.json"},
    {"rel": "cite-as", "href": "https://doi.org/10.5194/isprs-annals-IV-1-141-2018"},
]


@pytest.mark.parametrize("method,path,root_path,prefix,host", [
    ("POST", "/search", "", "", b"127.0.0.1:8081"),
    ("GET", "/collections/c/items", "", "", b"localhost:9000"),
    ("GET", "/api/search", "/api", "", b"example.org"),
    ("POST", "/stac/search", "", "/stac", b"127.0.0.1:8081"),
])
@pytest.mark.parametrize("extra", [None, [], EXTRA])
def test_item_links_are_stac_fastapi_pgstacs(method, path, root_path, prefix, host, extra):
    from stac_fastapi.pgstac.models.links import ItemLinks

    from sen12stac.api.client import LinkMaker, item_links
    from stac_fastapi.types.requests import get_base_url

    request = _request(method, path, root_path, prefix, host)
    maker = LinkMaker(get_base_url(request))
    for coll, iid in [("ROIs1158_spring", "ROIs1158_spring_0_p1"), ("ROIs2017_winter", "ROIs2017_winter_7_p207"), ("ROIs1158_spring", "ROIs1158_spring_0_p2")]:
        theirs = asyncio.run(ItemLinks(collection_id=coll, item_id=iid, request=request).get_links(extra_links=extra))
        assert maker.item_links(coll, iid, extra) == theirs
        assert item_links(request, coll, iid, extra) == theirs
