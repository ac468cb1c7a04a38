"""Plugins on real hosts: per-agent plugins, global plugins, placement and failures."""

from __future__ import annotations

import grpc
import pytest

from elizaos import ElizaOSError
from elizaos.v1 import agent_pb2, character_pb2
from tests.integration.harness import Cluster, eventually

S = agent_pb2


def character(name: str = "Calc", **kw: object) -> character_pb2.Character:
    return character_pb2.Character(name=name, **kw)  # type: ignore[arg-type]


async def test_calculator_action_answers(cluster: Cluster) -> None:
    client = cluster.client
    assert client is not None
    agent = await client.create_agent(character(), plugins=["calculator"], wait=10)
    assert agent.status == S.AGENT_STATUS_RUNNING and list(agent.plugins) == ["calculator"]
    reply = await client.send_message(agent.id, "what is 12*(3+4)?")
    assert "84" in reply.text
    assert list(reply.actions) == ["CALCULATE"]
    stored = await client.list_memories(agent.id)
    assert list(stored[-1].actions) == ["CALCULATE"]
    # Without the plugin the same question gets a DOCTOR answer.
    plain = await client.create_agent(character("Plain"), wait=10)
    other = await client.send_message(plain.id, "what is 12*(3+4)?")
    assert "84" not in other.text and not other.actions


async def test_facts_survive_a_move_to_another_host(cluster: Cluster) -> None:
    client = cluster.client
    assert client is not None
    agent = await client.create_agent(character("Memo"), plugins=["facts"], wait=10)
    await client.send_message(agent.id, "my name is Ana", user_id="ana")
    first = next(h for h in cluster.hosts if h.link.config.host_id == agent.host_id)
    await first.crash()

    async def moved() -> bool:
        a = await client.get_agent(agent.id)
        return a.status == S.AGENT_STATUS_RUNNING and a.host_id != first.link.config.host_id

    await eventually(moved, timeout=12)
    reply = await client.send_message(agent.id, "what is my name?", user_id="ana")
    assert "Ana" in reply.text
    # Facts are per user.
    stranger = await client.send_message(agent.id, "what is my name?", user_id="bob")
    assert "Ana" not in stranger.text


async def test_agent_with_missing_plugin_stays_pending(cluster: Cluster) -> None:
    client = cluster.client
    assert client is not None
    agent = await client.create_agent(character(), plugins=["no-such-plugin"], wait=5)
    assert agent.status == S.AGENT_STATUS_PENDING
    assert "missing plugins no-such-plugin" in agent.error


async def test_plugin_init_failure_puts_only_that_agent_in_error(cluster: Cluster) -> None:
    client = cluster.client
    assert client is not None and cluster.plane is not None
    healthy = await client.create_agent(character("Fine"), plugins=["calculator"], wait=10)
    broken = await client.create_agent(character("Broken"), plugins=["tests.integration.bad_plugins:failing_init"],
                                       wait=10)
    assert broken.status == S.AGENT_STATUS_ERROR
    assert "failed to initialise" in broken.error and "boom" in broken.error
    assert (await client.get_agent(healthy.id)).status == S.AGENT_STATUS_RUNNING
    assert "84" in (await client.send_message(healthy.id, "what is 6*14?")).text
    errors = [e for e in await cluster.plane.events.list() if e.type == "agent:error"]
    assert errors and errors[-1].agent_id == broken.id and "boom" in errors[-1].data["error"]


