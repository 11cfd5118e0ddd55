"""Pages for people (/, /docs, /redoc) and the OpenAPI document they are built from.

`GET /` serves HTML only to a client that asks for text/html explicitly (a
browser) and at least as much as JSON; everything else — curl's `*/*`,
scripts — gets the API description as JSON, as the seed API did.
"""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import hdrs, web

from web.keys import OPENAPI_KEY
from web.openapi import describe

routes = web.RouteTableDef()


def _quality(accept: str, wanted: str) -> float:
    """The q-value `accept` gives to exactly `wanted` (0 when it is not named)."""
    best = 0.0
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        if media.lower() != wanted:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        best = max(best, q)
    return best


def wants_html(accept: str) -> bool:
    html = _quality(accept, "text/html")
    return html > 0 and html >= _quality(accept, "application/json")


@routes.get("/", name="index")
async def index(request: web.Request) -> web.StreamResponse:
    if wants_html(request.headers.get(hdrs.ACCEPT, "")):
        response = aiohttp_jinja2.render_template("index.html", request, {})
    else:
        response = web.json_response(describe(request.app[OPENAPI_KEY]))
    response.headers[hdrs.VARY] = hdrs.ACCEPT
    return response


@routes.get("/docs", name="docs")
@aiohttp_jinja2.template("docs.html")
async def docs(request: web.Request) -> dict[str, str]:
    return {"title": request.app[OPENAPI_KEY]["info"]["title"]}


@routes.get("/redoc", name="redoc")
@aiohttp_jinja2.template("redoc.html")
async def redoc(request: web.Request) -> dict[str, str]:
    return {"title": request.app[OPENAPI_KEY]["info"]["title"]}


@routes.get("/openapi.json", name="openapi_json")
async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI_KEY])
