"""The checks behind the error the accounting layer raises for bad input.

Settings, manual adjustments and imported documents are all checked before
anything changes; when a value is wrong the caller gets the field it was in and
a sentence saying what was wrong, so the web layer can answer with a 4xx that
names the field instead of a stack trace. The checks take JSON-shaped values
(what `json.loads` returns) and say which path inside the document failed.
The error itself, `ValidationError`, is the settings table's
(`trafficmon.settings`): a refused setting and a refused document field are
answered alike.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from datetime import date, datetime
from typing import Any

from trafficmon.settings import ValidationError

MAX_BYTES = 2**63 - 1
"""The largest byte count stored: SQLite's INTEGER range."""


def require_int(
    value: Any, field: str, *, minimum: int | None = 0, maximum: int = MAX_BYTES
) -> int:
    """An integer (bool refused) within [minimum, maximum]; no minimum when None."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, f"must be an integer, got {_shown(value)}")
    if minimum is not None and value < minimum:
        raise ValidationError(field, f"must be at least {minimum}, got {value}")
    if value > maximum or value < -maximum:
        raise ValidationError(field, f"is out of range ({value})")
    return value


def require_number(value: Any, field: str) -> float:
    """A finite int or float (bool refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(field, f"must be a number, got {_shown(value)}")
    if not math.isfinite(value):
        raise ValidationError(field, "must be a finite number")
    return float(value)


def require_str(value: Any, field: str, *, max_length: int) -> str:
    """A string of at most `max_length` characters."""
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a string, got {_shown(value)}")
    if len(value) > max_length:
        raise ValidationError(field, f"must be at most {max_length} characters long")
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_BREAKS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def require_text(value: Any, field: str, *, max_length: int, lines: bool = False) -> str:
    """A string for people to read and the store to keep: no control characters, valid Unicode.

    A lone surrogate cannot be encoded for SQLite (the flush holding it would
    fail after the client was told 200), NUL cuts C strings short, and other
    control characters rewrite the terminal or page that shows them. `lines`
    lets a note keep its tabs and line breaks.
    """
    text = require_str(value, field, max_length=max_length)
    if _SURROGATE.search(text):
        raise ValidationError(field, "holds a lone surrogate (\\ud800-\\udfff), which is not text")
    control = (_CONTROL_BUT_BREAKS if lines else _CONTROL).search(text)
    if control:
        raise ValidationError(field, f"must not contain control characters (U+{ord(control.group()):04X})")
    return text


def require_choice(value: Any, field: str, choices: Collection[str]) -> str:
    """One of `choices`."""
    if value not in choices or not isinstance(value, str):
        raise ValidationError(field, f"must be one of {', '.join(choices)}, got {_shown(value)}")
    return value


def require_object(
    value: Any, field: str, required: Collection[str], optional: Collection[str] = ()
) -> Mapping[str, Any]:
    """A JSON object with all of `required`, some of `optional`, and nothing else.

    Unknown keys are refused rather than ignored, so a misspelt field in an
    imported document is reported instead of silently dropped.
    """
    if not isinstance(value, Mapping):
        raise ValidationError(field, f"must be an object, got {_shown(value)}")
    for key in value:
        if key not in required and key not in optional:
            raise ValidationError(_join(field, str(key)), "is not a known field")
    for key in required:
        if key not in value:
            raise ValidationError(_join(field, key), "is missing")
    return value


def require_list(value: Any, field: str, *, max_items: int) -> list[Any]:
    """A JSON array of at most `max_items` entries."""
    if not isinstance(value, list):
        raise ValidationError(field, f"must be a list, got {_shown(value)}")
    if len(value) > max_items:
        raise ValidationError(field, f"has {len(value)} entries, at most {max_items} allowed")
    return value


def require_time(value: Any, field: str) -> float:
    """An ISO 8601 date-time with a UTC offset, as epoch seconds."""
    if not isinstance(value, str):
        raise ValidationError(field, f"must be an ISO 8601 date-time string, got {_shown(value)}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(field, f"is not an ISO 8601 date-time: {value!r}") from None
    if parsed.utcoffset() is None:
        raise ValidationError(field, f"needs a UTC offset: {value!r}")
    return parsed.timestamp()


def require_date(value: Any, field: str) -> str:
    """A calendar date written YYYY-MM-DD."""
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a date string (YYYY-MM-DD), got {_shown(value)}")
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise ValidationError(field, f"is not a date (YYYY-MM-DD): {value!r}") from None
    if parsed.isoformat() != value:
        raise ValidationError(field, f"must be written YYYY-MM-DD: {value!r}")
    return value


def _join(field: str, key: str) -> str:
    return f"{field}.{key}" if field else key


def _shown(value: Any) -> str:
    """A short description of a refused value for the error message."""
    text = repr(value)
    limit = 40
    return f"{type(value).__name__} {text[:limit]}{'...' if len(text) > limit else ''}"
