"""`WS /ws`: the live feed, and the little protocol a client may speak on it.

Client -> server messages (JSON text):
- `{"type": "ping"}` -> `{"type": "pong"}`
- `{"type": "subscribe", "topics": [...], "filter": {"pid"|"process"|"protocol": ...}}`
  -> `{"type": "subscribed", "topics": [...], "filter": {...}}`; both keys optional
  (missing topics: the default set; missing filter: none)
Anything else gets `{"type": "error", "error": "..."}` and changes nothing.
Messages over `WS_MAX_MSG_SIZE` close the socket with 1009 (aiohttp does that).

Subprotocol: a client that offers "trafficmon" gets it selected; a browser page
on another origin offers it beside `bearer.<token>`, its API token (`web.security.auth`),
and would fail the handshake if the server selected none. A handshake that
carries a token without offering "trafficmon" is refused with 400 before
aiohttp looks at it, as aiohttp logs an offer it cannot match, token and all.

Compression (permessage-deflate, RFC 7692) is used with every client that
offers it, unless `WS_COMPRESS` is off. A tick is still serialised once and
the same bytes handed to every client; only the deflate runs per client (its
context is the client's own), in aiohttp's executor for messages over 16 kB.
That costs about 0.5 ms per client per tick for the dashboard's table delta
and 2 ms for a full list of 1,000 connections (bench/RESULTS.md), and cuts
what goes on the wire to a tenth: the seed's `initial` message of 1,000
connections drops from 610 kB to 70 kB. On a server whose outbound traffic is
capped, that matters more than the CPU.
"""

from __future__ import annotations

import socket
from typing import Any

from aiohttp import WSMsgType, web

from trafficmon.web.errors import ApiError
from trafficmon.web.keys import CONFIG_KEY, HUB_KEY
from trafficmon.web.live.hub import Hub
from trafficmon.web.live.outbox import DEFAULT_TOPICS, TOPICS, Client, Subscription
from trafficmon.web.parsing.jsontext import JsonRefused, parse_json
from trafficmon.web.parsing.queries import Selection
from trafficmon.web.security.auth import SUBPROTOCOL, offered_subprotocols, subprotocol_token

routes = web.RouteTableDef()

WRITER_LIMIT = 64 * 1024
"""aiohttp waits for the peer to drain after this many bytes written, so the
transport buffer of a client that stops reading stays near this plus one frame."""


@routes.get("/ws", name="ws")
async def websocket(request: web.Request) -> web.WebSocketResponse:
    config = request.app[CONFIG_KEY]
    hub = request.app[HUB_KEY]
    ws = web.WebSocketResponse(
        heartbeat=config.ws_heartbeat,
        max_msg_size=config.ws_max_msg_size,
        compress=config.ws_compress,
        writer_limit=WRITER_LIMIT,
        protocols=(SUBPROTOCOL,),
    )
    offered = offered_subprotocols(request)
    if subprotocol_token(offered) is not None and SUBPROTOCOL not in offered:
        raise ApiError(400, f'offer the "{SUBPROTOCOL}" subprotocol beside the token, e.g. '
                            f'new WebSocket(url, ["{SUBPROTOCOL}", "bearer." + token])')
    if not ws.can_prepare(request).ok:
        raise ApiError(400, "this endpoint only speaks WebSocket (send an Upgrade request)")
    if hub.full and not hub.make_room():
        raise ApiError(503, f"too many WebSocket clients (at most {config.ws_max_clients})")
    transport = request.transport
    if transport is None:
        raise ApiError(400, "the connection closed before the WebSocket upgrade")
    if config.ws_sndbuf:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, config.ws_sndbuf)
    await ws.prepare(request)
    client = hub.connect(ws, transport)
    try:
        async for msg in ws:
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            if not await client.room(config.ws_send_timeout):
                hub.evict(client, f"too slow: replies unread for {config.ws_send_timeout:g} s")
                break
            if msg.type is WSMsgType.TEXT:
                _handle(hub, client, msg.data)
            else:
                hub.reply(client, _error("binary messages are not supported; send JSON text"))
    finally:
        hub.gone(client, ws.exception())
        await hub.disconnect(client)
    return ws


def _error(message: str) -> dict[str, Any]:
    return {"type": "error", "error": message}


def _handle(hub: Hub, client: Client, text: str) -> None:
    try:
        message = parse_json(text, "message")
    except JsonRefused as exc:
        hub.reply(client, _error(str(exc)))
        return
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        hub.reply(client, _error('message must be a JSON object with a string "type"'))
        return
    kind = message["type"]
    if kind == "ping":
        hub.reply(client, {"type": "pong"})
    elif kind == "subscribe":
        try:
            subscription = parse_subscription(message)
        except ApiError as exc:
            hub.reply(client, _error(exc.message))
            return
        hub.subscribe(client, subscription)
        hub.reply(
            client,
            {
                "type": "subscribed",
                "topics": [t for t in TOPICS if t in subscription.topics],
                "filter": subscription.selection.to_dict(),
            },
        )
    else:
        hub.reply(client, _error(f"unknown message type {kind[:64]!r}; known: ping, subscribe"))


def parse_subscription(message: dict[str, Any]) -> Subscription:
    """Validate a subscribe message whole; a bad one leaves the old subscription in place."""
    unknown = sorted(set(message) - {"type", "topics", "filter"})
    if unknown:
        raise ApiError(400, f"unknown subscribe field(s): {', '.join(unknown)}")
    topics = message.get("topics")
    if topics is None:
        chosen = DEFAULT_TOPICS
    else:
        if not isinstance(topics, list) or not topics or not all(isinstance(t, str) for t in topics):
            raise ApiError(400, "topics must be a non-empty list of topic names")
        bad = sorted({t for t in topics if t not in TOPICS})
        if bad:
            raise ApiError(400, f"unknown topic(s): {', '.join(b[:64] for b in bad)}; known: {', '.join(TOPICS)}")
        chosen = frozenset(topics)
    raw_filter = message.get("filter")
    if raw_filter is None:
        selection = Selection()
    elif isinstance(raw_filter, dict):
        selection = Selection.from_mapping(raw_filter)
    else:
        raise ApiError(400, "filter must be an object with pid, process and/or protocol")
    return Subscription(chosen, selection)
