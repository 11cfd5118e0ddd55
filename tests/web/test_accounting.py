"""The accounting endpoints against a real accountant (real SQLite in tmp_path, fake clock and counters).

Every answer is checked against the OpenAPI document; every refused request is
checked to leave the whole exported state exactly as it was.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, make_mocked_request
from prometheus_client.parser import text_string_to_metric_families

from trafficmon.capture.model import Usage
from trafficmon.state import Accountant, CounterReading
from trafficmon.state.datadir import DataDirUnusable
from tests.state.fakes import FakeClock, FakeCounters, at
from tests.web.conftest import AUTH, MakeAccountant, MakeClient, accounting_config, build_app
from tests.web.fakes import FakeEngine, build_snapshot
from tests.web.openapi_check import OpenApi
from trafficmon.web.routes import accounting_api
from tests.support.web import GB, MB, call, traffic

RECEIVE_TIMEOUT = 5.0


async def exported(client: TestClient, openapi: OpenApi) -> dict[str, Any]:
    return await call(client, openapi, "GET", "/api/traffic-state")


def usage(process: str, pid: int | None, remote: str, sent: int, received: int = 0) -> Usage:
    return Usage(process, f"/usr/bin/{process} --flag", pid, remote, "tcp", sent, received)


def tick_usage(engine: FakeEngine, seq: int, *rows: Usage) -> None:
    """One engine tick whose per-process usage the accountant adds to the period's breakdown."""
    engine.tick(dataclasses.replace(build_snapshot(seq=seq), usage=rows))


# -- the period ----------------------------------------------------------------


async def test_data_is_the_current_period_from_the_kernel_counters(
    client: TestClient, openapi: OpenApi, clock: FakeClock, counters: FakeCounters
) -> None:
    await traffic(client, clock, counters, 60, 300 * MB, 40 * MB)
    body = await call(client, openapi, "GET", "/data")
    assert (body["start"], body["end"]) == ("2024-01-01T00:00:00+00:00", "2024-02-01T00:00:00+00:00")
    assert (body["outbound"], body["inbound"], body["counted"], body["offset"]) == (300 * MB, 40 * MB, 300 * MB, 0)
    assert (body["cap_bytes"], body["cap"], body["cap_gb"], body["remaining"]) == (GB, GB, 1.0, 700 * MB)
    assert (body["used_percent"], body["level"], body["status"]) == (30.0, "ok", "ok")
    assert body["updated"] == "2024-01-10T12:01:00+00:00"
    await call(client, openapi, "GET", "/data?x=1", status=400)


async def test_daily_totals_for_programs(client: TestClient, openapi: OpenApi, clock: FakeClock,
                                         counters: FakeCounters) -> None:
    await traffic(client, clock, counters, 60, 5 * MB, 1 * MB)
    response = await client.get("/daily", headers={**AUTH, "Accept": "application/json"})
    assert response.headers["Vary"] == "Accept"
    body = await response.json()
    openapi.check_response("/daily", "get", 200, body)
    assert body["count"] == len(body["days"]) == 10  # 1 to 10 January: the period so far
    assert body["days"][-1] == {"date": "2024-01-10", "outbound": 5 * MB, "inbound": MB, "total": 6 * MB,
                                "counted": 5 * MB}
    three = await call(client, openapi, "GET", "/daily?days=3", doc_path="/daily")
    assert [d["date"] for d in three["days"]] == ["2024-01-08", "2024-01-09", "2024-01-10"]
    curl = await client.get("/daily", headers=AUTH)  # curl's */* is a program, not a browser
    assert (await curl.json())["count"] == 10
    for query in ("days=0", "days=401", "days=two", "days=1&days=2", "colour=red"):
        await call(client, openapi, "GET", f"/daily?{query}", doc_path="/daily", status=400)


@pytest.mark.parametrize(("path", "handler"), [("/daily", accounting_api.daily), ("/config", accounting_api.config)])
async def test_a_browser_falls_through_to_the_page(client: TestClient, path: str, handler: Any) -> None:
    router = client.server.app.router
    program = await router.resolve(make_mocked_request("GET", path, headers={"Accept": "application/json"}))
    assert program.handler is handler
    browser = await router.resolve(make_mocked_request(
        "GET", path, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}))
    assert browser.handler is not handler
    assert browser.route.method == "GET"  # the page's route, registered after this one


