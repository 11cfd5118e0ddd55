"""The live JSON API: /health and /api/* read the latest snapshot and never wait for capture.

Where the accounting adds to a live view (/health, period totals per process,
the persisted per-minute history) it is read from the accountant's memory, so
these still never wait on anything.
"""

from __future__ import annotations

import json
import time

from aiohttp import web

from trafficmon.state import MINUTE
from trafficmon.web.keys import ACCOUNTANT_KEY, CONFIG_KEY, SOURCE_KEY, TICK_BUILDS_KEY
from trafficmon.web.views import live_json, period_json
from trafficmon.web.parsing.queries import (
    CONNECTION_SORT_FIELDS,
    PROCESS_SORT_FIELDS,
    duration,
    known_params,
    parse_list_query,
)

routes = web.RouteTableDef()

SECONDS_PER_HOUR = 3600


def _no_query(request: web.Request) -> None:
    known_params(request.query, ())


@routes.get("/health", name="health")
async def health(request: web.Request) -> web.Response:
    _no_query(request)
    status, body = live_json.health(
        request.app[SOURCE_KEY].snapshot(),
        time.time(),
        period_json.health(request.app[ACCOUNTANT_KEY].status()),
    )
    return web.json_response(body, status=status)


@routes.get("/api/connections", name="api_connections")
async def connections(request: web.Request) -> web.Response:
    selection, ordering = parse_list_query(
        request.query,
        sort_fields=CONNECTION_SORT_FIELDS,
        max_limit=request.app[CONFIG_KEY].max_connections_limit,
    )
    body = await request.app[TICK_BUILDS_KEY].body(
        request.app[SOURCE_KEY].snapshot(),
        ("connections", selection, ordering),
        lambda snap: json.dumps(live_json.connections(snap, selection, ordering)).encode(),
    )
    return web.Response(body=body, content_type="application/json")


@routes.get("/api/processes", name="api_processes")
async def processes(request: web.Request) -> web.Response:
    selection, ordering = parse_list_query(
        request.query,
        sort_fields=PROCESS_SORT_FIELDS,
        max_limit=request.app[CONFIG_KEY].max_connections_limit,
        filters=("pid", "process"),
    )
    snap = request.app[SOURCE_KEY].snapshot()
    period = request.app[ACCOUNTANT_KEY].processes("name")
    return web.json_response(live_json.processes(snap, selection, ordering, period))


@routes.get("/api/stats", name="api_stats")
async def stats(request: web.Request) -> web.Response:
    _no_query(request)
    return web.json_response(live_json.stats(request.app[SOURCE_KEY].snapshot()))


@routes.get("/api/bandwidth-history", name="api_bandwidth_history")
async def bandwidth_history(request: web.Request) -> web.Response:
    """The live ring (one point per tick), or with `range` the persisted per-minute history."""
    accountant = request.app[ACCOUNTANT_KEY]
    kept = accountant.settings().minute_history_hours * SECONDS_PER_HOUR
    raw = known_params(request.query, ("range",))["range"]
    seconds = duration(raw, "range", kept)
    if seconds is None:
        return web.json_response(live_json.history(request.app[SOURCE_KEY].snapshot()))
    points = accountant.history(seconds)
    return web.json_response({"history": points, "count": len(points), "range": raw, "resolution": MINUTE})


@routes.get("/api/capture", name="api_capture")
async def capture(request: web.Request) -> web.Response:
    _no_query(request)
    return web.json_response(live_json.capture(request.app[SOURCE_KEY].snapshot()))


@routes.get("/api/interfaces", name="api_interfaces")
async def interfaces(request: web.Request) -> web.Response:
    _no_query(request)
    return web.json_response(live_json.interfaces(request.app[SOURCE_KEY].snapshot()))
