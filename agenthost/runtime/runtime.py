"""AgentRuntime: one per agent on a host, cheap enough for thousands per process.

Message pipeline, each step its own method:
store incoming memory -> should respond -> compose state from providers -> model -> actions
-> evaluators -> reply with its memories and cache updates. The control plane writes the
returned memories and cache updates to etcd before it answers the caller; the runtime keeps
a recent window per room, seeded from the snapshot sent when the agent is placed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from opentelemetry import trace
from opentelemetry.util.types import Attributes

from agenthost.runtime.models.eliza import ElizaConversation, ElizaScript
from controlplane import telemetry
from elizaos._plugin import (
    Action,
    Evaluator,
    Message,
    ModelHandler,
    ModelRequest,
    ModelResponse,
    ModelType,
    Plugin,
    Provider,
    State,
)
from elizaos.v1 import agent_pb2

log = logging.getLogger(__name__)

DEFAULT_WINDOW = 64
MAX_CACHE_VALUE = 4096
TRACER = "elizaos.agenthost"
_NO_SPAN: AbstractContextManager[None] = contextlib.nullcontext()

__all__ = ["DEFAULT_WINDOW", "AgentRuntime", "ModelType", "Reply", "RuntimeFailure"]


class RuntimeFailure(Exception):
    """The agent could not answer (its model or a plugin failed); the message says why."""


def pipeline_span(name: str, attributes: Attributes = None) -> AbstractContextManager[trace.Span | None]:
    """A child span of the current one, current inside the `with`; nothing (None) when the
    current span is not recording (no tracing set up, or the trace is not sampled), so an
    untraced message costs one check per step. An exception leaving the `with` is recorded."""
    if not trace.get_current_span().is_recording():
        return _NO_SPAN
    return telemetry.tracer(TRACER).start_as_current_span(name, attributes=attributes)


def record_failure(span: trace.Span | None, exc: BaseException) -> None:
    """Mark a span failed by an exception that was handled (status ERROR + exception event)."""
    if span is not None and span.is_recording():
        span.record_exception(exc)
        span.set_status(trace.Status(trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


@dataclass(slots=True)
class Room:
    """One conversation of the agent: recent memories, next sequence, ELIZA state."""

    room_id: str
    memories: deque[agent_pb2.Memory]
    next_sequence: int = 1
    conversation: ElizaConversation | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(slots=True)
class Reply:
    """The outcome of processing one message."""

    text: str
    actions: list[str]
    memories: list[agent_pb2.Memory]
    cache_updates: dict[str, str | None] = field(default_factory=dict)


def compose_prompt(character: Any, state: State) -> str:
    """The system prompt a language model gets: who the agent is, then the providers' state."""
    parts = [character.system or f"You are {character.name}."]
    if character.bio:
        parts.append("About you: " + " ".join(character.bio))
    if character.adjectives:
        parts.append("You are " + ", ".join(character.adjectives) + ".")
    if character.topics:
        parts.append("You like to talk about " + ", ".join(character.topics) + ".")
    style = list(character.style.all) + list(character.style.chat)
    if style:
        parts.append("Style: " + "; ".join(style) + ".")
    if state.text:
        parts.append(state.text)
    return "\n".join(parts)


