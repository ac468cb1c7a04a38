"""Behaviour of the ELIZA/DOCTOR model, checked against Weizenbaum's 1966 paper where it shows the answer."""

from __future__ import annotations

import random
import re
import time

import pytest

from agenthost.runtime.models import doctor_script
from agenthost.runtime.models.eliza import ElizaConversation, ElizaScript

# The sample conversation printed in CACM 9(1), 1966, with the replies lower-cased and punctuated.
SAMPLE_CONVERSATION = [
    ("Men are all alike.", "In what way?"),
    ("They're always bugging us about something or other.", "Can you think of a specific example?"),
    ("Well, my boyfriend made me come here.", "Your boyfriend made you come here?"),
    ("He says I'm depressed much of the time.", "I am sorry to hear you are depressed."),
    ("It's true. I am unhappy.", "Do you think coming here will help you not to be unhappy?"),
    ("I need some help, that much seems certain.", "What would it mean to you if you got some help?"),
    ("Perhaps I could learn to get along with my mother.", "Tell me more about your family."),
    ("My mother takes care of me.", "Who else in your family takes care of you?"),
    ("My father.", "Your father?"),
    ("You are like my father in some ways.", "What resemblance do you see?"),
    (
        "You are not very aggressive but I think you don't want me to notice that.",
        "What makes you think I am not very aggressive?",
    ),
    ("You don't argue with me.", "Why do you think I don't argue with you?"),
    ("You are afraid of me.", "Does it please you to believe I am afraid of you?"),
    ("My father is afraid of everybody.", "What else comes to your mind when you think of your father?"),
    ("Bullies.", "Does that have anything to do with the fact that your boyfriend made you come here?"),
]

NONE_REPLIES = [
    "I am not sure I understand you fully.",
    "Please go on.",
    "What does that suggest to you?",
    "Do you feel strongly about discussing such things?",
]


def words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+(?:'[^\W_]+)*", text.casefold())


def new(agent_name: str = "Eliza") -> ElizaConversation:
    return ElizaConversation(ElizaScript.doctor(), agent_name)


def assert_well_formed(reply: str) -> None:
    assert reply, "empty reply"
    assert reply == reply.strip()
    assert "  " not in reply
    assert reply[-1] in ".?!", reply
    assert not re.search(r"\s[,.?!;:]", reply), reply
    first_letter = next((c for c in reply if c.isalpha()), None)
    assert first_letter is None or not first_letter.islower(), reply


def test_the_1966_sample_conversation_is_reproduced() -> None:
    conversation = new()
    for user, expected in SAMPLE_CONVERSATION:
        assert conversation.respond(user) == expected, user


def test_script_is_a_parsed_once_singleton() -> None:
    script = ElizaScript.doctor()
    assert ElizaScript.doctor() is script
    assert len(script.keywords) >= 50
    assert {"my", "dit", "xfremd", "xnone", "computer", "remember"} <= set(script.keywords)


def test_memory_is_recalled_when_no_keyword_matches() -> None:
    conversation = new()
    conversation.respond("Well, my boyfriend made me come here.")
    assert conversation.respond("Bullies.") == (
        "Does that have anything to do with the fact that your boyfriend made you come here?"
    )
    # The queue is now empty, so the next keyword-less input falls back to NONE.
    assert conversation.respond("Bullies.") == NONE_REPLIES[0]


def test_memory_queue_is_first_in_first_out() -> None:
    conversation = new()
    conversation.respond("My boyfriend made me come here.")
    conversation.respond("My car broke down.")
    first = conversation.respond("Bullies.")
    second = conversation.respond("Bullies.")
    assert first.endswith("your boyfriend made you come here?")
    assert "your car broke down" in second
    assert conversation.respond("Bullies.") in NONE_REPLIES


def test_memory_is_only_made_when_my_is_the_top_keyword() -> None:
    conversation = new()
    # "like" (rank 10) outranks "my" (rank 2), so nothing is remembered.
    conversation.respond("You are like my father in some ways.")
    assert conversation.respond("Bullies.") == NONE_REPLIES[0]


def test_without_memory_the_none_replies_rotate_and_cycle() -> None:
    conversation = new()
    replies = [conversation.respond("Bullies.") for _ in range(5)]
    assert replies == [*NONE_REPLIES, NONE_REPLIES[0]]


def test_reassembly_rules_rotate_per_decomposition_and_cycle_back() -> None:
    conversation = new()
    replies = [conversation.respond("Sorry.") for _ in range(5)]
    assert len(set(replies[:4])) == 4
    assert replies[4] == replies[0] == "Please don't apologize."
    # Another decomposition keeps its own counter.
    assert conversation.respond("I feel lonely.") == "Tell me more about such feelings."
    assert conversation.respond("I feel lonely.") == "Do you often feel lonely?"


def test_same_input_twice_gives_different_replies() -> None:
    conversation = new()
    assert conversation.respond("Perhaps.") != conversation.respond("Perhaps.")


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("You are afraid of me.", "What makes you think I am afraid of you?"),
        ("My dog takes care of me.", "Your dog takes care of you?"),
        ("I dreamed I was flying.", "Really, you were flying?"),
        ("Can you help me?", "You believe I can help you, don't you?"),
        ("I want you to help me.", "What would it mean to you if you got me to help you?"),
        ("I remember my childhood.", "Do you often think of your childhood?"),
        ("Were you happy?", "Would you like to believe I was happy?"),
    ],
)
def test_pronouns_are_reflected_in_fragments(user: str, expected: str) -> None:
    assert new().respond(user) == expected


