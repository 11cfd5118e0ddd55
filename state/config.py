"""Accounting settings: what is counted, against which cap, in which billing cycle.

Each setting is a field of `AccountingConfig` with its environment name, unit,
description and whether it may change while running, declared next to the field
(the web layer maps CLI flags onto the same fields and can list them with
`AccountingConfig.describe()`). The config is validated as a whole whenever one
is built — from the environment, from a constructor call, or from changes made
at run time — so a bad value or a bad combination is refused before anything
uses it, with a `ValidationError` naming the field.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import Field, dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from trafficmon.capture import platform_counter_bits
from trafficmon.state.cap import CapCounts, Thresholds
from trafficmon.state.validation import MAX_BYTES, ValidationError, require_number

DECIMAL_GB = 10**9
"""Bytes in a decimal gigabyte, the unit providers bill in."""

MIN_DAILY_RETENTION_DAYS = 400
"""Daily totals are kept at least this long: a year plus a billing period to compare with."""

IFNAMSIZ = 16
"""Linux interface names are at most IFNAMSIZ - 1 characters."""

_ZONEINFO_DIR = "zoneinfo/"
_LOCALTIME = Path("/etc/localtime")
_TIMEZONE_FILE = Path("/etc/timezone")
_FALLBACK_ZONE = "UTC"


@dataclass(frozen=True, slots=True)
class Setting:
    """How one config field is named outside, what unit it has, and whether it is live."""

    env: str
    kind: str
    unit: str
    description: str
    live: bool = False


def _setting(
    default: Any, env: str, kind: str, unit: str, description: str, *, live: bool = False
) -> Any:
    meta = {"setting": Setting(env, kind, unit, description, live)}
    if callable(default):
        return field(default_factory=default, metadata=meta)
    return field(default=default, metadata=meta)


def host_timezone(environ: Mapping[str, str] = os.environ) -> str:
    """The host's IANA zone name: $TZ, /etc/timezone, the /etc/localtime link, else UTC."""
    candidates = [environ.get("TZ", "").lstrip(":")]
    with contextlib.suppress(OSError):
        candidates.append(_TIMEZONE_FILE.read_text().strip())
    try:
        target = str(_LOCALTIME.resolve())
    except OSError:
        target = ""
    if _ZONEINFO_DIR in target:
        candidates.append(target.split(_ZONEINFO_DIR, 1)[1])
    for name in candidates:
        if name and _zone_error(name) is None:
            return name
    return _FALLBACK_ZONE


