"""The two vendored bundles over a megabyte (Swagger UI, ReDoc), kept gzipped and served as such.

Stored plain they are 1.7 and 1.1 MB, and aiohttp's static files go out
uncompressed: every visit to /docs or /redoc would send 2.8 MB from a server
whose outbound traffic may be capped. Stored as `.js.gz` (`gzip -9n` of the
upstream file; LICENSE and VERSION beside it) they are 0.46 and 0.33 MB,
sent as they are to every client that accepts gzip (every browser) and
inflated for one that does not. Their URL carries the bundle's VERSION, the
way `add_static(append_version=True)` versions the other assets.
"""

from __future__ import annotations

import functools
import gzip
from pathlib import Path

from aiohttp import hdrs, web

VENDOR_DIR = Path(__file__).parents[1] / "static" / "vendor"
BUNDLES = ("swagger-ui/swagger-ui-bundle", "redoc/redoc.standalone")
ROUTE = "bundle"

routes = web.RouteTableDef()


@functools.cache
def _compressed(bundle: str) -> bytes:
    return (VENDOR_DIR / f"{bundle}.js.gz").read_bytes()


@functools.cache
def _version(bundle: str) -> str:
    return (VENDOR_DIR / bundle.split("/")[0] / "VERSION").read_text().strip()


def bundle_url(app: web.Application, bundle: str) -> str:
    """The bundle's URL with its version, for templates."""
    return str(app.router[ROUTE].url_for(bundle=bundle).with_query(v=_version(bundle)))


@routes.get("/static/vendor/{bundle:" + "|".join(BUNDLES) + "}.js", name=ROUTE)
async def bundle(request: web.Request) -> web.Response:
    name = request.match_info["bundle"]
    body = _compressed(name)
    headers = {hdrs.VARY: hdrs.ACCEPT_ENCODING}
    if "gzip" in request.headers.get(hdrs.ACCEPT_ENCODING, "").lower():
        headers[hdrs.CONTENT_ENCODING] = "gzip"
    else:
        body = gzip.decompress(body)
    return web.Response(body=body, content_type="text/javascript", charset="utf-8", headers=headers)
