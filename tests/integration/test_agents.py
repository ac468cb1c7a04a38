"""Agent lifecycle through the real gRPC API, a real etcd and in-process hosts."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest

from elizaos import ElizaOSError
from elizaos.v1 import agent_pb2, character_pb2
from tests.integration.harness import Cluster, eventually

S = agent_pb2


def eliza(name: str = "Eliza", **kw: object) -> character_pb2.Character:
    return character_pb2.Character(name=name, bio=["a therapist"], **kw)  # type: ignore[arg-type]


async def events_of(cluster: Cluster, agent_id: str) -> list[str]:
    assert cluster.plane is not None
    return [e.type for e in await cluster.plane.events.list() if e.agent_id == agent_id]


async def test_create_runs_on_a_host_and_records_events(cluster: Cluster) -> None:
    client = cluster.client
    assert client is not None
    agent = await client.create_agent(eliza(), wait=10)
    assert agent.status == S.AGENT_STATUS_RUNNING
    assert agent.host_id in {"h1", "h2"}
    assert agent.epoch > 0 and agent.revision >= agent.epoch
    host = next(h for h in cluster.hosts if h.link.config.host_id == agent.host_id)
    assert agent.id in host.supervisor.runtimes
    assert await events_of(cluster, agent.id) == ["agent:created", "agent:started"]


async def test_create_without_start_then_start_and_stop(cluster: Cluster) -> None:
    client = cluster.client
    assert client is not None
    agent = await client.create_agent(eliza(), auto_start=False)
    assert agent.status == S.AGENT_STATUS_CREATED and not agent.host_id
    running = await client.start_agent(agent.id, wait=10)
    assert running.status == S.AGENT_STATUS_RUNNING
    stopped = await client.stop_agent(agent.id, wait=10)
    assert stopped.status == S.AGENT_STATUS_STOPPED and not stopped.host_id
    assert all(agent.id not in h.supervisor.runtimes for h in cluster.hosts)
    assert (await client.start_agent(agent.id, wait=10)).status == S.AGENT_STATUS_RUNNING
    assert await events_of(cluster, agent.id) == [
        "agent:created", "agent:started", "agent:stopped", "agent:started"]


async def test_message_gets_eliza_answer_and_memory_is_durable(cluster: Cluster) -> None:
    client = cluster.client
    assert client is not None and cluster.plane is not None
    agent = await client.create_agent(eliza("Ada"), wait=10)
    reply = await client.send_message(agent.id, "I am sad about my job", user_id="ana", room_id="r1")
    assert reply.text != "I am sad about my job"
    assert "sad about your job" in reply.text.lower()
    assert reply.agent_id == agent.id and reply.room_id == "r1" and reply.message_id
    who = await client.send_message(agent.id, "What is your name?", room_id="r1")
    assert "Ada" in who.text
    stored = await client.list_memories(agent.id, room_id="r1")
    assert [m.text for m in stored] == ["I am sad about my job", reply.text, "What is your name?", who.text]
    assert [m.sequence for m in stored] == [1, 2, 3, 4]
    assert stored[0].entity_id == "ana" and stored[1].entity_id == agent.id
    assert stored[1].id == reply.message_id
    # Durable means in etcd, not only in the host's cache.
    assert len(await cluster.plane.memories.room(agent.id, "r1")) == 4
    assert await client.list_memories(agent.id, room_id="other") == []


async def test_memory_window_is_bounded(cluster_factory: object) -> None:
    cluster: Cluster = await cluster_factory(hosts=1, persistence={"memory_window": 4})  # type: ignore[operator]
    client = cluster.client
    assert client is not None
    agent = await client.create_agent(eliza(), wait=10)
    for i in range(5):
        await client.send_message(agent.id, f"I dream of number {i}")
    stored = await client.list_memories(agent.id)
    assert [m.sequence for m in stored] == [7, 8, 9, 10]


async def test_idempotent_create_with_request_id(cluster: Cluster) -> None:
    client = cluster.client
    assert client is not None
    first = await client.create_agent(eliza(), request_id="req-1", wait=10)
    again = await client.create_agent(eliza(), request_id="req-1", wait=10)
    assert again.id == first.id
    assert len(await client.list_agents()) == 1


async def test_max_agents_is_enforced_atomically(cluster_factory: object) -> None:
    cluster: Cluster = await cluster_factory(hosts=1, max_agents=3)  # type: ignore[operator]
    client = cluster.client
    assert client is not None
    results = await asyncio.gather(
        *(client.create_agent(eliza(f"A{i}"), auto_start=False) for i in range(10)), return_exceptions=True)
    created = [r for r in results if isinstance(r, agent_pb2.Agent)]
    refused = [r for r in results if isinstance(r, ElizaOSError)]
    assert len(created) == 3 and len(refused) == 7
    for error in refused:
        assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error.reason == "MAX_AGENTS_REACHED"
        assert error.metadata["max_agents"] == "3"
    assert len(await client.list_agents()) == 3
    # Deleting frees a slot.
    await client.remove_agent(created[0].id)
    assert (await client.create_agent(eliza("again"), auto_start=False)).name == "again"


async def test_delete_stops_runtime_and_removes_memories(cluster: Cluster) -> None:
    client = cluster.client
    assert client is not None and cluster.plane is not None
    agent = await client.create_agent(eliza(), wait=10)
    await client.send_message(agent.id, "hello")
    host = next(h for h in cluster.hosts if h.link.config.host_id == agent.host_id)
    await client.remove_agent(agent.id)

    async def gone() -> bool:
        return agent.id not in host.supervisor.runtimes

    await eventually(gone)
    with pytest.raises(ElizaOSError) as info:
        await client.get_agent(agent.id)
    assert info.value.code == grpc.StatusCode.NOT_FOUND and info.value.reason == "AGENT_NOT_FOUND"
    assert await cluster.plane.memories.snapshot(agent.id) == []
    assert (await events_of(cluster, agent.id))[-1] == "agent:removed"


async def test_pending_until_a_host_fits(cluster_factory: object) -> None:
    cluster: Cluster = await cluster_factory(hosts=0)  # type: ignore[operator]
    client = cluster.client
    assert client is not None
    lonely = await client.create_agent(eliza(), wait=5)
    assert lonely.status == S.AGENT_STATUS_PENDING
    assert "no agent host" in lonely.error
    await cluster.add_host("small", max_agents=1)

    async def running() -> bool:
        return (await client.get_agent(lonely.id)).status == S.AGENT_STATUS_RUNNING

    await eventually(running)
    second = await client.create_agent(eliza("second"), wait=5)
    assert second.status == S.AGENT_STATUS_PENDING
    assert "agent limit 1" in second.error
    await cluster.add_host("big", max_agents=10)

    async def placed() -> bool:
        a = await client.get_agent(second.id)
        return a.status == S.AGENT_STATUS_RUNNING and a.host_id == "big"

    await eventually(placed)


async def test_placement_respects_memory_and_spreads_load(cluster_factory: object) -> None:
    cluster: Cluster = await cluster_factory(hosts=0)  # type: ignore[operator]
    client = cluster.client
    assert client is not None
    await cluster.add_host("a", memory_bytes=100 * 2**20, cpu=4)
    await cluster.add_host("b", memory_bytes=100 * 2**20, cpu=4)
    agents = [await client.create_agent(eliza(f"m{i}"), memory_bytes=40 * 2**20, wait=10) for i in range(4)]
    hosts = sorted(a.host_id for a in agents)
    assert hosts == ["a", "a", "b", "b"]  # least allocated first: they alternate
    fifth = await client.create_agent(eliza("m5"), memory_bytes=40 * 2**20, wait=5)
    assert fifth.status == S.AGENT_STATUS_PENDING and "memory" in fifth.error


async def test_list_filters_and_pagination(cluster: Cluster) -> None:
    client = cluster.client
    assert client is not None
    made = [await client.create_agent(eliza(f"p{i}"), auto_start=i < 2, wait=10) for i in range(5)]
    ids = {a.id for a in made}
    seen: list[str] = []
    async for agent in client.iter_agents(page_size=2):
        seen.append(agent.id)
    assert sorted(seen) == sorted(ids) and len(seen) == 5
    running = await client.list_agents(status="running")
    assert {a.id for a in running} == {made[0].id, made[1].id}
    created = await client.list_agents(status="created")
    assert len(created) == 3
    on_h1 = await client.list_agents(host_id="h1")
    assert all(a.host_id == "h1" for a in on_h1)


async def test_secrets_are_write_only(cluster: Cluster) -> None:
    client = cluster.client
    assert client is not None
    agent = await client.create_agent(eliza(secrets={"API_KEY": "s3cr3t-value"}), wait=10)
    assert not agent.character.secrets
    assert not (await client.get_agent(agent.id)).character.secrets
    assert all(not a.character.secrets for a in await client.list_agents())
    host = next(h for h in cluster.hosts if h.link.config.host_id == agent.host_id)
    # The runtime gets them (plugins read them with get_setting).
    assert host.supervisor.runtimes[agent.id].get_setting("API_KEY") == "s3cr3t-value"


async def test_stop_then_message_is_failed_precondition(cluster: Cluster) -> None:
    client = cluster.client
    assert client is not None
    agent = await client.create_agent(eliza(), wait=10)
    await client.stop_agent(agent.id, wait=10)
    with pytest.raises(ElizaOSError) as info:
        await client.send_message(agent.id, "hello?")
    assert info.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert info.value.reason == "AGENT_NOT_RUNNING"


async def test_unknown_agent_is_not_found(cluster: Cluster) -> None:
    client = cluster.client
    assert client is not None
    missing = str(uuid.uuid4())
    for call in (client.get_agent(missing), client.start_agent(missing), client.stop_agent(missing),
                 client.remove_agent(missing), client.send_message(missing, "hi")):
        with pytest.raises(ElizaOSError) as info:
            await call
        assert info.value.code == grpc.StatusCode.NOT_FOUND
        assert info.value.metadata.get("agent_id") == missing


async def test_lowered_max_agents_still_refuses(cluster_factory: object) -> None:
    cluster: Cluster = await cluster_factory(hosts=0, max_agents=5)  # type: ignore[operator]
    client = cluster.client
    assert client is not None and cluster.plane is not None
    for i in range(4):
        await client.create_agent(eliza(f"a{i}"), auto_start=False)
    # A replica configured with a smaller limit sees the cluster is already over it.
    from controlplane.errors import ResourceExhausted

    agent = agent_pb2.Agent(id=str(uuid.uuid4()), name="late", character=eliza("late"))
    with pytest.raises(ResourceExhausted):
        await cluster.plane.agent_store.create(agent, max_agents=2, events=[])
    assert len(await client.list_agents()) == 4


async def test_smaller_window_is_applied_when_the_agent_is_placed(cluster_factory: object) -> None:
    cluster: Cluster = await cluster_factory(hosts=1)  # type: ignore[operator]
    client = cluster.client
    assert client is not None and cluster.plane is not None
    agent = await client.create_agent(eliza(), wait=10)
    for i in range(5):
        await client.send_message(agent.id, f"I dream of number {i}")
    from controlplane.store.memories import MemoryStore

    smaller = MemoryStore(cluster.plane.etcd, cluster.plane.keys, window=4)
    kept = await smaller.snapshot(agent.id)
    assert [m.sequence for m in kept] == [7, 8, 9, 10]
    assert [m.sequence for m in await client.list_memories(agent.id)] == [7, 8, 9, 10]