def _zone_error(name: str) -> str | None:
    """Why `name` is not a usable IANA zone, or None when it is."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return f"is not a known IANA time zone name: {name!r}"
    return None


@dataclass(frozen=True, slots=True)
class AccountingConfig:
    """Everything the accountant can be told; every bound is a setting with a safe default."""

    data_dir: Path = _setting(
        Path("data"), "DATA_DIR", "path", "", "directory of the SQLite state database"
    )
    cap_gb: float = _setting(
        500.0,
        "TRAFFIC_CAP_GB",
        "float",
        "GB",
        "traffic cap per billing period in decimal GB (10^9 bytes)",
        live=True,
    )
    cap_counts: CapCounts = _setting(
        CapCounts.OUTBOUND,
        "CAP_COUNTS",
        "cap_counts",
        "",
        "what counts toward the cap: outbound, both (sum) or max (larger direction)",
        live=True,
    )
    reset_day: int = _setting(
        1,
        "RESET_DAY",
        "int",
        "day",
        "day of month a period starts (1-31; past the month's end means its last day)",
        live=True,
    )
    reset_hour: int = _setting(
        0, "RESET_HOUR", "int", "hour", "hour of the reset day a period starts (0-23)", live=True
    )
    timezone: str = _setting(
        host_timezone,
        "TIMEZONE",
        "zone",
        "",
        "IANA time zone of the billing period and the daily totals",
        live=True,
    )
    warning_percent: float = _setting(
        80.0,
        "WARNING_PERCENT",
        "float",
        "%",
        "share of the cap where the warning level starts",
        live=True,
    )
    critical_percent: float = _setting(
        95.0,
        "CRITICAL_PERCENT",
        "float",
        "%",
        "share of the cap where the critical level starts",
        live=True,
    )
    exceeded_percent: float = _setting(
        100.0,
        "EXCEEDED_PERCENT",
        "float",
        "%",
        "share of the cap where the exceeded level starts",
        live=True,
    )
    flush_interval: float = _setting(
        5.0, "FLUSH_INTERVAL", "float", "s", "how often the state is written to SQLite"
    )
    poll_interval: float = _setting(
        1.0, "COUNTER_POLL_INTERVAL", "float", "s", "how often the kernel counters are read"
    )
    interfaces: tuple[str, ...] = _setting(
        (),
        "INTERFACES",
        "names",
        "",
        "interfaces whose kernel counters are accounted; empty: the device-backed ones "
        "(all non-loopback ones when there are none)",
    )
    link_speed_gbit: float = _setting(
        100.0,
        "LINK_SPEED_GBIT",
        "float",
        "Gbit/s",
        "assumed top speed of an interface that reports none; a counter step faster than "
        "the link could carry is a counter reset, not traffic",
        live=True,
    )
    counter_bits: int = _setting(
        platform_counter_bits,
        "COUNTER_BITS",
        "bits",
        "bit",
        "width of the kernel's interface counters (32 or 64; 'auto' follows the platform)",
    )
    projection_days: int = _setting(
        7,
        "PROJECTION_DAYS",
        "int",
        "days",
        "whole days of daily totals (plus today so far) whose pace the period-end projection "
        "extrapolates; none is made before a day of counting",
        live=True,
    )
    minute_history_hours: int = _setting(
        48, "MINUTE_HISTORY_HOURS", "int", "h", "how long the per-minute bandwidth history is kept"
    )
    daily_retention_days: int = _setting(
        MIN_DAILY_RETENTION_DAYS,
        "DAILY_RETENTION_DAYS",
        "int",
        "days",
        f"how long daily totals are kept (at least {MIN_DAILY_RETENTION_DAYS})",
    )
    max_hosts: int = _setting(
        10_000,
        "MAX_TRACKED_HOSTS",
        "int",
        "",
        "remote hosts tracked per period; the smallest are folded into '(other)' beyond it",
    )
    max_processes: int = _setting(
        5_000,
        "MAX_TRACKED_PROCESSES",
        "int",
        "",
        "process names and command lines tracked per period; the smallest are folded "
        "into '(other)' beyond it",
    )
    archive_top: int = _setting(
        25,
        "ARCHIVE_TOP",
        "int",
        "",
        "processes and hosts kept in a closed period's archive record",
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, _coerce(f.name, _meta(f).kind, getattr(self, f.name)))
        self._check()

    def _check(self) -> None:
        """Range and cross-field checks; values already have their types."""
        _positive("cap_gb", self.cap_gb)
        if self.cap_gb > MAX_BYTES / DECIMAL_GB or self.cap_bytes > MAX_BYTES:
            raise ValidationError("cap_gb", f"is too large ({self.cap_gb})")
        if self.cap_bytes < 1:
            raise ValidationError("cap_gb", "must be at least one byte")
        _within("reset_day", self.reset_day, 1, 31)
        _within("reset_hour", self.reset_hour, 0, 23)
        zone_error = _zone_error(self.timezone)
        if zone_error:
            raise ValidationError("timezone", zone_error)
        _positive("warning_percent", self.warning_percent)
        if self.critical_percent <= self.warning_percent:
            raise ValidationError(
                "critical_percent",
                f"must be above warning_percent ({self.warning_percent:g}), "
                f"got {self.critical_percent:g}",
            )
        if self.exceeded_percent <= self.critical_percent:
            raise ValidationError(
                "exceeded_percent",
                f"must be above critical_percent ({self.critical_percent:g}), "
                f"got {self.exceeded_percent:g}",
            )
        _positive("flush_interval", self.flush_interval)
        _positive("poll_interval", self.poll_interval)
        for name in self.interfaces:
            if len(name) >= IFNAMSIZ or "/" in name or name in (".", ".."):
                raise ValidationError("interfaces", f"is not an interface name: {name!r}")
        _positive("link_speed_gbit", self.link_speed_gbit)
        if self.counter_bits not in (32, 64):
            raise ValidationError("counter_bits", f"must be 32 or 64, got {self.counter_bits}")
        _within("minute_history_hours", self.minute_history_hours, 1, None)
        _within("daily_retention_days", self.daily_retention_days, MIN_DAILY_RETENTION_DAYS, None)
        _within("projection_days", self.projection_days, 1, None)
        if self.projection_days >= self.daily_retention_days:
            raise ValidationError(
                "projection_days",
                f"must be less than daily_retention_days ({self.daily_retention_days}), "
                f"the daily totals it is computed from",
            )
        _within("max_hosts", self.max_hosts, 1, None)
        _within("max_processes", self.max_processes, 1, None)
        _within("archive_top", self.archive_top, 0, None)

    @property
    def cap_bytes(self) -> int:
        """The cap in bytes (decimal GB)."""
        return round(self.cap_gb * DECIMAL_GB)

    @property
    def zone(self) -> ZoneInfo:
        """The configured time zone."""
        return ZoneInfo(self.timezone)

    @property
    def thresholds(self) -> Thresholds:
        """The level thresholds in percent of the cap."""
        return Thresholds(self.warning_percent, self.critical_percent, self.exceeded_percent)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> AccountingConfig:
        """Read every setting from its environment variable; unset or empty means the default.

        A bad value raises ValidationError naming the environment variable.
        """
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(_meta(f).env, "")
            if raw.strip():
                values[f.name] = raw
        if "timezone" not in values:
            values["timezone"] = host_timezone(environ)
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ValidationError(_env_name(exc.field), exc.message) from None

    def updated(self, changes: Mapping[str, Any]) -> AccountingConfig:
        """A copy with `changes` (setting name -> JSON or CLI value) applied and validated."""
        names = {f.name for f in fields(self)}
        for name in changes:
            if name not in names:
                raise ValidationError(str(name), "is not a setting")
        return replace(self, **dict(changes))

    def to_dict(self) -> dict[str, Any]:
        """Every setting as a JSON-friendly value."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def describe(cls) -> list[dict[str, Any]]:
        """Name, environment variable, unit, description and liveness of every setting."""
        rows = []
        for f in fields(cls):
            meta = _meta(f)
            rows.append(
                {
                    "name": f.name,
                    "env": meta.env,
                    "unit": meta.unit,
                    "description": meta.description,
                    "live": meta.live,
                }
            )
        return rows

    @classmethod
    def live_settings(cls) -> frozenset[str]:
        """The settings `Accountant.update_settings` may change while running."""
        return frozenset(f.name for f in fields(cls) if _meta(f).live)

    def with_overrides(
        self, overrides: Mapping[str, Any]
    ) -> tuple[AccountingConfig, dict[str, dict[str, Any]], list[str]]:
        """Apply settings changed at run time (and persisted) on top of this startup config.

        An override records the value it replaced (`base`). It is applied only
        while the startup value is still that one: when the operator has since
        changed the setting in the environment or on the command line, the newer
        choice wins and the override is dropped. Returns the config, the
        overrides still in force, and the names of the dropped ones.
        """
        current = self.to_dict()
        live = self.live_settings()
        kept: dict[str, dict[str, Any]] = {}
        dropped: list[str] = []
        for name, entry in overrides.items():
            usable = (
                name in live
                and isinstance(entry, Mapping)
                and set(entry) == {"value", "base"}
                and entry["base"] == current[name]
            )
            if usable:
                kept[name] = {"value": entry["value"], "base": entry["base"]}
            else:
                dropped.append(str(name))
        try:
            config = self.updated({name: entry["value"] for name, entry in kept.items()})
        except ValidationError:
            return self, {}, dropped + sorted(kept)
        return config, kept, dropped


