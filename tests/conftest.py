"""Shared fixtures: a real etcd on free ports in a temp dir, started once per test session."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def etcd_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """host:port of an etcd server this test session started (and stops)."""
    binary = shutil.which("etcd")
    if binary is None:
        pytest.fail("etcd is not installed; `make test` installs it (Debian package etcd-server)")
    data = tmp_path_factory.mktemp("etcd")
    client, peer = free_port(), free_port()
    log = (data / "etcd.log").open("wb")
    proc = subprocess.Popen(
        [binary, "--name", "test", "--data-dir", str(data / "data"),
         "--listen-client-urls", f"http://127.0.0.1:{client}", "--advertise-client-urls", f"http://127.0.0.1:{client}",
         "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-cluster", f"test=http://127.0.0.1:{peer}", "--logger", "zap", "--log-level", "error"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                pytest.fail(f"etcd exited: {Path(log.name).read_text()[-2000:]}")
            with contextlib.suppress(OSError, ValueError):
                with urllib.request.urlopen(f"http://127.0.0.1:{client}/health", timeout=1) as response:
                    if json.loads(response.read()).get("health") == "true":
                        break
            if time.monotonic() > deadline:
                pytest.fail("etcd did not become healthy")
            time.sleep(0.05)
        yield f"127.0.0.1:{client}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
