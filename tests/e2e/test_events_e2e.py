"""Events and monitoring through the real cluster: `elizaos events watch`, grpcurl, metrics."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, Cluster, clean_env

pytestmark = pytest.mark.e2e


def test_events_watch_streams_lifecycle_and_custom_events(cluster: Cluster) -> None:
    watcher = subprocess.Popen(
        [sys.executable, "-m", "elizaos.cli", "--target", cluster.target, "--json", "events", "watch",
         "--type", "agent:", "--type", "deploy:"],
        cwd=ROOT, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[dict[str, object]] = []
    reader = threading.Thread(target=lambda: [lines.append(json.loads(line)) for line in watcher.stdout or []],
                              daemon=True)
    reader.start()
    try:
        time.sleep(1.5)  # the watch is open
        created = json.loads(cluster.cli_ok("agents", "create", "--character",
                                            str(Path(ROOT) / "examples/characters/ada.json"), "--json"))
        cluster.cli_ok("events", "emit", "deploy:done", "--data", '{"version": "1.2.3"}')
        cluster.cli_ok("events", "emit", "ignored:type")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(lines) < 3:
            time.sleep(0.1)
        types = [str(line["type"]) for line in lines]
        assert types[:3] == ["agent:created", "agent:started", "deploy:done"], types
        assert lines[0]["agent_id"] == created["id"]
        assert lines[2]["data"] == {"version": "1.2.3"}
        revisions = [int(str(line["revision"])) for line in lines]
        assert revisions == sorted(revisions)
        # Resume: a second watcher from the first event's revision replays exactly what followed.
        replayed = _first_lines(cluster, 2, "--type", "agent:", "--type", "deploy:", "--since", str(revisions[0]))
        assert [(str(x["type"]), int(str(x["revision"]))) for x in replayed] == [
            (str(line["type"]), int(str(line["revision"]))) for line in lines[1:3]]
    finally:
        watcher.terminate()
        watcher.wait(10)
    cluster.cli_ok("agents", "rm", created["id"])


def _first_lines(cluster: Cluster, count: int, *args: str) -> list[dict[str, object]]:
    proc = subprocess.Popen([sys.executable, "-m", "elizaos.cli", "--target", cluster.target, "--json", "events",
                             "watch", *args], cwd=ROOT, env=clean_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out: list[dict[str, object]] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.append(json.loads(line))
            if len(out) == count:
                break
    finally:
        proc.terminate()
        proc.wait(10)
    return out


def test_status_and_metrics_endpoints(cluster: Cluster) -> None:
    status = cluster.cli_json("status")
    assert status["status"]["etcd_healthy"] is True
    assert int(status["status"]["etcd_db_size_bytes"]) > 0
    assert status["health"]["healthy"] is True
    assert "metrics" in "\n".join(cluster.stdout)
    line = next(line for line in cluster.stdout if line.startswith("metrics"))
    named = dict(re.findall(r"(\S+) :(\d+)", line))
    assert set(named) == {"controlplane", "host-1", "host-2"}
    ports = [int(named[name]) for name in ("controlplane", "host-1", "host-2")]
    for port in ports:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
        assert "elizaos_" in text
    text = urllib.request.urlopen(f"http://127.0.0.1:{ports[0]}/metrics", timeout=5).read().decode()
    assert 'elizaos_agents{status="running"}' in text and "elizaos_rpc_requests_total" in text


def test_grpcurl_event_service(cluster: Cluster) -> None:
    listed = cluster.grpcurl("list")
    assert "elizaos.v1.EventService" in listed.stdout
    emitted = cluster.grpcurl("elizaos.v1.EventService/EmitEvent", data={"type": "grpcurl:hello", "data": {"a": 1}})
    assert emitted.returncode == 0, emitted.stderr
    event = json.loads(emitted.stdout)["event"]
    assert event["type"] == "grpcurl:hello" and int(event["revision"]) > 0
    reserved = cluster.grpcurl("elizaos.v1.EventService/EmitEvent", data={"type": "agent:created"})
    assert reserved.returncode != 0 and "InvalidArgument" in reserved.stderr + reserved.stdout


def test_status_watch_refreshes(cluster: Cluster) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "elizaos.cli", "--target", cluster.target, "status", "--watch",
                             "--interval", "0.5"], cwd=ROOT, env=clean_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    assert out.count("cluster elizaos") >= 2  # redrawn at least once
    assert "health: healthy" in out
