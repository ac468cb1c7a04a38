"""Event fan-out: how fast the control plane delivers events to many concurrent WatchEvents streams.

Run by hand (it is not a test):

    .venv/bin/python bench/bench_events.py            # E = 2,000 events per W: about 1 minute on 2 cores
    .venv/bin/python bench/bench_events.py --quick    # E = 300 events per W: about 15 s
    .venv/bin/python bench/bench_events.py --profile  # control plane under cProfile (slower; prints its top)

It starts a LocalCluster (etcd, one control plane, one agent host; temporary data dir, free
ports), then for W = 1, 10 and 100 watchers:

1. starts the watchers in SEPARATE processes (W = 1: one process; otherwise 2 processes with
   W/2 streams each, one channel per process), each a `watch_events(types=["bench:"])` stream
   that time-stamps (time.time) every event it receives;
2. emits barrier events until every watcher has seen one (so every stream is subscribed), then
   a few unmeasured warm-up events and another barrier;
3. emits E events with `emit_event("bench:event", {"seq": i, "t": time.time()})`, 32 emits in
   flight, from this process, and waits until every watcher has all E;
4. checks every watcher got each event exactly once, with the revision EmitEvent returned, in
   revision order; and computes deliveries/s (W x E / time from the first emit to the last
   delivery) and the lag of every delivery (receive time - emit time, same machine clock).

A last phase repeats W = 100 with emits paced at 5,000 deliveries/s worth (50 emits/s, --pace),
which shows the lag when the control plane is not saturated.

**Aims (W = 100, 32 emits in flight): at least 5,000 deliveries/s, p99 lag at most 50 ms.**
CPU per delivery is read from /proc for every process. See bench/README.md, "Event fan-out".
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import pickle
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "clients" / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_agents import print_grid  # noqa: E402
from bench_foundation import (  # noqa: E402
    CONCURRENCY,
    CpuMeter,
    Result,
    concurrent,
    machine_info,
    ms,
    verdict,
    wait_for_hosts,
)

WATCHER_COUNTS = (1, 10, 100)
WORKERS = 2  # watcher processes (when W > 1)
TYPES = ("bench:",)
EVENT_TYPE = "bench:event"
BARRIER_TYPE = "bench:barrier"
WARMUP_TYPE = "bench:warmup"
DEFAULT = dict(events=2000, warmup=200, paced=1000)
QUICK = dict(events=300, warmup=50, paced=250)
DELIVERY_AIM = 5000.0  # deliveries per second at W = 100: at least this
LAG_AIM = 0.050  # p99 lag (receive - emit) at W = 100: at most this
READY_TIMEOUT = 30.0  # seconds for all streams to be subscribed
DRAIN_TIMEOUT = 60.0  # seconds after the last emit for the last delivery


# -- watcher process --------------------------------------------------------------------------


def write_results(path: str, results: dict[str, Any]) -> None:
    with open(path, "wb") as fh:
        pickle.dump(results, fh)


async def _watcher_process(target: str, count: int, events: int, out_path: str) -> None:
    """Child process: `count` WatchEvents streams; reports barriers on stdout, results to `out_path`.

    stdout lines: `barrier K` once every stream has seen barrier K (or a later one), `complete`
    once every stream has all `events` measured events, `done` once the results are written.
    stdin EOF (the parent is done, or dead) stops the streams where they are.
    """
    from elizaos import ElizaOSClient

    loop = asyncio.get_running_loop()
    barrier = [0] * count  # last barrier seen, per stream
    reported = 0
    seqs = [array.array("q") for _ in range(count)]
    revisions = [array.array("q") for _ in range(count)]
    received = [array.array("d") for _ in range(count)]
    emitted = [array.array("d") for _ in range(count)]
    stamped = [array.array("d") for _ in range(count)]  # the event's own timestamp (set by the control plane)
    disorder = [0] * count  # events whose revision was not above the previous one on the stream
    duplicates = [0] * count
    other = [0] * count  # warm-up events and unexpected types

    def say(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    async with ElizaOSClient(target, timeout=30) as client:

        async def watch(i: int) -> None:
            nonlocal reported
            seen = bytearray(events)
            distinct = 0
            last = 0
            now = time.time
            stream = cast(AsyncGenerator[Any, None], client.watch_events(types=TYPES))
            async with contextlib.aclosing(stream):
                async for event in stream:
                    t = now()
                    if event.revision <= last:
                        disorder[i] += 1
                    last = event.revision
                    if event.type == EVENT_TYPE:
                        seq = int(event.data.fields["seq"].number_value)
                        seqs[i].append(seq)
                        revisions[i].append(event.revision)
                        received[i].append(t)
                        emitted[i].append(event.data.fields["t"].number_value)
                        stamped[i].append(event.timestamp.seconds + event.timestamp.nanos * 1e-9)
                        if 0 <= seq < events and not seen[seq]:
                            seen[seq] = 1
                            distinct += 1
                            if distinct == events:
                                return
                        else:
                            duplicates[i] += 1
                    elif event.type == BARRIER_TYPE:
                        barrier[i] = int(event.data.fields["n"].number_value)
                        lowest = min(barrier)
                        if lowest > reported:
                            reported = lowest
                            say(f"barrier {lowest}")
                    else:
                        other[i] += 1

        tasks = [asyncio.create_task(watch(i)) for i in range(count)]
        stop = loop.run_in_executor(None, sys.stdin.read)  # returns at EOF
        all_done = asyncio.gather(*tasks)
        await asyncio.wait([all_done, stop], return_when=asyncio.FIRST_COMPLETED)
        if all_done.done() and not all_done.cancelled() and all_done.exception() is None:
            say("complete")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(BaseException):
            await all_done  # retrieved, so asyncio does not log it
        errors = [repr(t.exception()) for t in tasks if not t.cancelled() and t.exception() is not None]
    write_results(out_path, dict(seqs=seqs, revisions=revisions, received=received, emitted=emitted,
                                 stamped=stamped, disorder=disorder, duplicates=duplicates, other=other,
                                 errors=errors))
    say("done")
    await stop  # wait for EOF: the parent closes stdin once it has read the results


class WatcherProcess:
    """The parent's handle on one watcher process: its stdout lines as state."""

    changed: asyncio.Event  # set whenever any watcher process says something (made in bench_all)

    def __init__(self, proc: asyncio.subprocess.Process, out_path: Path, count: int) -> None:
        self.proc = proc
        self.out_path = out_path
        self.count = count
        self.barrier = 0
        self.complete = False
        self.done = False
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, target: str, count: int, events: int, out_path: Path) -> WatcherProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--watcher-process", target, str(count), str(events), str(out_path),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        return cls(proc, out_path, count)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            line = raw.decode().strip()
            if line.startswith("barrier "):
                self.barrier = int(line.split()[1])
            elif line == "complete":
                self.complete = True
            elif line == "done":
                self.done = True
            WatcherProcess.changed.set()
        WatcherProcess.changed.set()

    def finish(self) -> None:
        """Close stdin: the process stops watching, writes its results (if not yet) and exits."""
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()

    async def stop(self) -> None:
        self.finish()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader


