"""EventService and the SDK's on/off/emit against a real cluster and etcd."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from elizaos import ElizaOS, ElizaOSClient, ElizaOSError
from elizaos.v1 import character_pb2, event_pb2
from tests.conftest import free_port
from tests.integration.harness import Cluster, eventually


async def collect(stream: AsyncIterator[event_pb2.Event], count: int, timeout: float = 10) -> list[event_pb2.Event]:
    out: list[event_pb2.Event] = []

    async def run() -> None:
        async for event in stream:
            out.append(event)
            if len(out) == count:
                return

    await asyncio.wait_for(run(), timeout)
    return out


async def test_watch_delivers_lifecycle_events_in_order(cluster: Cluster) -> None:
    client = cluster.client
    assert client is not None
    stream = client.watch_events(types=["agent:"])
    waiter = asyncio.create_task(collect(stream, 4))
    await asyncio.sleep(0.2)  # the watch is registered
    agent = await client.create_agent(character_pb2.Character(name="Ev"), wait=10)
    await client.stop_agent(agent.id, wait=10)
    await client.remove_agent(agent.id)
    events = await waiter
    assert [e.type for e in events] == ["agent:created", "agent:started", "agent:stopped", "agent:removed"]
    assert all(e.agent_id == agent.id for e in events)
    assert [e.revision for e in events] == sorted({e.revision for e in events})
    assert events[0].data["name"] == "Ev" and events[1].data["hostId"] in {"h1", "h2"}
    assert events[0].source.startswith("controlplane/")


async def test_filters_by_type_prefix_and_agent(cluster: Cluster) -> None:
    client = cluster.client
    assert client is not None
    a = await client.create_agent(character_pb2.Character(name="A"), auto_start=False)
    only_a = asyncio.create_task(collect(client.watch_events(agent_id=a.id), 2))
    custom = asyncio.create_task(collect(client.watch_events(types=["order:placed", "shop:"]), 3))
    await asyncio.sleep(0.2)
    await client.emit_event("order:placed", {"id": 1})
    await client.emit_event("order:cancelled", {"id": 1})  # neither exact nor prefix
    await client.emit_event("shop:opened", {"at": "9:00"})
    await client.emit_event("note", {"text": "about a"}, agent_id=a.id)
    await client.start_agent(a.id, wait=10)
    await client.emit_event("shop:closed")
    assert [e.type for e in await custom] == ["order:placed", "shop:opened", "shop:closed"]
    assert [e.type for e in await only_a] == ["note", "agent:started"]


async def test_resume_from_revision_has_no_gap_and_no_duplicate(cluster: Cluster) -> None:
    client = cluster.client
    assert client is not None
    emitted = [await client.emit_event("tick", {"n": i}) for i in range(10)]
    middle = emitted[4].revision
    live = client.watch_events(types=["tick"], since_revision=middle)
    waiter = asyncio.create_task(collect(live, 8))
    await asyncio.sleep(0.2)
    emitted += [await client.emit_event("tick", {"n": i}) for i in range(10, 13)]
    got = await waiter
    assert [int(e.data["n"]) for e in got] == list(range(5, 13))
    assert [e.revision for e in got] == [e.revision for e in emitted[5:13]]


async def test_history_that_is_gone_fails_with_a_resync_status(cluster: Cluster) -> None:
    client = cluster.client
    assert client is not None and cluster.plane is not None
    old = await client.emit_event("tick", {"n": 0})
    await client.emit_event("tick", {"n": 1})
    await client.reset()  # deletes the event log

    async def floor_moved() -> bool:
        assert cluster.plane is not None
        return cluster.plane.hub.floor > old.revision

    await eventually(floor_moved)
    with pytest.raises(ElizaOSError) as info:
        await collect(client.watch_events(since_revision=old.revision), 1, timeout=5)
    error = info.value
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION and error.reason == "EVENTS_COMPACTED"
    assert int(error.metadata["floor_revision"]) > old.revision
    # Watching from the floor works.
    stream = client.watch_events(since_revision=int(error.metadata["floor_revision"]), types=["after"])
    waiter = asyncio.create_task(collect(stream, 1))
    await asyncio.sleep(0.2)
    await client.emit_event("after")
    assert [e.type for e in await waiter] == ["after"]


async def test_emit_validation(cluster: Cluster) -> None:
    client = cluster.client
    assert client is not None
    cases = [("", "type"), ("agent:created", "type"), (" padded", "type"), ("x" * 129, "type")]
    for event_type, field in cases:
        with pytest.raises(ElizaOSError) as info:
            await client.emit_event(event_type)
        assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert [v.field for v in info.value.field_violations] == [field]
    with pytest.raises(ElizaOSError) as info:
        await client.emit_event("big", {"blob": "x" * 70_000})
    assert [v.field for v in info.value.field_violations] == ["data"]
    with pytest.raises(ElizaOSError) as info:
        await collect(client.watch_events(types=[""], agent_id="nope", since_revision=-1), 1)
    assert {v.field for v in info.value.field_violations} == {"types[0]", "agent_id", "since_revision"}
    assert [e.type for e in await cluster.plane.events.list() if not e.type.startswith("system:")] == []  # type: ignore[union-attr]


async def test_sdk_on_off_emit_and_resume_across_a_restart(etcd_endpoint: str) -> None:
    cluster = Cluster(etcd_endpoint)
    port = free_port()
    await cluster.start_plane(port)
    await cluster.add_host()
    eliza = ElizaOS(target=cluster.target, timeout=5)
    await eliza.initialize()
    seen: list[str] = []
    agents: list[str] = []

    def on_custom(event: event_pb2.Event) -> None:
        seen.append(f"{event.type}:{int(event.data['n'])}")

    async def on_agent(event: event_pb2.Event) -> None:
        agents.append(event.type)

    try:
        eliza.on("custom:", on_custom)
        eliza.on("agent:created", on_agent)
        assert eliza._listeners is not None
        await asyncio.wait_for(eliza._listeners.connected.wait(), 5)
        await asyncio.sleep(0.2)
        for n in range(3):
            await eliza.emit("custom:ping", {"n": n})
        await eliza.create_agent({"name": "Watched"})

        async def first_batch() -> bool:
            return len(seen) == 3 and agents == ["agent:created"]

        await eventually(first_batch)
        # The control plane restarts; events recorded meanwhile must still arrive, once each.
        assert cluster.plane is not None
        await cluster.plane.stop()
        other = ElizaOSClient(f"127.0.0.1:{port}")
        await cluster.start_plane(port)
        for n in range(3, 6):
            await other.emit_event("custom:ping", {"n": n})
        await other.close()

        async def all_six() -> bool:
            return len(seen) >= 6

        await eventually(all_six, timeout=15)
        assert seen == [f"custom:ping:{n}" for n in range(6)]
        eliza.off("custom:", on_custom)
        await eliza.emit("custom:ping", {"n": 99})
        await asyncio.sleep(0.5)
        assert len(seen) == 6
    finally:
        await eliza.stop()
        await cluster.stop()
