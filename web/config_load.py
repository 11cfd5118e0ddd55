"""Reading the configuration: the command line over the environment over the TOML file over the defaults.

Every setting of the table (`web.config.options`) is a `--flag`, an
environment variable and a key of the configuration file (the variable in
lower case: `traffic_cap_gb = 1000`); `--config FILE` names the file, else
`/etc/trafficmon/trafficmon.toml` is read when it exists. Each value is
coerced by the configuration it belongs to, and every problem is named by
where its value came from, all on one `ConfigError` line. `--help`, `trafficmon
config` (the effective configuration, each value with its source) and the
README's reference are written from the same table.
"""

from __future__ import annotations

import argparse
import difflib
import json
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

from trafficmon.capture import EngineConfig
from trafficmon.settings import Setting, ValidationError, jsonable, show, table, values_text
from trafficmon.state import AccountingConfig, host_timezone
from trafficmon.web.config import SERVICE_ENGINE, ConfigError, ServiceConfig, options, section_of

DEFAULT_CONFIG_FILE = Path("/etc/trafficmon/trafficmon.toml")
"""Read when it exists and no `--config` names another."""

Given = Mapping[str, tuple[Any, str]]
"""Environment variable -> (the raw value given, where: its flag, the variable, or the file and key)."""


def load_config(
    argv: Sequence[str], environ: Mapping[str, str], *, default_file: Path = DEFAULT_CONFIG_FILE
) -> ServiceConfig:
    """Parse and validate every setting; raise one `ConfigError` listing all bad ones."""
    return build_config(gather(argv, environ, default_file), environ)


def gather(argv: Sequence[str], environ: Mapping[str, str], default_file: Path = DEFAULT_CONFIG_FILE) -> Given:
    """Each setting given, by variable, from the first place that gives it: flag, variable, file.

    A flag wins over its variable, which is then not looked at; a blank
    variable counts as unset.
    """
    args = vars(build_parser().parse_args(list(argv)))
    named = args.pop("config_file")
    if named is not None:
        in_file = read_config_file(Path(named))
    else:
        in_file = read_config_file(default_file) if default_file.is_file() else {}
    given: dict[str, tuple[Any, str]] = {}
    for _, entry in options():
        if args[entry.env] is not None:
            given[entry.env] = (args[entry.env], entry.flag)
        elif environ.get(entry.env, "").strip():
            given[entry.env] = (environ[entry.env], entry.env)
        elif entry.env in in_file:
            given[entry.env] = in_file[entry.env]
    return given