async def test_daily_chart(client: TestClient, openapi: OpenApi, clock: FakeClock, counters: FakeCounters) -> None:
    await traffic(client, clock, counters, 60, 100 * MB)
    body = await call(client, openapi, "GET", "/daily-chart")
    assert body["count"] == 10
    assert (body["period_days"], body["daily_budget"]) == (31, GB // 31)
    # 900 MB left, over the 21.5 days from noon on the 10th to 1 February.
    assert body["remaining_per_day"] == int(900 * MB / 21.5)
    assert (body["cap_bytes"], body["counted"], body["timezone"]) == (GB, 100 * MB, "UTC")
    await call(client, openapi, "GET", "/daily-chart?days=0", status=400)


async def test_months_archive_closed_periods(client: TestClient, openapi: OpenApi, clock: FakeClock,
                                            counters: FakeCounters) -> None:
    await traffic(client, clock, counters, 60, 200 * MB)
    clock.now = at("2024-02-02 00:00") - 60
    await traffic(client, clock, counters, 60, 10 * MB)
    body = await call(client, openapi, "GET", "/api/months")
    assert body["count"] == 2
    current, january = body["months"]
    assert (current["current"], current["start"]) == (True, "2024-02-01T00:00:00+00:00")
    assert (january["current"], january["start"], january["end"]) == (
        False, "2024-01-01T00:00:00+00:00", "2024-02-01T00:00:00+00:00")
    assert january["outbound"] + current["outbound"] == 210 * MB
    assert january["peak_day"]["date"] == "2024-01-10"


# -- manual adjustments --------------------------------------------------------


async def test_adjust_with_json_then_with_forms(client: TestClient, openapi: OpenApi) -> None:
    body = await call(client, openapi, "POST", "/adjust", json={"mode": "set", "bytes": 400 * MB, "note": "meter"})
    assert body["adjustment"] == {
        "id": 1, "time": "2024-01-10T12:00:00+00:00", "period_start": "2024-01-01T00:00:00+00:00",
        "mode": "set", "bytes": 400 * MB, "old_offset": 0, "new_offset": 400 * MB, "old_counted": 0,
        "new_counted": 400 * MB, "note": "meter",
    }
    assert (body["period"]["counted"], body["period"]["offset"]) == (400 * MB, 400 * MB)
    body = await call(client, openapi, "POST", "/adjust", json={"mode": "add", "gb": 0.1})
    assert body["period"]["counted"] == 500 * MB
    body = await call(client, openapi, "POST", "/adjust", data={"mode": "add", "gb": "-0.05", "note": "form"})
    assert (body["adjustment"]["bytes"], body["period"]["counted"]) == (-50 * MB, 450 * MB)
    multipart = aiohttp.FormData({"mode": "set", "bytes": "123"}, default_to_multipart=True)
    body = await call(client, openapi, "POST", "/adjust", data=multipart)
    assert body["period"]["counted"] == 123
    audit = await call(client, openapi, "GET", "/api/audit")
    assert audit["count"] == 4
    assert [(e["mode"], e["new_counted"], e["note"]) for e in audit["audit"]] == [
        ("set", 400 * MB, "meter"), ("add", 500 * MB, ""), ("add", 450 * MB, "form"), ("set", 123, "")]


BAD_ADJUSTMENTS = [
    pytest.param({"json": {"mode": "set"}}, 400, "bytes", id="no-amount"),
    pytest.param({"json": {"mode": "set", "bytes": 1, "gb": 1}}, 400, "bytes", id="both-amounts"),
    pytest.param({"json": {"bytes": 1}}, 400, "mode", id="no-mode"),
    pytest.param({"json": {"mode": "reset", "bytes": 1}}, 400, "mode", id="unknown-mode"),
    pytest.param({"json": {"mode": "set", "bytes": "1"}}, 400, "bytes", id="bytes-as-string"),
    pytest.param({"json": {"mode": "set", "bytes": True}}, 400, "bytes", id="bytes-as-bool"),
    pytest.param({"json": {"mode": "set", "bytes": 1.5}}, 400, "bytes", id="fractional-bytes"),
    pytest.param({"json": {"mode": "set", "bytes": -1}}, 400, "bytes", id="negative-set"),
    pytest.param({"json": {"mode": "add", "bytes": -21 * MB}}, 400, "bytes", id="negative-total"),
    pytest.param({"json": {"mode": "set", "bytes": 2**63}}, 400, "bytes", id="bytes-over-limit"),
    pytest.param({"json": {"mode": "set", "gb": 1e30}}, 400, "gb", id="gb-over-limit"),
    pytest.param({"json": {"mode": "set", "gb": -1}}, 400, "gb", id="negative-gb"),
    pytest.param({"json": {"mode": "set", "gb": "1"}}, 400, "gb", id="gb-as-string"),
    pytest.param({"json": {"mode": "set", "gb": 1e-10}}, 400, "gb", id="fraction-of-a-byte"),
    pytest.param({"json": {"mode": "set", "bytes": 1, "note": 5}}, 400, "note", id="note-not-text"),
    pytest.param({"json": {"mode": "set", "bytes": 1, "note": "x" * 501}}, 400, "note", id="note-too-long"),
    pytest.param({"json": {"mode": "set", "bytes": 1, "when": "now"}}, 400, "when", id="unknown-field"),
    pytest.param({"json": [1, 2]}, 400, None, id="not-an-object"),
    pytest.param({"data": b"{", "headers": {"Content-Type": "application/json"}}, 400, None, id="malformed-json"),
    pytest.param({"data": b"", "headers": {"Content-Type": "application/json"}}, 400, None, id="empty"),
    pytest.param({"data": b"mode=set", "headers": {"Content-Type": "text/plain"}}, 415, None, id="text-plain"),
    pytest.param({"data": {"mode": "set", "bytes": "12k"}}, 400, "bytes", id="form-bytes-not-a-number"),
    pytest.param({"data": {"mode": "set", "gb": "1e3"}}, 400, "gb", id="form-gb-exponent"),
    pytest.param({"data": [("mode", "set"), ("mode", "add"), ("bytes", "1")]}, 400, None, id="form-field-twice"),
]


@pytest.mark.parametrize(("request_args", "status", "field"), BAD_ADJUSTMENTS)
async def test_bad_adjustment_is_refused_and_changes_nothing(
    client: TestClient, openapi: OpenApi, clock: FakeClock, counters: FakeCounters,
    request_args: dict[str, Any], status: int, field: str | None,
) -> None:
    await traffic(client, clock, counters, 60, 10 * MB)
    await call(client, openapi, "POST", "/adjust", json={"mode": "set", "bytes": 20 * MB})
    before = await exported(client, openapi)
    body = await call(client, openapi, "POST", "/adjust", status=status, **request_args)
    if field is not None:
        assert body["field"] == field
        assert body["error"].startswith(f"{field}: ")
    assert await exported(client, openapi) == before


async def test_adjust_from_another_site_is_refused(client: TestClient, openapi: OpenApi) -> None:
    before = await exported(client, openapi)
    form = {"mode": "set", "bytes": "5"}
    for headers in ({"Origin": "https://evil.example"}, {"Referer": "https://evil.example/page"},
                    {"Sec-Fetch-Site": "cross-site"}):
        body = await call(client, openapi, "POST", "/adjust", status=403, data=form, headers=headers)
        assert body["error"].startswith("cross-site request refused")
    assert await exported(client, openapi) == before
    own = f"http://{client.host}:{client.port}"
    body = await call(client, openapi, "POST", "/adjust", data=form, headers={"Origin": own})
    assert body["period"]["counted"] == 5


# -- settings ------------------------------------------------------------------


async def test_config_lists_the_settings_in_force_and_what_they_are(client: TestClient, openapi: OpenApi) -> None:
    body = await call(client, openapi, "GET", "/config")
    assert (body["settings"]["cap_gb"], body["settings"]["timezone"]) == (1.0, "UTC")
    fields = {f["name"]: f for f in body["fields"]}
    assert set(fields) == set(body["settings"])
    assert fields["cap_gb"] == {"name": "cap_gb", "env": "TRAFFIC_CAP_GB", "unit": "GB", "live": True,
                                "description": "traffic cap per billing period in decimal GB (10^9 bytes)"}
    assert fields["data_dir"]["live"] is False


async def test_settings_are_applied_live(client: TestClient, openapi: OpenApi) -> None:
    await call(client, openapi, "POST", "/adjust", json={"mode": "set", "bytes": 450 * MB})
    assert (await call(client, openapi, "GET", "/data"))["level"] == "ok"
    view = await call(client, openapi, "GET", "/api/settings")
    assert "cap_gb" in view["live"] and "data_dir" not in view["live"]
    view = await call(client, openapi, "PUT", "/api/settings", json={"cap_gb": 0.5, "reset_day": 5})
    assert (view["settings"]["cap_gb"], view["settings"]["reset_day"]) == (0.5, 5)
    period = await call(client, openapi, "GET", "/data")
    assert (period["cap_bytes"], period["used_percent"], period["level"]) == (500 * MB, 90.0, "warning")
    assert period["end"] == "2024-02-05T00:00:00+00:00"  # the current period now ends at the new reset day
    assert (await call(client, openapi, "GET", "/api/settings")) == view


BAD_SETTINGS = [
    pytest.param({"cap_gb": -1}, "cap_gb", id="negative-cap"),
    pytest.param({"cap_gb": "lots"}, "cap_gb", id="cap-as-string"),
    pytest.param({"reset_day": 32}, "reset_day", id="reset-day-out-of-range"),
    pytest.param({"timezone": "Mars/Olympus"}, "timezone", id="unknown-zone"),
    pytest.param({"warning_percent": 99}, "critical_percent", id="thresholds-out-of-order"),
    pytest.param({"cap_gb": 2, "reset_hour": 24}, "reset_hour", id="one-bad-of-two"),
    pytest.param({"data_dir": "/tmp/elsewhere"}, "data_dir", id="not-live"),
    pytest.param({"colour": "red"}, "colour", id="unknown"),
]


@pytest.mark.parametrize(("changes", "field"), BAD_SETTINGS)
async def test_bad_settings_are_refused_and_change_nothing(
    client: TestClient, openapi: OpenApi, changes: dict[str, Any], field: str
) -> None:
    settings = await call(client, openapi, "GET", "/api/settings")
    before = await exported(client, openapi)
    body = await call(client, openapi, "PUT", "/api/settings", status=400, json=changes)
    assert body["field"] == field
    assert await call(client, openapi, "GET", "/api/settings") == settings
    assert await exported(client, openapi) == before


async def test_settings_body_must_be_a_json_object(client: TestClient, openapi: OpenApi) -> None:
    await call(client, openapi, "PUT", "/api/settings", status=400, json=[{"cap_gb": 2}])
    await call(client, openapi, "PUT", "/api/settings", status=415, data={"cap_gb": "2"})
    assert (await call(client, openapi, "GET", "/api/settings"))["settings"]["cap_gb"] == 1.0


# -- the whole state -----------------------------------------------------------


async def test_export_then_import_round_trip_over_http(
    make_client: MakeClient, engine: FakeEngine, openapi: OpenApi, clock: FakeClock, counters: FakeCounters
) -> None:
    source = await make_client()
    await traffic(source, clock, counters, 120, 250 * MB, 30 * MB)
    await call(source, openapi, "POST", "/adjust", json={"mode": "add", "bytes": 5 * MB, "note": "carried"})
    tick_usage(engine, 2, usage("curl", 1234, "198.51.100.7", 2 * MB, 9 * MB))
    document = await exported(source, openapi)
    assert document["format"] == "trafficmon-traffic-state"

    target = await make_client()  # its own, fresh DATA_DIR
    assert (await call(target, openapi, "GET", "/data"))["counted"] == 0
    body = await call(target, openapi, "POST", "/api/traffic-state", json=document)
    assert body["imported"] is True
    assert body["period"]["counted"] == 255 * MB
    assert await exported(target, openapi) == document
    assert await call(target, openapi, "GET", "/api/audit") == await call(source, openapi, "GET", "/api/audit")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda doc: doc["period"].__setitem__("outbound", -1), "period.outbound"),
        (lambda doc: doc.__setitem__("format", "something-else"), "format"),
        (lambda doc: doc["daily"][0].__setitem__("date", "2024-13-01"), "daily[0].date"),
        (lambda doc: doc.__setitem__("extra", 1), "extra"),
    ],
)
async def test_invalid_import_is_refused_with_the_reason_and_changes_nothing(
    client: TestClient, openapi: OpenApi, clock: FakeClock, counters: FakeCounters, change: Any, field: str
) -> None:
    await traffic(client, clock, counters, 60, 70 * MB)
    before = await exported(client, openapi)
    document = await exported(client, openapi)
    change(document)
    body = await call(client, openapi, "POST", "/api/traffic-state", status=400, json=document)
    assert body["field"] == field
    assert await exported(client, openapi) == before


