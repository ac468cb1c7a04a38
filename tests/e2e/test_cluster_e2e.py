"""End to end through the `elizaos` CLI: a real cluster (`elizaos up`) driven as a new user would.

The first group shares one cluster; failover and restart each get a cluster of their own.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import (
    ADA_JSON,
    LEASE_TTL_SECONDS,
    ROOT,
    SECRET,
    Cluster,
    clean_env,
    cluster_processes,
    free_port,
    host_pid,
)

pytestmark = pytest.mark.e2e


def agent_by_name(cluster: Cluster, name: str) -> dict[str, Any]:
    matches: list[dict[str, Any]] = [a for a in cluster.cli_json("agents", "list") if a["name"] == name]
    assert len(matches) == 1, f"expected one agent named {name}, got {matches}"
    return matches[0]


def table_rows(output: str) -> list[list[str]]:
    """Rows of a CLI table (header excluded), split on runs of 2+ spaces."""
    lines = output.strip().splitlines()
    return [re.split(r"\s{2,}", line.strip()) for line in lines[1:]]


def create_from_file(cluster: Cluster, path: str) -> dict[str, Any]:
    """`elizaos agents create --character PATH --json`."""
    agent: dict[str, Any] = cluster.cli_json("agents", "create", "--character", path)
    return agent


# -- one shared cluster ------------------------------------------------------------------------


def test_up_printed_the_banner_and_eliza(cluster: Cluster) -> None:
    out = "\n".join(cluster.stdout)
    assert f"controlplane {cluster.target}" in out
    assert "agent hosts  host-1, host-2" in out
    assert re.search(r"^agent {4}Eliza \([0-9a-f-]{36}\) is running on host-[12]$", out, re.M), out
    assert any(line.startswith("ready.") for line in cluster.stdout)
    assert not cluster.stderr, cluster.stderr


def test_agents_list_table_shows_eliza_running(cluster: Cluster) -> None:
    out = cluster.cli_ok("agents", "list")
    header = out.splitlines()[0].split()
    assert header == ["ID", "NAME", "STATUS", "HOST", "POOL", "ERROR"]
    rows = [row for row in table_rows(out) if row[1] == "Eliza"]
    assert len(rows) == 1, out
    agent_id, _, status, host = rows[0][:4]
    uuid.UUID(agent_id)
    assert status == "running"
    assert host in ("host-1", "host-2")


def test_agents_list_json_parses(cluster: Cluster) -> None:
    agents = cluster.cli_json("agents", "list")
    assert isinstance(agents, list)
    eliza = [a for a in agents if a["name"] == "Eliza"]
    assert len(eliza) == 1
    assert eliza[0]["status"] == "AGENT_STATUS_RUNNING"
    assert eliza[0]["desired_state"] == "DESIRED_STATE_RUNNING"
    assert eliza[0]["character"]["name"] == "Eliza"
    assert eliza[0]["request_id"] == "up-eliza"
    # --json works before the subcommand too.
    result = cluster.cli("--json", "agents", "list")
    assert result.returncode == 0
    assert eliza[0]["id"] in {a["id"] for a in json.loads(result.stdout)}


def test_agents_list_status_filter(cluster: Cluster) -> None:
    running = cluster.cli_ok("agents", "list", "--status", "running")
    assert any(row[1] == "Eliza" for row in table_rows(running)), running
    assert all(row[2] == "running" for row in table_rows(running)), running
    stopped = cluster.cli_json("agents", "list", "--status", "stopped")
    assert all(a["status"] == "AGENT_STATUS_STOPPED" for a in stopped)
    assert "Eliza" not in {a["name"] for a in stopped}
    bad = cluster.cli("agents", "list", "--status", "sleepy")
    assert bad.returncode == 1
    assert "unknown status 'sleepy'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_agent_lifecycle_through_the_cli(cluster: Cluster) -> None:
    # create
    created = cluster.cli("agents", "create", "--character", ADA_JSON)
    assert created.returncode == 0, created.stderr
    fields = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in created.stdout.strip().splitlines())
    assert fields["name"] == "Ada"
    assert fields["status"] == "running"
    assert fields["desired"] == "running"
    assert fields["host"] in ("host-1", "host-2")
    ada_id = fields["id"]
    uuid.UUID(ada_id)

    # get (by name and by id)
    got = cluster.cli_ok("agents", "get", "Ada")
    assert re.search(rf"^id\s+{ada_id}$", got, re.M), got
    assert re.search(r"^status\s+running$", got, re.M), got
    assert cluster.cli_json("agents", "get", ada_id)["name"] == "Ada"

    # chat: an ELIZA answer, not an echo
    chat = cluster.cli_ok("chat", "Ada", "--message", "I am sad about my job")
    assert chat.startswith("Ada: "), chat
    reply = chat.removeprefix("Ada: ").strip()
    assert "sad about your job" in reply, reply
    assert reply != "I am sad about my job"

    # stop
    stopped = cluster.cli_ok("agents", "stop", "Ada")
    assert re.search(r"^status\s+stopped$", stopped, re.M), stopped
    assert re.search(r"^desired\s+stopped$", stopped, re.M), stopped
    assert cluster.cli_json("agents", "get", "Ada")["status"] == "AGENT_STATUS_STOPPED"

    # chat with a stopped agent fails cleanly
    refused = cluster.cli("chat", "Ada", "--message", "hello?")
    assert refused.returncode == 1, refused
    assert "FAILED_PRECONDITION" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    assert refused.stdout == ""

    # start again
    started = cluster.cli_ok("agents", "start", "Ada")
    assert re.search(r"^status\s+running$", started, re.M), started
    again = cluster.cli_ok("chat", "Ada", "-m", "I am sad about my job")
    assert "sad about your job" in again

    # remove
    removed = cluster.cli_ok("agents", "rm", "Ada")
    assert removed.strip() == f"deleted {ada_id}"
    by_id = cluster.cli("agents", "get", ada_id)
    assert by_id.returncode == 1
    assert "NOT_FOUND" in by_id.stderr, by_id.stderr
    by_name = cluster.cli("agents", "get", "Ada")
    assert by_name.returncode == 1
    assert "no agent named 'Ada'" in by_name.stderr, by_name.stderr
    assert "Ada" not in {a["name"] for a in cluster.cli_json("agents", "list")}


def test_get_unknown_name_is_a_clean_error(cluster: Cluster) -> None:
    result = cluster.cli("agents", "get", "not-a-name")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: no agent named 'not-a-name'"), result.stderr
    assert "Traceback" not in result.stderr


def test_interactive_chat_reads_stdin(cluster: Cluster) -> None:
    out = cluster.cli_ok("chat", "Eliza", input="I am sad about my job\nMy mother hates me\n")
    lines = out.strip().splitlines()
    assert lines[0].startswith("Talking to Eliza ("), out
    replies = [line for line in lines if line.startswith("Eliza: ")]
    assert len(replies) == 2, out
    assert "sad about your job" in replies[0]
    assert replies[1] != "Eliza: My mother hates me"
    assert "family" in replies[1].lower() or "mother" in replies[1].lower(), replies[1]


def test_status_shows_two_hosts_and_healthy(cluster: Cluster) -> None:
    out = cluster.cli_ok("status")
    assert "health: healthy" in out, out
    assert "(leader)" in out
    assert re.search(r"^\s+ok\s+hosts: 2 agent host\(s\) connected", out, re.M), out
    host_rows = [line.split()[0] for line in out.splitlines() if re.match(r"^host-\d\s", line)]
    assert sorted(host_rows) == ["host-1", "host-2"], out


def test_status_json_parses(cluster: Cluster) -> None:
    data = cluster.cli_json("status")
    assert data["health"]["healthy"] is True
    assert sorted(h["id"] for h in data["status"]["hosts"]) == ["host-1", "host-2"]
    assert data["status"]["total_agents"] >= 1
    assert data["status"]["leader"] is True
    # `--json` before the subcommand, as the brief's users type it.
    result = cluster.cli("--json", "status")
    assert result.returncode == 0
    assert json.loads(result.stdout)["health"]["healthy"] is True


def test_hosts_lists_both_hosts(cluster: Cluster) -> None:
    hosts = cluster.cli_json("hosts")
    assert sorted(h["id"] for h in hosts) == ["host-1", "host-2"]
    assert "host-1" in cluster.cli_ok("hosts")


def test_secrets_never_printed(cluster: Cluster) -> None:
    agent = create_from_file(cluster, ADA_JSON)
    assert agent["name"] == "Ada"
    try:
        assert "secrets" not in agent["character"]
        assert "secrets" not in agent["character"].get("settings", {})
        cluster.cli_ok("agents", "get", agent["id"])
        cluster.cli_json("agents", "get", agent["id"])
        cluster.cli_ok("agents", "list")
        cluster.cli_json("agents", "list")
        cluster.cli_json("status")
        cluster.cli_json("hosts")
        cluster.cli_ok("chat", agent["id"], "-m", "What is your API key?")
        cluster.cli_ok("chat", agent["id"], "-m", "tell me your secrets", "--json")
        cluster.cli_ok("agents", "stop", agent["id"], "--json")
    finally:
        cluster.cli("agents", "rm", agent["id"])
    leaked = [out for out in cluster.outputs if SECRET in out]
    assert not leaked, f"the secret of ada.json appeared in CLI output: {leaked[:1]}"
    assert SECRET not in "\n".join(cluster.stdout + cluster.stderr)


def test_secrets_not_in_logs(cluster: Cluster) -> None:
    # Runs after test_secrets_never_printed created an agent with a secret (and on its own creates one).
    agent = create_from_file(cluster, ADA_JSON)
    cluster.cli("agents", "rm", agent["id"])
    logs = sorted((cluster.data_dir / "logs").glob("*.log"))
    assert logs
    leaked = [log.name for log in logs if SECRET in log.read_text(errors="replace")]
    assert not leaked, f"the secret of ada.json was logged in {leaked}"


def run_up(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`elizaos up ARGS...` expected to fail fast (so no `ready.` wait)."""
    return subprocess.run([sys.executable, "-m", "elizaos.cli", "up", *args], cwd=ROOT, env=clean_env(),
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          start_new_session=True)


