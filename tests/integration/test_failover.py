"""Host death, control-plane restart and epoch fencing, with a real etcd."""

from __future__ import annotations

import asyncio

from controlplane.hostlink import HostSession
from elizaos.host.v1 import host_link_pb2 as pb
from elizaos.v1 import agent_pb2, character_pb2
from tests.conftest import free_port
from tests.integration.harness import Cluster, Host, eventually

S = agent_pb2


async def test_host_crash_moves_agents_with_their_memory(cluster_factory: object) -> None:
    cluster: Cluster = await cluster_factory(hosts=2)  # type: ignore[operator]
    client = cluster.client
    assert client is not None
    agent = await client.create_agent(character_pb2.Character(name="Eliza"), wait=10)
    await client.send_message(agent.id, "Well, my boyfriend made me come here.", room_id="r1")
    first_host = next(h for h in cluster.hosts if h.link.config.host_id == agent.host_id)
    other = next(h for h in cluster.hosts if h is not first_host)
    await first_host.crash()

    async def moved() -> bool:
        a = await client.get_agent(agent.id)
        return a.status == S.AGENT_STATUS_RUNNING and a.host_id == other.link.config.host_id

    took = await eventually(moved, timeout=2 + 8)  # lease TTL 2 s + a few seconds
    assert took < 10
    moved_agent = await client.get_agent(agent.id)
    assert moved_agent.epoch > agent.epoch
    # The new runtime was seeded with the conversation: ELIZA's memory queue survived the move,
    # so a keyword-less input recalls the boyfriend, exactly as it would have on the first host.
    reply = await client.send_message(agent.id, "Bullies.", room_id="r1")
    assert "boyfriend made you come here" in reply.text
    stored = await client.list_memories(agent.id, room_id="r1")
    assert [m.sequence for m in stored] == [1, 2, 3, 4]
    assert stored[0].text == "Well, my boyfriend made me come here."


async def test_graceful_host_shutdown_moves_agents_at_once(cluster_factory: object) -> None:
    cluster: Cluster = await cluster_factory(hosts=2, cluster={"host_lease_ttl_seconds": 30})  # type: ignore[operator]
    client = cluster.client
    assert client is not None
    agent = await client.create_agent(character_pb2.Character(name="Eliza"), wait=10)
    leaving = next(h for h in cluster.hosts if h.link.config.host_id == agent.host_id)
    await leaving.shutdown()

    async def moved() -> bool:
        a = await client.get_agent(agent.id)
        return a.status == S.AGENT_STATUS_RUNNING and a.host_id != leaving.link.config.host_id

    # Far below the 30 s lease: a goodbye releases the host immediately.
    assert await eventually(moved, timeout=5) < 5


async def test_controlplane_restart_keeps_agents_running_in_place(etcd_endpoint: str) -> None:
    cluster = Cluster(etcd_endpoint)
    port = free_port()
    try:
        await cluster.start_plane(port)
        await cluster.add_host("h1")
        client = cluster.client
        assert client is not None and cluster.plane is not None
        agent = await client.create_agent(character_pb2.Character(name="Eliza"), wait=10)
        runtime = cluster.hosts[0].supervisor.runtimes[agent.id]
        await client.send_message(agent.id, "My mother hates me")
        await cluster.plane.stop()
        await cluster.start_plane(port)

        async def relinked() -> bool:
            return cluster.hosts[0].link.connected.is_set()

        await eventually(relinked)
        again = await client.get_agent(agent.id)
        assert again.status == S.AGENT_STATUS_RUNNING and again.epoch == agent.epoch
        # Same runtime object: the agent was adopted, not restarted.
        assert cluster.hosts[0].supervisor.runtimes[agent.id] is runtime
        reply = await client.send_message(agent.id, "I like cheese")
        assert reply.text
        assert len(await client.list_memories(agent.id)) == 4
    finally:
        await cluster.stop()


