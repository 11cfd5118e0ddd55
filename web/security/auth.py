"""Authentication on every route but /health (and /metrics when METRICS_PUBLIC): basic auth or an API token.

People log in with basic auth; programs send an API token as
`Authorization: Bearer <token>`. A browser page cannot put an Authorization
header on a WebSocket, so the handshake may carry the token as a subprotocol
instead: the page offers `["trafficmon", "bearer.<token>"]` and the server
selects "trafficmon" (`web.live.endpoint`), the only way such a page can send it without
putting it in a URL, where logs and histories keep it. The token is never
logged: `web.live.endpoint` refuses, before aiohttp could log the offer, a handshake that
carries one without offering "trafficmon".

Headers are parsed here rather than by a library so that a malformed one is
simply "not authenticated". Secrets are compared with `hmac.compare_digest` —
both basic-auth fields, always, and every token (as SHA-256 digests, so
neither their lengths nor which one matched shows in the timing). Wrong
passwords and wrong tokens are rate-limited alike per client address and per
user name (`web.security.login_throttle`); absent or malformed credentials are not counted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable, Iterable

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from trafficmon.web.config import ServiceConfig
from trafficmon.web.errors import json_error
from trafficmon.web.security.credentials import Credentials
from trafficmon.web.security.login_throttle import TOKEN_USER, LoginThrottle

REALM = "trafficmon"
CHALLENGE = {"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'}
SUBPROTOCOL = "trafficmon"
"""The WebSocket subprotocol the server selects for clients that offer it."""
TOKEN_PROTOCOL_PREFIX = "bearer."
"""An offered subprotocol `bearer.<token>` carries an API token (browsers' cross-origin WebSockets)."""


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


def parse_bearer(header: str | None) -> str | None:
    """The token of `Authorization: Bearer <token>`, or None if absent/malformed."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


def offered_subprotocols(request: web.Request) -> list[str]:
    """The subprotocols a WebSocket handshake offers, in its order."""
    header = request.headers.get(hdrs.SEC_WEBSOCKET_PROTOCOL, "")
    return [item.strip() for item in header.split(",") if item.strip()]


def subprotocol_token(offered: Iterable[str]) -> str | None:
    """The API token offered as `bearer.<token>`, or None."""
    for item in offered:
        if item.startswith(TOKEN_PROTOCOL_PREFIX):
            return item[len(TOKEN_PROTOCOL_PREFIX):]
    return None


def credentials_match(given: tuple[bytes, bytes] | None, expected: Credentials) -> bool:
    if given is None:
        return False
    user_ok = hmac.compare_digest(given[0], expected.user.encode())
    password_ok = hmac.compare_digest(given[1], expected.password.encode())
    return user_ok & password_ok


def token_matches(given: str, tokens: Iterable[str]) -> bool:
    """Whether `given` is one of `tokens`, every one compared whatever the outcome."""
    digest = hashlib.sha256(given.encode()).digest()
    found = False
    for token in tokens:
        found |= hmac.compare_digest(digest, hashlib.sha256(token.encode()).digest())
    return found


def _is_websocket(request: web.Request) -> bool:
    return request.headers.get(hdrs.UPGRADE, "").lower() == "websocket"


def check(request: web.Request, credentials: Credentials) -> tuple[bool | None, str]:
    """(True: let in; False: wrong credentials, to be counted; None: none or malformed), and the refusal."""
    header = request.headers.get(hdrs.AUTHORIZATION)
    if header is not None:
        scheme = header.strip().partition(" ")[0].lower()
        if scheme == "basic":
            given = parse_basic(header)
            if given is None:
                return None, "authentication required"
            return credentials_match(given, credentials), "wrong user or password"
        if scheme == "bearer":
            token = parse_bearer(header)
            if token is None:
                return None, "authentication required"
            return token_matches(token, credentials.tokens), "wrong token"
        return None, "authentication required"
    if _is_websocket(request):
        token = subprotocol_token(offered_subprotocols(request))
        if token:
            return token_matches(token, credentials.tokens), "wrong token"
    return None, "authentication required"


MAX_USER_CHARS = 256
"""A claimed user name is counted by at most this much of it (the table must stay small)."""


def claimed_user(request: web.Request) -> str | None:
    """The name the request logs in as, for counting its failures; None without credentials.

    API tokens have no name: they are counted together under TOKEN_USER.
    """
    header = request.headers.get(hdrs.AUTHORIZATION)
    if header is not None:
        given = parse_basic(header)
        if given is not None:
            return given[0].decode("utf-8", "backslashreplace")[:MAX_USER_CHARS]
        return TOKEN_USER if parse_bearer(header) is not None else None
    if _is_websocket(request) and subprotocol_token(offered_subprotocols(request)):
        return TOKEN_USER
    return None


def public_paths(config: ServiceConfig) -> frozenset[str]:
    return frozenset({"/health", "/metrics"} if config.metrics_public else {"/health"})


def auth_middleware(config: ServiceConfig, credentials: Credentials,
                    monotonic: Callable[[], float] = time.monotonic) -> Middleware:
    open_paths = public_paths(config)
    throttle = LoginThrottle(config.auth_max_failures, config.auth_lockout, clock=monotonic)

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in open_paths:
            return await handler(request)
        address = request.remote or ""
        user = claimed_user(request)
        wait, locked = throttle.retry_after(address, user)
        if wait:
            return json_error(
                429, f"too many failed logins {locked}; try again in {wait} s", {"Retry-After": str(wait)}
            )
        allowed, refusal = check(request, credentials)
        if not allowed:
            if allowed is False and user is not None:
                throttle.failed(address, user)
            return json_error(401, refusal, CHALLENGE)
        if user is not None:
            throttle.succeeded(address, user)
        return await handler(request)

    return authenticate
