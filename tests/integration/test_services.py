"""Global services on real hosts: class services per host, dependency order, endpoints, health."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from elizaos import ElizaOSError
from elizaos.v1 import character_pb2
from elizaos.v1 import registry_service_pb2 as rs
from tests.integration import sample_services
from tests.integration.harness import Cluster, eventually

REF = "tests.integration.sample_services:"


@pytest.fixture(autouse=True)
def clear_log() -> None:
    sample_services.LOG.clear()


def starts(name: str) -> list[int]:
    return [i for event, n, i in sample_services.LOG if event == "start" and n == name]


def stops(name: str) -> list[int]:
    return [i for event, n, i in sample_services.LOG if event == "stop" and n == name]


async def test_class_service_runs_once_per_host_and_stops_on_unregister(cluster: Cluster) -> None:
    client = cluster.client
    assert client is not None and cluster.plane is not None
    agent = await client.create_agent(character_pb2.Character(name="User"), wait=10)
    registered = await client.register_global_service("counter", ref=REF + "counter", config={"size": 3})
    assert registered.kind == rs.SERVICE_KIND_CLASS

    async def on_every_host() -> bool:
        return len(starts("counter")) == 2 and all(h.services.get("counter") is not None for h in cluster.hosts)

    await eventually(on_every_host)
    assert len(set(starts("counter"))) == 2  # one instance per host, not per agent
    host = next(h for h in cluster.hosts if h.link.config.host_id == agent.host_id)
    instance = host.supervisor.runtimes[agent.id].get_service("counter")
    assert instance is host.services.get("counter") and instance.config == {"size": 3}

    async def reported() -> bool:
        service = await client.get_global_service("counter")
        return list(service.hosts) == ["h1", "h2"] and service.health == rs.SERVICE_HEALTH_HEALTHY

    await eventually(reported)
    await client.unregister_global_service("counter")

    async def stopped() -> bool:
        return sorted(stops("counter")) == sorted(starts("counter"))

    await eventually(stopped)
    assert all(h.services.get("counter") is None for h in cluster.hosts)
    kinds = [e.type for e in await cluster.plane.events.list() if e.type.startswith("service:")]
    assert kinds == ["service:registered", "service:unregistered"]


async def test_dependencies_start_first(cluster_factory: object) -> None:
    cluster: Cluster = await cluster_factory(hosts=1)  # type: ignore[operator]
    client = cluster.client
    assert client is not None
    await client.register_global_service("dependent", ref=REF + "dependent", dependencies=["base"])
    host = cluster.hosts[0]
    await client.get_global_service("dependent")
    assert host.services.get("dependent") is None  # waits for base
    await client.register_global_service("base", ref=REF + "base")

    async def both() -> bool:
        return host.services.running == ["base", "dependent"]

    await eventually(both)
    assert host.services.get("dependent").upstream is host.services.get("base")
    await client.unregister_global_service("base")

    async def dependent_stopped_first() -> bool:
        return [n for e, n, _ in sample_services.LOG if e == "stop"] == ["dependent", "base"]

    await eventually(dependent_stopped_first)


async def test_failing_class_service_records_service_error(cluster_factory: object) -> None:
    cluster: Cluster = await cluster_factory(hosts=1)  # type: ignore[operator]
    client = cluster.client
    assert client is not None and cluster.plane is not None
    await client.register_global_service("failing", ref=REF + "failing")

    async def recorded() -> bool:
        assert cluster.plane is not None
        return any(e.type == "service:error" and "on purpose" in e.data["error"]
                   for e in await cluster.plane.events.list())

    await eventually(recorded)
    service = await client.get_global_service("failing")
    assert service.health == rs.SERVICE_HEALTH_UNHEALTHY and "h1" in service.health_reason


async def test_grpc_endpoint_is_probed(cluster: Cluster) -> None:
    client = cluster.client
    assert client is not None and cluster.plane is not None
    server = grpc.aio.server()
    checker = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checker, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        await checker.set("", health_pb2.HealthCheckResponse.SERVING)
        await client.register_global_service("vectors", address=f"127.0.0.1:{port}", protocol="grpc",
                                             metadata={"dim": "384"})
        await cluster.plane.services.probe_once()
        assert (await client.get_global_service("vectors")).health == rs.SERVICE_HEALTH_HEALTHY

        async def known_to_hosts() -> bool:
            return all(h.services.get("vectors") is not None for h in cluster.hosts)

        await eventually(known_to_hosts)
        endpoint = cluster.hosts[0].services.get("vectors")
        assert endpoint.address == f"127.0.0.1:{port}" and endpoint.metadata == {"dim": "384"}
        await checker.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        await cluster.plane.services.probe_once()
        sick = await client.get_global_service("vectors")
        assert sick.health == rs.SERVICE_HEALTH_UNHEALTHY and "NOT_SERVING" in sick.health_reason
        errors = [e for e in await cluster.plane.events.list() if e.type == "service:error"]
        assert len(errors) == 1 and errors[0].data["service"] == "vectors"
        await cluster.plane.services.probe_once()  # still unhealthy: no second event
        assert len([e for e in await cluster.plane.events.list() if e.type == "service:error"]) == 1
    finally:
        await server.stop(0)


async def test_registry_bad_input(cluster: Cluster) -> None:
    client = cluster.client
    assert client is not None
    cases = [
        (dict(name="x", ref="not-a-ref"), "service.ref"),
        (dict(name="x", address="h:1"), "service.protocol"),
        (dict(name="bad/name", ref=REF + "counter"), "service.name"),
        (dict(name="x", ref=REF + "counter", dependencies=["x"]), "service.dependencies[0]"),
    ]
    for kwargs, field in cases:
        with pytest.raises(ElizaOSError) as info:
            await client.register_global_service(**kwargs)  # type: ignore[arg-type]
        assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert field in [v.field for v in info.value.field_violations]
    with pytest.raises(ElizaOSError) as info:
        await client.get_global_service("nothing")
    assert info.value.code == grpc.StatusCode.NOT_FOUND and info.value.reason == "SERVICE_NOT_FOUND"
    await client.register_global_service("counter", ref=REF + "counter")
    await client.register_global_service("counter", ref=REF + "counter")  # identical: fine
    with pytest.raises(ElizaOSError) as info:
        await client.register_global_service("counter", ref=REF + "base")
    assert info.value.code == grpc.StatusCode.ALREADY_EXISTS
    assert [s.name for s in await client.list_global_services()] == ["counter"]
