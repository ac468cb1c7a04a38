"""Request validation: every problem of a request is reported at once, by field path."""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from typing import TypeVar

from google.protobuf import duration_pb2

from controlplane.errors import InvalidArgument
from controlplane.store.keys import check_name, check_uuid
from elizaos.v1 import agent_pb2, character_pb2

MAX_CHARACTER_BYTES = 64 * 1024
MAX_NAME_CHARS = 64
MAX_PLUGINS = 64
MAX_WAIT_SECONDS = 300.0
T = TypeVar("T")


class Violations:
    """Collects (field, description) pairs and raises them together."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, field: str, description: str) -> None:
        self.items.append((field, description))

    def name(self, field: str, value: str, *, required: bool = True) -> None:
        """Check a key-safe name (ids, pools, rooms, plugins)."""
        if not value and not required:
            return
        try:
            check_name(field, value)
        except InvalidArgument as exc:
            self.items.extend(exc.violations)

    def check(self, probe: Callable[[], object]) -> None:
        """Run a checker that raises InvalidArgument; collect its violations."""
        try:
            probe()
        except InvalidArgument as exc:
            self.items.extend(exc.violations)

    def uuid(self, field: str, value: str) -> str:
        """Check and canonicalise a UUID."""
        try:
            return check_uuid(field, value)
        except InvalidArgument as exc:
            self.items.extend(exc.violations)
            return value

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidArgument(self.items)


def agent_id(value: str) -> str:
    """A canonical agent id, or InvalidArgument on agent_id."""
    v = Violations()
    canonical = v.uuid("agent_id", value)
    v.raise_if_any()
    return canonical


def wait_seconds(v: Violations, field: str, duration: duration_pb2.Duration) -> float:
    """A wait timeout in seconds (0 when unset), within 0..300 s."""
    seconds = duration.seconds + duration.nanos / 1e9
    if seconds < 0 or seconds > MAX_WAIT_SECONDS:
        v.add(field, f"must be between 0 and {MAX_WAIT_SECONDS:g} seconds")
        return 0.0
    return seconds


def character(v: Violations, c: character_pb2.Character, field: str = "character") -> None:
    """Check a character: a usable name and a bounded size."""
    name = c.name
    if not name.strip():
        v.add(f"{field}.name", "is required")
    elif len(name) > MAX_NAME_CHARS:
        v.add(f"{field}.name", f"must be at most {MAX_NAME_CHARS} characters")
    elif "/" in name or any(ord(ch) < 32 for ch in name):
        v.add(f"{field}.name", "must not contain '/' or control characters")
    if len(c.username) > MAX_NAME_CHARS:
        v.add(f"{field}.username", f"must be at most {MAX_NAME_CHARS} characters")
    for key in c.secrets:
        if not key:
            v.add(f"{field}.secrets", "secret names must not be empty")
    for i, plugin in enumerate(c.plugins):
        if not plugin:
            v.add(f"{field}.plugins[{i}]", "must not be empty")
    size = c.ByteSize()
    if size > MAX_CHARACTER_BYTES:
        v.add(field, f"is {size} bytes; at most {MAX_CHARACTER_BYTES} allowed")


def create_agent(
    c: character_pb2.Character, plugins: list[str], pool: str, resources: agent_pb2.Resources, request_id: str
) -> Violations:
    """Check a CreateAgentRequest's fields (the caller adds wait_timeout and raises)."""
    v = Violations()
    character(v, c)
    if len(plugins) > MAX_PLUGINS:
        v.add("plugins", f"at most {MAX_PLUGINS} plugins")
    for i, plugin in enumerate(plugins):
        if not plugin:
            v.add(f"plugins[{i}]", "must not be empty")
        elif len(plugin) > 200:
            v.add(f"plugins[{i}]", "must be at most 200 characters")
    v.name("pool", pool, required=False)
    v.name("request_id", request_id, required=False)
    if resources.memory_bytes < 0 or resources.memory_bytes > 1 << 40:
        v.add("resources.memory_bytes", "must be between 0 and 1 TiB")
    if not math.isfinite(resources.cpu) or resources.cpu < 0 or resources.cpu > 1024:
        v.add("resources.cpu", "must be between 0 and 1024")
    return v


def page_by_name(items: list[T], requested_size: int, page_token: str, name: Callable[[T], str]
                 ) -> tuple[list[T], str]:
    """One page of `items` in name order (AIP-158), after the name the token points at."""
    v = Violations()
    size = page_size(v, requested_size)
    after = name_token(v, page_token)
    v.raise_if_any()
    rest = [item for item in sorted(items, key=name) if name(item) > after]
    page = rest[:size]
    token = base64.urlsafe_b64encode(name(page[-1]).encode()).decode() if len(rest) > size else ""
    return page, token


def name_token(v: Violations, token: str) -> str:
    """The name a page token of a by-name listing points after ("" for the first page)."""
    if not token:
        return ""
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        v.add("page_token", "is not a token returned by a previous call")
        return ""


def page_size(v: Violations, value: int) -> int:
    """A page size: 1..1000, 0 meaning 100."""
    if value < 0 or value > 1000:
        v.add("page_size", "must be between 0 and 1000")
        return 100
    return value or 100


def message(v: Violations, text: str, max_bytes: int) -> None:
    """A SendMessage text: non-blank, at most max_bytes of UTF-8."""
    if not text.strip():
        v.add("text", "must not be empty")
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        v.add("text", f"is {size} bytes; at most {max_bytes} allowed")
