"""Foundation benchmark: how far the real system is from raw gRPC and raw etcd on this machine.

Run by hand (never a test):

    .venv/bin/python bench/bench_foundation.py            # default, about 2-3 minutes
    .venv/bin/python bench/bench_foundation.py --quick    # reduced counts, under a minute

It prints one table:

1. a raw `grpc.aio` unary echo round trip (server in a separate process), sequential and 32 in flight;
2. a plain etcd put through aetcd against the cluster's own etcd (the durable-write floor);
3. `SendMessage` through a real LocalCluster (control plane -> host -> ELIZA -> etcd write),
   sequential and 32 in flight across several agents and rooms, with the ratios to 1 and 2;
4. agents created until RUNNING per second, one by one and 32 creates in flight.

See bench/README.md for what each figure means and the aims.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "clients" / "python"))

import grpc  # noqa: E402

CONCURRENCY = 32
ECHO_METHOD = "/bench.Echo/Echo"
SEND_AIM = 3.0  # SendMessage p50 / echo p50 at most this
CREATE_AIM = 100.0  # agents created to RUNNING per second, at least this


# -- measurement helpers ---------------------------------------------------------------------


@dataclasses.dataclass
class Result:
    """One measured series: per-operation latencies (seconds) and wall time for all of them."""

    latencies: list[float]
    elapsed: float
    errors: int = 0

    @property
    def count(self) -> int:
        return len(self.latencies)

    def pct(self, q: float) -> float:
        data = sorted(self.latencies)
        if not data:
            return float("nan")
        index = min(len(data) - 1, max(0, round(q / 100 * len(data) + 0.5) - 1))
        return data[index]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) if self.latencies else float("nan")

    @property
    def p99(self) -> float:
        return self.pct(99)

    @property
    def rate(self) -> float:
        return self.count / self.elapsed if self.elapsed > 0 else float("nan")


async def sequential(op: Callable[[int], Awaitable[object]], n: int, warmup: int) -> Result:
    """`n` calls one after another, after `warmup` unmeasured ones."""
    for i in range(warmup):
        await op(i)
    latencies = []
    start = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        await op(i)
        latencies.append(time.perf_counter() - t0)
    return Result(latencies, time.perf_counter() - start)


async def concurrent(op: Callable[[int], Awaitable[object]], n: int, warmup: int,
                     in_flight: int = CONCURRENCY, meter: CpuMeter | None = None) -> Result:
    """`n` calls with `in_flight` workers each calling back to back (operation index passed)."""

    async def run(total: int, record: list[float] | None) -> int:
        counter = iter(range(total))
        errors = 0

        async def worker() -> None:
            nonlocal errors
            for i in counter:
                t0 = time.perf_counter()
                try:
                    await op(i)
                except Exception as exc:
                    errors += 1
                    if errors <= 3:
                        print(f"    error: {type(exc).__name__}: {exc}", file=sys.stderr)
                    continue
                if record is not None:
                    record.append(time.perf_counter() - t0)

        await asyncio.gather(*(worker() for _ in range(in_flight)))
        return errors

    if warmup:
        await run(warmup, None)
    latencies: list[float] = []
    if meter is not None:
        meter.start()
    start = time.perf_counter()
    errors = await run(n, latencies)
    elapsed = time.perf_counter() - start
    if meter is not None:
        meter.stop()
    return Result(latencies, elapsed, errors)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), 0 if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds used by named processes (and this one) between `start()` and `stop()`."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.used: dict[str, float] = {}
        self._mark: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        now = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        now["client"] = time.process_time()
        return now

    def start(self) -> None:
        self._mark = self._now()

    def stop(self) -> None:
        now = self._now()
        self.used = {name: now[name] - self._mark.get(name, 0.0) for name in now}

    def per_op(self, count: int) -> str:
        """`controlplane 0.61, hosts 0.30, ...` in ms of CPU per operation."""
        groups: dict[str, float] = {}
        for name, seconds in self.used.items():
            key = "hosts" if name.startswith("host-") else name
            groups[key] = groups.get(key, 0.0) + seconds
        total = sum(groups.values())
        parts = [f"{name} {seconds / count * 1000:.2f}" for name, seconds in groups.items()]
        return f"{total / count * 1000:.2f} ms total: " + ", ".join(parts)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


# -- 1. raw gRPC echo baseline ----------------------------------------------------------------


async def _echo_server() -> None:
    """Child process: serve the echo method on 127.0.0.1:0, print the port, run until stdin closes."""

    async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return request

    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)})  # bytes in, bytes out
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # parent closes stdin (or dies) -> stop
    await server.stop(0)


@contextlib.contextmanager
def echo_server_process():
    proc = subprocess.Popen([sys.executable, __file__, "--echo-server"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.strip().isdigit():
            raise RuntimeError(f"echo server did not start (got {line!r})")
        yield int(line), proc.pid
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def bench_echo(port: int, pid: int, n_seq: int, n_conc: int) -> tuple[Result, Result, CpuMeter]:
    payload = b"x" * 64  # about a SendMessage request's size
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(ECHO_METHOD)  # no serializers: bytes pass through

        async def op(_: int) -> None:
            await call(payload, timeout=10)

        seq = await sequential(op, n_seq, warmup=max(n_seq // 5, 50))
        meter = CpuMeter({"server": pid})
        conc = await concurrent(op, n_conc, warmup=max(n_conc // 5, 100), meter=meter)
    return seq, conc, meter


# -- 2. etcd put baseline ---------------------------------------------------------------------


async def bench_etcd(etcd_port: int, n_seq: int, n_conc: int) -> tuple[Result, Result, Result]:
    import aetcd

    client = aetcd.Client(host="127.0.0.1", port=etcd_port, timeout=10)
    await client.connect()
    prefix = f"/bench/{uuid.uuid4().hex}/".encode()
    value = b"v" * 200  # about one stored memory
    try:
        async def op(i: int) -> None:
            await client.put(prefix + str(i % 256).encode(), value)

        async def read(i: int) -> None:
            await client.get(prefix + str(i % 256).encode())

        seq = await sequential(op, n_seq, warmup=max(n_seq // 5, 20))
        conc = await concurrent(op, n_conc, warmup=max(n_conc // 5, 50))
        reads = await sequential(read, n_seq, warmup=max(n_seq // 5, 20))
        await client.delete_prefix(prefix)
    finally:
        await client.close()
    return seq, conc, reads


# -- 3/4. the real system ---------------------------------------------------------------------


def character(name: str):
    from elizaos import character_from_dict

    return character_from_dict({"name": name, "bio": ["A benchmark agent."], "settings": {"model": "eliza"}})


MESSAGES = [
    "I am sad about my job.",
    "My mother does not understand me.",
    "I dreamed about flying last night.",
    "Men are all alike.",
    "I need some help, that much seems certain.",
    "Perhaps I could learn to get along with my brother.",
]


async def wait_for_hosts(client, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if len(await client.list_hosts()) >= count:
                return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{count} hosts did not connect within {timeout:.0f}s")


async def bench_system(cluster, counts: dict[str, int]) -> dict[str, object]:
    from elizaos import ElizaOSClient, ElizaOSError
    from elizaos.v1 import agent_pb2

    running = agent_pb2.AGENT_STATUS_RUNNING
    out: dict[str, object] = {}
    async with ElizaOSClient(cluster.target, timeout=30) as client:
        await wait_for_hosts(client, cluster.hosts)

        async def create(i: int, prefix: str) -> str:
            agent = await client.create_agent(character(f"{prefix}-{i}"), wait=10)
            if agent.status != running:
                raise RuntimeError(f"agent {agent.id} is {agent_pb2.AgentStatus.Name(agent.status)}: {agent.error}")
            return agent.id

        # Agents for the message benchmarks (also warms up the create path).
        n_agents = counts["msg_agents"]
        agent_ids = [await create(i, "talker") for i in range(n_agents)]

        async def send_one(i: int) -> None:
            await client.send_message(agent_ids[0], MESSAGES[i % len(MESSAGES)], room_id="seq")

        out["send_seq"] = await sequential(send_one, counts["send_seq"], warmup=counts["send_warmup"])

        async def send_many(i: int) -> None:
            # Spread over agents (so over both hosts) and rooms, like independent users.
            agent = agent_ids[i % n_agents]
            room = f"room-{i % CONCURRENCY}"
            reply = await client.send_message(agent, MESSAGES[i % len(MESSAGES)], user_id=f"user-{i % 97}",
                                              room_id=room)
            if not reply.text:
                raise RuntimeError("empty reply")

        pids = {name: proc.pid for name, proc in cluster.processes.items()}
        out["send_cpu"] = meter = CpuMeter(pids)
        out["send_conc"] = await concurrent(send_many, counts["send_conc"], warmup=counts["send_warmup"],
                                            meter=meter)

        # Agents created until RUNNING: one by one, then 32 creates in flight.
        created: list[str] = []

        async def create_seq(i: int) -> None:
            created.append(await create(i, "seq"))

        out["create_seq"] = await sequential(create_seq, counts["create_seq"], warmup=counts["create_warmup"])

        async def create_conc(i: int) -> None:
            created.append(await create(i, "conc"))

        out["create_cpu"] = meter = CpuMeter(pids)
        out["create_conc"] = await concurrent(create_conc, counts["create_conc"], warmup=0, meter=meter)

        status = await client.get_system_status()
        out["status"] = status
        with contextlib.suppress(ElizaOSError):
            per_host: dict[str, int] = {}
            for agent in await client.list_agents(status="running"):
                per_host[agent.host_id] = per_host.get(agent.host_id, 0) + 1
            out["hosts"] = dict(sorted(per_host.items()))
    return out


# -- main -------------------------------------------------------------------------------------


def machine_info() -> list[tuple[str, str]]:
    cpu_model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    etcd_version = ""
    with contextlib.suppress(Exception):
        etcd_version = subprocess.run(["etcd", "--version"], capture_output=True, text=True,
                                      timeout=10).stdout.splitlines()[0].split(":", 1)[1].strip()
    return [
        ("date", datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")),
        ("machine", f"{os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), {cpu_model or '?'}"),
        ("os", platform.platform()),
        ("python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("grpcio", grpc.__version__),
        ("etcd", etcd_version or "?"),
    ]


def filesystem_of(path: Path) -> str:
    with contextlib.suppress(Exception):
        line = subprocess.run(["df", "-T", str(path)], capture_output=True, text=True, timeout=10).stdout
        parts = line.splitlines()[-1].split()
        return f"{parts[1]} ({parts[0]})"
    return "?"


def print_table(rows: list[tuple[str, str, str]]) -> None:
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    line = "+-" + "-+-".join("-" * w for w in width) + "-+"
    print(line)
    for i, row in enumerate(rows):
        if row == ("-", "-", "-"):
            print(line)
            continue
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, width, strict=True)) + " |")
        if i == 0:
            print(line)
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="reduced counts (whole run < 60 s)")
    parser.add_argument("--keep", action="store_true", help="keep the cluster's data dir (logs) afterwards")
    parser.add_argument("--echo-server", action="store_true", help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.echo_server:
        asyncio.run(_echo_server())
        return
    if shutil.which("etcd") is None:
        raise SystemExit("etcd is not on PATH (Debian/Ubuntu: apt-get install etcd-server)")

    if ns.quick:
        counts = dict(echo_seq=500, echo_conc=2000, etcd_seq=200, etcd_conc=1000, msg_agents=8,
                      send_warmup=100, send_seq=300, send_conc=1000, create_warmup=5, create_seq=30,
                      create_conc=200)
    else:
        counts = dict(echo_seq=3000, echo_conc=10000, etcd_seq=1000, etcd_conc=5000, msg_agents=8,
                      send_warmup=300, send_seq=2000, send_conc=6000, create_warmup=10, create_seq=150,
                      create_conc=400)

    from elizaos._cluster import LocalCluster, free_port

    began = time.perf_counter()
    info = machine_info()
    print("ElizaOS foundation benchmark" + (" (--quick)" if ns.quick else ""))
    for key, value in info:
        print(f"  {key:8} {value}")

    print("\n[1/4] raw grpc.aio echo (server in a separate process) ...", flush=True)
    with echo_server_process() as (port, pid):
        echo_seq, echo_conc, echo_cpu = asyncio.run(bench_echo(port, pid, counts["echo_seq"], counts["echo_conc"]))

    data_dir = Path(tempfile.mkdtemp(prefix="elizaos-bench-"))
    config_file = data_dir / "bench-config.yaml"
    config_file.write_text("max_agents: 5000\n")
    cluster = LocalCluster(data_dir=data_dir / "cluster", port=free_port(), hosts=2, name="bench",
                           config_file=str(config_file), host_args=("--cpu", "64", "--max-agents", "5000"))
    try:
        print("[2/4] starting LocalCluster (etcd, control plane, 2 hosts) ...", flush=True)
        cluster.start()
        print(f"      data dir {data_dir} on {filesystem_of(data_dir)}; etcd :{cluster.etcd_port}, "
              f"control plane {cluster.target}")
        print("[3/4] plain etcd put via aetcd ...", flush=True)
        etcd_seq, etcd_conc, etcd_read = asyncio.run(bench_etcd(cluster.etcd_port, counts["etcd_seq"], counts["etcd_conc"]))
        print("[4/4] SendMessage and CreateAgent through the real system ...", flush=True)
        system = asyncio.run(bench_system(cluster, counts))
        dead = cluster.check()
        if dead:
            print(f"WARNING: processes exited during the run: {dead}; see {data_dir}/cluster/logs", file=sys.stderr)
    finally:
        cluster.stop()
        if ns.keep:
            print(f"data dir kept: {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)

    send_seq: Result = system["send_seq"]  # type: ignore[assignment]
    send_conc: Result = system["send_conc"]  # type: ignore[assignment]
    create_seq: Result = system["create_seq"]  # type: ignore[assignment]
    create_conc: Result = system["create_conc"]  # type: ignore[assignment]
    ratio = send_seq.p50 / echo_seq.p50
    ratio_etcd = send_seq.p50 / etcd_seq.p50
    send_cpu: CpuMeter = system["send_cpu"]  # type: ignore[assignment]
    create_cpu: CpuMeter = system["create_cpu"]  # type: ignore[assignment]

    def errs(r: Result) -> str:
        return f", {r.errors} errors" if r.errors else ""

    rows: list[tuple[str, str, str]] = [("figure", "value", "detail")]
    rows += [
        ("echo sequential p50 / p99", f"{ms(echo_seq.p50)} / {ms(echo_seq.p99)}",
         f"{echo_seq.rate:,.0f} calls/s, n={echo_seq.count}"),
        (f"echo {CONCURRENCY} in flight", f"{echo_conc.rate:,.0f} calls/s",
         f"p50 {ms(echo_conc.p50)}, p99 {ms(echo_conc.p99)}, n={echo_conc.count}{errs(echo_conc)}"),
        (f"  CPU per echo call, {CONCURRENCY} in flight", echo_cpu.per_op(echo_conc.count).split(":")[0],
         echo_cpu.per_op(echo_conc.count).split(": ", 1)[1]),
        ("-", "-", "-"),
        ("etcd put sequential p50 / p99", f"{ms(etcd_seq.p50)} / {ms(etcd_seq.p99)}",
         f"{etcd_seq.rate:,.0f} puts/s, n={etcd_seq.count}"),
        (f"etcd put {CONCURRENCY} in flight", f"{etcd_conc.rate:,.0f} puts/s",
         f"p50 {ms(etcd_conc.p50)}, p99 {ms(etcd_conc.p99)}, n={etcd_conc.count}{errs(etcd_conc)}"),
        ("etcd get (read) sequential p50", ms(etcd_read.p50),
         f"put p50 - get p50 = {ms(etcd_seq.p50 - etcd_read.p50)}: WAL fsync + raft share of a write"),
        ("-", "-", "-"),
        ("SendMessage sequential p50 / p99", f"{ms(send_seq.p50)} / {ms(send_seq.p99)}",
         f"{send_seq.rate:,.0f} msgs/s, 1 agent, n={send_seq.count}"),
        (f"SendMessage {CONCURRENCY} in flight", f"{send_conc.rate:,.0f} msgs/s",
         f"p50 {ms(send_conc.p50)}, p99 {ms(send_conc.p99)}, {counts['msg_agents']} agents, "
         f"{CONCURRENCY} rooms, n={send_conc.count}{errs(send_conc)}"),
        (f"  CPU per SendMessage, {CONCURRENCY} in flight", send_cpu.per_op(send_conc.count).split(":")[0],
         send_cpu.per_op(send_conc.count).split(": ", 1)[1]),
        ("SendMessage p50 / echo p50", f"{ratio:.1f}x",
         f"aim <= {SEND_AIM:g}x: {'MET' if ratio <= SEND_AIM else 'NOT MET'}"),
        ("SendMessage p50 / etcd put p50", f"{ratio_etcd:.1f}x", "each message waits for one durable etcd txn"),
        ("-", "-", "-"),
        ("agents to RUNNING, one by one", f"{create_seq.rate:,.1f} agents/s",
         f"p50 {ms(create_seq.p50)}, p99 {ms(create_seq.p99)}, n={create_seq.count}"),
        (f"agents to RUNNING, {CONCURRENCY} in flight", f"{create_conc.rate:,.1f} agents/s",
         f"p50 {ms(create_conc.p50)}, p99 {ms(create_conc.p99)}, n={create_conc.count}{errs(create_conc)}"),
        (f"  CPU per agent created, {CONCURRENCY} in flight", create_cpu.per_op(create_conc.count).split(":")[0],
         create_cpu.per_op(create_conc.count).split(": ", 1)[1]),
        (f"agents/s ({CONCURRENCY} in flight) vs aim", f"{create_conc.rate:,.1f} agents/s",
         f"aim >= {CREATE_AIM:g}/s: {'MET' if create_conc.rate >= CREATE_AIM else 'NOT MET'}"),
    ]
    print()
    print_table(rows)
    status = system.get("status")
    hosts = system.get("hosts")
    if status is not None:
        print(f"cluster at the end: {status.total_agents} agents, {status.active_agents} running"
              + (f"; agents per host {hosts}" if hosts else ""))
    print(f"total run time {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
