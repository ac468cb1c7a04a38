"""Idle agents per host: what N idle ELIZA agents cost one agent host in memory, and how fast they start.

Run by hand (it is not a test):

    .venv/bin/python bench/bench_agents.py                      # N = 1,000 and 10,000 (about 3.5 minutes on 2 cores)
    .venv/bin/python bench/bench_agents.py --quick              # N = 200 and 1,000 (about 25 s)
    .venv/bin/python bench/bench_agents.py --counts 500,5000    # any list of N

For each N it starts a fresh LocalCluster (etcd, control plane, ONE agent host; temporary data
dir, free ports) with room for N + 10 agents, then:

1. reads the resident memory (VmRSS, /proc/<pid>/status) of the host, control plane and etcd
   once the host has linked: the baseline;
2. creates N idle ELIZA agents, 32 creates in flight, each `create_agent(..., wait=30)`
   returning once the agent is RUNNING: the create-to-RUNNING rate;
3. waits 2 s and reads the memory again: (host after - host before) / N is the memory one
   idle agent costs its host. **Aim: at most 200 KB per agent**;
4. sends one message to a sample of 100 agents (one new room each), checks that each answers,
   waits 2 s and reads the memory again (a conversation adds ELIZA state and a memory window).

See bench/README.md, section "Idle agents per host".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "clients" / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_foundation import (  # noqa: E402
    CONCURRENCY,
    MESSAGES,
    CpuMeter,
    Result,
    character,
    concurrent,
    machine_info,
    ms,
    verdict,
    wait_for_hosts,
)

PER_AGENT_AIM_KB = 200.0  # host memory per idle agent: at most this
CREATE_WAIT = 30.0  # seconds each create_agent waits for RUNNING
SETTLE = 2.0  # seconds to wait before reading memory (the host cannot be told to collect garbage)
SAMPLE = 100  # agents that get one message after creation
HEADROOM = 10  # max_agents = N + this
DEFAULT_COUNTS = (1000, 10000)
QUICK_COUNTS = (200, 1000)
KB = 1024
MIB = 1024**2


# -- process memory (Linux /proc) -------------------------------------------------------------


def proc_memory(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in bytes: resident now and its peak; (0, 0) if unknown."""
    values = {"VmRSS": 0, "VmHWM": 0}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in values:
                values[key] = int(rest.split()[0]) * KB  # reported in kB
    return values["VmRSS"], values["VmHWM"]


def rss_of(pids: dict[str, int]) -> dict[str, int]:
    """VmRSS of every named process, in bytes."""
    return {name: proc_memory(pid)[0] for name, pid in pids.items()}


