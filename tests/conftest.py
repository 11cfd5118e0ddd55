"""Shared fixtures: test hosts in network namespaces, the processes a test starts, and the rule that CI never skips them."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.support.hosts import Link, netns_unavailable, veth_link


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = netns_unavailable()
    if reason is None:
        return
    if os.environ.get("CI") and any("netns" in item.keywords for item in items):
        raise pytest.UsageError(f"CI must run the namespace tests, but this machine {reason}")
    for item in items:
        if "netns" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=f"netns test {reason}"))


@pytest.fixture
def link() -> Iterator[Link]:
    """Two namespaces joined by a veth pair (198.18.x.1/.2, fd54:4d:x::1/::2)."""
    with veth_link() as made:
        yield made


@pytest.fixture
def peers() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test started (peers, servers, senders): killed and reaped at its end."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=5)
        for stream in (p.stdin, p.stdout):
            if stream is not None:
                stream.close()
