"""Prometheus metrics of a control-plane replica, served as text on an HTTP port.

Counters and histograms are updated where things happen (RPCs, etcd calls, messages, event
delivery); cluster-wide gauges (agents by status, host load) are read from the view at scrape
time. Each replica has its own registry, so several can live in one process (tests).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Gauge, Histogram, start_http_server
from prometheus_client import Counter as PromCounter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from elizaos.v1 import agent_pb2

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _ViewCollector(Collector):
    """Gauges computed from the cluster view when Prometheus scrapes."""

    def __init__(self, view: Any) -> None:
        self._view = view

    def collect(self) -> Iterator[GaugeMetricFamily]:
        agents = GaugeMetricFamily("elizaos_agents", "Agents by status.", labels=["status"])
        counts = Counter(r.agent.status for r in self._view.agents.values())
        for name, value in agent_pb2.AgentStatus.items():
            if value:
                agents.add_metric([name.removeprefix("AGENT_STATUS_").lower()], counts.get(value, 0))
        yield agents
        hosts = GaugeMetricFamily("elizaos_hosts", "Agent hosts linked to the cluster.")
        hosts.add_metric([], len(self._view.hosts))
        yield hosts
        families = {
            "agents": GaugeMetricFamily("elizaos_host_agents", "Agents running per host.", labels=["host"]),
            "in_flight": GaugeMetricFamily("elizaos_host_in_flight", "Messages in flight per host.",
                                           labels=["host"]),
            "cpu_percent": GaugeMetricFamily("elizaos_host_cpu_percent", "Host process CPU use.", labels=["host"]),
            "rss_bytes": GaugeMetricFamily("elizaos_host_rss_bytes", "Host process resident memory.",
                                           labels=["host"]),
        }
        for host_id, record in self._view.hosts.items():
            load = record.host.load
            for field, family in families.items():
                family.add_metric([host_id], float(getattr(load, field)))
        yield from families.values()


class ControlPlaneMetrics:
    """The metrics of one replica."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.rpc_requests = PromCounter("elizaos_rpc_requests", "RPCs handled, by method and status code.",
                                        ["method", "code"], registry=self.registry)
        self.rpc_latency = Histogram("elizaos_rpc_duration_seconds", "RPC handling time, by method.", ["method"],
                                     buckets=LATENCY_BUCKETS, registry=self.registry)
        self.etcd_latency = Histogram("elizaos_etcd_request_duration_seconds", "etcd call time, by operation.",
                                      ["op"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.messages_in_flight = Gauge("elizaos_messages_in_flight", "SendMessage calls waiting for a host.",
                                        registry=self.registry)
        self.event_lag = Histogram("elizaos_event_lag_seconds", "Time from an event's timestamp to its fan-out.",
                                   buckets=LATENCY_BUCKETS, registry=self.registry)
        self.events_delivered = PromCounter("elizaos_events_delivered", "Events handed to watchers.",
                                            registry=self.registry)
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def watch_view(self, view: Any) -> None:
        """Export agents by status and host load from this cluster view."""
        self.registry.register(_ViewCollector(view))

    def serve(self, host: str, port: int) -> int:
        """Serve /metrics on host:port (0: a free port); returns the bound port."""
        self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        self.port = int(self._server.server_port)
        return self.port

    def close(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def time_etcd(self, op: str) -> Callable[[], None]:
        """Start timing an etcd call; call the result when it is done."""
        start = time.perf_counter()
        histogram = self.etcd_latency.labels(op)
        return lambda: histogram.observe(time.perf_counter() - start)
