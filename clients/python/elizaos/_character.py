"""Load ElizaOS character files (JSON) unchanged into the `Character` message.

Accepts the upstream format: `bio` and `lore` as a string or a list, 2-D `messageExamples`
whose entries have `user` or `name` and `content.text`, `style`, `settings` (with
`settings.secrets`), top-level `secrets`, and knowledge entries as strings or objects.
Keys this system does not use (`clients`, `modelProvider`, `templates`, ...) are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from google.protobuf import struct_pb2

from elizaos.v1 import character_pb2


class CharacterError(ValueError):
    """A character file is malformed; `field` names the offending key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"character.{field}: {message}")
        self.field = field


def _strings(field: str, value: Any, *, allow_str: bool = True) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) and allow_str:
        return [value]
    if not isinstance(value, list):
        raise CharacterError(field, "must be a list of strings" + (" or a string" if allow_str else ""))
    out = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, Mapping) and field == "knowledge":
            # Upstream knowledge entries may be {"path": ...} or {"directory": ...}.
            out.append(str(item.get("path") or item.get("directory") or json.dumps(item)))
        else:
            raise CharacterError(f"{field}[{i}]", "must be a string")
    return out


def _examples(value: Any) -> list[character_pb2.MessageExampleConversation]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise CharacterError("messageExamples", "must be a list of conversations (lists of messages)")
    conversations = []
    for i, conversation in enumerate(value):
        if not isinstance(conversation, list):
            raise CharacterError(f"messageExamples[{i}]", "must be a list of messages")
        messages = []
        for j, message in enumerate(conversation):
            if not isinstance(message, Mapping):
                raise CharacterError(f"messageExamples[{i}][{j}]", "must be an object")
            content = message.get("content") or {}
            if not isinstance(content, Mapping):
                raise CharacterError(f"messageExamples[{i}][{j}].content", "must be an object")
            actions = content.get("actions") or content.get("action") or []
            if isinstance(actions, str):
                actions = [actions]
            if not isinstance(actions, list):
                raise CharacterError(f"messageExamples[{i}][{j}].content.actions", "must be a list of strings")
            messages.append(character_pb2.MessageExample(
                name=str(message.get("name") or message.get("user") or ""),
                text=str(content.get("text") or ""),
                actions=[str(a) for a in actions],
            ))
        conversations.append(character_pb2.MessageExampleConversation(messages=messages))
    return conversations


def character_from_dict(data: Mapping[str, Any]) -> character_pb2.Character:
    """A Character from a parsed ElizaOS character file."""
    if not isinstance(data, Mapping):
        raise CharacterError("", "a character must be a JSON object")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise CharacterError("name", "is required")
    raw_settings = data.get("settings") or {}
    if not isinstance(raw_settings, Mapping):
        raise CharacterError("settings", "must be an object")
    settings = dict(raw_settings)
    nested_secrets = settings.pop("secrets", None) or {}
    if not isinstance(nested_secrets, Mapping):
        raise CharacterError("settings.secrets", "must be an object of name: value")
    top_secrets = data.get("secrets") or {}
    if not isinstance(top_secrets, Mapping):
        raise CharacterError("secrets", "must be an object of name: value")
    secrets = {**nested_secrets, **top_secrets}
    style = data.get("style") or {}
    if not isinstance(style, Mapping):
        raise CharacterError("style", "must be an object")
    character = character_pb2.Character(
        name=name,
        username=str(data.get("username") or ""),
        bio=_strings("bio", data.get("bio")),
        system=str(data.get("system") or ""),
        adjectives=_strings("adjectives", data.get("adjectives")),
        topics=_strings("topics", data.get("topics")),
        knowledge=_strings("knowledge", data.get("knowledge")),
        message_examples=_examples(data.get("messageExamples", data.get("message_examples"))),
        post_examples=_strings("postExamples", data.get("postExamples", data.get("post_examples"))),
        style=character_pb2.CharacterStyle(
            all=_strings("style.all", style.get("all")),
            chat=_strings("style.chat", style.get("chat")),
            post=_strings("style.post", style.get("post")),
        ),
        plugins=_strings("plugins", data.get("plugins"), allow_str=False),
        secrets={str(k): str(v) for k, v in secrets.items()},
        lore=_strings("lore", data.get("lore")),
    )
    if settings:
        payload = struct_pb2.Struct()
        try:
            payload.update(json.loads(json.dumps(settings)))
        except (TypeError, ValueError) as exc:
            raise CharacterError("settings", f"must hold JSON values: {exc}") from None
        character.settings.CopyFrom(payload)
    return character


def load_character(path: str | Path) -> character_pb2.Character:
    """Read an ElizaOS character JSON file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CharacterError("", f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise CharacterError("", f"{path} is not valid JSON: {exc}") from None
    return character_from_dict(data)
