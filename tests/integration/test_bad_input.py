"""Every bad request gets its precise status with google.rpc details and changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest

from elizaos import ElizaOSError
from elizaos.v1 import (
    agent_service_pb2,
    agent_service_pb2_grpc,
    character_pb2,
    system_service_pb2,
    system_service_pb2_grpc,
)
from tests.integration.harness import Cluster


async def snapshot(cluster: Cluster) -> list[tuple[str, int, int]]:
    """Every agent with its revision and status: equal snapshots mean nothing changed."""
    assert cluster.client is not None
    return sorted((a.id, a.revision, a.status) for a in await cluster.client.list_agents())


async def expect(call: Awaitable[Any], code: grpc.StatusCode, *, field: str | None = None,
                 reason: str | None = None) -> ElizaOSError:
    with pytest.raises(ElizaOSError) as info:
        await call
    error = info.value
    assert error.code == code, error
    assert error.domain == "elizaos.ai" and error.reason  # ErrorInfo always present
    if field is not None:
        assert field in [v.field for v in error.field_violations], error.field_violations
    if reason is not None:
        assert error.reason == reason
    return error


@pytest.fixture
async def setup(cluster_factory: Callable[..., Awaitable[Cluster]]) -> tuple[Cluster, str]:
    cluster = await cluster_factory(hosts=1, max_agents=2, server={"max_message_bytes": 100})
    assert cluster.client is not None
    agent = await cluster.client.create_agent(character_pb2.Character(name="Eliza"), wait=10)
    return cluster, agent.id


async def test_bad_create_requests(setup: tuple[Cluster, str]) -> None:
    cluster, _ = setup
    client = cluster.client
    assert client is not None
    before = await snapshot(cluster)
    await expect(client.create_agent(character_pb2.Character(name="")), grpc.StatusCode.INVALID_ARGUMENT,
                 field="character.name")
    await expect(client.create_agent(character_pb2.Character(name="   ")), grpc.StatusCode.INVALID_ARGUMENT,
                 field="character.name")
    await expect(client.create_agent(character_pb2.Character(name="x" * 65)), grpc.StatusCode.INVALID_ARGUMENT,
                 field="character.name")
    await expect(client.create_agent(character_pb2.Character(name="a/b")), grpc.StatusCode.INVALID_ARGUMENT,
                 field="character.name")
    await expect(client.create_agent(character_pb2.Character(name="ok", bio=["x" * 70_000])),
                 grpc.StatusCode.INVALID_ARGUMENT, field="character")
    await expect(client.create_agent(character_pb2.Character(name="ok"), plugins=[""]),
                 grpc.StatusCode.INVALID_ARGUMENT, field="plugins[0]")
    await expect(client.create_agent(character_pb2.Character(name="ok"), memory_bytes=-1),
                 grpc.StatusCode.INVALID_ARGUMENT, field="resources.memory_bytes")
    await expect(client.create_agent(character_pb2.Character(name="ok"), pool="a/b"),
                 grpc.StatusCode.INVALID_ARGUMENT, field="pool")
    await expect(client.create_agent(character_pb2.Character(name="ok"), request_id="../x"),
                 grpc.StatusCode.INVALID_ARGUMENT, field="request_id")
    await expect(client.create_agent(character_pb2.Character(name="ok"), wait=301),
                 grpc.StatusCode.INVALID_ARGUMENT, field="wait_timeout")
    # Several problems are reported together.
    error = await expect(client.create_agent(character_pb2.Character(name=""), cpu=-1),
                         grpc.StatusCode.INVALID_ARGUMENT)
    assert {v.field for v in error.field_violations} == {"character.name", "resources.cpu"}
    assert await snapshot(cluster) == before


async def test_max_agents_leaves_state_untouched(setup: tuple[Cluster, str]) -> None:
    cluster, _ = setup
    client = cluster.client
    assert client is not None
    await client.create_agent(character_pb2.Character(name="second"), auto_start=False)
    before = await snapshot(cluster)
    error = await expect(client.create_agent(character_pb2.Character(name="third")),
                         grpc.StatusCode.RESOURCE_EXHAUSTED, reason="MAX_AGENTS_REACHED")
    assert "2 agents" in error.message
    assert await snapshot(cluster) == before


async def test_bad_agent_ids_and_unknown_agents(setup: tuple[Cluster, str]) -> None:
    cluster, agent_id = setup
    client = cluster.client
    assert client is not None
    before = await snapshot(cluster)
    for bad in ("", "nope", "123", "../" + agent_id):
        await expect(client.get_agent(bad), grpc.StatusCode.INVALID_ARGUMENT, field="agent_id")
        await expect(client.start_agent(bad), grpc.StatusCode.INVALID_ARGUMENT, field="agent_id")
        await expect(client.remove_agent(bad), grpc.StatusCode.INVALID_ARGUMENT, field="agent_id")
    unknown = str(uuid.uuid4())
    await expect(client.get_agent(unknown), grpc.StatusCode.NOT_FOUND, reason="AGENT_NOT_FOUND")
    assert await snapshot(cluster) == before


async def test_starting_a_deleted_agent_is_not_found(setup: tuple[Cluster, str]) -> None:
    cluster, agent_id = setup
    client = cluster.client
    assert client is not None
    await client.remove_agent(agent_id)
    await expect(client.start_agent(agent_id), grpc.StatusCode.NOT_FOUND, reason="AGENT_NOT_FOUND")
    await expect(client.send_message(agent_id, "hi"), grpc.StatusCode.NOT_FOUND)
    assert await snapshot(cluster) == []


async def test_bad_messages(setup: tuple[Cluster, str]) -> None:
    cluster, agent_id = setup
    client = cluster.client
    assert client is not None
    await expect(client.send_message(agent_id, ""), grpc.StatusCode.INVALID_ARGUMENT, field="text")
    await expect(client.send_message(agent_id, "x" * 101), grpc.StatusCode.INVALID_ARGUMENT, field="text")
    # The limit counts UTF-8 bytes: 34 three-byte characters are 102 bytes.
    await expect(client.send_message(agent_id, "€" * 34), grpc.StatusCode.INVALID_ARGUMENT, field="text")
    await expect(client.send_message(agent_id, "hi", room_id="a/b"), grpc.StatusCode.INVALID_ARGUMENT,
                 field="room_id")
    assert await client.list_memories(agent_id) == []
    await client.stop_agent(agent_id, wait=10)
    await expect(client.send_message(agent_id, "hi"), grpc.StatusCode.FAILED_PRECONDITION,
                 reason="AGENT_NOT_RUNNING")
    assert await client.list_memories(agent_id) == []


async def test_bad_list_and_system_requests(setup: tuple[Cluster, str]) -> None:
    cluster, _ = setup
    channel = grpc.aio.insecure_channel(cluster.target)
    agents = agent_service_pb2_grpc.AgentServiceStub(channel)
    system = system_service_pb2_grpc.SystemServiceStub(channel)
    try:
        for request, field in (
            (agent_service_pb2.ListAgentsRequest(page_size=-1), "page_size"),
            (agent_service_pb2.ListAgentsRequest(page_size=1001), "page_size"),
            (agent_service_pb2.ListAgentsRequest(page_token="garbage"), "page_token"),
            (agent_service_pb2.ListAgentsRequest(status=99), "status"),  # type: ignore[arg-type]
            (agent_service_pb2.ListAgentsRequest(pool="a/b"), "pool"),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await agents.ListAgents(request, timeout=5)
            error = ElizaOSError.from_rpc_error(info.value)
            assert error.code == grpc.StatusCode.INVALID_ARGUMENT
            assert [v.field for v in error.field_violations] == [field]
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await system.Reset(system_service_pb2.ResetRequest(confirm=False), timeout=5)
        error = ElizaOSError.from_rpc_error(info.value)
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT
        assert [v.field for v in error.field_violations] == ["confirm"]
        assert len(await cluster.client.list_agents()) == 1  # type: ignore[union-attr]
    finally:
        await channel.close()
