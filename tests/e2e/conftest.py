"""End-to-end fixtures: a whole cluster started with `elizaos up` as a subprocess, as a user would.

`Cluster` runs `elizaos up --port P --hosts 2 --data-dir D --config D/config.yaml --character
examples/characters/eliza.json`, waits for the `ready.` line and, on stop, sends SIGINT, expects
exit code 0 and `stopped.`, and then checks that no etcd / control plane / agent host of that
cluster is left running (they are killed if they are, and the stop fails).

Processes are found through /proc by their command lines, which name the data dir (etcd), the
control-plane port (`python -m controlplane --port P`) and the agent hosts' target
(`python -m agenthost --controlplane 127.0.0.1:P --host-id host-N`).
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ELIZA_JSON = "examples/characters/eliza.json"
ADA_JSON = "examples/characters/ada.json"
SECRET = "not-a-real-key"  # settings.secrets.EXAMPLE_API_KEY of ada.json
LEASE_TTL_SECONDS = 3
CONFIG_YAML = f"cluster: {{host_lease_ttl_seconds: {LEASE_TTL_SECONDS}, heartbeat_interval_ms: 500}}\n"
GRPCURL = Path(sys.executable).parent / "grpcurl"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 40.0

_LIVE: set[Cluster] = set()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env() -> dict[str, str]:
    """The environment without ELIZAOS_* variables (they would configure the control plane)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELIZAOS_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    # A zombie has exited already; its parent just has not reaped it yet.
    if stat.rpartition(")")[2].split()[:1] == ["Z"]:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _follows(args: Sequence[str], flag: str, value: str) -> bool:
    return any(a == flag and b == value for a, b in itertools.pairwise(args))


def cluster_processes(port: int, data_dir: Path) -> list[tuple[int, str]]:
    """(pid, command line) of every live etcd, control plane and agent host of one cluster."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        args = _cmdline(int(entry.name))
        if not args:
            continue
        is_etcd = _follows(args, "--data-dir", str(data_dir / "etcd"))
        is_controlplane = _follows(args, "-m", "controlplane") and _follows(args, "--port", str(port))
        is_host = _follows(args, "-m", "agenthost") and _follows(args, "--controlplane", f"127.0.0.1:{port}")
        if is_etcd or is_controlplane or is_host:
            out.append((int(entry.name), " ".join(args)))
    return out


def host_pid(port: int, host_id: str) -> int:
    """Pid of the agent host `host_id` of the cluster whose control plane listens on `port`."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        args = _cmdline(int(entry.name))
        if (_follows(args, "-m", "agenthost") and _follows(args, "--controlplane", f"127.0.0.1:{port}")
                and _follows(args, "--host-id", host_id)):
            return int(entry.name)
    raise AssertionError(f"no agenthost process with --host-id {host_id} for port {port}")


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


