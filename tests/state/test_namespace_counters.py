"""The accounting's counter source for the captured namespace: a real veth in a test namespace."""

from __future__ import annotations

import json

import pytest

from trafficmon.capture import CaptureError
from tests.support.hosts import Link
from tests.support.peers import start_peer, wait_line
from trafficmon.state.namespace_counters import counter_source

VETH_SPEED_BPS = 10 * 10**9
"""What the veth driver reports (10000 Mb/s)."""


@pytest.mark.netns
def test_counts_the_namespace_interfaces_not_the_host_ones(link: Link, peers) -> None:
    with counter_source(link.a.netns, ()) as read:
        first = read()
        assert set(first.interfaces) == {link.a.iface}  # its loopback left out, nothing of the host
        assert first.interfaces[link.a.iface].speed_bps == VETH_SPEED_BPS
        peers.append(start_peer(link.b, "tcp-server", link.b.ipv4, "5012"))
        wait_line(peers[0])
        client = start_peer(link.a, "tcp-client", link.b.ipv4, "5012", "u", "300000")
        peers.append(client)
        assert json.loads(wait_line(client))["payload"] == 300_000
        second = read()
    moved = second.interfaces[link.a.iface]
    assert moved.bytes_sent - first.interfaces[link.a.iface].bytes_sent >= 300_000
    kernel = link.a.counters()
    assert (moved.bytes_sent, moved.bytes_recv) <= (kernel["tx_bytes"], kernel["rx_bytes"])
    assert kernel["tx_bytes"] - moved.bytes_sent < 10_000  # the same counters, read a moment apart
    assert second.boot_id == first.boot_id


@pytest.mark.netns
def test_named_interfaces_are_taken_as_named(link: Link) -> None:
    with counter_source(link.a.netns, ("lo", "missing0")) as read:
        assert set(read().interfaces) == {"lo"}


@pytest.mark.netns
def test_a_namespace_that_does_not_exist_is_a_capture_error() -> None:
    with pytest.raises(CaptureError, match="no-such-namespace"), counter_source("no-such-namespace", ()):
        pass


def test_without_a_namespace_the_process_own_counters() -> None:
    with counter_source(None, ()) as read:
        assert "lo" not in read().interfaces