async def etcd_db_size(port: int) -> int:
    """Size of etcd's backend database file in bytes (Maintenance.Status dbSize), 0 if unknown."""
    import aetcd

    client = aetcd.Client(host="127.0.0.1", port=port, timeout=10)
    try:
        await client.connect()
        return int((await client.status()).db_size)
    except Exception as exc:
        print(f"    etcd status failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 0
    finally:
        with contextlib.suppress(Exception):
            await client.close()


def etcd_kv_calls(port: int) -> dict[str, int]:
    """etcd KV gRPC calls handled so far, by method (Range, Txn, Put, ...), from etcd's /metrics."""
    calls: dict[str, int] = {}
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return calls
    for line in text.splitlines():
        if line.startswith("grpc_server_handled_total{") and 'grpc_service="etcdserverpb.KV"' in line:
            method = line.split('grpc_method="', 1)[1].split('"', 1)[0]
            calls[method] = calls.get(method, 0) + int(float(line.rsplit(" ", 1)[1]))
    return calls


def calls_per(before: dict[str, int], after: dict[str, int], count: int) -> str:
    """`Range 4.0, Txn 3.0`: etcd calls per operation between two readings (methods that moved)."""
    moved = {m: after[m] - before.get(m, 0) for m in sorted(after)
             if (after[m] - before.get(m, 0)) / max(count, 1) >= 0.05}
    return ", ".join(f"{m} {n / max(count, 1):.1f}" for m, n in moved.items()) or "none"


# -- one N ------------------------------------------------------------------------------------


async def bench_one(cluster: Any, n: int) -> dict[str, Any]:
    from elizaos import ElizaOSClient
    from elizaos.v1 import agent_pb2

    pids = {name: proc.pid for name, proc in cluster.processes.items()}
    out: dict[str, Any] = {"n": n}
    async with ElizaOSClient(cluster.target, timeout=30) as client:
        await wait_for_hosts(client, 1)
        await asyncio.sleep(SETTLE)  # the host has linked and sent heartbeats: its steady idle state
        out["rss_before"] = rss_of(pids)
        out["db_before"] = await etcd_db_size(cluster.etcd_port)

        ids: list[str] = []
        done_at: list[float] = []
        step = max(n // 10, 1)
        mark_time, mark_calls = 0.0, etcd_kv_calls(cluster.etcd_port)
        out["etcd_calls_before"] = mark_calls
        start = time.perf_counter()

        async def create(i: int) -> None:
            nonlocal mark_time, mark_calls
            agent = await client.create_agent(character(f"idle-{i}"), wait=CREATE_WAIT)
            if agent.status != agent_pb2.AGENT_STATUS_RUNNING:
                raise RuntimeError(f"agent {agent.id} is {agent_pb2.AgentStatus.Name(agent.status)}: {agent.error}")
            ids.append(agent.id)
            done_at.append(time.perf_counter() - start)
            if len(done_at) % step == 0:
                # Progress, with the rate and etcd calls per agent of this last tenth: where time goes.
                calls = etcd_kv_calls(cluster.etcd_port)
                rate = step / (done_at[-1] - mark_time) if done_at[-1] > mark_time else float("nan")
                print(f"      {len(done_at):>7,} RUNNING after {done_at[-1]:6.1f} s, last {step:,} at {rate:5.0f}/s, "
                      f"etcd calls per agent: {calls_per(mark_calls, calls, step)} "
                      f"(host RSS {proc_memory(pids['host-1'])[0] / MIB:,.0f} MiB)", flush=True)
                mark_time, mark_calls = done_at[-1], calls

        out["create_cpu"] = CpuMeter(pids)
        out["create"] = await concurrent(create, n, warmup=0, meter=out["create_cpu"])
        out["done_at"] = sorted(done_at)
        out["etcd_calls_after"] = etcd_kv_calls(cluster.etcd_port)

        await asyncio.sleep(SETTLE)
        out["rss_after"] = rss_of(pids)
        out["hwm_after"] = proc_memory(pids["host-1"])[1]
        out["db_after"] = await etcd_db_size(cluster.etcd_port)
        status = await client.get_system_status()
        out["running"] = status.active_agents
        out["host_agents"] = {h.id: h.load.agents for h in status.hosts}

        # One message to a sample spread over the creation order, each in a room of its own.
        sample = ids[:: max(len(ids) // SAMPLE, 1)][:SAMPLE]
        answered = 0

        async def talk(i: int) -> None:
            nonlocal answered
            reply = await client.send_message(sample[i], MESSAGES[i % len(MESSAGES)], user_id=f"user-{i}",
                                              room_id=f"room-{i}")
            if not reply.text:
                raise RuntimeError(f"agent {sample[i]} gave an empty reply")
            answered += 1

        out["talk"] = await concurrent(talk, len(sample), warmup=0)
        out["sample"] = len(sample)
        out["answered"] = answered
        await asyncio.sleep(SETTLE)
        out["rss_talk"] = rss_of(pids)
    return out


def run_one(n: int, keep: bool, max_agents: int = 0) -> dict[str, Any]:
    from elizaos._cluster import LocalCluster, free_port

    data_dir = Path(tempfile.mkdtemp(prefix=f"elizaos-bench-agents-{n}-"))
    config_file = data_dir / "bench-config.yaml"
    # max_agents is enforced in the create transaction; a longer etcd deadline keeps a busy
    # 2-core machine (etcd, control plane, host and client sharing it) from failing creates.
    limit = max_agents or n + HEADROOM
    config_file.write_text(f"max_agents: {limit}\netcd:\n  timeout_seconds: 15\n")
    cluster = LocalCluster(data_dir=data_dir / "cluster", port=free_port(), hosts=1, name="bench",
                           config_file=str(config_file),
                           host_args=("--max-agents", str(n + HEADROOM), "--cpu", "1000", "--memory", "1TiB"))
    began = time.perf_counter()
    try:
        print(f"\n[N={n:,}] starting a LocalCluster: etcd, control plane, 1 agent host; max_agents {limit:,} ...",
              flush=True)
        cluster.start()
        print(f"      control plane {cluster.target}, data in {data_dir}", flush=True)
        print(f"      creating {n:,} agents, {CONCURRENCY} in flight ...", flush=True)
        result = asyncio.run(bench_one(cluster, n))
        dead = cluster.check()
        if dead:
            print(f"WARNING: processes exited during the run: {dead}; see {data_dir}/cluster/logs", file=sys.stderr)
        result["dead"] = dead
    finally:
        cluster.stop()
        if keep:
            print(f"      data dir kept: {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    result["wall"] = time.perf_counter() - began
    result["max_agents"] = limit
    return result


# -- report -----------------------------------------------------------------------------------


def mib(value: int) -> str:
    return f"{value / MIB:,.1f}"


def print_grid(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    width = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    rule = "+-" + "-+-".join("-" * w for w in width) + "-+"

    def line(row: tuple[str, ...]) -> str:
        return "| " + " | ".join(cell.rjust(w) if i else cell.ljust(w)
                                 for i, (cell, w) in enumerate(zip(row, width, strict=True))) + " |"

    print(rule)
    print(line(header))
    print(rule)
    for row in rows:
        print(line(row))
    print(rule)


def per_agent_kb(result: dict[str, Any]) -> float:
    # Per agent actually RUNNING (equal to N unless creates failed, which the table then shows).
    grown: int = result["rss_after"]["host-1"] - result["rss_before"]["host-1"]
    count: int = result["create"].count
    return grown / max(count, 1) / KB


def report(results: list[dict[str, Any]]) -> None:
    header = ("N", "create->RUNNING", "host RSS before", "host RSS after", "KB/agent",
              f"host RSS +{SAMPLE} msgs", "KB/talked agent", "controlplane RSS", "etcd RSS", "etcd db",
              f"aim <= {PER_AGENT_AIM_KB:g} KB/agent")
    rows: list[tuple[str, ...]] = []
    for r in results:
        create: Result = r["create"]
        kb = per_agent_kb(r)
        talked = (r["rss_talk"]["host-1"] - r["rss_after"]["host-1"]) / max(r["sample"], 1) / KB
        errors = f", {create.errors} ERR" if create.errors else ""
        rows.append((
            f"{r['n']:,}",
            f"{create.rate:,.1f}/s{errors}",
            f"{mib(r['rss_before']['host-1'])} MiB",
            f"{mib(r['rss_after']['host-1'])} MiB",
            f"{kb:,.1f}",
            f"{mib(r['rss_talk']['host-1'])} MiB",
            f"{talked:,.1f}",
            f"{mib(r['rss_before']['controlplane'])} -> {mib(r['rss_after']['controlplane'])} MiB",
            f"{mib(r['rss_before']['etcd'])} -> {mib(r['rss_after']['etcd'])} MiB",
            f"{mib(r['db_before'])} -> {mib(r['db_after'])} MiB",
            verdict(kb <= PER_AGENT_AIM_KB),
        ))
    print()
    print_grid(header, rows)

    print("\ndetails:")
    for r in results:
        create = r["create"]
        done = r["done_at"]
        tenth = max(len(done) // 10, 1)
        first = tenth / done[tenth - 1] if len(done) >= tenth and done[tenth - 1] > 0 else float("nan")
        last = (tenth / (done[-1] - done[-tenth - 1])
                if len(done) > tenth and done[-1] > done[-tenth - 1] else float("nan"))
        cpu_total, cpu_parts = r["create_cpu"].per_op(max(create.count, 1))
        talk: Result = r["talk"]
        cp_kb = (r["rss_after"]["controlplane"] - r["rss_before"]["controlplane"]) / r["n"] / KB
        etcd_kb = (r["rss_after"]["etcd"] - r["rss_before"]["etcd"]) / r["n"] / KB
        db_kb = (r["db_after"] - r["db_before"]) / r["n"] / KB
        print(f"  N={r['n']:,} (max_agents {r['max_agents']:,}): {create.count:,} RUNNING in {create.elapsed:.1f} s "
              f"(p50 {ms(create.p50)}, "
              f"p99 {ms(create.p99)}); rate first 10% {first:,.0f}/s, last 10% {last:,.0f}/s; "
              f"{create.errors} errors")
        print(f"    CPU per agent created: {cpu_total}, {cpu_parts}")
        print(f"    etcd KV calls per agent created: "
              f"{calls_per(r['etcd_calls_before'], r['etcd_calls_after'], create.count)}")
        print(f"    host peak RSS (VmHWM) {mib(r['hwm_after'])} MiB; per agent also: control plane {cp_kb:,.1f} KB, "
              f"etcd RSS {etcd_kb:,.1f} KB, etcd db {db_kb:,.1f} KB")
        print(f"    {r['answered']}/{r['sample']} sampled agents answered (p50 {ms(talk.p50)}); "
              f"system status: {r['running']:,} RUNNING, agents per host {r['host_agents']}; "
              f"cluster up {r['wall']:.0f} s" + (f"; EXITED: {r['dead']}" if r["dead"] else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", default="", help="comma-separated agent counts (default 1000,10000)")
    parser.add_argument("--quick", action="store_true", help=f"N = {QUICK_COUNTS[0]} and {QUICK_COUNTS[1]}")
    parser.add_argument("--keep", action="store_true", help="keep each cluster's data dir (and its logs)")
    parser.add_argument("--max-agents", type=int, default=0,
                        help=f"the cluster's max_agents (default N + {HEADROOM}; the host allows N + {HEADROOM})")
    ns = parser.parse_args()
    if shutil.which("etcd") is None:
        raise SystemExit("etcd is not on PATH (Debian/Ubuntu: apt-get install etcd-server)")
    try:
        counts = ([int(c.replace("_", "")) for c in ns.counts.split(",") if c.strip()] if ns.counts
                  else list(QUICK_COUNTS if ns.quick else DEFAULT_COUNTS))
    except ValueError:
        parser.error(f"--counts {ns.counts!r}: expected numbers such as 1000,10000")
    if not counts or min(counts) < 1:
        parser.error("--counts needs positive numbers")

    began = time.perf_counter()
    print("ElizaOS idle agents per host" + (" (--quick)" if ns.quick else "") + f": N = {counts}")
    for key, value in machine_info():
        print(f"  {key:8} {value}")
    if ns.max_agents and ns.max_agents < max(counts):
        parser.error(f"--max-agents {ns.max_agents} is below N = {max(counts)}")
    results = [run_one(n, ns.keep, ns.max_agents) for n in counts]
    report(results)
    print(f"total run time {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
