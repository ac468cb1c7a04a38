"""Global services used by the integration tests (loaded by hosts through import references)."""

from __future__ import annotations

from typing import Any

from elizaos import Service, ServiceContext

# What happened, in order, across every in-process host: (event, service name, instance id).
LOG: list[tuple[str, str, int]] = []


class Counter:
    """A trivial shared instance."""

    def __init__(self, config: dict[str, Any], upstream: Any = None) -> None:
        self.config = config
        self.upstream = upstream
        self.hits = 0


def _service(name: str, needs: str | None = None) -> Service:
    async def start(context: ServiceContext) -> Counter:
        upstream = context.get_service(needs) if needs else None
        if needs and upstream is None:
            raise RuntimeError(f"{needs} is not running")
        instance = Counter(dict(context.config), upstream)
        LOG.append(("start", name, id(instance)))
        return instance

    async def stop(instance: Any) -> None:
        LOG.append(("stop", name, id(instance)))

    return Service(service_type=name, start=start, stop=stop, capability_description=f"test service {name}",
                   dependencies=(needs,) if needs else ())


counter = _service("counter")
base = _service("base")
dependent = _service("dependent", needs="base")


async def _fail(context: ServiceContext) -> Any:
    raise RuntimeError("cannot start on purpose")


failing = Service(service_type="failing", start=_fail)
