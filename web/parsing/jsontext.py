"""JSON text from clients, parsed so that whatever is accepted can be stored and answered.

`json.loads` alone takes documents the service cannot keep: a lone surrogate
escape (`"\\ud800"`) becomes a Python string that SQLite's UTF-8 encoder
refuses at the next flush, long after the client was told 200; a document
nested thousands deep raises RecursionError (a 500); a key given twice is
silently the last one. Here each is a refusal naming where it was, before any
handler sees the value. Control characters are left to the fields that are
text for people (names, notes: `state.validation.require_text`), since other
strings may legitimately carry them.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64
"""Arrays and objects inside each other; the deepest document the service takes (an import) is 4."""


class JsonRefused(ValueError):
    """The text is not a JSON document the service accepts; `field` is the path of the value at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.message = message
        self.field = field


def parse_json(raw: bytes | str, what: str) -> Any:
    """`raw` as a JSON value, or JsonRefused naming `what` ("body", "message") and the path."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonRefused(f"the {what} is not valid UTF-8 (byte {exc.start})") from None
    if not raw.strip():
        raise JsonRefused(f"the {what} is empty; send a JSON document")
    try:
        value = json.loads(raw, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except RecursionError:
        raise JsonRefused(f"the {what} is nested more than {MAX_DEPTH} levels deep") from None
    except _DuplicateKey as exc:
        raise JsonRefused(f"the {what} gives the key {exc.key!r} more than once") from None
    except ValueError as exc:
        raise JsonRefused(f"the {what} is not valid JSON: {exc}") from None
    _check(value, what, "", 0)
    return value


def _no_constant(name: str) -> Any:
    """NaN and Infinity are JavaScript, not JSON: refused like any other invalid token."""
    raise ValueError(f"{name} is not a JSON value")


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key[:64]


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return result


def _check(value: Any, what: str, path: str, depth: int) -> None:
    """Depth bound, and strings (keys too) that UTF-8 can encode and that hold no NUL."""
    if isinstance(value, str):
        _check_string(value, what, path)
        return
    if not isinstance(value, (dict, list)):
        return
    if depth >= MAX_DEPTH:
        raise JsonRefused(f"the {what} is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            _check_string(key, what, where)
            _check(item, what, where, depth + 1)
    else:
        for index, item in enumerate(value):
            _check(item, what, f"{path}[{index}]", depth + 1)


def _check_string(text: str, what: str, path: str) -> None:
    field = _readable(path[:80]) if path else what
    if "\x00" in text:
        raise JsonRefused("must not contain NUL characters", field)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise JsonRefused("holds a lone surrogate (\\ud800-\\udfff), which is not text", field) from None


def _readable(path: str) -> str:
    """The path as it can be sent back: a key may itself hold the character refused."""
    return path.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
