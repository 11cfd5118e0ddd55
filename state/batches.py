"""Flush batches: what one SQLite transaction writes, copied out of the ledger.

A routine flush copies only what changed since the last one (the ledger's
dirty marks, the daily, minute and breakdown change sets); after an import, a
recovery or a failed flush it copies everything. A change a client is told
succeeded travels in a `durable` batch together with everything changed
before it, so it is written before it is applied in memory. The caller holds
the accountant's lock; the copies are the batch's own, so the write runs
without it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from trafficmon.state.ledger import Ledger
from trafficmon.state.periods import local_date
from trafficmon.state.records import AuditEntry
from trafficmon.state.store import FlushBatch


def store_meta(ledger: Ledger) -> dict[str, Any]:
    """The store's own keys: the counter baseline the totals were computed from, overrides."""
    baseline = ledger.tracker.baseline
    return {
        "counters": baseline.to_dict() if baseline else None,
        "settings": {name: dict(entry) for name, entry in ledger.overrides.items()},
        "tracking_since": ledger.tracking_since,
    }


def take_batch(ledger: Ledger, now: float, *, everything: bool, durable: bool = False) -> FlushBatch:
    """Copy what changed since the last flush (or everything) into a batch."""
    daily_cutoff = ledger.daily.prune(local_date(now, ledger.config.zone))
    minutes_cutoff = ledger.minutes.prune(now)
    usage, usage_rewrite = ledger.breakdown.take_changes()
    days = ledger.daily.take_changes()
    minutes = ledger.minutes.take_changes()
    meta = store_meta(ledger)
    dirty = ledger.take_dirty()
    current = ledger.current
    periods = [*ledger.archive, current]
    if everything or dirty.replace_all:
        return FlushBatch(
            replace_all=True,
            current_start=current.start,
            durable=durable,
            periods=[p.copy() for p in periods],
            daily={day: (v[0], v[1]) for day, v in ledger.daily.days.items()},
            usage=ledger.breakdown.rows(),
            usage_rewrite=True,
            minutes={minute: (v[0], v[1]) for minute, v in ledger.minutes.buckets.items()},
            audit=list(ledger.audit),
            events=list(ledger.events),
            meta=meta,
        )
    return FlushBatch(
        replace_all=False,
        current_start=current.start,
        durable=durable,
        periods=[p.copy() for p in periods if p.start in dirty.periods],
        daily=days,
        daily_cutoff=daily_cutoff,
        usage=usage,
        usage_rewrite=usage_rewrite,
        minutes=minutes,
        minutes_cutoff=minutes_cutoff,
        audit=[],
        events=dirty.events,
        meta=meta,
    )


def adjustment_batch(ledger: Ledger, entry: AuditEntry, now: float) -> FlushBatch:
    """What must be on disk before `entry` is applied: the changes so far, the new offset, the entry."""
    batch = take_batch(ledger, now, everything=False, durable=True)
    batch.periods = [p for p in batch.periods if p.start != entry.period_start]
    batch.periods.append(dataclasses.replace(ledger.current.copy(), offset=entry.new_offset))
    batch.audit.append(entry)
    return batch


def settings_batch(ledger: Ledger, overrides: dict[str, dict[str, Any]], now: float) -> FlushBatch:
    """What must be on disk before new settings are in force: the changes so far and the overrides."""
    batch = take_batch(ledger, now, everything=False, durable=True)
    batch.meta["settings"] = overrides
    return batch
