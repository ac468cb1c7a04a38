"""Cost of tracing on the SendMessage path, in one process (run by hand, not a test).

    .venv/bin/python bench/bench_tracing.py [--requests 2000]

Starts a throwaway etcd, one control plane and one agent host in this process, then sends
messages in three modes, interleaved request by request so machine noise hits all modes
alike: no tracer provider (the default), an SDK provider exporting to memory (every span
recorded), and an SDK provider that samples nothing. Prints p50/p99 per mode and the ratio to
the untraced p50.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON  # noqa: E402

from elizaos.v1 import character_pb2  # noqa: E402
from tests.integration.harness import Cluster  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_etcd(data: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("etcd")
    if binary is None:
        raise SystemExit("etcd is not installed (make bench installs it)")
    client, peer = free_port(), free_port()
    proc = subprocess.Popen([binary, "--name", "b", "--data-dir", str(data), "--listen-client-urls",
                             f"http://127.0.0.1:{client}", "--advertise-client-urls", f"http://127.0.0.1:{client}",
                             "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls",
                             f"http://127.0.0.1:{peer}", "--initial-cluster", f"b=http://127.0.0.1:{peer}",
                             "--log-level", "error", "--logger", "zap"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{client}/health", timeout=1) as response:
                if json.loads(response.read()).get("health") == "true":
                    return proc, f"127.0.0.1:{client}"
        except OSError:
            time.sleep(0.05)
    raise SystemExit("etcd did not start")


async def run(requests: int) -> None:
    exporter = InMemorySpanExporter()
    recording = TracerProvider(sampler=ALWAYS_ON)
    recording.add_span_processor(SimpleSpanProcessor(exporter))
    unsampled = TracerProvider(sampler=ALWAYS_OFF)
    modes: dict[str, TracerProvider | None] = {"no provider": None, "recorded": recording, "not sampled": unsampled}
    with tempfile.TemporaryDirectory() as tmp:
        etcd, endpoint = start_etcd(Path(tmp) / "etcd")
        cluster = Cluster(endpoint)
        try:
            await cluster.start_plane()
            await cluster.add_host()
            assert cluster.client is not None
            agent = await cluster.client.create_agent(character_pb2.Character(name="Bench"),
                                                      plugins=["calculator", "time"], wait=10)
            timings: dict[str, list[float]] = {mode: [] for mode in modes}
            spans = 0
            for i in range(requests + 200):
                for mode, provider in modes.items():
                    # The API's proxy provider delegates to whatever this points at.
                    trace._TRACER_PROVIDER = provider
                    start = time.perf_counter()
                    await cluster.client.send_message(agent.id, "what is 6*7?", room_id=f"r{i // 100}")
                    if i >= 200:  # warm-up
                        timings[mode].append(time.perf_counter() - start)
                spans += len(exporter.get_finished_spans())
                exporter.clear()
            base = statistics.median(timings["no provider"])
            print(f"SendMessage in one process, {requests} requests per mode, interleaved; "
                  f"{spans / (requests + 200):.1f} spans recorded per traced message")
            print(f"{'mode':<14} {'p50':>9} {'p99':>9} {'p50 / untraced':>15}")
            for mode, values in timings.items():
                values.sort()
                p50, p99 = statistics.median(values), values[int(len(values) * 0.99)]
                print(f"{mode:<14} {p50 * 1e3:>7.3f}ms {p99 * 1e3:>7.3f}ms {p50 / base:>14.2f}x")
        finally:
            await cluster.stop()
            etcd.terminate()
            etcd.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per mode")
    asyncio.run(run(parser.parse_args().requests))


if __name__ == "__main__":
    main()
