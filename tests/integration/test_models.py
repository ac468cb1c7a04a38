"""The openai model against a real local server speaking the protocol, through the whole cluster."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import struct_pb2

from elizaos import ElizaOSError
from elizaos.v1 import character_pb2
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.harness import Cluster


def openai_character(base_url: str, key: str = "sk-test-secret-123") -> character_pb2.Character:
    settings = struct_pb2.Struct()
    settings.update({"model": "openai", "OPENAI_BASE_URL": base_url, "OPENAI_MODEL": "fake-model",
                     "OPENAI_TIMEOUT": 2})
    return character_pb2.Character(name="GPT", system="You are GPT, a helpful agent.", settings=settings,
                                   secrets={"OPENAI_API_KEY": key})


async def test_openai_model_answers_and_chooses_actions(cluster: Cluster) -> None:
    client = cluster.client
    assert client is not None
    with FakeOpenAI(api_key="sk-test-secret-123") as fake:
        agent = await client.create_agent(openai_character(fake.base_url), plugins=["calculator"], wait=10)
        reply = await client.send_message(agent.id, "hello there")
        assert reply.text == "You said: hello there" and not reply.actions
        sent = fake.requests[-1]
        assert sent.body["model"] == "fake-model"
        assert "You are GPT" in sent.body["messages"][0]["content"]
        assert "CALCULATE" in sent.body["messages"][0]["content"] or "CALCULATE" in str(sent.body)
        fake.reply_json({"text": "Let me compute that.", "actions": ["calculate"]})
        computed = await client.send_message(agent.id, "what is 6*7?")
        assert list(computed.actions) == ["CALCULATE"] and "42" in computed.text


async def test_openai_failure_is_unavailable_with_retry_and_agent_error(cluster: Cluster) -> None:
    client = cluster.client
    assert client is not None and cluster.plane is not None
    with FakeOpenAI() as fake:
        agent = await client.create_agent(openai_character(fake.base_url, key="sk-do-not-leak-999"), wait=10)
        fake.fail(500, "the model is on fire")
        with pytest.raises(ElizaOSError) as info:
            await client.send_message(agent.id, "hello?")
        error = info.value
        assert error.code == grpc.StatusCode.UNAVAILABLE and error.reason == "AGENT_FAILED"
        assert error.retry_delay is not None and "500" in error.message
        assert "sk-do-not-leak-999" not in str(error)
        events = [e for e in await cluster.plane.events.list() if e.type == "agent:error"]
        assert events and events[-1].agent_id == agent.id and "500" in events[-1].data["error"]
        assert "sk-do-not-leak-999" not in str(events[-1])
        # Nothing was stored for the failed exchange; the agent keeps running and recovers.
        assert await client.list_memories(agent.id) == []
        fake.echo()
        assert (await client.send_message(agent.id, "better now?")).text == "You said: better now?"