async def wait_until(workers: list[WatcherProcess], check: Any, timeout: float) -> bool:
    """Whether `check(worker)` became true for every worker within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    changed = WatcherProcess.changed
    while True:
        changed.clear()  # before checking: a line read after the check sets it again
        if all(check(w) for w in workers):
            return True
        left = deadline - time.monotonic()
        if left <= 0 or any(w.proc.returncode is not None and not check(w) for w in workers):
            return False
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(changed.wait(), min(left, 0.1))


# -- control-plane metrics --------------------------------------------------------------------


def hub_lag(port: int) -> dict[str, float]:
    """The control plane's elizaos_event_lag_seconds histogram (event timestamp -> fan-out) as sums."""
    out: dict[str, float] = {}
    with contextlib.suppress(OSError, ValueError):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            for line in response.read().decode().splitlines():
                if line.startswith("elizaos_event_lag_seconds"):
                    name, value = line.rsplit(" ", 1)
                    out[name] = float(value)
    return out


def hub_lag_summary(before: dict[str, float], after: dict[str, float]) -> str:
    """`mean 2.10 ms, p99 <= 5 ms (n=2000)`: hub lag between two readings."""
    count = after.get("elizaos_event_lag_seconds_count", 0) - before.get("elizaos_event_lag_seconds_count", 0)
    if count <= 0:
        return "not available"
    total = after.get("elizaos_event_lag_seconds_sum", 0) - before.get("elizaos_event_lag_seconds_sum", 0)
    buckets = []
    for name, value in after.items():
        if name.startswith("elizaos_event_lag_seconds_bucket{") and 'le="+Inf"' not in name:
            le = float(name.split('le="', 1)[1].split('"', 1)[0])
            buckets.append((le, value - before.get(name, 0)))
    p99 = next((le for le, n in sorted(buckets) if n >= 0.99 * count), float("inf"))
    return f"mean {ms(total / count)}, p99 <= {p99 * 1000:g} ms (n={count:,.0f})"


