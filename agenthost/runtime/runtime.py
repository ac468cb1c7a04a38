"""AgentRuntime: one per agent on a host, cheap enough for thousands per process.

Message pipeline: store incoming memory -> should respond -> compose state -> model ->
actions -> evaluators -> reply with its memories. The control plane writes the returned
memories to etcd before it answers the caller; the runtime keeps a recent window per room,
seeded from the snapshot the control plane sends when it places the agent.
"""

from __future__ import annotations

import asyncio
import enum
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format

from agenthost.runtime.models.eliza import ElizaConversation, ElizaScript
from elizaos.v1 import agent_pb2

DEFAULT_WINDOW = 64


class ModelType(enum.StrEnum):
    """Kinds of model a runtime can call."""

    TEXT_SMALL = "TEXT_SMALL"
    TEXT_LARGE = "TEXT_LARGE"


@dataclass(slots=True)
class ModelCall:
    """What a model handler gets: the conversation so far and who is speaking."""

    text: str
    user_id: str
    room: Room
    runtime: AgentRuntime
    history: tuple[agent_pb2.Memory, ...] = ()
    """The room's memories before this message, given on the room's first turn in this runtime
    (the agent was just placed here) so models can rebuild their state."""


ModelHandler = Callable[[ModelCall], Awaitable[str]]


@dataclass(slots=True)
class Room:
    """One conversation of the agent: recent memories, next sequence, model state."""

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


async def eliza_model(call: ModelCall) -> str:
    """The classic DOCTOR script; conversation state lives in the room (rebuilt by replay)."""
    room = call.room
    if room.conversation is None:
        room.conversation = ElizaConversation(ElizaScript.doctor(), call.runtime.name)
        # Rebuild the script's state (memory queue, rotation) from what this room remembers.
        room.conversation.replay(m.text for m in call.history if m.entity_id != call.runtime.agent_id)
    return room.conversation.respond(call.text)


class AgentRuntime:
    """Runs one agent: its character, settings, models and conversation memory."""

    __slots__ = ("_models", "_rooms", "agent_id", "character", "epoch", "name", "plugins", "settings", "window")

    def __init__(self, agent: agent_pb2.Agent, epoch: int, memories: Iterable[agent_pb2.Memory] = (),
                 window: int = DEFAULT_WINDOW) -> None:
        self.agent_id = agent.id
        self.name = agent.character.name or agent.name
        self.character = agent.character
        self.plugins = tuple(agent.plugins)
        self.epoch = epoch
        self.window = window
        self.settings: dict[str, Any] = (
            json_format.MessageToDict(agent.character.settings) if agent.character.HasField("settings") else {}
        )
        self._models: dict[ModelType, list[tuple[int, ModelHandler]]] = {}
        self._rooms: dict[str, Room] = {}
        self.use_model(ModelType.TEXT_LARGE, eliza_model, priority=0)
        for memory in memories:
            self._room(memory.room_id).memories.append(memory)
        for room in self._rooms.values():
            if room.memories:
                room.next_sequence = max(m.sequence for m in room.memories) + 1

    def use_model(self, model_type: ModelType, handler: ModelHandler, priority: int = 0) -> None:
        """Register a model handler; the highest priority of a type wins."""
        handlers = self._models.setdefault(model_type, [])
        handlers.append((priority, handler))
        handlers.sort(key=lambda item: -item[0])

    def get_setting(self, key: str) -> Any:
        """A character secret or setting (secrets first), or None."""
        if key in self.character.secrets:
            return self.character.secrets[key]
        return self.settings.get(key)

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

    async def process_message(self, text: str, user_id: str, room_id: str) -> Reply:
        """Run the message pipeline for one incoming message (one at a time per room)."""
        room = self._room(room_id)
        async with room.lock:
            # Taken before the incoming message is stored: a full window would push out the oldest.
            history = tuple(room.memories) if room.conversation is None else ()
            incoming = self._memory(room, user_id, text)
            # Direct messages always get an answer; should-respond matters for group rooms (plugins).
            priority, model = self._models[ModelType.TEXT_LARGE][0]
            del priority
            answer = await model(ModelCall(text=text, user_id=user_id, room=room, runtime=self, history=history))
            actions: list[str] = []
            reply = self._memory(room, self.agent_id, answer, actions)
            return Reply(text=answer, actions=actions, memories=[incoming, reply])
