"""Fixtures the capture tests share: engines started by a test, stopped whatever it did."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from trafficmon.capture.engine import Engine


@pytest.fixture
def running() -> Iterator[list[Engine]]:
    """Engines a test started, stopped afterwards whatever happens."""
    started: list[Engine] = []
    yield started
    for eng in started:
        eng.stop()