# -- one phase: W watchers, E events -----------------------------------------------------------


def percentile(data: list[float], q: float) -> float:
    return data[min(len(data) - 1, int(q * len(data)))] if data else float("nan")


async def paced(op: Any, n: int, rate: float) -> Result:
    """`n` calls started at a fixed `rate` per second (each as soon as due, however many are in flight)."""
    latencies: list[float] = []
    errors = 0

    async def timed(i: int) -> None:
        nonlocal errors
        t0 = time.perf_counter()
        try:
            await op(i)
        except Exception as exc:
            errors += 1
            if errors <= 3:
                print(f"    error: {type(exc).__name__}: {exc}", file=sys.stderr)
            return
        latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    tasks = []
    for i in range(n):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(timed(i)))
    await asyncio.gather(*tasks)
    return Result(latencies, time.perf_counter() - start, errors)


async def bench_one(cluster: Any, client: Any, watchers: int, events: int, warmup: int, tmp: Path,
                    pace: float = 0.0) -> dict[str, Any]:
    """One phase: `watchers` streams in separate processes, `events` emits (32 in flight, or `pace`/s)."""
    procs = 1 if watchers == 1 else WORKERS
    sizes = [watchers // procs + (1 if i < watchers % procs else 0) for i in range(procs)]
    workers: list[WatcherProcess] = []
    out: dict[str, Any] = {"w": watchers, "sizes": sizes, "events": events, "pace": pace}
    barrier = 0

    async def sync(timeout: float) -> bool:
        """Emit barrier events until every stream has seen one emitted after this call began."""
        nonlocal barrier
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            barrier += 1
            await client.emit_event(BARRIER_TYPE, {"n": barrier})
            if await wait_until(workers, lambda w, k=barrier: w.barrier >= k, 0.2):
                return True
        return False

    try:
        tag = f"w{watchers}-{'paced' if pace else 'flight'}"
        for i, size in enumerate(sizes):
            workers.append(await WatcherProcess.start(cluster.target, size, events, tmp / f"{tag}-{i}.pickle"))
        began = time.monotonic()
        if not await sync(READY_TIMEOUT):
            raise RuntimeError(f"{watchers} watchers were not all subscribed after {READY_TIMEOUT:.0f}s")
        out["subscribe_time"] = time.monotonic() - began

        async def warm(i: int) -> None:
            await client.emit_event(WARMUP_TYPE, {"seq": i, "t": time.time()})

        await concurrent(warm, warmup, warmup=0)
        if not await sync(READY_TIMEOUT):
            raise RuntimeError("the warm-up events were not all delivered")

        revisions = [0] * events

        async def emit(i: int) -> None:
            event = await client.emit_event(EVENT_TYPE, {"seq": i, "t": time.time()})
            revisions[i] = event.revision

        pids = {name: proc.pid for name, proc in cluster.processes.items()}
        pids.update({f"watchers-{i}": w.proc.pid for i, w in enumerate(workers)})
        meter = CpuMeter(pids)
        lag_before = hub_lag(cluster.metrics_ports["controlplane"])
        meter.start()
        first_emit = time.time()
        emits = await (paced(emit, events, pace) if pace else concurrent(emit, events, warmup=0))
        out["all_delivered"] = await wait_until(workers, lambda w: w.complete, DRAIN_TIMEOUT)
        meter.stop()
        out["hub_lag"] = hub_lag_summary(lag_before, hub_lag(cluster.metrics_ports["controlplane"]))
        if not out["all_delivered"]:
            print(f"      not every watcher had all {events:,} events {DRAIN_TIMEOUT:.0f} s after the last emit",
                  file=sys.stderr)
        for w in workers:
            w.finish()  # a complete worker has written its results; an incomplete one does now
        if not await wait_until(workers, lambda w: w.done, 30):
            raise RuntimeError("a watcher process did not write its results")
    finally:
        await asyncio.gather(*(w.stop() for w in workers))
    out.update(emits=emits, cpu=meter)
    out.update(summarize(workers, revisions, first_emit))
    out["ok"] = (out["delivered"] == watchers * out["emitted"] and out["all_delivered"] and not emits.errors
                 and not any(out[k] for k in ("missing", "duplicates", "disorder", "wrong", "errors")))
    return out


def summarize(workers: list[WatcherProcess], revisions: list[int], first_emit: float) -> dict[str, Any]:
    """Checks (every event once, right revision, in order) and lag figures from the watchers' results."""
    expected = {i: rev for i, rev in enumerate(revisions) if rev}  # seq -> revision, for emits that succeeded
    lags: list[float] = []  # receive - emit (time.time before the EmitEvent call)
    fanout: list[float] = []  # receive - the event's timestamp (taken by the control plane before its etcd write)
    last_receive = first_emit
    delivered = missing = duplicates = disorder = wrong = 0
    errors: list[str] = []
    for w in workers:
        with open(w.out_path, "rb") as fh:
            data = pickle.load(fh)
        errors += data["errors"]
        for i in range(w.count):
            seqs, revs, recv = data["seqs"][i], data["revisions"][i], data["received"][i]
            delivered += len(seqs)
            duplicates += data["duplicates"][i]
            disorder += data["disorder"][i]
            missing += len(expected.keys() - set(seqs))
            wrong += sum(1 for s, r in zip(seqs, revs, strict=True) if expected.get(s) != r)
            lags.extend(r - s for r, s in zip(recv, data["emitted"][i], strict=True))
            fanout.extend(r - s for r, s in zip(recv, data["stamped"][i], strict=True))
            if recv:
                last_receive = max(last_receive, max(recv))
    lags.sort()
    fanout.sort()
    span = last_receive - first_emit
    return dict(
        emitted=len(expected), delivered=delivered, missing=missing, duplicates=duplicates, disorder=disorder,
        wrong=wrong, errors=errors, span=span, rate=delivered / span if span > 0 else float("nan"),
        lag_p50=percentile(lags, 0.5), lag_p99=percentile(lags, 0.99), lag_max=lags[-1] if lags else float("nan"),
        lag_mean=statistics.fmean(lags) if lags else float("nan"), fanout_p50=percentile(fanout, 0.5),
        fanout_p99=percentile(fanout, 0.99), fanout_max=fanout[-1] if fanout else float("nan"),
    )


async def bench_all(cluster: Any, counts: dict[str, int], tmp: Path, watcher_counts: list[int],
                    pace: float) -> list[dict[str, Any]]:
    from elizaos import ElizaOSClient

    phases = [(w, counts["events"], 0.0) for w in watcher_counts]
    if pace:
        phases.append((max(watcher_counts), counts["paced"], pace))
    results = []
    WatcherProcess.changed = asyncio.Event()
    async with ElizaOSClient(cluster.target, timeout=30) as client:
        await wait_for_hosts(client, cluster.hosts)
        for watchers, events, rate in phases:
            how = f"paced at {rate:g} emits/s" if rate else f"{CONCURRENCY} emits in flight"
            print(f"[W={watchers}] {watchers} watchers in {1 if watchers == 1 else WORKERS} processes, "
                  f"{events:,} events, {how} ...", flush=True)
            r = await bench_one(cluster, client, watchers, events, counts["warmup"], tmp, rate)
            print(f"      {r['delivered']:,}/{watchers * r['emitted']:,} deliveries in {r['span']:.2f} s "
                  f"({r['rate']:,.0f}/s), lag p99 {ms(r['lag_p99'])}; streams subscribed in "
                  f"{r['subscribe_time']:.2f} s", flush=True)
            results.append(r)
    return results


# -- report -----------------------------------------------------------------------------------


def cpu_by_group(meter: CpuMeter) -> dict[str, float]:
    """CPU seconds by process group: etcd, controlplane, hosts, watchers, emitter (this process)."""
    groups: dict[str, float] = {}
    for name, seconds in meter.used.items():
        key = ("hosts" if name.startswith("host-") else "watchers" if name.startswith("watchers-")
               else "emitter" if name == "client" else name)
        groups[key] = groups.get(key, 0.0) + seconds
    return groups


def emits_label(r: dict[str, Any]) -> str:
    return f"paced {r['pace']:g}/s" if r["pace"] else f"{CONCURRENCY} in flight"


def report(results: list[dict[str, Any]]) -> None:
    top = max(r["w"] for r in results)
    header = ("W", "emits", "deliveries", "check", "deliveries/s", "emits/s", "lag p50", "lag p99", "lag max",
              "CP CPU/delivery", "CP CPU/event", f"aim >= {DELIVERY_AIM:,.0f}/s", f"aim p99 <= {LAG_AIM * 1000:g} ms")
    rows: list[tuple[str, ...]] = []
    for r in results:
        cp = cpu_by_group(r["cpu"]).get("controlplane", 0.0)
        problems = [f"{r[k]} {k}" for k in ("missing", "duplicates", "disorder", "wrong") if r[k]]
        if r["emits"].errors:
            problems.append(f"{r['emits'].errors} emit errors")
        if r["errors"]:
            problems.append(f"{len(r['errors'])} stream errors")
        if not r["all_delivered"]:
            problems.append("incomplete")
        aimed = r["w"] == top
        rows.append((
            f"{r['w']:,}",
            emits_label(r),
            f"{r['delivered']:,}/{r['w'] * r['emitted']:,}",
            "OK" if r["ok"] and not problems else "FAIL " + ", ".join(problems),
            f"{r['rate']:,.0f}",
            f"{r['emits'].rate:,.0f}",
            ms(r["lag_p50"]),
            ms(r["lag_p99"]),
            ms(r["lag_max"]),
            f"{cp / max(r['delivered'], 1) * 1e6:,.1f} us",
            f"{cp / max(r['events'], 1) * 1e3:.2f} ms",
            verdict(r["rate"] >= DELIVERY_AIM) if aimed and not r["pace"] else "-",
            verdict(r["lag_p99"] <= LAG_AIM) if aimed else "-",
        ))
    print()
    print_grid(header, rows)

    print("\ndetails:")
    for r in results:
        groups = cpu_by_group(r["cpu"])
        total = sum(groups.values())
        emits: Result = r["emits"]
        parts = ", ".join(f"{name} {seconds / r['events'] * 1000:.2f}" for name, seconds in groups.items())
        print(f"  W={r['w']:,}, {emits_label(r)} ({' + '.join(map(str, r['sizes']))} streams): {r['events']:,} events "
              f"emitted in {emits.elapsed:.2f} s ({emits.rate:,.0f}/s, EmitEvent p50 {ms(emits.p50)}, "
              f"p99 {ms(emits.p99)}{f', {emits.errors} ERRORS' if emits.errors else ''}); last delivery "
              f"{r['span']:.2f} s after the first emit; lag mean {ms(r['lag_mean'])}")
        print(f"    CPU per event: {total / r['events'] * 1000:.2f} ms, by process (ms): {parts}")
        print(f"    from the event's own timestamp (taken in EmitEvent before the etcd write): to the hub's fan-out "
              f"{r['hub_lag']}; to receipt p50 {ms(r['fanout_p50'])}, p99 {ms(r['fanout_p99'])}, "
              f"max {ms(r['fanout_max'])}")
        for error in r["errors"][:3]:
            print(f"    stream error: {error}")
    flight = {r["w"]: r for r in results if not r["pace"]}
    if len(flight) >= 2:
        low, high = min(flight), max(flight)
        per_event = {w: cpu_by_group(flight[w]["cpu"]).get("controlplane", 0.0) / flight[w]["events"]
                     for w in (low, high)}
        print(f"  control-plane CPU per event grows from {per_event[low] * 1000:.2f} ms (W={low}) to "
              f"{per_event[high] * 1000:.2f} ms (W={high}): "
              f"{(per_event[high] - per_event[low]) / (high - low) * 1e6:.1f} us per extra watcher per event")
    if top in flight:
        r = flight[top]
        print(f"aims at W={top}, {CONCURRENCY} emits in flight: deliveries/s {r['rate']:,.0f} (aim >= "
              f"{DELIVERY_AIM:,.0f}): {verdict(r['rate'] >= DELIVERY_AIM)}; lag p99 {ms(r['lag_p99'])} "
              f"(aim <= {LAG_AIM * 1000:g} ms): {verdict(r['lag_p99'] <= LAG_AIM)}")


# -- main -------------------------------------------------------------------------------------


def make_cluster(data_dir: Path, profile: Path | None) -> Any:
    """A LocalCluster with 1 host; with `profile`, the control plane runs under cProfile."""
    from elizaos._cluster import LocalCluster, free_port

    class ProfiledCluster(LocalCluster):
        def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
            if profile is not None and name == "controlplane" and args[:2] == [sys.executable, "-m"]:
                args = [sys.executable, "-m", "cProfile", "-o", str(profile), *args[1:]]
            return super()._spawn(name, args)

    return ProfiledCluster(data_dir=data_dir / "cluster", port=free_port(), hosts=1, name="bench")


def print_profile(path: Path, limit: int = 25) -> None:
    import pstats

    if not path.exists():
        print(f"no profile written at {path} (the control plane did not exit cleanly?)")
        return
    print(f"\ncontrol-plane profile ({path}), top {limit} by own time:")
    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(limit)
    print(f"top {limit} by cumulative time:")
    stats.sort_stats("cumulative").print_stats(limit)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"E = {QUICK['events']} events per W")
    parser.add_argument("--events", type=int, default=0, help="events per W (default 2,000; --quick 300)")
    parser.add_argument("--watchers", default="", help="comma-separated W (default 1,10,100)")
    parser.add_argument("--pace", type=float, default=-1.0,
                        help="emits/s of the extra paced phase at the largest W (default: 5,000 deliveries/s "
                             "worth, i.e. 50/s at W = 100; 0: no paced phase)")
    parser.add_argument("--profile", action="store_true", help="run the control plane under cProfile")
    parser.add_argument("--keep", action="store_true", help="keep the cluster's data dir (and its logs)")
    parser.add_argument("--watcher-process", nargs=4, help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.watcher_process:
        target, count, events, out_path = ns.watcher_process
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent, which stops us
        asyncio.run(_watcher_process(target, int(count), int(events), out_path))
        return
    if shutil.which("etcd") is None:
        raise SystemExit("etcd is not on PATH (Debian/Ubuntu: apt-get install etcd-server)")
    counts = dict(QUICK if ns.quick else DEFAULT)
    if ns.events:
        counts["events"] = ns.events
    try:
        watcher_counts = [int(w) for w in ns.watchers.split(",") if w.strip()] if ns.watchers else list(WATCHER_COUNTS)
    except ValueError:
        parser.error(f"--watchers {ns.watchers!r}: expected numbers such as 1,10,100")
    if not watcher_counts or min(watcher_counts) < 1 or counts["events"] < 1:
        parser.error("--watchers and --events need positive numbers")
    pace = DELIVERY_AIM / max(watcher_counts) if ns.pace < 0 else ns.pace

    began = time.perf_counter()
    print("ElizaOS event fan-out" + (" (--quick)" if ns.quick else "") + (" (--profile)" if ns.profile else "")
          + f": W = {watcher_counts}, E = {counts['events']:,}"
          + (f"; then W = {max(watcher_counts)} paced at {pace:g} emits/s, E = {counts['paced']:,}" if pace else ""))
    for key, value in machine_info():
        print(f"  {key:8} {value}")

    data_dir = Path(tempfile.mkdtemp(prefix="elizaos-bench-events-"))
    profile = data_dir / "controlplane.prof" if ns.profile else None
    cluster = make_cluster(data_dir, profile)
    try:
        print("\nstarting a LocalCluster: etcd, control plane, 1 agent host ...", flush=True)
        cluster.start()
        print(f"      control plane {cluster.target}, data in {data_dir}", flush=True)
        results = asyncio.run(bench_all(cluster, counts, data_dir, watcher_counts, pace))
        dead = cluster.check()
        if dead:
            print(f"WARNING: processes exited during the run: {dead}; see {data_dir}/cluster/logs", file=sys.stderr)
    finally:
        cluster.stop()
        if profile is not None:
            print_profile(profile)
        if ns.keep:
            print(f"data dir kept: {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)

    report(results)
    print(f"total run time {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
