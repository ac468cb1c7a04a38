"""A whole cluster on this machine as child processes: etcd, one control plane, N agent hosts.

`elizaos up` uses it. The data dir keeps etcd's data, the ports chosen on first start (so a
second start finds the same cluster) and one log file per process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


class ClusterError(RuntimeError):
    """The local cluster could not be started."""


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        # Servers set SO_REUSEADDR, so a port in TIME_WAIT from a previous run is free for them.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclasses.dataclass
class LocalCluster:
    """Starts and stops the processes of a one-machine cluster."""

    data_dir: Path
    port: int = 50051
    hosts: int = 2
    name: str = "elizaos"
    config_file: str | None = None
    host_args: tuple[str, ...] = ()
    controlplane_args: tuple[str, ...] = ()
    processes: dict[str, subprocess.Popen[bytes]] = dataclasses.field(default_factory=dict)
    etcd_port: int = 0
    metrics_ports: dict[str, int] = dataclasses.field(default_factory=dict)
    """Prometheus /metrics port of each process (free ports, chosen at start)."""

    @property
    def target(self) -> str:
        """Where the control plane listens."""
        return f"127.0.0.1:{self.port}"

    def _log(self, name: str) -> Path:
        path = self.data_dir / "logs" / f"{name}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = self._log(name).open("ab")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
        log.close()
        self.processes[name] = proc
        return proc

    def _ports(self) -> tuple[int, int]:
        """etcd client and peer ports: chosen on first start, kept in the data dir after."""
        path = self.data_dir / "cluster.json"
        if path.exists():
            saved = json.loads(path.read_text())
            return int(saved["etcd_client_port"]), int(saved["etcd_peer_port"])
        client, peer = free_port(), free_port()
        path.write_text(json.dumps({"etcd_client_port": client, "etcd_peer_port": peer}))
        return client, peer

    def start_etcd(self) -> None:
        """Start etcd with auto-compaction and an explicit quota; wait until it is healthy."""
        binary = shutil.which("etcd")
        if binary is None:
            raise ClusterError("the etcd binary is not on PATH; install it (Debian/Ubuntu: apt-get install "
                               "etcd-server) or run `make run`, which does")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        client, peer = self._ports()
        for port in (client, peer):
            if not _port_free(port):
                raise ClusterError(f"port {port} (etcd, from {self.data_dir / 'cluster.json'}) is in use; "
                                   "is another `elizaos up` running on this data dir?")
        self.etcd_port = client
        self._spawn("etcd", [
            binary, "--name", "elizaos", "--data-dir", str(self.data_dir / "etcd"),
            "--listen-client-urls", f"http://127.0.0.1:{client}",
            "--advertise-client-urls", f"http://127.0.0.1:{client}",
            "--listen-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"elizaos=http://127.0.0.1:{peer}",
            "--auto-compaction-mode", "periodic", "--auto-compaction-retention", "1h",
            "--quota-backend-bytes", str(2 * 1024**3),
            "--logger", "zap", "--log-level", "warn",
        ])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            self._check_alive("etcd")
            with contextlib.suppress(OSError, ValueError):
                with urllib.request.urlopen(f"http://127.0.0.1:{client}/health", timeout=1) as response:
                    if json.loads(response.read()).get("health") == "true":
                        return
            time.sleep(0.1)
        raise ClusterError(f"etcd did not become healthy; see {self._log('etcd')}")

    def _check_alive(self, name: str) -> None:
        proc = self.processes[name]
        if proc.poll() is not None:
            tail = self._log(name).read_text(errors="replace")[-2000:]
            raise ClusterError(f"{name} exited with code {proc.returncode}; last output:\n{tail}")

    def start_controlplane(self) -> None:
        """Start the control plane and wait until it listens."""
        if not _port_free(self.port):
            raise ClusterError(f"port {self.port} is in use; pick another with --port")
        self.metrics_ports["controlplane"] = free_port()
        args = [sys.executable, "-m", "controlplane", "--port", str(self.port), "--name", self.name,
                "--etcd", f"127.0.0.1:{self.etcd_port}",
                "--set", f"telemetry.metrics_port={self.metrics_ports['controlplane']}", *self.controlplane_args]
        if self.config_file:
            args = [*args, "--config", self.config_file]
        log = self._log("controlplane")
        offset = log.stat().st_size if log.exists() else 0
        self._spawn("controlplane", args)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            self._check_alive("controlplane")
            with log.open("rb") as fh:
                fh.seek(offset)
                if b"controlplane listening on" in fh.read():
                    return
            time.sleep(0.05)
        raise ClusterError(f"the control plane did not start; see {log}")

    def start_host(self, index: int) -> None:
        """Start agent host `host-<index>`."""
        name = f"host-{index}"
        self.metrics_ports[name] = free_port()
        self._spawn(name, [sys.executable, "-m", "agenthost", "--controlplane", self.target, "--host-id", name,
                           "--metrics-port", str(self.metrics_ports[name]), *self.host_args])

    def start(self) -> None:
        """Start everything; on failure stop what was started."""
        try:
            self.start_etcd()
            self.start_controlplane()
            for index in range(1, self.hosts + 1):
                self.start_host(index)
        except BaseException:
            self.stop()
            raise

    def check(self) -> list[str]:
        """Names of processes that have exited."""
        return [name for name, proc in self.processes.items() if proc.poll() is not None]

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the control plane first (so hosts keep their agents' placements), then hosts, then etcd."""
        hosts = sorted(n for n in self.processes if n.startswith("host-"))
        for group in (["controlplane"], hosts, ["etcd"]):
            procs = [self.processes[n] for n in group if n in self.processes]
            for proc in procs:
                if proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout
            for proc in procs:
                try:
                    proc.wait(max(deadline - time.monotonic(), 0.1))
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    proc.wait()
        self.processes.clear()
