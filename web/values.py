"""What a good listening host, user name, API token, CORS origin and RUN_AS is.

These are the service's rules of the domain that the settings table's kinds
cannot say; each is a `check` of one setting of `web.config.ServiceConfig`,
given the value already converted to its kind and returning it normalised, or
raising ValueError saying what a good value looks like.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from trafficmon.web.security.credentials import token_problem

_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_ACCOUNT = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")


def host(value: str | None) -> str:
    """An IP address (normalised) or a host name to bind to."""
    value = value or ""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if not _HOSTNAME.fullmatch(value):
        raise ValueError("expected an IP address or a host name")
    return value


def user_name(value: str | None) -> str:
    """Basic auth puts user and password on one line split at the first colon."""
    if not value or ":" in value:
        raise ValueError("must be non-empty, without ':' or control characters")
    return value


def run_as(value: str | None) -> str | None:
    """A system account's name (whether it exists is looked up at start, where it is used)."""
    if value is not None and not _ACCOUNT.fullmatch(value):
        raise ValueError("expected a user name like trafficmon or nobody")
    return value


def tokens(given: tuple[str, ...]) -> tuple[str, ...]:
    """API tokens, each checked; never echoed, as they are secrets."""
    for number, token in enumerate(given, 1):
        problem = token_problem(token)
        if problem:
            raise ValueError(f"token {number} of {len(given)} {problem}")
    return given


def is_loopback(name: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: addresses only this machine can reach."""
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def origins(given: tuple[str, ...]) -> tuple[str, ...]:
    """scheme://host[:port] origins; '*' is refused because auth is on.

    Normalised the way browsers send `Origin` (lower-case host, no default port),
    so a plain string comparison decides.
    """
    result = []
    for item in given:
        if item == "*":
            raise ValueError("'*' is not allowed with authentication; list the origins")
        parts = urlsplit(item)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{item!r} is not an origin like https://example.org:8443")
        if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
            raise ValueError(f"{item!r} must be scheme://host[:port] only")
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"{item!r} has a bad port") from None
        name = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        if port is None or port == _DEFAULT_PORTS[parts.scheme]:
            result.append(f"{parts.scheme}://{name}")
        else:
            result.append(f"{parts.scheme}://{name}:{port}")
    return tuple(dict.fromkeys(result))