def test_higher_rank_keyword_wins() -> None:
    # "computer" (50) beats "dreamt" (4) and "my" (2) although it comes last.
    assert new().respond("I dreamt about my computer.") == "Do computers worry you?"
    # Without "alike" (10) the first sample line falls to "are" (0).
    assert new().respond("Men are all here.") == "Did you think they might not be all here?"


def test_equal_ranks_keep_input_order() -> None:
    assert new().respond("Everybody hates my father.") == "Really, everybody?"
    assert new().respond("My father hates everybody.") == "Tell me more about your family."


def test_goto_runs_the_target_keyword_and_shares_its_rotation() -> None:
    conversation = new()
    assert conversation.respond("How are you?") == "Why do you ask?"
    assert conversation.respond("When will it end?") == "Does that question interest you?"
    assert conversation.respond("What time is it?") == "What is it you really want to know?"


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("Sprechen Sie Deutsch?", "I am sorry, I speak only English."),
        ("¿Hablas español?", "I am sorry, I speak only English."),
        ("Maybe.", "You don't seem quite certain."),
        ("Machines scare me.", "Do computers worry you?"),
        ("Certainly.", "You seem quite positive."),
        ("It is the same old story.", "In what way?"),
    ],
)
def test_equivalence_keywords(user: str, expected: str) -> None:
    assert new().respond(user) == expected


def test_newkey_moves_on_to_the_next_keyword() -> None:
    # "like" (rank 10) only matches "is/are/was ... like"; otherwise NEWKEY hands over to "i".
    assert new().respond("I like cheese.") == "You say you like cheese?"


def test_clause_with_the_first_keyword_is_used() -> None:
    # "Well" has no keyword and is dropped; "but" ends the clause that had one.
    assert new().respond("Well, my dog bit me.") == "Your dog bit you?"
    assert new().respond("You are tall but my sister is taller.") == "What makes you think I am tall?"


def test_sad_about_my_job_is_answered_with_the_reflected_fragment() -> None:
    conversation = new()
    first = conversation.respond("I am sad about my job")
    second = conversation.respond("I am sad about my job")
    assert first == "I am sorry to hear you are sad about your job."
    assert second == "Do you think coming here will help you not to be sad about your job?"
    for reply in (first, second):
        assert words(reply) != words("I am sad about my job")


def test_happy_words_get_the_happy_rules() -> None:
    assert new().respond("I am happy with my life.") == "How have I helped you to be happy with your life?"


def test_agent_name_is_used() -> None:
    ada = new("Ada")
    assert ada.respond("What is your name?").startswith("My name is Ada.")
    assert "Ada" in ada.respond("Who are you?")
    assert new().respond("what's your name").startswith("My name is Eliza.")
    assert new("   ").respond("What is your name?").startswith("My name is Eliza.")
    assert "Bob" in new("Bob").respond("")


def test_users_own_name_is_still_not_interesting() -> None:
    assert new("Ada").respond("My name is Bob.") == "I am not interested in names."


@pytest.mark.parametrize("text", ["", " ", "\n\t  ", "...", "?!?", "—", "🙂🙂", "\x00"])
def test_empty_or_punctuation_only_input_gets_a_gentle_prompt(text: str) -> None:
    reply = new("Ada").respond(text)
    assert_well_formed(reply)
    assert len(words(reply)) >= 3


def test_empty_prompts_rotate() -> None:
    conversation = new()
    replies = [conversation.respond("") for _ in range(3)]
    assert len(set(replies)) == 3