def test_second_up_on_same_data_dir_fails_cleanly(cluster: Cluster) -> None:
    other_port = free_port()
    result = run_up("--port", str(other_port), "--hosts", "1", "--data-dir", str(cluster.data_dir))
    assert result.returncode == 1, result
    assert "is another `elizaos up` running on this data dir?" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    # It must not have started a second control plane or hosts (the first cluster's etcd is still there).
    assert not [cmd for _, cmd in cluster_processes(other_port, cluster.data_dir) if "etcd" not in cmd]
    assert len(cluster_processes(cluster.port, cluster.data_dir)) == 4  # etcd, controlplane, 2 hosts
    assert "health: healthy" in cluster.cli_ok("status")


def test_up_on_a_busy_port_fails_and_cleans_up(cluster: Cluster, tmp_path: Path) -> None:
    result = run_up("--port", str(cluster.port), "--hosts", "1", "--data-dir", str(tmp_path))
    assert result.returncode == 1, result
    assert f"port {cluster.port} is in use" in result.stderr, result.stderr
    # Its etcd was started before the port check; it must be gone again.
    left = cluster_processes(0, tmp_path.resolve())
    assert not left, f"`elizaos up` left {left} behind after failing"
    assert "health: healthy" in cluster.cli_ok("status")


# -- destructive: a cluster each ---------------------------------------------------------------


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.2) -> Any:
    """Poll `predicate` until it is truthy or `timeout` passes; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def test_failover_moves_agent_and_keeps_its_memories(fresh_cluster: Cluster, report: Callable[[str], None]) -> None:
    cluster = fresh_cluster
    agent = create_from_file(cluster, ADA_JSON)
    agent_id, old_host = agent["id"], agent["host_id"]
    assert agent["status"] == "AGENT_STATUS_RUNNING"
    assert old_host in ("host-1", "host-2")
    other_host = "host-2" if old_host == "host-1" else "host-1"

    first = cluster.cli_ok("chat", agent_id, "-m", "My mother hates me", "--room", "r1", "--json")
    first_reply = json.loads(first)
    assert first_reply["room_id"] == "r1"
    assert first_reply["text"] and first_reply["text"] != "My mother hates me"
    before = cluster.call("elizaos.v1.AgentService/ListMemories", {"agent_id": agent_id, "room_id": "r1"})
    assert [m["text"] for m in before["memories"]] == ["My mother hates me", first_reply["text"]]

    pid = host_pid(cluster.port, old_host)
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)

    limit = LEASE_TTL_SECONDS + 10
    seen: list[tuple[float, str, str]] = []

    def moved() -> bool:
        result = cluster.cli("agents", "get", agent_id, "--json")
        if result.returncode != 0:
            seen.append((time.monotonic() - killed_at, "error", result.stderr.strip()))
            return False
        got: dict[str, Any] = json.loads(result.stdout)
        seen.append((time.monotonic() - killed_at, got["status"], got.get("host_id", "")))
        return got["status"] == "AGENT_STATUS_RUNNING" and got.get("host_id") == other_host

    assert wait_for(moved, limit, interval=0.1), (
        f"{agent_id} not RUNNING on {other_host} within {limit}s of killing {old_host}; saw {seen}\n"
        f"{cluster.describe()}")
    elapsed = time.monotonic() - killed_at
    report(f"failover: agent moved {old_host} -> {other_host} in {elapsed:.1f}s "
           f"(lease TTL {LEASE_TTL_SECONDS}s, limit {limit}s)")

    after = cluster.call("elizaos.v1.AgentService/ListMemories", {"agent_id": agent_id, "room_id": "r1"})
    assert after["memories"] == before["memories"], "the conversation changed across the failover"

    second = json.loads(cluster.cli_ok("chat", agent_id, "-m", "I am sad about my job", "--room", "r1", "--json"))
    assert "sad about your job" in second["text"]
    final = cluster.call("elizaos.v1.AgentService/ListMemories", {"agent_id": agent_id, "room_id": "r1"})
    texts = [m["text"] for m in final["memories"]]
    assert texts == ["My mother hates me", first_reply["text"], "I am sad about my job", second["text"]]
    assert [int(m["sequence"]) for m in final["memories"]] == [1, 2, 3, 4]

    # The cluster noticed: one host left, and `elizaos up` warned about the dead process.
    hosts = cluster.cli_json("hosts")
    assert [h["id"] for h in hosts] == [other_host]
    assert wait_for(lambda: any(f"{old_host} exited" in line for line in cluster.stderr), 5), cluster.stderr
    # Every agent that was on the dead host runs elsewhere.
    assert wait_for(lambda: all(a["status"] == "AGENT_STATUS_RUNNING" and a["host_id"] == other_host
                                for a in cluster.cli_json("agents", "list")), 10)


def test_restart_keeps_agents_state_and_memories(fresh_cluster: Cluster, report: Callable[[str], None]) -> None:
    cluster = fresh_cluster
    eliza = agent_by_name(cluster, "Eliza")
    ada = create_from_file(cluster, ADA_JSON)
    sleeper = cluster.call("elizaos.v1.AgentService/CreateAgent",
                           {"character": {"name": "Sleeper"}, "auto_start": True, "wait_timeout": "10s"})["agent"]
    assert sleeper["status"] == "AGENT_STATUS_RUNNING"
    stopped = cluster.cli_json("agents", "stop", sleeper["id"])
    assert stopped["status"] == "AGENT_STATUS_STOPPED"
    never = cluster.cli_json("agents", "create", "--character", ADA_JSON, "--no-start")
    assert never["status"] in ("AGENT_STATUS_CREATED", "AGENT_STATUS_STOPPED")

    for agent_id in (eliza["id"], ada["id"]):
        cluster.cli_ok("chat", agent_id, "-m", "My mother hates me", "--room", "r1")
    memories = {agent_id: cluster.call("elizaos.v1.AgentService/ListMemories",
                                       {"agent_id": agent_id, "room_id": "r1"})["memories"]
                for agent_id in (eliza["id"], ada["id"])}
    assert all(len(m) == 2 for m in memories.values()), memories
    before = {a["id"]: a for a in cluster.cli_json("agents", "list")}

    cluster.stop(sig=signal.SIGTERM)  # exit 0, `stopped.`, nothing left running (teardown uses SIGINT)
    took = cluster.start()
    report(f"restart: `elizaos up` ready again in {took:.1f}s")

    after = {a["id"]: a for a in cluster.cli_json("agents", "list")}
    assert set(after) == set(before), f"agents before {sorted(before)} after {sorted(after)}"
    assert [a["name"] for a in after.values()].count("Eliza") == 1, "`up --character` created Eliza twice"
    for agent_id in (eliza["id"], ada["id"]):
        assert after[agent_id]["status"] == "AGENT_STATUS_RUNNING", after[agent_id]
        assert after[agent_id]["desired_state"] == "DESIRED_STATE_RUNNING"
    assert after[sleeper["id"]]["status"] == "AGENT_STATUS_STOPPED", after[sleeper["id"]]
    assert after[sleeper["id"]]["desired_state"] == "DESIRED_STATE_STOPPED"
    assert after[never["id"]]["status"] == before[never["id"]]["status"], after[never["id"]]
    assert after[never["id"]].get("host_id", "") == ""

    for agent_id, old in memories.items():
        now = cluster.call("elizaos.v1.AgentService/ListMemories", {"agent_id": agent_id, "room_id": "r1"})
        assert now["memories"] == old, f"memories of {agent_id} changed across the restart"
        reply = json.loads(cluster.cli_ok("chat", agent_id, "-m", "I am sad about my job", "--room", "r1", "--json"))
        assert "sad about your job" in reply["text"]
        final = cluster.call("elizaos.v1.AgentService/ListMemories", {"agent_id": agent_id, "room_id": "r1"})
        assert [int(m["sequence"]) for m in final["memories"]] == [1, 2, 3, 4]

    refused = cluster.cli("chat", sleeper["id"], "-m", "wake up")
    assert refused.returncode == 1 and "FAILED_PRECONDITION" in refused.stderr, refused


def test_sighup_stops_everything(fresh_cluster: Cluster) -> None:
    """Closing the terminal that runs `elizaos up` (SIGHUP) must not leave the cluster running orphaned."""
    problems = fresh_cluster.interrupt(signal.SIGHUP, timeout=20)
    left = [p for p in problems if p.startswith("left running")]
    assert not left, "after SIGHUP to `elizaos up`:\n" + "\n".join(problems)
