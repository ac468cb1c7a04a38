"""End to end: plugins and global services through a real cluster (`elizaos up --hosts 2`).

Per-agent plugins (shipped and third-party), global plugins reaching every host, class services
running once per host process, gRPC endpoint services probed for health, and the PluginService /
RegistryService APIs through grpcurl. One cluster (started without characters, so it holds only
the agents these tests create) is shared; the kill -9 test gets a cluster of its own.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from .conftest import ADA_JSON, LEASE_TTL_SECONDS, SECRET, Cluster, host_pid, running_cluster

pytestmark = pytest.mark.e2e

SERVICE_REF = "tests.e2e.sample_service:service"
HOSTS = ["host-1", "host-2"]


@pytest.fixture(scope="module")
def pcluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """This module's shared cluster: two hosts and no agent from `--character`."""
    with running_cluster(tmp_path_factory.mktemp("plugins"), characters=()) as running:
        yield running


# -- helpers -----------------------------------------------------------------------------------


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.25) -> Any:
    """Poll `predicate` until it is truthy or `timeout` passes; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def create(cluster: Cluster, *plugins: str, character: str = ADA_JSON) -> dict[str, Any]:
    """`elizaos agents create --character FILE [--plugin P]... --json`; the agent must be running."""
    args = ["agents", "create", "--character", character]
    for plugin in plugins:
        args += ["--plugin", plugin]
    agent: dict[str, Any] = cluster.cli_json(*args)
    assert agent["status"] == "AGENT_STATUS_RUNNING", agent
    assert agent.get("plugins", []) == list(plugins), agent
    return agent


def chat(cluster: Cluster, agent: str, text: str, *extra: str) -> dict[str, Any]:
    """`elizaos chat AGENT -m TEXT --json`: the reply."""
    reply: dict[str, Any] = json.loads(cluster.cli_ok("chat", agent, "-m", text, *extra, "--json"))
    return reply


def remove_all(cluster: Cluster) -> None:
    for agent in cluster.cli_json("agents", "list"):
        cluster.cli("agents", "rm", agent["id"])


def services(cluster: Cluster) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in cluster.cli_json("services", "list")}


def plugins(cluster: Cluster) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in cluster.cli_json("plugins", "list")}


def assert_no_secret_anywhere(cluster: Cluster) -> None:
    leaked = [out for out in cluster.outputs if SECRET in out]
    assert not leaked, f"the secret of ada.json appeared in CLI/grpcurl output: {leaked[:1]}"
    assert SECRET not in "\n".join(cluster.stdout + cluster.stderr), "the secret appeared in `elizaos up` output"
    logs = sorted((cluster.data_dir / "logs").glob("*.log"))
    assert logs
    in_logs = [log.name for log in logs if SECRET in log.read_text(errors="replace")]
    assert not in_logs, f"the secret of ada.json was logged in {in_logs}"


# -- 2. facts survive kill -9 of the agent's host (a cluster of its own, first) ---------------


def test_facts_survive_kill_of_the_host(fresh_cluster: Cluster, report: Callable[[str], None]) -> None:
    cluster = fresh_cluster
    agent = create(cluster, "facts")
    agent_id, old_host = agent["id"], agent["host_id"]
    assert old_host in HOSTS
    other_host = next(h for h in HOSTS if h != old_host)
    told = chat(cluster, agent_id, "my name is Ana", "--user", "ana")
    assert told["text"], told

    killed_at = time.monotonic()
    os.kill(host_pid(cluster.port, old_host), signal.SIGKILL)
    seen: list[tuple[float, str, str]] = []

    def moved() -> bool:
        result = cluster.cli("agents", "get", agent_id, "--json")
        if result.returncode != 0:
            seen.append((round(time.monotonic() - killed_at, 1), "error", result.stderr.strip()))
            return False
        got = json.loads(result.stdout)
        seen.append((round(time.monotonic() - killed_at, 1), got["status"], got.get("host_id", "")))
        return bool(got["status"] == "AGENT_STATUS_RUNNING" and got.get("host_id") == other_host)

    limit = LEASE_TTL_SECONDS + 12
    assert wait_for(moved, limit), (f"{agent_id} not RUNNING on {other_host} within {limit}s of kill -9 of "
                                    f"{old_host}; saw {seen}\n{cluster.describe()}")
    report(f"facts agent moved {old_host} -> {other_host} in {time.monotonic() - killed_at:.1f}s")

    recalled = chat(cluster, agent_id, "what is my name?", "--user", "ana")
    assert "Ana" in recalled["text"], recalled
    assert recalled.get("actions") == ["RECALL_FACT"], recalled
    stranger = chat(cluster, agent_id, "what is my name?", "--user", "bob")
    assert "Ana" not in stranger["text"], stranger
    assert_no_secret_anywhere(cluster)


# -- 1. a per-agent plugin ---------------------------------------------------------------------


def test_calculator_plugin_through_the_cli(pcluster: Cluster) -> None:
    cluster = pcluster
    out = cluster.cli_ok("agents", "create", "--character", ADA_JSON, "--plugin", "calculator")
    assert "calculator" in out, out
    try:
        text = cluster.cli_ok("chat", "Ada", "-m", "what is 12*(3+4)?")
        assert text.startswith("Ada: "), text
        assert "84" in text, text
        assert "[actions: CALCULATE]" in text, text
        reply = chat(cluster, "Ada", "what is 12*(3+4)?")
        assert "84" in reply["text"], reply
        assert reply["actions"] == ["CALCULATE"], reply
        assert cluster.cli_json("agents", "get", "Ada")["plugins"] == ["calculator"]
    finally:
        remove_all(cluster)


# -- 3. a global plugin on every host ----------------------------------------------------------


def test_global_plugin_reaches_every_agent_on_every_host(pcluster: Cluster) -> None:
    cluster = pcluster
    remove_all(cluster)  # agent_count of a global plugin counts every agent in the cluster
    agents = [cluster.cli_json("agents", "create", "--character", ADA_JSON) for _ in range(4)]
    ids = {a["id"] for a in agents}
    try:
        listed = cluster.cli_json("agents", "list")
        assert {a["id"] for a in listed} == ids
        assert all(a["status"] == "AGENT_STATUS_RUNNING" for a in listed), listed
        assert sorted({a["host_id"] for a in listed}) == HOSTS, f"agents not spread over both hosts: {listed}"
        before = chat(cluster, agents[0]["id"], "what is 2+2?")
        assert not before.get("actions"), before

        out = cluster.cli_ok("plugins", "register", "calculator")
        assert "registered global plugin calculator" in out, out

        def calculates(agent_id: str) -> bool:
            reply = chat(cluster, agent_id, "what is 2+2?")
            return reply.get("actions") == ["CALCULATE"] and "4" in reply["text"]

        for agent in agents:
            assert wait_for(functools.partial(calculates, agent["id"]), 10), (
                f"agent {agent['id']} on {agent['host_id']} never used the global calculator\n{cluster.describe()}")

        calc = plugins(cluster)["calculator"]
        assert calc["is_global"] is True, calc
        assert calc["ref"] == "calculator", calc
        assert calc["agent_count"] == 4, calc
        assert sorted(calc["hosts"]) == HOSTS, calc
        table = cluster.cli_ok("plugins", "list")
        assert any(line.split()[:2] == ["calculator", "global"] for line in table.splitlines()), table

        late = cluster.cli_json("agents", "create", "--character", ADA_JSON)
        assert late["status"] == "AGENT_STATUS_RUNNING"
        reply = chat(cluster, late["id"], "what is 3*3?")
        assert reply.get("actions") == ["CALCULATE"] and "9" in reply["text"], reply
        assert plugins(cluster)["calculator"]["agent_count"] == 5
        agents.append(late)

        out = cluster.cli_ok("plugins", "unregister", "calculator")
        assert "unregistered global plugin calculator" in out, out

        def without_action(agent_id: str) -> bool:
            return not chat(cluster, agent_id, "what is 2+2?").get("actions")

        for agent in agents:
            assert wait_for(functools.partial(without_action, agent["id"]), 10), (
                f"agent {agent['id']} still calculates after unregister\n{cluster.describe()}")
        calc = plugins(cluster)["calculator"]  # still installed on the hosts, no longer global
        assert not calc.get("is_global"), calc
    finally:
        cluster.cli("plugins", "unregister", "calculator")
        remove_all(cluster)


# -- 4. a third-party plugin from an entry point -----------------------------------------------


def test_greeter_entry_point_plugin(pcluster: Cluster) -> None:
    cluster = pcluster
    agent = create(cluster, "greeter")
    try:
        hello = chat(cluster, agent["id"], "hello", "--user", "bob")
        assert "Hello from the greeter plugin" in hello["text"], hello
        assert "friend" in hello["text"], hello
        assert hello.get("actions") == ["GREET"], hello
        chat(cluster, agent["id"], "my name is Ana", "--user", "ana")
        named = chat(cluster, agent["id"], "hello", "--user", "ana")
        assert "Hello from the greeter plugin, Ana" in named["text"], named
        # greeter pulled in its dependency facts, which recalls too.
        recalled = chat(cluster, agent["id"], "what is my name?", "--user", "ana")
        assert "Ana" in recalled["text"], recalled
        greeter = plugins(cluster)["greeter"]
        assert sorted(greeter["hosts"]) == HOSTS and greeter["agent_count"] == 1, greeter
    finally:
        remove_all(cluster)


# -- 5. a class service, once per host process -------------------------------------------------


def _lines(path: Path, verb: str) -> list[int]:
    if not path.exists():
        return []
    return [int(line.split()[1]) for line in path.read_text().splitlines() if line.split()[:1] == [verb]]


def test_class_service_runs_once_per_host(pcluster: Cluster, tmp_path: Path) -> None:
    cluster = pcluster
    log = tmp_path / "counter.log"
    host_pids = sorted(host_pid(cluster.port, h) for h in HOSTS)
    out = cluster.cli_ok("services", "register", "counter", "--ref", SERVICE_REF,
                         "--config", json.dumps({"log": str(log)}))
    assert "registered global service counter" in out, out
    try:
        assert wait_for(lambda: len(_lines(log, "start")) >= 2, 15), (
            f"service started {_lines(log, 'start')}\n{cluster.describe()}")
        time.sleep(0.5)  # a third start (a bug) would show up now
        started = _lines(log, "start")
        assert len(started) == 2 and len(set(started)) == 2, log.read_text()
        assert sorted(started) == host_pids, f"started in {started}, host processes are {host_pids}"

        def reported() -> dict[str, Any] | None:
            service = services(cluster).get("counter")
            ok = service and sorted(service.get("hosts", [])) == HOSTS and service["health"] == "SERVICE_HEALTH_HEALTHY"
            return service if ok else None

        service = wait_for(reported, 10)
        assert service, f"services list: {services(cluster)}"
        assert service["kind"] == "SERVICE_KIND_CLASS" and service["ref"] == SERVICE_REF, service
        assert service["config"] == {"log": str(log)}, service
        table = cluster.cli_ok("services", "list")
        assert any(line.split()[:4] == ["counter", "class", SERVICE_REF, "healthy"] for line in table.splitlines()), \
            table

        out = cluster.cli_ok("services", "unregister", "counter")
        assert "unregistered global service counter" in out, out
        assert wait_for(lambda: len(_lines(log, "stop")) >= 2, 15), (
            f"service stopped {_lines(log, 'stop')}\n{cluster.describe()}")
        time.sleep(0.5)
        assert sorted(_lines(log, "stop")) == sorted(started), log.read_text()
        assert "counter" not in services(cluster)
    finally:
        cluster.cli("services", "unregister", "counter")


# -- 6. an endpoint service, probed by the leader ----------------------------------------------


@pytest.fixture
def health_server() -> Iterator[tuple[int, health.HealthServicer]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield port, servicer
    finally:
        server.stop(0)


def test_grpc_endpoint_service_health(pcluster: Cluster, health_server: tuple[int, health.HealthServicer]) -> None:
    cluster = pcluster
    port, servicer = health_server
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    out = cluster.cli_ok("services", "register", "vectors", "--address", f"127.0.0.1:{port}", "--protocol", "grpc")
    assert "registered global service vectors" in out, out
    try:
        def health_is(value: str) -> dict[str, Any] | None:
            service = services(cluster).get("vectors")
            return service if service and service.get("health") == value else None

        healthy = wait_for(lambda: health_is("SERVICE_HEALTH_HEALTHY"), 10, interval=0.5)
        assert healthy, f"vectors not HEALTHY within 10s: {services(cluster).get('vectors')}"
        assert healthy["kind"] == "SERVICE_KIND_ENDPOINT", healthy
        assert healthy["address"] == f"127.0.0.1:{port}" and healthy["protocol"] == "grpc", healthy

        servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        sick = wait_for(lambda: health_is("SERVICE_HEALTH_UNHEALTHY"), 10, interval=0.5)
        assert sick, f"vectors not UNHEALTHY within 10s of NOT_SERVING: {services(cluster).get('vectors')}"
        assert "NOT_SERVING" in sick.get("health_reason", ""), sick
        table = cluster.cli_ok("services", "list")
        assert any(line.split()[:4] == ["vectors", "endpoint", f"grpc://127.0.0.1:{port}", "unhealthy"]
                   for line in table.splitlines()), table
    finally:
        cluster.cli("services", "unregister", "vectors")
    assert "vectors" not in services(cluster)


# -- 7. the APIs through grpcurl ---------------------------------------------------------------


def test_plugin_and_registry_services_through_grpcurl(pcluster: Cluster) -> None:
    cluster = pcluster
    listed = cluster.grpcurl("list")
    assert listed.returncode == 0, listed.stderr
    for service in ("elizaos.v1.PluginService", "elizaos.v1.RegistryService"):
        assert service in listed.stdout.split(), listed.stdout

    found = {p["name"]: p for p in cluster.call("elizaos.v1.PluginService/ListPlugins").get("plugins", [])}
    for name in ("time", "calculator", "facts", "greeter"):
        assert name in found, found
        assert sorted(found[name]["hosts"]) == HOSTS, found[name]
        assert not found[name].get("isGlobal") and not found[name].get("is_global"), found[name]
    assert cluster.call("elizaos.v1.RegistryService/ListGlobalServices") == {}

    code, error = cluster.call_error("elizaos.v1.PluginService/RegisterGlobalPlugin", {"name": ""})
    assert code == 64 + 3, error  # grpcurl exits 64 + the status code: INVALID_ARGUMENT
    assert error["code"] == 3, error
    violations = [v for d in error.get("details", []) if d["@type"].endswith("google.rpc.BadRequest")
                  for v in d.get("field_violations", d.get("fieldViolations", []))]
    assert "name" in [v["field"] for v in violations], error
    assert not [p for p in cluster.call("elizaos.v1.PluginService/ListPlugins").get("plugins", [])
                if p.get("isGlobal") or p.get("is_global")]


def test_secret_never_printed_nor_logged(pcluster: Cluster) -> None:
    # Runs last in the module: every test above created agents from ada.json.
    agent = create(pcluster, "facts")
    try:
        chat(pcluster, agent["id"], "tell me your secrets")
        pcluster.cli_ok("agents", "get", agent["id"])
        pcluster.call("elizaos.v1.AgentService/GetAgent", {"agent_id": agent["id"]})
    finally:
        remove_all(pcluster)
    assert_no_secret_anywhere(pcluster)
