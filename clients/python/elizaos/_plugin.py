"""Types for plugin authors: Plugin, Action, Provider, Evaluator, Service, models, events.

A plugin is plain Python data. The agent host loads it by entry point (group
`elizaos.plugins`) or by import reference (`package.module:attr`) and wires it into each
agent's runtime. Every callable is async and gets the runtime (`AgentRuntimeAPI`) first.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol


class ModelType(enum.StrEnum):
    """Kinds of model a runtime can call; handlers register per type with a priority."""

    TEXT_SMALL = "TEXT_SMALL"
    TEXT_LARGE = "TEXT_LARGE"


@dataclasses.dataclass(frozen=True, slots=True)
class Message:
    """An incoming message as plugins see it."""

    id: str
    agent_id: str
    entity_id: str
    room_id: str
    text: str


@dataclasses.dataclass(slots=True)
class State:
    """What providers composed for this message: their texts joined, and named values."""

    text: str = ""
    values: dict[str, Any] = dataclasses.field(default_factory=dict)
    data: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class ProviderResult:
    """A provider's contribution: text for the prompt, values for templates and models."""

    text: str = ""
    values: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    data: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class ActionResult:
    """What an action did; `text` (if any) becomes part of the agent's reply."""

    text: str = ""
    success: bool = True
    data: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class ModelRequest:
    """A call to a model: the message, the composed state and the prompt built from them."""

    prompt: str
    message: Message
    state: State
    action_names: Sequence[str] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class ModelResponse:
    """A model's answer: reply text and, for models that choose them, action names."""

    text: str
    actions: Sequence[str] = ()


class AgentRuntimeAPI(Protocol):
    """What plugins may use of an agent's runtime."""

    @property
    def agent_id(self) -> str: ...

    @property
    def name(self) -> str: ...

    def get_setting(self, key: str) -> Any:
        """A character secret or setting, or the plugin config / default settings; None if absent."""
        ...

    def get_service(self, name: str) -> Any:
        """A global service instance (class services) or endpoint description; None if absent."""
        ...

    def get_cache(self, key: str) -> str | None:
        """A durable per-agent value (survives restarts and moves between hosts)."""
        ...

    def set_cache(self, key: str, value: str | None) -> None:
        """Set (or with None delete) a durable per-agent value; stored with the reply."""
        ...


Validate = Callable[[AgentRuntimeAPI, Message, State], Awaitable[bool]]
ActionHandler = Callable[[AgentRuntimeAPI, Message, State], Awaitable[ActionResult | None]]
ProviderGet = Callable[[AgentRuntimeAPI, Message, State], Awaitable[ProviderResult]]
EvaluatorHandler = Callable[[AgentRuntimeAPI, Message, State, str], Awaitable[None]]
ModelHandler = Callable[[AgentRuntimeAPI, ModelRequest], Awaitable[ModelResponse]]
EventHandler = Callable[[AgentRuntimeAPI, Mapping[str, Any]], Awaitable[None]]
PluginInit = Callable[[Mapping[str, Any], AgentRuntimeAPI], Awaitable[None]]


async def always(runtime: AgentRuntimeAPI, message: Message, state: State) -> bool:
    """A validate that accepts every message."""
    return True


@dataclasses.dataclass(frozen=True, slots=True)
class Action:
    """Something the agent can do in response to a message.

    With the `eliza` model every action whose `validate` accepts the message runs; with a
    language model the model picks actions by name from `similes` and `description`.
    """

    name: str
    description: str
    handler: ActionHandler
    validate: Validate = always
    similes: Sequence[str] = ()
    examples: Sequence[Sequence[tuple[str, str]]] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class Provider:
    """Adds context to the state before the model is called (lower `position` runs first)."""

    name: str
    get: ProviderGet
    description: str = ""
    position: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class Evaluator:
    """Looks at an exchange after the reply (gets the reply text), e.g. to learn facts."""

    name: str
    handler: EvaluatorHandler
    validate: Validate = always
    always_run: bool = False
    description: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class ServiceContext:
    """What a starting service gets: its config and the services started before it."""

    config: Mapping[str, Any]
    get_service: Callable[[str], Any]


@dataclasses.dataclass(frozen=True, slots=True)
class Service:
    """A long-lived instance shared by every agent on a host (one per host)."""

    service_type: str
    start: Callable[[ServiceContext], Awaitable[Any]]
    stop: Callable[[Any], Awaitable[None]] | None = None
    capability_description: str = ""
    dependencies: Sequence[str] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class ModelRegistration:
    """A model handler a plugin offers, with its priority (highest wins per type)."""

    model_type: ModelType
    handler: ModelHandler
    priority: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class Plugin:
    """A bundle of capabilities; `dependencies` (plugin names) are loaded first."""

    name: str
    description: str = ""
    init: PluginInit | None = None
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    actions: Sequence[Action] = ()
    providers: Sequence[Provider] = ()
    evaluators: Sequence[Evaluator] = ()
    services: Sequence[Service] = ()
    models: Sequence[ModelRegistration] = ()
    events: Mapping[str, Sequence[EventHandler]] = dataclasses.field(default_factory=dict)
    dependencies: Sequence[str] = ()
    priority: int = 0
