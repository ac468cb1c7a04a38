"""A thin synchronous wrapper of the async SDK, for scripts and notebooks.

    from elizaos.sync import ElizaOS
    with ElizaOS(target="127.0.0.1:50051") as eliza:
        agent_id = eliza.create_agent("examples/characters/eliza.json")
        print(eliza.with_agent(agent_id, lambda rt: rt.process_message("Hello")).text)

Every coroutine method of `elizaos.ElizaOS` becomes a blocking call. The async object lives
on a private event loop in a background thread.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any

from elizaos._elizaos import ElizaOS as AsyncElizaOS


class ElizaOS:
    """Blocking facade over `elizaos.ElizaOS`; takes the same arguments."""

    def __init__(self, **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="elizaos-sync", daemon=True)
        self._thread.start()
        self._async = self._run(self._make(kwargs))

    @staticmethod
    async def _make(kwargs: dict[str, Any]) -> AsyncElizaOS:
        return AsyncElizaOS(**kwargs)

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._async, name)
        if not inspect.iscoroutinefunction(attr):
            return attr
        if name == "with_agent":
            return self._with_agent

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            return self._run(attr(*args, **kwargs))

        return call

    def _with_agent(self, agent_id: str, fn: Callable[[Any], Any]) -> Any:
        """`fn` may be a plain function; coroutines it returns are awaited on the SDK's loop."""

        async def run(runtime: Any) -> Any:
            result = fn(runtime)
            return await result if inspect.isawaitable(result) else result

        return self._run(self._async.with_agent(agent_id, run))

    def close(self) -> None:
        """Stop (as `stop()`) and end the background loop."""
        try:
            self._run(self._async.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop.close()

    def __enter__(self) -> ElizaOS:
        self._run(self._async.initialize())
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
