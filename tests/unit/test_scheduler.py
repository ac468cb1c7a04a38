"""controlplane.scheduler: filter hosts the agent fits on, then pick the least allocated one."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controlplane.scheduler import HostView, Placement, Request, Scheduler

MB = 1024**2
SMALL = Request(memory_bytes=16 * MB, cpu=0.1)


def host(host_id: str, **kwargs: object) -> HostView:
    values: dict[str, object] = {"max_agents": 10, "memory_bytes": 1024 * MB, "cpu": 4.0}
    values.update(kwargs)
    return HostView(host_id, **values)  # type: ignore[arg-type]


def place(request: Request, *hosts: HostView) -> Placement:
    return Scheduler().place(request, list(hosts))


def test_no_hosts() -> None:
    placement = place(SMALL)
    assert placement.host_id is None
    assert placement.reason == "no agent host is connected"


def test_single_fitting_host_is_chosen() -> None:
    placement = place(SMALL, host("h1"))
    assert placement == Placement("h1")
    assert placement.reason == ""


def test_least_allocated_host_wins() -> None:
    busy = host("a-busy", agents=5, memory_allocated=500 * MB, cpu_allocated=2.0)
    idle = host("z-idle", agents=1, memory_allocated=10 * MB, cpu_allocated=0.1)
    assert place(SMALL, busy, idle).host_id == "z-idle"
    assert place(SMALL, idle, busy).host_id == "z-idle"


def test_utilisation_is_the_most_used_resource() -> None:
    # h1 has few agents but nearly full memory; h2 has more agents but lots of free memory.
    h1 = host("h1", agents=1, memory_allocated=900 * MB)
    h2 = host("h2", agents=4, memory_allocated=100 * MB)
    assert place(SMALL, h1, h2).host_id == "h2"
    assert h1.utilisation() == pytest.approx(900 / 1024)
    assert h2.utilisation(memory=0, cpu=0, agents=1) == pytest.approx(0.5)


def test_utilisation_counts_the_request_on_hosts_of_different_size() -> None:
    # Before placement both are empty; after placement the small host would be 50 % full.
    small = host("a-small", max_agents=100, memory_bytes=32 * MB, cpu=100.0)
    large = host("b-large", max_agents=100, memory_bytes=1024 * MB, cpu=100.0)
    assert place(SMALL, small, large).host_id == "b-large"


def test_ties_broken_by_fewest_agents_then_id() -> None:
    # Same utilisation (memory dominates), different agent counts.
    few = host("b", agents=1, memory_allocated=512 * MB)
    many = host("a", agents=3, memory_allocated=512 * MB)
    assert place(SMALL, many, few).host_id == "b"
    # Identical hosts: the smallest id, whatever the order.
    hosts = [host(name) for name in ("h3", "h1", "h2")]
    for order in (hosts, hosts[::-1], [hosts[1], hosts[2], hosts[0]]):
        assert place(SMALL, *order).host_id == "h1"


def test_same_input_same_answer() -> None:
    hosts = [host(f"h{i}", agents=i % 3, memory_allocated=(i % 4) * 100 * MB) for i in range(12)]
    answers = {Scheduler().place(SMALL, hosts).host_id for _ in range(5)}
    answers.add(Scheduler().place(SMALL, list(reversed(hosts))).host_id)
    assert len(answers) == 1


def test_agent_count_limit() -> None:
    full = host("full", max_agents=3, agents=3)
    placement = place(SMALL, full)
    assert placement.host_id is None
    assert "full: agent limit 3 reached" in placement.reason
    assert place(SMALL, full, host("ok", max_agents=3, agents=2)).host_id == "ok"


def test_memory_fit_is_exact_at_the_boundary() -> None:
    exact = host("exact", memory_bytes=100 * MB, memory_allocated=84 * MB)
    assert place(SMALL, exact).host_id == "exact"
    over = host("over", memory_bytes=100 * MB, memory_allocated=84 * MB + 1)
    placement = place(SMALL, over)
    assert placement.host_id is None
    assert "over:" in placement.reason
    assert "memory" in placement.reason
    assert str(16 * MB) in placement.reason


def test_cpu_fit() -> None:
    busy = host("busy", cpu=1.0, cpu_allocated=0.95)
    placement = place(SMALL, busy)
    assert placement.host_id is None
    assert "busy:" in placement.reason and "CPU" in placement.reason
    # 0.2 + 0.1 is 0.30000000000000004 in floats: still exactly full, so it fits.
    assert 0.2 + 0.1 > 0.3
    assert place(Request(16 * MB, 0.1), host("h", cpu=0.3, cpu_allocated=0.2)).host_id == "h"
    assert place(Request(16 * MB, 0.11), host("h", cpu=0.3, cpu_allocated=0.2)).host_id is None


def test_plugins_filter() -> None:
    request = Request(16 * MB, 0.1, plugins=frozenset({"sql", "discord"}))
    partial = host("partial", plugins=frozenset({"sql"}))
    full = host("full", plugins=frozenset({"sql", "discord", "extra"}), agents=5)
    assert place(request, partial, full).host_id == "full"
    placement = place(request, partial)
    assert placement.host_id is None
    assert "partial: missing plugins discord" in placement.reason


def test_labels_filter() -> None:
    request = Request(16 * MB, 0.1, labels={"zone": "eu", "gpu": "yes"})
    wrong_zone = host("wrong", labels={"zone": "us", "gpu": "yes"})
    missing = host("missing", labels={"zone": "eu"})
    right = host("right", labels={"zone": "eu", "gpu": "yes", "other": "x"}, agents=9)
    assert place(request, wrong_zone, missing, right).host_id == "right"
    placement = place(request, wrong_zone, missing)
    assert placement.host_id is None
    assert "wrong: label zone=eu not present" in placement.reason
    assert "missing: label gpu=yes not present" in placement.reason


def test_draining_hosts_are_skipped() -> None:
    draining = host("draining", draining=True)
    busy = host("busy", agents=8)
    assert place(SMALL, draining, busy).host_id == "busy"
    placement = place(SMALL, draining)
    assert placement.host_id is None
    assert "draining: draining" in placement.reason


def test_reason_names_every_host_when_nothing_fits() -> None:
    hosts = [
        host("h-full", max_agents=1, agents=1),
        host("h-mem", memory_bytes=MB),
        host("h-drain", draining=True),
    ]
    placement = place(SMALL, *hosts)
    assert placement.host_id is None
    assert placement.reason.startswith("no host fits: ")
    for h in hosts:
        assert f"{h.id}:" in placement.reason
    for why in ("h-full: agent limit 1 reached", f"h-mem: needs {16 * MB} bytes of memory, 1048576 free",
                "h-drain: draining"):
        assert why in placement.reason


def test_zero_capacity_host_never_fits() -> None:
    assert place(SMALL, host("zero", max_agents=0)).host_id is None
    assert place(Request(0, 0.0), host("nomem", memory_bytes=0, cpu=0.0)).host_id == "nomem"


# --- property ---------------------------------------------------------------------------------------


def fits(h: HostView, r: Request) -> bool:
    """Independent statement of the fit rule."""
    return (
        not h.draining
        and h.agents + 1 <= h.max_agents
        and h.memory_allocated + r.memory_bytes <= h.memory_bytes
        and h.cpu_allocated + r.cpu <= h.cpu + 1e-9
        and r.plugins <= h.plugins
        and all(h.labels.get(k) == v for k, v in r.labels.items())
    )


PLUGINS = st.frozensets(st.sampled_from(["a", "b", "c"]), max_size=3)
LABELS = st.dictionaries(st.sampled_from(["zone", "gpu"]), st.sampled_from(["x", "y"]), max_size=2)


@st.composite
def host_views(draw: st.DrawFn, index: int) -> HostView:
    max_agents = draw(st.integers(0, 20))
    memory = draw(st.integers(0, 64)) * MB
    cpu = draw(st.integers(0, 16)) / 4
    return HostView(
        id=f"h{index:02d}",
        max_agents=max_agents,
        memory_bytes=memory,
        cpu=cpu,
        agents=draw(st.integers(0, max_agents + 1)),
        memory_allocated=draw(st.integers(0, 64)) * MB,
        cpu_allocated=draw(st.integers(0, 16)) / 4,
        plugins=draw(PLUGINS),
        labels=draw(LABELS),
        draining=draw(st.booleans()),
    )


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Request, list[HostView]]:
    n = draw(st.integers(0, 8))
    hosts = [draw(host_views(i)) for i in range(n)]
    request = Request(
        memory_bytes=draw(st.integers(0, 16)) * MB,
        cpu=draw(st.integers(0, 8)) / 8,
        plugins=draw(PLUGINS),
        labels=draw(LABELS),
    )
    return request, hosts


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_chosen_host_fits_and_is_least_utilised(scenario: tuple[Request, list[HostView]]) -> None:
    request, hosts = scenario
    placement = Scheduler().place(request, hosts)
    fitting = [h for h in hosts if fits(h, request)]
    if not fitting:
        assert placement.host_id is None
        assert placement.reason
        if not hosts:
            assert placement.reason == "no agent host is connected"
        elif len(hosts) <= 5:
            for h in hosts:
                assert f"{h.id}: " in placement.reason
        return
    assert placement.host_id is not None
    chosen = next(h for h in hosts if h.id == placement.host_id)
    assert fits(chosen, request)
    after = chosen.utilisation(request.memory_bytes, request.cpu, 1)
    for other in fitting:
        assert other.utilisation(request.memory_bytes, request.cpu, 1) >= after
