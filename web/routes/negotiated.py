"""Paths that are a page for a browser and JSON for a program, served by two route tables.

Seed B answered `GET /daily` and `GET /config` with JSON; the dashboard has its
pages at the same paths (`web.routes.pages`). Rather than one handler knowing both,
the JSON side registers a resource that only matches requests that do not
prefer HTML — the rule `GET /` follows, `web.routes.pages.wants_html` — ahead of the
page. A browser's request falls through to the page registered after it; curl,
scripts and `Accept: application/json` get JSON.
"""

from __future__ import annotations

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from aiohttp.web_urldispatcher import PlainResource, UrlMappingMatchInfo

from trafficmon.web.routes.pages import wants_html


class ProgramResource(PlainResource):
    """A plain path that a request preferring HTML passes by, as if it were not there."""

    async def resolve(self, request: web.Request) -> tuple[UrlMappingMatchInfo | None, set[str]]:
        if wants_html(request.headers.get(hdrs.ACCEPT, "")):
            return None, set()
        return await super().resolve(request)


def add_program_get(app: web.Application, path: str, handler: Handler, name: str) -> None:
    """Serve `GET path` (and HEAD) to programs; register it before the page of the same path."""
    resource = ProgramResource(path, name=name)
    app.router.register_resource(resource)
    resource.add_route(hdrs.METH_GET, handler)
    resource.add_route(hdrs.METH_HEAD, handler)
