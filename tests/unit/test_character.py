"""elizaos._character: upstream ElizaOS character files into the Character message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from elizaos._character import CharacterError, character_from_dict, load_character

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "characters"


def error(data: Any) -> CharacterError:
    with pytest.raises(CharacterError) as info:
        character_from_dict(data)
    return info.value


# --- example files --------------------------------------------------------------------------------


def test_example_files_exist() -> None:
    assert {p.name for p in EXAMPLES.glob("*.json")} >= {"ada.json", "eliza.json"}


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_every_example_loads(path: Path) -> None:
    character = load_character(path)
    assert character.name == json.loads(path.read_text(encoding="utf-8"))["name"]


def test_eliza_example() -> None:
    c = load_character(EXAMPLES / "eliza.json")
    assert c.name == "Eliza"
    assert c.username == "eliza"
    assert len(c.bio) == 2
    assert c.bio[0].startswith("Eliza is a Rogerian psychotherapist")
    assert c.system.startswith("You are Eliza")
    assert list(c.adjectives) == ["patient", "curious", "reflective", "calm"]
    assert "family" in c.topics
    assert len(c.knowledge) == 1
    assert len(c.message_examples) == 2
    first = c.message_examples[0].messages
    assert [(m.name, m.text) for m in first] == [("{{user1}}", "Men are all alike."), ("Eliza", "In what way?")]
    assert list(c.post_examples) == ["How does that make you feel?"]
    assert list(c.style.chat) == ["short sentences"]
    assert list(c.style.post) == ["gentle and open"]
    assert len(c.style.all) == 2
    assert list(c.plugins) == []
    assert json_format.MessageToDict(c.settings) == {"model": "eliza"}
    assert dict(c.secrets) == {}


def test_ada_example_moves_settings_secrets() -> None:
    c = load_character(str(EXAMPLES / "ada.json"))
    assert c.name == "Ada"
    assert list(c.bio) == ["Ada is a calm listener named after Ada Lovelace."]
    assert list(c.lore) == ["She prefers questions to answers."]
    assert c.message_examples[0].messages[1].name == "Ada"
    assert list(c.style.all) == ["brief"]
    assert dict(c.secrets) == {"EXAMPLE_API_KEY": "not-a-real-key"}
    assert "secrets" not in json_format.MessageToDict(c.settings)


# --- upstream format ------------------------------------------------------------------------------


def test_minimal_character() -> None:
    c = character_from_dict({"name": "Min"})
    assert c.name == "Min"
    assert list(c.bio) == []
    assert len(c.message_examples) == 0
    assert not c.HasField("settings")


@pytest.mark.parametrize(
    ("bio", "expected"),
    [("One line.", ["One line."]), (["a", "b"], ["a", "b"]), ([], []), (None, [])],
)
def test_bio_string_or_list(bio: Any, expected: list[str]) -> None:
    assert list(character_from_dict({"name": "X", "bio": bio}).bio) == expected


def test_lore_string_or_list() -> None:
    assert list(character_from_dict({"name": "X", "lore": "once"}).lore) == ["once"]
    assert list(character_from_dict({"name": "X", "lore": ["a", "b"]}).lore) == ["a", "b"]


def test_message_examples_with_user_or_name_and_actions() -> None:
    c = character_from_dict({
        "name": "X",
        "messageExamples": [
            [
                {"user": "{{user1}}", "content": {"text": "hello"}},
                {"user": "X", "content": {"text": "hi", "action": "CONTINUE"}},
            ],
            [
                {"name": "{{user2}}", "content": {"text": "bye"}},
                {"name": "X", "content": {"text": "ciao", "actions": ["REPLY", "IGNORE"]}},
                {"name": "X", "content": {}},
            ],
        ],
    })
    assert len(c.message_examples) == 2
    one, two = c.message_examples
    assert [(m.name, m.text, list(m.actions)) for m in one.messages] == [
        ("{{user1}}", "hello", []),
        ("X", "hi", ["CONTINUE"]),
    ]
    assert [(m.name, m.text, list(m.actions)) for m in two.messages] == [
        ("{{user2}}", "bye", []),
        ("X", "ciao", ["REPLY", "IGNORE"]),
        ("X", "", []),
    ]


def test_snake_case_message_examples_also_accepted() -> None:
    c = character_from_dict({"name": "X", "message_examples": [[{"user": "u", "content": {"text": "t"}}]]})
    assert c.message_examples[0].messages[0].text == "t"


def test_actions_given_as_a_single_string_are_not_split_into_letters() -> None:
    data = {"name": "X", "messageExamples": [[{"user": "X", "content": {"text": "t", "actions": "REPLY"}}]]}
    try:
        c = character_from_dict(data)
    except CharacterError as exc:
        assert "messageExamples[0][0]" in exc.field
    else:
        assert list(c.message_examples[0].messages[0].actions) == ["REPLY"]


def test_style() -> None:
    c = character_from_dict({"name": "X", "style": {"all": "calm", "chat": ["short"], "post": []}})
    assert list(c.style.all) == ["calm"]
    assert list(c.style.chat) == ["short"]
    assert list(c.style.post) == []


def test_settings_secrets_moved_and_top_level_secrets_win() -> None:
    c = character_from_dict({
        "name": "X",
        "settings": {"model": "eliza", "voice": {"model": "en_US"}, "secrets": {"A": "from-settings", "B": "b"}},
        "secrets": {"A": "top", "C": 3},
    })
    assert dict(c.secrets) == {"A": "top", "B": "b", "C": "3"}
    settings = json_format.MessageToDict(c.settings)
    assert settings == {"model": "eliza", "voice": {"model": "en_US"}}


def test_settings_with_only_secrets_leaves_no_settings() -> None:
    c = character_from_dict({"name": "X", "settings": {"secrets": {"K": "v"}}})
    assert dict(c.secrets) == {"K": "v"}
    assert "secrets" not in json_format.MessageToDict(c.settings)


def test_knowledge_strings_and_objects() -> None:
    c = character_from_dict({
        "name": "X",
        "knowledge": ["plain fact", {"path": "docs/a.md"}, {"directory": "docs/"}, {"id": "k1", "shared": True}],
    })
    assert list(c.knowledge[:3]) == ["plain fact", "docs/a.md", "docs/"]
    assert json.loads(c.knowledge[3]) == {"id": "k1", "shared": True}


def test_unknown_keys_ignored() -> None:
    c = character_from_dict({
        "name": "X",
        "clients": ["discord"],
        "modelProvider": "openai",
        "templates": {"a": "b"},
        "imageModelProvider": 5,
        "id": "whatever",
    })
    assert c.name == "X"
    assert c == character_from_dict({"name": "X"})


def test_plugins_list() -> None:
    assert list(character_from_dict({"name": "X", "plugins": ["a", "b"]}).plugins) == ["a", "b"]


# --- errors name the field ------------------------------------------------------------------------


@pytest.mark.parametrize("data", [{}, {"name": ""}, {"name": "   "}, {"name": 5}, {"name": None}, {"bio": "x"}])
def test_missing_or_bad_name(data: dict[str, Any]) -> None:
    assert error(data).field == "name"


def test_not_an_object() -> None:
    e = error(["name"])
    assert e.field == ""


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"bio": 5}, "bio"),
        ({"bio": {"a": 1}}, "bio"),
        ({"bio": ["ok", 7]}, "bio[1]"),
        ({"lore": 1.5}, "lore"),
        ({"adjectives": [None]}, "adjectives[0]"),
        ({"plugins": "sql"}, "plugins"),
        ({"style": "calm"}, "style"),
        ({"style": {"all": 3}}, "style.all"),
        ({"knowledge": [3]}, "knowledge[0]"),
        ({"messageExamples": "hi"}, "messageExamples"),
        ({"messageExamples": [{"user": "u", "content": {"text": "t"}}]}, "messageExamples[0]"),
        ({"messageExamples": [[], ["not an object"]]}, "messageExamples[1][0]"),
        ({"messageExamples": [[{"user": "u", "content": "text"}]]}, "messageExamples[0][0].content"),
    ],
)
def test_bad_field_is_named(data: dict[str, Any], field: str) -> None:
    e = error({"name": "X", **data})
    assert e.field == field
    assert str(e).startswith(f"character.{field}: ")
    assert isinstance(e, ValueError)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"settings": "fast"}, "settings"),
        ({"settings": 5}, "settings"),
        ({"settings": {"secrets": "k=v"}}, "settings.secrets"),
        ({"secrets": ["K"]}, "secrets"),
    ],
)
def test_malformed_settings_and_secrets_raise_character_error(data: dict[str, Any], field: str) -> None:
    e = error({"name": "X", **data})
    assert e.field.startswith(field.split(".")[0])


def test_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"name": "X",', encoding="utf-8")
    with pytest.raises(CharacterError) as info:
        load_character(path)
    assert info.value.field == ""
    assert "not valid JSON" in str(info.value)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    with pytest.raises(CharacterError) as info:
        load_character(path)
    assert info.value.field == ""
    assert "cannot read" in str(info.value)
    assert str(path) in str(info.value)


def test_file_field_errors_propagate(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"name": "X", "bio": 3}), encoding="utf-8")
    with pytest.raises(CharacterError) as info:
        load_character(path)
    assert info.value.field == "bio"
