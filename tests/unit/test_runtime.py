"""agenthost.runtime.runtime.AgentRuntime: memories, sequences, settings and replayed ELIZA state."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from google.protobuf import struct_pb2

from agenthost.runtime.runtime import DEFAULT_WINDOW, AgentRuntime, ModelType
from elizaos import ModelRequest, ModelResponse
from elizaos.v1 import agent_pb2, character_pb2

AGENT_ID = str(uuid.UUID(int=1))
USER = "user-1"

# The 1966 sample conversation (inputs only); the replies are checked in test_eliza.py.
SAMPLE_INPUTS = [
    "Men are all alike.",
    "They're always bugging us about something or other.",
    "Well, my boyfriend made me come here.",
    "He says I'm depressed much of the time.",
    "It's true. I am unhappy.",
    "I need some help, that much seems certain.",
    "Perhaps I could learn to get along with my mother.",
    "My mother takes care of me.",
    "My father.",
    "You are like my father in some ways.",
    "You don't argue with me.",
    "My father is afraid of everybody.",
    "Bullies.",
    "Hmm.",
    "Hmm.",
    "Hmm.",
]


def make_agent(**character: object) -> agent_pb2.Agent:
    return agent_pb2.Agent(
        id=AGENT_ID, name="eliza-agent", character=character_pb2.Character(name="Eliza", **character)  # type: ignore[arg-type]
    )


def runtime(memories: list[agent_pb2.Memory] | None = None, **kwargs: object) -> AgentRuntime:
    return AgentRuntime(make_agent(), epoch=1, memories=memories or [], **kwargs)  # type: ignore[arg-type]


# --- process_message ------------------------------------------------------------------------------


async def test_reply_is_an_eliza_answer_not_an_echo() -> None:
    rt = runtime()
    reply = await rt.process_message("Men are all alike.", USER, "room")
    assert reply.text == "In what way?"
    assert reply.text != "Men are all alike."
    assert reply.actions == []


async def test_two_memories_incoming_then_reply() -> None:
    rt = runtime()
    reply = await rt.process_message("I am sad.", USER, "room")
    incoming, answer = reply.memories
    assert (incoming.entity_id, incoming.text, incoming.room_id, incoming.agent_id) == (
        USER, "I am sad.", "room", AGENT_ID,
    )
    assert (answer.entity_id, answer.text, answer.room_id, answer.agent_id) == (
        AGENT_ID, reply.text, "room", AGENT_ID,
    )
    assert (incoming.sequence, answer.sequence) == (1, 2)
    assert incoming.id != answer.id
    assert uuid.UUID(incoming.id) and uuid.UUID(answer.id)
    assert incoming.create_time.ToNanoseconds() > 0
    assert answer.create_time.ToNanoseconds() >= incoming.create_time.ToNanoseconds()
    assert rt.recent("room") == [incoming, answer]


async def test_sequences_increase_per_room_and_rooms_are_independent() -> None:
    rt = runtime()
    a1 = await rt.process_message("Hello.", USER, "a")
    a2 = await rt.process_message("Hello again.", USER, "a")
    b1 = await rt.process_message("Hello.", "user-2", "b")
    a3 = await rt.process_message("Bye.", USER, "a")
    assert [m.sequence for m in a1.memories + a2.memories + a3.memories] == [1, 2, 3, 4, 5, 6]
    assert [m.sequence for m in b1.memories] == [1, 2]
    assert [m.room_id for m in rt.recent("b")] == ["b", "b"]
    assert len(rt.recent("a")) == 6
    assert rt.recent("never") == []


async def test_rooms_have_separate_conversation_state() -> None:
    rt = runtime()
    await rt.process_message("Well, my boyfriend made me come here.", USER, "a")
    # Room b never heard about the boyfriend: no memory to recall.
    b = await rt.process_message("Bullies.", USER, "b")
    a = await rt.process_message("Bullies.", USER, "a")
    assert a.text == "Does that have anything to do with the fact that your boyfriend made you come here?"
    assert b.text != a.text


async def test_concurrent_messages_in_one_room_get_distinct_sequences() -> None:
    rt = runtime()
    replies = await asyncio.gather(*(rt.process_message(f"Message {i}.", USER, "room") for i in range(10)))
    sequences = sorted(m.sequence for r in replies for m in r.memories)
    assert sequences == list(range(1, 21))
    for r in replies:
        incoming, answer = r.memories
        assert answer.sequence == incoming.sequence + 1


async def test_window_bounds_recent_memories() -> None:
    rt = runtime(window=4)
    for i in range(5):
        await rt.process_message(f"Message {i}.", USER, "room")
    recent = rt.recent("room")
    assert [m.sequence for m in recent] == [7, 8, 9, 10]
    assert runtime().window == DEFAULT_WINDOW


async def test_higher_priority_model_wins() -> None:
    rt = runtime()
    seen: list[tuple[object, ModelRequest]] = []

    async def echo(runtime: object, request: ModelRequest) -> ModelResponse:
        seen.append((runtime, request))
        return ModelResponse(text=f"echo: {request.message.text}")

    rt.use_model(ModelType.TEXT_LARGE, echo, priority=10)
    reply = await rt.process_message("hi", USER, "room")
    assert reply.text == "echo: hi"
    assert reply.memories[1].text == "echo: hi"
    runtime_seen, request = seen[0]
    assert runtime_seen is rt and request.message.entity_id == USER and request.message.room_id == "room"
    assert rt.name in request.prompt


# --- seeding --------------------------------------------------------------------------------------


def memory(seq: int, room: str = "room", entity: str = USER, text: str = "x") -> agent_pb2.Memory:
    return agent_pb2.Memory(
        id=str(uuid.uuid4()), agent_id=AGENT_ID, room_id=room, entity_id=entity, text=text, sequence=seq
    )


async def test_seeded_memories_continue_the_sequence() -> None:
    seed = [memory(1), memory(2, entity=AGENT_ID), memory(3), memory(4, entity=AGENT_ID), memory(7, room="other")]
    rt = runtime(seed)
    assert [m.sequence for m in rt.recent("room")] == [1, 2, 3, 4]
    reply = await rt.process_message("Hello.", USER, "room")
    assert [m.sequence for m in reply.memories] == [5, 6]
    other = await rt.process_message("Hello.", USER, "other")
    assert [m.sequence for m in other.memories] == [8, 9]
    fresh = await rt.process_message("Hello.", USER, "fresh")
    assert [m.sequence for m in fresh.memories] == [1, 2]


async def test_seeded_memories_out_of_order_still_continue_after_the_highest() -> None:
    rt = runtime([memory(10), memory(3), memory(11, entity=AGENT_ID)])
    reply = await rt.process_message("Hello.", USER, "room")
    assert [m.sequence for m in reply.memories] == [12, 13]


# --- settings -------------------------------------------------------------------------------------


def test_get_setting_returns_secrets_then_settings() -> None:
    settings = struct_pb2.Struct()
    settings.update({"model": "eliza", "temperature": 0.5, "SHARED": "from-settings", "voice": {"id": "v1"}})
    rt = AgentRuntime(
        make_agent(secrets={"API_KEY": "sk-test", "SHARED": "from-secrets"}, settings=settings), epoch=3
    )
    assert rt.get_setting("API_KEY") == "sk-test"
    assert rt.get_setting("model") == "eliza"
    assert rt.get_setting("temperature") == 0.5
    assert rt.get_setting("voice") == {"id": "v1"}
    assert rt.get_setting("SHARED") == "from-secrets"
    assert rt.get_setting("missing") is None
    assert rt.epoch == 3


def test_get_setting_without_settings() -> None:
    rt = runtime()
    assert rt.settings == {}
    assert rt.get_setting("model") is None


def test_name_falls_back_to_agent_name() -> None:
    rt = AgentRuntime(agent_pb2.Agent(id=AGENT_ID, name="fallback"), epoch=1)
    assert rt.name == "fallback"
    assert runtime().name == "Eliza"


# --- ELIZA state rebuilt by replay ----------------------------------------------------------------


async def test_seeded_runtime_recalls_the_memory_queue() -> None:
    original = runtime()
    first = await original.process_message("My boyfriend made me come here", USER, "room")
    assert first.text == "Your boyfriend made you come here?"
    seeded = AgentRuntime(make_agent(), epoch=2, memories=original.recent("room"))

    expected = await original.process_message("Bullies.", USER, "room")
    got = await seeded.process_message("Bullies.", USER, "room")
    assert expected.text == "Does that have anything to do with the fact that your boyfriend made you come here?"
    assert got.text == expected.text
    assert [m.sequence for m in got.memories] == [m.sequence for m in expected.memories] == [3, 4]


async def test_a_fresh_runtime_without_memories_does_not_recall() -> None:
    # Guards the previous test: the answer really comes from replayed state.
    rt = runtime()
    reply = await rt.process_message("Bullies.", USER, "room")
    assert "boyfriend" not in reply.text


@pytest.mark.parametrize("cut", range(len(SAMPLE_INPUTS)))
async def test_seeded_runtime_answers_like_the_original_at_every_point(cut: int) -> None:
    original = runtime()
    for text in SAMPLE_INPUTS[:cut]:
        await original.process_message(text, USER, "room")
    seeded = AgentRuntime(make_agent(), epoch=2, memories=original.recent("room"))
    for text in SAMPLE_INPUTS[cut:]:
        expected = await original.process_message(text, USER, "room")
        got = await seeded.process_message(text, USER, "room")
        assert got.text == expected.text, (cut, text)
        assert [m.sequence for m in got.memories] == [m.sequence for m in expected.memories]


async def test_replay_ignores_the_agents_own_replies_and_other_rooms() -> None:
    original = runtime()
    await original.process_message("Well, my boyfriend made me come here.", USER, "room")
    await original.process_message("My mother takes care of me.", "user-2", "other")
    seed = original.recent("room") + original.recent("other")
    seeded = AgentRuntime(make_agent(), epoch=2, memories=seed)
    for room in ("room", "other"):
        for text in ("Hmm.", "Hmm.", "My father."):
            expected = await original.process_message(text, USER, room)
            assert (await seeded.process_message(text, USER, room)).text == expected.text


@pytest.mark.parametrize(("window", "fillers"), [(4, 1), (DEFAULT_WINDOW, DEFAULT_WINDOW // 2 - 1)])
async def test_replay_when_the_snapshot_exactly_fills_the_window(window: int, fillers: int) -> None:
    # The exchanges exactly fill the window. The seeded runtime must still replay every user
    # input: it must not drop the oldest memory to make room for the new message first.
    original = runtime(window=window)
    await original.process_message("My boyfriend made me come here", USER, "room")
    for _ in range(fillers):
        await original.process_message("Hmm.", USER, "room")
    seed = original.recent("room")
    assert len(seed) == window
    seeded = runtime(seed, window=window)
    expected = await original.process_message("Bullies.", USER, "room")
    got = await seeded.process_message("Bullies.", USER, "room")
    assert got.text == expected.text


async def test_a_failed_turn_leaves_no_trace() -> None:
    rt = runtime()
    await rt.process_message("Hello.", USER, "room")
    rt.set_cache("kept", "yes")
    calls = 0

    async def flaky(runtime_: object, request: ModelRequest) -> ModelResponse:
        nonlocal calls
        calls += 1
        rt.set_cache("kept", "changed")
        rt.set_cache("new", "value")
        if calls == 1:
            raise RuntimeError("model down")
        return ModelResponse(text="fine")

    rt.use_model(ModelType.TEXT_LARGE, flaky, priority=10)
    with pytest.raises(Exception, match="model down"):
        await rt.process_message("Are you there?", USER, "room")
    # Nothing of the failed turn stays: not the incoming memory, not the cache changes.
    assert [m.sequence for m in rt.recent("room")] == [1, 2]
    assert rt.get_cache("kept") == "yes" and rt.get_cache("new") is None
    reply = await rt.process_message("Are you there?", USER, "room")
    assert [m.sequence for m in reply.memories] == [3, 4]
    assert reply.cache_updates == {"kept": "changed", "new": "value"}
