"""Fixtures for integration tests: in-process control plane and hosts, real etcd."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.integration.harness import Cluster


@pytest.fixture
async def cluster_factory(etcd_endpoint: str) -> AsyncIterator[Callable[..., Awaitable[Cluster]]]:
    made: list[Cluster] = []

    async def make(hosts: int = 2, **overrides: Any) -> Cluster:
        cluster = Cluster(etcd_endpoint, **overrides)
        made.append(cluster)
        await cluster.start_plane()
        for _ in range(hosts):
            await cluster.add_host()
        return cluster

    yield make
    for cluster in made:
        await cluster.stop()


@pytest.fixture
async def cluster(cluster_factory: Callable[..., Awaitable[Cluster]]) -> Cluster:
    return await cluster_factory()
