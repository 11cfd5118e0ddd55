"""Waiting for a condition with a deadline: the one polling loop the suites share.

A test that waits says what for; when the deadline passes, the failure says
that and what was last seen, rather than hanging or failing on a bare
`assert`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(read: Callable[[], T], done: Callable[[T], bool], timeout: float, what: str,
               interval: float = 0.05) -> T:
    """Call `read` every `interval` seconds until `done` holds for what it returned; that value.

    Raises AssertionError naming `what` and the last value read once `timeout`
    seconds have passed.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s (last seen: {value!r:.300})")
        time.sleep(interval)
