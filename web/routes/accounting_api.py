"""The accounting JSON API: billing period, daily totals, months, adjustments, settings, state.

Reads come from the accountant's memory and never wait on SQLite. Changes
(`POST /adjust`, `PUT /api/settings`, `POST /api/traffic-state`) are checked as
a whole by the accountant and applied in memory at once, or refused with a 400
naming the field (`ValidationError`, rendered by `web.errors`) with nothing
changed; its background thread persists them. Export and import build or parse
a document of thousands of rows, so they run in an executor.

`GET /daily` and `GET /config` are also the dashboard's pages: `web.app`
registers `daily` and `config` here for programs only (`web.routes.negotiated`).
"""

from __future__ import annotations

import asyncio

from aiohttp import hdrs, web

from trafficmon.state import AccountingConfig, Adjustment, ValidationError
from trafficmon.web.keys import ACCOUNTANT_KEY, CONFIG_KEY
from trafficmon.web.parsing.bodies import is_form, read_json, read_object
from trafficmon.web.parsing.queries import bounded_int, known_params
from trafficmon.web.routes import adjust_form
from trafficmon.web.routes.adjust import parse_adjustment
from trafficmon.web.routes.pages import wants_html
from trafficmon.web.views import period_json

routes = web.RouteTableDef()

DEFAULT_HOSTS = 20


def _days(request: web.Request) -> int | None:
    """The optional `days` parameter: how many days back, up to the retention."""
    retention = request.app[ACCOUNTANT_KEY].settings().daily_retention_days
    return bounded_int(known_params(request.query, ("days",))["days"], "days", 1, retention)


@routes.get("/data", name="data")
async def data(request: web.Request) -> web.Response:
    known_params(request.query, ())
    return web.json_response(period_json.period(request.app[ACCOUNTANT_KEY]))


async def daily(request: web.Request) -> web.Response:
    """`GET /daily` for programs: the daily totals (the page is `web.routes.pages`)."""
    response = web.json_response(period_json.daily(request.app[ACCOUNTANT_KEY], _days(request)))
    response.headers[hdrs.VARY] = hdrs.ACCEPT
    return response


@routes.get("/daily-chart", name="daily_chart")
async def daily_chart(request: web.Request) -> web.Response:
    return web.json_response(period_json.daily_chart(request.app[ACCOUNTANT_KEY], _days(request)))


@routes.get("/api/months", name="api_months")
async def months(request: web.Request) -> web.Response:
    known_params(request.query, ())
    listed = [month.to_dict() for month in request.app[ACCOUNTANT_KEY].months()]
    return web.json_response({"months": listed, "count": len(listed)})


@routes.post("/adjust", name="adjust")
async def adjust(request: web.Request) -> web.Response:
    """Set or add to the period's counted total by hand; answers the audit entry and the period.

    A browser's form post (a form that prefers HTML) is sent back to /config instead (`web.routes.adjust_form`).
    """
    known_params(request.query, ())
    if is_form(request) and wants_html(request.headers.get(hdrs.ACCEPT, "")):
        return await adjust_form.answer(request, _adjust)
    entry = await _adjust(request)
    return web.json_response(
        {"adjustment": entry.to_dict(), "period": period_json.period(request.app[ACCOUNTANT_KEY])}
    )


async def _adjust(request: web.Request) -> Adjustment:
    fields = await read_object(request, form=True)
    wanted = parse_adjustment(fields, form=is_form(request))
    accountant = request.app[ACCOUNTANT_KEY]
    try:
        return await asyncio.get_running_loop().run_in_executor(
            None, accountant.adjust, wanted.mode, wanted.amount, wanted.note
        )
    except ValidationError as exc:
        if exc.field == "bytes" and wanted.unit != "bytes":
            raise ValidationError(wanted.unit, f"{exc.message} (in bytes)") from None
        raise


async def config(request: web.Request) -> web.Response:
    """`GET /config` for programs: the settings in force and what each one is (the page is `web.routes.pages`).

    The page's `adjusted` and `refused` are taken and ignored: the document
    states them for the operation, so a program sending them is not refused.
    """
    known_params(request.query, ("adjusted", "refused"))
    body = {
        "settings": request.app[ACCOUNTANT_KEY].settings().to_dict(),
        "fields": AccountingConfig.describe(),
    }
    response = web.json_response(body)
    response.headers[hdrs.VARY] = hdrs.ACCEPT
    return response


def _settings(request: web.Request) -> dict[str, object]:
    return {
        "settings": request.app[ACCOUNTANT_KEY].settings().to_dict(),
        "live": sorted(AccountingConfig.live_settings()),
    }


@routes.get("/api/settings", name="api_settings")
async def settings(request: web.Request) -> web.Response:
    known_params(request.query, ())
    return web.json_response(_settings(request))


@routes.put("/api/settings", name="api_settings_update")
async def update_settings(request: web.Request) -> web.Response:
    """Change live settings: the object's settings are checked together and applied at once."""
    known_params(request.query, ())
    changes = await read_object(request)
    await asyncio.get_running_loop().run_in_executor(
        None, request.app[ACCOUNTANT_KEY].update_settings, changes
    )
    return web.json_response(_settings(request))


@routes.get("/api/traffic-state", name="api_traffic_state")
async def export_state(request: web.Request) -> web.Response:
    known_params(request.query, ())
    loop = asyncio.get_running_loop()
    document = await loop.run_in_executor(None, request.app[ACCOUNTANT_KEY].export_state)
    return web.json_response(document)


@routes.post("/api/traffic-state", name="api_traffic_state_import")
async def import_state(request: web.Request) -> web.Response:
    """Replace the whole traffic state with an exported document: all of it, or nothing."""
    known_params(request.query, ())
    document = await read_json(request)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, request.app[ACCOUNTANT_KEY].import_state, document)
    return web.json_response(
        {"imported": True, "period": period_json.period(request.app[ACCOUNTANT_KEY])}
    )


@routes.get("/api/audit", name="api_audit")
async def audit(request: web.Request) -> web.Response:
    known_params(request.query, ())
    entries = [entry.to_dict() for entry in request.app[ACCOUNTANT_KEY].audit()]
    return web.json_response({"audit": entries, "count": len(entries)})


@routes.get("/api/alerts", name="api_alerts")
async def alerts(request: web.Request) -> web.Response:
    """Every cap threshold crossed so far, oldest first: what `alert` messages said to whoever was connected."""
    known_params(request.query, ())
    listed = [period_json.alert(event) for event in request.app[ACCOUNTANT_KEY].events()]
    return web.json_response({"alerts": listed, "count": len(listed)})


@routes.get("/api/hosts", name="api_hosts")
async def hosts(request: web.Request) -> web.Response:
    """The period's top talkers: bytes per remote address, largest sender first."""
    most = request.app[CONFIG_KEY].max_connections_limit
    limit = bounded_int(known_params(request.query, ("limit",))["limit"], "limit", 1, most)
    chosen = min(DEFAULT_HOSTS, most) if limit is None else limit
    listed = [row.to_dict() for row in request.app[ACCOUNTANT_KEY].hosts(chosen)]
    return web.json_response({"hosts": listed, "count": len(listed)})
