"""Fixtures for the accounting tests: config in tmp_path, fake clock and counters, accountants."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from trafficmon.state import Accountant, AccountingConfig
from tests.state.fakes import FakeClock, FakeCounters, at


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(at("2024-01-10 12:00"))


@pytest.fixture
def counters(clock: FakeClock) -> FakeCounters:
    return FakeCounters(clock, booted_at=clock.now - 3600)


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., AccountingConfig]:
    def make(**changes: Any) -> AccountingConfig:
        values: dict[str, Any] = {"data_dir": tmp_path / "data", "timezone": "UTC"}
        values.update(changes)
        return AccountingConfig(**values)

    return make


@pytest.fixture
def open_accountant(
    make_config: Callable[..., AccountingConfig], clock: FakeClock, counters: FakeCounters
) -> Iterator[Callable[..., Accountant]]:
    """Start accountants without a background thread (the test polls); stops them at the end.

    Keyword arguments are settings, but `sql_trace`, handed to the accountant.
    """
    started: list[Accountant] = []

    def open_(*, sql_trace: Callable[[str], None] | None = None, **changes: Any) -> Accountant:
        accountant = Accountant(make_config(**changes), clock=clock, counters=counters, sql_trace=sql_trace)
        accountant.start(background=False)
        started.append(accountant)
        return accountant

    yield open_
    for accountant in started:
        accountant.stop()