def _meta(f: Field[Any]) -> Setting:
    setting: Setting = f.metadata["setting"]
    return setting


def _env_name(name: str) -> str:
    for f in fields(AccountingConfig):
        if f.name == name:
            return _meta(f).env
    return name


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, CapCounts):
        return value.value
    return value


def _coerce(name: str, kind: str, raw: Any) -> Any:
    """Turn an environment string, CLI value or JSON value into the field's type."""
    text = raw.strip() if isinstance(raw, str) else None
    if kind == "float":
        if text is not None:
            try:
                raw = float(text)
            except ValueError:
                raise ValidationError(name, f"must be a number, got {text!r}") from None
        return require_number(raw, name)
    if kind == "int":
        if text is not None:
            try:
                raw = int(text)
            except ValueError:
                raise ValidationError(name, f"must be a whole number, got {text!r}") from None
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValidationError(name, f"must be a whole number, got {raw!r}")
        return raw
    if kind == "bits":
        if text == "auto":
            return platform_counter_bits()
        return _coerce(name, "int", raw)
    if kind == "path":
        if isinstance(raw, (str, os.PathLike)) and str(raw).strip():
            return Path(raw)
        raise ValidationError(name, f"must be a directory path, got {raw!r}")
    if kind == "zone":
        if text:
            return text
        raise ValidationError(name, f"must be an IANA time zone name, got {raw!r}")
    if kind == "cap_counts":
        choices = [c.value for c in CapCounts]
        if isinstance(raw, CapCounts):
            return raw
        if text is not None and text.lower() in choices:
            return CapCounts(text.lower())
        raise ValidationError(name, f"must be one of {', '.join(choices)}, got {raw!r}")
    if kind == "names":
        return _names(name, raw)
    raise AssertionError(f"setting {name} has unknown kind {kind}")


def _names(name: str, raw: Any) -> tuple[str, ...]:
    """A comma-separated string or a list of strings as a tuple of distinct names."""
    if isinstance(raw, str):
        parts: Iterable[Any] = raw.split(",")
    elif isinstance(raw, (list, tuple)):
        parts = raw
    else:
        raise ValidationError(name, f"must be a list of names, got {raw!r}")
    names: list[str] = []
    for part in parts:
        if not isinstance(part, str):
            raise ValidationError(name, f"must be a list of names, got {part!r}")
        if part.strip() and part.strip() not in names:
            names.append(part.strip())
    return tuple(names)


def _positive(name: str, value: float) -> None:
    if value <= 0:
        raise ValidationError(name, f"must be greater than 0, got {value:g}")


def _within(name: str, value: int, low: int, high: int | None) -> None:
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValidationError(name, f"must be {bound}, got {value}")
