"""Weizenbaum's ELIZA (CACM 9(1), 1966) running the DOCTOR script: a deterministic, offline chat model.

The algorithm is the published one:

1. Split the input into words; ``.``, ``,`` (and ``;:!?``) and the word "but" end a clause.  Scanning
   left to right, the first clause that contains a keyword is kept and the rest is ignored; if no
   clause has one, the last clause is kept.
2. The clause's keywords are ordered by rank (highest first, ties in order of appearance).
3. For the first keyword, its decomposition patterns are tried in order; the first that matches
   picks its next reassembly rule (rotating, so repeated input gets varied replies).  The reply is
   built from the rule's text and the matched fragments with pronouns reflected ("my" -> "your").
   A rule ``=kw`` re-runs keyword ``kw``'s patterns on the same clause; ``NEWKEY`` moves on to the
   next keyword.
4. When the top keyword is "my", a MEMORY rule (picked by hashing the clause's last word) is also
   applied and the result queued.  An input with no usable keyword gets the oldest queued memory, or
   else a NONE reply in rotation.

Differences from 1966: the original only drew on memory when a 4-step counter was in a particular
state; here memory is used whenever it is not empty.  Keyword ties are resolved by a stable sort rather
than SLIP's "push on top only if strictly higher" stack, which only changes the order of lower keywords.
The @sad/@happy words get rank-3 entries handing over to the "i" rules, so "I am sad about my job" gets
the classic "I am sorry to hear you are sad about your job." (in 1966 "my" would win: "Your job?");
"who"/"what is your name" answer with the agent's name; "hi" works like "hello".

A script (:class:`ElizaScript`) is immutable and shared; a conversation (:class:`ElizaConversation`)
holds only its rotation counters and memory queue, and its state is a pure function of the user
inputs it has seen, which is what makes :meth:`ElizaConversation.replay` possible.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar, Final

from agenthost.runtime.models import doctor_script

__all__ = ["ElizaConversation", "ElizaScript"]

# Long messages are cut before tokenising so a pasted novel costs no more than a paragraph.
MAX_INPUT_CHARS: Final = 2000
# Fragments longer than this make silly replies and slow matching; 1966 lines were short anyway.
MAX_CLAUSE_WORDS: Final = 40
# Bounds the per-conversation memory; the oldest memories are the first to go, as they would be recalled.
MAX_MEMORIES: Final = 16
# "=kw" chains are short in DOCTOR; a bound turns an accidental cycle in a script into a NONE reply.
MAX_GOTO_DEPTH: Final = 8
MAX_AGENT_NAME_CHARS: Final = 64

_TEXT: Final = 0
_GOTO: Final = 1
_NEWKEY: Final = 2
# In reassembly parts an int is a fragment number (1-based); 0 cannot be one, so it stands for the name.
_NAME_PART: Final = 0

_TOKEN_RE: Final = re.compile(r"(?P<word>[^\W_]+(?:'[^\W_]+)*)|(?P<stop>[.,;:!?]+)")
_PART_RE: Final = re.compile(r"\((\d+)\)|\{name\}")
_PATTERN_ELEMENT_RE: Final = re.compile(r"\[[^\]]*\]|\S+")
_WORDS_RE: Final = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_SPACE_BEFORE_PUNCT_RE: Final = re.compile(r"\s+([,.;:?!])")
_DANGLING_COMMA_RE: Final = re.compile(r"[,;:]+([.?!])")
_EMPTY_QUOTE_RE: Final = re.compile(r"'\s*'")
_APOSTROPHES: Final = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})

# Words after which "you" is the subject of a question ("can you" -> "can I").
_INVERTING_AUX: Final = frozenset(
    "am are was were do does did can could will would shall should may might must have has had "
    "don't doesn't didn't can't won't wouldn't couldn't shouldn't haven't hasn't aren't weren't".split()
)
# Words that, following "you", show it is a subject ("you are" -> "I am", "you hate" -> "I hate");
# anything else keeps "you" an object ("with you" -> "with me").
_SUBJECT_NEXT: Final = frozenset(
    "am are was were is do does did can could will would shall should may might must have has had "
    "don't doesn't didn't can't cannot won't wouldn't couldn't shouldn't haven't hasn't aren't weren't "
    "always never really just also still only even probably certainly seem seemed seems think thought "
    "know knew feel felt want wanted need needed like liked love loved hate hated say said tell told "
    "make made go went get got see saw look keep kept care mean meant understand remind reminded help "
    "helped hurt listen try tried believe wish hope argue argued treat treated ignore ignored".split()
)
# After a verb agrees with a swapped pronoun it must change too ("you were" -> "I was").
_VERB_AFTER_YOU: Final[Mapping[str, str]] = MappingProxyType(
    {"are": "am", "were": "was", "aren't": "am not", "weren't": "wasn't"}
)
_VERB_AFTER_I: Final[Mapping[str, str]] = MappingProxyType({"was": "were", "wasn't": "weren't"})

# IBM 7094 BCD codes, so the memory hash sees words the way MAD-SLIP did.
_BCD: Final[Mapping[str, int]] = MappingProxyType(
    {
        **{c: i for i, c in enumerate("0123456789")},
        **{c: 0o21 + i for i, c in enumerate("ABCDEFGHI")},
        **{c: 0o41 + i for i, c in enumerate("JKLMNOPQR")},
        **{c: 0o62 + i for i, c in enumerate("STUVWXYZ")},
        " ": 0o60,
        "'": 0o14,
    }
)


def _slip_hash(word: str, bits: int) -> int:
    """Reconstruction of MAD-SLIP's HASH as ELIZA used it to pick a MEMORY rule.

    The last (up to) six characters are packed as a 36-bit BCD word, squared, and middle bits kept.
    It reproduces the 1966 sample conversation, where "...come here" chose the fourth memory rule.
    """
    chunk = word[(len(word) - 1) // 6 * 6 :].upper() if word else ""
    packed = 0
    for ch in chunk[:6].ljust(6):
        packed = (packed << 6) | _BCD.get(ch, ord(ch) & 0o77)
    packed &= 0x7FFFFFFFF  # the sign bit of the 7094 word takes no part
    return ((packed * packed) >> (35 - bits // 2)) & ((1 << bits) - 1)


def _fold(word: str) -> str:
    key = word.casefold()
    if key.isascii():
        return key
    # "Español"/"français" must hit the ASCII keywords of the 1966 script.
    stripped = "".join(c for c in unicodedata.normalize("NFKD", key) if not unicodedata.combining(c))
    return stripped or key


def _word_keys(text: str) -> list[str]:
    return [_fold(w) for w in _WORDS_RE.findall(text.translate(_APOSTROPHES))]


@dataclass(frozen=True, slots=True)
class _Element:
    # None means a wildcard; then count is -1 for "any number of words" or the exact number.
    words: frozenset[str] | None
    count: int = 1


@dataclass(frozen=True, slots=True)
class _Reassembly:
    kind: int
    parts: tuple[str | int, ...] = ()
    target: str = ""


@dataclass(frozen=True, slots=True)
class _Decomposition:
    ident: int
    elements: tuple[_Element, ...]
    # Every literal element must find one of its words in the clause; a cheap reject before matching.
    required: tuple[frozenset[str], ...]
    reassemblies: tuple[_Reassembly, ...]


@dataclass(frozen=True, slots=True)
class _Keyword:
    word: str
    rank: int
    decompositions: tuple[_Decomposition, ...]


@dataclass(frozen=True, slots=True)
class _Clause:
    keys: tuple[str, ...]
    shown: tuple[str, ...]


def _match(elements: tuple[_Element, ...], keys: Sequence[str]) -> list[tuple[int, int]] | None:
    """Match a pattern against the words; return each element's (start, end) span or None.

    Wildcards take as few words as possible first, as in the original, so the first occurrence of
    the following literal is the one matched.  Failed (element, position) pairs are remembered,
    which keeps the worst case polynomial on adversarial input.
    """
    n = len(keys)
    m = len(elements)
    spans: list[tuple[int, int]] = [(0, 0)] * m
    dead: set[tuple[int, int]] = set()

    def walk(ei: int, ti: int) -> bool:
        if ei == m:
            return ti == n
        if (ei, ti) in dead:
            return False
        element = elements[ei]
        ok = False
        if element.words is not None:
            if ti < n and keys[ti] in element.words:
                spans[ei] = (ti, ti + 1)
                ok = walk(ei + 1, ti + 1)
        elif element.count >= 0:
            end = ti + element.count
            if end <= n:
                spans[ei] = (ti, end)
                ok = walk(ei + 1, end)
        elif ei == m - 1:
            spans[ei] = (ti, n)
            ok = True
        else:
            following = elements[ei + 1].words
            for end in range(ti, n + 1):
                # Only stop where the next literal can match; skips hopeless splits.
                if following is not None and (end == n or keys[end] not in following):
                    continue
                spans[ei] = (ti, end)
                if walk(ei + 1, end):
                    ok = True
                    break
        if not ok:
            dead.add((ei, ti))
        return ok

    return spans if walk(0, 0) else None


class ElizaScript:
    """Parsed, immutable DOCTOR script; build once, share across thousands of conversations.

    Use :meth:`doctor` for the classic script.  The constructor validates a script (unknown
    ``@groups``, ``=goto`` targets and fragment numbers raise ``ValueError``) so a broken script fails
    at start-up rather than in the middle of a conversation.
    """

    __slots__ = (
        "_empty",
        "_keywords",
        "_memory",
        "_memory_keyword",
        "_none",
        "_pre",
        "_reflections",
        "greeting",
    )

    _doctor: ClassVar[ElizaScript | None] = None
    _doctor_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        *,
        keywords: Iterable[doctor_script.Keyword],
        synonyms: Mapping[str, Sequence[str]],
        pre_substitutions: Mapping[str, Sequence[str]],
        reflections: Mapping[str, str],
        memory_keyword: str,
        memory: doctor_script.Decomposition,
        none_keyword: str,
        empty_input: Sequence[str],
        greeting: str,
    ) -> None:
        """Parse and validate a script given in the notation described in ``doctor_script``."""
        self._pre: Mapping[str, tuple[str, ...]] = MappingProxyType(
            {_fold(k): tuple(_fold(w) for w in v) for k, v in pre_substitutions.items()}
        )
        self._reflections: Mapping[str, str] = MappingProxyType({_fold(k): v for k, v in reflections.items()})
        groups = {name: frozenset(_fold(w) for w in words) for name, words in synonyms.items()}
        counter = iter(range(1 << 30))
        parsed: dict[str, _Keyword] = {}
        for entry in keywords:
            word = _fold(entry.word)
            if word in parsed:
                raise ValueError(f"keyword {entry.word!r} defined twice")
            decompositions = tuple(
                self._parse_decomposition(next(counter), d, groups) for d in entry.decompositions
            )
            parsed[word] = _Keyword(word, entry.rank, decompositions)
        self._keywords: Mapping[str, _Keyword] = MappingProxyType(parsed)
        for kw in parsed.values():
            for d in kw.decompositions:
                for r in d.reassemblies:
                    if r.kind == _GOTO and r.target not in parsed:
                        raise ValueError(f"keyword {kw.word!r} jumps to unknown keyword {r.target!r}")
        none = parsed.get(_fold(none_keyword))
        if none is None:
            raise ValueError(f"NONE keyword {none_keyword!r} is not defined")
        self._none: _Keyword = none
        self._memory_keyword: str = _fold(memory_keyword)
        self._memory: _Decomposition = self._parse_decomposition(next(counter), memory, groups)
        if any(r.kind != _TEXT for r in self._memory.reassemblies):
            raise ValueError("MEMORY rules must be plain text")
        self._empty: _Decomposition = _Decomposition(
            next(counter), (), (), tuple(self._parse_text(t, 0) for t in empty_input)
        )
        if not self._empty.reassemblies:
            raise ValueError("at least one reply for empty input is required")
        self.greeting: Final[str] = greeting
        """The script's opening line, for a client that wants the bot to speak first."""

    @classmethod
    def doctor(cls) -> ElizaScript:
        """Return the process-wide DOCTOR script, parsing it on first use."""
        script = cls._doctor
        if script is None:
            with cls._doctor_lock:
                script = cls._doctor
                if script is None:
                    script = cls(
                        keywords=doctor_script.KEYWORDS,
                        synonyms=doctor_script.SYNONYMS,
                        pre_substitutions=doctor_script.PRE_SUBSTITUTIONS,
                        reflections=doctor_script.REFLECTIONS,
                        memory_keyword=doctor_script.MEMORY_KEYWORD,
                        memory=doctor_script.MEMORY,
                        none_keyword=doctor_script.NONE_KEYWORD,
                        empty_input=doctor_script.EMPTY_INPUT,
                        greeting=doctor_script.GREETING,
                    )
                    ElizaScript._doctor = script
        return script

    @property
    def keywords(self) -> tuple[str, ...]:
        """All keywords of the script, in script order."""
        return tuple(self._keywords)

    def _parse_decomposition(
        self, ident: int, rule: doctor_script.Decomposition, groups: Mapping[str, frozenset[str]]
    ) -> _Decomposition:
        elements: list[_Element] = []
        for token in _PATTERN_ELEMENT_RE.findall(rule.pattern):
            if token in ("*", "0"):
                elements.append(_Element(None, -1))
            elif token.isdigit():
                elements.append(_Element(None, int(token)))
            elif token.startswith("@"):
                group = groups.get(token[1:])
                if group is None:
                    raise ValueError(f"unknown synonym group {token!r} in {rule.pattern!r}")
                elements.append(_Element(group))
            elif token.startswith("["):
                choices = frozenset(_fold(w) for w in token.strip("[]").split())
                if not choices:
                    raise ValueError(f"empty alternative in {rule.pattern!r}")
                elements.append(_Element(choices))
            else:
                elements.append(_Element(frozenset((_fold(token),))))
        if not elements:
            raise ValueError("empty decomposition pattern")
        if not rule.reassembly:
            raise ValueError(f"decomposition {rule.pattern!r} has no reassembly rules")
        required = tuple(e.words for e in elements if e.words is not None)
        reassemblies = tuple(self._parse_reassembly(r, len(elements)) for r in rule.reassembly)
        return _Decomposition(ident, tuple(elements), required, reassemblies)

    def _parse_reassembly(self, text: str, fragments: int) -> _Reassembly:
        if text == "NEWKEY":
            return _Reassembly(_NEWKEY)
        if text.startswith("="):
            return _Reassembly(_GOTO, target=_fold(text[1:].strip()))
        return self._parse_text(text, fragments)

    @staticmethod
    def _parse_text(text: str, fragments: int) -> _Reassembly:
        parts: list[str | int] = []
        pos = 0
        for m in _PART_RE.finditer(text):
            if m.start() > pos:
                parts.append(text[pos : m.start()])
            if m.group(1) is None:
                parts.append(_NAME_PART)
            else:
                number = int(m.group(1))
                if not 1 <= number <= fragments:
                    raise ValueError(f"reassembly {text!r} uses fragment {number} of {fragments}")
                parts.append(number)
            pos = m.end()
        if pos < len(text):
            parts.append(text[pos:])
        return _Reassembly(_TEXT, tuple(parts))

    def _tokenise(self, text: str) -> list[_Clause]:
        text = text[:MAX_INPUT_CHARS].translate(_APOSTROPHES)
        # ALL-CAPS input (a 1966 teletype habit) should not shout back through the fragments.
        shouting = not any(c.islower() for c in text)
        clauses: list[_Clause] = []
        keys: list[str] = []
        shown: list[str] = []

        def close() -> None:
            if keys:
                clauses.append(_Clause(tuple(keys[:MAX_CLAUSE_WORDS]), tuple(shown[:MAX_CLAUSE_WORDS])))
                keys.clear()
                shown.clear()

        for m in _TOKEN_RE.finditer(text):
            word = m.group("word")
            if word is None:
                close()
                continue
            key = _fold(word)
            if key == "but":
                close()
                continue
            substitute = self._pre.get(key)
            if substitute is not None:
                keys.extend(substitute)
                shown.extend("I" if w == "i" else w for w in substitute)
                continue
            keys.append(key)
            if key == "i":
                shown.append("I")
            elif shouting or (len(keys) == 1 and word[:1].isupper() and not any(map(str.isupper, word[1:]))):
                # Capitalised only because it starts a sentence; proper names elsewhere keep their case.
                shown.append(word.lower())
            else:
                shown.append(word)
        close()
        return clauses

    def _reflect(self, clause: _Clause, start: int, end: int) -> list[str]:
        """Pronoun-reflect the words ``start:end`` of the clause.

        The neighbours are taken from the whole clause, not the fragment, because "you" at the start of
        a fragment may still be an object ("I want | you to help me" -> "me to help you").
        """
        keys = clause.keys
        out: list[str] = []
        for i in range(start, end):
            key = keys[i]
            prev = keys[i - 1] if i else None
            nxt = keys[i + 1] if i + 1 < len(keys) else None
            if key == "you":
                subject = (
                    (nxt is not None and (nxt in _SUBJECT_NEXT or nxt.endswith("n't")))
                    or prev in _INVERTING_AUX
                    or (prev is None and nxt is not None)
                )
                out.append(self._reflections.get(key, "I") if subject else "me")
            elif (prev == "you" or nxt == "you") and key in _VERB_AFTER_YOU:
                out.append(_VERB_AFTER_YOU[key])
            elif (prev == "i" or nxt == "i") and key in _VERB_AFTER_I:
                out.append(_VERB_AFTER_I[key])
            else:
                out.append(self._reflections.get(key, clause.shown[i]))
        return out


