"""Weizenbaum's DOCTOR script (CACM 9(1), January 1966, appendix) as plain Python data.

The engine in ``eliza.py`` parses this once at first use.

Notation, kept close to the 1966 appendix:

* A **keyword** has a rank (higher wins) and an ordered list of decomposition rules.
* A **decomposition** pattern is a space separated list of elements:

  - ``*`` or ``0``: any number of words (possibly none);
  - ``2`` (any positive integer): exactly that many words;
  - ``@group``: any word of a ``SYNONYMS`` group (the 1966 ``DLIST(/BELIEF)`` tags);
  - ``[a b c]``: any one of the listed words (the 1966 ``(* A B C)`` form);
  - anything else: that literal word.

* A **reassembly** is either text, ``=keyword`` (1966 "goto": run that keyword's decompositions on the
  same input) or ``NEWKEY`` (give up on this keyword and try the next one found in the input).
  In text, ``(n)`` is the n-th matched fragment after pronoun reflection and ``{name}`` is the agent's
  name.  Reassemblies of one decomposition are used in rotation.

Differences from the appendix, all deliberate:

* Patterns are written in the user's own words (``* i am * @sad *`` under ``i``) and the pronoun
  reflection is applied to the fragments, whereas the 1966 program swapped pronouns in the whole text
  first and wrote the pattern as ``(0 YOU ARE 0 ...)``.  The replies are the same.
* ``I'M``/``YOU'RE`` with their ``PRE`` rules became the pre-substitutions ``i'm -> i am`` and
  ``you're -> you are``; ``DREAMED = DREAMT`` and ``WERE = WAS`` became ``[dreamt dreamed]``/``[was
  were]`` alternatives so replies keep the user's word.
* Additions: ``who`` and the first ``name`` rule (answer with the agent's name), ``hi`` (= ``hello``),
  and rank-3 entries for the ``@sad``/``@happy`` words so that "I am sad about my job" is answered by
  the ``i am`` rules instead of being captured by ``my`` (rank 2); under ``i`` an extra pattern keeps
  a trailing "about my job" phrase in the reply.
* "What else comes to your mind" follows the sample conversation rather than the appendix's "comes to
  mind"; "APOLIGIZE" and "ITS" are spelled correctly.
"""

from __future__ import annotations

from typing import Final, NamedTuple


class Decomposition(NamedTuple):
    """One decomposition pattern with its reassembly rules (used in rotation)."""

    pattern: str
    reassembly: tuple[str, ...]


class Keyword(NamedTuple):
    """A keyword, its rank (higher is preferred) and its decomposition rules, tried in order."""

    word: str
    rank: int
    decompositions: tuple[Decomposition, ...]


GREETING: Final = "How do you do. Please tell me your problem."

# Spelling normalisation applied to every input word before keywords are looked up.
PRE_SUBSTITUTIONS: Final[dict[str, tuple[str, ...]]] = {
    "dont": ("don't",),
    "cant": ("can't",),
    "wont": ("won't",),
    "i'm": ("i", "am"),
    "you're": ("you", "are"),
}

# Pronoun reflection (the 1966 "I = YOU", "MY = YOUR", "ME = YOU" ... substitutions) applied to
# fragments before they are put into a reply.  "you" is "I" here; the engine turns it into "me" when it
# is an object, and fixes the verb next to a swapped pronoun ("you are" -> "I am", "I was" -> "you were").
REFLECTIONS: Final[dict[str, str]] = {
    "i": "you",
    "me": "you",
    "my": "your",
    "mine": "yours",
    "myself": "yourself",
    "am": "are",
    "i've": "you've",
    "i'll": "you'll",
    "i'd": "you'd",
    "you": "I",
    "your": "my",
    "yours": "mine",
    "yourself": "myself",
    "you've": "I've",
    "you'll": "I'll",
    "you'd": "I'd",
}

