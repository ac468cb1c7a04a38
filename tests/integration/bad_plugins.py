"""Plugins that fail on purpose, loaded by import reference in tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from elizaos import AgentRuntimeAPI, Plugin


async def _explode(config: Mapping[str, Any], runtime: AgentRuntimeAPI) -> None:
    raise ValueError("boom")


failing_init = Plugin(name="failing-init", description="A plugin whose init always fails.", init=_explode)
