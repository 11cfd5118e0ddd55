"""What counts toward the traffic cap, how full it is, and where a pace takes the period.

Providers differ in what they meter: most bill outbound only, some the sum of
both directions, some whichever direction is larger. The status levels and the
projection are computed the same way for all three from the two directions'
totals and rates, so changing the rule never needs a second code path.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

LEVELS = ("ok", "warning", "critical", "exceeded")
"""Status levels from calm to over the cap; every level but "ok" has a threshold."""


class CapCounts(StrEnum):
    """Which traffic counts toward the cap (`CAP_COUNTS`)."""

    OUTBOUND = "outbound"
    BOTH = "both"
    MAX = "max"

    def counted(self, outbound: int, inbound: int) -> int:
        """The bytes that count toward the cap out of the two directions' totals."""
        if self is CapCounts.BOTH:
            return outbound + inbound
        if self is CapCounts.MAX:
            return max(outbound, inbound)
        return outbound

    def lines(
        self, outbound: int, inbound: int, rate_out: float, rate_in: float
    ) -> list[tuple[int, float]]:
        """The (bytes now, bytes per second) lines whose maximum is the counted total.

        The counted total over time is the larger of these straight lines (one
        line for "outbound" and "both", one per direction for "max"), so the
        moment the cap is reached is the earliest moment any line reaches it.
        """
        if self is CapCounts.BOTH:
            return [(outbound + inbound, rate_out + rate_in)]
        if self is CapCounts.MAX:
            return [(outbound, rate_out), (inbound, rate_in)]
        return [(outbound, rate_out)]


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Percentages of the cap at which the warning, critical and exceeded levels begin."""

    warning: float
    critical: float
    exceeded: float

    def to_dict(self) -> dict[str, float]:
        return {"warning": self.warning, "critical": self.critical, "exceeded": self.exceeded}

    def reached(self, percent: float) -> tuple[str, ...]:
        """Every level (beyond "ok") whose threshold `percent` has reached, in order."""
        limits = (self.warning, self.critical, self.exceeded)
        return tuple(
            level for level, limit in zip(LEVELS[1:], limits, strict=True) if percent >= limit
        )

    def level(self, percent: float) -> str:
        """The highest level `percent` has reached ("ok" below the warning threshold)."""
        reached = self.reached(percent)
        return reached[-1] if reached else LEVELS[0]


def used_percent(counted: int, cap: int) -> float:
    """How much of the cap is used, in percent (the cap is always positive)."""
    return counted * 100.0 / cap


@dataclass(frozen=True, slots=True)
class Projection:
    """Where the period ends up if traffic keeps flowing at a given pace.

    `rate` is counted bytes per second of the pace, measured over `window`
    seconds (`state.projection` chooses them); `cap_time` is when the cap is
    reached at that pace, or None when it is not reached before the period
    ends (at the reset itself is too late), was reached already, or nothing
    moves.
    """

    bytes: int
    rate: float
    window: float
    cap_time: float | None


def project(
    *,
    counts: CapCounts,
    outbound: int,
    inbound: int,
    offset: int,
    cap: int,
    rate_out: float,
    rate_in: float,
    window: float,
    now: float,
    end: float,
) -> Projection:
    """Extrapolate both directions linearly from `now` to the period's `end`.

    Each direction is extrapolated on its own and the cap rule applied to the
    results, so "max" projects the direction that will be larger at the end,
    not the one that is larger now.
    """
    remaining = max(0.0, end - now)
    final_out = outbound + round(rate_out * remaining)
    final_in = inbound + round(rate_in * remaining)
    projected = counts.counted(final_out, final_in) + offset
    counted = counts.counted(outbound, inbound) + offset
    rate = _counted_rate(counts, outbound, inbound, rate_out, rate_in)
    cap_time: float | None = None
    if counted < cap:
        waits = [
            (cap - offset - value) / line_rate
            for value, line_rate in counts.lines(outbound, inbound, rate_out, rate_in)
            if line_rate > 0
        ]
        if waits and now + min(waits) < end:
            cap_time = now + min(waits)
    return Projection(bytes=projected, rate=rate, window=window, cap_time=cap_time)


def _counted_rate(
    counts: CapCounts, outbound: int, inbound: int, rate_out: float, rate_in: float
) -> float:
    """How fast the counted total grows right now, in bytes per second.

    Under "max" that is the rate of the direction that is larger now (the
    faster one when both are equal).
    """
    if counts is CapCounts.BOTH:
        return rate_out + rate_in
    if counts is CapCounts.MAX:
        if outbound != inbound:
            return rate_out if outbound > inbound else rate_in
        return max(rate_out, rate_in)
    return rate_out
