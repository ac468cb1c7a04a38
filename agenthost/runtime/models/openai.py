"""The ``openai`` model: any OpenAI-compatible chat-completions endpoint (OpenAI, Ollama, vLLM, llama.cpp).

An agent uses it with the setting ``model: openai``.  Settings, read with ``runtime.get_setting`` (so a
character secret wins over a character setting, which wins over plugin config and host defaults):

``OPENAI_BASE_URL``
    Root of the API, the part before ``/chat/completions``; default ``https://api.openai.com/v1``.
    Ollama: ``http://localhost:11434/v1``; vLLM and llama.cpp server: ``http://HOST:PORT/v1``.
``OPENAI_API_KEY``
    A secret (put it in the character's ``secrets``); sent as ``Authorization: Bearer``.  Optional:
    local servers usually need none, and without it no ``Authorization`` header is sent.  It never
    appears in exception messages, log lines or reprs; a server echoing it back is redacted too.
``OPENAI_MODEL``
    Model name sent with every request; default ``gpt-4o-mini``.
``OPENAI_TIMEOUT``
    Seconds one call may take, end to end (connect, send, wait, read); default 30.
``OPENAI_TEMPERATURE``
    Sampling temperature; when unset the server's default is used.

Each call sends two messages: the system message is the whole composed prompt (the character, then
the providers' state) followed by instructions to answer with a JSON object
``{"text": "...", "actions": ["ACTION_NAME", ...]}`` naming only the agent's actions; the user message is
the incoming text.  ``response_format`` asks for a JSON object.  A reply that is such an object becomes
:class:`~elizaos.ModelResponse` ``(text, actions)`` with the actions matched case-insensitively against the
known names (unknown ones dropped, duplicates removed, order kept); any other reply is used verbatim as
the text, with no actions.

Every failure (endpoint unreachable, timeout, error status, a response without choices, bad settings)
raises :class:`ModelUnavailableError`, whose message is fit to show to users.  Connections are pooled:
one ``httpx.AsyncClient`` per event loop and base URL; :func:`aclose_clients` closes them at shutdown.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
import weakref
from collections.abc import Mapping, Sequence
from typing import Any, Final, NoReturn
from urllib.parse import urlsplit, urlunsplit

import httpx

from elizaos import AgentRuntimeAPI, ModelRequest, ModelResponse

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "DEFAULT_TIMEOUT",
    "ModelUnavailableError",
    "aclose_clients",
    "build_request_body",
    "openai_model",
    "parse_answer",
]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL: Final = "https://api.openai.com/v1"
DEFAULT_MODEL: Final = "gpt-4o-mini"
DEFAULT_TIMEOUT: Final = 30.0
# More than any sensible chat answer; stops a misbehaving server from filling memory.
MAX_RESPONSE_BYTES: Final = 4 * 1024 * 1024
# Server error messages are quoted to users; long ones are cut.
MAX_ERROR_CHARS: Final = 300
MAX_TIMEOUT: Final = 600.0

_FENCE_RE: Final = re.compile(r"^```[a-zA-Z0-9_-]*\s*\n?(.*?)\n?```$", re.DOTALL)
_SPACE_RE: Final = re.compile(r"\s+")

# Per event loop (a client is bound to the loop it was first used on), per base URL.
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, httpx.AsyncClient]] = (
    weakref.WeakKeyDictionary()
)


class ModelUnavailableError(Exception):
    """The model endpoint could not give an answer; the message says why and never contains the API key."""


def build_request_body(
    request: ModelRequest, model: str, temperature: float | None = None
) -> dict[str, Any]:
    """The chat-completions request body for ``request``: system prompt + instructions, then the user text."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [
            {"role": "system", "content": request.prompt + "\n\n" + _instructions(request.action_names)},
            {"role": "user", "content": request.message.text},
        ],
        "response_format": {"type": "json_object"},
    }
    if temperature is not None:
        body["temperature"] = temperature
    return body