async def test_import_needs_json(client: TestClient, openapi: OpenApi) -> None:
    await call(client, openapi, "POST", "/api/traffic-state", status=400, json=[])
    await call(client, openapi, "POST", "/api/traffic-state", status=415, data={"format": "x"})


# -- alerts ----------------------------------------------------------------------


async def test_an_adjustment_crossing_the_warning_threshold_alerts_the_websocket(
    client: TestClient, openapi: OpenApi
) -> None:
    ws = await client.ws_connect("/ws", headers=AUTH)
    assert (await ws.receive_json(timeout=RECEIVE_TIMEOUT))["type"] == "initial"
    await call(client, openapi, "POST", "/adjust", json={"mode": "set", "bytes": 850 * MB})
    message = await ws.receive_json(timeout=RECEIVE_TIMEOUT)
    openapi.check_schema("WsAlert", message)
    data = message["data"]
    assert (message["type"], data["level"], data["used"], data["cap"], data["percent"]) == (
        "alert", "warning", 850 * MB, GB, 85.0)
    assert data["message"] == "Traffic warning: 85% of the 1 GB cap used in the period that began 2024-01-01"
    await call(client, openapi, "POST", "/adjust", json={"mode": "add", "bytes": 1})
    await ws.send_json({"type": "ping"})
    assert await ws.receive_json(timeout=RECEIVE_TIMEOUT) == {"type": "pong"}  # fired once, not again
    await ws.close()
    kept = await call(client, openapi, "GET", "/api/alerts")
    assert kept == {"alerts": [data], "count": 1}, "what was pushed stays readable"


