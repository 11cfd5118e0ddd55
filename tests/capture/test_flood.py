"""A 100,000-flow flood under the real service: answers and updates stay on time, and no byte goes astray.

One process in the captured namespace sends a single small UDP datagram to
each of 100,000 destinations (50,000 ports on each of the peer's IPv4 and IPv6
addresses), as a port scan or a DNS amplification victim does. The service, its
flow bound set high enough, then holds 100,000 flows, idle after a second, that every tick still
publishes. While it does, four `GET /api/connections?limit=10000` at once are
each answered in under 2 s, a WebSocket client gets every update with no gap
of 2 s, and the captured bytes are the veth's own count (within 0.5 %: a neighbour
solicitation may fall either side of a reading).
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest

from trafficmon.capture.flows import BYTES_PER_FLOW
from tests.support.flood import FLOOD
from tests.support.hosts import Link

from tests.support.service import PASSWORD, get, start_service, stop_service
from tests.support.waiting import wait_until

pytestmark = pytest.mark.netns

PORTS = range(10_000, 60_000)
FLOWS = 2 * len(PORTS)
LIMIT = 10_000
LARGEST_WAIT = 2.0
ROUNDS = 3


AUTH = {"Authorization": "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()}


async def under_load(url: str) -> tuple[list[float], list[float], list[dict]]:
    """Four large requests at once, three times, while a WebSocket client reads; the waits and gaps."""
    arrivals: list[float] = []
    async with aiohttp.ClientSession(headers=AUTH) as session:
        ws = await session.ws_connect(f"{url}ws", max_msg_size=0)
        assert json.loads((await ws.receive(timeout=10)).data)["type"] == "initial"

        async def read() -> None:
            while True:
                message = await ws.receive(timeout=LARGEST_WAIT * 2)
                assert json.loads(message.data)["type"] == "update"
                arrivals.append(time.monotonic())

        async def large() -> tuple[float, dict]:
            started = time.monotonic()
            async with session.get(f"{url}api/connections?limit={LIMIT}") as response:
                assert response.status == 200
                body = await response.json()
            return time.monotonic() - started, body

        reading = asyncio.create_task(read())
        waits, bodies = [], []
        for _ in range(ROUNDS):
            await asyncio.sleep(1.0)
            for took, body in await asyncio.gather(*(large() for _ in range(4))):
                waits.append(took)
                bodies.append(body)
        await asyncio.sleep(2.0)
        assert not reading.done(), reading
        reading.cancel()
        await ws.close()
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:], strict=False)]
    return waits, gaps, bodies


def test_a_hundred_thousand_flows_keep_answers_and_updates_on_time(link: Link, tmp_path: Path, peers):
    proc, url = start_service(link, tmp_path / "data", "--update-interval", "1",
                              "--flow-memory-bytes", str(FLOWS * BYTES_PER_FLOW * 2))
    try:
        kernel_before, captured_before = link.a.counters()["tx_bytes"], get(f"{url}api/stats")["total_bytes_sent"]
        flood = link.a.python(FLOOD, link.b.ipv4, link.b.ipv6, str(PORTS.start), str(PORTS.stop),
                              stdout=subprocess.PIPE, text=True)
        peers.append(flood)
        assert flood.stdout is not None and flood.stdout.readline() == "sent\n"
        wait_until(lambda: get(f"{url}api/connections?limit=1")["total"], lambda n: n >= FLOWS, 30,
                   f"the service holds the {FLOWS} flows sent", interval=0.5)

        waits, gaps, bodies = asyncio.run(under_load(url))
        print(f"requests: {sorted(round(w, 2) for w in waits)}; largest update gap {max(gaps):.2f} s")
        assert max(waits) < LARGEST_WAIT, f"a request took {max(waits):.2f} s: {sorted(waits)}"
        assert max(gaps) < LARGEST_WAIT, f"the WebSocket client waited {max(gaps):.2f} s between updates"
        assert all(b["count"] == LIMIT and b["total"] >= FLOWS for b in bodies)

        moved = link.a.counters()["tx_bytes"] - kernel_before
        time.sleep(1.5)  # a tick past the last frame
        captured = get(f"{url}api/stats")["total_bytes_sent"] - captured_before
        assert captured == pytest.approx(moved, rel=0.005), (captured, moved)
    finally:
        stop_service(proc)
