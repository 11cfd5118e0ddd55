"""`POST /adjust`: a manual correction of the period's counted total, read from JSON or a form.

The amount comes in bytes (`bytes`, an integer) or in decimal GB (`gb`, as
providers bill: 10^9 bytes), exactly one of them. A form sends strings, so
there `bytes` is written as a whole number and `gb` as a decimal number; JSON
must carry real numbers. The /config page's form, which has one amount
field and a unit to choose, may send `amount` with `unit` (gb or bytes)
instead. Everything else the accountant checks itself (mode,
ranges, the note's length, a total that would go below zero). Any problem is a
`ValidationError` naming the field the client sent, and changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from trafficmon.state import DECIMAL_GB, ValidationError

FIELDS = ("mode", "bytes", "gb", "note")
AMOUNT_FIELDS = ("bytes", "gb")
PAGE_FIELDS = ("amount", "unit")
"""How the /config page's form names the amount: one field, and its unit beside it."""
_WHOLE = re.compile(r"[+-]?\d{1,30}")
_DECIMAL = re.compile(r"[+-]?\d{1,30}(\.\d{1,30})?")
_MAX_GB_DECIMALS = 9
"""Decimal places of a GB figure that still name whole bytes."""


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A checked request: `amount` in bytes, and `unit` the field it was given in."""

    mode: str
    amount: int
    note: str
    unit: str


def parse_adjustment(fields: Mapping[str, Any], *, form: bool) -> Adjustment:
    """The adjustment `fields` ask for; ValidationError naming the first bad field."""
    if form and "amount" in fields:
        fields = _from_page(fields)
    for name in fields:
        if name not in FIELDS:
            raise ValidationError(str(name), f"is not a known field ({', '.join(FIELDS)})")
    if "mode" not in fields:
        raise ValidationError("mode", "is missing (set or add)")
    given = [name for name in AMOUNT_FIELDS if name in fields]
    if len(given) != 1:
        raise ValidationError("bytes", "give the amount as exactly one of bytes or gb")
    unit = given[0]
    raw = fields[unit]
    amount = _bytes(raw, form=form) if unit == "bytes" else _gigabytes(raw, form=form)
    return Adjustment(fields["mode"], amount, fields.get("note", ""), unit)


def _from_page(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The page form's `amount` and `unit` as the `bytes` or `gb` field they stand for."""
    unit = fields.get("unit", "gb")
    if unit not in AMOUNT_FIELDS:
        raise ValidationError("unit", f"must be one of {', '.join(AMOUNT_FIELDS)}")
    if any(name in fields for name in AMOUNT_FIELDS):
        raise ValidationError("amount", "give the amount once: amount with its unit, or bytes or gb")
    rest = {name: value for name, value in fields.items() if name not in PAGE_FIELDS}
    return {**rest, unit: fields["amount"]}


def _bytes(raw: Any, *, form: bool) -> int:
    if form and isinstance(raw, str) and _WHOLE.fullmatch(raw.strip()):
        return int(raw)
    if not form and isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    raise ValidationError("bytes", f"must be a whole number of bytes, got {raw!r:.40}")


def _gigabytes(raw: Any, *, form: bool) -> int:
    if form and isinstance(raw, str) and _DECIMAL.fullmatch(raw.strip()):
        value = Decimal(raw.strip())
    elif not form and isinstance(raw, (int, float)) and not isinstance(raw, bool):
        value = Decimal(str(raw))  # the shortest repr: 0.1 is 0.1, not 0.1000000000000000055…
        if not value.is_finite():
            raise ValidationError("gb", "must be a finite number")
    else:
        raise ValidationError("gb", f"must be a decimal number of GB (10^9 bytes), got {raw!r:.40}")
    amount = value * DECIMAL_GB
    if amount != amount.to_integral_value():
        raise ValidationError(
            "gb", f"names a fraction of a byte (at most {_MAX_GB_DECIMALS} decimal places)"
        )
    return int(amount)
