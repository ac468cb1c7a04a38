"""An example third-party ElizaOS plugin: `greeter`.

The GREET action answers greetings ("hello", "hi", "good morning") by the user's name when
the `facts` plugin (a dependency, so it is always loaded first) has learned it, otherwise
with "friend". Installing this package registers the plugin under the entry point group
`elizaos.plugins`, so agents can list it by name: `plugins: ["greeter"]`.
"""

from __future__ import annotations

import re

from agenthost.plugins.facts import fact_key
from elizaos import Action, ActionResult, AgentRuntimeAPI, Message, Plugin, State

__all__ = ["greeting_for", "is_greeting", "plugin"]

__version__ = "0.1.0"

_GREETING = re.compile(
    r"^\W*(?:hello|hi|hey|hiya|howdy|greetings|good\s+(?:morning|afternoon|evening|day))\b",
    re.IGNORECASE,
)


def is_greeting(text: str) -> bool:
    """Whether a message opens with a greeting ("hello", "hi there", "Good morning!")."""
    return _GREETING.search(text) is not None


def greeting_for(runtime: AgentRuntimeAPI, message: Message, state: State) -> str:
    """The reply to a greeting, by the name the facts plugin knows (from the state or its cache)."""
    name = state.values.get("userName") or runtime.get_cache(fact_key(message.entity_id, "name"))
    return f"Hello from the greeter plugin, {name or 'friend'}!"


async def _validate(runtime: AgentRuntimeAPI, message: Message, state: State) -> bool:
    return is_greeting(message.text)


async def _greet(runtime: AgentRuntimeAPI, message: Message, state: State) -> ActionResult:
    return ActionResult(text=greeting_for(runtime, message, state))


plugin: Plugin = Plugin(
    name="greeter",
    description="Greets users by name, using what the facts plugin has learned about them.",
    dependencies=("facts",),
    actions=(
        Action(
            name="GREET",
            description="Answers a greeting such as hello, hi or good morning by greeting the user by name.",
            handler=_greet,
            validate=_validate,
            similes=("HELLO", "SAY_HELLO", "GREETING"),
            examples=(
                (("user", "Hello!"), ("agent", "Hello from the greeter plugin, Ana!")),
                (("user", "Good morning"), ("agent", "Hello from the greeter plugin, friend!")),
            ),
        ),
    ),
)
"""The greeter plugin (entry point `greeter`)."""
