"""The seed-style ElizaOS facade and its sync wrapper, against a real cluster."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from elizaos import ElizaOS, RemoteRuntime
from elizaos import sync as elizaos_sync
from tests.conftest import free_port
from tests.integration.harness import Cluster

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "characters"


async def test_seed_api_against_a_running_cluster(cluster: Cluster) -> None:
    eliza = ElizaOS(target=cluster.target)
    await eliza.initialize()
    try:
        agent_id = await eliza.create_agent(EXAMPLES / "eliza.json", plugins=["calculator"])
        info = await eliza.get_agent(agent_id)
        assert info is not None and info.name == "Eliza"
        assert [a.id for a in await eliza.get_agents_by_status("running")] == [agent_id]

        async def talk(runtime: RemoteRuntime) -> tuple[str, str, object, int]:
            reply = await runtime.process_message("what is 12*(3+4)?", room_id="r1")
            return reply.text, runtime.get_setting("model"), await runtime.get_service("none"), \
                len(await runtime.memories("r1"))

        text, model, service, remembered = await eliza.with_agent(agent_id, talk)
        assert "84" in text and model == "eliza" and service is None and remembered == 2
        await eliza.register_global_service("counter", "tests.integration.sample_services:counter")
        described = await eliza.get_global_service("counter")
        assert described is not None and described.ref.endswith(":counter")
        await eliza.unregister_global_service("counter")
        assert await eliza.get_global_service("counter") is None
        await eliza.stop_agent(agent_id)
        assert (await eliza.get_agents_by_status("stopped"))[0].id == agent_id
        await eliza.remove_agent(agent_id)
        assert await eliza.get_agent(agent_id) is None
        assert await eliza.health_check()
        assert (await eliza.get_system_status()).total_agents == 0
    finally:
        await eliza.stop()


def test_sync_wrapper_against_a_running_cluster(etcd_endpoint: str) -> None:
    async def start() -> Cluster:
        cluster = Cluster(etcd_endpoint)
        await cluster.start_plane()
        await cluster.add_host()
        return cluster

    loop = asyncio.new_event_loop()
    cluster = loop.run_until_complete(start())
    # The in-process cluster needs its loop running while the sync client talks to it.
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        with elizaos_sync.ElizaOS(target=cluster.target) as eliza:
            agent_id = eliza.create_agent({"name": "Sync", "bio": "a sync agent"})
            reply = eliza.with_agent(agent_id, lambda rt: rt.process_message("I am sad about my job"))
            assert "sad about your job" in reply.text
            assert [a.name for a in eliza.get_all_agents()] == ["Sync"]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.run_until_complete(cluster.stop())
        loop.close()


async def test_local_cluster_from_server_config(tmp_path: Path) -> None:
    eliza = ElizaOS(server_config={"enabled": True, "port": free_port()}, data_dir=tmp_path, hosts=1,
                    global_plugins=["calculator"])
    await eliza.initialize()
    assert eliza._cluster is not None
    processes = list(eliza._cluster.processes.values())
    assert len(processes) == 3  # etcd, control plane, one host
    try:
        agent_id = await eliza.create_agent({"name": "Local"})
        reply = await eliza.with_agent(agent_id, lambda rt: rt.process_message("what is 2**10?"))
        assert "1024" in reply.text and reply.actions == ("CALCULATE",)
    finally:
        await eliza.stop()
    assert all(p.poll() is not None for p in processes)  # stop() ended every child
    assert (tmp_path / "logs" / "controlplane.log").exists()
