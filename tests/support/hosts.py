"""Test hosts: network namespaces joined by a veth pair, built and torn down by tests.

Every address lives inside namespaces the test made (198.18.0.0/15 is the range
reserved for benchmarking networks, fd00::/8 is unique-local), so test traffic
never leaves the machine and never touches the host's own interfaces.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_counter = itertools.count(1)


def netns_unavailable() -> str | None:
    """Why namespace tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root for ip netns and packet capture"
    if shutil.which("ip") is None:
        return "needs iproute2's ip command"
    return None


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=check, capture_output=True, text=True, timeout=30)


@dataclass(frozen=True)
class Host:
    """One end of the test link: a namespace with one veth interface."""

    netns: str
    iface: str
    ipv4: str
    ipv6: str

    def cmd(self, *args: str) -> list[str]:
        """argv that runs `args` inside this host's namespace."""
        return ["ip", "netns", "exec", self.netns, *args]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return sh(*self.cmd(*args), check=check)

    def popen(self, *args: str, **kw) -> subprocess.Popen:
        """Start a process in the namespace; its PID is the real process's PID.

        `ip netns exec` execs the command in place, so the returned PID is the
        one whose sockets the capture engine must find.
        """
        return subprocess.Popen(self.cmd(*args), **kw)

    def python(self, code: str, *args: str, **kw) -> subprocess.Popen:
        return self.popen(sys.executable, "-c", code, *args, **kw)

    def counters(self) -> dict[str, int]:
        """The kernel's byte/packet counters of this host's veth end."""
        base = f"/sys/class/net/{self.iface}/statistics/"
        out = self.run("cat", *(base + n for n in ("tx_bytes", "rx_bytes", "tx_packets", "rx_packets")))
        tx_b, rx_b, tx_p, rx_p = (int(x) for x in out.stdout.split())
        return {"tx_bytes": tx_b, "rx_bytes": rx_b, "tx_packets": tx_p, "rx_packets": rx_p}


@dataclass(frozen=True)
class Link:
    a: Host
    b: Host


