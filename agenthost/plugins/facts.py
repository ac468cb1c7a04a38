"""The `facts` plugin: remembers what users say about themselves, per user, in the agent's cache.

- Evaluator FACTS (after each reply) learns "my name is Ana", "I'm Ana", "call me Ana",
  "I live in Lisbon", "I like/love X", "my favorite color is blue".
- Provider `facts` puts what is known about the sender into the state ("Known about this
  user: name Ana; lives in Lisbon.") with values such as {"userName": "Ana"}.
- Action RECALL_FACT answers "what is my name?", "where do I live?", "what do I like?",
  "what is my favorite color?" from that memory.

Facts live in the durable per-agent cache under `facts:<entity>:<key>` (see `fact_key`),
with keys `name`, `city`, `likes` (a comma-separated list) and `favorite_<thing>`; the key
`favorites` lists the things with a favorite, so the provider can find them.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable

from elizaos._plugin import (
    Action,
    ActionResult,
    AgentRuntimeAPI,
    Evaluator,
    Message,
    Plugin,
    Provider,
    ProviderResult,
    State,
)

__all__ = [
    "MAX_LIKES",
    "MAX_TEXT",
    "MAX_VALUE_LENGTH",
    "extract_facts",
    "fact_key",
    "known_facts",
    "plugin",
    "recall",
    "remember",
]

MAX_VALUE_LENGTH = 100
"""Longest remembered value (a name, a city, one liked thing, one favorite)."""
MAX_LIKES = 10
"""How many liked things are remembered per user (the oldest are forgotten first)."""
MAX_TEXT = 2000
"""Only the first this many characters of a message are searched for facts and questions."""
_MAX_ENTITY = 64
_MAX_THING = 40

# --- cache keys ------------------------------------------------------------------------------


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _safe(text: str, limit: int, *, lower: bool) -> str:
    """Only letters, digits and `_ . : @ -`; too long or changed ids get a hash suffix so they stay distinct."""
    cleaned = re.sub(r"[^A-Za-z0-9_.:@-]", "_", _ascii(text).lower() if lower else _ascii(text))
    if cleaned == text and 0 < len(cleaned) <= limit:
        return cleaned
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return f"{cleaned[: limit - 13]}-{digest}"


def fact_key(entity_id: str, key: str) -> str:
    """The cache key of one fact about one user, e.g. `facts:user-1:name` (always a valid cache key)."""
    return f"facts:{_safe(entity_id, _MAX_ENTITY, lower=False)}:{_safe(key.lower(), _MAX_THING + 9, lower=True)}"


def _thing_key(thing: str) -> str:
    words = re.findall(r"[a-z0-9]+", _ascii(thing).lower())
    while words and words[-1] in ("again", "please", "now", "then"):
        words.pop()
    return "_".join(words)[:_MAX_THING].strip("_")


# --- learning --------------------------------------------------------------------------------

_WORD = r"[^\W\d_][\w'\-]*"
# Words that end what a user says about a name, a place or a thing ("I live in Lisbon now").
_STOP = frozenset(
    "and but or so because since though although while when where who which that if then with "
    "now currently today tonight tomorrow yesterday here there too also again anyway actually "
    "please thanks thank by for from at on in of to as very really just still".split()
)
# Capitalised words after "I'm" that are not names ("I'm Sorry", "I'm Not sure").
_NOT_NAMES = frozenset(
    "not so very just really fine good great ok okay sorry sure happy sad tired hungry here back "
    "home done ready glad going looking trying new from in at on a an the also still only always "
    "never well bored busy excited afraid sick feeling thinking working alone confused lost "
    "interested curious certain late early free available".split()
)
_PRONOUNS = frozenset("i i'm im me my we you he she they it its it's that this these those them him her us what how "
                      "when where why who there".split())

_NAME_IS = re.compile(rf"\bmy\s+name\s+is\s+(?P<value>{_WORD}(?:\s+{_WORD}){{0,3}})", re.IGNORECASE)
_CALL_ME = re.compile(rf"\b(?:call\s+me|you\s+can\s+call\s+me)\s+(?P<value>{_WORD}(?:\s+{_WORD}){{0,3}})",
                      re.IGNORECASE)
# "I'm Ana" is only a name when it is capitalised: "I'm tired" is not.
_I_AM = re.compile(r"\b(?:[Ii]'m|[Ii]m|[Ii]\s+am)\s+(?P<value>[^\W\d_][\w'\-]*(?:\s+[^\W\d_][\w'\-]*){0,3})")
_LIVE_IN = re.compile(
    rf"\bi\s+(?:now\s+|currently\s+|still\s+)?(?:live|reside|am\s+living|'m\s+living)\s+in\s+"
    rf"(?P<value>{_WORD}(?:\s+{_WORD}){{0,4}})",
    re.IGNORECASE,
)
_LIKE = re.compile(
    r"(?P<before>\b\w+[\s,]+)?\bi\s+(?:really\s+|also\s+|just\s+|absolutely\s+|do\s+)*(?:like|love|enjoy|adore)\s+"
    r"(?P<value>[^.!?;\n]+)",
    re.IGNORECASE,
)
_FAVORITE = re.compile(
    rf"\bmy\s+(?:very\s+)?fav(?:ou?rite|e)\s+(?P<thing>{_WORD}(?:\s+{_WORD}){{0,2}}?)\s+(?:is|are)\s+"
    r"(?P<value>[^.!?;,\n]+?)(?=\s+(?:and|but)\b|[.!?;,\n]|$)",
    re.IGNORECASE,
)
# "... what my name is": a question, not a statement (searched just before the match).
_ASKING = re.compile(r"\b(?:what|if|whether|know|remember)\s+$", re.IGNORECASE)
# Words before "I like" that make it a question or a wish, not a statement.
_NOT_STATEMENT = frozenset("do did does don't doesn't didn't what whether if would could should why how who "
                           "not never".split())


def _clean(text: str) -> str:
    return text[:MAX_TEXT].replace("\u2019", "'").replace("\u2018", "'")


def _phrase(raw: str, max_words: int, *, stop: Iterable[str] = _STOP) -> str:
    """The leading words of `raw` up to a stop word or punctuation, at most `max_words`."""
    words: list[str] = []
    stops = frozenset(stop)
    for word in re.split(r"\s+", raw.strip()):
        bare = word.strip(",:;\"()")
        if not bare or bare.lower() in stops or bare.lower() in _PRONOUNS:
            break
        words.append(bare)
        if word != bare or len(words) == max_words:
            break  # punctuation after the word ends the phrase
    return " ".join(words)[:MAX_VALUE_LENGTH]


def _capitalise(value: str) -> str:
    """Title-case a value the user typed all in lower case ("ana maria" -> "Ana Maria")."""
    if value != value.lower():
        return value
    return " ".join(word[:1].upper() + word[1:] for word in value.split())


def _name(text: str) -> str | None:
    for pattern in (_NAME_IS, _CALL_ME):
        for match in pattern.finditer(text):
            if _ASKING.search(text, max(0, match.start() - 20), match.start()):
                continue  # "do you know what my name is, Eliza?" tells nothing
            value = _phrase(match["value"], 3, stop=_STOP | {"not", "later", "back", "anytime", "maybe",
                                                            "soon", "sometime", "anything", "whatever"})
            if value:
                return _capitalise(value)
    for match in _I_AM.finditer(text):
        words = []
        for word in match["value"].split():
            bare = word.strip(",:;\"()")
            if not bare[:1].isupper() or bare.lower() in _NOT_NAMES or bare.lower() in _STOP:
                break
            words.append(bare)
            if word != bare:
                break
        if words:
            return " ".join(words)[:MAX_VALUE_LENGTH]
    return None


def _likes(text: str) -> list[str]:
    found: list[str] = []
    for match in _LIKE.finditer(text):
        before = (match["before"] or "").strip(" ,").lower()
        if before in _NOT_STATEMENT:
            continue
        for part in re.split(r",|\band\b|\bor\b|&", match["value"], flags=re.IGNORECASE):
            words = part.split()
            if not words:
                continue
            if words[0].lower() in _PRONOUNS or words[0].lower() in {"to", "when", "being", "having"}:
                break  # "I like it", "I like you", "..., and I live in Lisbon": not a thing liked
            value = _phrase(part, 5, stop=_STOP - {"and", "or", "of", "in", "on", "at"})
            if value:
                found.append(value)
            if len(words) != len(value.split()):
                break  # the list ended inside this part ("jazz because ...")
    return found


def _favorites(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for match in _FAVORITE.finditer(text):
        thing = _thing_key(match["thing"])
        value = _phrase(match["value"], 5, stop=_STOP - {"of", "in", "on"})
        if thing and value:
            found[thing] = value
    return found


def extract_facts(text: str) -> dict[str, str | list[str]]:
    """What a message says about its sender: keys `name`, `city`, `likes` (a list) and `favorite_<thing>`."""
    text = _clean(text)
    facts: dict[str, str | list[str]] = {}
    name = _name(text)
    if name:
        facts["name"] = name
    for match in _LIVE_IN.finditer(text):
        city = _phrase(match["value"], 4, stop=_STOP - {"of"})
        if city:
            facts["city"] = _capitalise(city)
            break
    likes = _likes(text)
    if likes:
        facts["likes"] = likes
    for thing, value in _favorites(text).items():
        facts[f"favorite_{thing}"] = value
    return facts


def _split(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def remember(runtime: AgentRuntimeAPI, entity_id: str, facts: dict[str, str | list[str]]) -> None:
    """Store extracted facts in the cache (likes are added to those already known)."""
    for key, value in facts.items():
        if isinstance(value, list):  # likes
            items = _split(runtime.get_cache(fact_key(entity_id, key)))
            for item in value:
                item = " ".join(item.replace(",", " ").split())
                items = [known for known in items if known.lower() != item.lower()] + [item]
            runtime.set_cache(fact_key(entity_id, key), ", ".join(items[-MAX_LIKES:]))
            continue
        runtime.set_cache(fact_key(entity_id, key), value)
        if key.startswith("favorite_"):
            thing = key.removeprefix("favorite_")
            things = _split(runtime.get_cache(fact_key(entity_id, "favorites")))
            if thing not in things:
                runtime.set_cache(fact_key(entity_id, "favorites"), ", ".join([*things, thing][-MAX_LIKES:]))


async def _validate_learn(runtime: AgentRuntimeAPI, message: Message, state: State) -> bool:
    return bool(extract_facts(message.text))


async def _learn(runtime: AgentRuntimeAPI, message: Message, state: State, answer: str) -> None:
    facts = extract_facts(message.text)
    if facts:
        remember(runtime, message.entity_id, facts)


# --- reading back ----------------------------------------------------------------------------


def known_facts(runtime: AgentRuntimeAPI, entity_id: str) -> dict[str, str]:
    """Every fact known about a user: `name`, `city`, `likes`, `favorite_<thing>` (absent when unknown)."""
    known: dict[str, str] = {}
    for key in ("name", "city", "likes"):
        value = runtime.get_cache(fact_key(entity_id, key))
        if value:
            known[key] = value
    for thing in _split(runtime.get_cache(fact_key(entity_id, "favorites"))):
        value = runtime.get_cache(fact_key(entity_id, f"favorite_{thing}"))
        if value:
            known[f"favorite_{thing}"] = value
    return known


def _camel(thing: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in thing.split("_"))


async def _provide(runtime: AgentRuntimeAPI, message: Message, state: State) -> ProviderResult:
    known = known_facts(runtime, message.entity_id)
    if not known:
        return ProviderResult()
    parts: list[str] = []
    values: dict[str, str] = {}
    if "name" in known:
        parts.append(f"name {known['name']}")
        values["userName"] = known["name"]
    if "city" in known:
        parts.append(f"lives in {known['city']}")
        values["userCity"] = known["city"]
    if "likes" in known:
        parts.append(f"likes {known['likes']}")
        values["userLikes"] = known["likes"]
    for key, value in known.items():
        if key.startswith("favorite_"):
            thing = key.removeprefix("favorite_")
            parts.append(f"favorite {thing.replace('_', ' ')} {value}")
            values[f"userFavorite{_camel(thing)}"] = value
    return ProviderResult(text="Known about this user: " + "; ".join(parts) + ".", values=values,
                          data={"facts": known})


_ASK_NAME = re.compile(
    r"\b(?:what(?:'s|s|\s+is)\s+my\s+name|what\s+my\s+name\s+is\b|who\s+am\s+i\b|(?:remember|know|recall)\s+my\s+name"
    r"|do\s+you\s+know\s+who\s+i\s+am)",
    re.IGNORECASE,
)
_ASK_CITY = re.compile(
    r"\b(?:where\s+do\s+i\s+live|where\s+i\s+live|(?:what(?:'s|s|\s+is)|remember|know)\s+my\s+(?:city|hometown|home\s+town)"
    r"|which\s+city\s+do\s+i\s+live\s+in)",
    re.IGNORECASE,
)
_ASK_LIKES = re.compile(
    r"\b(?:what\s+do\s+i\s+(?:like|love|enjoy)|what\s+i\s+(?:like|love|enjoy)|(?:what\s+are|remember|know)\s+my\s+"
    r"(?:likes|interests|hobbies))",
    re.IGNORECASE,
)
_ASK_FAVORITE = re.compile(
    rf"\b(?:what(?:'s|s|\s+is|\s+are)|remember|know|recall)\s+my\s+(?:very\s+)?fav(?:ou?rite|e)\s+"
    rf"(?P<thing>{_WORD}(?:\s+{_WORD}){{0,2}}?)\s*(?:[?.!,]|$|\bis\b)",
    re.IGNORECASE,
)


def _questions(text: str) -> list[str]:
    """What a message asks to recall, in order: "name", "city", "likes", "favorite_<thing>"."""
    text = _clean(text)
    found: list[tuple[int, str]] = []
    for key, pattern in (("name", _ASK_NAME), ("city", _ASK_CITY), ("likes", _ASK_LIKES)):
        match = pattern.search(text)
        if match:
            found.append((match.start(), key))
    for match in _ASK_FAVORITE.finditer(text):
        thing = _thing_key(match["thing"])
        if thing:
            found.append((match.start(), f"favorite_{thing}"))
    return list(dict.fromkeys(key for _, key in sorted(found)))


def recall(runtime: AgentRuntimeAPI, entity_id: str, key: str) -> str:
    """The answer to a question about one fact ("Your name is Ana." / "You have not told me your name yet.")."""
    value = runtime.get_cache(fact_key(entity_id, key))
    if key == "name":
        return f"Your name is {value}." if value else "You have not told me your name yet."
    if key == "city":
        return f"You live in {value}." if value else "You have not told me where you live yet."
    if key == "likes":
        items = _split(value)
        if not items:
            return "You have not told me what you like yet."
        listed = items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
        return f"You like {listed}."
    thing = key.removeprefix("favorite_").replace("_", " ")
    return f"Your favorite {thing} is {value}." if value else f"You have not told me your favorite {thing} yet."


async def _validate_recall(runtime: AgentRuntimeAPI, message: Message, state: State) -> bool:
    return bool(_questions(message.text))


async def _recall(runtime: AgentRuntimeAPI, message: Message, state: State) -> ActionResult:
    asked = _questions(message.text)
    if not asked:
        return ActionResult(text="I am not sure which fact about you you are asking for.", success=False)
    answers = [recall(runtime, message.entity_id, key) for key in asked]
    known = {key: runtime.get_cache(fact_key(message.entity_id, key)) for key in asked}
    return ActionResult(text=" ".join(answers), data={"facts": known})


plugin: Plugin = Plugin(
    name="facts",
    description="Remembers what each user tells the agent about themselves and recalls it in later conversations.",
    evaluators=(
        Evaluator(
            name="FACTS",
            handler=_learn,
            validate=_validate_learn,
            description=(
                "Learns a user's name, home city, likes and favorites from what they say about themselves, "
                "and stores them in the agent's cache."
            ),
        ),
    ),
    providers=(
        Provider(
            name="facts",
            get=_provide,
            description="Adds what the agent knows about the user it is talking to.",
        ),
    ),
    actions=(
        Action(
            name="RECALL_FACT",
            description=(
                "Answers a user's question about what they told the agent before, such as their name, "
                "where they live, what they like or a favorite thing."
            ),
            handler=_recall,
            validate=_validate_recall,
            similes=("REMEMBER", "RECALL", "WHAT_DO_YOU_KNOW_ABOUT_ME"),
            examples=(
                (("user", "What is my name?"), ("agent", "Your name is Ana.")),
                (("user", "Where do I live?"), ("agent", "You have not told me where you live yet.")),
            ),
        ),
    ),
)
"""The facts plugin (entry point `facts`)."""