async def test_no_alerts_before_a_threshold_is_crossed(client: TestClient, openapi: OpenApi) -> None:
    assert await call(client, openapi, "GET", "/api/alerts") == {"alerts": [], "count": 0}
    await call(client, openapi, "GET", "/api/alerts?level=warning", status=400)


# -- history, processes, hosts ---------------------------------------------------


async def test_range_gives_the_persisted_per_minute_history(
    client: TestClient, openapi: OpenApi, clock: FakeClock, counters: FakeCounters
) -> None:
    for _ in range(3):
        await traffic(client, clock, counters, 60, 6 * MB, 12 * MB)
    body = await call(client, openapi, "GET", "/api/bandwidth-history?range=48h", doc_path="/api/bandwidth-history")
    assert (body["range"], body["resolution"]) == ("48h", 60)
    assert body["count"] == len(body["history"]) == 3
    assert body["history"][-1] == {"timestamp": at("2024-01-10 12:02"), "upload": 100_000.0,
                                   "download": 200_000.0, "bytes_sent": 6 * MB, "bytes_received": 12 * MB}
    last_two = await call(client, openapi, "GET", "/api/bandwidth-history?range=2m", doc_path="/api/bandwidth-history")
    assert last_two["count"] == 2
    for bad in ("49h", "0h", "1w", "h", "-1h", "1h&range=2h", "1h&x=1"):
        body = await call(client, openapi, "GET", f"/api/bandwidth-history?range={bad}", status=400,
                          doc_path="/api/bandwidth-history")
        assert "range" in body["error"] or "known: range" in body["error"]


