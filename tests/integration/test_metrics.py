"""Prometheus endpoints of the control plane and a host, scraped over HTTP and parsed."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from elizaos import ElizaOSError
from elizaos.v1 import character_pb2
from tests.integration.harness import Cluster, eventually


async def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    def get() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return str(response.read().decode())

    text = await asyncio.to_thread(get)
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_controlplane_metrics(cluster: Cluster) -> None:
    client = cluster.client
    assert client is not None and cluster.plane is not None
    agent = await client.create_agent(character_pb2.Character(name="Metered"), wait=10)
    for _ in range(3):
        await client.send_message(agent.id, "I am sad about my job")
    with pytest.raises(ElizaOSError):
        await client.get_agent("not-a-uuid")
    port = cluster.plane.metrics.port

    async def events_seen() -> bool:  # the event watch delivers asynchronously
        return value(await scrape(port), "elizaos_event_lag_seconds_count") >= 2

    await eventually(events_seen)
    samples = await scrape(port)
    send = "/elizaos.v1.AgentService/SendMessage"
    assert value(samples, "elizaos_rpc_requests_total", method=send, code="OK") == 3
    assert value(samples, "elizaos_rpc_requests_total", method="/elizaos.v1.AgentService/GetAgent",
                 code="INVALID_ARGUMENT") == 1
    assert value(samples, "elizaos_rpc_duration_seconds_count", method=send) == 3
    assert value(samples, "elizaos_rpc_duration_seconds_sum", method=send) > 0
    assert value(samples, "elizaos_agents", status="running") == 1
    assert value(samples, "elizaos_agents", status="error") == 0
    assert value(samples, "elizaos_hosts") == 2
    # Per-host gauges exist for every linked host (values come with the next heartbeat).
    assert {labels for name, labels in samples if name == "elizaos_host_agents"} == {
        (("host", "h1"),), (("host", "h2"),)}
    assert value(samples, "elizaos_messages_in_flight") == 0
    assert value(samples, "elizaos_etcd_request_duration_seconds_count", op="Txn") > 0
    assert value(samples, "elizaos_rpc_requests_total", method="/elizaos.v1.AgentService/CreateAgent",
                 code="OK") == 1


async def test_host_metrics(cluster: Cluster) -> None:
    client = cluster.client
    assert client is not None
    host = cluster.hosts[0]
    port = host.link.metrics.serve("127.0.0.1", 0)
    try:
        agent = await client.create_agent(character_pb2.Character(name="OnHost"), wait=10)
        target = next(h for h in cluster.hosts if h.link.config.host_id == agent.host_id)
        if target is not host:
            port = target.link.metrics.serve("127.0.0.1", 0)
        await client.send_message(agent.id, "hello")
        samples = await scrape(port)
        assert value(samples, "elizaos_host_agents") == 1
        assert value(samples, "elizaos_host_messages_total", outcome="ok") == 1
        assert value(samples, "elizaos_host_message_duration_seconds_count") == 1
        assert value(samples, "elizaos_host_rss_bytes") > 10 * 2**20
        assert value(samples, "elizaos_host_link_connects_total") == 1
    finally:
        for h in cluster.hosts:
            h.link.metrics.close()
