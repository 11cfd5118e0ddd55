"""Fixtures for the web tests: the real app around a fake engine, and auth headers."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.web.fakes import FakeEngine, build_snapshot
from tests.web.openapi_check import OpenApi
from web.app import create_app
from web.config import ServiceConfig
from web.credentials import Credentials

USER = "admin"
PASSWORD = "s3cret-pässword"
CREDENTIALS = Credentials(USER, PASSWORD, "test")

MakeClient = Callable[..., Awaitable[TestClient]]


def basic(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    """An Authorization header built by hand (aiohttp's BasicAuth helper is deprecated in 3.14)."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


AUTH = basic()


@pytest.fixture(scope="session")
def openapi() -> OpenApi:
    return OpenApi()


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    fake = FakeEngine(build_snapshot(seq=1))
    yield fake
    fake.stop()  # ends a background ticker a test left running


def build_app(engine: FakeEngine, **overrides: Any) -> web.Application:
    """The real app around `engine`; keyword arguments override ServiceConfig fields."""
    return create_app(replace(ServiceConfig(), **overrides), engine, CREDENTIALS)


@pytest.fixture
def make_client(aiohttp_client: Any, engine: FakeEngine) -> MakeClient:
    """Start the real app with the fake engine; keyword arguments override ServiceConfig fields."""

    async def make(**overrides: Any) -> TestClient:
        return await aiohttp_client(build_app(engine, **overrides))

    return make


@pytest.fixture
async def client(make_client: MakeClient) -> TestClient:
    return await make_client()
