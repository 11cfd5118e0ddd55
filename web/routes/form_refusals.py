"""Recent refusals of the /config page's no-JavaScript form, kept for the page it is sent back to.

A browser without JavaScript is redirected after its post (`web.routes.adjust_form`);
the page it lands on must say what was refused, but the message may quote what
was typed, which must not travel in a URL. So the redirect carries an
unguessable reference into this store, which keeps only the last few: a
reference that has fallen out simply shows nothing.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass

KEPT = 64
"""Refusals kept: enough for every person with a form open at once, small whatever a client posts."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a form post changed nothing: the field it names (None: the request as a whole) and what was wrong."""

    field: str | None
    message: str


class Refusals:
    """The last `kept` refusals, by reference; the oldest go first."""

    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        self._items: OrderedDict[str, Refusal] = OrderedDict()

    def add(self, refusal: Refusal) -> str:
        """Keep `refusal`; returns its reference (URL-safe)."""
        reference = secrets.token_urlsafe(12)
        self._items[reference] = refusal
        while len(self._items) > self._kept:
            self._items.popitem(last=False)
        return reference

    def get(self, reference: str) -> Refusal | None:
        return self._items.get(reference)
