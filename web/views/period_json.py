"""JSON bodies built from the accountant (`state.Accountant`): the billing period as published.

The REST handlers, the WebSocket hub (`traffic` part, `alert` messages) and
/health build from here, so the period looks the same whichever way it is
fetched. The accountant's own field names come first; the seed's names that
differ (`cap`, `status`) are added beside them, never instead.
"""

from __future__ import annotations

from typing import Any

from trafficmon.state import DECIMAL_GB, Accountant, StatusView, ThresholdEvent

SECONDS_PER_DAY = 86_400


def period(accountant: Accountant) -> dict[str, Any]:
    """`GET /data` and the WebSocket `traffic` part: the current billing period, from memory."""
    view = accountant.period()
    body = view.to_dict()
    body["cap"] = view.cap_bytes
    body["status"] = view.level
    return body


def daily(accountant: Accountant, days: int | None) -> dict[str, Any]:
    """`GET /daily`: daily totals of the last `days` days (None: the current period's days)."""
    rows = [row.to_dict() for row in accountant.daily(days)]
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
    period_days = max(1, round((current.end - current.start).total_seconds() / SECONDS_PER_DAY))
    return {
        "days": [row.to_dict() for row in view.rows],
        "count": len(view.rows),
        "dates": [day.isoformat() for day in view.shown.dates()],
        "today": view.today.isoformat(),
        "first_day": view.period.first.isoformat(),
        "last_day": view.period.last.isoformat(),
        "start": current.start.isoformat(),
        "end": current.end.isoformat(),
        "timezone": current.timezone,
        "cap_counts": current.cap_counts,
        "cap_bytes": current.cap_bytes,
        "counted": current.counted,
        "period_days": period_days,
        "daily_budget": current.cap_bytes // period_days,
        "remaining_per_day": int(current.remaining / max(1.0, current.days_left)),
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


def health(status: StatusView) -> dict[str, Any]:
    """/health's `accounting` part: `Accountant.status()` and, in `problem`, what is wrong.

    None of these make the service "unhealthy" (capture decides that): the
    period totals keep coming from the kernel counters. But while the state
    cannot be written (`saving` false) every change is refused and what was
    counted since `unsaved_since` lives in memory only: /health answers 503 so
    a monitor hears it, not only the log. A corrupt database moved aside is
    said for the rest of that period.
    """
    body = status.to_dict()
    saving = status.running and status.persistent
    moved = status.moved_aside
    if not status.running:
        problem = "accounting is not running"
    elif not saving:
        problem = (
            f"the traffic state cannot be written ({status.flush_error}) since {body['unsaved_since']}:"
            " changes are refused, and what was counted since lives in memory until writes succeed"
        )
    elif status.counter_error:
        problem = f"reading the interface counters failed: {status.counter_error}"
    elif moved is not None:
        problem = (
            f"the state database was corrupt ({moved.reason}) and was moved to {moved.moved_to}"
            f" at {moved.time.isoformat()}: this period's totals start from then"
        )
    else:
        problem = None
    return {**body, "saving": saving, "problem": problem}
