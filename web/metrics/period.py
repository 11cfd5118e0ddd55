"""Prometheus series of the billing period, read from the accountant's memory at scrape time.

The period totals are gauges, not counters: they start again at zero at every
period boundary and a manual offset can lower what is counted, and an alert
rule wants the value itself (`trafficmon_period_used_ratio > 0.8`), not a rate.
`used_ratio` is computed from the bytes, never from the percentage `GET /data`
rounds for people. The level is one gauge per level name, 1 for the level in
force (the Prometheus "enum" idiom), so
`trafficmon_period_level{level="critical"} == 1` is a complete alert rule. The
projection's series exist only while there is a projection (or a cap date):
`trafficmon_period_projected_cap_timestamp_seconds - time() < 3 * 86400`
alerts three days ahead. Per-process totals are bounded like the live
figures: the top `METRICS_TOP_PROCESSES` names by bytes sent, everything else
summed as process="other", and bytes no process was found for as
process="unknown".
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from trafficmon.state import LEVELS, Accountant, Outlook, PeriodView, UsageRow
from trafficmon.state import OTHER as FOLDED
from trafficmon.web.metrics.live import PREFIX

OTHER = "other"
UNKNOWN = "unknown"


def period_processes(rows: list[UsageRow], unknown: list[UsageRow], top: int) -> list[tuple[str, int, int]]:
    """(process, bytes sent, bytes received): the `top` names, then "other", then "unknown".

    `rows` come largest sender first; the accountant's own overflow entry
    ("(other)", what its bounded tally folded) joins "other".
    """
    ranked = [row for row in rows if row.key != FOLDED]
    named = [(row.key, row.sent, row.received) for row in ranked[:top]]
    rest = ranked[top:] + [row for row in rows if row.key == FOLDED]
    if rest:
        named.append((OTHER, sum(r.sent for r in rest), sum(r.received for r in rest)))
    if unknown:
        named.append((UNKNOWN, sum(r.sent for r in unknown), sum(r.received for r in unknown)))
    return named


class PeriodCollector(Collector):
    """The current billing period's figures and the accounting's own health."""

    def __init__(self, accountant: Accountant, top: int) -> None:
        self._accountant = accountant
        self._top = top

    def describe(self) -> list[Metric]:
        # As SnapshotCollector: the private registry has nothing to clash with.
        return []

    def collect(self) -> Iterator[Metric]:
        period = self._accountant.period()
        yield from self._totals(period)
        yield from self._level(period)
        yield from self._processes()
        yield from self._accounting()

    def _totals(self, period: PeriodView) -> Iterator[Metric]:
        gauges = (
            ("outbound_bytes", "Bytes sent this billing period (kernel counters).", period.outbound),
            ("inbound_bytes", "Bytes received this billing period (kernel counters).", period.inbound),
            ("offset_bytes", "Manual offset of this billing period.", period.offset),
            ("counted_bytes", "Bytes that count toward the cap this period, offset included.", period.counted),
            ("cap_bytes", "The traffic cap per billing period.", period.cap_bytes),
            ("remaining_bytes", "Bytes left before the cap is reached.", period.remaining),
            ("used_ratio", "Counted bytes / the cap (1 is the cap).", period.counted / period.cap_bytes),
            ("start_timestamp_seconds", "When this billing period began (Unix time).", period.start.timestamp()),
            ("end_timestamp_seconds", "When this billing period ends (Unix time).", period.end.timestamp()),
        )
        for name, doc, value in gauges:
            yield GaugeMetricFamily(f"{PREFIX}_period_{name}", doc, value=value)
        yield from self._projection(period.projection)

    def _projection(self, projection: Outlook) -> Iterator[Metric]:
        """The projected figures, each only while there is one (a missing series, not a zero)."""
        if projection.bytes is not None:
            yield GaugeMetricFamily(
                f"{PREFIX}_period_projected_bytes",
                "Counted bytes expected at the end of the period at the pace of the last "
                "PROJECTION_DAYS days (of the days counted, while fewer); absent before a day "
                "of counting.",
                value=projection.bytes,
            )
        if projection.cap_date is not None:
            yield GaugeMetricFamily(
                f"{PREFIX}_period_projected_cap_timestamp_seconds",
                "When that pace reaches the cap (Unix time); absent when it does not before "
                "the period ends.",
                value=projection.cap_date.timestamp(),
            )

    def _level(self, period: PeriodView) -> Iterator[Metric]:
        level = GaugeMetricFamily(
            f"{PREFIX}_period_level",
            "1 for the cap level in force (ok, warning, critical, exceeded), 0 for the others.",
            labels=["level"],
        )
        for name in LEVELS:
            level.add_metric([name], 1.0 if name == period.level else 0.0)
        yield level

    def _processes(self) -> Iterator[Metric]:
        labels = ["process"]
        sent = GaugeMetricFamily(
            f"{PREFIX}_period_process_transmit_bytes",
            "Bytes a process name sent this billing period (captured).",
            labels=labels,
        )
        received = GaugeMetricFamily(
            f"{PREFIX}_period_process_receive_bytes",
            "Bytes a process name received this billing period (captured).",
            labels=labels,
        )
        rows = period_processes(self._accountant.processes("name"), self._accountant.unknown(), self._top)
        for name, up, down in rows:
            sent.add_metric([name], up)
            received.add_metric([name], down)
        yield from (sent, received)

    def _accounting(self) -> Iterator[Metric]:
        status = self._accountant.status()
        yield GaugeMetricFamily(
            f"{PREFIX}_accounting_persistent",
            "1 while the traffic state is saved to DATA_DIR; 0 while writes fail (changes are refused, 503).",
            value=float(status.persistent),
        )
        if status.last_flush is not None:
            yield GaugeMetricFamily(
                f"{PREFIX}_accounting_last_flush_timestamp_seconds",
                "When the traffic state was last saved successfully (Unix time).",
                value=status.last_flush.timestamp(),
            )
