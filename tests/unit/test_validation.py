"""controlplane.api.validation: every problem of a request reported at once, by field path."""

from __future__ import annotations

import math

import pytest
from google.protobuf import duration_pb2

from controlplane.api import validation
from controlplane.api.validation import Violations
from controlplane.errors import InvalidArgument
from elizaos.v1 import agent_pb2, character_pb2

MAX = 16384


def create(
    name: str = "Eliza",
    plugins: list[str] | None = None,
    pool: str = "",
    memory: int = 0,
    cpu: float = 0.0,
    request_id: str = "",
    **character: object,
) -> list[tuple[str, str]]:
    c = character_pb2.Character(name=name, **character)  # type: ignore[arg-type]
    v = validation.create_agent(
        c, plugins or [], pool, agent_pb2.Resources(memory_bytes=memory, cpu=cpu), request_id
    )
    return v.items


def fields(items: list[tuple[str, str]]) -> list[str]:
    return [field for field, _ in items]


# --- create_agent ---------------------------------------------------------------------------------


def test_valid_create_request_has_no_violations() -> None:
    assert create() == []
    assert create(name="x" * 64, plugins=["sql", "discord"], pool="default", memory=512 * 1024**2, cpu=0.5,
                  request_id="req-1") == []
    assert create(memory=1 << 40, cpu=1024.0) == []


@pytest.mark.parametrize("name", ["", " ", "\t\n "])
def test_empty_or_blank_name(name: str) -> None:
    items = create(name=name)
    assert fields(items) == ["character.name"]
    assert "required" in items[0][1]


def test_name_too_long() -> None:
    items = create(name="x" * 65)
    assert fields(items) == ["character.name"]
    assert "64" in items[0][1]


@pytest.mark.parametrize("name", ["a/b", "/", "a\x00b", "line\nbreak"])
def test_name_with_slash_or_control_character(name: str) -> None:
    assert fields(create(name=name)) == ["character.name"]


def test_username_too_long() -> None:
    assert fields(create(username="u" * 65)) == ["character.username"]


def test_empty_character_plugin() -> None:
    c = character_pb2.Character(name="Eliza", plugins=["ok", ""])
    v = validation.create_agent(c, [], "", agent_pb2.Resources(), "")
    assert fields(v.items) == ["character.plugins[1]"]


def test_empty_secret_name() -> None:
    assert fields(create(secrets={"": "x", "OK": "y"})) == ["character.secrets"]


def test_character_too_large() -> None:
    items = create(bio=["x" * 1000] * 70)
    assert fields(items) == ["character"]
    assert "65536" in items[0][1]


@pytest.mark.parametrize("memory", [-1, -(1 << 20), (1 << 40) + 1])
def test_bad_memory(memory: int) -> None:
    assert fields(create(memory=memory)) == ["resources.memory_bytes"]


@pytest.mark.parametrize("cpu", [math.nan, math.inf, -math.inf, -0.5, 1024.5])
def test_bad_cpu(cpu: float) -> None:
    assert fields(create(cpu=cpu)) == ["resources.cpu"]


def test_empty_plugin_name() -> None:
    assert fields(create(plugins=[""])) == ["plugins[0]"]
    assert fields(create(plugins=["a", "b", ""])) == ["plugins[2]"]


def test_plugin_name_too_long() -> None:
    assert fields(create(plugins=["p" * 201])) == ["plugins[0]"]
    assert create(plugins=["p" * 200]) == []


def test_too_many_plugins() -> None:
    assert fields(create(plugins=[f"p{i}" for i in range(65)])) == ["plugins"]
    assert create(plugins=[f"p{i}" for i in range(64)]) == []


@pytest.mark.parametrize("pool", ["a/b", "..", "p" * 129, "with space", "pool\n"])
def test_bad_pool(pool: str) -> None:
    assert fields(create(pool=pool)) == ["pool"]


@pytest.mark.parametrize("request_id", ["a/b", "..", "r" * 129])
def test_bad_request_id(request_id: str) -> None:
    assert fields(create(request_id=request_id)) == ["request_id"]


def test_several_problems_are_reported_together() -> None:
    items = create(name="", plugins=[""], pool="bad/pool", memory=-1, cpu=math.nan, request_id="..")
    assert sorted(fields(items)) == sorted(
        ["character.name", "plugins[0]", "pool", "resources.memory_bytes", "resources.cpu", "request_id"]
    )
    v = Violations()
    v.items.extend(items)
    with pytest.raises(InvalidArgument) as info:
        v.raise_if_any()
    assert info.value.violations == items
    for field in fields(items):
        assert field in info.value.message


