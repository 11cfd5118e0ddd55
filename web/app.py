"""The application factory: wires config, the snapshot source, auth and every route.

Middlewares, outermost first: security headers (on every answer, errors
included), CORS (preflights answered before auth, as browsers send them without
credentials), errors (anything below becomes JSON), auth, CSRF, body limit.
The publisher (engine subscription -> hub) lives in `cleanup_ctx`; WebSockets
are closed with GOING_AWAY in `on_shutdown`, before the server stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import WSCloseCode, web

from web import api, pages, ws
from web.auth import auth_middleware
from web.config import ServiceConfig
from web.credentials import Credentials
from web.errors import error_middleware
from web.headers import body_limit_middleware, security_headers_middleware
from web.hub import Hub
from web.keys import CONFIG_KEY, CREDENTIALS_KEY, HUB_KEY, OPENAPI_KEY, REGISTRY_KEY, SOURCE_KEY
from web.metrics import build_registry, metrics_handler
from web.openapi import load_document
from web.origins import cors_middleware, csrf_middleware
from web.payloads import TrafficSource, engine_traffic
from web.sources import SnapshotSource

STATIC_DIR = Path(__file__).parent / "static"
SHUTDOWN_REASON = "server shutting down"


def create_app(
    config: ServiceConfig,
    source: SnapshotSource,
    credentials: Credentials,
    *,
    traffic: TrafficSource | None = None,
) -> web.Application:
    """Build the service around an already started `source`.

    `traffic` builds the WebSocket `traffic` part; until `state` provides the
    billing period it is the engine's totals since start.
    """
    app = web.Application(
        client_max_size=config.max_body_bytes,
        middlewares=[
            security_headers_middleware,
            cors_middleware(config.cors_origins),
            error_middleware,
            auth_middleware(config, credentials),
            csrf_middleware(config.cors_origins),
            body_limit_middleware(config.max_body_bytes),
        ],
    )
    if traffic is None:
        cap = None if config.traffic_cap_gb is None else round(config.traffic_cap_gb * 10**9)
        traffic = engine_traffic(cap)
    hub = Hub(config, source, traffic)
    app[CONFIG_KEY] = config
    app[CREDENTIALS_KEY] = credentials
    app[SOURCE_KEY] = source
    app[HUB_KEY] = hub
    app[OPENAPI_KEY] = load_document()
    app[REGISTRY_KEY] = build_registry(source, hub, config.metrics_top_processes)

    aiohttp_jinja2.setup(app, loader=jinja2.PackageLoader("web", "templates"), autoescape=True)
    app.add_routes(api.routes)
    app.add_routes(pages.routes)
    app.add_routes(ws.routes)
    app.router.add_get("/metrics", metrics_handler(app[REGISTRY_KEY]), name="metrics")
    app.router.add_static("/static", STATIC_DIR, append_version=True, name="static")

    app.cleanup_ctx.append(_publisher)
    app.on_shutdown.append(_close_websockets)
    return app


async def _publisher(app: web.Application) -> AsyncIterator[None]:
    """Route engine ticks into the hub for as long as the app runs."""
    hub = app[HUB_KEY]
    hub.attach(asyncio.get_running_loop())
    app[SOURCE_KEY].subscribe(hub.on_tick)
    yield
    hub.detach()
    await hub.close_all(WSCloseCode.GOING_AWAY, SHUTDOWN_REASON)


async def _close_websockets(app: web.Application) -> None:
    await app[HUB_KEY].close_all(WSCloseCode.GOING_AWAY, SHUTDOWN_REASON)