class ElizaConversation:
    """State of one conversation (one agent + one room): reassembly rotation counters and the memory queue.

    Not thread-safe: a conversation is meant to be driven by one task at a time, in input order.
    """

    __slots__ = ("_memory", "_name", "_rotation", "_script")

    def __init__(self, script: ElizaScript, agent_name: str = "Eliza") -> None:
        """Start a fresh conversation; ``agent_name`` is what the bot calls itself."""
        self._script = script
        name = " ".join(agent_name.split())[:MAX_AGENT_NAME_CHARS]
        self._name = name or "Eliza"
        self._rotation: dict[int, int] = {}
        self._memory: deque[str] = deque(maxlen=MAX_MEMORIES)

    def respond(self, text: str) -> str:
        """Return ELIZA's reply to one user input and advance the conversation state."""
        script = self._script
        clauses = script._tokenise(text)
        if not clauses:
            return self._render(script._empty.reassemblies[self._turn(script._empty)], (), None)
        chosen = clauses[-1]
        found: list[_Keyword] = []
        for clause in clauses:
            seen: set[str] = set()
            for key in clause.keys:
                kw = script._keywords.get(key)
                if kw is not None and key not in seen:
                    seen.add(key)
                    found.append(kw)
            if found:
                chosen = clause
                break
        # Stable: equal ranks keep the order in which the keywords were typed.
        found.sort(key=lambda kw: -kw.rank)
        present = frozenset(chosen.keys)
        if found and found[0].word == script._memory_keyword:
            self._remember(chosen, present)
        reply: str | None = None
        for kw in found:
            reply = self._apply(kw, chosen, present, 0)
            if reply is not None:
                break
        if reply is None and self._memory:
            reply = self._memory.popleft()
        echoes = {tuple(chosen.keys), tuple(_word_keys(text[:MAX_INPUT_CHARS]))}
        # The NONE rules differ from each other, so at most one of them can equal the input.
        for _ in range(len(script._none.decompositions[0].reassemblies) + 1):
            if reply is not None and tuple(_word_keys(reply)) not in echoes:
                return reply
            reply = self._apply(script._none, chosen, present, 0)
        return "Please go on."

    def replay(self, user_texts: Iterable[str]) -> None:
        """Feed past user inputs (oldest first) to rebuild state after the agent moved hosts.

        Replies are discarded.  The state depends only on the inputs, so afterwards this conversation
        answers exactly as the one that saw them live.
        """
        for text in user_texts:
            self.respond(text)

    def _turn(self, decomposition: _Decomposition) -> int:
        index = self._rotation.get(decomposition.ident, 0)
        self._rotation[decomposition.ident] = (index + 1) % len(decomposition.reassemblies)
        return index

    def _apply(self, kw: _Keyword, clause: _Clause, present: frozenset[str], depth: int) -> str | None:
        """Reply using keyword ``kw``, or None for NEWKEY / no matching pattern."""
        for decomposition in kw.decompositions:
            if any(present.isdisjoint(words) for words in decomposition.required):
                continue
            spans = _match(decomposition.elements, clause.keys)
            if spans is None:
                continue
            rule = decomposition.reassemblies[self._turn(decomposition)]
            if rule.kind == _NEWKEY:
                return None
            if rule.kind == _GOTO:
                if depth >= MAX_GOTO_DEPTH:
                    return None
                return self._apply(self._script._keywords[rule.target], clause, present, depth + 1)
            return self._render(rule, spans, clause)
        return None

    def _remember(self, clause: _Clause, present: frozenset[str]) -> None:
        memory = self._script._memory
        if any(present.isdisjoint(words) for words in memory.required):
            return
        spans = _match(memory.elements, clause.keys)
        if spans is None:
            return
        count = len(memory.reassemblies)
        index = _slip_hash(clause.keys[-1], max(1, (count - 1).bit_length())) % count
        self._memory.append(self._render(memory.reassemblies[index], spans, clause))

    def _render(self, rule: _Reassembly, spans: Sequence[tuple[int, int]], clause: _Clause | None) -> str:
        pieces: list[str] = []
        for part in rule.parts:
            if isinstance(part, str):
                pieces.append(part)
            elif part == _NAME_PART:
                pieces.append(self._name)
            elif clause is not None:
                pieces.append(" ".join(self._script._reflect(clause, *spans[part - 1])))
        text = " ".join("".join(pieces).split())
        text = _EMPTY_QUOTE_RE.sub("that", text)
        text = _SPACE_BEFORE_PUNCT_RE.sub(r"\1", text)
        text = _DANGLING_COMMA_RE.sub(r"\1", text)
        if not text:
            return "Please go on."
        if text[-1] not in ".?!":
            text += "."
        return text[0].upper() + text[1:]
