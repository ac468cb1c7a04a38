"""A class service for the end-to-end tests, loaded by the agent host processes as
`tests.e2e.sample_service:service` (the hosts run with the repository root as working directory).

start and stop append `start <pid>` / `stop <pid>` to the file named by the service config's
`log`, so a test can see which host processes started and stopped an instance.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from elizaos import Service, ServiceContext


class Instance:
    """What agents on a host get from runtime.get_service("counter")."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.pid = os.getpid()


def _append(path: Path, line: str) -> None:
    # One write of a whole line in append mode: lines from the two hosts never interleave.
    with path.open("a") as fh:
        fh.write(line + "\n")


async def _start(context: ServiceContext) -> Instance:
    log = context.config.get("log")
    if not log:
        raise ValueError("the sample service needs a 'log' path in its config")
    instance = Instance(Path(str(log)))
    _append(instance.log, f"start {instance.pid}")
    return instance


async def _stop(instance: Any) -> None:
    _append(instance.log, f"stop {instance.pid}")


service = Service(service_type="counter", start=_start, stop=_stop,
                  capability_description="end-to-end test service that logs its start and stop")