# Word classes: the 1966 DLIST tags (/BELIEF, /FAMILY) and names for its inline alternatives.
SYNONYMS: Final[dict[str, tuple[str, ...]]] = {
    "belief": ("feel", "think", "believe", "wish"),
    "family": ("mother", "mom", "father", "dad", "sister", "brother", "wife", "children"),
    "desire": ("want", "need"),
    "sad": ("sad", "unhappy", "depressed", "sick"),
    "happy": ("happy", "elated", "glad", "better"),
    "cannot": ("can't", "cannot"),
    "everyone": ("everyone", "everybody", "nobody", "noone"),
    "be": ("am", "is", "are", "was"),
}

# The 1966 "(MEMORY MY ...)" rules: when "my" is the top keyword one of these (picked by hashing the
# last input word) is stored, and recalled later when an input has no keyword.
MEMORY_KEYWORD: Final = "my"
MEMORY: Final = Decomposition(
    "* my *",
    (
        "Let's discuss further why your (3).",
        "Earlier you said your (3).",
        "But your (3).",
        "Does that have anything to do with the fact that your (3)?",
    ),
)

# The 1966 NONE entry; "x" keeps it from looking like an ordinary English keyword.
NONE_KEYWORD: Final = "xnone"

# Said when the input has no words at all (the 1966 program simply waited for a line).
EMPTY_INPUT: Final[tuple[str, ...]] = (
    "I am {name}. Please tell me what is on your mind.",
    "Please go on, I am listening.",
    "Take your time. What would you like to talk about?",
)

_SAD_REPLIES: Final = (
    "I am sorry to hear you are (5) (6) (7).",
    "Do you think coming here will help you not to be (5) (6) (7)?",
    "I'm sure it's not pleasant to be (5) (6) (7).",
    "Can you explain what made you (5) (6) (7)?",
)
_HAPPY_REPLIES: Final = (
    "How have I helped you to be (5) (6) (7)?",
    "Has your treatment made you (5) (6) (7)?",
    "What makes you (5) (6) (7) just now?",
    "Can you explain why you are suddenly (5) (6) (7)?",
)
# A feeling followed by one of these words is about something the reply should repeat.
_ABOUT: Final = "[about over at with by of that]"


def _goto(word: str, target: str, rank: int = 0) -> Keyword:
    return Keyword(word, rank, (Decomposition("*", (f"={target}",)),))


