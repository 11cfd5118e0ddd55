"""What the web tests share: calls checked against the OpenAPI document, WebSocket helpers, raw sockets that stall, the command run as a module."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from tests.state.fakes import FakeClock, FakeCounters
from tests.support.peers import ROOT
from tests.web.conftest import AUTH
from tests.web.openapi_check import OpenApi
from trafficmon.state import Accountant
from trafficmon.web.config import options
from trafficmon.web.keys import ACCOUNTANT_KEY


RECEIVE_TIMEOUT = 5.0


async def connect(client: TestClient) -> aiohttp.ClientWebSocketResponse:
    return await client.ws_connect("/ws", headers=AUTH)


async def receive(ws: aiohttp.ClientWebSocketResponse, openapi: OpenApi) -> dict[str, Any]:
    """Next message, checked against the document's schema for its type."""
    message = await ws.receive_json(timeout=RECEIVE_TIMEOUT)
    schema = {"initial": "WsTick", "update": "WsTick", "alert": "WsAlert"}.get(message["type"], "WsReply")
    openapi.check_schema(schema, message)
    return message


PROTECTED = [
    "/",
    "/api/connections",
    "/api/processes",
    "/api/stats",
    "/api/bandwidth-history",
    "/api/capture",
    "/api/interfaces",
    "/metrics",
    "/docs",
    "/redoc",
    "/openapi.json",
    "/static/vendor/redoc/VERSION",
    "/ws",
    "/no-such-page",
]


MB = 10**6


GB = 10**9


async def poll(client: TestClient) -> None:
    """Make the accountant read the counters now (it blocks, so off the loop, as its thread would)."""
    await asyncio.get_running_loop().run_in_executor(None, accountant_of(client).poll)


async def traffic(client: TestClient, clock: FakeClock, counters: FakeCounters, seconds: float,
                  sent: int, received: int = 0) -> None:
    """`sent`/`received` bytes move on the kernel counters over `seconds`, then a poll."""
    clock.now += seconds
    counters.add(sent, received)
    await poll(client)


async def call(client: TestClient, openapi: OpenApi, method: str, url: str, *, status: int = 200,
               doc_path: str | None = None, **kwargs: Any) -> Any:
    """One request with auth; the answer checked against the document for its path and status."""
    headers = {**AUTH, "Accept": "application/json", **kwargs.pop("headers", {})}
    response = await client.request(method, url, headers=headers, **kwargs)
    body = await response.json()
    assert response.status == status, body
    openapi.check_response(doc_path or url.split("?")[0], method, status, body)
    return body


BULK = 100  # extra connections per snapshot: frames of ~70 kB fill a stalled socket in a few ticks


def open_stalled_socket(host: str, port: int) -> socket.socket:
    """A WebSocket handshake over a socket with a tiny receive buffer, which then never reads."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5)
    sock.connect((host, port))
    request = (
        "GET /ws HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        f"Authorization: {AUTH['Authorization']}\r\n\r\n"
    )
    sock.sendall(request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def read_to_end(sock: socket.socket, deadline: float) -> tuple[bytes, bool]:
    """What the server still sends, and whether it closed the connection before `deadline`."""
    sock.settimeout(0.2)
    data = bytearray()
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return bytes(data), True
        if not chunk:
            return bytes(data), True
        data += chunk
    return bytes(data), False


def run_module(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {entry.env for _, entry in options()}}
    return subprocess.run(
        [sys.executable, "-m", "trafficmon", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def accountant_of(client: TestClient) -> Accountant:
    return client.server.app[ACCOUNTANT_KEY]
