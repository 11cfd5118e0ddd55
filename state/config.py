"""Accounting settings: what is counted, against which cap, in which billing cycle.

Each setting is a field of `AccountingConfig` declared with the settings table's
`setting` (`trafficmon.settings`: environment name, kind, bounds, unit, help,
whether it may change while running). The config is validated as a whole
whenever one is built (from the environment, from a constructor call, or from
changes made at run time), so a bad value or a bad combination is refused
before anything uses it, with a `ValidationError` naming every bad field.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from trafficmon.capture import interface_names, platform_counter_bits
from trafficmon.settings import Problem, ValidationError, is_zone, jsonable, setting, table, validate
from trafficmon.state.cap import CapCounts, Thresholds
from trafficmon.state.validation import MAX_BYTES

DECIMAL_GB = 10**9
"""Bytes in a decimal gigabyte, the unit providers bill in."""

MIN_DAILY_RETENTION_DAYS = 400
"""Daily totals are kept at least this long: a year plus a billing period to compare with."""

_ZONEINFO_DIR = "zoneinfo/"
_LOCALTIME = Path("/etc/localtime")
_TIMEZONE_FILE = Path("/etc/timezone")
_FALLBACK_ZONE = "UTC"


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
        if name and is_zone(name):
            return name
    return _FALLBACK_ZONE


@dataclass(frozen=True, slots=True)
class AccountingConfig:
    """Everything the accountant can be told; every bound is a setting with a safe default."""

    data_dir: Path = setting(
        Path("data"), "DATA_DIR", "path", "directory of the SQLite state database"
    )
    cap_gb: float = setting(
        500.0, "TRAFFIC_CAP_GB", "float", "traffic cap per billing period in decimal GB (10^9 bytes)",
        unit="GB", low=0, low_open=True, live=True,
    )
    cap_counts: CapCounts = setting(
        CapCounts.OUTBOUND, "CAP_COUNTS", "text",
        "what counts toward the cap: outbound, both (sum) or max (larger direction)",
        choices=tuple(CapCounts), live=True,
    )
    reset_day: int = setting(
        1, "RESET_DAY", "int",
        "day of month a period starts (1-31; past the month's end means its last day)",
        unit="day", low=1, high=31, live=True,
    )
    reset_hour: int = setting(
        0, "RESET_HOUR", "int", "hour of the reset day a period starts (0-23)",
        unit="hour", low=0, high=23, live=True,
    )
    timezone: str = setting(
        host_timezone, "TIMEZONE", "zone",
        "IANA time zone of the billing period and the daily totals",
        default_text="the host's ($TZ, /etc/timezone, /etc/localtime, else UTC)", live=True,
    )
    warning_percent: float = setting(
        80.0, "WARNING_PERCENT", "float", "share of the cap where the warning level starts",
        unit="%", low=0, low_open=True, live=True,
    )
    critical_percent: float = setting(
        95.0, "CRITICAL_PERCENT", "float", "share of the cap where the critical level starts",
        unit="%", low=0, low_open=True, above="warning_percent", live=True,
    )
    exceeded_percent: float = setting(
        100.0, "EXCEEDED_PERCENT", "float", "share of the cap where the exceeded level starts",
        unit="%", low=0, low_open=True, above="critical_percent", live=True,
    )
    flush_interval: float = setting(
        5.0, "FLUSH_INTERVAL", "float", "how often the state is written to SQLite",
        unit="s", low=0, low_open=True,
    )
    poll_interval: float = setting(
        1.0, "COUNTER_POLL_INTERVAL", "float", "how often the kernel counters are read",
        unit="s", low=0, low_open=True,
    )
    interfaces: tuple[str, ...] = setting(
        (), "INTERFACES", "names",
        "interfaces whose kernel counters are accounted; empty: the device-backed ones "
        "(all non-loopback ones when there are none)",
        check=interface_names,
    )
    link_speed_gbit: float = setting(
        100.0, "LINK_SPEED_GBIT", "float",
        "assumed top speed of an interface that reports none; a counter step faster than "
        "the link could carry is a counter reset, not traffic",
        unit="Gbit/s", low=0, low_open=True, live=True,
    )
    counter_bits: int = setting(
        platform_counter_bits, "COUNTER_BITS", "int",
        "width of the kernel's interface counters (32 or 64; 'auto' follows the platform)",
        unit="bit", choices=(32, 64), words=(("auto", platform_counter_bits),),
        default_text="auto (the platform's: 64, or 32 on 32-bit kernels)",
    )
    projection_days: int = setting(
        7, "PROJECTION_DAYS", "int",
        "whole days of daily totals (plus today so far) whose pace the period-end projection "
        "extrapolates; none is made before a day of counting",
        unit="days", low=1, live=True,
    )
    minute_history_hours: int = setting(
        48, "MINUTE_HISTORY_HOURS", "int", "how long the per-minute bandwidth history is kept",
        unit="h", low=1,
    )
    daily_retention_days: int = setting(
        MIN_DAILY_RETENTION_DAYS, "DAILY_RETENTION_DAYS", "int",
        f"how long daily totals are kept (at least {MIN_DAILY_RETENTION_DAYS})",
        unit="days", low=MIN_DAILY_RETENTION_DAYS,
    )
    max_hosts: int = setting(
        10_000, "MAX_TRACKED_HOSTS", "int",
        "remote hosts tracked per period; the smallest are folded into '(other)' beyond it",
        low=1,
    )
    max_processes: int = setting(
        5_000, "MAX_TRACKED_PROCESSES", "int",
        "process names and command lines tracked per period; the smallest are folded "
        "into '(other)' beyond it",
        low=1,
    )
    archive_top: int = setting(
        25, "ARCHIVE_TOP", "int", "processes and hosts kept in a closed period's archive record",
        low=0,
    )

    def __post_init__(self) -> None:
        validate(self, _rules)

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

    def updated(self, changes: Mapping[str, Any]) -> AccountingConfig:
        """A copy with `changes` (setting name -> JSON or CLI value) applied and validated."""
        names = {f.name for f in fields(self)}
        for name in changes:
            if name not in names:
                raise ValidationError(str(name), "is not a setting")
        return replace(self, **dict(changes))

    def to_dict(self) -> dict[str, Any]:
        """Every setting as a JSON-friendly value."""
        return {f.name: jsonable(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def describe(cls) -> list[dict[str, Any]]:
        """Name, environment variable, unit, description and liveness of every setting."""
        return [
            {"name": s.name, "env": s.env, "unit": s.unit, "description": s.help, "live": s.live}
            for s in table(cls)
        ]

    @classmethod
    def live_settings(cls) -> frozenset[str]:
        """The settings `Accountant.update_settings` may change while running."""
        return frozenset(s.name for s in table(cls) if s.live)

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



def _rules(config: AccountingConfig) -> Iterator[Problem]:
    """What the table cannot declare: the cap as bytes, and the projection within the days kept."""
    if config.cap_gb > MAX_BYTES / DECIMAL_GB or config.cap_bytes > MAX_BYTES:
        yield "cap_gb", f"is too large ({config.cap_gb:g})"
    elif config.cap_bytes < 1:
        yield "cap_gb", "must be at least one byte"
    if config.projection_days >= config.daily_retention_days:
        yield (
            "projection_days",
            f"must be less than daily_retention_days ({config.daily_retention_days}), "
            "the daily totals it is computed from",
        )