class AgentRuntime:
    """Runs one agent: its character, settings, plugins, models, memory and cache."""

    __slots__ = (
        "_actions", "_cache", "_cache_undo", "_evaluators", "_models", "_pending_cache", "_plugin_config", "_plugins",
        "_providers", "_rooms", "_services", "agent_id", "character", "defaults", "epoch", "name", "own_plugins",
        "settings", "window",
    )

    def __init__(
        self,
        agent: agent_pb2.Agent,
        epoch: int,
        memories: Iterable[agent_pb2.Memory] = (),
        *,
        window: int = DEFAULT_WINDOW,
        cache: Mapping[str, str] | None = None,
        services: Callable[[str], Any] | None = None,
        defaults: Mapping[str, Any] | None = None,
    ) -> None:
        self.agent_id = agent.id
        self.name = agent.character.name or agent.name
        self.character = agent.character
        self.epoch = epoch
        self.window = window
        # Plugins the agent itself asked for (global plugins come and go; these stay).
        self.own_plugins = frozenset(agent.plugins)
        self.defaults: Mapping[str, Any] = defaults or {}
        self.settings: dict[str, Any] = (
            json_format.MessageToDict(agent.character.settings) if agent.character.HasField("settings") else {}
        )
        self._services = services
        self._cache: dict[str, str] = dict(cache or {})
        self._pending_cache: dict[str, str | None] = {}
        self._cache_undo: dict[str, str | None] = {}  # values before this turn changed them
        self._plugins: dict[str, Plugin] = {}
        self._plugin_config: dict[str, Any] = {}
        self._actions: list[Action] = []
        self._providers: list[Provider] = []
        self._evaluators: list[Evaluator] = []
        self._models: dict[ModelType, list[tuple[int, str, ModelHandler]]] = {}
        self._rooms: dict[str, Room] = {}
        self.use_model(ModelType.TEXT_LARGE, self._eliza, priority=0, owner="eliza")
        if str(self.settings.get("model", "eliza")).lower() == "openai":
            from agenthost.runtime.models.openai import openai_model

            self.use_model(ModelType.TEXT_LARGE, openai_model, priority=100, owner="openai")
        for memory in memories:
            self._room(memory.room_id).memories.append(memory)
        for room in self._rooms.values():
            if room.memories:
                room.next_sequence = max(m.sequence for m in room.memories) + 1

    # -- plugins ---------------------------------------------------------------------------------

    @property
    def plugins(self) -> tuple[str, ...]:
        """Names of the plugins this runtime uses, in load order."""
        return tuple(self._plugins)

    async def add_plugin(self, plugin: Plugin) -> None:
        """Wire a plugin in (after its dependencies) and run its init; raises if init fails."""
        if plugin.name in self._plugins:
            return
        config = {**plugin.config}
        if plugin.init is not None:
            self._plugin_config.update(config)
            await plugin.init(config, self)
        self._plugin_config.update(config)
        self._plugins[plugin.name] = plugin
        self._actions.extend(plugin.actions)
        self._providers.extend(plugin.providers)
        self._providers.sort(key=lambda p: p.position)
        self._evaluators.extend(plugin.evaluators)
        for model in plugin.models:
            self.use_model(model.model_type, model.handler, priority=model.priority, owner=plugin.name)

    def remove_plugin(self, name: str) -> bool:
        """Unwire a plugin; False if it was not in use."""
        plugin = self._plugins.pop(name, None)
        if plugin is None:
            return False
        self._actions = [a for a in self._actions if a not in plugin.actions]
        self._providers = [p for p in self._providers if p not in plugin.providers]
        self._evaluators = [e for e in self._evaluators if e not in plugin.evaluators]
        for handlers in self._models.values():
            handlers[:] = [h for h in handlers if h[1] != name]
        return True

    def use_model(self, model_type: ModelType, handler: ModelHandler, priority: int = 0, owner: str = "") -> None:
        """Register a model handler; the highest priority of a type wins."""
        handlers = self._models.setdefault(model_type, [])
        handlers.append((priority, owner, handler))
        handlers.sort(key=lambda item: -item[0])

    # -- what plugins may use (AgentRuntimeAPI) --------------------------------------------------

    def get_setting(self, key: str) -> Any:
        """Character secret, then character setting, then plugin config, then default settings."""
        if key in self.character.secrets:
            return self.character.secrets[key]
        for source in (self.settings, self._plugin_config, self.defaults):
            if key in source:
                return source[key]
        return None

    def get_service(self, name: str) -> Any:
        """A global service available on this host, or None."""
        return self._services(name) if self._services is not None else None

    def get_cache(self, key: str) -> str | None:
        """A durable per-agent value."""
        return self._cache.get(key)

    def set_cache(self, key: str, value: str | None) -> None:
        """Set or delete a durable per-agent value; it is stored with the current reply."""
        if not key or len(key) > 128 or not all(c.isalnum() or c in "_.:@-" for c in key):
            raise ValueError(f"cache key {key!r} may hold only letters, digits and _ . : @ - (1-128)")
        if value is not None and len(value) > MAX_CACHE_VALUE:
            raise ValueError(f"cache value for {key!r} is over {MAX_CACHE_VALUE} characters")
        self._cache_undo.setdefault(key, self._cache.get(key))
        if value is None:
            self._cache.pop(key, None)
        else:
            self._cache[key] = value
        self._pending_cache[key] = value

    # -- memory ----------------------------------------------------------------------------------

    def _room(self, room_id: str) -> Room:
        room = self._rooms.get(room_id)
        if room is None:
            room = Room(room_id, deque(maxlen=self.window))
            self._rooms[room_id] = room
        return room

    def recent(self, room_id: str) -> list[agent_pb2.Memory]:
        """The remembered window of one room, oldest first."""
        room = self._rooms.get(room_id)
        return list(room.memories) if room else []

    def _memory(self, room: Room, entity_id: str, text: str, actions: Iterable[str] = ()) -> agent_pb2.Memory:
        memory = agent_pb2.Memory(
            id=str(uuid.uuid4()), agent_id=self.agent_id, room_id=room.room_id, entity_id=entity_id, text=text,
            sequence=room.next_sequence, actions=list(actions))
        memory.create_time.FromNanoseconds(time.time_ns())
        room.next_sequence += 1
        room.memories.append(memory)
        return memory

    # -- the pipeline ----------------------------------------------------------------------------

    async def process_message(self, text: str, user_id: str, room_id: str) -> Reply:
        """Run the message pipeline for one incoming message (one at a time per room)."""
        room = self._room(room_id)
        async with room.lock:
            if room.conversation is None:
                # First turn here (new room, or the agent was just placed on this host): rebuild
                # ELIZA's state from the remembered conversation before the new message joins it.
                room.conversation = ElizaConversation(ElizaScript.doctor(), self.name)
                room.conversation.replay(m.text for m in room.memories if m.entity_id != self.agent_id)
            incoming = self._memory(room, user_id, text)
            message = Message(id=incoming.id, agent_id=self.agent_id, entity_id=user_id, room_id=room_id, text=text)
            self._pending_cache, self._cache_undo = {}, {}
            try:
                if not self._should_respond(message):
                    return Reply(text="", actions=[], memories=[incoming], cache_updates=self._take_cache())
                state = await self._compose_state(message)
                response = await self._call_model(message, state)
                taken, action_texts = await self._run_actions(message, state, response)
                answer = " ".join(action_texts) if action_texts else response.text
                await self._evaluate(message, state, answer)
            except BaseException:
                # Nothing of a failed turn is stored durably, so the runtime forgets it too.
                self._forget_turn(room, incoming)
                raise
            reply = self._memory(room, self.agent_id, answer, taken)
            return Reply(text=answer, actions=taken, memories=[incoming, reply], cache_updates=self._take_cache())

    def _forget_turn(self, room: Room, incoming: agent_pb2.Memory) -> None:
        if room.memories and room.memories[-1] is incoming:
            room.memories.pop()
            room.next_sequence -= 1
        for key, old in self._cache_undo.items():
            if old is None:
                self._cache.pop(key, None)
            else:
                self._cache[key] = old
        self._pending_cache, self._cache_undo = {}, {}

    def _take_cache(self) -> dict[str, str | None]:
        updates, self._pending_cache = self._pending_cache, {}
        return updates

    def _should_respond(self, message: Message) -> bool:
        with pipeline_span("pipeline.should_respond") as span:
            # Messages addressed to one agent always get an answer; group rooms are a later concern.
            respond = bool(message.text.strip())
            if span is not None:
                span.set_attribute("elizaos.should_respond", respond)
            return respond

    async def _compose_state(self, message: Message) -> State:
        with pipeline_span("pipeline.compose_state"):
            state = State()
            texts = []
            for provider in self._providers:
                with pipeline_span(f"provider {provider.name}") as span:
                    try:
                        result = await provider.get(self, message, state)
                    except Exception as exc:
                        log.warning("event=provider_failed agent=%s provider=%s error=%r", self.agent_id,
                                    provider.name, exc)
                        record_failure(span, exc)
                        continue
                if result.text:
                    texts.append(result.text)
                state.values.update(result.values)
                state.data[provider.name] = dict(result.data)
            state.text = "\n".join(texts)
            return state

    async def _call_model(self, message: Message, state: State) -> ModelResponse:
        _, owner, handler = self._models[ModelType.TEXT_LARGE][0]
        request = ModelRequest(prompt=compose_prompt(self.character, state), message=message, state=state,
                               action_names=[a.name for a in self._actions])
        try:
            # The model's own exception is recorded on its span; the caller sees RuntimeFailure.
            with pipeline_span(f"model {owner or 'plugin'}", {"elizaos.model.type": ModelType.TEXT_LARGE.name}):
                return await handler(self, request)
        except Exception as exc:
            raise RuntimeFailure(f"model {owner or 'plugin'} failed: {exc}") from exc

    async def _run_actions(self, message: Message, state: State, response: ModelResponse
                           ) -> tuple[list[str], list[str]]:
        chosen = {name.upper() for name in response.actions}
        taken: list[str] = []
        texts: list[str] = []
        for action in self._actions:
            try:
                if chosen:
                    wanted = action.name.upper() in chosen or any(s.upper() in chosen for s in action.similes)
                else:
                    # The eliza model chooses nothing: every action that accepts the message runs.
                    wanted = await action.validate(self, message, state)
            except Exception as exc:
                log.warning("event=action_failed agent=%s action=%s error=%r", self.agent_id, action.name, exc)
                trace.get_current_span().record_exception(exc, {"elizaos.action": action.name})
                continue
            if not wanted:
                continue
            with pipeline_span(f"action {action.name}") as span:
                try:
                    result = await action.handler(self, message, state)
                except Exception as exc:
                    log.warning("event=action_failed agent=%s action=%s error=%r", self.agent_id, action.name, exc)
                    record_failure(span, exc)
                    continue
            taken.append(action.name)
            if result is not None and result.text:
                texts.append(result.text)
        return taken, texts

    async def _evaluate(self, message: Message, state: State, answer: str) -> None:
        for evaluator in self._evaluators:
            try:
                wanted = evaluator.always_run or await evaluator.validate(self, message, state)
            except Exception as exc:
                log.warning("event=evaluator_failed agent=%s evaluator=%s error=%r", self.agent_id, evaluator.name,
                            exc)
                trace.get_current_span().record_exception(exc, {"elizaos.evaluator": evaluator.name})
                continue
            if not wanted:
                continue
            with pipeline_span(f"evaluator {evaluator.name}") as span:
                try:
                    await evaluator.handler(self, message, state, answer)
                except Exception as exc:
                    log.warning("event=evaluator_failed agent=%s evaluator=%s error=%r", self.agent_id,
                                evaluator.name, exc)
                    record_failure(span, exc)

    async def _eliza(self, runtime: Any, request: ModelRequest) -> ModelResponse:
        """The classic DOCTOR script, with this room's conversation state."""
        room = self._room(request.message.room_id)
        if room.conversation is None:
            room.conversation = ElizaConversation(ElizaScript.doctor(), self.name)
        return ModelResponse(text=room.conversation.respond(request.message.text))
