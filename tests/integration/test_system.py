"""SystemService, grpc.health.v1 and reflection on a real server."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from elizaos import ElizaOSError
from elizaos.v1 import character_pb2
from tests.integration.harness import Cluster


async def test_status_hosts_and_health(cluster: Cluster) -> None:
    client = cluster.client
    assert client is not None
    await client.create_agent(character_pb2.Character(name="Eliza"), wait=10)
    await client.create_agent(character_pb2.Character(name="Idle"), auto_start=False)
    status = await client.get_system_status()
    assert status.name == cluster.name
    assert status.total_agents == 2 and status.active_agents == 1
    assert dict(status.agents_by_status) == {"AGENT_STATUS_RUNNING": 1, "AGENT_STATUS_CREATED": 1}
    assert status.memory_usage_bytes > 10 * 2**20
    assert status.leader and status.controlplane_id
    assert status.uptime.ToNanoseconds() > 0
    assert sorted(h.id for h in status.hosts) == ["h1", "h2"]
    assert sum(h.agents for h in status.hosts) == 1
    hosts = await client.list_hosts()
    assert [h.id for h in hosts] == ["h1", "h2"] and all(h.capacity.max_agents == 1000 for h in hosts)
    health = await client.check_health()
    assert health.healthy and {c.name for c in health.checks} == {"etcd", "leader", "hosts"}
    assert await client.serving("") and await client.serving("elizaos.v1.AgentService")


async def test_health_reports_missing_hosts(cluster_factory: object) -> None:
    cluster: Cluster = await cluster_factory(hosts=0)  # type: ignore[operator]
    assert cluster.client is not None
    health = await cluster.client.check_health()
    assert not health.healthy
    hosts = next(c for c in health.checks if c.name == "hosts")
    assert not hosts.healthy and hosts.reason == "no agent host connected"


async def test_reset_deletes_everything(cluster: Cluster) -> None:
    client = cluster.client
    assert client is not None and cluster.plane is not None
    agent = await client.create_agent(character_pb2.Character(name="Eliza"), wait=10)
    await client.send_message(agent.id, "hello")
    assert await client.reset() == 1
    assert await client.list_agents() == []
    assert await cluster.plane.memories.snapshot(agent.id) == []
    assert (await client.get_system_status()).total_agents == 0


async def test_reflection_lists_every_service(cluster: Cluster) -> None:
    async with grpc.aio.insecure_channel(cluster.target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = set()
        async for response in responses:
            names = {s.name for s in response.list_services_response.service}
            break
    assert {"elizaos.v1.AgentService", "elizaos.v1.SystemService", "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection"} <= names


async def test_graceful_shutdown_reports_not_serving(cluster: Cluster) -> None:
    assert cluster.plane is not None
    async with grpc.aio.insecure_channel(cluster.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        watch = health.Watch(health_pb2.HealthCheckRequest(service="elizaos.v1.AgentService"))
        first = await watch.read()
        assert first.status == health_pb2.HealthCheckResponse.SERVING
        await cluster.plane.health.enter_graceful_shutdown()
        second = await watch.read()
        assert second.status == health_pb2.HealthCheckResponse.NOT_SERVING
        watch.cancel()


async def test_rate_limit_answers_resource_exhausted_with_retry_info(cluster_factory: object) -> None:
    cluster: Cluster = await cluster_factory(  # type: ignore[operator]
        hosts=0, server={"rate_limit": True}, resource_limits={"max_requests_per_minute": 3})
    client = cluster.client
    assert client is not None
    for _ in range(3):
        await client.get_system_status()
    with pytest.raises(ElizaOSError) as info:
        await client.get_system_status()
    error = info.value
    assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED and error.reason == "RATE_LIMITED"
    assert error.retry_delay is not None and 0 < error.retry_delay <= 20
    # Health checks are never limited.
    assert await client.serving("")