class Cluster:
    """One `elizaos up` subprocess and helpers to drive it with the CLI and grpcurl."""

    def __init__(self, data_dir: Path, *, port: int | None = None, hosts: int = 2,
                 characters: Sequence[str] = (ELIZA_JSON,)) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self.hosts = hosts
        self.characters = tuple(characters)
        self.config_file = self.data_dir / "config.yaml"
        self.proc: subprocess.Popen[str] | None = None
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers: list[threading.Thread] = []
        self._ready = threading.Event()
        # Everything the CLI and grpcurl printed, to look for leaked secrets.
        self.outputs: list[str] = []

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    # -- lifecycle -----------------------------------------------------------------------------

    def _read(self, stream: Any, into: list[str], ready: bool) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))
            if ready and line.startswith("ready."):
                self._ready.set()
        stream.close()

    def start(self, timeout: float = READY_TIMEOUT) -> float:
        """Run `elizaos up` and wait for its `ready.` line; returns how long that took."""
        assert self.proc is None, "already started"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(CONFIG_YAML)
        self.stdout, self.stderr = [], []
        self._ready = threading.Event()
        args = [sys.executable, "-m", "elizaos.cli", "up", "--port", str(self.port), "--hosts", str(self.hosts),
                "--data-dir", str(self.data_dir), "--config", str(self.config_file)]
        for character in self.characters:
            args += ["--character", character]
        started = time.monotonic()
        self.proc = subprocess.Popen(args, cwd=ROOT, env=clean_env(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        _LIVE.add(self)
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout, True), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr, False), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        deadline = started + timeout
        while not self._ready.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                why = (f"exited with code {self.proc.returncode}" if self.proc.returncode is not None
                       else f"printed no `ready.` line within {timeout:.0f}s")
                with contextlib.suppress(AssertionError):
                    self.stop()
                raise AssertionError(f"`elizaos up` {why}\n{self.describe()}")
        return time.monotonic() - started

    def stop(self, timeout: float = STOP_TIMEOUT, sig: signal.Signals = signal.SIGINT) -> None:
        """Signal `elizaos up` (SIGINT: Ctrl-C); it must exit 0, print `stopped.` and leave no process behind."""
        problems = self.interrupt(sig, timeout)
        if problems:
            raise AssertionError("; ".join(problems) + "\n" + self.describe())

    def interrupt(self, sig: signal.Signals, timeout: float = STOP_TIMEOUT) -> list[str]:
        """Send `sig` to `elizaos up`, wait for it to exit and kill whatever it left running.

        Returns what went wrong (empty when it exited 0, printed `stopped.` and left nothing).
        """
        problems: list[str] = []
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                problems.append(f"`elizaos up` did not exit within {timeout:.0f}s of {sig.name}; killed it")
                proc.kill()
                proc.wait()
            for reader in self._readers:
                reader.join(5)
            if proc.returncode != 0:
                problems.append(f"`elizaos up` exited with code {proc.returncode}, expected 0")
            if "stopped." not in self.stdout:
                problems.append("`elizaos up` did not print `stopped.`")
        leftovers = cluster_processes(self.port, self.data_dir)
        if leftovers:
            time.sleep(1.0)  # give exiting processes a moment before calling them leftovers
            leftovers = cluster_processes(self.port, self.data_dir)
        for pid, cmdline in leftovers:
            _kill(pid)
            problems.append(f"left running (killed now): pid {pid}: {cmdline}")
        _LIVE.discard(self)
        return problems

    def kill_everything(self) -> None:
        """Last resort: SIGKILL `elizaos up` and every process of this cluster."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        for pid, _ in cluster_processes(self.port, self.data_dir):
            _kill(pid)
        _LIVE.discard(self)

    def describe(self) -> str:
        """Output of `elizaos up` and the tails of the cluster's logs, for failure messages."""
        parts = ["--- elizaos up stdout ---", *self.stdout, "--- elizaos up stderr ---", *self.stderr]
        logs = self.data_dir / "logs"
        if logs.is_dir():
            for log in sorted(logs.glob("*.log")):
                parts += [f"--- {log.name} (tail) ---", log.read_text(errors="replace")[-1500:]]
        return "\n".join(parts)

    def log(self, name: str) -> str:
        path = self.data_dir / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- clients -------------------------------------------------------------------------------

    def cli(self, *args: str, input: str | None = None, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run `elizaos --target <this cluster> ARGS...`."""
        result = subprocess.run([sys.executable, "-m", "elizaos.cli", "--target", self.target, *args], cwd=ROOT,
                                env=clean_env(), input=input, capture_output=True, text=True, timeout=timeout,
                                stdin=None if input is not None else subprocess.DEVNULL)
        self.outputs += [result.stdout, result.stderr]
        return result

    def cli_ok(self, *args: str, input: str | None = None) -> str:
        """Run the CLI, assert it exits 0, return its stdout."""
        result = self.cli(*args, input=input)
        assert result.returncode == 0, (f"elizaos {' '.join(args)} exited {result.returncode}\n"
                                        f"stdout: {result.stdout}\nstderr: {result.stderr}")
        return result.stdout

    def cli_json(self, *args: str) -> Any:
        return json.loads(self.cli_ok(*args, "--json"))

    def grpcurl(self, *args: str, data: Any = None, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run `grpcurl -plaintext [-d DATA] ARGS...` against this cluster (target inserted before the last
        argument when that is a method or `list`/`describe` argument)."""
        if not GRPCURL.exists():
            pytest.skip(f"grpcurl not installed at {GRPCURL}")
        cmd = [str(GRPCURL), "-plaintext", "-max-time", "30"]
        if data is not None:
            cmd += ["-d", data if isinstance(data, str) else json.dumps(data)]
        cmd += [*args[:-1], self.target, args[-1]] if args and args[0] not in ("list", "describe") else [
            self.target, *args]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        self.outputs += [result.stdout, result.stderr]
        return result

    def call(self, method: str, data: Any = None) -> Any:
        """A successful grpcurl call of `method` (e.g. elizaos.v1.AgentService/GetAgent), parsed."""
        result = self.grpcurl(method, data=data if data is not None else {})
        assert result.returncode == 0, f"{method} failed ({result.returncode}): {result.stdout}{result.stderr}"
        return json.loads(result.stdout)

    def call_error(self, method: str, data: Any) -> tuple[int, dict[str, Any]]:
        """A failing grpcurl call: (exit code, the error as JSON from -format-error)."""
        result = self.grpcurl("-format-error", method, data=data)
        assert result.returncode != 0, f"{method} {data!r} unexpectedly succeeded: {result.stdout}"
        text = result.stdout + result.stderr
        start = text.find("{")
        assert start >= 0, f"no JSON error in grpcurl output: {text}"
        error, _ = json.JSONDecoder().raw_decode(text[start:])
        return result.returncode, error


@atexit.register
def _kill_leftovers() -> None:  # pragma: no cover - only when a run is cut short
    for cluster in list(_LIVE):
        cluster.kill_everything()


def _require_binaries() -> None:
    if shutil.which("etcd") is None:
        pytest.skip("the etcd binary is not on PATH")


@contextlib.contextmanager
def running_cluster(data_dir: Path, **kwargs: Any) -> Iterator[Cluster]:
    """A started cluster, stopped (and checked) on exit, killed if stopping fails."""
    _require_binaries()
    cluster = Cluster(data_dir, **kwargs)
    try:
        cluster.start()
        yield cluster
    finally:
        try:
            cluster.stop()
        finally:
            cluster.kill_everything()


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]) -> Callable[[str], None]:
    """Print past pytest's output capture, so measured timings show in a normal run."""

    def _report(message: str) -> None:
        with capsys.disabled():
            print(f"\n[e2e] {message}", flush=True)

    return _report


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One cluster per test module (eliza.json loaded), for tests that do not break it."""
    with running_cluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running


@pytest.fixture
def fresh_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A cluster of its own, for destructive tests (failover, restart)."""
    with running_cluster(tmp_path_factory.mktemp("fresh")) as running:
        yield running
