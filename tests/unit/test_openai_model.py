"""agenthost.runtime.models.openai: the OpenAI-compatible chat model, against a real local fake server."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import pytest

from agenthost.runtime.models import openai as openai_module
from agenthost.runtime.models.openai import (
    DEFAULT_BASE_URL,
    DEFAULT_MODEL,
    ModelUnavailableError,
    aclose_clients,
    openai_model,
    parse_answer,
)
from elizaos import Message, ModelRequest, ModelResponse, State
from tests.fakes.openai_server import FakeOpenAI

KEY = "sk-test-DO-NOT-LEAK-0123456789abcdefXYZ"
PROMPT = "You are Ada.\nAbout you: a helpful test agent.\nCurrent time: noon."


class FakeRuntime:
    """Just enough of AgentRuntimeAPI: settings from a dict."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.settings = dict(settings)
        self.cache: dict[str, str] = {}

    @property
    def agent_id(self) -> str:
        return "agent-1"

    @property
    def name(self) -> str:
        return "Ada"

    def get_setting(self, key: str) -> Any:
        return self.settings.get(key)

    def get_service(self, name: str) -> Any:
        return None

    def get_cache(self, key: str) -> str | None:
        return self.cache.get(key)

    def set_cache(self, key: str, value: str | None) -> None:
        if value is None:
            self.cache.pop(key, None)
        else:
            self.cache[key] = value


def make_request(text: str = "hello there", actions: tuple[str, ...] = ()) -> ModelRequest:
    message = Message(id="m1", agent_id="agent-1", entity_id="user-1", room_id="room-1", text=text)
    return ModelRequest(prompt=PROMPT, message=message, state=State(text="Current time: noon."),
                        action_names=actions)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    yield
    await aclose_clients()


async def ask(settings: Mapping[str, Any], request: ModelRequest | None = None) -> ModelResponse:
    return await openai_model(FakeRuntime(settings), request or make_request())


async def failure(settings: Mapping[str, Any], request: ModelRequest | None = None) -> ModelUnavailableError:
    with pytest.raises(ModelUnavailableError) as info:
        await ask(settings, request)
    return info.value


# -- success path --------------------------------------------------------------------------------


async def test_echo_reply_and_request_shape(fake: FakeOpenAI) -> None:
    response = await ask({"OPENAI_BASE_URL": fake.base_url})
    assert response == ModelResponse(text="You said: hello there", actions=())

    [received] = fake.requests
    assert received.method == "POST"
    assert received.path == "/v1/chat/completions"
    body = received.body
    assert body["model"] == DEFAULT_MODEL
    assert body["response_format"] == {"type": "json_object"}
    assert "temperature" not in body
    system, user = body["messages"]
    assert system["role"] == "system"
    assert system["content"].startswith(PROMPT)
    assert "JSON" in system["content"]
    assert user == {"role": "user", "content": "hello there"}
    assert "authorization" not in received.headers
    assert received.headers["content-type"] == "application/json"


async def test_api_key_is_sent_as_bearer(fake: FakeOpenAI) -> None:
    fake.api_key = KEY
    response = await ask({"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": KEY})
    assert response.text == "You said: hello there"
    assert fake.requests[-1].headers["authorization"] == f"Bearer {KEY}"


async def test_blank_api_key_sends_no_header(fake: FakeOpenAI) -> None:
    await ask({"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": "  "})
    assert "authorization" not in fake.requests[-1].headers


async def test_model_temperature_and_trailing_slash(fake: FakeOpenAI) -> None:
    await ask({"OPENAI_BASE_URL": fake.base_url + "/", "OPENAI_MODEL": "llama3.2", "OPENAI_TEMPERATURE": "0.25",
               "OPENAI_TIMEOUT": 5})
    body = fake.requests[-1].body
    assert fake.requests[-1].path == "/v1/chat/completions"
    assert body["model"] == "llama3.2"
    assert body["temperature"] == 0.25


async def test_system_message_lists_the_actions(fake: FakeOpenAI) -> None:
    await ask({"OPENAI_BASE_URL": fake.base_url}, make_request(actions=("TIME", "CALCULATE")))
    system = fake.requests[-1].body["messages"][0]["content"]
    assert "TIME, CALCULATE" in system
    assert '"actions"' in system


