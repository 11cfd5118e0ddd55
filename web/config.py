"""The service's configuration: CLI flags over environment variables over defaults.

Every setting is one row of `SETTINGS`: the environment variable (the seeds'
names are kept), the `--flag` derived from it, the field it fills and a parser
that says what a good value is. Defaults are not repeated here: they are the
field defaults of `ServiceConfig` and, for capture, of `SERVICE_ENGINE`: the
engine's own defaults (it keeps owning its safe bounds) with what the service
turns on that the engine alone leaves off (reverse-DNS names).

Everything is parsed and validated before anything starts, and every problem is
reported on one line (`ConfigError`), so a typo never leaves a half-started
root process behind.

Accounting settings (the cap, billing period, thresholds, time zone, DATA_DIR…)
belong to `state`, which declares them on `AccountingConfig` and parses them
itself: the environment through `AccountingConfig.from_env`, then the flags
given on top through `AccountingConfig.updated`. This module only derives one
`--flag` per setting `AccountingConfig.describe()` lists and reports its
problems on the same line as everyone else's. `INTERFACES` is one setting for
both: a capture list given also restricts the interfaces whose counters are
accounted.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any, Literal, NoReturn
from urllib.parse import urlsplit

from trafficmon.capture import EngineConfig
from trafficmon.state import AccountingConfig, ValidationError
from trafficmon.web.security.credentials import token_problem

Section = Literal["service", "engine"]


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

    host: str = "127.0.0.1"
    port: int = 8080
    cors_origins: tuple[str, ...] = ()
    auth: str = "basic"
    monitor_user: str = "admin"
    monitor_pass: str | None = field(default=None, repr=False)
    api_tokens: tuple[str, ...] = field(default=(), repr=False)
    metrics_public: bool = False
    log_level: str = "INFO"
    max_body_bytes: int = 1024 * 1024
    max_connections_limit: int = 10_000
    ws_max_msg_size: int = 64 * 1024
    ws_queue: int = 16
    ws_heartbeat: float = 5.0
    ws_send_timeout: float = 10.0
    ws_max_clients: int = 500
    ws_max_connections: int = 1000
    ws_sndbuf: int = 256 * 1024
    ws_compress: bool = True
    auth_max_failures: int = 10
    auth_lockout: float = 60.0
    metrics_top_processes: int = 10
    engine: EngineConfig = field(default_factory=lambda: SERVICE_ENGINE)
    accounting: AccountingConfig = field(default_factory=AccountingConfig)


# Value parsers: each takes the raw string and returns the typed value or raises
# ValueError with what a good value looks like.


def integer(low: int, high: int) -> Callable[[str], int]:
    """An integer within [low, high]; hex or other bases are refused on purpose."""

    def parse(raw: str) -> int:
        if not re.fullmatch(r"[+-]?\d+", raw.strip()):
            raise ValueError(f"expected a whole number between {low} and {high}")
        value = int(raw)
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return parse


def number(low: float, high: float, *, allow_low: bool = True) -> Callable[[str], float]:
    """A finite decimal number within the range (`allow_low=False`: strictly above `low`)."""

    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError("expected a number") from None
        if not math.isfinite(value):
            raise ValueError("expected a finite number")
        too_low = value < low if allow_low else value <= low
        if too_low or value > high:
            bound = "at least" if allow_low else "more than"
            raise ValueError(f"must be {bound} {low:g} and at most {high:g}")
        return value

    return parse


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError("expected one of 1/0, true/false, yes/no, on/off")


_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*")


def host(raw: str) -> str:
    """An IP address or a host name to bind to."""
    value = raw.strip()
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if not _HOSTNAME.fullmatch(value):
        raise ValueError("expected an IP address or a host name")
    return value


def user_name(raw: str) -> str:
    """Basic auth puts user and password on one line split at the first colon."""
    if raw == "" or ":" in raw or any(ord(c) < 32 for c in raw):
        raise ValueError("must be non-empty, without ':' or control characters")
    return raw


def password(raw: str) -> str | None:
    """An empty password counts as unset: one is generated rather than accepting none."""
    if raw == "":
        return None
    if any(ord(c) < 32 for c in raw):
        raise ValueError("must not contain control characters")
    return raw


AUTH_MODES = ("basic", "none")


def auth_mode(raw: str) -> str:
    value = raw.strip().lower()
    if value not in AUTH_MODES:
        raise ValueError("expected basic (basic auth and API tokens) or none (no credentials; loopback only)")
    return value


def tokens(raw: str) -> tuple[str, ...]:
    """Comma-separated API tokens; empty means unset (one is generated). Never echoed: they are secrets."""
    given = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
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


_DEFAULT_PORTS = {"http": 80, "https": 443}


def origins(raw: str) -> tuple[str, ...]:
    """Comma-separated scheme://host[:port] origins; '*' is refused because auth is on.

    Normalised the way browsers send `Origin` (lower-case host, no default port),
    so a plain string comparison decides.
    """
    result = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
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


_IFNAME = re.compile(r"[^\s/:]{1,15}")


def interfaces(raw: str) -> tuple[str, ...]:
    """Comma-separated interface names (Linux: at most 15 bytes, no '/', ':' or spaces)."""
    names = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    for name in names:
        if not _IFNAME.fullmatch(name):
            raise ValueError(f"{name!r} is not an interface name")
    return names


def text(max_length: int) -> Callable[[str], str | None]:
    """Free text (a BPF filter, a namespace name); empty means unset."""

    def parse(raw: str) -> str | None:
        value = raw.strip()
        if len(value) > max_length:
            raise ValueError(f"longer than {max_length} characters")
        if any(ord(c) < 32 for c in value):
            raise ValueError("must not contain control characters")
        return value or None

    return parse


def log_level(raw: str) -> str:
    value = raw.strip().upper()
    if value not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError("expected DEBUG, INFO, WARNING or ERROR")
    return value


def flag_for(env: str) -> str:
    """The command-line flag of an environment variable: UPDATE_INTERVAL -> --update-interval."""
    return "--" + env.lower().replace("_", "-")


@dataclass(frozen=True, slots=True)
class Setting:
    """One configurable value: where it is read from and what it may be."""

    env: str
    section: Section
    name: str
    parse: Callable[[str], Any]
    help: str
    secret: bool = False
    """A bad value is reported without being echoed."""

    @property
    def flag(self) -> str:
        return flag_for(self.env)

    @property
    def is_bool(self) -> bool:
        return self.parse is boolean


MIB = 1024 * 1024

SETTINGS: tuple[Setting, ...] = (
    Setting("HOST", "service", "host", host, "address to listen on"),
    Setting("PORT", "service", "port", integer(0, 65535), "TCP port to listen on (0: any free)"),
    Setting("UPDATE_INTERVAL", "engine", "update_interval", number(0.05, 3600),
            "seconds between ticks (snapshots, WebSocket updates)"),
    Setting("HISTORY_LENGTH", "engine", "history_length", integer(1, 1_000_000),
            "seconds of live bandwidth history kept (one point per tick)"),
    Setting("CORS_ORIGINS", "service", "cors_origins", origins,
            "comma-separated origins allowed to call the API from a browser"),
    Setting("AUTH", "service", "auth", auth_mode,
            "basic: every page, API call and the WebSocket need basic auth or an API token; none: no "
            "credentials at all, accepted only when HOST is a loopback address"),
    Setting("MONITOR_USER", "service", "monitor_user", user_name, "basic auth user"),
    Setting("MONITOR_PASS", "service", "monitor_pass", password,
            "basic auth password (unset: generated once and stored in DATA_DIR); prefer the "
            "environment, as command lines are visible to other users", secret=True),
    Setting("API_TOKENS", "service", "api_tokens", tokens,
            "comma-separated API tokens for programs (Authorization: Bearer), each at least 16 "
            "HTTP token characters, e.g. letters, digits and -._~ (unset: one generated once and stored in DATA_DIR); prefer "
            "the environment", secret=True),
    Setting("METRICS_PUBLIC", "service", "metrics_public", boolean,
            "serve /metrics without authentication"),
    Setting("AUTH_MAX_FAILURES", "service", "auth_max_failures", integer(1, 1_000_000),
            "wrong logins from one address, or at one user name, within AUTH_LOCKOUT before it is refused (429)"),
    Setting("AUTH_LOCKOUT", "service", "auth_lockout", number(1, 86_400),
            "seconds over which wrong logins are counted, and the longest an address waits"),
    Setting("LOG_LEVEL", "service", "log_level", log_level, "DEBUG, INFO, WARNING or ERROR"),
    Setting("INTERFACES", "engine", "interfaces", interfaces,
            "comma-separated interfaces to capture, and whose kernel counters are accounted "
            "(unset: capture every up, non-loopback one but container plumbing - bridges, and veths "
            "that are a bridge's port or carry no default route - and account the device-backed ones)"),
    Setting("SPEED_WINDOW", "engine", "speed_window", number(0.05, 3600),
            "seconds over which every speed is averaged; bursts up to a fifth of it read steady"),
    Setting("AVERAGE_WINDOW", "engine", "average_window", number(0.05, 3600),
            "seconds of the second, longer average of the processes', interfaces' and totals' speeds "
            "(average_* fields, the dashboard's \"last minute\"); connections have only SPEED_WINDOW's"),
    Setting("LINGER", "engine", "linger", number(0, 86_400),
            "seconds a closed connection stays listed"),
    Setting("IDLE_TIMEOUT", "engine", "idle_timeout", number(0.1, 86_400),
            "seconds without a packet after which a flow with no close of its own (UDP, ICMP) ends"),
    Setting("SNAPLEN", "engine", "snaplen", integer(64, 65_535), "bytes captured per frame"),
    Setting("CAPTURE_FILTER", "engine", "capture_filter", text(4096),
            "BPF filter expression (needs libpcap)"),
    Setting("NETNS", "engine", "netns", text(4096),
            "network namespace to capture in (ip netns name or /proc/PID/ns/net)"),
    Setting("MAX_FLOWS", "engine", "max_flows", integer(1, 10_000_000),
            "distinct flows one tick adds up at most; beyond, that tick's new flows share one per protocol"),
    Setting("FLOW_MEMORY_BYTES", "engine", "flow_memory_bytes", integer(MIB, 64 * 1024 * MIB),
            "memory the flow table may use (about 3.2 kB a flow); beyond, the closed, then the least active "
            "flows are folded into their process and unknown totals, no byte lost"),
    Setting("RCVBUF_BYTES", "engine", "rcvbuf_bytes", integer(65_536, 1024 * MIB),
            "kernel receive buffer per capture socket"),
    Setting("RESOLVE_NAMES", "engine", "resolve_names", boolean,
            "look up the remote addresses' reverse-DNS names (system resolver, in the background, cached)"),
    Setting("RESOLVE_WORKERS", "engine", "resolve_workers", integer(1, 64),
            "reverse-DNS look-ups in flight at once (each holds a thread until its answer or time-out)"),
    Setting("RESOLVE_QUEUE", "engine", "resolve_queue", integer(1, 1_000_000),
            "addresses waiting for a reverse-DNS look-up; beyond, they are asked for on a later tick"),
    Setting("RESOLVE_CACHE", "engine", "resolve_cache", integer(1, 10_000_000),
            "reverse-DNS names (and failures) remembered; the least recently asked for forgotten first"),
    Setting("MAX_BODY_BYTES", "service", "max_body_bytes", integer(1024, 64 * MIB),
            "largest request body accepted"),
    Setting("MAX_CONNECTIONS_LIMIT", "service", "max_connections_limit",
            integer(1, 10_000_000), "most items a list endpoint returns (its `limit` default and maximum)"),
    Setting("WS_MAX_MSG_SIZE", "service", "ws_max_msg_size", integer(1024, 16 * MIB),
            "largest WebSocket message accepted from a client"),
    Setting("WS_QUEUE", "service", "ws_queue", integer(1, 10_000),
            "replies and alerts queued per WebSocket client; its messages wait while it is full, "
            "and a client that leaves it full for WS_SEND_TIMEOUT is dropped as too slow"),
    Setting("WS_HEARTBEAT", "service", "ws_heartbeat", number(1, 3600),
            "seconds a WebSocket client may stay silent before it is pinged; one that does not answer "
            "within half of that (a dead peer, or one that does not read) is closed"),
    Setting("WS_SEND_TIMEOUT", "service", "ws_send_timeout", number(0.1, 3600),
            "seconds one send may stall before the client is closed as too slow"),
    Setting("WS_MAX_CLIENTS", "service", "ws_max_clients", integer(1, 100_000),
            "WebSocket clients served at once; when full, one stalled a tick or more is evicted "
            "before a new one is refused"),
    Setting("WS_MAX_CONNECTIONS", "service", "ws_max_connections", integer(1, 1_000_000),
            "connections per WebSocket message; beyond, only the busiest are sent"),
    Setting("WS_SNDBUF", "service", "ws_sndbuf", integer(0, 64 * MIB),
            "kernel send buffer per WebSocket client, so a slow reader is noticed within "
            "about this much data (0: kernel autotuning, up to several MiB)"),
    Setting("WS_COMPRESS", "service", "ws_compress", boolean,
            "compress WebSocket messages (permessage-deflate) for clients that offer it: "
            "about a tenth of the bytes, for about 0.5-2 ms of CPU per client per tick"),
    Setting("METRICS_TOP_PROCESSES", "service", "metrics_top_processes", integer(0, 1000),
            "processes named in /metrics; the rest are summed as process=\"other\""),
)


@dataclass(frozen=True, slots=True)
class AccountingFlag:
    """One accounting setting as the command line sees it; `state` parses and checks the value."""

    env: str
    name: str
    help: str
    unit: str

    @property
    def flag(self) -> str:
        return flag_for(self.env)


def _accounting_flags() -> tuple[AccountingFlag, ...]:
    """A flag per setting `AccountingConfig.describe()` lists, but those SETTINGS has (INTERFACES)."""
    own = {setting.env for setting in SETTINGS}
    flags = []
    for row in AccountingConfig.describe():
        if row["env"] in own:
            continue
        live = "; can also be changed while running (PUT /api/settings)" if row["live"] else ""
        flags.append(AccountingFlag(row["env"], row["name"], row["description"] + live, row["unit"]))
    return tuple(flags)


ACCOUNTING_FLAGS = _accounting_flags()


def _defaults(section: Section) -> dict[str, Any]:
    if section == "engine":
        return {f.name: getattr(SERVICE_ENGINE, f.name) for f in fields(EngineConfig)}
    return {f.name: f.default for f in fields(ServiceConfig) if f.default is not MISSING}


def _show(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(value) or "(none)"
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one `ConfigError` line."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="trafficmon",
        description="Per-connection network monitor and monthly traffic-cap keeper. "
        "Every option can also be set by the environment variable named in its help; "
        "the command line wins over the environment, which wins over the default.",
    )
    defaults = {"service": _defaults("service"), "engine": _defaults("engine")}
    for setting in SETTINGS:
        default = _show(defaults[setting.section][setting.name])
        help_text = f"{setting.help} [env {setting.env}, default {default}]"
        if setting.is_bool:
            parser.add_argument(setting.flag, dest=setting.env, default=None,
                                action=argparse.BooleanOptionalAction, help=help_text)
        else:
            parser.add_argument(setting.flag, dest=setting.env, default=None,
                                metavar="VALUE", help=help_text)
    accounting = AccountingConfig().to_dict()
    for flag in ACCOUNTING_FLAGS:
        default = f"{_show(accounting[flag.name])} {flag.unit}".rstrip()
        help_text = f"{flag.help} [env {flag.env}, default {default}]"
        parser.add_argument(flag.flag, dest=flag.env, default=None, metavar="VALUE",
                            help=help_text.replace("%", "%%"))  # argparse formats help with %
    return parser


def load_config(argv: Sequence[str], environ: Mapping[str, str]) -> ServiceConfig:
    """Parse and validate every setting; raise one `ConfigError` listing all bad ones."""
    args = vars(build_parser().parse_args(list(argv)))
    values: dict[Section, dict[str, Any]] = {"service": {}, "engine": {}}
    problems = []
    for setting in SETTINGS:
        given = args[setting.env]
        if isinstance(given, bool):
            values[setting.section][setting.name] = given
            continue
        if given is not None:
            raw, origin = given, setting.flag
        elif setting.env in environ:
            raw, origin = environ[setting.env], setting.env
        else:
            continue
        try:
            values[setting.section][setting.name] = setting.parse(raw)
        except ValueError as exc:
            shown = f"{origin} (not shown)" if setting.secret else f"{origin}={raw!r}"
            problems.append(f"{shown}: {exc}")
    engine = replace(SERVICE_ENGINE, **values["engine"])
    accounting = _accounting(args, environ, engine.interfaces, problems)
    config = ServiceConfig(**values["service"], engine=engine, accounting=accounting)
    problems.extend(_cross_check(config))
    if problems:
        raise ConfigError("; ".join(problems))
    return config


def _accounting(
    args: Mapping[str, Any],
    environ: Mapping[str, str],
    capture_interfaces: tuple[str, ...],
    problems: list[str],
) -> AccountingConfig:
    """The accounting settings: environment, then the flags given on top; problems appended.

    `state` stops at the first bad value it meets, so each refused value is set
    aside and the rest parsed again, until every bad one is named. A flag wins
    over its variable, which is then not looked at; INTERFACES arrives parsed,
    as the capture's list.
    """
    by_name = {flag.name: flag for flag in ACCOUNTING_FLAGS}
    given = {flag.name: args[flag.env] for flag in ACCOUNTING_FLAGS if args[flag.env] is not None}
    overridden = {by_name[name].env for name in given} | {"INTERFACES"}
    env = {name: value for name, value in environ.items() if name not in overridden}
    while True:
        try:
            config = AccountingConfig.from_env(env)
            break
        except ValidationError as exc:
            if exc.field not in env:  # a rule between settings, broken by a default
                problems.append(f"{exc.field}: {exc.message}")
                return AccountingConfig()
            problems.append(f"{exc.field}={env.pop(exc.field)!r}: {exc.message}")
    changes: dict[str, Any] = dict(given)
    if capture_interfaces:
        changes["interfaces"] = capture_interfaces
    while True:
        try:
            return config.updated(changes)
        except ValidationError as exc:
            shown = by_name[exc.field].flag if exc.field in by_name else exc.field
            if exc.field not in given:
                problems.append(f"{shown}: {exc.message}")
                return config
            problems.append(f"{shown}={changes.pop(exc.field)!r}: {exc.message}")


def _cross_check(config: ServiceConfig) -> list[str]:
    """Rules between settings, which no single parser can see."""
    problems = []
    if config.auth == "none" and not is_loopback(config.host):
        problems.append(
            f"AUTH=none is accepted only when HOST is a loopback address (127.0.0.1, ::1 or "
            f"localhost), not {config.host}: anyone who reaches it could read and change the state"
        )
    if config.ws_send_timeout < config.engine.update_interval:
        problems.append(
            f"WS_SEND_TIMEOUT ({config.ws_send_timeout:g}) must be at least "
            f"UPDATE_INTERVAL ({config.engine.update_interval:g}), or every client "
            "would be dropped as too slow"
        )
    return problems
