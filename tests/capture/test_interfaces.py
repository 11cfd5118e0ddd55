"""Which interfaces are captured by default, asked from a thread inside namespaces the test builds.

The host namespace has what a container host has: an uplink (here a veth
carrying the default route), a bridge with two veth ports whose other ends are
containers' eth0, a routed veth to a container (no bridge, no default route),
a tunnel (a tun device: the kernel here has no ipip, gre or wireguard module,
and a tun device is what OpenVPN and wireguard-go use), and an interface that
is down. Nothing is read from /sys/class/net, which shows the test process's
namespace, not the thread's.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import pytest

from trafficmon.capture import rtnetlink
from trafficmon.capture.config import EngineConfig
from trafficmon.capture.engine import Engine
from trafficmon.capture.interfaces import default_interfaces
from trafficmon.capture.netns import entered
from tests.support.hosts import namespaces, sh

pytestmark = pytest.mark.netns

T = TypeVar("T")


def inside(netns: str, call: Callable[[], T]) -> T:
    """`call()` run on a fresh thread inside `netns`, as the engine's threads run."""
    result: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with entered(netns):
                result.append(call())
        except BaseException as exc:  # handed to the test's thread
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    if errors:
        raise errors[0]
    return result[0]


@dataclass(frozen=True)
class Plumbing:
    host: str
    """The container host: uplink, bridge, ports, routed veth, tunnel, a down interface."""
    bridged: str
    """A container on the bridge: its eth0 carries an IPv4 default route."""
    v6_only: str
    """A container on the bridge whose eth0 carries an IPv6 default route only."""
    multipath: str
    """A host whose IPv4 default route spreads over two veths (one route, two next hops)."""


def ip(netns: str, *args: str) -> None:
    sh("ip", "-n", netns, *args)


def veth(netns: str, name: str, peer_netns: str, peer: str, *, up: bool = True) -> None:
    sh("ip", "-n", netns, "link", "add", name, "type", "veth", "peer", "name", peer, "netns", peer_netns)
    if up:
        ip(netns, "link", "set", name, "up")
        ip(peer_netns, "link", "set", peer, "up")


@pytest.fixture
def plumbing() -> Iterator[Plumbing]:
    tag = f"tmif{os.getpid() % 10000}"
    made = Plumbing(host=f"{tag}h", bridged=f"{tag}c", v6_only=f"{tag}6", multipath=f"{tag}m")
    upstream, routed = f"{tag}u", f"{tag}r"
    with namespaces(made.host, made.bridged, made.v6_only, made.multipath, upstream, routed):
        host = made.host
        veth(host, "up0", upstream, "isp0")
        ip(host, "addr", "add", "198.18.100.2/24", "dev", "up0")
        ip(host, "route", "add", "default", "via", "198.18.100.1")
        ip(host, "link", "add", "br0", "type", "bridge")
        ip(host, "link", "set", "br0", "up")
        ip(host, "addr", "add", "198.18.101.1/24", "dev", "br0")
        ip(host, "-6", "addr", "add", "fd54:4d:101::1/64", "dev", "br0", "nodad")
        for port, container in (("port1", made.bridged), ("port2", made.v6_only)):
            veth(host, port, container, "eth0")
            ip(host, "link", "set", port, "master", "br0")
        ip(made.bridged, "addr", "add", "198.18.101.2/24", "dev", "eth0")
        ip(made.bridged, "route", "add", "default", "via", "198.18.101.1")
        ip(made.v6_only, "-6", "addr", "add", "fd54:4d:101::2/64", "dev", "eth0", "nodad")
        ip(made.v6_only, "-6", "route", "add", "default", "via", "fd54:4d:101::1")
        veth(host, "cali0", routed, "eth0")  # a routed container link: a /32 route, no bridge
        ip(host, "route", "add", "198.18.102.2/32", "dev", "cali0")
        ip(host, "tuntap", "add", "tun0", "mode", "tun")
        ip(host, "link", "set", "tun0", "up")
        veth(host, "down0", upstream, "isp1", up=False)

        mp = made.multipath
        for n in (0, 1):
            veth(mp, f"m{n}", upstream, f"isp-m{n}")
            ip(mp, "addr", "add", f"198.18.{110 + n}.2/24", "dev", f"m{n}")
        ip(mp, "route", "add", "default", "nexthop", "via", "198.18.110.1", "dev", "m0",
           "nexthop", "via", "198.18.111.1", "dev", "m1")
        yield made


def test_bridges_and_the_host_ends_of_veth_pairs_are_left_out_tunnels_and_the_uplink_kept(
    plumbing: Plumbing,
) -> None:
    assert inside(plumbing.host, default_interfaces) == ["tun0", "up0"]


def test_a_containers_own_eth0_is_kept_with_an_ipv4_or_an_ipv6_default_route(plumbing: Plumbing) -> None:
    assert inside(plumbing.bridged, default_interfaces) == ["eth0"]
    assert inside(plumbing.v6_only, default_interfaces) == ["eth0"]


def test_every_next_hop_of_a_multipath_default_route_is_kept(plumbing: Plumbing) -> None:
    assert inside(plumbing.multipath, default_interfaces) == ["m0", "m1"]


def test_rtnetlink_reports_kinds_and_bridge_ports_of_the_threads_namespace(plumbing: Plumbing) -> None:
    links = {link.name: link for link in inside(plumbing.host, rtnetlink.links)}
    assert {name: link.kind for name, link in links.items()} == {
        "lo": "", "up0": "veth", "br0": "bridge", "port1": "veth", "port2": "veth", "cali0": "veth",
        "tun0": "tun", "down0": "veth",
    }
    bridge = links["br0"].index
    assert {name for name, link in links.items() if link.master == bridge} == {"port1", "port2"}
    assert (links["down0"].up, links["lo"].loopback) == (False, True)
    assert inside(plumbing.host, rtnetlink.default_route_interfaces) == {links["up0"].index}


def test_the_engine_captures_the_default_selection_and_a_named_bridge_port(plumbing: Plumbing) -> None:
    for named, expected in (((), ("tun0", "up0")), (("port1", "br0"), ("port1", "br0"))):
        engine = Engine(EngineConfig(interfaces=named, netns=plumbing.host, update_interval=0.25))
        engine.start()
        try:
            assert engine.snapshot().health.interfaces == expected
        finally:
            engine.stop()
