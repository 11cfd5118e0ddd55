"""HTTP basic auth on every route but /health (and /metrics when METRICS_PUBLIC).

The header is parsed here rather than by a library so that a malformed one is
simply "not authenticated", and both fields are compared with
`hmac.compare_digest` — each of them, always — so timing says nothing about
which part was wrong. The WebSocket handshake is an ordinary GET and is covered
the same way. Wrong guesses are rate-limited per client address
(`web.throttle`).
"""

from __future__ import annotations

import base64
import binascii
import hmac

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from web.config import ServiceConfig
from web.credentials import Credentials
from web.errors import json_error
from web.throttle import LoginThrottle

REALM = "trafficmon"
CHALLENGE = {"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'}


def parse_basic(header: str | None) -> tuple[bytes, bytes] | None:
    """(user, password) as bytes from `Authorization: Basic …`, or None if absent/malformed."""
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(b":")
    if not colon:
        return None
    return user, password


def credentials_match(given: tuple[bytes, bytes] | None, expected: Credentials) -> bool:
    if given is None:
        return False
    user_ok = hmac.compare_digest(given[0], expected.user.encode())
    password_ok = hmac.compare_digest(given[1], expected.password.encode())
    return user_ok & password_ok


def public_paths(config: ServiceConfig) -> frozenset[str]:
    return frozenset({"/health", "/metrics"} if config.metrics_public else {"/health"})


def auth_middleware(config: ServiceConfig, credentials: Credentials) -> Middleware:
    open_paths = public_paths(config)
    throttle = LoginThrottle(config.auth_max_failures, config.auth_lockout)

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in open_paths:
            return await handler(request)
        address = request.remote or ""
        wait = throttle.retry_after(address)
        if wait:
            return json_error(
                429, f"too many failed logins from {address}; try again in {wait} s", {"Retry-After": str(wait)}
            )
        given = parse_basic(request.headers.get(hdrs.AUTHORIZATION))
        if not credentials_match(given, credentials):
            if given is not None:
                throttle.failed(address)
            message = "authentication required" if given is None else "wrong user or password"
            return json_error(401, message, CHALLENGE)
        throttle.succeeded(address)
        return await handler(request)

    return authenticate
