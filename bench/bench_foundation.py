"""Foundation benchmark: how far the real system is from raw gRPC and raw etcd on this machine.

Run by hand (it is not a test):

    .venv/bin/python bench/bench_foundation.py            # default run, about 1.5-3 minutes
    .venv/bin/python bench/bench_foundation.py --quick    # reduced counts, well under a minute

It prints one table:

1. a raw `grpc.aio` unary echo round trip (server in a separate process), sequential and 32 in flight;
2. a plain etcd put (and get) through aetcd against the cluster's own etcd: the durable-write floor;
3. `SendMessage` through a real LocalCluster (control plane -> host -> ELIZA -> etcd write),
   sequential and 32 in flight across several agents and rooms, with its ratio to 1 and to 2;
4. agents created until RUNNING per second, one by one and with 32 creates in flight.

CPU rows give the CPU time every process spent per operation during the 32-in-flight phases
(read from /proc), which explains the throughput on a small machine. See bench/README.md.
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
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "clients" / "python"))

import grpc  # noqa: E402

CONCURRENCY = 32
ROOM_LENGTH = 200  # sequential SendMessage moves to a new room after this many messages
ECHO_METHOD = "/bench.Echo/Echo"
SEND_AIM = 3.0  # SendMessage p50 / echo p50: at most this
CREATE_AIM = 100.0  # agents created to RUNNING per second (32 in flight): at least this

QUICK = dict(echo_seq=1000, echo_conc=4000, etcd_seq=500, etcd_conc=2000, msg_agents=8, send_warmup=200,
             send_seq=600, send_conc=2000, create_warmup=5, create_seq=50, create_conc=200)
DEFAULT = dict(echo_seq=5000, echo_conc=20000, etcd_seq=2000, etcd_conc=10000, msg_agents=8, send_warmup=500,
               send_seq=5000, send_conc=20000, create_warmup=10, create_seq=300, create_conc=1000)


# -- measurement helpers ---------------------------------------------------------------------


@dataclasses.dataclass
class Result:
    """One measured series: per-operation latencies (seconds) and the wall time of all of them."""

    latencies: list[float]
    elapsed: float
    errors: int = 0

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) if self.latencies else float("nan")

    @property
    def p99(self) -> float:
        data = sorted(self.latencies)
        return data[min(len(data) - 1, int(0.99 * len(data)))] if data else float("nan")

    @property
    def rate(self) -> float:
        return self.count / self.elapsed if self.elapsed > 0 else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), 0 if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds used by named processes (and this one, as `client`) between start() and stop()."""

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

    def per_op(self, count: int) -> tuple[str, str]:
        """(`2.15 ms`, `controlplane 1.04, hosts 0.49, ...`): CPU ms per operation, total and by process."""
        groups: dict[str, float] = {}
        for name, seconds in self.used.items():
            key = "hosts" if name.startswith("host-") else name
            groups[key] = groups.get(key, 0.0) + seconds
        total = sum(groups.values())
        parts = ", ".join(f"{name} {seconds / count * 1000:.2f}" for name, seconds in groups.items())
        return f"{total / count * 1000:.2f} ms CPU", f"by process (ms): {parts}"


async def sequential(op: Callable[[int], Awaitable[object]], n: int, warmup: int) -> Result:
    """`n` calls one after another (indices 0..n-1), after `warmup` unmeasured ones (indices n..)."""
    for i in range(n, n + warmup):
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
    """`n` calls by `in_flight` workers calling back to back; failed calls are counted, not timed."""

    async def run(total: int, record: list[float] | None) -> int:
        indices = iter(range(total))
        errors = 0

        async def worker() -> None:
            nonlocal errors
            for i in indices:
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


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


# -- 1. raw gRPC echo baseline ----------------------------------------------------------------


