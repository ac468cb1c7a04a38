"""controlplane.store.keys: validated key segments, '/'-terminated prefixes, range ends."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controlplane.errors import InvalidArgument
from controlplane.store.keys import KINDS, MAX_NAME, Keys, check_name, check_uuid, range_end

AGENT = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"


def violation_fields(error: InvalidArgument) -> list[str]:
    return [field for field, _ in error.violations]


# --- prefixes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_every_prefix_ends_with_slash_and_sits_under_the_cluster(kind: str) -> None:
    prefix = Keys("prod").prefix(kind)
    assert prefix.endswith(b"/")
    assert prefix == f"/elizaos/prod/{kind}/".encode()


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown key kind"):
        Keys("prod").prefix("secrets")


def test_room_and_memories_prefixes_end_with_slash() -> None:
    keys = Keys("prod")
    assert keys.root == "/elizaos/prod/"
    assert keys.memories(AGENT) == f"/elizaos/prod/memories/{AGENT}/".encode()
    assert keys.room(AGENT, "r1") == f"/elizaos/prod/memories/{AGENT}/r1/".encode()


def test_keys_of_each_kind() -> None:
    keys = Keys("c")
    assert keys.agent(AGENT) == f"/elizaos/c/agents/{AGENT}".encode()
    assert keys.host("host-1") == b"/elizaos/c/hosts/host-1"
    assert keys.agent_slot(7) == b"/elizaos/c/slots/agents/00000007"
    assert keys.request("req_1") == b"/elizaos/c/requests/req_1"
    assert keys.memory(AGENT, "r1", 42) == f"/elizaos/c/memories/{AGENT}/r1/000000000042".encode()
    assert keys.event("20240101T000000-ab12") == b"/elizaos/c/events/20240101T000000-ab12"
    assert keys.election() == b"/elizaos/c/election/leader"


def test_keys_lie_under_their_prefix() -> None:
    keys = Keys("c")
    assert keys.agent(AGENT).startswith(keys.prefix("agents"))
    assert keys.memory(AGENT, "r", 1).startswith(keys.room(AGENT, "r"))
    assert keys.room(AGENT, "r").startswith(keys.memories(AGENT))
    assert keys.memories(AGENT).startswith(keys.prefix("memories"))


def test_room_prefix_does_not_cover_a_longer_room_name() -> None:
    keys = Keys("c")
    assert not keys.memory(AGENT, "room10", 1).startswith(keys.room(AGENT, "room1"))
    assert not Keys("prod2").agent(AGENT).startswith(Keys("prod").prefix("agents"))


def test_memory_keys_sort_by_sequence() -> None:
    keys = Keys("c")
    sequences = [1, 2, 9, 10, 99, 100, 12345]
    encoded = [keys.memory(AGENT, "r", n) for n in sequences]
    assert sorted(encoded) == encoded


# --- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["a", "host-1", "A.b_c:d@e-f", "x" * MAX_NAME, "...", "a..b"])
def test_valid_names(value: str) -> None:
    assert check_name("room_id", value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "a/b",
        "/",
        "..",
        ".",
        "x" * (MAX_NAME + 1),
        "a b",
        "a\tb",
        "a\x00b",
        "naïve",
        "a*b",
        "a%2Fb",
        "a\\b",
        "abc\n",
        "\nabc",
    ],
)
def test_bad_names_raise_invalid_argument_naming_the_field(value: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        check_name("room_id", value)
    assert violation_fields(info.value) == ["room_id"]
    assert info.value.violations[0][1]
    assert "room_id" in info.value.message


def test_max_len_is_configurable() -> None:
    assert check_name("f", "x" * 10, max_len=10) == "x" * 10
    with pytest.raises(InvalidArgument):
        check_name("f", "x" * 11, max_len=10)


@pytest.mark.parametrize("cluster", ["", "a/b", "..", "x" * 64, "a b"])
def test_bad_cluster_name(cluster: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        Keys(cluster)
    assert violation_fields(info.value) == ["name"]


def test_key_builders_name_their_field() -> None:
    keys = Keys("c")
    cases = [
        (lambda: keys.host("a/b"), "host_id"),
        (lambda: keys.request(".."), "request_id"),
        (lambda: keys.room(AGENT, "../x"), "room_id"),
        (lambda: keys.memory(AGENT, "", 1), "room_id"),
        (lambda: keys.event("a b"), "event"),
        (lambda: keys.agent("not-a-uuid"), "agent_id"),
        (lambda: keys.memories("../../etc"), "agent_id"),
        (lambda: keys.room("", "r"), "agent_id"),
    ]
    for build, field in cases:
        with pytest.raises(InvalidArgument) as info:
            build()
        assert violation_fields(info.value) == [field]


# --- uuids ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        AGENT,
        AGENT.upper(),
        AGENT.replace("-", ""),
        "{" + AGENT + "}",
        "urn:uuid:" + AGENT,
    ],
)
def test_uuid_canonical_form(value: str) -> None:
    assert check_uuid("agent_id", value) == AGENT
    assert Keys("c").agent(value) == f"/elizaos/c/agents/{AGENT}".encode()


@pytest.mark.parametrize("value", ["", "x", AGENT[:-1], AGENT + "0", AGENT.replace("a", "g"), "../" + AGENT])
def test_bad_uuid(value: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        check_uuid("agent_id", value)
    assert violation_fields(info.value) == ["agent_id"]


def test_bad_uuid_description_is_bounded() -> None:
    with pytest.raises(InvalidArgument) as info:
        check_uuid("agent_id", "z" * 10_000)
    assert len(info.value.violations[0][1]) < 200


@given(st.uuids())
def test_any_uuid_round_trips(value: uuid.UUID) -> None:
    assert check_uuid("id", str(value).upper()) == str(value)


# --- range_end ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "end"),
    [
        (b"a", b"b"),
        (b"/elizaos/c/agents/", b"/elizaos/c/agents0"),
        (b"a\xff", b"b"),
        (b"a\xfe", b"a\xff"),
        (b"ab\xff\xff", b"ac"),
        (b"\x00", b"\x01"),
    ],
)
def test_range_end(prefix: bytes, end: bytes) -> None:
    assert range_end(prefix) == end


@pytest.mark.parametrize("prefix", [b"", b"\xff", b"\xff\xff\xff"])
def test_range_end_without_upper_bound_is_etcd_all_keys_marker(prefix: bytes) -> None:
    assert range_end(prefix) == b"\0"


PREFIXES = st.binary(min_size=1, max_size=8).filter(lambda b: any(x != 0xFF for x in b))


@settings(max_examples=300)
@given(PREFIXES, st.binary(max_size=8))
def test_every_key_with_the_prefix_is_in_range(prefix: bytes, suffix: bytes) -> None:
    key = prefix + suffix
    end = range_end(prefix)
    assert prefix <= key < end


@settings(max_examples=300)
@given(PREFIXES, st.binary(max_size=12))
def test_keys_in_range_start_with_the_prefix(prefix: bytes, key: bytes) -> None:
    end = range_end(prefix)
    assert (prefix <= key < end) == key.startswith(prefix)