# One entry per 1966 keyword, in the appendix's order; laid out like the appendix, hence no formatter.
# fmt: off
KEYWORDS: Final[tuple[Keyword, ...]] = (
    Keyword("sorry", 0, (
        Decomposition("*", (
            "Please don't apologize.",
            "Apologies are not necessary.",
            "What feelings do you have when you apologize?",
            "I've told you that apologies are not required.",
        )),
    )),
    Keyword("remember", 5, (
        Decomposition("* i remember *", (
            "Do you often think of (4)?",
            "Does thinking of (4) bring anything else to mind?",
            "What else do you remember?",
            "Why do you remember (4) just now?",
            "What in the present situation reminds you of (4)?",
            "What is the connection between me and (4)?",
        )),
        Decomposition("* do you remember *", (
            "Did you think I would forget (5)?",
            "Why do you think I should recall (5) now?",
            "What about (5)?",
            "=what",
            "You mentioned (5)?",
        )),
        Decomposition("*", ("NEWKEY",)),
    )),
    Keyword("if", 3, (
        Decomposition("* if *", (
            "Do you think it's likely that (3)?",
            "Do you wish that (3)?",
            "What do you think about (3)?",
            "Really, (2) (3)?",
        )),
    )),
    Keyword("dreamt", 4, (
        Decomposition("* i [dreamt dreamed] *", (
            "Really, (4)?",
            "Have you ever fantasied (4) while you were awake?",
            "Have you dreamt (4) before?",
            "=dream",
            "NEWKEY",
        )),
    )),
    _goto("dreamed", "dreamt", 4),
    Keyword("dream", 3, (
        Decomposition("*", (
            "What does that dream suggest to you?",
            "Do you dream often?",
            "What persons appear in your dreams?",
            "Don't you believe that dream has something to do with your problem?",
            "NEWKEY",
        )),
    )),
    _goto("dreams", "dream", 3),
    _goto("how", "what"),
    _goto("when", "what"),
    _goto("alike", "dit", 10),
    _goto("same", "dit", 10),
    _goto("certainly", "yes"),
    Keyword(NONE_KEYWORD, 0, (
        Decomposition("*", (
            "I am not sure I understand you fully.",
            "Please go on.",
            "What does that suggest to you?",
            "Do you feel strongly about discussing such things?",
        )),
    )),
    Keyword("perhaps", 0, (
        Decomposition("*", (
            "You don't seem quite certain.",
            "Why the uncertain tone?",
            "Can't you be more positive?",
            "You aren't sure?",
            "Don't you know?",
        )),
    )),
    _goto("maybe", "perhaps"),
    Keyword("name", 15, (
        Decomposition("* your name *", (
            "My name is {name}. But we were discussing you, not me.",
            "As I said, my name is {name}. Please go on.",
        )),
        Decomposition("*", (
            "I am not interested in names.",
            "I've told you before, I don't care about names. Please continue.",
        )),
    )),
    Keyword("who", 0, (
        Decomposition("* who [are were] you *", (
            "I am {name}. But we were discussing you, not me.",
            "As I said, I am {name}. What would you like to talk about?",
        )),
        Decomposition("* who you [are were] *", (
            "I am {name}. But we were discussing you, not me.",
            "As I said, I am {name}. What would you like to talk about?",
        )),
        Decomposition("*", ("NEWKEY",)),
    )),
    _goto("deutsch", "xfremd"),
    _goto("francais", "xfremd"),
    _goto("italiano", "xfremd"),
    _goto("espanol", "xfremd"),
    Keyword("xfremd", 0, (
        Decomposition("*", ("I am sorry, I speak only English.",)),
    )),
    Keyword("hello", 0, (
        Decomposition("*", ("How do you do. Please state your problem.",)),
    )),
    _goto("hi", "hello"),
    Keyword("computer", 50, (
        Decomposition("*", (
            "Do computers worry you?",
            "Why do you mention computers?",
            "What do you think machines have to do with your problem?",
            "Don't you think computers can help people?",
            "What about machines worries you?",
            "What do you think about machines?",
        )),
    )),
    _goto("machine", "computer", 50),
    _goto("machines", "computer", 50),
    _goto("computers", "computer", 50),
    Keyword("am", 0, (
        Decomposition("* am i *", (
            "Do you believe you are (4)?",
            "Would you want to be (4)?",
            "You wish I would tell you you are (4).",
            "What would it mean if you were (4)?",
            "=what",
        )),
        Decomposition("*", (
            "Why do you say 'am'?",
            "I don't understand that.",
        )),
    )),
    Keyword("are", 0, (
        Decomposition("* are you *", (
            "Why are you interested in whether I am (4) or not?",
            "Would you prefer if I weren't (4)?",
            "Perhaps I am (4) in your fantasies.",
            "Do you sometimes think I am (4)?",
            "=what",
        )),
        Decomposition("* are *", (
            "Did you think they might not be (3)?",
            "Would you like it if they were not (3)?",
            "What if they were not (3)?",
            "Possibly they are (3).",
        )),
    )),
    Keyword("your", 0, (
        Decomposition("* your *", (
            "Why are you concerned over my (3)?",
            "What about your own (3)?",
            "Are you worried about someone else's (3)?",
            "Really, my (3)?",
        )),
    )),
    Keyword("was", 2, (
        Decomposition("* [was were] i *", (
            "What if you were (4)?",
            "Do you think you were (4)?",
            "Were you (4)?",
            "What would it mean if you were (4)?",
            "What does '(4)' suggest to you?",
            "=what",
        )),
        Decomposition("* i [was were] *", (
            "Were you really?",
            "Why do you tell me you were (4) now?",
            "Perhaps I already knew you were (4).",
        )),
        Decomposition("* [was were] you *", (
            "Would you like to believe I was (4)?",
            "What suggests that I was (4)?",
            "What do you think?",
            "Perhaps I was (4).",
            "What if I had been (4)?",
        )),
        Decomposition("*", ("NEWKEY",)),
    )),
    _goto("were", "was"),
    Keyword("sad", 3, (
        Decomposition("* i am * @sad *", ("=i",)),
        Decomposition("*", ("NEWKEY",)),
    )),
    _goto("unhappy", "sad", 3),
    _goto("depressed", "sad", 3),
    _goto("sick", "sad", 3),
    Keyword("happy", 3, (
        Decomposition("* i am * @happy *", ("=i",)),
        Decomposition("*", ("NEWKEY",)),
    )),
    _goto("elated", "happy", 3),
    _goto("glad", "happy", 3),
    _goto("better", "happy", 3),
    Keyword("i", 0, (
        Decomposition("* i @desire *", (
            "What would it mean to you if you got (4)?",
            "Why do you want (4)?",
            "Suppose you got (4) soon?",
            "What if you never got (4)?",
            "What would getting (4) mean to you?",
            "What does wanting (4) have to do with this discussion?",
        )),
        Decomposition(f"* i am * @sad {_ABOUT} *", _SAD_REPLIES),
        Decomposition("* i am * @sad *", (
            "I am sorry to hear you are (5).",
            "Do you think coming here will help you not to be (5)?",
            "I'm sure it's not pleasant to be (5).",
            "Can you explain what made you (5)?",
        )),
        Decomposition(f"* i am * @happy {_ABOUT} *", _HAPPY_REPLIES),
        Decomposition("* i am * @happy *", (
            "How have I helped you to be (5)?",
            "Has your treatment made you (5)?",
            "What makes you (5) just now?",
            "Can you explain why you are suddenly (5)?",
        )),
        Decomposition("* i [was were] *", ("=was",)),
        Decomposition("* i @belief i *", (
            "Do you really think so?",
            "But you are not sure you (5).",
            "Do you really doubt you (5)?",
        )),
        Decomposition("* i * @belief * you *", ("=you",)),
        Decomposition("* i am *", (
            "Is it because you are (4) that you came to me?",
            "How long have you been (4)?",
            "Do you believe it is normal to be (4)?",
            "Do you enjoy being (4)?",
        )),
        Decomposition("* i @cannot *", (
            "How do you know you can't (4)?",
            "Have you tried?",
            "Perhaps you could (4) now.",
            "Do you really want to be able to (4)?",
        )),
        Decomposition("* i don't *", (
            "Don't you really (4)?",
            "Why don't you (4)?",
            "Do you wish to be able to (4)?",
            "Does that trouble you?",
        )),
        Decomposition("* i feel *", (
            "Tell me more about such feelings.",
            "Do you often feel (4)?",
            "Do you enjoy feeling (4)?",
            "Of what does feeling (4) remind you?",
        )),
        Decomposition("* i * you *", (
            "Perhaps in your fantasy we (3) each other.",
            "Do you wish to (3) me?",
            "You seem to need to (3) me.",
            "Do you (3) anyone else?",
        )),
        Decomposition("*", (
            "You say (1)?",
            "Can you elaborate on that?",
            "Do you say (1) for some special reason?",
            "That's quite interesting.",
        )),
    )),
    Keyword("you", 0, (
        Decomposition("* you remind me of *", ("=dit",)),
        Decomposition("* you are *", (
            "What makes you think I am (4)?",
            "Does it please you to believe I am (4)?",
            "Do you sometimes wish you were (4)?",
            "Perhaps you would like to be (4).",
        )),
        Decomposition("* you * me", (
            "Why do you think I (3) you?",
            "You like to think I (3) you, don't you?",
            "What makes you think I (3) you?",
            "Really, I (3) you?",
            "Do you wish to believe I (3) you?",
            "Suppose I did (3) you. What would that mean?",
            "Does someone else believe I (3) you?",
        )),
        Decomposition("* you *", (
            "We were discussing you, not me.",
            "Oh, I (3)?",
            "You're not really talking about me, are you?",
            "What are your feelings now?",
        )),
    )),
    Keyword("yes", 0, (
        Decomposition("*", (
            "You seem quite positive.",
            "You are sure.",
            "I see.",
            "I understand.",
        )),
    )),
    Keyword("no", 0, (
        Decomposition("*", (
            "Are you saying 'no' just to be negative?",
            "You are being a bit negative.",
            "Why not?",
            "Why 'no'?",
        )),
    )),
    Keyword("my", 2, (
        Decomposition("* my * @family *", (
            "Tell me more about your family.",
            "Who else in your family (5)?",
            "Your (4)?",
            "What else comes to your mind when you think of your (4)?",
        )),
        Decomposition("* my *", (
            "Your (3)?",
            "Why do you say your (3)?",
            "Does that suggest anything else which belongs to you?",
            "Is it important to you that (2) (3)?",
        )),
    )),
    Keyword("can", 0, (
        Decomposition("* can you *", (
            "You believe I can (4), don't you?",
            "=what",
            "You want me to be able to (4).",
            "Perhaps you would like to be able to (4) yourself.",
        )),
        Decomposition("* can i *", (
            "Whether or not you can (4) depends on you more than on me.",
            "Do you want to be able to (4)?",
            "Perhaps you don't want to (4).",
            "=what",
        )),
    )),
    Keyword("what", 0, (
        Decomposition("*", (
            "Why do you ask?",
            "Does that question interest you?",
            "What is it you really want to know?",
            "Are such questions much on your mind?",
            "What answer would please you most?",
            "What do you think?",
            "What comes to your mind when you ask that?",
            "Have you asked such questions before?",
            "Have you asked anyone else?",
        )),
    )),
    Keyword("because", 0, (
        Decomposition("*", (
            "Is that the real reason?",
            "Don't any other reasons come to mind?",
            "Does that reason seem to explain anything else?",
            "What other reasons might there be?",
        )),
    )),
    Keyword("why", 0, (
        Decomposition("* why don't you *", (
            "Do you believe I don't (5)?",
            "Perhaps I will (5) in good time.",
            "Should you (5) yourself?",
            "You want me to (5)?",
            "=what",
        )),
        Decomposition("* why @cannot i *", (
            "Do you think you should be able to (5)?",
            "Do you want to be able to (5)?",
            "Do you believe this will help you to (5)?",
            "Have you any idea why you can't (5)?",
            "=what",
        )),
        Decomposition("*", ("=what",)),
    )),
    Keyword("everyone", 2, (
        Decomposition("* @everyone *", (
            "Really, (2)?",
            "Surely not (2).",
            "Can you think of anyone in particular?",
            "Who, for example?",
            "You are thinking of a very special person.",
            "Who, may I ask?",
            "Someone special, perhaps?",
            "You have a particular person in mind, don't you?",
            "Who do you think you're talking about?",
        )),
    )),
    _goto("everybody", "everyone", 2),
    _goto("nobody", "everyone", 2),
    _goto("noone", "everyone", 2),
    Keyword("always", 1, (
        Decomposition("*", (
            "Can you think of a specific example?",
            "When?",
            "What incident are you thinking of?",
            "Really, always?",
        )),
    )),
    Keyword("like", 10, (
        Decomposition("* @be * like *", ("=dit",)),
        Decomposition("*", ("NEWKEY",)),
    )),
    Keyword("dit", 0, (
        Decomposition("*", (
            "In what way?",
            "What resemblance do you see?",
            "What does that similarity suggest to you?",
            "What other connections do you see?",
            "What do you suppose that resemblance is?",
            "What is the connection, do you suppose?",
            "Could there really be some connection?",
            "How?",
        )),
    )),
)
# fmt: on