async def _echo_server() -> None:
    """Child process: serve the echo method on 127.0.0.1:0, print the port, run until stdin closes."""

    async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return request

    server = grpc.aio.server()
    # No (de)serializers: the handler gets and returns raw bytes.
    handler = grpc.method_handlers_generic_handler("bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)})
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # EOF: the parent is done (or dead)
    await server.stop(0)


@contextlib.contextmanager
def echo_server_process() -> Iterator[tuple[int, int]]:
    """(port, pid) of an echo server running in a child process."""
    proc = subprocess.Popen([sys.executable, __file__, "--echo-server"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.strip().isdigit():
            raise RuntimeError(f"the echo server did not start (it printed {line!r})")
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
    payload = b"x" * 64  # about the size of a SendMessage request
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(ECHO_METHOD)  # no serializers: bytes pass through

        async def op(_: int) -> None:
            await call(payload, timeout=10)

        seq = await sequential(op, n_seq, warmup=max(n_seq // 5, 50))
        meter = CpuMeter({"server": pid})
        conc = await concurrent(op, n_conc, warmup=max(n_conc // 5, 100), meter=meter)
    return seq, conc, meter


# -- 2. etcd baseline -------------------------------------------------------------------------


async def bench_etcd(etcd_port: int, n_seq: int, n_conc: int) -> tuple[Result, Result, Result]:
    """Plain puts (sequential, 32 in flight) and gets through aetcd, under a throwaway prefix."""
    import aetcd

    client = aetcd.Client(host="127.0.0.1", port=etcd_port, timeout=10)
    await client.connect()
    prefix = f"/bench/{uuid.uuid4().hex}/".encode()
    value = b"v" * 200  # about one stored memory
    try:
        async def put(i: int) -> None:
            await client.put(prefix + str(i % 256).encode(), value)

        async def get(i: int) -> None:
            await client.get(prefix + str(i % 256).encode())

        puts = await sequential(put, n_seq, warmup=max(n_seq // 5, 20))
        puts_conc = await concurrent(put, n_conc, warmup=max(n_conc // 5, 50))
        gets = await sequential(get, n_seq, warmup=max(n_seq // 5, 20))
        await client.delete_prefix(prefix)
    finally:
        await client.close()
    return puts, puts_conc, gets


# -- 3/4. the real system ---------------------------------------------------------------------

MESSAGES = [
    "I am sad about my job.",
    "My mother does not understand me.",
    "I dreamed about flying last night.",
    "Men are all alike.",
    "I need some help, that much seems certain.",
    "Perhaps I could learn to get along with my brother.",
]


def character(name: str) -> Any:
    from elizaos import character_from_dict

    return character_from_dict({"name": name, "bio": ["A benchmark agent."], "settings": {"model": "eliza"}})


async def wait_for_hosts(client: Any, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if len(await client.list_hosts()) >= count:
                return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{count} hosts did not connect within {timeout:.0f}s")


async def bench_system(cluster: Any, counts: dict[str, int]) -> dict[str, Any]:
    from elizaos import ElizaOSClient
    from elizaos.v1 import agent_pb2

    out: dict[str, Any] = {}
    pids = {name: proc.pid for name, proc in cluster.processes.items()}
    async with ElizaOSClient(cluster.target, timeout=30) as client:
        await wait_for_hosts(client, cluster.hosts)

        async def create(name: str) -> agent_pb2.Agent:
            agent = await client.create_agent(character(name), wait=10)
            if agent.status != agent_pb2.AGENT_STATUS_RUNNING:
                raise RuntimeError(f"agent {agent.id} is {agent_pb2.AgentStatus.Name(agent.status)}: {agent.error}")
            return agent

        # The agents that get messages (creating them also warms up the create path).
        talkers = [await create(f"talker-{i}") for i in range(counts["msg_agents"])]
        ids = [a.id for a in talkers]
        out["talker_hosts"] = len({a.host_id for a in talkers})

        async def send_one(i: int) -> None:
            # A new room every ROOM_LENGTH messages: conversations of a realistic length (longer than
            # the memory window, so trimming runs) keep the figure independent of the count.
            await client.send_message(ids[0], MESSAGES[i % len(MESSAGES)], room_id=f"seq-{i // ROOM_LENGTH}")

        out["send_seq"] = await sequential(send_one, counts["send_seq"], warmup=counts["send_warmup"])

        async def send_many(i: int) -> None:
            # Spread over agents (so over both hosts), rooms and users, like independent conversations.
            reply = await client.send_message(ids[i % len(ids)], MESSAGES[i % len(MESSAGES)],
                                              user_id=f"user-{i % 97}", room_id=f"room-{i % CONCURRENCY}")
            if not reply.text:
                raise RuntimeError("empty reply")

        out["send_cpu"] = CpuMeter(pids)
        out["send_conc"] = await concurrent(send_many, counts["send_conc"], warmup=counts["send_warmup"],
                                            meter=out["send_cpu"])

        # Agents created until RUNNING: one by one, then 32 creates in flight.
        out["create_seq"] = await sequential(lambda i: create(f"one-{i}"), counts["create_seq"],
                                             warmup=counts["create_warmup"])
        out["create_cpu"] = CpuMeter(pids)
        out["create_conc"] = await concurrent(lambda i: create(f"many-{i}"), counts["create_conc"], warmup=0,
                                              meter=out["create_cpu"])

        per_host: dict[str, int] = {}
        for agent in await client.list_agents(status="running"):
            per_host[agent.host_id] = per_host.get(agent.host_id, 0) + 1
        out["per_host"] = dict(sorted(per_host.items()))
        out["total_agents"] = (await client.get_system_status()).total_agents
    return out


# -- report -----------------------------------------------------------------------------------


def machine_info() -> list[tuple[str, str]]:
    cpu_model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    etcd_version = "?"
    with contextlib.suppress(Exception):
        first = subprocess.run(["etcd", "--version"], capture_output=True, text=True, timeout=10).stdout
        etcd_version = first.splitlines()[0].split(":", 1)[1].strip()
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        ("date", datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")),
        ("machine", f"{os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), {cpu_model}"),
        ("load", f"{load} (1/5/15 min, before the run)"),
        ("os", platform.platform()),
        ("python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("grpcio", grpc.__version__),
        ("etcd", etcd_version),
    ]


def filesystem_of(path: Path) -> str:
    with contextlib.suppress(Exception):
        lines = subprocess.run(["df", "-T", str(path)], capture_output=True, text=True, timeout=10).stdout
        parts = lines.splitlines()[-1].split()
        return f"{parts[1]} on {parts[0]}"
    return "?"


def print_table(sections: list[list[tuple[str, str, str]]]) -> None:
    rows = [row for section in sections for row in section]
    header = ("figure", "value", "detail")
    width = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    rule = "+-" + "-+-".join("-" * w for w in width) + "-+"

    def line(row: tuple[str, str, str]) -> str:
        return "| " + " | ".join(cell.ljust(w) for cell, w in zip(row, width, strict=True)) + " |"

    print(rule)
    print(line(header))
    for section in sections:
        print(rule)
        for row in section:
            print(line(row))
    print(rule)


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def report(counts: dict[str, int], echo: tuple[Result, Result, CpuMeter], etcd: tuple[Result, Result, Result],
           system: dict[str, Any], fs: str) -> None:
    echo_seq, echo_conc, echo_cpu = echo
    put_seq, put_conc, get_seq = etcd
    send_seq: Result = system["send_seq"]
    send_conc: Result = system["send_conc"]
    create_seq: Result = system["create_seq"]
    create_conc: Result = system["create_conc"]
    ratio = send_seq.p50 / echo_seq.p50
    ratio_etcd = send_seq.p50 / put_seq.p50

    def errors(r: Result) -> str:
        return f", {r.errors} ERRORS" if r.errors else ""

    def conc_detail(r: Result) -> str:
        return f"p50 {ms(r.p50)}, p99 {ms(r.p99)}, n={r.count}{errors(r)}"

    sections = [
        [
            ("echo sequential p50 / p99", f"{ms(echo_seq.p50)} / {ms(echo_seq.p99)}",
             f"{echo_seq.rate:,.0f} calls/s, n={echo_seq.count}"),
            (f"echo {CONCURRENCY} in flight", f"{echo_conc.rate:,.0f} calls/s", conc_detail(echo_conc)),
            ("  CPU per echo call", *echo_cpu.per_op(echo_conc.count)),
        ],
        [
            ("etcd put sequential p50 / p99", f"{ms(put_seq.p50)} / {ms(put_seq.p99)}",
             f"{put_seq.rate:,.0f} puts/s, n={put_seq.count}; etcd data on {fs}"),
            (f"etcd put {CONCURRENCY} in flight", f"{put_conc.rate:,.0f} puts/s", conc_detail(put_conc)),
            ("etcd get sequential p50", ms(get_seq.p50),
             f"put p50 - get p50 = {ms(put_seq.p50 - get_seq.p50)} (WAL fsync + raft share of a put)"),
        ],
        [
            ("SendMessage sequential p50 / p99", f"{ms(send_seq.p50)} / {ms(send_seq.p99)}",
             f"{send_seq.rate:,.0f} msgs/s, 1 agent, {ROOM_LENGTH} msgs per room, n={send_seq.count}"),
            (f"SendMessage {CONCURRENCY} in flight", f"{send_conc.rate:,.0f} msgs/s",
             f"{conc_detail(send_conc)}; {counts['msg_agents']} agents on {system['talker_hosts']} hosts, "
             f"{CONCURRENCY} rooms"),
            ("  CPU per SendMessage", *system["send_cpu"].per_op(send_conc.count)),
            ("SendMessage p50 / echo p50", f"{ratio:.1f}x", f"aim <= {SEND_AIM:g}x: {verdict(ratio <= SEND_AIM)}"),
            ("SendMessage p50 / etcd put p50", f"{ratio_etcd:.1f}x",
             "every SendMessage waits for one durable etcd txn"),
        ],
        [
            ("agents to RUNNING, one by one", f"{create_seq.rate:,.1f} agents/s",
             f"p50 {ms(create_seq.p50)}, p99 {ms(create_seq.p99)}, n={create_seq.count}"),
            (f"agents to RUNNING, {CONCURRENCY} in flight", f"{create_conc.rate:,.1f} agents/s",
             conc_detail(create_conc)),
            ("  CPU per agent created", *system["create_cpu"].per_op(create_conc.count)),
            (f"agents/s ({CONCURRENCY} in flight) vs aim", f"{create_conc.rate:,.1f} agents/s",
             f"aim >= {CREATE_AIM:g}/s: {verdict(create_conc.rate >= CREATE_AIM)}"),
        ],
    ]
    print()
    print_table(sections)
    print(f"cluster at the end: {system['total_agents']} agents; RUNNING per host {system['per_host']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="reduced counts (whole run well under 60 s)")
    parser.add_argument("--keep", action="store_true", help="keep the cluster's data dir (and its logs)")
    parser.add_argument("--echo-server", action="store_true", help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.echo_server:
        asyncio.run(_echo_server())
        return
    if shutil.which("etcd") is None:
        raise SystemExit("etcd is not on PATH (Debian/Ubuntu: apt-get install etcd-server)")
    from elizaos._cluster import LocalCluster, free_port

    counts = QUICK if ns.quick else DEFAULT
    began = time.perf_counter()
    print("ElizaOS foundation benchmark" + (" (--quick)" if ns.quick else ""))
    for key, value in machine_info():
        print(f"  {key:8} {value}")

    print("\n[1/4] raw grpc.aio echo, server in a separate process ...", flush=True)
    with echo_server_process() as (port, pid):
        echo = asyncio.run(bench_echo(port, pid, counts["echo_seq"], counts["echo_conc"]))

    data_dir = Path(tempfile.mkdtemp(prefix="elizaos-bench-"))
    config_file = data_dir / "bench-config.yaml"
    config_file.write_text("max_agents: 5000\n")
    cluster = LocalCluster(data_dir=data_dir / "cluster", port=free_port(), hosts=2, name="bench",
                           config_file=str(config_file), host_args=("--cpu", "64", "--max-agents", "5000"))
    try:
        print("[2/4] starting a LocalCluster: etcd, control plane, 2 agent hosts ...", flush=True)
        cluster.start()
        print(f"      control plane {cluster.target}, etcd 127.0.0.1:{cluster.etcd_port}, data in {data_dir}")
        print("[3/4] plain etcd put/get through aetcd ...", flush=True)
        etcd = asyncio.run(bench_etcd(cluster.etcd_port, counts["etcd_seq"], counts["etcd_conc"]))
        print("[4/4] SendMessage and CreateAgent through the control plane ...", flush=True)
        system = asyncio.run(bench_system(cluster, counts))
        dead = cluster.check()
        if dead:
            print(f"WARNING: processes exited during the run: {dead}; see {data_dir}/cluster/logs", file=sys.stderr)
        fs = filesystem_of(data_dir)
    finally:
        cluster.stop()
        if ns.keep:
            print(f"data dir kept: {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)

    report(counts, echo, etcd, system, fs)
    print(f"total run time {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
