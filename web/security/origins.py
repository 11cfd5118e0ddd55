"""Which browser origins may use the API: CORS for the listed ones, CSRF refusal for the rest.

Both middlewares decide from the same rule: a request's `Origin` is trusted
when it is this server itself (same host and port as the request's `Host`) or
one of `CORS_ORIGINS`.

CORS: listed origins get `Access-Control-Allow-Origin` (credentials allowed,
because the API needs basic auth); a preflight from any other origin is
refused with 403. Unlisted origins simply get no CORS headers.

CSRF: basic-auth credentials are replayed by the browser on cross-site
requests, so a state-changing request (POST, PUT, PATCH, DELETE) or a
WebSocket handshake from a browser must come from a trusted origin. Browsers
always send `Origin` on those (or at least `Sec-Fetch-Site` / `Referer`);
requests with none of the three come from scripts and tools, which a
cross-site page cannot forge, and pass.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from trafficmon.web.errors import json_error

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
ALLOWED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type"
PREFLIGHT_MAX_AGE = "600"


def same_host(origin: str, request: web.Request) -> bool:
    """True when `origin` names the host:port the request was sent to.

    The scheme is not compared: behind a TLS-terminating proxy the browser says
    https while this server sees http.
    """
    parts = urlsplit(origin)
    return bool(parts.netloc) and parts.netloc.lower() == request.host.lower()


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else "null"


def cors_middleware(allowed: tuple[str, ...]) -> Middleware:
    allowed_set = frozenset(allowed)

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get(hdrs.ORIGIN)
        is_preflight = (
            request.method == "OPTIONS"
            and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers
            and not isinstance(request.match_info.http_exception, web.HTTPNotFound)
        )
        if is_preflight and origin is not None:
            if origin not in allowed_set:
                return json_error(403, f"origin {origin[:200]} is not allowed (CORS_ORIGINS)")
            response: web.StreamResponse = web.Response(status=204)
            response.headers.update(
                {
                    hdrs.ACCESS_CONTROL_ALLOW_METHODS: ALLOWED_METHODS,
                    hdrs.ACCESS_CONTROL_ALLOW_HEADERS: ALLOWED_HEADERS,
                    hdrs.ACCESS_CONTROL_MAX_AGE: PREFLIGHT_MAX_AGE,
                }
            )
        else:
            response = await handler(request)
        if origin is not None and origin in allowed_set and not response.prepared:
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_CREDENTIALS] = "true"
        if allowed_set and not response.prepared:
            response.headers.add(hdrs.VARY, hdrs.ORIGIN)
        return response

    return cors


def csrf_middleware(allowed: tuple[str, ...]) -> Middleware:
    allowed_set = frozenset(allowed)

    def trusted(origin: str, request: web.Request) -> bool:
        return origin in allowed_set or same_host(origin, request)

    @web.middleware
    async def csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
        upgrade = request.headers.get(hdrs.UPGRADE, "").lower() == "websocket"
        if request.method in SAFE_METHODS and not upgrade:
            return await handler(request)
        origin = request.headers.get(hdrs.ORIGIN)
        referer = request.headers.get(hdrs.REFERER)
        fetch_site = request.headers.get("Sec-Fetch-Site")
        if origin is not None:
            source = origin
        elif referer is not None:
            source = _origin_of(referer)
        elif fetch_site is not None:
            source = "" if fetch_site in ("same-origin", "none") else fetch_site
        else:
            return await handler(request)
        if source and not trusted(source, request):
            return json_error(
                403, f"cross-site request refused: {source[:200]} is not this server or in CORS_ORIGINS"
            )
        return await handler(request)

    return csrf
