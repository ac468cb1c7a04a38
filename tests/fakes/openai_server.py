"""A real local HTTP server speaking OpenAI's chat-completions protocol, for tests.

Usage::

    with FakeOpenAI() as fake:                      # listens on 127.0.0.1, a free port
        settings = {"model": "openai", "OPENAI_BASE_URL": fake.base_url}
        ...                                         # run an agent with these settings
        fake.requests[-1].body["messages"]          # what the model was sent

By default it answers ``{"text": "You said: <last user message>", "actions": []}`` as the message
content.  Change the behaviour at any time (it applies to the following requests):

- ``fake.reply_json({"text": "hi", "actions": ["TIME"]})``: that object, JSON-encoded, as content;
- ``fake.reply_text("plain words")``: that string as content (a model ignoring the JSON instructions);
- ``fake.fail(500, "boom")``: that HTTP status with an OpenAI-style ``{"error": {"message": ...}}`` body;
- ``fake.malformed('{"choices": []}')``: status 200 with that raw body (default: not JSON at all);
- ``fake.delay = 2.0``: wait that long before answering (to trigger client timeouts);
- ``fake.echo()``: back to the default.

``FakeOpenAI(api_key="sk-...")`` also answers 401 (like OpenAI) unless ``Authorization: Bearer <key>``
is sent.  Only ``POST /v1/chat/completions`` and ``GET /v1/models`` exist; anything else is a 404.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["FakeOpenAI", "FakeRequest"]


@dataclasses.dataclass(frozen=True, slots=True)
class FakeRequest:
    """One request the fake received: path, headers (lower-case names) and decoded JSON body."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: Any


@dataclasses.dataclass(frozen=True, slots=True)
class _Behaviour:
    kind: str  # "echo", "content", "error", "raw"
    content: str = ""
    status: int = 200
    error_type: str = ""


class FakeOpenAI:
    """An OpenAI-compatible chat-completions server on 127.0.0.1, run in a background thread.

    Use as a context manager (or call :meth:`start` / :meth:`stop`).  Thread-safe: the behaviour may be
    changed while requests are in flight.
    """

    def __init__(self, *, api_key: str | None = None, model: str = "fake-model") -> None:
        """``api_key``: if given, requests without ``Authorization: Bearer <api_key>`` get 401."""
        self.api_key = api_key
        self.model = model
        self.requests: list[FakeRequest] = []
        self.delay: float = 0.0
        self._behaviour = _Behaviour("echo")
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        if self._server is None:
            raise RuntimeError("FakeOpenAI is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """The value for ``OPENAI_BASE_URL``: ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAI:
        """Start listening (idempotent); returns self."""
        if self._server is None:
            self._stopping.clear()
            self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
            self._server.daemon_threads = True
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="fake-openai", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening; delayed answers still pending are abandoned."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- behaviour ---------------------------------------------------------------------------------

    def echo(self) -> None:
        """Answer ``{"text": "You said: <last user message>", "actions": []}`` (the default)."""
        self._set(_Behaviour("echo"))

    def reply_json(self, answer: Any) -> None:
        """Answer with ``answer`` JSON-encoded as the message content."""
        self._set(_Behaviour("content", content=json.dumps(answer)))

    def reply_text(self, text: str) -> None:
        """Answer with ``text`` as the message content, as it is."""
        self._set(_Behaviour("content", content=text))

    def fail(self, status: int, message: str = "fake failure", error_type: str = "server_error") -> None:
        """Answer with HTTP ``status`` and ``{"error": {"message": message, "type": error_type, ...}}``."""
        self._set(_Behaviour("error", content=message, status=status, error_type=error_type))

    def malformed(self, body: str = "this is not JSON", status: int = 200) -> None:
        """Answer with ``body`` verbatim (Content-Type application/json) and ``status``."""
        self._set(_Behaviour("raw", content=body, status=status))

    def _set(self, behaviour: _Behaviour) -> None:
        with self._lock:
            self._behaviour = behaviour

    # -- serving (called from handler threads) -----------------------------------------------------

    def _answer(self, request: FakeRequest) -> tuple[int, bytes]:
        with self._lock:
            behaviour = self._behaviour
            delay = self.delay
        if delay > 0 and self._stopping.wait(delay):
            return 503, _error_body("server is stopping", "server_error")
        if request.method == "GET" and request.path.rstrip("/") == "/v1/models":
            return 200, json.dumps({"object": "list", "data": [
                {"id": self.model, "object": "model", "created": 0, "owned_by": "fake"}]}).encode()
        if request.method != "POST" or request.path.rstrip("/") != "/v1/chat/completions":
            return 404, _error_body(f"Unknown request URL: {request.method} {request.path}", "invalid_request_error")
        if self.api_key is not None and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, _error_body("Incorrect API key provided.", "invalid_request_error")
        if not isinstance(request.body, dict) or not isinstance(request.body.get("messages"), list):
            return 400, _error_body("'messages' is a required property", "invalid_request_error")
        if behaviour.kind == "error":
            return behaviour.status, _error_body(behaviour.content, behaviour.error_type)
        if behaviour.kind == "raw":
            return behaviour.status, behaviour.content.encode()
        if behaviour.kind == "echo":
            content = json.dumps({"text": f"You said: {_last_user_text(request.body)}", "actions": []})
        else:
            content = behaviour.content
        return 200, json.dumps(_completion(str(request.body.get("model") or self.model), content)).encode()


def _last_user_text(body: Mapping[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user" and isinstance(message.get("content"), str):
            return str(message["content"])
    return ""


def _completion(model: str, content: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-fake-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def _error_body(message: str, error_type: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": error_type, "param": None, "code": None}}).encode()


def _handler_for(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, so clients can reuse connections
        timeout = 10  # idle keep-alive connections are dropped after this many seconds

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length > 0 else b""
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            request = FakeRequest(method=method, path=self.path,
                                  headers={k.lower(): v for k, v in self.headers.items()}, body=body)
            fake.requests.append(request)
            status, payload = fake._answer(request)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (e.g. it timed out)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

    return Handler
