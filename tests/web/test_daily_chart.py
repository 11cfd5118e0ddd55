"""`GET /daily-chart` on fixed dates: the days a chart spans, in the period's zone, from an injected clock.

A real accountant (real SQLite in tmp_path) reads the settable clock and kernel
counters of `tests.state.fakes`; every answer is checked against the OpenAPI
document. The dates are the same as the browser tests' (`tests.browser.test_daily_chart`)
plus a reset hour past midnight, which gives a period one date more than its days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.state.fakes import FakeClock, FakeCounters, at
from tests.web.conftest import MakeAccountant, MakeClient
from tests.web.openapi_check import OpenApi
from tests.support.web import GB, MB, call, traffic

BERLIN = "Europe/Berlin"


@dataclass(frozen=True)
class Case:
    """A local wall time, the billing settings, and the period's first and last date then."""

    now: str
    first: str
    last: str
    zone: str = "UTC"
    reset_day: int = 1
    reset_hour: int = 0

    @property
    def today(self) -> str:
        return self.now[:10]


CASES = {
    "first-minute-of-a-period": Case("2026-12-01 00:00:30", "2026-12-01", "2026-12-31"),
    "last-day-at-23:59": Case("2026-12-31 23:59:00", "2026-12-01", "2026-12-31"),
    "28-february-leap-year": Case("2028-02-28 12:00", "2028-02-01", "2028-02-29"),
    "29-february": Case("2028-02-29 12:00", "2028-02-01", "2028-02-29"),
    "28-february-common-year": Case("2027-02-28 12:00", "2027-02-01", "2027-02-28"),
    "reset-day-29-short-february": Case("2027-02-28 12:00", "2027-02-28", "2027-03-28", reset_day=29),
    "reset-day-29-day-before": Case("2027-02-27 12:00", "2027-01-29", "2027-02-27", reset_day=29),
    "reset-day-30-leap-february": Case("2028-03-01 12:00", "2028-02-29", "2028-03-29", reset_day=30),
    "reset-day-31-short-april": Case("2026-04-29 12:00", "2026-03-31", "2026-04-29", reset_day=31),
    "reset-day-31-april-30": Case("2026-04-30 12:00", "2026-04-30", "2026-05-30", reset_day=31),
    "dst-spring-forward-berlin": Case("2026-03-29 03:30", "2026-03-01", "2026-03-31", zone=BERLIN),
    "dst-fall-back-berlin": Case("2026-10-25 02:30", "2026-10-01", "2026-10-31", zone=BERLIN),
    "reset-hour-6-early-on-the-reset-day": Case("2026-12-01 05:00", "2026-11-01", "2026-12-01", reset_hour=6),
    "reset-hour-6-once-reset": Case("2026-12-01 07:00", "2026-12-01", "2027-01-01", reset_hour=6),
}


def days(first: str, last: str) -> list[str]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


async def chart_at(case: Case, clock: FakeClock, make_accountant: MakeAccountant, make_client: MakeClient,
                   openapi: OpenApi, query: str = "") -> dict[str, Any]:
    clock.now = at(case.now, case.zone)
    accountant = make_accountant(timezone=case.zone, reset_day=case.reset_day, reset_hour=case.reset_hour)
    client = await make_client(accountant=accountant)
    return await call(client, openapi, "GET", "/daily-chart" + query, doc_path="/daily-chart")


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_the_chart_spans_the_billing_period(case: Case, clock: FakeClock, make_accountant: MakeAccountant,
                                                  make_client: MakeClient, openapi: OpenApi) -> None:
    body = await chart_at(case, clock, make_accountant, make_client, openapi)
    assert (body["first_day"], body["last_day"], body["today"]) == (case.first, case.last, case.today)
    assert body["dates"] == days(case.first, case.last)
    assert [d["date"] for d in body["days"]] == days(case.first, case.today)
    assert body["count"] == len(body["days"])
    assert body["timezone"] == case.zone


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_one_day_and_a_week(case: Case, clock: FakeClock, make_accountant: MakeAccountant,
                                  make_client: MakeClient, openapi: OpenApi) -> None:
    one = await chart_at(case, clock, make_accountant, make_client, openapi, "?days=1")
    assert one["dates"] == [d["date"] for d in one["days"]] == [case.today]
    assert (one["first_day"], one["last_day"]) == (case.first, case.last), "the period stays the period"
    today = date.fromisoformat(case.today)
    week = await chart_at(case, clock, make_accountant, make_client, openapi, "?days=7")
    assert week["dates"] == [d["date"] for d in week["days"]] == days((today - timedelta(days=6)).isoformat(),
                                                                      case.today)


async def test_a_period_past_its_end_until_the_next_poll_still_shows_today(
    client: TestClient, openapi: OpenApi, clock: FakeClock
) -> None:
    """The accountant rolls the period over when it next reads the counters; until then today is drawn too."""
    clock.now = at("2024-02-01 00:00:01")
    body = await call(client, openapi, "GET", "/daily-chart")
    assert (body["first_day"], body["last_day"], body["today"]) == ("2024-01-01", "2024-01-31", "2024-02-01")
    assert body["dates"][-1] == body["days"][-1]["date"] == "2024-02-01"


async def test_todays_bytes_land_in_today_across_the_dst_change(
    clock: FakeClock, counters: FakeCounters, make_accountant: MakeAccountant, make_client: MakeClient,
    openapi: OpenApi
) -> None:
    clock.now = at("2026-03-29 01:59:00", BERLIN)
    client = await make_client(accountant=make_accountant(timezone=BERLIN))
    await traffic(client, clock, counters, 120, 4 * MB, 8 * MB)  # across the jump from 02:00 to 03:00
    body = await call(client, openapi, "GET", "/daily-chart")
    assert body["days"][-1] == {"date": "2026-03-29", "outbound": 4 * MB, "inbound": 8 * MB, "total": 12 * MB,
                                "counted": 4 * MB}
    assert body["today"] == "2026-03-29"


async def test_remaining_per_day_on_the_last_day_is_all_that_is_left(
    clock: FakeClock, counters: FakeCounters, make_accountant: MakeAccountant, make_client: MakeClient,
    openapi: OpenApi
) -> None:
    """At 23:59 on the last day what is left is for the rest of that day; before, it is shared per day left."""
    clock.now = at("2026-12-31 23:58:00")
    client = await make_client(accountant=make_accountant())
    await traffic(client, clock, counters, 60, 250 * MB)
    body = await call(client, openapi, "GET", "/daily-chart")
    assert (body["counted"], body["remaining_per_day"]) == (250 * MB, GB - 250 * MB)
    assert (body["period_days"], body["daily_budget"]) == (31, GB // 31)


async def test_remaining_per_day_in_the_first_minute_is_shared_over_the_period(
    clock: FakeClock, counters: FakeCounters, make_accountant: MakeAccountant, make_client: MakeClient,
    openapi: OpenApi
) -> None:
    clock.now = at("2028-02-01 00:00:00")
    client = await make_client(accountant=make_accountant())
    await traffic(client, clock, counters, 30, 100 * MB)
    body = await call(client, openapi, "GET", "/daily-chart")
    assert (body["period_days"], body["daily_budget"]) == (29, GB // 29)
    assert body["remaining_per_day"] == int(900 * MB / 29)  # 29 days left, to the hundredth of a day