def _kill_namespace_processes(netns: str) -> None:
    pids = sh("ip", "netns", "pids", netns, check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def set_sysctl(netns: str, *keys: str, value: int) -> None:
    """Write `value` to /proc/sys/KEY as seen from inside `netns` (no procps needed)."""
    script = "; ".join(f"echo {value} > /proc/sys/{key}" for key in keys)
    sh("ip", "netns", "exec", netns, "sh", "-c", script)


def join(x: Host, y: Host) -> None:
    """Join hosts `x` and `y` (namespaces that exist) with a veth pair named, addressed and up.

    Also what re-creates a link the test deleted: the same names and addresses
    come back, as when a real interface is removed and re-added.
    """
    sh("ip", "-n", x.netns, "link", "add", x.iface, "type", "veth", "peer", "name", y.iface, "netns", y.netns)
    for h in (x, y):
        h.run("ip", "link", "set", h.iface, "up")
        h.run("ip", "addr", "add", f"{h.ipv4}/24", "dev", h.iface)
        h.run("ip", "-6", "addr", "add", f"{h.ipv6}/64", "dev", h.iface, "nodad")


@contextmanager
def namespaces(*names: str) -> Iterator[None]:
    """Fresh namespaces with loopback up; their processes killed and the namespaces removed on exit."""
    made: list[str] = []
    try:
        for ns in names:
            sh("ip", "netns", "add", ns)
            made.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            # No duplicate address detection: link-local addresses usable at once, as the global ones (nodad).
            set_sysctl(ns, "net/ipv6/conf/all/accept_dad", "net/ipv6/conf/default/accept_dad", value=0)
        yield
    finally:
        for ns in made:
            _kill_namespace_processes(ns)
            sh("ip", "netns", "del", ns, check=False)


@contextmanager
def veth_link(mtu: int = 1500) -> Iterator[Link]:
    """Two fresh namespaces `a` and `b` joined by veth, IPv4 and IPv6, removed on exit."""
    n = next(_counter)
    tag = f"{os.getpid() % 10000}x{n}"
    link = Link(
        a=Host(f"tm{tag}a", "tma", f"198.18.{n % 250}.1", f"fd54:4d:{n:x}::1"),
        b=Host(f"tm{tag}b", "tmb", f"198.18.{n % 250}.2", f"fd54:4d:{n:x}::2"),
    )
    with namespaces(link.a.netns, link.b.netns):
        join(link.a, link.b)
        if mtu != 1500:
            for h in (link.a, link.b):
                h.run("ip", "link", "set", h.iface, "mtu", str(mtu))
        yield link


@dataclass(frozen=True)
class Routed:
    """`a` and `b` on two subnets, joined through router `r` (its two ends: `ra` and `rb`)."""

    a: Host
    ra: Host
    rb: Host
    b: Host


@contextmanager
def routed_link() -> Iterator[Routed]:
    """Three fresh namespaces a - r - b; r forwards IPv4 and IPv6 between the two links.

    Each end host routes everything through r, so traffic between a and b
    crosses r's two interfaces without being addressed to r itself.
    """
    n = next(_counter)
    tag = f"{os.getpid() % 10000}x{n}"
    r_ns = f"tm{tag}r"
    net = Routed(
        a=Host(f"tm{tag}a", "tma", f"198.18.{n % 250}.1", f"fd54:4d:{n:x}::1"),
        ra=Host(r_ns, "tmra", f"198.18.{n % 250}.254", f"fd54:4d:{n:x}::fe"),
        rb=Host(r_ns, "tmrb", f"198.19.{n % 250}.254", f"fd54:4e:{n:x}::fe"),
        b=Host(f"tm{tag}b", "tmb", f"198.19.{n % 250}.1", f"fd54:4e:{n:x}::1"),
    )
    with namespaces(net.a.netns, r_ns, net.b.netns):
        join(net.a, net.ra)
        join(net.rb, net.b)
        set_sysctl(r_ns, "net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding", value=1)
        for end, router in ((net.a, net.ra), (net.b, net.rb)):
            end.run("ip", "route", "add", "default", "via", router.ipv4)
            end.run("ip", "-6", "route", "add", "default", "via", router.ipv6)
        yield net


PEER_NAME = "peer-b.trafficmon.test"
"""The reverse-DNS name a service started with `resolver_jail` finds for a link's far end."""

_JAIL = (
    'mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/resolv.conf'
    ' && { [ ! -e /etc/nsswitch.conf ] || mount --bind "$3" /etc/nsswitch.conf; } && shift 3 && exec "$@"'
)


def _files_then_dns() -> str:
    """The machine's nsswitch.conf with its hosts line cut down to /etc/hosts, then resolv.conf's DNS.

    Any other source could still send a query off the machine: nss-resolve
    asks systemd-resolved, which ignores resolv.conf; mdns asks avahi.
    (Without an nsswitch.conf, glibc asks those two and nothing else.)
    """
    try:
        lines = Path("/etc/nsswitch.conf").read_text().splitlines()
    except FileNotFoundError:
        lines = []
    kept = [line for line in lines if not line.lstrip().startswith("hosts:")]
    return "\n".join([*kept, "hosts: files dns", ""])


def resolver_jail(argv: list[str], names: dict[str, str], workdir: Path) -> list[str]:
    """`argv` run with its own /etc/hosts (naming `names`) and a resolver that asks loopback only.

    The service looks up reverse-DNS names of the addresses it sees; the
    machine's resolver would send those queries off the machine. In a private
    mount namespace, /etc/hosts answers for the test's addresses and every
    other query goes to 127.0.0.1:53, where nothing listens: refused at once,
    nothing leaves. `exec` keeps the PID: the returned argv's process is argv's.
    Namespaces made with `ip netns` before the call stay usable inside (their
    bind mounts under /run/netns are copied into the new mount namespace).
    """
    hosts = workdir / "hosts"
    hosts.write_text("127.0.0.1 localhost\n::1 localhost\n" + "".join(f"{ip} {n}\n" for ip, n in names.items()))
    resolv = workdir / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    nsswitch = workdir / "nsswitch.conf"
    nsswitch.write_text(_files_then_dns())
    jail = [str(hosts), str(resolv), str(nsswitch)]
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", _JAIL, "sh", *jail, *argv]