def read_config_file(path: Path) -> dict[str, tuple[Any, str]]:
    """The settings a TOML file gives, by variable; `ConfigError` naming the file for what it cannot use."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"the configuration file {path} is not valid TOML: {exc}") from None
    keys = {entry.env.lower(): entry for _, entry in options()}
    unknown = [key for key in data if key not in keys]
    if unknown:
        hints = [f"{key} (did you mean {close[0]}?)" if (close := difflib.get_close_matches(key, keys, 1)) else key
                 for key in unknown]
        raise ConfigError(f"{path}: not a setting: {', '.join(hints)}; a key is a setting's variable in lower case")
    return {keys[key].env: (value, f"{path}: {key}") for key, value in data.items()}


def build_config(given: Given, environ: Mapping[str, str]) -> ServiceConfig:
    """The three configurations from what was given, the defaults for the rest.

    A problem is named by where its value came from, or by the variable when
    a default breaks a rule with a value given.
    """
    problems: list[str] = []

    def build(section: type, make: Callable[..., Any], **fixed: Any) -> Any:
        raw = {e.name: given[e.env][0] for e in table(section) if e.env in given}
        try:
            return make(**raw, **fixed)
        except ValidationError as exc:
            problems.extend(_shown(section, exc, given))
            return None

    engine = build(EngineConfig, partial(replace, SERVICE_ENGINE)) or SERVICE_ENGINE
    zone = {} if "TIMEZONE" in given else {"timezone": host_timezone(environ)}
    accounting = build(AccountingConfig, AccountingConfig, **zone) or AccountingConfig(**zone)
    config = build(ServiceConfig, ServiceConfig, engine=engine, accounting=accounting)
    if problems:
        raise ConfigError("; ".join(dict.fromkeys(problems)))
    return config


def _shown(section: type, error: ValidationError, given: Given) -> Iterator[str]:
    entries = {entry.name: entry for entry in table(section)}
    for name, message in error.problems:
        entry = entries[name]
        if entry.env not in given:
            yield f"{entry.env}: {message}"
            continue
        raw, origin = given[entry.env]
        yield f"{origin} (not shown): {message}" if entry.secret else f"{origin}={raw!r}: {message}"


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one `ConfigError` line."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


def build_parser() -> argparse.ArgumentParser:
    """A flag for every setting, its help naming the variable, the default and whether it is live."""
    parser = _Parser(
        prog="trafficmon",
        description="Per-connection network monitor and monthly traffic-cap keeper. "
        "Every option can also be set by the environment variable named in its help, or in the "
        "configuration file by that variable's name in lower case; the command line wins over "
        "the environment, which wins over the file, which wins over the default.",
    )
    parser.add_argument("--config", dest="config_file", metavar="FILE", default=None,
                        help=f"TOML configuration file [default {DEFAULT_CONFIG_FILE}, read when it exists]")
    for entry, default in defaults():
        help_text = f"{entry.help}{LIVE if entry.live else ''} [env {entry.env}, default {default}]"
        help_text = help_text.replace("%", "%%")  # argparse formats help with %
        if entry.kind == "bool":
            parser.add_argument(entry.flag, dest=entry.env, default=None,
                                action=argparse.BooleanOptionalAction, help=help_text)
        else:
            parser.add_argument(entry.flag, dest=entry.env, default=None, metavar="VALUE", help=help_text)
    return parser


LIVE = "; can also be changed while running (PUT /api/settings)"


def defaults() -> Iterator[tuple[Setting, str]]:
    """Every setting with its default as the environment would give it, unit included."""
    config = ServiceConfig()
    for section, entry in options():
        value = getattr(section_of(config, section), entry.name)
        yield entry, entry.default_text or f"{show(value)} {entry.unit}".rstrip()


def reference() -> str:
    """The README's configuration reference: a Markdown table of every setting."""
    rows = [
        "| Variable | Flag | Default | Values | Live | What it sets |",
        "|---|---|---|---|---|---|",
    ]
    for entry, default in defaults():
        cells = (f"`{entry.env}`", f"`{entry.flag}`", default, values_text(entry),
                 "yes" if entry.live else "", entry.help)
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows) + "\n"



@dataclass(frozen=True, slots=True)
class Effective:
    """One setting as the service would run with it: its value and where that came from."""

    entry: Setting
    value: Any
    source: str


def effective(argv: Sequence[str], environ: Mapping[str, str], default_file: Path = DEFAULT_CONFIG_FILE) -> list[Effective]:
    """Every setting's value in force and its source: the default, the command line, the environment or the file."""
    given = gather(argv, environ, default_file)
    config = build_config(given, environ)
    return [
        Effective(entry, getattr(section_of(config, section), entry.name), _source(entry, given))
        for section, entry in options()
    ]


def _source(entry: Setting, given: Given) -> str:
    if entry.env not in given:
        return "default"
    origin = given[entry.env][1]
    if origin == entry.flag:
        return f"command line {origin}"
    if origin == entry.env:
        return f"environment {origin}"
    return "file " + origin.rsplit(": ", 1)[0]


def as_toml(settings: Sequence[Effective]) -> str:
    """The effective configuration as a configuration file would hold it, secrets left out.

    Each line says where its value came from; an unset value (TOML has no
    null) and a secret are comments, so that read back with `--config` it
    gives the same configuration, the secrets unset rather than a mask
    taken for a password.
    """
    lines = ["# trafficmon's effective configuration; after each value, where it came from"]
    for item in settings:
        key = item.entry.env.lower()
        if item.value in (None, ()) and item.entry.secret:
            lines.append(f"# {key}: unset, so generated at first start and kept in DATA_DIR  # {item.source}")
        elif item.value is None:
            lines.append(f"# {key}: unset  # {item.source}")
        elif item.entry.secret:
            lines.append(f"# {key}: set, not shown  # {item.source}")
        else:
            lines.append(f"{key} = {_toml(item.value)}  # {item.source}")
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    value = jsonable(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string: the same escapes
    return repr(value)

if __name__ == "__main__":
    print(reference(), end="")
