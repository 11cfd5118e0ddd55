"""Traffic-making processes for capture tests, run inside test namespaces.

`python -m tests.support.peer ROLE ARGS...`. Servers run until killed; clients move an
exact, bounded amount of data, print one line with what their sockets moved,
then wait for their standard input to close, so the test can read the engine's
snapshot while the process (and its PID) still exists. `udp-rounds` sends one
bounded round per line it reads; `tcp-stray` sends its segments and exits.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
import urllib.request
from collections.abc import Callable

CHUNK = 64 * 1024


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _bound(host: str, port: int, kind: int) -> socket.socket:
    """A socket bound to (host, port); on "::" explicitly dual-stack.

    Whether an IPv6 wildcard socket also takes IPv4 depends on the sysctl
    net.ipv6.bindv6only otherwise; the dual-stack case is the one under test.
    """
    s = socket.socket(_family(host), kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if host == "::":
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind((host, port))
    return s


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    parts = bytearray()
    while len(parts) < n:
        got = conn.recv(min(CHUNK, n - len(parts)))
        if not got:
            break
        parts += got
    return bytes(parts)


def _serve_tcp_connection(conn: socket.socket) -> None:
    """Request: 1 byte mode ('d' download / 'u' upload) and 8 bytes count.

    The connection is kept until the client closes it, as a keep-alive server
    would: its socket (and so its owner) exists for as long as the client's.
    """
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
        while conn.recv(CHUNK):
            pass


def tcp_server(host: str, port: str) -> None:
    srv = _bound(host, int(port), socket.SOCK_STREAM)
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
    """Echo every datagram from one unconnected socket (a wildcard host serves every address)."""
    s = _bound(host, int(port), socket.SOCK_DGRAM)
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


def udp_rounds(host: str, port: str, source_port: str, count: str, size: str) -> None:
    """Send `count` datagrams from one fixed source port for each line read, until EOF.

    The flow stays the same 5-tuple across rounds, so a test can change what
    is on the receiving side between them. Replies are not read.
    """
    s = socket.socket(_family(host), socket.SOCK_DGRAM)
    s.bind(("::" if ":" in host else "0.0.0.0", int(source_port)))
    payload = b"r" * int(size)
    print("ready", flush=True)
    for _line in sys.stdin:
        for _ in range(int(count)):
            s.sendto(payload, (host, int(port)))
        print(json.dumps({"sent": int(count)}), flush=True)


def _checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071): a raw socket leaves the TCP one to its sender."""
    if len(data) % 2:
        data += b"\0"
    total = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def tcp_stray(src: str, sport: str, dst: str, dport: str, count: str, size: str) -> None:
    """Send `count` TCP data segments (ACK set) of `size` bytes on a 4-tuple with no socket behind it.

    What a peer's retransmissions look like after the other side's process
    exited: the receiving kernel answers them (a RST, or an ACK from a
    TIME_WAIT socket). IPv4 only; the kernel adds the IP header, the TCP
    checksum is computed here.
    """
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    payload = b"s" * int(size)
    for i in range(int(count)):
        header = struct.pack("!HHIIBBHHH", int(sport), int(dport), 1_000_000 + i * len(payload), 7,
                             5 << 4, 0x18, 65535, 0, 0)
        pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, socket.IPPROTO_TCP,
                                                                             len(header) + len(payload))
        checksum = _checksum(pseudo + header + payload)
        segment = header[:16] + checksum.to_bytes(2, "big") + header[18:] + payload
        s.sendto(segment, (dst, 0))
    print(json.dumps({"sent": int(count)}), flush=True)


def http_get(url: str, count: str) -> None:
    total = 0
    for _ in range(int(count)):
        with urllib.request.urlopen(url, timeout=10) as resp:
            total += len(resp.read())
    print(json.dumps({"bytes": total}), flush=True)
    sys.stdin.read()


ROLES: dict[str, Callable[..., None]] = {
    "tcp-server": tcp_server,
    "tcp-client": tcp_client,
    "udp-echo": udp_echo,
    "udp-client": udp_client,
    "udp-rounds": udp_rounds,
    "tcp-stray": tcp_stray,
    "http-get": http_get,
}

if __name__ == "__main__":
    ROLES[sys.argv[1]](*sys.argv[2:])
