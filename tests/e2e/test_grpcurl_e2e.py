"""End to end with grpcurl: the public API of a real cluster (`elizaos up`) through reflection and JSON."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from .conftest import Cluster

pytestmark = pytest.mark.e2e

AGENTS = "elizaos.v1.AgentService"
SYSTEM = "elizaos.v1.SystemService"
# grpcurl exits with 64 + the gRPC status code when the call fails.
GRPCURL_INVALID_ARGUMENT = 64 + 3
GRPCURL_NOT_FOUND = 64 + 5


def all_agents(cluster: Cluster) -> list[dict[str, Any]]:
    agents: list[dict[str, Any]] = cluster.call(f"{AGENTS}/ListAgents", {"page_size": 1000}).get("agents", [])
    return agents


def create(cluster: Cluster, name: str, **extra: Any) -> dict[str, Any]:
    request = {"character": {"name": name}, "auto_start": True, "wait_timeout": "10s", **extra}
    agent: dict[str, Any] = cluster.call(f"{AGENTS}/CreateAgent", request)["agent"]
    return agent


@pytest.fixture(scope="module")
def grp(cluster: Cluster) -> dict[str, Any]:
    """An agent created through grpcurl, shared by the tests of this module."""
    agent = create(cluster, "Grp")
    return agent


def test_list_services(cluster: Cluster) -> None:
    result = cluster.grpcurl("list")
    assert result.returncode == 0, result.stderr
    services = result.stdout.split()
    for service in (AGENTS, SYSTEM, "grpc.health.v1.Health"):
        assert service in services, services
    assert any(s.startswith("grpc.reflection.") for s in services), services


def test_describe_agent_service(cluster: Cluster) -> None:
    result = cluster.grpcurl("describe", AGENTS)
    assert result.returncode == 0, result.stderr
    assert f"{AGENTS} is a service" in result.stdout
    for rpc in ("CreateAgent", "GetAgent", "ListAgents", "StartAgent", "StopAgent", "DeleteAgent", "SendMessage",
                "ListMemories"):
        assert f"rpc {rpc} (" in result.stdout, rpc
    message = cluster.grpcurl("describe", "elizaos.v1.CreateAgentRequest")
    assert message.returncode == 0 and "wait_timeout" in message.stdout


def test_create_agent_runs(cluster: Cluster, grp: dict[str, Any]) -> None:
    assert grp["status"] == "AGENT_STATUS_RUNNING"
    assert grp["name"] == "Grp"
    assert grp["host_id"] in ("host-1", "host-2")
    uuid.UUID(grp["id"])
    got = cluster.call(f"{AGENTS}/GetAgent", {"agent_id": grp["id"]})["agent"]
    assert got["id"] == grp["id"] and got["status"] == "AGENT_STATUS_RUNNING"


def test_send_message_returns_text(cluster: Cluster, grp: dict[str, Any]) -> None:
    reply = cluster.call(f"{AGENTS}/SendMessage", {"agent_id": grp["id"], "text": "I am sad about my job",
                                                     "room_id": "g1"})
    assert "sad about your job" in reply["text"], reply
    assert reply["agent_id"] == grp["id"]
    assert reply["room_id"] == "g1"
    uuid.UUID(reply["message_id"])
    memories = cluster.call(f"{AGENTS}/ListMemories", {"agent_id": grp["id"], "room_id": "g1"})["memories"]
    assert [m["text"] for m in memories] == ["I am sad about my job", reply["text"]]
    assert memories[-1]["id"] == reply["message_id"]
    assert memories[-1]["entity_id"] == grp["id"]


def test_list_agents_pages(cluster: Cluster, grp: dict[str, Any]) -> None:
    expected = {a["id"] for a in all_agents(cluster)}
    assert len(expected) >= 2  # Eliza from `up --character` and Grp
    first = cluster.call(f"{AGENTS}/ListAgents", {"page_size": 1})
    assert len(first["agents"]) == 1
    assert first.get("next_page_token"), first
    seen = [a["id"] for a in first["agents"]]
    token = first["next_page_token"]
    for _ in range(len(expected) + 2):
        if not token:
            break
        page = cluster.call(f"{AGENTS}/ListAgents", {"page_size": 1, "page_token": token})
        assert len(page.get("agents", [])) <= 1
        seen += [a["id"] for a in page.get("agents", [])]
        token = page.get("next_page_token", "")
    assert not token, "paging did not end"
    assert len(seen) == len(set(seen)), f"an agent appeared on two pages: {seen}"
    assert set(seen) == expected


def test_stop_start_delete(cluster: Cluster) -> None:
    agent = create(cluster, "Cycle")
    assert agent["status"] == "AGENT_STATUS_RUNNING"
    stopped = cluster.call(f"{AGENTS}/StopAgent", {"agent_id": agent["id"], "wait_timeout": "10s"})["agent"]
    assert stopped["status"] == "AGENT_STATUS_STOPPED"
    assert stopped["desired_state"] == "DESIRED_STATE_STOPPED"
    code, error = cluster.call_error(f"{AGENTS}/SendMessage", {"agent_id": agent["id"], "text": "hi"})
    assert code == 64 + 9 and error["code"] == 9, error  # FAILED_PRECONDITION
    started = cluster.call(f"{AGENTS}/StartAgent", {"agent_id": agent["id"], "wait_timeout": "10s"})["agent"]
    assert started["status"] == "AGENT_STATUS_RUNNING"
    assert int(started["epoch"]) > int(agent["epoch"])
    assert cluster.call(f"{AGENTS}/DeleteAgent", {"agent_id": agent["id"]}) == {}
    code, error = cluster.call_error(f"{AGENTS}/GetAgent", {"agent_id": agent["id"]})
    assert code == GRPCURL_NOT_FOUND, error
    assert agent["id"] not in {a["id"] for a in all_agents(cluster)}


def test_system_status(cluster: Cluster, grp: dict[str, Any]) -> None:
    status = cluster.call(f"{SYSTEM}/GetSystemStatus")
    assert status["name"] == "elizaos"
    assert status["total_agents"] == len(all_agents(cluster))
    assert status["active_agents"] >= 2
    assert status["agents_by_status"]["AGENT_STATUS_RUNNING"] == status["active_agents"]
    assert sorted(h["id"] for h in status["hosts"]) == ["host-1", "host-2"]
    assert status["leader"] is True
    assert int(status["memory_usage_bytes"]) > 0


def test_check_health(cluster: Cluster) -> None:
    health = cluster.call(f"{SYSTEM}/CheckHealth")
    assert health["healthy"] is True, health
    assert {c["name"] for c in health["checks"]} >= {"etcd", "hosts"}
    assert all(c.get("healthy") for c in health["checks"]), health


def test_list_hosts(cluster: Cluster) -> None:
    hosts = cluster.call(f"{SYSTEM}/ListHosts")["hosts"]
    assert sorted(h["id"] for h in hosts) == ["host-1", "host-2"]
    for host in hosts:
        assert host["capacity"]["max_agents"] > 0
        assert host["last_heartbeat_time"]


def test_grpc_health_serving(cluster: Cluster) -> None:
    assert cluster.call("grpc.health.v1.Health/Check") == {"status": "SERVING"}
    for service in (AGENTS, SYSTEM):
        assert cluster.call("grpc.health.v1.Health/Check", {"service": service}) == {"status": "SERVING"}


def test_secrets_are_write_only(cluster: Cluster) -> None:
    agent = create(cluster, "Keeper", character={"name": "Keeper", "secrets": {"API_KEY": "s3cr3t-value"}})
    try:
        got = cluster.call(f"{AGENTS}/GetAgent", {"agent_id": agent["id"]})["agent"]
        assert "secrets" not in got["character"]
        assert "s3cr3t-value" not in str(all_agents(cluster))
    finally:
        cluster.call(f"{AGENTS}/DeleteAgent", {"agent_id": agent["id"]})
    assert not [out for out in cluster.outputs if "s3cr3t-value" in out]


# -- bad input: clear errors, nothing changed --------------------------------------------------


def snapshot(cluster: Cluster) -> tuple[int, list[tuple[str, str, str]]]:
    status = cluster.call(f"{SYSTEM}/GetSystemStatus")
    agents = sorted((a["id"], a["name"], a["status"]) for a in all_agents(cluster))
    return status["total_agents"], agents


def test_empty_character_name_is_invalid(cluster: Cluster) -> None:
    before = snapshot(cluster)
    code, error = cluster.call_error(f"{AGENTS}/CreateAgent", {"character": {"name": ""}, "auto_start": True})
    assert code == GRPCURL_INVALID_ARGUMENT
    assert error["code"] == 3
    violations = [v for d in error["details"] if d["@type"].endswith("google.rpc.BadRequest")
                  for v in d["field_violations"]]
    assert "character.name" in [v["field"] for v in violations], error
    assert snapshot(cluster) == before


def test_get_agent_with_bad_id_is_invalid(cluster: Cluster) -> None:
    code, error = cluster.call_error(f"{AGENTS}/GetAgent", {"agent_id": "nope"})
    assert code == GRPCURL_INVALID_ARGUMENT, error
    assert "agent_id" in str(error["details"])


def test_get_agent_unknown_uuid_is_not_found(cluster: Cluster) -> None:
    missing = str(uuid.uuid4())
    code, error = cluster.call_error(f"{AGENTS}/GetAgent", {"agent_id": missing})
    assert code == GRPCURL_NOT_FOUND, error
    assert error["code"] == 5
    assert missing in error["message"]


def test_oversized_message_is_invalid(cluster: Cluster, grp: dict[str, Any]) -> None:
    before = snapshot(cluster)
    memories = cluster.call(f"{AGENTS}/ListMemories", {"agent_id": grp["id"], "room_id": "big"})
    code, error = cluster.call_error(f"{AGENTS}/SendMessage",
                                     {"agent_id": grp["id"], "text": "x" * 20_000, "room_id": "big"})
    assert code == GRPCURL_INVALID_ARGUMENT, error
    assert "text" in str(error["details"])
    assert cluster.call(f"{AGENTS}/ListMemories", {"agent_id": grp["id"], "room_id": "big"}) == memories
    assert snapshot(cluster) == before


def test_reset_without_confirm_is_invalid(cluster: Cluster) -> None:
    before = snapshot(cluster)
    assert before[0] >= 2
    for request in ({}, {"confirm": False}):
        code, error = cluster.call_error(f"{SYSTEM}/Reset", request)
        assert code == GRPCURL_INVALID_ARGUMENT, error
        assert "confirm" in str(error["details"])
    assert snapshot(cluster) == before


def test_malformed_json_is_rejected_by_grpcurl(cluster: Cluster) -> None:
    before = snapshot(cluster)
    result = cluster.grpcurl(f"{AGENTS}/CreateAgent", data='{"character": {"nam": "x"}}')
    assert result.returncode != 0
    assert snapshot(cluster) == before
