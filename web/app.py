"""The application factory: wires config, the snapshot source, the accountant, auth and every route.

Middlewares, outermost first: security headers (on every answer, errors
included), CORS (preflights answered before auth, as browsers send them without
credentials), errors (anything below becomes JSON), auth (not with AUTH=none,
which the configuration allows on loopback only), CSRF, body limit.

Two `cleanup_ctx` generators run the moving parts, in this order at startup
and the reverse at shutdown: the accounting (the accountant started — after
the engine, whose sockets the command opened first — fed by engine ticks,
its threshold events turned into WebSocket alerts, and stopped with a final
flush), then the publisher (engine ticks -> hub). WebSockets are closed with
GOING_AWAY in `on_shutdown`, before the server stops.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import WSCloseCode, web

from trafficmon.state import Accountant, ThresholdEvent
from trafficmon.web.config import ServiceConfig
from trafficmon.web.errors import error_middleware
from trafficmon.web.live import endpoint
from trafficmon.web.live.hub import Hub
from trafficmon.web.routes import accounting_api, bundles, live_api, pages
from trafficmon.web.security.auth import auth_middleware
from trafficmon.web.security.credentials import Credentials
from trafficmon.web.security.headers import body_limit_middleware, security_headers_middleware
from trafficmon.web.views import period_json
from trafficmon.web.keys import (
    ACCOUNTANT_KEY,
    CONFIG_KEY,
    CREDENTIALS_KEY,
    HUB_KEY,
    OPENAPI_KEY,
    REFUSALS_KEY,
    REGISTRY_KEY,
    SOURCE_KEY,
    TICK_BUILDS_KEY,
)
from trafficmon.web.live.source import SnapshotSource
from trafficmon.web.live.tickbuilds import TickBuilds
from trafficmon.web.metrics.live import build_registry, metrics_handler
from trafficmon.web.metrics.period import PeriodCollector
from trafficmon.web.openapi import load_document
from trafficmon.web.routes.form_refusals import Refusals
from trafficmon.web.routes.negotiated import add_program_get
from trafficmon.web.security.origins import cors_middleware, csrf_middleware

STATIC_DIR = Path(__file__).parent / "static"
SHUTDOWN_REASON = "server shutting down"
KEPT_BODY_BYTES = 64 * 1024 * 1024
"""Bodies of one tick kept for the requests that repeat them: about ten of the largest list there is."""


def create_app(
    config: ServiceConfig,
    source: SnapshotSource,
    credentials: Credentials,
    accountant: Accountant,
    *,
    monotonic: Callable[[], float] = time.monotonic,
) -> web.Application:
    """Build the service around an already started `source`.

    `accountant` is not started yet: the app starts it and stops it. The
    command passes one reading the captured namespace's counters
    (`state.namespace_counters`), tests one with a fake clock and counters: where the
    state is kept is always the caller's explicit choice. `monotonic` is the
    clock the login throttle forgives failures by; tests pass one they move.
    """
    authentication = [auth_middleware(config, credentials, monotonic)] if config.auth == "basic" else []
    app = web.Application(
        client_max_size=config.max_body_bytes,
        middlewares=[
            security_headers_middleware,
            cors_middleware(config.cors_origins),
            error_middleware,
            *authentication,
            csrf_middleware(config.cors_origins),
            body_limit_middleware(config.max_body_bytes),
        ],
    )
    hub = Hub(config, source, lambda: period_json.period(accountant))
    registry = build_registry(source, hub, config.metrics_top_processes)
    registry.register(PeriodCollector(accountant, config.metrics_top_processes))
    app[CONFIG_KEY] = config
    app[CREDENTIALS_KEY] = credentials
    app[SOURCE_KEY] = source
    app[ACCOUNTANT_KEY] = accountant
    app[HUB_KEY] = hub
    app[OPENAPI_KEY] = load_document()
    app[REGISTRY_KEY] = registry
    app[REFUSALS_KEY] = Refusals()
    app[TICK_BUILDS_KEY] = TickBuilds(KEPT_BODY_BYTES)

    env = aiohttp_jinja2.setup(app, loader=jinja2.PackageLoader("trafficmon.web", "templates"), autoescape=True)
    env.globals["bundle_url"] = functools.partial(bundles.bundle_url, app)
    app.add_routes(live_api.routes)
    app.add_routes(accounting_api.routes)
    # Before the pages of the same paths: programs get JSON, browsers fall through to the page.
    add_program_get(app, "/daily", accounting_api.daily, "daily")
    add_program_get(app, "/config", accounting_api.config, "config")
    app.add_routes(pages.routes)
    app.add_routes(endpoint.routes)
    app.router.add_get("/metrics", metrics_handler(registry), name="metrics")
    app.add_routes(bundles.routes)  # before the static files whose folder they share
    app.router.add_static("/static", STATIC_DIR, append_version=True, name="static")

    app.cleanup_ctx.append(_accounting)
    app.cleanup_ctx.append(_publisher)
    app.on_shutdown.append(_close_websockets)
    return app


async def _accounting(app: web.Application) -> AsyncIterator[None]:
    """Run the accountant for as long as the app runs, then stop it with a final flush.

    Starting and stopping touch SQLite and the counters, so they run in an
    executor. Threshold events arrive on the accountant's thread and are handed
    to the hub on the loop. Ticks stop reaching the accountant before it stops.
    """
    accountant = app[ACCOUNTANT_KEY]
    hub = app[HUB_KEY]
    loop = asyncio.get_running_loop()

    def publish(event: ThresholdEvent) -> None:
        loop.call_soon_threadsafe(hub.publish_alert, period_json.alert(event))

    unsubscribe = accountant.subscribe(publish)
    await loop.run_in_executor(None, accountant.start)
    unsubscribe_ticks = app[SOURCE_KEY].subscribe(accountant.on_snapshot)
    yield
    unsubscribe_ticks()
    unsubscribe()
    await loop.run_in_executor(None, accountant.stop)


async def _publisher(app: web.Application) -> AsyncIterator[None]:
    """Route engine ticks into the hub for as long as the app runs; then stop the builder thread."""
    hub = app[HUB_KEY]
    hub.attach(asyncio.get_running_loop())
    unsubscribe = app[SOURCE_KEY].subscribe(hub.on_tick)
    yield
    unsubscribe()
    hub.detach()
    await hub.close_all(WSCloseCode.GOING_AWAY, SHUTDOWN_REASON)
    await asyncio.get_running_loop().run_in_executor(None, app[TICK_BUILDS_KEY].close)


async def _close_websockets(app: web.Application) -> None:
    await app[HUB_KEY].close_all(WSCloseCode.GOING_AWAY, SHUTDOWN_REASON)