def parse_answer(content: str, action_names: Sequence[str]) -> ModelResponse:
    """Turn the model's message content into a response.

    A JSON object with a string ``text`` gives that text and its ``actions`` that name known actions
    (case-insensitive; each reported once, under its registered name, in the model's order).  Anything
    else (plain text, other JSON) is the reply text as it is, with no actions.
    """
    answer = _json_object(content)
    if answer is None or not isinstance(answer.get("text"), str):
        return ModelResponse(text=content.strip())
    known = {name.casefold(): name for name in action_names}
    chosen: list[str] = []
    raw_actions = answer.get("actions")
    if isinstance(raw_actions, list):
        for item in raw_actions:
            name = known.get(item.strip().casefold()) if isinstance(item, str) else None
            if name is not None and name not in chosen:
                chosen.append(name)
    return ModelResponse(text=answer["text"], actions=tuple(chosen))


async def openai_model(runtime: AgentRuntimeAPI, request: ModelRequest) -> ModelResponse:
    """Answer ``request`` with an OpenAI-compatible chat-completions endpoint (a ``ModelHandler``).

    Raises :class:`ModelUnavailableError` when no answer can be had within ``OPENAI_TIMEOUT``.
    """
    api_key = _optional_str(runtime.get_setting("OPENAI_API_KEY"))
    try:
        base_url = _base_url(runtime.get_setting("OPENAI_BASE_URL"))
        model = _optional_str(runtime.get_setting("OPENAI_MODEL")) or DEFAULT_MODEL
        timeout = _timeout(runtime.get_setting("OPENAI_TIMEOUT"))
        temperature = _temperature(runtime.get_setting("OPENAI_TEMPERATURE"))
    except ModelUnavailableError as exc:
        log.warning("event=model_unavailable agent=%s error=%s", runtime.agent_id, exc)
        raise
    where = _display_url(base_url)

    headers = {"Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    body = build_request_body(request, model, temperature)

    started = time.monotonic()
    status, payload, failure = await _post(base_url, headers, body, timeout, where)
    # Raised here, outside any `except`: the httpx exception (whose request holds the Authorization
    # header) must not ride along as __context__ of the error we hand out.
    if failure is not None:
        _fail(runtime, failure, api_key)
    if not 200 <= status < 300:
        detail = _error_detail(payload, api_key)
        _fail(runtime, f"model endpoint {where} returned HTTP {status}" + (f": {detail}" if detail else ""), api_key)
    content = _content(payload)
    if content is None:
        _fail(runtime, f"model endpoint {where} sent a malformed response (no choices with a message)", api_key)
    response = parse_answer(content, request.action_names)
    log.debug("event=model_answered agent=%s model=%s endpoint=%s seconds=%.3f actions=%s",
              runtime.agent_id, model, where, time.monotonic() - started, ",".join(response.actions) or "-")
    return response


async def aclose_clients() -> None:
    """Close the pooled HTTP clients of the running event loop (call at shutdown; later calls reopen)."""
    clients = _clients.pop(asyncio.get_running_loop(), {})
    for client in clients.values():
        await client.aclose()


# -- internals -------------------------------------------------------------------------------------


def _instructions(action_names: Sequence[str]) -> str:
    lines = [
        "Answer the user's message in character. Reply with a single JSON object and nothing else, "
        'of the form {"text": "<your reply to the user>", "actions": []}.',
    ]
    if action_names:
        lines.append(
            'Put in "actions" the names of the actions to take for this message, chosen only from: '
            + ", ".join(action_names)
            + '. Use an empty list when none applies.'
        )
    else:
        lines.append('No actions are available: "actions" must be an empty list.')
    return "\n".join(lines)


def _json_object(content: str) -> dict[str, Any] | None:
    text = content.strip()
    fenced = _FENCE_RE.match(text)
    candidates = [text, fenced.group(1).strip()] if fenced else [text]
    for candidate in candidates:
        if not candidate.startswith("{"):
            continue
        try:
            value = json.loads(candidate)
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            continue
        if isinstance(value, dict):
            return value
    return None


def _optional_str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _base_url(value: Any) -> str:
    url = (_optional_str(value) or DEFAULT_BASE_URL).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # Not echoing the value: a misplaced key could have been pasted here.
        raise ModelUnavailableError("OPENAI_BASE_URL must be an http:// or https:// URL")
    return url


def _display_url(url: str) -> str:
    """The base URL without credentials, query or fragment, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _number(value: Any, key: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ModelUnavailableError(f"{key} must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    # Raised outside the `except`: the conversion error quotes the value, which may be a pasted key.
    if number is None:
        raise ModelUnavailableError(f"{key} must be a number")
    if not math.isfinite(number):
        raise ModelUnavailableError(f"{key} must be a finite number")
    return number


def _timeout(value: Any) -> float:
    number = _number(value, "OPENAI_TIMEOUT")
    if number is None:
        return DEFAULT_TIMEOUT
    if number <= 0:
        raise ModelUnavailableError("OPENAI_TIMEOUT must be a positive number of seconds")
    return min(number, MAX_TIMEOUT)


def _temperature(value: Any) -> float | None:
    number = _number(value, "OPENAI_TEMPERATURE")
    if number is not None and number < 0:
        raise ModelUnavailableError("OPENAI_TEMPERATURE must not be negative")
    return number


def _client(base_url: str) -> httpx.AsyncClient:
    per_loop = _clients.setdefault(asyncio.get_running_loop(), {})
    client = per_loop.get(base_url)
    if client is None or client.is_closed:
        # The timeout here is only a default; every request passes its own.
        client = httpx.AsyncClient(timeout=DEFAULT_TIMEOUT, follow_redirects=False)
        per_loop[base_url] = client
    return client


async def _post(
    base_url: str, headers: Mapping[str, str], body: Mapping[str, Any], timeout: float, where: str
) -> tuple[int, Any, str | None]:
    """POST the request; (status, decoded JSON body or None, failure message or None)."""
    client = _client(base_url)
    url = base_url + "/chat/completions"
    try:
        # httpx's timeout bounds each phase; asyncio.timeout bounds the whole call.
        async with asyncio.timeout(timeout):
            async with client.stream("POST", url, headers=dict(headers), json=body,
                                     timeout=httpx.Timeout(timeout)) as response:
                status = response.status_code
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > MAX_RESPONSE_BYTES:
                        return status, None, (
                            f"model endpoint {where} sent more than {MAX_RESPONSE_BYTES} bytes")
    except (TimeoutError, httpx.TimeoutException):
        return 0, None, f"model endpoint {where} did not answer within {timeout:g} s"
    except httpx.ConnectError:
        return 0, None, f"cannot connect to model endpoint {where}"
    except httpx.HTTPError as exc:
        # Only the class name: the message is httpx's and we do not control what it contains.
        return 0, None, f"request to model endpoint {where} failed ({type(exc).__name__})"
    try:
        payload = json.loads(bytes(data))
    except (ValueError, RecursionError):
        payload = None
        if 200 <= status < 300:
            return status, None, f"model endpoint {where} sent a malformed response (not JSON)"
    return status, payload, None


def _error_detail(payload: Any, api_key: str | None) -> str:
    """The server's error message: OpenAI's ``{"error": {"message": ...}}`` or a bare ``{"error": "..."}``.

    The key is redacted before the message is cut, so a cut cannot leave part of it behind.
    """
    if not isinstance(payload, dict):
        return ""
    error = payload.get("error")
    message = error.get("message") if isinstance(error, dict) else error
    if not isinstance(message, str):
        return ""
    message = _SPACE_RE.sub(" ", message).strip()
    if api_key:
        message = message.replace(api_key, "[redacted]")
    if len(message) > MAX_ERROR_CHARS:
        message = message[: MAX_ERROR_CHARS - 3].rstrip() + "..."
    return message


def _content(payload: Any) -> str | None:
    """The first choice's message content (or refusal), or None when the response has none."""
    if not isinstance(payload, dict):
        return None
    choices = payload.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    message = choices[0].get("message")
    if not isinstance(message, dict):
        return None
    content = message.get("content")
    if isinstance(content, str):
        return content
    refusal = message.get("refusal")
    return refusal if isinstance(refusal, str) else None


def _fail(runtime: AgentRuntimeAPI, message: str, api_key: str | None) -> NoReturn:
    """Log and raise ModelUnavailableError with the key (if it somehow got in) redacted."""
    if api_key:
        message = message.replace(api_key, "[redacted]")
    log.warning("event=model_unavailable agent=%s error=%s", runtime.agent_id, message)
    raise ModelUnavailableError(message)
