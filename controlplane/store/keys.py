"""The one place that builds etcd keys. Every name is validated; every prefix ends with '/'.

Layout under /elizaos/<cluster>/: agents/<id>, hosts/<id>, memories/<agent>/<room>/<seq>,
events/<time>-<rand>, slots/agents/<n>, requests/<request-id>, election/.
"""

from __future__ import annotations

import re
import uuid

from controlplane.errors import InvalidArgument

MAX_NAME = 128
_NAME = re.compile(r"^[A-Za-z0-9_.:@-]+$")
KINDS = ("agents", "hosts", "memories", "cache", "events", "slots/agents", "requests", "election", "plugins",
         "services")


def check_name(field: str, value: str, *, max_len: int = MAX_NAME) -> str:
    """Return `value` if it is a safe key segment, else raise InvalidArgument naming `field`."""
    if not value:
        raise InvalidArgument([(field, "must not be empty")])
    if len(value) > max_len:
        raise InvalidArgument([(field, f"must be at most {max_len} characters")])
    if value in (".", "..") or not _NAME.fullmatch(value):
        raise InvalidArgument([(field, "may hold only letters, digits and _ . : @ -")])
    return value


def check_uuid(field: str, value: str) -> str:
    """Return the canonical form of a UUID string, or raise InvalidArgument naming `field`."""
    if not value:
        raise InvalidArgument([(field, "must not be empty")])
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgument([(field, f"{value[:64]!r} is not a UUID")]) from None


class Keys:
    """Builds the keys of one cluster; `cluster` is validated once here."""

    __slots__ = ("root",)

    def __init__(self, cluster: str) -> None:
        check_name("name", cluster, max_len=63)
        self.root = f"/elizaos/{cluster}/"

    def prefix(self, kind: str) -> bytes:
        """Prefix of every key of one kind, ending with '/'."""
        if kind not in KINDS:
            raise ValueError(f"unknown key kind {kind!r}")
        return f"{self.root}{kind}/".encode()

    def agent(self, agent_id: str) -> bytes:
        return self.prefix("agents") + check_uuid("agent_id", agent_id).encode()

    def host(self, host_id: str) -> bytes:
        return self.prefix("hosts") + check_name("host_id", host_id).encode()

    def agent_slot(self, slot: int) -> bytes:
        return self.prefix("slots/agents") + f"{slot:08d}".encode()

    def request(self, request_id: str) -> bytes:
        return self.prefix("requests") + check_name("request_id", request_id).encode()

    def memories(self, agent_id: str) -> bytes:
        return self.prefix("memories") + check_uuid("agent_id", agent_id).encode() + b"/"

    def room(self, agent_id: str, room_id: str) -> bytes:
        return self.memories(agent_id) + check_name("room_id", room_id).encode() + b"/"

    def memory(self, agent_id: str, room_id: str, sequence: int) -> bytes:
        return self.room(agent_id, room_id) + f"{sequence:012d}".encode()

    def cache(self, agent_id: str) -> bytes:
        return self.prefix("cache") + check_uuid("agent_id", agent_id).encode() + b"/"

    def cache_entry(self, agent_id: str, key: str) -> bytes:
        return self.cache(agent_id) + check_name("cache key", key).encode()

    def registration(self, kind: str, name: str) -> bytes:
        """A named registration: plugins/<name> or services/<name>."""
        if kind not in ("plugins", "services"):
            raise ValueError(f"{kind!r} holds no registrations")
        return self.prefix(kind) + check_name("name", name).encode()

    def event(self, stamp: str) -> bytes:
        return self.prefix("events") + check_name("event", stamp).encode()

    def election(self) -> bytes:
        return self.prefix("election") + b"leader"


def range_end(prefix: bytes) -> bytes:
    """End of the etcd range that holds exactly the keys starting with `prefix`."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"