def test_input_is_never_echoed() -> None:
    conversation = new()
    for text in ["Why do you ask?", "Please go on.", "In what way?", "Your boyfriend made you come here?"]:
        reply = conversation.respond(text)
        assert words(reply) != words(text), text


def test_deterministic_across_conversations() -> None:
    inputs = [user for user, _ in SAMPLE_CONVERSATION] * 3 + ["", "Sorry.", "I am sad about my job"]
    one, two = new("Ada"), new("Ada")
    assert [one.respond(t) for t in inputs] == [two.respond(t) for t in inputs]


def test_replay_rebuilds_state() -> None:
    history = [user for user, _ in SAMPLE_CONVERSATION[:-1]] + ["Sorry.", "Perhaps.", "How?"]
    live = new()
    for text in history:
        live.respond(text)
    moved = new()
    moved.replay(history)
    fresh = new()
    follow_up = ["Bullies.", "Sorry.", "Perhaps.", "What now?", "Bullies.", "I am unhappy."]
    expected = [live.respond(text) for text in follow_up]
    assert [moved.respond(text) for text in follow_up] == expected
    # The check has teeth: without the history the same inputs get other replies.
    assert [fresh.respond(text) for text in follow_up] != expected
    assert expected[0].endswith("your boyfriend made you come here?")


def test_replay_accepts_any_iterable() -> None:
    moved = new()
    moved.replay(iter(["Well, my boyfriend made me come here."]))
    assert moved.respond("Bullies.").endswith("your boyfriend made you come here?")


def test_fragments_keep_unicode_and_proper_names() -> None:
    assert new().respond("Well, my friend Bob hates me.") == "Your friend Bob hates you?"
    assert new().respond("My café is closed.") == "Your café is closed?"
    assert new().respond("MY DOG BIT ME.") == "Your dog bit you?"


def test_huge_input_is_truncated() -> None:
    reply = new().respond("my " + "very " * 100_000 + "long story")
    assert_well_formed(reply)
    assert len(reply) < 500


def test_random_unicode_never_raises_and_never_echoes() -> None:
    rng = random.Random(1966)
    conversation = new("Ada")
    alphabet = [*"abcdefghijklmnopqrstuvwxyz ,.?!'", "my ", "i am ", "you ", "ß", "é", "日本", "\u0301"]
    for _ in range(500):
        if rng.random() < 0.5:
            text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(40)))
        else:
            text = "".join(chr(rng.randrange(1, 0x30000)) for _ in range(rng.randrange(40)))
        reply = conversation.respond(text)
        assert_well_formed(reply)
        assert words(reply) != words(text), text


def test_replies_are_well_formed() -> None:
    conversation = new()
    for user, _ in SAMPLE_CONVERSATION:
        assert_well_formed(conversation.respond(user))
    for text in ["If", "Why don't you", "What does it mean?", "I was", "you", "are", "my"]:
        assert_well_formed(conversation.respond(text))


def test_conversation_is_small_and_fast() -> None:
    conversation = new()
    assert not hasattr(conversation, "__dict__")
    texts = [user for user, _ in SAMPLE_CONVERSATION]
    start = time.perf_counter()
    for i in range(1500):
        conversation.respond(texts[i % len(texts)])
    assert (time.perf_counter() - start) / 1500 < 1e-3


def test_invalid_scripts_are_rejected_at_build_time() -> None:
    def build(*keywords: doctor_script.Keyword) -> ElizaScript:
        none = doctor_script.Keyword("xnone", 0, (doctor_script.Decomposition("*", ("Go on.",)),))
        return ElizaScript(
            keywords=(none, *keywords),
            synonyms={},
            pre_substitutions={},
            reflections={},
            memory_keyword="my",
            memory=doctor_script.Decomposition("* my *", ("Your (3).",)),
            none_keyword="xnone",
            empty_input=("Hello.",),
            greeting="Hi.",
        )

    rule = doctor_script.Decomposition
    build(doctor_script.Keyword("a", 0, (rule("* a *", ("(3)",)),)))
    with pytest.raises(ValueError, match="unknown keyword"):
        build(doctor_script.Keyword("a", 0, (rule("*", ("=nowhere",)),)))
    with pytest.raises(ValueError, match="fragment 4"):
        build(doctor_script.Keyword("a", 0, (rule("* a *", ("(4)",)),)))
    with pytest.raises(ValueError, match="synonym group"):
        build(doctor_script.Keyword("a", 0, (rule("* @nothing *", ("x",)),)))
