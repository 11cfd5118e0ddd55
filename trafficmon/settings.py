"""The settings table: one `Setting` type and one coercer for capture, state and the service.

A configuration is a frozen dataclass whose fields are declared with
`setting(...)`: the field holds the default, its metadata the rest (environment
variable, flag, kind, bounds, unit, help, whether it may change while
running). `validate` is called from each configuration's `__post_init__`, so a
configuration is checked by its own type however it is built (from the
environment, the command line, a JSON body or code): every value is coerced to
its kind and held to its bounds, then the rules between settings are applied,
and every problem is reported in one `ValidationError`. The command line, its
`--help`, the README's reference and the dashboard's client-side checks are all
read from the same table (`table`, `client_rules`), so no rule is written twice.

This module sits below capture, state and web and imports none of them.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Kind = Literal["int", "float", "bool", "text", "names", "path", "zone"]
Problem = tuple[str, str]
"""(setting name, what is wrong with its value)."""


class ValidationError(ValueError):
    """A value (setting, adjustment, imported document field) was refused.

    `field` names where the first refused value was (a setting name, an
    environment variable, or a path into a JSON document such as
    ``daily[3].outbound``) and `message` says what was wrong with it;
    `problems` holds every refused value of the same check, first included.
    Nothing was changed when this is raised.
    """

    def __init__(self, field: str, message: str, *, more: Sequence[Problem] = ()) -> None:
        self.problems: tuple[Problem, ...] = ((field, message), *more)
        super().__init__("; ".join(f"{name}: {text}" for name, text in self.problems))
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Setting:
    """One configurable value: where it is read from, what it may be and what it means.

    `low`/`high` bound numbers (`low_open`: `low` itself is refused), and the
    length of text; `choices` lists the values a setting may take (compared
    without case for text); `words` maps words to a factory of the value they
    stand for (COUNTER_BITS=auto); `above` names a setting this one must be
    greater than; `check` is a rule of the domain the kinds cannot say (a host
    name, an origin), given the converted value and returning it normalised or
    raising ValueError. `secret` values are never echoed in a message.
    `default_text` says what a default found at start (the host's time zone)
    is, where the value would differ from host to host.
    """

    env: str
    kind: Kind
    help: str
    unit: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[Any, ...] = ()
    words: tuple[tuple[str, Callable[[], Any]], ...] = ()
    above: str | None = None
    check: Callable[[Any], Any] | None = None
    live: bool = False
    secret: bool = False
    default_text: str = ""
    name: str = ""

    @property
    def flag(self) -> str:
        """The command-line flag: UPDATE_INTERVAL -> --update-interval."""
        return "--" + self.env.lower().replace("_", "-")


def setting(default: Any, env: str, kind: Kind, help: str, **rest: Any) -> Any:
    """A dataclass field holding `default` (a callable: its factory) and its `Setting`; secrets kept out of repr."""
    entry = Setting(env, kind, help, **rest)
    meta = {"setting": entry}
    if callable(default):
        return field(default_factory=default, metadata=meta, repr=not entry.secret)
    return field(default=default, metadata=meta, repr=not entry.secret)


def table(config: Any) -> tuple[Setting, ...]:
    """The settings of a configuration class (or instance), in field order, each named."""
    return _table(config if isinstance(config, type) else type(config))


@cache
def _table(cls: type) -> tuple[Setting, ...]:
    return tuple(replace(f.metadata["setting"], name=f.name) for f in fields(cls) if "setting" in f.metadata)


Rules = Callable[[Any], Iterable[Problem]]


def validate(config: Any, rules: Rules | None = None) -> None:
    """Coerce every setting of `config` in place, check it whole; raise every problem at once.

    Called from `__post_init__` of a frozen configuration. `rules` yields the
    problems between settings the table cannot declare; it runs only when every
    value has its type, so it may rely on them.
    """
    problems: list[Problem] = []
    entries = table(config)
    for entry in entries:
        try:
            value = coerce(entry, getattr(config, entry.name))
        except ValueError as exc:
            problems.append((entry.name, str(exc)))
            continue
        object.__setattr__(config, entry.name, value)
    bad = {name for name, _ in problems}
    for entry in entries:
        if entry.above and not bad & {entry.name, entry.above}:
            low, value = getattr(config, entry.above), getattr(config, entry.name)
            if value <= low:
                problems.append(
                    (entry.name, f"must be above {entry.above} ({number_text(low)}), got {number_text(value)}")
                )
    if not problems and rules is not None:
        problems.extend(rules(config))
    if problems:
        raise ValidationError(*problems[0], more=problems[1:])


_WHOLE = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def coerce(entry: Setting, raw: Any) -> Any:
    """`raw` (an environment, flag or file string, a JSON value, or a typed one) as the setting's value.

    Raises ValueError saying what a good value is; a secret is never echoed.
    """
    shown = "(not shown)" if entry.secret else repr(raw)
    if isinstance(raw, str):
        for word, make in entry.words:
            if raw.strip().lower() == word:
                return make()
    value = _KINDS[entry.kind](entry, raw, shown)
    if entry.choices:
        value = _choice(entry, value, shown)
    if entry.check is not None:
        value = entry.check(value)
    return value


def _integer(entry: Setting, raw: Any, shown: str) -> int:
    if isinstance(raw, str) and _WHOLE.fullmatch(raw.strip()):
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ValueError(f"must be a whole number{_range(entry)}, got {shown}")
    return _bounded(entry, raw)


def _float(entry: Setting, raw: Any, shown: str) -> float:
    if isinstance(raw, str) and _DECIMAL.fullmatch(raw.strip()):
        raw = float(raw)
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
        raise ValueError(f"must be a number{_range(entry)}, got {shown}")
    return _bounded(entry, float(raw))


def _boolean(entry: Setting, raw: Any, shown: str) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in (*_TRUE, *_FALSE):
        return raw.strip().lower() in _TRUE
    raise ValueError(f"must be one of 1/0, true/false, yes/no, on/off, got {shown}")


def _text(entry: Setting, raw: Any, shown: str) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ValueError(f"must be text, got {shown}")
    value = raw if entry.secret else raw.strip()
    if any(ord(c) < 32 for c in value):
        raise ValueError("must not contain control characters")
    if entry.high is not None and len(value) > entry.high:
        raise ValueError(f"must be at most {number_text(entry.high)} characters long")
    return value or None


def _names(entry: Setting, raw: Any, shown: str) -> tuple[str, ...]:
    if isinstance(raw, str):
        parts: Iterable[Any] = raw.split(",")
    elif isinstance(raw, (list, tuple)):
        parts = raw
    else:
        raise ValueError(f"must be a comma-separated list, got {shown}")
    names: list[str] = []
    for part in parts:
        if not isinstance(part, str):
            raise ValueError(f"must be a list of names, got {part!r}")
        if part.strip() and part.strip() not in names:
            names.append(part.strip())
    return tuple(names)


def _path(entry: Setting, raw: Any, shown: str) -> Path:
    if isinstance(raw, (str, os.PathLike)) and str(raw).strip():
        return Path(str(raw).strip() if isinstance(raw, str) else raw)
    raise ValueError(f"must be a directory path, got {shown}")


def _zone(entry: Setting, raw: Any, shown: str) -> str:
    name = raw.strip() if isinstance(raw, str) else ""
    if not is_zone(name):
        raise ValueError(f"is not a known IANA time zone name: {raw!r}")
    return name


def is_zone(name: str) -> bool:
    """Whether `name` is an IANA time zone this host's tz database knows."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


_KINDS: dict[str, Callable[[Setting, Any, str], Any]] = {
    "int": _integer,
    "float": _float,
    "bool": _boolean,
    "text": _text,
    "names": _names,
    "path": _path,
    "zone": _zone,
}


def _choice(entry: Setting, value: Any, shown: str) -> Any:
    for choice in entry.choices:
        if value == choice or (isinstance(value, str) and value.lower() == str(choice).lower()):
            return choice
    listed = ", ".join(str(c.value if isinstance(c, Enum) else c) for c in entry.choices)
    raise ValueError(f"must be one of {listed}, got {shown}")


def number_text(value: float) -> str:
    """A bound or value in a message: whole numbers in full (67108864, not 6.71089e+07)."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _range(entry: Setting) -> str:
    low, high = entry.low, entry.high
    if low is None and high is None:
        return ""
    if high is None:
        return f" {'greater than' if entry.low_open else 'at least'} {number_text(low)}"
    if low is None:
        return f" at most {number_text(high)}"
    return f" from {number_text(low)}{' (excluded)' if entry.low_open else ''} to {number_text(high)}"


def _bounded(entry: Setting, value: float) -> Any:
    low_bad = entry.low is not None and (value <= entry.low if entry.low_open else value < entry.low)
    if low_bad or (entry.high is not None and value > entry.high):
        raise ValueError(f"must be{_range(entry)}, got {number_text(value)}")
    return value


def values_text(entry: Setting) -> str:
    """What values a setting takes, in words (the README's reference)."""
    if entry.choices:
        words = [word for word, _ in entry.words]
        return "one of " + ", ".join([*(show(c) for c in entry.choices), *words])
    kinds = {"int": "a whole number", "float": "a number", "bool": "1/0, true/false, yes/no, on/off",
             "names": "a comma-separated list", "path": "a path", "zone": "an IANA time zone name",
             "text": "text"}
    if entry.kind == "text" and entry.high is not None:
        return f"text of at most {number_text(entry.high)} characters"
    text = kinds[entry.kind] + _range(entry)
    if entry.above:
        text += f", above {entry.above}"
    return text


def show(value: Any) -> str:
    """A value as the environment or a flag would give it."""
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value) or "(none)"
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def jsonable(value: Any) -> Any:
    """A value as JSON carries it."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Enum):
        return value.value
    return value


def client_rules(entries: Iterable[Setting]) -> list[dict[str, Any]]:
    """What a form needs to check the settings before it sends them (the dashboard's /config)."""
    return [
        {
            "name": entry.name,
            "kind": entry.kind,
            "unit": entry.unit,
            "low": entry.low,
            "high": entry.high,
            "low_open": entry.low_open,
            "choices": [jsonable(choice) for choice in entry.choices],
            "above": entry.above,
        }
        for entry in entries
    ]
