"""The live JSON API: /health and /api/* read the latest snapshot and never wait for capture."""

from __future__ import annotations

import time

from aiohttp import web

from web import payloads
from web.errors import ApiError
from web.keys import CONFIG_KEY, SOURCE_KEY
from web.queries import CONNECTION_SORT_FIELDS, PROCESS_SORT_FIELDS, parse_list_query

routes = web.RouteTableDef()


def _no_query(request: web.Request) -> None:
    if request.query:
        names = ", ".join(sorted(set(request.query)))
        raise ApiError(400, f"unknown query parameter(s): {names}; this endpoint takes none")


@routes.get("/health", name="health")
async def health(request: web.Request) -> web.Response:
    _no_query(request)
    status, body = payloads.health(request.app[SOURCE_KEY].snapshot(), time.time())
    return web.json_response(body, status=status)


@routes.get("/api/connections", name="api_connections")
async def connections(request: web.Request) -> web.Response:
    selection, ordering = parse_list_query(
        request.query,
        sort_fields=CONNECTION_SORT_FIELDS,
        max_limit=request.app[CONFIG_KEY].max_connections_limit,
    )
    snap = request.app[SOURCE_KEY].snapshot()
    return web.json_response(payloads.connections(snap, selection, ordering))


@routes.get("/api/processes", name="api_processes")
async def processes(request: web.Request) -> web.Response:
    selection, ordering = parse_list_query(
        request.query,
        sort_fields=PROCESS_SORT_FIELDS,
        max_limit=request.app[CONFIG_KEY].max_connections_limit,
        filters=("pid", "process"),
    )
    snap = request.app[SOURCE_KEY].snapshot()
    return web.json_response(payloads.processes(snap, selection, ordering))


@routes.get("/api/stats", name="api_stats")
async def stats(request: web.Request) -> web.Response:
    _no_query(request)
    return web.json_response(payloads.stats(request.app[SOURCE_KEY].snapshot()))


@routes.get("/api/bandwidth-history", name="api_bandwidth_history")
async def bandwidth_history(request: web.Request) -> web.Response:
    _no_query(request)
    return web.json_response(payloads.history(request.app[SOURCE_KEY].snapshot()))


@routes.get("/api/capture", name="api_capture")
async def capture(request: web.Request) -> web.Response:
    _no_query(request)
    return web.json_response(payloads.capture(request.app[SOURCE_KEY].snapshot()))


@routes.get("/api/interfaces", name="api_interfaces")
async def interfaces(request: web.Request) -> web.Response:
    _no_query(request)
    return web.json_response(payloads.interfaces(request.app[SOURCE_KEY].snapshot()))
