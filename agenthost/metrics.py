"""Prometheus metrics of an agent host, served as text on an HTTP port."""

from __future__ import annotations

import resource
import threading
from collections.abc import Callable
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def rss_bytes() -> int:
    """Resident memory of this process."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class HostMetrics:
    """The metrics of one host process."""

    def __init__(self, agents: Callable[[], int], in_flight: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        Gauge("elizaos_host_agents", "Agents running on this host.", registry=self.registry).set_function(
            lambda: float(agents()))
        Gauge("elizaos_host_in_flight", "Messages being processed on this host.",
              registry=self.registry).set_function(lambda: float(in_flight()))
        Gauge("elizaos_host_rss_bytes", "Resident memory of this host process.",
              registry=self.registry).set_function(lambda: float(rss_bytes()))
        self.messages = Counter("elizaos_host_messages", "Messages processed, by outcome.", ["outcome"],
                                registry=self.registry)
        self.message_latency = Histogram("elizaos_host_message_duration_seconds",
                                         "Time an agent took to answer a message.", buckets=BUCKETS,
                                         registry=self.registry)
        self.link_reconnects = Counter("elizaos_host_link_connects", "Times the host linked to a control plane.",
                                       registry=self.registry)
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def serve(self, host: str, port: int) -> int:
        """Serve /metrics on host:port (0: a free port); returns the bound port."""
        self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        return int(self._server.server_port)

    def close(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