async def test_processes_carry_their_period_totals(client: TestClient, engine: FakeEngine, openapi: OpenApi) -> None:
    tick_usage(engine, 2, usage("curl", 1234, "198.51.100.7", 3 * MB, 40 * MB),
               usage("rsync", 999, "203.0.113.5", 70 * MB, 1 * MB))
    body = await call(client, openapi, "GET", "/api/processes")
    curl = next(p for p in body["processes"] if p["name"] == "curl")
    assert (curl["period_bytes_sent"], curl["period_bytes_received"], curl["download_speed"]) == (
        3 * MB, 40 * MB, 50_000.0)
    firefox = next(p for p in body["processes"] if p["name"] == "firefox")
    assert firefox["period_bytes_sent"] == 0
    assert [p["name"] for p in body["period_processes"]] == ["rsync", "curl"]  # rsync has exited
    narrowed = await call(client, openapi, "GET", "/api/processes?pid=1234")
    assert [p["name"] for p in narrowed["period_processes"]] == ["curl"]
    limited = await call(client, openapi, "GET", "/api/processes?limit=1")
    assert len(limited["period_processes"]) == 1


async def test_hosts_are_the_period_top_talkers(client: TestClient, engine: FakeEngine, openapi: OpenApi) -> None:
    tick_usage(engine, 2, usage("curl", 1234, "198.51.100.7", 3 * MB, 40 * MB),
               usage("rsync", 999, "203.0.113.5", 70 * MB, 1 * MB),
               usage("unknown", None, "192.0.2.9", 1 * MB, 0))
    body = await call(client, openapi, "GET", "/api/hosts")
    assert [(h["host"], h["bytes_sent"]) for h in body["hosts"]] == [
        ("203.0.113.5", 70 * MB), ("198.51.100.7", 3 * MB), ("192.0.2.9", 1 * MB)]
    assert (await call(client, openapi, "GET", "/api/hosts?limit=1"))["count"] == 1
    await call(client, openapi, "GET", "/api/hosts?limit=0", status=400)


