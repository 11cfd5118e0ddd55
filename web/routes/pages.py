"""Pages for people (the dashboard, /docs, /redoc) and the OpenAPI document they are built from.

`GET /` serves HTML only to a client that asks for text/html explicitly (a
browser) and at least as much as JSON; everything else — curl's `*/*`,
scripts — gets the API description as JSON, as the seed API did. `GET /daily`
and `GET /config` are pages here too; their JSON for programs is registered
ahead of them (`web.routes.negotiated`).

The dashboard pages are templates filled in by their scripts from the API and
the WebSocket; each page gets, in its `data-settings`, the few settings its
scripts need to draw honestly (tick interval, history lengths, the speed
windows, the bound on connections per message); /config also gets the rules
of the settings its form changes, from the settings table, which its script
checks by (`trafficmon.settings.client_rules`), and the longest note an
adjustment keeps.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp_jinja2
from aiohttp import hdrs, web

from trafficmon.settings import client_rules, table
from trafficmon.state import NOTE_CHARS, AccountingConfig
from trafficmon.web.keys import ACCOUNTANT_KEY, CONFIG_KEY, OPENAPI_KEY, SOURCE_KEY
from trafficmon.web.openapi import describe
from trafficmon.web.parsing.queries import MAX_PID
from trafficmon.web.routes.adjust_form import page_result
from trafficmon.web.views import period_json
from trafficmon.web.views.live_json import capture_problem

routes = web.RouteTableDef()


def _quality(accept: str, wanted: str) -> float:
    """The q-value `accept` gives to exactly `wanted` (0 when it is not named)."""
    best = 0.0
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        if media.lower() != wanted:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        best = max(best, q)
    return best


def wants_html(accept: str) -> bool:
    html = _quality(accept, "text/html")
    return html > 0 and html >= _quality(accept, "application/json")


def window_text(seconds: float) -> str:
    """How the pages name a speed window: "last 5 s", "last minute", "last 2 min", "last hour"."""
    if seconds == 60:
        return "last minute"
    if seconds == 3600:
        return "last hour"
    if seconds > 60 and seconds % 60 == 0:
        return f"last {seconds / 60:g} min"
    return f"last {seconds:g} s"


def page_context(request: web.Request, page: str, **extra: Any) -> dict[str, Any]:
    """What every dashboard template gets: its name, the settings its scripts need, the state's health.

    `banner` is rendered into the page's state banner, so a browser without
    JavaScript learns that capture is down or changes are refused before it
    posts one; scripts keep it current. The two speed windows come with the
    words the pages label their figures with (`window_text`), so the server
    and the scripts name them alike.
    """
    config = request.app[CONFIG_KEY]
    settings = {
        "page": page,
        "update_interval": config.engine.update_interval,
        "history_length": config.engine.history_length,
        "speed_window": config.engine.speed_window,
        "speed_window_text": window_text(config.engine.speed_window),
        "average_window": config.engine.average_window,
        "average_window_text": window_text(config.engine.average_window),
        "minute_history_hours": config.accounting.minute_history_hours,
        "max_connections": config.ws_max_connections,
        **extra,
    }
    return {"page": page, "settings": settings, "banner": state_banner(request)}


def state_banner(request: web.Request) -> dict[str, str] | None:
    """What the state banner says (as `TM.stateBanner` in common.js does from /health), or None.

    Capture down, or the state that cannot be written, comes first: a person
    about to change something must see it without scrolling, on every page.
    """
    snap = request.app[SOURCE_KEY].snapshot()
    down = capture_problem(snap, time.time())
    if down is not None:
        return {"level": "critical", "text": f"Capture is down: {down}"}
    state = period_json.health(request.app[ACCOUNTANT_KEY].status())
    if state["problem"] is None:
        return None
    if not state["saving"]:
        return {"level": "critical", "text": f"Changes cannot be saved: {state['problem']}"}
    return {"level": "warning", "text": state["problem"]}


@routes.get("/", name="index")
async def index(request: web.Request) -> web.StreamResponse:
    if wants_html(request.headers.get(hdrs.ACCEPT, "")):
        response = aiohttp_jinja2.render_template("index.html", request, page_context(request, "overview"))
    else:
        response = web.json_response(describe(request.app[OPENAPI_KEY]))
    response.headers[hdrs.VARY] = hdrs.ACCEPT
    return response


@routes.get(r"/processes/{pid:\d{1,7}}", name="process_page")
async def process_page(request: web.Request) -> web.Response:
    pid = int(request.match_info["pid"])
    if pid > MAX_PID:
        raise web.HTTPNotFound(text=f"no such process id: {pid}")
    return aiohttp_jinja2.render_template("process.html", request, page_context(request, "process", pid=pid))


@routes.get("/daily", name="daily_page")
async def daily_page(request: web.Request) -> web.Response:
    return aiohttp_jinja2.render_template("daily.html", request, page_context(request, "daily"))


@routes.get("/months", name="months_page")
async def months_page(request: web.Request) -> web.Response:
    return aiohttp_jinja2.render_template("months.html", request, page_context(request, "months"))


@routes.get("/config", name="config_page")
async def config_page(request: web.Request) -> web.Response:
    """The settings page; after a form post without JavaScript, with its result (`web.routes.adjust_form`)."""
    rules = client_rules(entry for entry in table(AccountingConfig) if entry.live)
    context = {**page_context(request, "config", rules=rules, note_chars=NOTE_CHARS), "adjust": page_result(request)}
    return aiohttp_jinja2.render_template("config.html", request, context)


@routes.get("/docs", name="docs")
@aiohttp_jinja2.template("docs.html")
async def docs(request: web.Request) -> dict[str, str]:
    return {"title": request.app[OPENAPI_KEY]["info"]["title"]}


@routes.get("/redoc", name="redoc")
@aiohttp_jinja2.template("redoc.html")
async def redoc(request: web.Request) -> dict[str, str]:
    return {"title": request.app[OPENAPI_KEY]["info"]["title"]}


@routes.get("/openapi.json", name="openapi_json")
async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI_KEY])
