"""The kernel counters the accounting reads: those of the network namespace being captured.

Period totals must count the interfaces the capture watches. With NETNS set
the capture runs in another network namespace, while psutil and /sys/class/net
describe the namespace of the process (and of its sysfs mount): they would
count the wrong interfaces, or a different device that shares a name. So,
like the engine, this enters the namespace just long enough to open what it
reads — /proc/thread-self/net/dev and a socket for interface ioctls — and both
keep answering about that namespace from the accountant's thread afterwards.
Opening them belongs here, with the other privileged opens of the composition
root, before the service could drop root.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from trafficmon.capture import NET_DEV, CaptureError, entered
from trafficmon.state.counters import CounterSource, ProcNetDev, SystemCounters
from trafficmon.state.links import SocketLinks


@contextmanager
def counter_source(netns: str | None, interfaces: tuple[str, ...]) -> Iterator[CounterSource]:
    """The counters of `interfaces` (empty: chosen automatically) in namespace `netns` (None: ours).

    Raises `capture.CaptureError` when the namespace cannot be entered or read.
    """
    if netns is None:
        yield SystemCounters(interfaces)
        return
    with ExitStack() as opened:
        with entered(netns):
            try:
                net_dev = opened.enter_context(open(NET_DEV, "rb"))
                sock = opened.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            except OSError as exc:
                raise CaptureError(f"cannot open the counters of network namespace {netns!r}: {exc}") from exc
        yield SystemCounters(interfaces, links=SocketLinks(sock), per_nic=ProcNetDev(net_dev))
