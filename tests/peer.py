"""Traffic-making processes for capture tests, run inside test namespaces.

`python -m tests.peer ROLE ARGS...`. Servers run until killed; clients move an
exact, bounded amount of data, print one line with what their sockets moved,
then wait for their standard input to close, so the test can read the engine's
snapshot while the process (and its PID) still exists.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import urllib.request

CHUNK = 64 * 1024


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    parts = bytearray()
    while len(parts) < n:
        got = conn.recv(min(CHUNK, n - len(parts)))
        if not got:
            break
        parts += got
    return bytes(parts)


def _serve_tcp_connection(conn: socket.socket) -> None:
    """Request: 1 byte mode ('d' download / 'u' upload) and 8 bytes count."""
    with conn:
        head = _recv_exact(conn, 9)
        if len(head) < 9:
            return
        mode, count = head[:1], int.from_bytes(head[1:], "big")
        if mode == b"d":
            block = b"x" * CHUNK
            left = count
            while left > 0:
                conn.sendall(block[: min(CHUNK, left)])
                left -= min(CHUNK, left)
        else:
            _recv_exact(conn, count)
            conn.sendall(b"k")


def tcp_server(host: str, port: str) -> None:
    srv = socket.socket(_family(host), socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, int(port)))
    srv.listen(64)
    print("ready", flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=_serve_tcp_connection, args=(conn,), daemon=True).start()


def tcp_client(host: str, port: str, mode: str, count: str, connections: str = "1") -> None:
    n = int(count)
    socks = [socket.create_connection((host, int(port))) for _ in range(int(connections))]
    for s in socks:
        s.sendall(mode.encode() + n.to_bytes(8, "big"))
        if mode == "d":
            got = len(_recv_exact(s, n))
        else:
            block = b"y" * CHUNK
            left = n
            while left > 0:
                s.sendall(block[: min(CHUNK, left)])
                left -= min(CHUNK, left)
            got = len(_recv_exact(s, 1))
    ports = [s.getsockname()[1] for s in socks]
    print(json.dumps({"payload": n, "last": got, "ports": ports}), flush=True)
    sys.stdin.read()
    for s in socks:
        s.close()


def udp_echo(host: str, port: str) -> None:
    s = socket.socket(_family(host), socket.SOCK_DGRAM)
    s.bind((host, int(port)))
    print("ready", flush=True)
    while True:
        data, peer = s.recvfrom(65535)
        s.sendto(data, peer)


def udp_client(host: str, port: str, count: str, size: str) -> None:
    s = socket.socket(_family(host), socket.SOCK_DGRAM)
    s.settimeout(2.0)
    payload = b"u" * int(size)
    echoed = 0
    for _ in range(int(count)):
        s.sendto(payload, (host, int(port)))
        try:
            s.recvfrom(65535)
            echoed += 1
        except TimeoutError:
            pass
    print(json.dumps({"sent": int(count), "echoed": echoed, "port": s.getsockname()[1]}), flush=True)
    sys.stdin.read()


def http_get(url: str, count: str) -> None:
    total = 0
    for _ in range(int(count)):
        with urllib.request.urlopen(url, timeout=10) as resp:
            total += len(resp.read())
    print(json.dumps({"bytes": total}), flush=True)
    sys.stdin.read()


ROLES = {
    "tcp-server": tcp_server,
    "tcp-client": tcp_client,
    "udp-echo": udp_echo,
    "udp-client": udp_client,
    "http-get": http_get,
}

if __name__ == "__main__":
    ROLES[sys.argv[1]](*sys.argv[2:])