def test_raise_if_any_without_violations_does_nothing() -> None:
    Violations().raise_if_any()


# --- ids ------------------------------------------------------------------------------------------


def test_agent_id_canonicalised() -> None:
    value = "1B4E28BA-2FA1-11D2-883F-0016D3CCA427"
    assert validation.agent_id(value) == value.lower()


@pytest.mark.parametrize("value", ["", "nope", "../x"])
def test_bad_agent_id(value: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        validation.agent_id(value)
    assert [f for f, _ in info.value.violations] == ["agent_id"]


# --- message --------------------------------------------------------------------------------------


def message(text: str, max_bytes: int = MAX) -> list[tuple[str, str]]:
    v = Violations()
    validation.message(v, text, max_bytes)
    return v.items


def test_message_within_limit() -> None:
    assert message("hello") == []
    assert message("x" * MAX) == []


def test_message_over_limit_in_ascii() -> None:
    items = message("x" * (MAX + 1))
    assert fields(items) == ["text"]
    assert str(MAX + 1) in items[0][1]


def test_message_size_counts_utf8_bytes() -> None:
    # 'é' is 2 bytes, '😀' is 4 bytes in UTF-8.
    assert message("é" * (MAX // 2)) == []
    items = message("é" * (MAX // 2 + 1))
    assert fields(items) == ["text"]
    assert str(MAX + 2) in items[0][1]
    assert len("😀" * (MAX // 4 + 1)) < MAX
    assert fields(message("😀" * (MAX // 4 + 1))) == ["text"]
    assert message("😀" * (MAX // 4)) == []


def test_message_with_lone_surrogate_is_measured_not_crashing() -> None:
    assert message("a\ud800b", max_bytes=5) == []
    assert fields(message("a\ud800b", max_bytes=4)) == ["text"]


@pytest.mark.parametrize("text", ["", " ", "\n\t "])
def test_blank_message(text: str) -> None:
    assert fields(message(text)) == ["text"]


def test_blank_and_too_long_reported_together() -> None:
    assert fields(message(" " * 20, max_bytes=10)) == ["text", "text"]


# --- page size ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [(0, 100), (1, 1), (50, 50), (1000, 1000)])
def test_page_size_in_range(value: int, expected: int) -> None:
    v = Violations()
    assert validation.page_size(v, value) == expected
    assert v.items == []


@pytest.mark.parametrize("value", [-1, 1001, 10**9])
def test_page_size_out_of_range(value: int) -> None:
    v = Violations()
    validation.page_size(v, value)
    assert fields(v.items) == ["page_size"]


# --- wait seconds ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "nanos", "expected"),
    [(0, 0, 0.0), (1, 500_000_000, 1.5), (300, 0, 300.0), (0, 1, 1e-9)],
)
def test_wait_seconds_in_range(seconds: int, nanos: int, expected: float) -> None:
    v = Violations()
    got = validation.wait_seconds(v, "wait_timeout", duration_pb2.Duration(seconds=seconds, nanos=nanos))
    assert got == pytest.approx(expected)
    assert v.items == []


@pytest.mark.parametrize(("seconds", "nanos"), [(-1, 0), (0, -1), (301, 0), (300, 1), (10**6, 0)])
def test_wait_seconds_out_of_range(seconds: int, nanos: int) -> None:
    v = Violations()
    got = validation.wait_seconds(v, "wait_timeout", duration_pb2.Duration(seconds=seconds, nanos=nanos))
    assert got == 0.0
    assert fields(v.items) == ["wait_timeout"]


def test_message_and_page_problems_accumulate_in_one_violations() -> None:
    v = Violations()
    validation.message(v, "", MAX)
    validation.page_size(v, -5)
    validation.wait_seconds(v, "wait_timeout", duration_pb2.Duration(seconds=999))
    v.name("room_id", "a/b")
    v.name("pool", "", required=False)
    v.uuid("agent_id", "nope")
    assert fields(v.items) == ["text", "page_size", "wait_timeout", "room_id", "agent_id"]
    with pytest.raises(InvalidArgument) as info:
        v.raise_if_any()
    assert len(info.value.violations) == 5
