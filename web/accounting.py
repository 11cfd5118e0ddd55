"""JSON bodies built from the accountant (`state.Accountant`): the billing period as published.

The REST handlers, the WebSocket hub (`traffic` part, `alert` messages) and
/health build from here, so the period looks the same whichever way it is
fetched. The accountant's own field names come first; the seed's names that
differ (`cap`, `status`) are added beside them, never instead.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from state import DECIMAL_GB, Accountant, ThresholdEvent

SECONDS_PER_DAY = 86_400


def period(accountant: Accountant) -> dict[str, Any]:
    """`GET /data` and the WebSocket `traffic` part: the current billing period, from memory."""
    body = accountant.period()
    body["cap"] = body["cap_bytes"]
    body["status"] = body["level"]
    return body


def daily(accountant: Accountant, days: int | None) -> dict[str, Any]:
    """`GET /daily`: daily totals of the last `days` days (None: the current period's days)."""
    rows = accountant.daily(days)
    return {"days": rows, "count": len(rows)}


def daily_chart(accountant: Accountant, days: int | None) -> dict[str, Any]:
    """`GET /daily-chart`: the daily totals with what a chart draws them against.

    `dates` is every day the chart spans, in the period's zone (the browser's
    may differ): the whole billing period by default, its days after `today`
    without a row yet, or the last `days` days. `daily_budget` is the cap
    shared evenly over the period's days (a line the bars should stay under);
    `remaining_per_day` is what is left shared over the days left (at least
    one), i.e. what each day may still use.
    """
    current = accountant.period()
    view = accountant.daily_view(days)
    start = datetime.fromisoformat(current["start"])
    end = datetime.fromisoformat(current["end"])
    period_days = max(1, round((end - start).total_seconds() / SECONDS_PER_DAY))
    return {
        "days": view.rows,
        "count": len(view.rows),
        "dates": [day.isoformat() for day in view.shown.dates()],
        "today": view.today.isoformat(),
        "first_day": view.period.first.isoformat(),
        "last_day": view.period.last.isoformat(),
        "start": current["start"],
        "end": current["end"],
        "timezone": current["timezone"],
        "cap_counts": current["cap_counts"],
        "cap_bytes": current["cap_bytes"],
        "counted": current["counted"],
        "period_days": period_days,
        "daily_budget": current["cap_bytes"] // period_days,
        "remaining_per_day": int(current["remaining"] / max(1.0, current["days_left"])),
    }


def alert(event: ThresholdEvent) -> dict[str, Any]:
    """The `alert` WebSocket message's data for a threshold crossing, with a sentence to show."""
    data = event.to_dict()
    headline = "Traffic cap exceeded" if event.level == "exceeded" else f"Traffic {event.level}"
    data["message"] = (
        f"{headline}: {data['percent']:g}% of the {event.cap / DECIMAL_GB:g} GB cap used "
        f"in the period that began {event.period_start.date().isoformat()}"
    )
    return data


def health(status: dict[str, Any]) -> dict[str, Any]:
    """/health's `accounting` part: `Accountant.status()` and, in `problem`, what is wrong.

    None of these make the service "down" (capture decides that): the period
    totals keep coming from the kernel counters. But state kept in memory only
    is lost at exit, and an operator must hear about it here, not only in a log.
    """
    if not status["running"]:
        problem = "accounting is not running"
    elif not status["persistent"]:
        problem = "the traffic state is kept in memory only and is lost at exit (DATA_DIR unusable; see the log)"
    elif status["flush_error"]:
        problem = f"writing the traffic state failed: {status['flush_error']}"
    elif status["counter_error"]:
        problem = f"reading the interface counters failed: {status['counter_error']}"
    else:
        problem = None
    return {**status, "problem": problem}
