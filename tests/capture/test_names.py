"""The reverse-DNS name cache: never waits, stays bounded, retries failures slowly.

Only addresses /etc/hosts answers are given to the machine's resolver here (no
query may leave the machine), other addresses only to a resolver jailed to
loopback (`tests.support.hosts.resolver_jail`); the bounds are tested with a lookup
the test controls.
"""

from __future__ import annotations

import ast
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from trafficmon.capture.names import FAILURE_TTL, NAME_TTL, Names, system_lookup
from tests.support.hosts import resolver_jail
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]

LOCALHOST = socket.inet_aton("127.0.0.1")


def ip(n: int) -> bytes:
    return socket.inet_aton(f"198.18.0.{n}")


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    wait_until(check, bool, timeout, "the names cache got there", interval=0.005)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A lookup that answers from a table, counts its calls, and can be held up."""

    def __init__(self, answers: dict[str, str | None] | None = None) -> None:
        self.answers = answers or {}
        self.calls: list[str] = []
        self.release = threading.Event()
        self.release.set()
        self.lock = threading.Lock()

    def __call__(self, address: str) -> str | None:
        with self.lock:
            self.calls.append(address)
        self.release.wait(10)
        return self.answers.get(address)


@pytest.fixture
def started() -> Iterator[list[Names]]:
    made: list[Names] = []
    yield made
    for names in made:
        names.stop()


def make(started: list[Names], lookup: Callable[[str], str | None], **kw) -> Names:
    names = Names(lookup, **kw)
    names.start()
    started.append(names)
    return names


def test_the_system_resolver_answers_from_etc_hosts() -> None:
    assert system_lookup("127.0.0.1") == "localhost"


def test_what_is_not_an_address_has_no_name() -> None:
    assert system_lookup("not an address") is None


LOOKUP_ARGS = "import sys; from capture.names import system_lookup; print([system_lookup(a) for a in sys.argv[1:]])"


@pytest.mark.netns
def test_the_system_resolver_names_v4_and_v6_and_fails_fast_without_a_name(tmp_path: Path) -> None:
    """The real resolver, its /etc/hosts the test's and its DNS server loopback (refused, nothing leaves)."""
    hosts = {"198.18.0.9": "nine.trafficmon.test", "fd54:4d::9": "six.trafficmon.test",
             "198.18.0.10": "198.18.0.10"}  # a "name" that is only the address again
    asked = ["198.18.0.9", "fd54:4d::9", "198.18.0.10", "198.18.0.11", "fe80::11"]
    t0 = time.monotonic()
    done = subprocess.run(resolver_jail([sys.executable, "-c", LOOKUP_ARGS, *asked], hosts, tmp_path),
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    took = time.monotonic() - t0
    assert done.returncode == 0, done.stderr
    assert ast.literal_eval(done.stdout) == ["nine.trafficmon.test", "six.trafficmon.test", None, None, None]
    assert took < 5, f"a refused query must fail at once, not time out ({took:.1f} s)"


def test_a_name_arrives_on_a_later_ask_without_waiting(started: list[Names]) -> None:
    names = make(started, system_lookup)
    t0 = time.perf_counter()
    assert names.name(LOCALHOST) is None, "the first ask only queues the look-up"
    assert time.perf_counter() - t0 < 0.01
    eventually(lambda: names.name(LOCALHOST) == "localhost")


def test_each_address_is_looked_up_once_while_asked_every_tick(started: list[Names]) -> None:
    lookup = Recorder({"198.18.0.1": "a.example"})
    names = make(started, lookup)
    for _ in range(100):
        names.name(ip(1))
    eventually(lambda: names.name(ip(1)) == "a.example")
    assert lookup.calls == ["198.18.0.1"]


def test_failures_are_retried_only_after_their_ttl(started: list[Names]) -> None:
    clock = Clock()
    lookup = Recorder()
    names = make(started, lookup, clock=clock)
    names.name(ip(2))
    eventually(lambda: len(lookup.calls) == 1 and names.name(ip(2)) is None and names.counts().asked == 0)
    clock.now += FAILURE_TTL - 1
    names.name(ip(2))
    time.sleep(0.05)
    assert len(lookup.calls) == 1
    clock.now += 2
    names.name(ip(2))
    eventually(lambda: len(lookup.calls) == 2)


def test_an_old_name_is_shown_while_it_is_looked_up_again(started: list[Names]) -> None:
    clock = Clock()
    lookup = Recorder({"198.18.0.3": "old.example"})
    names = make(started, lookup, clock=clock)
    names.name(ip(3))
    eventually(lambda: names.name(ip(3)) == "old.example")
    lookup.answers["198.18.0.3"] = "new.example"
    lookup.release.clear()
    clock.now += NAME_TTL + 1
    assert names.name(ip(3)) == "old.example"
    eventually(lambda: len(lookup.calls) == 2)
    lookup.release.set()
    eventually(lambda: names.name(ip(3)) == "new.example")


def test_a_lookup_that_raises_counts_as_no_name(started: list[Names]) -> None:
    def lookup(address: str) -> str | None:
        if address == "198.18.0.4":
            raise RuntimeError("resolver library bug")
        return "e.example"

    names = make(started, lookup, workers=1)
    names.name(ip(4))
    eventually(lambda: names.knows(ip(4)))
    assert names.name(ip(4)) is None
    names.name(ip(5))
    eventually(lambda: names.name(ip(5)) == "e.example")  # the one worker survived


def test_the_queue_is_bounded_and_what_did_not_fit_is_asked_again(started: list[Names]) -> None:
    lookup = Recorder({f"198.18.0.{n}": f"h{n}.example" for n in range(1, 11)})
    lookup.release.clear()
    names = make(started, lookup, workers=1, max_pending=3)
    names.name(ip(1))
    eventually(lambda: len(lookup.calls) == 1)  # the one worker is busy with it
    for n in range(2, 11):
        names.name(ip(n))
    assert names.counts().queued == 3
    lookup.release.set()
    eventually(lambda: len(lookup.calls) == 4)
    time.sleep(0.05)
    assert len(lookup.calls) == 4, "addresses beyond the queue were not kept"
    for n in range(1, 11):
        names.name(ip(n))
    eventually(lambda: all(names.name(ip(n)) == f"h{n}.example" for n in range(1, 11)))
    assert sorted(lookup.calls) == sorted(f"198.18.0.{n}" for n in range(1, 11))


def test_the_cache_is_bounded_least_recently_asked_first(started: list[Names]) -> None:
    lookup = Recorder({f"198.18.0.{n}": f"h{n}.example" for n in range(1, 4)})
    names = make(started, lookup, max_entries=2)
    for n in (1, 2):
        names.name(ip(n))
        eventually(lambda n=n: names.name(ip(n)) == f"h{n}.example")
    names.name(ip(1))  # 1 is now the more recently asked
    names.name(ip(3))
    eventually(lambda: names.name(ip(3)) == "h3.example")
    assert names.counts().cached == 2
    assert names.name(ip(1)) == "h1.example"
    assert names.name(ip(2)) is None, "2 was forgotten"
    eventually(lambda: lookup.calls.count("198.18.0.2") == 2)


def test_stop_returns_while_a_lookup_hangs(started: list[Names]) -> None:
    lookup = Recorder()
    lookup.release.clear()
    names = make(started, lookup)
    names.name(ip(6))
    eventually(lambda: lookup.calls)
    t0 = time.monotonic()
    names.stop(timeout=0.2)
    assert time.monotonic() - t0 < 0.5
    assert names.name(ip(7)) is None and names.counts().queued == 0, "nothing is queued after stop"
    lookup.release.set()


def test_many_threads_asking_at_once(started: list[Names]) -> None:
    lookup = Recorder({f"198.18.0.{n}": f"h{n}.example" for n in range(1, 51)})
    names = make(started, lookup, workers=3)

    def ask() -> None:
        for _ in range(20):
            for n in range(1, 51):
                names.name(ip(n))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    eventually(lambda: all(names.name(ip(n)) == f"h{n}.example" for n in range(1, 51)))
    assert sorted(lookup.calls) == sorted(f"198.18.0.{n}" for n in range(1, 51)), "each looked up once"