async def test_global_plugin_reaches_running_agents_on_every_host(cluster: Cluster) -> None:
    client = cluster.client
    assert client is not None and cluster.plane is not None
    agents = [await client.create_agent(character(f"G{i}"), wait=10) for i in range(4)]
    assert {a.host_id for a in agents} == {"h1", "h2"}
    before = await client.send_message(agents[0].id, "what is 2+2?")
    assert not before.actions
    plugin = await client.register_global_plugin("calculator")
    assert plugin.is_global and plugin.ref == "calculator" and plugin.agent_count == 4

    async def everywhere() -> bool:
        return all("calculator" in rt.plugins for h in cluster.hosts for rt in h.supervisor.runtimes.values())

    await eventually(everywhere)
    for agent in agents:
        reply = await client.send_message(agent.id, "what is 2+2?")
        assert "4" in reply.text and list(reply.actions) == ["CALCULATE"]
    # Future agents get it too.
    late = await client.create_agent(character("Late"), wait=10)
    assert list((await client.send_message(late.id, "what is 3*3?")).actions) == ["CALCULATE"]
    listed = {p.name: p for p in await client.list_plugins()}
    assert listed["calculator"].is_global and listed["calculator"].agent_count == 5
    assert sorted(listed["calculator"].hosts) == ["h1", "h2"]
    await client.unregister_global_plugin("calculator")

    async def nowhere() -> bool:
        return all("calculator" not in rt.plugins for h in cluster.hosts for rt in h.supervisor.runtimes.values())

    await eventually(nowhere)
    after = await client.send_message(agents[0].id, "what is 2+2?")
    assert not after.actions
    kinds = [e.type for e in await cluster.plane.events.list() if e.type.startswith("plugin:")]
    assert kinds == ["plugin:registered", "plugin:unregistered"]


async def test_global_plugin_reaches_hosts_that_link_later(cluster_factory: object) -> None:
    cluster: Cluster = await cluster_factory(hosts=1)  # type: ignore[operator]
    client = cluster.client
    assert client is not None
    await client.register_global_plugin("calculator")
    late = await cluster.add_host("late")

    async def loaded() -> bool:
        return late.supervisor.global_plugins.keys() == {"calculator"}

    await eventually(loaded)


async def test_plugin_registry_errors(cluster: Cluster) -> None:
    client = cluster.client
    assert client is not None
    with pytest.raises(ElizaOSError) as info:
        await client.register_global_plugin("nope")
    assert info.value.code == grpc.StatusCode.FAILED_PRECONDITION and info.value.reason == "PLUGIN_NOT_INSTALLED"
    with pytest.raises(ElizaOSError) as info:
        await client.register_global_plugin("bad/name")
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(ElizaOSError) as info:
        await client.register_global_plugin("x", ref="not a ref:")
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT and info.value.field_violations[0].field == "ref"
    with pytest.raises(ElizaOSError) as info:
        await client.unregister_global_plugin("calculator")
    assert info.value.code == grpc.StatusCode.NOT_FOUND
    first = await client.register_global_plugin("calculator")
    again = await client.register_global_plugin("calculator")
    assert again.revision == first.revision
    with pytest.raises(ElizaOSError) as info:
        await client.register_global_plugin("calculator", config={"precision": 3})
    assert info.value.code == grpc.StatusCode.ALREADY_EXISTS
    assert [p.name for p in await client.list_plugins() if p.is_global] == ["calculator"]


async def test_unregistering_a_global_plugin_keeps_it_for_agents_that_asked_for_it(cluster: Cluster) -> None:
    client = cluster.client
    assert client is not None
    own = await client.create_agent(character("Own"), plugins=["calculator"], wait=10)
    other = await client.create_agent(character("Other"), wait=10)
    await client.register_global_plugin("calculator")

    async def loaded() -> bool:
        return all("calculator" in rt.plugins for h in cluster.hosts for rt in h.supervisor.runtimes.values())

    await eventually(loaded)
    await client.unregister_global_plugin("calculator")

    async def removed_from_other() -> bool:
        return all("calculator" not in rt.plugins for h in cluster.hosts
                   for agent_id, rt in h.supervisor.runtimes.items() if agent_id == other.id)

    await eventually(removed_from_other)
    assert list((await client.send_message(own.id, "what is 5*5?")).actions) == ["CALCULATE"]
    assert not (await client.send_message(other.id, "what is 5*5?")).actions