async def test_stale_epochs_are_fenced(cluster_factory: object) -> None:
    cluster: Cluster = await cluster_factory(hosts=1)  # type: ignore[operator]
    client = cluster.client
    assert client is not None and cluster.plane is not None
    agent = await client.create_agent(character_pb2.Character(name="Eliza"), wait=10)
    host = cluster.hosts[0]
    # The host drops commands from an older placement.
    stale_stop = pb.StopAgent(agent_id=agent.id, epoch=agent.epoch - 1)
    assert host.supervisor.stop(stale_stop) is None
    assert agent.id in host.supervisor.runtimes
    full = await cluster.plane.agent_store.get(agent.id)
    stale_start = pb.StartAgent(agent=full.agent, epoch=agent.epoch - 1)
    assert await host.supervisor.start(stale_start) is None
    assert host.supervisor.runtimes[agent.id].epoch == agent.epoch
    # The control plane ignores reports from an older placement.
    session = cluster.plane.sessions.get("h1")
    assert isinstance(session, HostSession)
    before = await client.get_agent(agent.id)
    await cluster.plane.reconciler.status_reported(session, pb.AgentStatusReport(
        agent_id=agent.id, epoch=agent.epoch - 1, status=S.AGENT_STATUS_ERROR, error="stale"))
    after = await client.get_agent(agent.id)
    assert after.status == S.AGENT_STATUS_RUNNING and after.revision == before.revision
    assert not after.error


async def test_orphan_runtime_is_stopped_after_delete_while_disconnected(etcd_endpoint: str) -> None:
    cluster = Cluster(etcd_endpoint)
    port = free_port()
    try:
        await cluster.start_plane(port)
        await cluster.add_host("h1")
        client = cluster.client
        assert client is not None and cluster.plane is not None
        agent = await client.create_agent(character_pb2.Character(name="Eliza"), wait=10)
        await cluster.plane.stop()
        # While the control plane is down, the agent is deleted by another replica (directly in etcd).
        other = Cluster(etcd_endpoint)
        other.name = cluster.name
        await other.start_plane()
        assert other.plane is not None
        await other.plane.agents.delete(agent.id)
        await other.stop()
        await cluster.start_plane(port)

        async def stopped() -> bool:
            return agent.id not in cluster.hosts[0].supervisor.runtimes

        await eventually(stopped)
    finally:
        await cluster.stop()


async def test_concurrent_creates_all_reach_running(cluster: Cluster) -> None:
    client = cluster.client
    assert client is not None
    agents = await asyncio.gather(*(client.create_agent(character_pb2.Character(name=f"c{i}"), wait=15)
                                    for i in range(40)))
    assert all(a.status == S.AGENT_STATUS_RUNNING for a in agents)
    per_host = {h.link.config.host_id: len(h.supervisor.runtimes) for h in cluster.hosts}
    assert sum(per_host.values()) == 40
    assert all(count >= 10 for count in per_host.values()), per_host  # spread, not piled on one host


async def test_manual_recovery_leaves_agents_of_lost_hosts_stopped(etcd_endpoint: str) -> None:
    cluster = Cluster(etcd_endpoint, persistence={"recovery_mode": "manual"})
    port = free_port()
    try:
        await cluster.start_plane(port)
        await cluster.add_host("h1")
        client = cluster.client
        assert client is not None and cluster.plane is not None
        agent = await client.create_agent(character_pb2.Character(name="Eliza"), wait=10)
        await cluster.plane.stop()
        await cluster.hosts[0].crash()
        await asyncio.sleep(2.5)  # the host's lease (2 s) runs out while nothing is up
        await cluster.start_plane(port)

        async def stopped() -> bool:
            a = await client.get_agent(agent.id)
            return a.status == S.AGENT_STATUS_STOPPED and a.desired_state == S.DESIRED_STATE_STOPPED

        await eventually(stopped)
    finally:
        await cluster.stop()


async def test_join_token_is_required_when_configured(cluster_factory: object) -> None:
    cluster: Cluster = await cluster_factory(hosts=0, cluster={"join_token": "s3cret-join"})  # type: ignore[operator]
    assert cluster.client is not None
    intruder = Host(cluster.target, "intruder")
    intruder.task = asyncio.create_task(intruder.link.run())
    await asyncio.sleep(1.0)
    assert not intruder.link.connected.is_set()
    assert await cluster.client.list_hosts() == []
    await intruder.crash()
    member = Host(cluster.target, "member", join_token="s3cret-join")
    cluster.hosts.append(member)
    await member.start()
    assert [h.id for h in await cluster.client.list_hosts()] == ["member"]