# -- health and metrics ----------------------------------------------------------


async def test_health_reports_the_accounting(client: TestClient, openapi: OpenApi) -> None:
    body = await call(client, openapi, "GET", "/health")
    accounting = body["accounting"]
    assert (accounting["running"], accounting["persistent"], accounting["problem"]) == (True, True, None)
    assert accounting["database"].endswith("traffic.db")
    assert accounting["interfaces"] == ["eth0"]


async def test_an_unusable_data_dir_stops_the_app_from_starting(
    engine: FakeEngine, make_accountant: MakeAccountant, tmp_path: Path
) -> None:
    """No state kept in memory at start: the app does not come up (the CLI exits 2, one line)."""
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where DATA_DIR should be")
    runner = web.AppRunner(build_app(engine, make_accountant(data_dir=blocked)))
    try:
        with pytest.raises(DataDirUnusable, match=r"is not usable: Not a directory$"):
            await runner.setup()
    finally:
        await runner.cleanup()


async def test_health_is_degraded_while_the_counters_cannot_be_read(
    make_client: MakeClient, clock: FakeClock, openapi: OpenApi, tmp_path: Path
) -> None:
    def broken() -> CounterReading:
        raise OSError("/proc/net/dev: Permission denied")

    accountant = Accountant(accounting_config(tmp_path / "data"), clock=clock, counters=broken)
    client = await make_client(accountant=accountant)
    body = await call(client, openapi, "GET", "/health")
    assert body["status"] == "degraded"
    assert body["reason"] == "reading the interface counters failed: /proc/net/dev: Permission denied"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


async def test_metrics_carry_the_period(
    make_client: MakeClient, engine: FakeEngine, clock: FakeClock, counters: FakeCounters
) -> None:
    client = await make_client(metrics_top_processes=1)
    await traffic(client, clock, counters, 60, 820 * MB, 10 * MB)
    tick_usage(engine, 2, usage("rsync", 999, "203.0.113.5", 70 * MB), usage("curl", 1234, "198.51.100.7", 3 * MB),
               usage("ssh", 77, "203.0.113.6", 2 * MB), usage("unknown", None, "192.0.2.9", 1 * MB))
    response = await client.get("/metrics", headers=AUTH)
    values = samples(await response.text())
    assert values[("trafficmon_period_outbound_bytes", ())] == 820 * MB
    assert values[("trafficmon_period_inbound_bytes", ())] == 10 * MB
    assert values[("trafficmon_period_cap_bytes", ())] == GB
    assert values[("trafficmon_period_used_ratio", ())] == pytest.approx(0.82)
    assert values[("trafficmon_period_start_timestamp_seconds", ())] == at("2024-01-01 00:00")
    levels = {labels[0][1]: value for (name, labels), value in values.items() if name == "trafficmon_period_level"}
    assert levels == {"ok": 0.0, "warning": 1.0, "critical": 0.0, "exceeded": 0.0}
    sent = {labels[0][1]: value for (name, labels), value in values.items()
            if name == "trafficmon_period_process_transmit_bytes"}
    assert sent == {"rsync": 70 * MB, "other": 5 * MB, "unknown": 1 * MB}  # top 1, the rest, no process
    assert values[("trafficmon_accounting_persistent", ())] == 1.0