async def test_actions_are_filtered_to_known_names(fake: FakeOpenAI) -> None:
    fake.reply_json({"text": "Let me check.", "actions": ["calculate", "LAUNCH_MISSILES", "time", "CALCULATE", 7]})
    response = await ask({"OPENAI_BASE_URL": fake.base_url}, make_request(actions=("TIME", "CALCULATE")))
    assert response == ModelResponse(text="Let me check.", actions=("CALCULATE", "TIME"))


async def test_plain_text_answer_is_used_verbatim(fake: FakeOpenAI) -> None:
    fake.reply_text("  Sure, it is noon. {not json}  ")
    response = await ask({"OPENAI_BASE_URL": fake.base_url}, make_request(actions=("TIME",)))
    assert response == ModelResponse(text="Sure, it is noon. {not json}", actions=())


async def test_client_is_shared_per_base_url(fake: FakeOpenAI) -> None:
    for _ in range(3):
        await ask({"OPENAI_BASE_URL": fake.base_url})
    assert len(fake.requests) == 3
    assert len(openai_module._clients.get(asyncio.get_running_loop(), {})) == 1


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"text": "hi", "actions": ["Time"]}', ModelResponse("hi", ("TIME",))),
        ('```json\n{"text": "fenced", "actions": ["TIME"]}\n```', ModelResponse("fenced", ("TIME",))),
        ('{"text": "no actions key"}', ModelResponse("no actions key", ())),
        ('{"text": "bad actions", "actions": "TIME"}', ModelResponse("bad actions", ())),
        ('{"text": "", "actions": ["time"]}', ModelResponse("", ("TIME",))),
        ('{"reply": "no text key"}', ModelResponse('{"reply": "no text key"}', ())),
        ('{"text": 42}', ModelResponse('{"text": 42}', ())),
        ('["TIME"]', ModelResponse('["TIME"]', ())),
        ('{"text": "truncated', ModelResponse('{"text": "truncated', ())),
        ("just words", ModelResponse("just words", ())),
        ("", ModelResponse("", ())),
        ("[" * 100_000, ModelResponse("[" * 100_000, ())),
    ],
)
def test_parse_answer(content: str, expected: ModelResponse) -> None:
    assert parse_answer(content, ["TIME", "CALCULATE"]) == expected


# -- failures ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "message"), [(500, "The server had an error"), (401, "Incorrect API key")])
async def test_http_error_carries_status_and_server_message(fake: FakeOpenAI, status: int, message: str) -> None:
    fake.fail(status, message)
    exc = await failure({"OPENAI_BASE_URL": fake.base_url})
    assert f"HTTP {status}" in str(exc)
    assert message in str(exc)
    assert "127.0.0.1" in str(exc)


async def test_wrong_key_is_401(fake: FakeOpenAI) -> None:
    fake.api_key = "sk-the-right-one"
    exc = await failure({"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": KEY})
    assert "HTTP 401" in str(exc)
    assert "Incorrect API key provided" in str(exc)


async def test_error_without_json_body(fake: FakeOpenAI) -> None:
    fake.malformed("<html>Bad Gateway</html>", status=502)
    exc = await failure({"OPENAI_BASE_URL": fake.base_url})
    assert str(exc).endswith("returned HTTP 502")


async def test_long_server_message_is_truncated(fake: FakeOpenAI) -> None:
    fake.fail(400, "x" * 5000)
    exc = await failure({"OPENAI_BASE_URL": fake.base_url})
    detail = str(exc).split("HTTP 400: ", 1)[1]
    assert len(detail) <= 300
    assert detail.endswith("...")


async def test_timeout_is_fast(fake: FakeOpenAI) -> None:
    fake.delay = 2.0
    started = time.monotonic()
    exc = await failure({"OPENAI_BASE_URL": fake.base_url, "OPENAI_TIMEOUT": 0.2})
    assert time.monotonic() - started < 1.5
    assert "did not answer within 0.2 s" in str(exc)


async def test_connection_refused() -> None:
    exc = await failure({"OPENAI_BASE_URL": f"http://127.0.0.1:{closed_port()}/v1", "OPENAI_TIMEOUT": 5})
    assert "cannot connect to model endpoint" in str(exc)


@pytest.mark.parametrize(
    "body",
    [
        "this is not JSON",
        "{}",
        '{"choices": []}',
        '{"choices": [{"index": 0}]}',
        '{"choices": [{"message": {"role": "assistant", "content": null}}]}',
        '["not", "an", "object"]',
    ],
)
async def test_malformed_response(fake: FakeOpenAI, body: str) -> None:
    fake.malformed(body)
    exc = await failure({"OPENAI_BASE_URL": fake.base_url})
    assert "malformed response" in str(exc)


