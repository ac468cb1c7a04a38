"""The `time` plugin: tells the agent (a provider) and the user (the TIME action) the current UTC time.

`make_plugin(clock)` builds the plugin around any clock, so tests can fix the time; the
module-level `plugin` uses the system clock.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from elizaos._plugin import (
    Action,
    ActionResult,
    AgentRuntimeAPI,
    Message,
    Plugin,
    Provider,
    ProviderResult,
    State,
)

__all__ = ["Clock", "asks_for_time", "make_plugin", "plugin", "system_clock"]

Clock = Callable[[], datetime]
"""Returns the current time; naive datetimes are taken to be UTC."""

_ASKS_FOR_TIME = re.compile(
    r"""\b(?:
        what\s*(?:'s|s|\s+is)\s+the\s+(?:current\s+|exact\s+)?time
      | what\s+time\s+(?:is\s+it|it\s+is)
      | (?:tell|give)\s+me\s+the\s+(?:current\s+)?time
      | (?:do|would)\s+you\s+(?:know|have)\s+the\s+(?:current\s+)?time
      | (?:current|exact)\s+time
      | time\s+is\s+it
    )\b""",
    re.IGNORECASE | re.VERBOSE,
)


def system_clock() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def asks_for_time(text: str) -> bool:
    """Whether a message asks for the time ("what time is it", "what's the time", "current time")."""
    return _ASKS_FOR_TIME.search(text.replace("\u2019", "'")) is not None


def _utc(clock: Clock) -> datetime:
    now = clock()
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def make_plugin(clock: Clock = system_clock) -> Plugin:
    """The time plugin, reading the time from `clock`."""

    async def get_time(runtime: AgentRuntimeAPI, message: Message, state: State) -> ProviderResult:
        now = _utc(clock)
        return ProviderResult(
            text=f"The current time is {now:%Y-%m-%d %H:%M} UTC.",
            values={"time": now.isoformat(timespec="seconds")},
        )

    async def validate(runtime: AgentRuntimeAPI, message: Message, state: State) -> bool:
        return asks_for_time(message.text)

    async def tell_time(runtime: AgentRuntimeAPI, message: Message, state: State) -> ActionResult:
        now = _utc(clock)
        return ActionResult(text=f"It is {now:%H:%M} UTC.", data={"time": now.isoformat(timespec="seconds")})

    return Plugin(
        name="time",
        description="Keeps the agent aware of the current date and time in UTC and answers users who ask for it.",
        providers=(
            Provider(
                name="time",
                get=get_time,
                description="Adds the current UTC date and time to the agent's context.",
            ),
        ),
        actions=(
            Action(
                name="TIME",
                description="Tells the user the current time in UTC when they ask what time it is.",
                handler=tell_time,
                validate=validate,
                similes=("GET_TIME", "CURRENT_TIME", "CLOCK", "TELL_TIME"),
                examples=(
                    (("user", "What time is it?"), ("agent", "It is 10:00 UTC.")),
                    (("user", "What's the time?"), ("agent", "It is 17:45 UTC.")),
                ),
            ),
        ),
    )


plugin: Plugin = make_plugin()
"""The time plugin on the system clock (entry point `time`)."""
