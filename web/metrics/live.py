"""`GET /metrics`: Prometheus exposition of the latest snapshot.

A custom collector reads `snapshot()` at scrape time, so nothing is updated on
the hot path and a scrape never waits for capture. Names follow
node_exporter's (`trafficmon_network_transmit_bytes_total{device=…}`).
Cardinality is bounded: interfaces by what is monitored, processes by
`METRICS_TOP_PROCESSES` named by process name (never pid or remote address)
plus `process="other"` for the rest and `process="unknown"` for bytes not yet
attributed. The registry is private to the app; the billing period's
collector (`web.metrics.period`) is registered beside this one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from trafficmon.capture.model import CAPTURE_LEVELS, Snapshot
from trafficmon.web.live.hub import Hub
from trafficmon.web.live.source import SnapshotSource
from trafficmon.web.views import live_json

PREFIX = "trafficmon"


def _version() -> str:
    try:
        return metadata.version("trafficmon")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True, slots=True)
class NamedProcesses:
    """The processes of one name (or "other") as /metrics shows them: speeds over both windows, connections."""

    name: str
    upload_speed: float
    download_speed: float
    average_upload_speed: float
    average_download_speed: float
    connections: int


def top_processes(snap: Snapshot, limit: int) -> list[NamedProcesses]:
    """The busiest `limit` names (by speed over the speed window), then "other" for the rest.

    Processes are merged by name first: pids come and go, names are what a
    dashboard groups by and what keeps the label set small.
    """
    merged: dict[str, list[float]] = {}
    for proc in snap.processes:
        row = merged.setdefault(proc.name, [0.0, 0.0, 0.0, 0.0, 0])
        row[0] += proc.upload_speed
        row[1] += proc.download_speed
        row[2] += proc.average_upload_speed
        row[3] += proc.average_download_speed
        row[4] += proc.connections
    ranked = sorted(merged.items(), key=lambda item: (-(item[1][0] + item[1][1]), item[0]))
    named = [NamedProcesses(name, *row[:4], int(row[4])) for name, row in ranked[:limit]]
    rest = ranked[limit:]
    if rest:
        sums = [sum(row[i] for _name, row in rest) for i in range(5)]
        named.append(NamedProcesses("other", *sums[:4], int(sums[4])))
    return named


class SnapshotCollector(Collector):
    """Turns the latest snapshot (and the hub's counters) into metric families."""

    def __init__(self, source: SnapshotSource, hub: Hub, top: int):
        self._source = source
        self._hub = hub
        self._top = top

    def describe(self) -> list[Metric]:
        # Names are fixed, but listing them would mean collecting; the private
        # registry has nothing to clash with.
        return []

    def collect(self) -> Iterator[Metric]:
        snap = self._source.snapshot()
        yield from self._interfaces(snap)
        yield from self._processes(snap)
        yield from self._capture(snap)
        yield from self._service(snap)

    def _interfaces(self, snap: Snapshot) -> Iterator[Metric]:
        labels = ["device"]
        families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {
            "transmit_bytes": CounterMetricFamily(
                f"{PREFIX}_network_transmit_bytes", "Bytes captured leaving this host.", labels=labels
            ),
            "receive_bytes": CounterMetricFamily(
                f"{PREFIX}_network_receive_bytes", "Bytes captured arriving at this host.", labels=labels
            ),
            "transmit_packets": CounterMetricFamily(
                f"{PREFIX}_network_transmit_packets", "Packets captured leaving this host.", labels=labels
            ),
            "receive_packets": CounterMetricFamily(
                f"{PREFIX}_network_receive_packets", "Packets captured arriving at this host.", labels=labels
            ),
            "kernel_transmit": CounterMetricFamily(
                f"{PREFIX}_network_kernel_transmit_bytes",
                "The kernel's own transmit byte counter of the interface.",
                labels=labels,
            ),
            "kernel_receive": CounterMetricFamily(
                f"{PREFIX}_network_kernel_receive_bytes",
                "The kernel's own receive byte counter of the interface.",
                labels=labels,
            ),
            "upload_speed": GaugeMetricFamily(
                f"{PREFIX}_network_transmit_speed_bytes_per_second",
                "Upload speed over the speed window (SPEED_WINDOW).",
                labels=labels,
            ),
            "download_speed": GaugeMetricFamily(
                f"{PREFIX}_network_receive_speed_bytes_per_second",
                "Download speed over the speed window (SPEED_WINDOW).",
                labels=labels,
            ),
            "average_upload_speed": GaugeMetricFamily(
                f"{PREFIX}_network_transmit_average_speed_bytes_per_second",
                "Upload speed over the average window (AVERAGE_WINDOW).",
                labels=labels,
            ),
            "average_download_speed": GaugeMetricFamily(
                f"{PREFIX}_network_receive_average_speed_bytes_per_second",
                "Download speed over the average window (AVERAGE_WINDOW).",
                labels=labels,
            ),
            "up": GaugeMetricFamily(
                f"{PREFIX}_network_up", "1 when the interface is up and captured.", labels=labels
            ),
        }
        for iface in snap.interfaces:
            values = {
                "transmit_bytes": iface.bytes_sent,
                "receive_bytes": iface.bytes_received,
                "transmit_packets": iface.packets_sent,
                "receive_packets": iface.packets_received,
                "kernel_transmit": iface.kernel_bytes_sent,
                "kernel_receive": iface.kernel_bytes_received,
                "upload_speed": iface.upload_speed,
                "download_speed": iface.download_speed,
                "average_upload_speed": iface.average_upload_speed,
                "average_download_speed": iface.average_download_speed,
                "up": 1.0 if iface.up and iface.error is None else 0.0,
            }
            for key, family in families.items():
                family.add_metric([iface.name], values[key])
        yield from families.values()

    def _processes(self, snap: Snapshot) -> Iterator[Metric]:
        labels = ["process"]
        upload = GaugeMetricFamily(
            f"{PREFIX}_process_transmit_speed_bytes_per_second",
            "Upload speed of a process's live connections over the speed window (SPEED_WINDOW).",
            labels=labels,
        )
        download = GaugeMetricFamily(
            f"{PREFIX}_process_receive_speed_bytes_per_second",
            "Download speed of a process's live connections over the speed window (SPEED_WINDOW).",
            labels=labels,
        )
        average_upload = GaugeMetricFamily(
            f"{PREFIX}_process_transmit_average_speed_bytes_per_second",
            "Upload speed of a process's live connections over the average window (AVERAGE_WINDOW).",
            labels=labels,
        )
        average_download = GaugeMetricFamily(
            f"{PREFIX}_process_receive_average_speed_bytes_per_second",
            "Download speed of a process's live connections over the average window (AVERAGE_WINDOW).",
            labels=labels,
        )
        connections = GaugeMetricFamily(
            f"{PREFIX}_process_connections", "Live connections a process owns.", labels=labels
        )
        for named in top_processes(snap, self._top):
            upload.add_metric([named.name], named.upload_speed)
            download.add_metric([named.name], named.download_speed)
            average_upload.add_metric([named.name], named.average_upload_speed)
            average_download.add_metric([named.name], named.average_download_speed)
            connections.add_metric([named.name], named.connections)
        if snap.unknown:
            upload.add_metric(["unknown"], sum(b.upload_speed for b in snap.unknown))
            download.add_metric(["unknown"], sum(b.download_speed for b in snap.unknown))
            average_upload.add_metric(["unknown"], sum(b.average_upload_speed for b in snap.unknown))
            average_download.add_metric(["unknown"], sum(b.average_download_speed for b in snap.unknown))
        yield from (upload, download, average_upload, average_download, connections)

    def _capture(self, snap: Snapshot) -> Iterator[Metric]:
        health = snap.health
        yield GaugeMetricFamily(f"{PREFIX}_capture_up", "1 while capture runs.", value=float(health.running))
        current = snap.capture_level(time.time()).level
        level = GaugeMetricFamily(f"{PREFIX}_capture_level", "1 for capture's health level now (/health's verdict: "
                                  "ok, degraded or down), 0 for the others.", labels=["level"])
        for name in CAPTURE_LEVELS:
            level.add_metric([name], float(name == current))
        yield level
        counters = (
            ("packets", "Frames captured.", health.packets),
            ("bytes", "Bytes captured (wire length).", health.bytes),
            ("kernel_drops", "Frames the kernel dropped before capture could read them.", health.kernel_drops),
            ("malformed_frames", "Frames that could not be parsed.", health.malformed),
            ("attributed_bytes", "Captured bytes attributed to a process.", health.bytes_attributed),
            ("unknown_bytes", "Captured bytes no process was found for.", health.bytes_unknown),
        )
        for name, doc, value in counters:
            yield CounterMetricFamily(f"{PREFIX}_capture_{name}", doc, value=value)
        yield CounterMetricFamily(
            f"{PREFIX}_capture_flows_folded",
            "Flows folded into their process and unknown totals to stay under the flow memory bound.",
            value=health.flows_folded,
        )
        yield CounterMetricFamily(
            f"{PREFIX}_capture_overflow_packets",
            "Packets of new flows a tick had no room for under the flow bound (counted as unknown).",
            value=health.overflow_packets,
        )
        yield GaugeMetricFamily(f"{PREFIX}_capture_flows", "Flows tracked now.", value=health.flows)
        yield GaugeMetricFamily(
            f"{PREFIX}_capture_flow_limit", "Most flows the flow memory bound (FLOW_MEMORY_BYTES) keeps.",
            value=health.flow_limit,
        )
        if health.coverage is not None:
            yield GaugeMetricFamily(
                f"{PREFIX}_capture_coverage_ratio",
                "Captured bytes / the kernel's interface bytes over the last tick.",
                value=health.coverage,
            )

    def _service(self, snap: Snapshot) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            f"{PREFIX}_connections", "Connections currently open.", value=live_json.active_connections(snap)
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_start_time_seconds", "When capture started (Unix time).", value=snap.started
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_last_tick_timestamp_seconds", "Time of the latest snapshot (Unix time).", value=snap.timestamp
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_websocket_clients", "WebSocket clients connected.", value=len(self._hub.clients)
        )
        yield CounterMetricFamily(
            f"{PREFIX}_websocket_skipped_updates",
            "Updates replaced by a newer one before a slow client read them.",
            value=self._hub.skipped,
        )
        yield CounterMetricFamily(
            f"{PREFIX}_websocket_evicted_clients",
            "WebSocket clients closed for being too slow.",
            value=self._hub.evicted,
        )
        info = GaugeMetricFamily(f"{PREFIX}_build_info", "Version of trafficmon.", labels=["version"])
        info.add_metric([_version()], 1.0)
        yield info


def build_registry(source: SnapshotSource, hub: Hub, top: int) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(source, hub, top))
    return registry


def metrics_handler(registry: CollectorRegistry) -> Handler:
    """prometheus_client's own aiohttp handler when this version has one (0.21+)."""
    try:
        from prometheus_client.aiohttp import make_aiohttp_handler
    except ImportError:
        return text_handler(registry)
    return make_aiohttp_handler(registry)


def text_handler(registry: CollectorRegistry) -> Handler:
    """The Prometheus text format through `generate_latest`, for prometheus-client < 0.21."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return handler