async def test_oversized_response(fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openai_module, "MAX_RESPONSE_BYTES", 1000)
    fake.reply_text("z" * 5000)
    exc = await failure({"OPENAI_BASE_URL": fake.base_url})
    assert "sent more than 1000 bytes" in str(exc)


async def test_refusal_is_the_text(fake: FakeOpenAI) -> None:
    fake.malformed('{"choices": [{"message": {"role": "assistant", "content": null, "refusal": "I cannot."}}]}')
    assert await ask({"OPENAI_BASE_URL": fake.base_url}) == ModelResponse("I cannot.", ())


@pytest.mark.parametrize(
    ("settings", "needle"),
    [
        ({"OPENAI_TIMEOUT": "soon"}, "OPENAI_TIMEOUT must be a number"),
        ({"OPENAI_TIMEOUT": 0}, "OPENAI_TIMEOUT must be a positive"),
        ({"OPENAI_TIMEOUT": "nan"}, "OPENAI_TIMEOUT must be a finite"),
        ({"OPENAI_TEMPERATURE": "hot"}, "OPENAI_TEMPERATURE must be a number"),
        ({"OPENAI_BASE_URL": "ftp://example.com/v1"}, "OPENAI_BASE_URL must be"),
        ({"OPENAI_BASE_URL": KEY}, "OPENAI_BASE_URL must be"),
    ],
)
async def test_bad_settings(settings: dict[str, Any], needle: str) -> None:
    exc = await failure({"OPENAI_API_KEY": KEY, **settings})
    assert needle in str(exc)
    assert KEY not in str(exc)


def test_default_base_url() -> None:
    assert openai_module._base_url(None) == DEFAULT_BASE_URL
    assert openai_module._display_url("https://user:pw@example.com:8443/v1?x=1") == "https://example.com:8443/v1"


# -- the key never leaks -------------------------------------------------------------------------


def _leak_free(exc: BaseException, logs: str) -> None:
    for fragment in (KEY, KEY[:16], KEY[-16:]):
        assert fragment not in str(exc)
        assert fragment not in repr(exc)
        assert fragment not in logs
    # The httpx exception (whose request carries the Authorization header) is not kept around.
    assert exc.__cause__ is None
    assert exc.__context__ is None


@pytest.mark.parametrize("case", ["echoed_401", "echoed_at_cut", "timeout", "refused", "malformed", "bad_setting"])
async def test_key_never_leaks(fake: FakeOpenAI, caplog: pytest.LogCaptureFixture, case: str) -> None:
    caplog.set_level(logging.DEBUG)
    settings: dict[str, Any] = {"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": KEY, "OPENAI_TIMEOUT": 5}
    if case == "echoed_401":
        fake.fail(401, f"Incorrect API key provided: {KEY}. You can find your API key at example.")
    elif case == "echoed_at_cut":
        # Redaction must happen before truncation, or a cut could leave the key's first characters behind.
        fake.fail(401, "y" * 280 + KEY)
    elif case == "timeout":
        fake.delay = 2.0
        settings["OPENAI_TIMEOUT"] = 0.2
    elif case == "refused":
        settings["OPENAI_BASE_URL"] = f"http://127.0.0.1:{closed_port()}/v1"
    elif case == "malformed":
        fake.malformed(f'{{"choices": [], "echo": "{KEY}"}}')
    else:
        settings["OPENAI_TEMPERATURE"] = KEY
    exc = await failure(settings)
    _leak_free(exc, caplog.text)
    assert any(r.name == openai_module.__name__ and r.levelno == logging.WARNING for r in caplog.records)


async def test_key_not_logged_on_success(fake: FakeOpenAI, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await ask({"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": KEY})
    assert KEY not in caplog.text
    assert any(r.name == openai_module.__name__ for r in caplog.records)


# -- the fake server itself ------------------------------------------------------------------------


def test_fake_server_other_paths_and_stop() -> None:
    with FakeOpenAI() as server:
        with urllib.request.urlopen(server.base_url + "/models", timeout=5) as response:
            assert json.loads(response.read())["data"][0]["id"] == "fake-model"
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(server.base_url + "/embeddings", timeout=5)
        assert info.value.code == 404
        info.value.close()
        port = server.port
    with pytest.raises(RuntimeError):
        _ = server.base_url
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
