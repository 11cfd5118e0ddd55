"""Response hardening and the request body limit, applied to every route.

The Content-Security-Policy allows only this server's own scripts and styles
(the docs pages' vendored Swagger UI and Redoc included); inline styles and
blob: workers are allowed because Redoc injects its CSS at run time and runs
its search index in a worker. Nothing is loaded from a CDN.

Bodies: `client_max_size` makes aiohttp refuse an oversized body when a handler
reads it; the middleware also refuses a declared Content-Length over the limit
before any handler runs, so even routes that never read a body answer 413.
"""

from __future__ import annotations

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from trafficmon.web.errors import json_error

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


@web.middleware
async def security_headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if not response.prepared:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.path.startswith("/static/"):
            response.headers.setdefault(hdrs.CACHE_CONTROL, "no-store")
    return response


def body_limit_middleware(max_bytes: int) -> Middleware:
    @web.middleware
    async def body_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        length = request.content_length
        if length is not None and length > max_bytes:
            return json_error(413, f"request body of {length} bytes is over the limit of {max_bytes} bytes")
        return await handler(request)

    return body_limit
