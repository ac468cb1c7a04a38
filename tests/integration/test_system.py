"""SystemService, grpc.health.v1 and reflection on a real server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from elizaos import ElizaOSError
from elizaos.v1 import character_pb2
from tests.integration.harness import Cluster, eventually


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
    assert await client.serving("elizaos.v1.AgentService")

    async def overall_serving() -> bool:  # follows CheckHealth on the next health tick
        return await client.serving("")  # type: ignore[union-attr]

    await eventually(overall_serving)


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
    assert await client.serving("elizaos.v1.AgentService")


async def test_overloaded_fires_once_per_crossing(cluster_factory: object) -> None:
    cluster: Cluster = await cluster_factory(hosts=0, cluster={"scale_threshold": 0.5})  # type: ignore[operator]
    client = cluster.client
    assert client is not None and cluster.plane is not None
    await cluster.add_host("a", max_agents=2, cpu=100)
    await cluster.add_host("b", max_agents=2, cpu=100)

    async def overloaded_events() -> int:
        assert cluster.plane is not None
        return sum(1 for e in await cluster.plane.events.list() if e.type == "system:overloaded")

    agents = [await client.create_agent(eliza_character(f"L{i}"), wait=10) for i in range(2)]
    await asyncio.sleep(0.5)
    assert await overloaded_events() == 0  # 2 of 4 slots: at the threshold, not over it
    agents.append(await client.create_agent(eliza_character("L2"), wait=10))

    async def fired(count: int) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return await overloaded_events() == count
        return check

    await eventually(await fired(1))
    status = await client.get_system_status()
    assert status.overloaded and status.load == 0.75
    event = next(e for e in await cluster.plane.events.list() if e.type == "system:overloaded")
    assert event.data["resource"] == "agents" and event.data["threshold"] == 0.5
    agents.append(await client.create_agent(eliza_character("L3"), wait=10))
    await asyncio.sleep(0.5)
    assert await overloaded_events() == 1  # still over: no second event
    for agent in agents[:3]:
        await client.remove_agent(agent.id)

    async def rearmed() -> bool:
        assert cluster.plane is not None
        return not cluster.plane.overload.overloaded

    await eventually(rearmed)
    for i in range(2):
        await client.create_agent(eliza_character(f"M{i}"), wait=10)
    await eventually(await fired(2))


async def test_grpc_health_follows_check_health(cluster_factory: object) -> None:
    cluster: Cluster = await cluster_factory(hosts=0)  # type: ignore[operator]
    client = cluster.client
    assert client is not None

    async def not_serving() -> bool:
        assert client is not None
        return not await client.serving("")

    await eventually(not_serving)
    assert await client.serving("elizaos.v1.AgentService")  # the services themselves still answer
    await cluster.add_host()

    async def serving() -> bool:
        assert client is not None
        return await client.serving("")

    await eventually(serving)
    status = await client.get_system_status()
    assert status.etcd_healthy and status.etcd_db_size_bytes > 0


def eliza_character(name: str) -> character_pb2.Character:
    return character_pb2.Character(name=name)