async def test_used_ratio_is_computed_from_the_bytes_not_the_rounded_percent(
    client: TestClient, openapi: OpenApi, clock: FakeClock, counters: FakeCounters
) -> None:
    await traffic(client, clock, counters, 60, 2_784_000)
    body = await call(client, openapi, "GET", "/data")
    assert body["used_percent"] == 0.28  # rounded for people
    values = samples(await (await client.get("/metrics", headers=AUTH)).text())
    assert values[("trafficmon_period_used_ratio", ())] == 2_784_000 / GB == 0.002784


async def test_projection_in_data_and_metrics_agree(
    client: TestClient, openapi: OpenApi, clock: FakeClock, counters: FakeCounters
) -> None:
    await traffic(client, clock, counters, 180, 850 * MB)  # a burst in the first 3 minutes
    projection = (await call(client, openapi, "GET", "/data"))["projection"]
    assert (projection["bytes"], projection["cap_date"], projection["basis"]) == (None, None, None)
    assert projection["basis_text"] == "not enough data yet (after a day of counting)"
    assert (projection["observed_seconds"], projection["needs_seconds"]) == (180.0, 86_220.0)
    values = samples(await (await client.get("/metrics", headers=AUTH)).text())
    assert not {name for name, _ in values if name.startswith("trafficmon_period_projected")}

    for _ in range(4):  # then 40 MB more, until a day of counting is complete
        await traffic(client, clock, counters, 21_555, 10 * MB)
    body = await call(client, openapi, "GET", "/data")
    projection = body["projection"]
    assert (projection["basis"], projection["window_seconds"]) == ("since_counting_began", 86_400.0)
    assert projection["basis_text"] == "at the pace since counting began 1 day ago"
    assert projection["cap_date"] is not None
    values = samples(await (await client.get("/metrics", headers=AUTH)).text())
    assert values[("trafficmon_period_projected_bytes", ())] == projection["bytes"]
    assert values[("trafficmon_period_projected_cap_timestamp_seconds", ())] == (
        datetime.fromisoformat(projection["cap_date"]).timestamp()
    )


# -- shutdown --------------------------------------------------------------------


async def test_shutdown_flushes_and_a_restart_keeps_everything(
    make_client: MakeClient, make_accountant: MakeAccountant, engine: FakeEngine, openapi: OpenApi,
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "kept"
    quiet = {"flush_interval": 3600, "poll_interval": 3600}  # nothing is written but at shutdown
    first = await make_client(accountant=make_accountant(data_dir=data_dir, **quiet))
    await call(first, openapi, "POST", "/adjust", json={"mode": "set", "bytes": 123 * MB, "note": "kept"})
    tick_usage(engine, 2, usage("rsync", 999, "203.0.113.5", 70 * MB))
    await first.close()  # the app's cleanup stops the accountant: a final flush

    second = await make_client(accountant=make_accountant(data_dir=data_dir, **quiet))
    period = await call(second, openapi, "GET", "/data")
    assert (period["offset"], period["counted"]) == (123 * MB, 123 * MB)
    assert (await call(second, openapi, "GET", "/api/audit"))["audit"][0]["note"] == "kept"
    hosts = await call(second, openapi, "GET", "/api/hosts")
    assert hosts["hosts"] == [{"host": "203.0.113.5", "bytes_sent": 70 * MB, "bytes_received": 0,
                               "bytes_total": 70 * MB}]
