"""Fixtures for the web tests: the real app around a fake engine, and auth headers.

The app always has a real accountant on a real SQLite file in tmp_path, with
the accounting tests' settable clock and kernel counters (`tests.state.fakes`).
"""

from __future__ import annotations

import base64
import itertools
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from trafficmon.capture import EngineConfig
from trafficmon.state import Accountant, AccountingConfig
from tests.state.fakes import FakeClock, FakeCounters, at
from tests.web.fakes import FakeEngine, build_snapshot
from tests.web.openapi_check import OpenApi
from trafficmon.web.app import create_app
from trafficmon.web.config import ServiceConfig
from trafficmon.web.security.credentials import Credentials

USER = "admin"
PASSWORD = "s3cret-pässword"
TOKEN = "tok_0123456789-abcdef.XYZ"
OTHER_TOKEN = "second~token~for~another~program"
CREDENTIALS = Credentials(USER, PASSWORD, "test", tokens=(TOKEN, OTHER_TOKEN), tokens_source="test")

MakeClient = Callable[..., Awaitable[TestClient]]


def basic(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    """An Authorization header built by hand (aiohttp's BasicAuth helper is deprecated in 3.14)."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


AUTH = basic()


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def openapi() -> OpenApi:
    return OpenApi()


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    fake = FakeEngine(build_snapshot(seq=1))
    yield fake
    fake.stop()  # ends a background ticker a test left running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(at("2024-01-10 12:00"))


@pytest.fixture
def counters(clock: FakeClock) -> FakeCounters:
    return FakeCounters(clock, booted_at=clock.now - 3600)


def accounting_config(data_dir: Path, **changes: Any) -> AccountingConfig:
    """Accounting settings for tests: a state file in `data_dir`, UTC, a 1 GB cap."""
    return AccountingConfig(**{"data_dir": data_dir, "timezone": "UTC", "cap_gb": 1, **changes})


MakeAccountant = Callable[..., Accountant]


@pytest.fixture
def make_accountant(tmp_path: Path, clock: FakeClock, counters: FakeCounters) -> MakeAccountant:
    """A fresh (not started: the app starts it) accountant; keyword arguments change its settings.

    Each one gets its own DATA_DIR under tmp_path unless `data_dir` is given
    (to restart on the same one).
    """
    made = itertools.count(1)

    def make(data_dir: Path | None = None, **changes: Any) -> Accountant:
        where = data_dir if data_dir is not None else tmp_path / f"data{next(made)}"
        return Accountant(accounting_config(where, **changes), clock=clock, counters=counters)

    return make


def build_app(engine: FakeEngine, accountant: Accountant, monotonic: Callable[[], float] = time.monotonic,
              **overrides: Any) -> web.Application:
    """The real app around `engine` and `accountant`; keyword arguments override ServiceConfig fields.

    Names of `EngineConfig` fields (`update_interval`) override the service's engine settings.
    """
    base = ServiceConfig()
    engine_names = {f.name for f in fields(EngineConfig)}
    tuned = replace(base.engine, **{k: overrides.pop(k) for k in list(overrides) if k in engine_names})
    config = replace(base, engine=tuned, **overrides)
    return create_app(config, engine, CREDENTIALS, accountant, monotonic=monotonic)


@pytest.fixture
def make_client(aiohttp_client: Any, engine: FakeEngine, make_accountant: MakeAccountant) -> MakeClient:
    """Start the real app with the fake engine; keyword arguments override ServiceConfig fields.

    `accountant` (optional) is the one to run, else a fresh one; the running
    one is `client.server.app[ACCOUNTANT_KEY]`. `monotonic` (optional) is the
    login throttle's clock.
    """

    async def make(*, accountant: Accountant | None = None, monotonic: Callable[[], float] = time.monotonic,
                   **overrides: Any) -> TestClient:
        chosen = accountant if accountant is not None else make_accountant()
        return await aiohttp_client(build_app(engine, chosen, monotonic, **overrides))

    return make


@pytest.fixture
async def client(make_client: MakeClient) -> TestClient:
    return await make_client()
