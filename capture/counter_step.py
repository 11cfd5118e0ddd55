"""How far a kernel interface counter moved between two readings, and whether that was traffic.

A counter read lower than before is either a 32-bit counter that wrapped
(traffic: the step across 2^32) or an interface re-created under the same
name (counting from zero again); a counter that leapt further than the link
could carry was reset, not moved. The capture engine's kernel bytes and the
accounting's period totals both decide this here, so the two never disagree
on what a reading means.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Literal, NamedTuple

COUNTER_32_RANGE = 2**32
"""A 32-bit counter wraps to zero after this many bytes."""
TIMING_SLACK_SECONDS = 1.0
"""Added to the time between readings in the plausibility check: the counters and
the clock are not read at the same instant, and a very short interval must not
turn one full-speed burst into a 'reset'."""
BITS_PER_BYTE = 8

StepKind = Literal["ok", "wrap", "implausible", "reset"]


class CounterStep(NamedTuple):
    """What one counter did between two readings.

    `moved` is the bytes counted for `kind`: the difference (ok, implausible:
    more than `limit`, the caller decides whether to believe it), the step
    across 2^32 (wrap), or the new value, counted from zero (reset).
    """

    moved: int
    kind: StepKind


def platform_counter_bits() -> int:
    """Interface counters are as wide as the kernel's `unsigned long`; assume userspace matches."""
    return 64 if sys.maxsize > 2**32 else 32


def plausible_bytes(speed_bps: float, elapsed: float) -> float:
    """The most bytes one direction of a `speed_bps` link could carry in `elapsed` seconds."""
    return speed_bps / BITS_PER_BYTE * (max(0.0, elapsed) + TIMING_SLACK_SECONDS)


def counter_step(old: int, new: int, *, bits: int | None, limit: float) -> CounterStep:
    """One counter from `old` to `new`; `bits` is the counters' width (None: not known, so no wraps).

    A lower reading is a wrap only when the counters are 32 bits wide, the old
    value fits in 32 bits and the step across the wrap is within `limit`.
    """
    if new >= old:
        step = new - old
        return CounterStep(step, "ok" if step <= limit else "implausible")
    if bits == 32 and old < COUNTER_32_RANGE:
        step = new + COUNTER_32_RANGE - old
        if step <= limit:
            return CounterStep(step, "wrap")
    return CounterStep(new, "reset")


def interface_steps(
    old: Sequence[int], new: Sequence[int], *, bits: int | None, limit: float
) -> tuple[CounterStep, ...]:
    """Every counter of one interface, pairwise; when any was reset, all were.

    An interface re-created under the same name restarts all its counters, so
    one counter read lower is enough to count every one of them from zero.
    """
    steps = tuple(counter_step(a, b, bits=bits, limit=limit) for a, b in zip(old, new, strict=True))
    if any(step.kind == "reset" for step in steps):
        return tuple(CounterStep(value, "reset") for value in new)
    return steps
