"""The service's configuration: its settings, and the three configurations' table.

The settings table is the fields of three configurations, each declared where
it is used: `ServiceConfig` here (the web service's own), `EngineConfig`
(capture) and `AccountingConfig` (state); `trafficmon.settings` gives the one
`Setting` type and coercer they share. The environment variable is the setting's
(the seeds' names are kept) and the flag is derived from it. `INTERFACES` is one
setting of two configurations: a capture list given also restricts the
interfaces whose counters are accounted.

Each configuration checks itself whole and reports every bad value at once;
`web.config_load` reads the values from where they are given and names each
bad one by where it came from, on one line (`ConfigError`), so a typo never
leaves a half-started root process behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from trafficmon.capture import EngineConfig
from trafficmon.settings import Problem, Setting, setting, table, validate
from trafficmon.state import AccountingConfig
from trafficmon.web import values

MIB = 1024 * 1024


class ConfigError(ValueError):
    """A setting has a bad value; the message is one line naming it."""


SERVICE_ENGINE = EngineConfig(resolve_names=True)
"""The capture engine as the service runs it unless told otherwise."""


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """Everything the service runs with, validated as a whole.

    `engine` is handed to the capture engine and `accounting` to the
    accountant as they are; the other fields are the web service's own.
    `monitor_pass` None means "generate one and store it in
    `accounting.data_dir`" (see `web.security.credentials`), and so do no
    `api_tokens`. `auth` "none" asks no credentials at all (loopback only).
    """

    host: str = setting("127.0.0.1", "HOST", "text", "address to listen on", check=values.host)
    port: int = setting(8080, "PORT", "int", "TCP port to listen on (0: any free)", low=0, high=65535)
    cors_origins: tuple[str, ...] = setting(
        (), "CORS_ORIGINS", "names", "comma-separated origins allowed to call the API from a browser",
        check=values.origins,
    )
    auth: str = setting(
        "basic", "AUTH", "text",
        "basic: every page, API call and the WebSocket need basic auth or an API token; none: no "
        "credentials at all, accepted only when HOST is a loopback address",
        choices=("basic", "none"),
    )
    monitor_user: str = setting(
        "admin", "MONITOR_USER", "text", "basic auth user", check=values.user_name
    )
    monitor_pass: str | None = setting(
        None, "MONITOR_PASS", "text",
        "basic auth password (unset: generated once and stored in DATA_DIR); prefer the "
        "environment, as command lines are visible to other users",
        secret=True,
    )
    api_tokens: tuple[str, ...] = setting(
        (), "API_TOKENS", "names",
        "comma-separated API tokens for programs (Authorization: Bearer), each at least 16 "
        "HTTP token characters, e.g. letters, digits and -._~ (unset: one generated once and "
        "stored in DATA_DIR); prefer the environment",
        check=values.tokens, secret=True,
    )
    run_as: str | None = setting(
        None, "RUN_AS", "text",
        "user the service becomes once its capture sockets are open, when started as root "
        "(unset: trafficmon if that user exists, else nobody; root: stay root); DATA_DIR becomes its",
        check=values.run_as,
    )
    metrics_public: bool = setting(
        False, "METRICS_PUBLIC", "bool", "serve /metrics without authentication"
    )
    log_level: str = setting(
        "INFO", "LOG_LEVEL", "text", "DEBUG, INFO, WARNING or ERROR",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
    )
    log_format: str = setting(
        "text", "LOG_FORMAT", "text",
        "text: one line a record on stderr; json: one JSON object a line (time, level, logger, message)",
        choices=("text", "json"),
    )
    access_log: bool = setting(
        False, "ACCESS_LOG", "bool",
        "log one line a request (client, method, path, status, bytes, time; never a credential) to the "
        "trafficmon.access logger",
    )
    max_body_bytes: int = setting(
        MIB, "MAX_BODY_BYTES", "int", "largest request body accepted",
        unit="B", low=1024, high=64 * MIB,
    )
    max_connections_limit: int = setting(
        10_000, "MAX_CONNECTIONS_LIMIT", "int",
        "most items a list endpoint returns (its `limit` default and maximum)",
        low=1, high=10_000_000,
    )
    ws_max_msg_size: int = setting(
        64 * 1024, "WS_MAX_MSG_SIZE", "int", "largest WebSocket message accepted from a client",
        unit="B", low=1024, high=16 * MIB,
    )
    ws_queue: int = setting(
        16, "WS_QUEUE", "int",
        "replies and alerts queued per WebSocket client; its messages wait while it is full, "
        "and a client that leaves it full for WS_SEND_TIMEOUT is dropped as too slow",
        low=1, high=10_000,
    )
    ws_heartbeat: float = setting(
        5.0, "WS_HEARTBEAT", "float",
        "seconds a WebSocket client may stay silent before it is pinged; one that does not answer "
        "within half of that (a dead peer, or one that does not read) is closed",
        unit="s", low=1, high=3600,
    )
    ws_send_timeout: float = setting(
        10.0, "WS_SEND_TIMEOUT", "float",
        "seconds one send may stall before the client is closed as too slow",
        unit="s", low=0.1, high=3600,
    )
    ws_max_clients: int = setting(
        500, "WS_MAX_CLIENTS", "int",
        "WebSocket clients served at once; when full, one stalled a tick or more is evicted "
        "before a new one is refused",
        low=1, high=100_000,
    )
    ws_max_connections: int = setting(
        1000, "WS_MAX_CONNECTIONS", "int",
        "connections per WebSocket message; beyond, only the busiest are sent",
        low=1, high=1_000_000,
    )
    ws_sndbuf: int = setting(
        256 * 1024, "WS_SNDBUF", "int",
        "kernel send buffer per WebSocket client, so a slow reader is noticed within "
        "about this much data (0: kernel autotuning, up to several MiB)",
        unit="B", low=0, high=64 * MIB,
    )
    ws_compress: bool = setting(
        True, "WS_COMPRESS", "bool",
        "compress WebSocket messages (permessage-deflate) for clients that offer it: "
        "about a tenth of the bytes, for about 0.5-2 ms of CPU per client per tick",
    )
    auth_max_failures: int = setting(
        10, "AUTH_MAX_FAILURES", "int",
        "wrong logins from one address, or at one user name, within AUTH_LOCKOUT before it is "
        "refused (429)",
        low=1, high=1_000_000,
    )
    auth_lockout: float = setting(
        60.0, "AUTH_LOCKOUT", "float",
        "seconds over which wrong logins are counted, and the longest an address waits",
        unit="s", low=1, high=86_400,
    )
    metrics_top_processes: int = setting(
        10, "METRICS_TOP_PROCESSES", "int",
        "processes named in /metrics; the rest are summed as process=\"other\"",
        low=0, high=1000,
    )
    engine: EngineConfig = field(default_factory=lambda: SERVICE_ENGINE)
    accounting: AccountingConfig = field(default_factory=AccountingConfig)

    def __post_init__(self) -> None:
        validate(self, _rules)


def _rules(config: ServiceConfig) -> Iterator[Problem]:
    """Rules between the service's settings and the engine's."""
    if config.auth == "none" and not values.is_loopback(config.host):
        yield (
            "auth",
            f"is accepted only when HOST is a loopback address (127.0.0.1, ::1 or "
            f"localhost), not {config.host}: anyone who reaches it could read and change the state",
        )
    if config.ws_send_timeout < config.engine.update_interval:
        yield (
            "ws_send_timeout",
            f"must be at least UPDATE_INTERVAL ({config.engine.update_interval:g}), or every "
            "client would be dropped as too slow",
        )


SECTIONS: tuple[tuple[str, type], ...] = (
    ("service", ServiceConfig),
    ("engine", EngineConfig),
    ("accounting", AccountingConfig),
)
"""The three configurations and the attribute of `ServiceConfig` each is (the service: itself)."""


def options() -> tuple[tuple[str, Setting], ...]:
    """Every setting once with its section, by variable (INTERFACES: the engine's, also the accounting's)."""
    seen: dict[str, tuple[str, Setting]] = {}
    for name, section in SECTIONS:
        for entry in table(section):
            seen.setdefault(entry.env, (name, entry))
    return tuple(seen.values())


def section_of(config: ServiceConfig, section: str) -> Any:
    """One of the three configurations within a service configuration."""
    return config if section == "service" else getattr(config, section)
