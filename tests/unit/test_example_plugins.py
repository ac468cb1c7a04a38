"""The plugins shipped with the agent host (time, calculator, facts) and the example greeter package."""

from __future__ import annotations

import ast
import math
import operator
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agenthost.plugins import calculator, facts
from agenthost.plugins import time as time_plugin
from agenthost.plugins.calculator import CalculationError, evaluate, find_expression, format_number, parse
from agenthost.plugins.loader import load_order, resolve
from elizaos import Action, ActionResult, AgentRuntimeAPI, Message, Plugin, ProviderResult, State

CACHE_KEY = re.compile(r"[A-Za-z0-9_.:@-]{1,128}")


class FakeRuntime:
    """The part of AgentRuntimeAPI plugins use, with the cache in a dict (keys checked like the real one)."""

    def __init__(self, cache: dict[str, str] | None = None) -> None:
        self.cache: dict[str, str] = dict(cache or {})
        self.writes: list[tuple[str, str | None]] = []

    @property
    def agent_id(self) -> str:
        return "agent-1"

    @property
    def name(self) -> str:
        return "Eliza"

    def get_setting(self, key: str) -> Any:
        return None

    def get_service(self, name: str) -> Any:
        return None

    def get_cache(self, key: str) -> str | None:
        assert CACHE_KEY.fullmatch(key), key
        return self.cache.get(key)

    def set_cache(self, key: str, value: str | None) -> None:
        assert CACHE_KEY.fullmatch(key), key
        assert value is None or len(value) <= 4096
        self.writes.append((key, value))
        if value is None:
            self.cache.pop(key, None)
        else:
            self.cache[key] = value


def runtime(cache: dict[str, str] | None = None) -> FakeRuntime:
    fake = FakeRuntime(cache)
    api: AgentRuntimeAPI = fake  # it must satisfy the protocol plugins are typed against
    assert api.agent_id == "agent-1"
    return fake


def msg(text: str, user: str = "user-1") -> Message:
    return Message(id="m-1", agent_id="agent-1", entity_id=user, room_id="room-1", text=text)


def action(plugin: Plugin, name: str) -> Action:
    (found,) = [a for a in plugin.actions if a.name == name]
    return found


async def run_action(plugin: Plugin, name: str, rt: FakeRuntime, text: str, user: str = "user-1",
                     state: State | None = None) -> ActionResult:
    result = await action(plugin, name).handler(rt, msg(text, user), state or State())
    assert result is not None
    return result


async def accepts(plugin: Plugin, name: str, text: str) -> bool:
    return await action(plugin, name).validate(runtime(), msg(text), State())


async def pipeline(plugins: list[Plugin], rt: FakeRuntime, text: str, user: str = "user-1") -> tuple[list[str], str]:
    """What a runtime with only these plugins does with a message: providers, actions that accept it, evaluators."""
    message, state = msg(text, user), State()
    texts = []
    for provider in sorted((p for plugin in plugins for p in plugin.providers), key=lambda p: p.position):
        result = await provider.get(rt, message, state)
        if result.text:
            texts.append(result.text)
        state.values.update(result.values)
    state.text = "\n".join(texts)
    taken, answers = [], []
    for plugin in plugins:
        for act in plugin.actions:
            if await act.validate(rt, message, state):
                done = await act.handler(rt, message, state)
                taken.append(act.name)
                if done is not None and done.text:
                    answers.append(done.text)
    answer = " ".join(answers)
    for plugin in plugins:
        for evaluator in plugin.evaluators:
            if evaluator.always_run or await evaluator.validate(rt, message, state):
                await evaluator.handler(rt, message, state, answer)
    return taken, answer


def sentence(text: str) -> bool:
    return len(text.split()) >= 5 and text[0].isupper() and text.endswith(".")


@pytest.mark.parametrize("ref", ["time", "calculator", "facts", "greeter"])
def test_descriptions_are_sentences(ref: str) -> None:
    plugin = resolve(ref)
    assert plugin.name == ref
    assert sentence(plugin.description), plugin.description
    for act in plugin.actions:
        assert sentence(act.description), act.description
        assert act.name == act.name.upper()
    for part in plugin.providers:
        assert sentence(part.description), part.description
    for evaluator in plugin.evaluators:
        assert sentence(evaluator.description), evaluator.description


# --- time ------------------------------------------------------------------------------------

FIXED = datetime(2026, 11, 24, 10, 0, 5, tzinfo=UTC)


def fixed_clock(when: datetime = FIXED) -> Callable[[], datetime]:
    return lambda: when


async def test_time_provider_gives_text_and_iso_value() -> None:
    plugin = time_plugin.make_plugin(fixed_clock())
    (provider,) = plugin.providers
    assert provider.name == "time"
    result = await provider.get(runtime(), msg("hi"), State())
    assert result == ProviderResult(text="The current time is 2026-11-24 10:00 UTC.",
                                    values={"time": "2026-11-24T10:00:05+00:00"})


async def test_time_is_converted_to_utc() -> None:
    lisbon_summer = timezone(timedelta(hours=1))
    plugin = time_plugin.make_plugin(fixed_clock(datetime(2026, 7, 1, 0, 30, tzinfo=lisbon_summer)))
    result = await plugin.providers[0].get(runtime(), msg("hi"), State())
    assert result.text == "The current time is 2026-06-30 23:30 UTC."
    assert result.values["time"] == "2026-06-30T23:30:00+00:00"
    naive = time_plugin.make_plugin(fixed_clock(datetime(2026, 1, 2, 3, 4)))
    assert (await naive.providers[0].get(runtime(), msg("hi"), State())).values["time"] == "2026-01-02T03:04:00+00:00"


async def test_time_action_answers_with_the_clock() -> None:
    plugin = time_plugin.make_plugin(fixed_clock(datetime(2026, 11, 24, 9, 5, tzinfo=UTC)))
    result = await run_action(plugin, "TIME", runtime(), "what time is it?")
    assert result.text == "It is 09:05 UTC."
    assert result.success


async def test_default_plugin_uses_the_system_clock() -> None:
    result = await time_plugin.plugin.providers[0].get(runtime(), msg("hi"), State())
    shown = datetime.fromisoformat(result.values["time"])
    assert abs(shown - datetime.now(UTC)) < timedelta(seconds=5)
    assert "TIME" in [a.name for a in resolve("time").actions]


@pytest.mark.parametrize("text", [
    "what time is it", "What time is it?", "what's the time", "What\u2019s the time?", "whats the time",
    "what is the time", "current time", "Tell me the current time please", "do you know the time?",
    "can you tell me what time it is", "Hey, what time is it now?",
])
async def test_time_action_accepts_questions_about_the_time(text: str) -> None:
    assert await accepts(time_plugin.plugin, "TIME", text)


@pytest.mark.parametrize("text", [
    "I had a great time", "time flies", "what time do you open", "sometimes", "what is 2+2", "timetable", "",
])
async def test_time_action_ignores_other_messages(text: str) -> None:
    assert not await accepts(time_plugin.plugin, "TIME", text)


# --- calculator: the parser ------------------------------------------------------------------


@pytest.mark.parametrize(("expression", "value"), [
    ("1+2*3", 7), ("(1+2)*3", 9), ("12*(3+4)", 84), ("2*3+4*5", 26), ("10-2*3", 4),
    ("10-4-3", 3), ("100/10/5", 2), ("2**3**2", 512), ("2^3^2", 512), ("(2**3)**2", 64), ("2^10", 1024),
    ("-2**2", -4), ("(-2)**2", 4), ("-3+5", 2), ("--3", 3), ("+4", 4), ("-(2+3)", -5), ("2*-3", -6),
    ("2**-1", 0.5), ("2**-2**2", 0.0625), ("7/2", 3.5), ("7//2", 3), ("-7//2", -4), ("7%3", 1), ("-7%3", 2),
    ("1.5*2", 3), ("0.1+0.2", 0.30000000000000004), (".5+.25", 0.75), ("2.50*4", 10),
    ("  3 +   4 ", 7), ("2 ** 0.5", math.sqrt(2)), ("8**(1/3)", 2), ("((((1))))", 1),
    ("\u2212 3 \u00d7 4", -12), ("9 \u00f7 3", 3), ("10**100", 10**100), ("(-8)**3", -512), ("(-2)**2.0", 4),
])
def test_evaluate(expression: str, value: float) -> None:
    result = evaluate(expression)
    assert result == pytest.approx(value)
    if isinstance(value, int) and "/" not in expression and "." not in expression and "**-" not in expression:
        assert isinstance(result, int), "integer arithmetic stays exact"


def test_integer_results_stay_exact() -> None:
    assert evaluate("10/2*3") == 15 and isinstance(evaluate("10/2*3"), int)
    assert evaluate("3**60+1") == 3**60 + 1
    assert evaluate("(2**80)/(2**40)") == 2**40


@pytest.mark.parametrize(("value", "shown"), [
    (84, "84"), (3.0, "3"), (-0.0, "0"), (3.5, "3.5"), (0.1 + 0.2, "0.3"), (1 / 3, "0.333333333333"),
    (2 / 3 * 3, "2"), (1e20, "1e+20"), (-2.5, "-2.5"), (10**30, "1" + "0" * 30), (1.4142135623730951, "1.41421356237"),
])
def test_format_number(value: float, shown: str) -> None:
    assert format_number(value) == shown


@pytest.mark.parametrize(("expression", "reason"), [
    ("1/0", "cannot divide by zero"), ("1//0", "cannot divide by zero"), ("5%0", "cannot divide by zero"),
    ("1/(2-2)", "cannot divide by zero"), ("0**-1", "cannot divide by zero"), ("1.5/0.0", "cannot divide by zero"),
    ("(-8)**0.5", "cannot raise a negative number to a fractional power"),
    ("9**9**9**9", "exponent is too large (limit 10000)"), ("2**100000", "exponent is too large (limit 10000)"),
    ("10**101", "result is too large"), ("10**100*10", "result is too large"), ("1.5**9999", "result is too large"),
    ("0.5**-10000", "result is too large"), ("99999999999**9999", "result is too large"),
    ("2**9999", "result is too large"), ("(10**60)*(10**60)", "result is too large"),
    ("1" + "0" * 101, "number is too large"), ("1" * 201, "expression is too long (limit 200 characters)"),
    ("(" * 33 + "1" + ")" * 33, "expression is nested too deeply (limit 32)"),
    ("-" * 40 + "1", "expression is nested too deeply (limit 32)"),
    ("2" + "**2" * 40, "expression is nested too deeply (limit 32)"),
])
def test_evaluation_errors(expression: str, reason: str) -> None:
    with pytest.raises(CalculationError) as caught:
        evaluate(expression)
    assert str(caught.value) == reason


@pytest.mark.parametrize("expression", [
    "9**9**9**9", "9^9^9^9", "2**2**2**2**2**2", "(10**100)**10000", "99**99**99", "10**100*10**100*10**100",
    "(" * 90 + "1" + ")" * 90, "-" * 199 + "1", "2" + "**2" * 60, "9" * 200, "(9**9)**(9**9)", "0.5**-9999",
])
def test_hostile_expressions_fail_fast(expression: str) -> None:
    started = time.perf_counter()
    with pytest.raises(CalculationError):
        evaluate(expression)
    assert time.perf_counter() - started < 0.05


@pytest.mark.parametrize(("expression", "reason"), [
    ("__import__('os')", "unexpected character '_'"), ("a+1", "unexpected character 'a'"),
    ("1+a", "unexpected character 'a'"), ("abs(-1)", "unexpected character 'a'"),
    ("(1).real", "unexpected character '.'"), ("x.y", "unexpected character 'x'"),
    ("1e5", "unexpected character 'e'"), ("1_000", "unexpected character '_'"), ("[1]", "unexpected character '['"),
    ("1 < 2", "unexpected character '<'"), ("1,2", "unexpected character ','"), ("0x10", "unexpected character 'x'"),
    ("", "empty expression"), ("   ", "empty expression"), ("()", "unexpected ')'"), ("(1+2", "missing ')'"),
    ("1+2)", "unexpected ')'"), ("1+", "expression ends too early"), ("*2", "unexpected '*'"),
    ("2 3", "unexpected '3'"), ("1.2.3", "unexpected '.3'"), ("2***3", "unexpected '*'"), ("2^^3", "unexpected '**'"),
])
def test_parse_rejects_everything_but_arithmetic(expression: str, reason: str) -> None:
    with pytest.raises(CalculationError) as caught:
        parse(expression)
    assert str(caught.value) == reason


def reference(source: str) -> float:
    """Python's own parser (not eval) as the reference for precedence and associativity."""
    ops: dict[type[ast.AST], Callable[[Any, Any], Any]] = {
        ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}

    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.UnaryOp):
            return -walk(node.operand) if isinstance(node.op, ast.USub) else walk(node.operand)
        assert isinstance(node, ast.BinOp)
        return ops[type(node.op)](walk(node.left), walk(node.right))

    return float(walk(ast.parse(source, mode="eval").body))


@st.composite
def expressions(draw: st.DrawFn) -> str:
    terms = draw(st.integers(1, 7))
    out = []
    power_used = False
    for i in range(terms):
        if i:
            op = draw(st.sampled_from(["+", "-", "*", "/", "//", "%", "**"]))
            if op == "**" and power_used:
                op = "*"
            power_used |= op == "**"
            out.append(op)
        sign = draw(st.sampled_from(["", "", "-", "+"]))
        number = str(draw(st.integers(0, 3 if power_used else 40)))
        if draw(st.booleans()) and i + 1 < terms:
            out.append(f"{sign}({number}")
            out.append(draw(st.sampled_from(["+", "-", "*"])))
            out.append(f"{draw(st.integers(0, 9))})")
        else:
            out.append(sign + number)
    return " ".join(out)


@given(expressions())
@settings(max_examples=300, deadline=None)
def test_matches_pythons_precedence_and_associativity(source: str) -> None:
    try:
        expected = reference(source)
    except ZeroDivisionError:
        with pytest.raises(CalculationError, match="cannot divide by zero"):
            evaluate(source)
        return
    except (OverflowError, TypeError):
        return  # complex results and the like: covered by the explicit cases
    try:
        got = float(evaluate(source))
    except CalculationError as exc:
        assert "fractional power" in str(exc) or "too large" in str(exc), (source, exc)
        return
    assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12), (source, got, expected)


# --- calculator: the action ------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expression"), [
    ("what is 12*(3+4)?", "12*(3+4)"), ("compute 2^10", "2^10"), ("calculate 7 / 2", "7 / 2"),
    ("What's 2+2.", "2+2"), ("how much is 15 % 4?", "15 % 4"), ("12*3", "12*3"), ("12*3 =", "12*3"),
    ("(what is 2+3)", "2+3"), ("What is -5 + 3?", "-5 + 3"), ("evaluate 9**9**9**9", "9**9**9**9"),
    ("solve 1/0", "1/0"), ("what is 2 + 2 and 3 + 3", "2 + 2"),
])
def test_find_expression(text: str, expression: str) -> None:
    assert find_expression(text) == expression


@pytest.mark.parametrize("text", [
    "what is 5?", "what is a+1?", "what is x2+3?", "compute __import__('os')", "I was born on 1990-05-12",
    "my phone is 555-1234", "what time is it", "hello", "", "what is my name?", "call me at 10:30",
])
def test_find_expression_rejects(text: str) -> None:
    assert find_expression(text) is None


async def test_calculate_action_answers() -> None:
    plugin = calculator.plugin
    act = action(plugin, "CALCULATE")
    assert {"MATH", "COMPUTE"} <= set(act.similes)
    assert (await run_action(plugin, "CALCULATE", runtime(), "what is 12*(3+4)?")).text == "12*(3+4) = 84"
    assert (await run_action(plugin, "CALCULATE", runtime(), "compute 2^10")).text == "2^10 = 1024"
    assert (await run_action(plugin, "CALCULATE", runtime(), "calculate 7 / 2")).text == "7 / 2 = 3.5"
    assert (await run_action(plugin, "CALCULATE", runtime(), "what is 0.1 + 0.2?")).text == "0.1 + 0.2 = 0.3"
    assert await accepts(plugin, "CALCULATE", "what is 12*(3+4)?")
    assert not await accepts(plugin, "CALCULATE", "what is a+1?")


async def test_calculate_action_reports_errors_as_text() -> None:
    result = await run_action(calculator.plugin, "CALCULATE", runtime(), "what is 1/0?")
    assert result.text == "Cannot calculate 1/0: cannot divide by zero."
    assert not result.success
    started = time.perf_counter()
    result = await run_action(calculator.plugin, "CALCULATE", runtime(), "compute 9**9**9**9")
    assert result.text == "Cannot calculate 9**9**9**9: exponent is too large (limit 10000)."
    assert time.perf_counter() - started < 0.05
    result = await run_action(calculator.plugin, "CALCULATE", runtime(), "tell me a joke")
    assert result.text == "I could not find an arithmetic expression in your message."
    assert not result.success


def test_calculate_helper() -> None:
    assert calculator.calculate(" 2 *  21 ") == "2 * 21 = 42"
    assert calculator.calculate("2/0") == "Cannot calculate 2/0: cannot divide by zero."


# --- facts -----------------------------------------------------------------------------------

FACTS = facts.plugin


async def learn(rt: FakeRuntime, text: str, user: str = "user-1") -> bool:
    (evaluator,) = FACTS.evaluators
    message = msg(text, user)
    if not await evaluator.validate(rt, message, State()):
        return False
    await evaluator.handler(rt, message, State(), "Tell me more.")
    return True


async def provide(rt: FakeRuntime, user: str = "user-1") -> ProviderResult:
    (provider,) = FACTS.providers
    return await provider.get(rt, msg("hello", user), State())


async def test_facts_parts_are_named() -> None:
    assert [e.name for e in FACTS.evaluators] == ["FACTS"]
    assert [p.name for p in FACTS.providers] == ["facts"]
    assert [a.name for a in FACTS.actions] == ["RECALL_FACT"]


@pytest.mark.parametrize(("text", "stored"), [
    ("my name is Ana", {"name": "Ana"}),
    ("My name is ana maria.", {"name": "Ana Maria"}),
    ("I'm Ana", {"name": "Ana"}),
    ("I\u2019m Zo\u00eb!", {"name": "Zo\u00eb"}),
    ("call me Ana", {"name": "Ana"}),
    ("I live in Lisbon", {"city": "Lisbon"}),
    ("I live in new york now", {"city": "New York"}),
    ("I like jazz", {"likes": "jazz"}),
    ("I love jazz and hiking", {"likes": "jazz, hiking"}),
    ("I really like Italian food because it's tasty", {"likes": "Italian food"}),
    ("my favorite color is blue", {"favorite_color": "blue"}),
    ("My favourite football team is Benfica.", {"favorite_football_team": "Benfica"}),
    ("Hi, I'm Ana and I live in Lisbon! I like jazz, and my favorite color is blue.",
     {"name": "Ana", "city": "Lisbon", "likes": "jazz", "favorite_color": "blue"}),
])
async def test_facts_evaluator_learns(text: str, stored: dict[str, str]) -> None:
    rt = runtime()
    assert await learn(rt, text)
    expected = {f"facts:user-1:{key}": value for key, value in stored.items()}
    things = [key.removeprefix("favorite_") for key in stored if key.startswith("favorite_")]
    if things:
        expected["facts:user-1:favorites"] = ", ".join(things)
    assert rt.cache == expected


@pytest.mark.parametrize("text", [
    "I'm tired", "I'm Not sure", "i'm going home", "call me later", "I like it", "I love you", "I like to swim",
    "what do I like?", "Do I like jazz?", "I don't like jazz", "what is my name?", "my name is not Bob",
    "Do you know what my name is, Eliza?", "where do I live?", "hello", "what is my favorite color?",
])
async def test_facts_evaluator_ignores_non_statements(text: str) -> None:
    rt = runtime()
    assert not await learn(rt, text)
    assert rt.cache == {}


@pytest.mark.parametrize("text", ["my name is " * 20_000, "I like a, " * 20_000, "I'm A" * 20_000,
                                  "my favorite thing is x y z w " * 5_000, "a " * 100_000])
def test_huge_messages_are_read_fast(text: str) -> None:
    started = time.perf_counter()
    facts.extract_facts(text)
    find_expression(text)
    time_plugin.asks_for_time(text)
    assert time.perf_counter() - started < 0.5


async def test_likes_accumulate_without_duplicates() -> None:
    rt = runtime()
    await learn(rt, "I like jazz")
    await learn(rt, "I love hiking and Jazz")
    assert rt.cache["facts:user-1:likes"] == "hiking, Jazz"
    for i in range(20):
        await learn(rt, f"I like thing{i}")
    likes = rt.cache["facts:user-1:likes"].split(", ")
    assert len(likes) == facts.MAX_LIKES and likes[-1] == "thing19"


async def test_facts_provider_reads_back() -> None:
    rt = runtime()
    assert await provide(rt) == ProviderResult()
    await learn(rt, "my name is Ana")
    await learn(rt, "I live in Lisbon")
    result = await provide(rt)
    assert result.text == "Known about this user: name Ana; lives in Lisbon."
    assert result.values == {"userName": "Ana", "userCity": "Lisbon"}
    await learn(rt, "I like jazz. My favorite color is blue and my favorite ice cream is pistachio")
    result = await provide(rt)
    assert result.text == ("Known about this user: name Ana; lives in Lisbon; likes jazz; favorite color blue; "
                           "favorite ice cream pistachio.")
    assert result.values == {"userName": "Ana", "userCity": "Lisbon", "userLikes": "jazz",
                             "userFavoriteColor": "blue", "userFavoriteIceCream": "pistachio"}


async def test_facts_are_per_user() -> None:
    rt = runtime()
    await learn(rt, "my name is Ana", user="ana")
    await learn(rt, "my name is Bo", user="bo")
    assert (await provide(rt, "ana")).values == {"userName": "Ana"}
    assert (await provide(rt, "bo")).values == {"userName": "Bo"}
    assert (await provide(rt, "carla")).text == ""


@pytest.mark.parametrize("user", ["Ana Smith", "a b", "a_b", "user/../../etc", "\u00e9\u00e8", "", "x" * 300,
                                  "tg:12345@example.org"])
async def test_cache_keys_are_sanitised(user: str) -> None:
    rt = runtime()
    await learn(rt, "my name is Ana and my favorite Caf\u00e9 Drink is latte", user=user)
    assert rt.cache, "facts were stored"
    assert all(CACHE_KEY.fullmatch(key) for key in rt.cache)
    assert (await provide(rt, user)).values["userName"] == "Ana"
    assert any(key.endswith(":favorite_cafe_drink") for key in rt.cache)


def test_fact_keys() -> None:
    assert facts.fact_key("user-1", "name") == "facts:user-1:name"
    assert facts.fact_key("tg:12345@example.org", "City") == "facts:tg:12345@example.org:city"
    assert facts.fact_key("a b", "name") != facts.fact_key("a_b", "name")
    assert facts.fact_key("A", "name") != facts.fact_key("a", "name")


@pytest.mark.parametrize(("question", "unknown"), [
    ("what is my name?", "You have not told me your name yet."),
    ("What's my name", "You have not told me your name yet."),
    ("do you remember my name?", "You have not told me your name yet."),
    ("who am I?", "You have not told me your name yet."),
    ("where do I live?", "You have not told me where you live yet."),
    ("what do I like?", "You have not told me what you like yet."),
    ("what is my favorite color?", "You have not told me your favorite color yet."),
    ("What's my favourite color again?", "You have not told me your favorite color yet."),
])
async def test_recall_fact_says_what_it_does_not_know(question: str, unknown: str) -> None:
    assert await accepts(FACTS, "RECALL_FACT", question)
    assert (await run_action(FACTS, "RECALL_FACT", runtime(), question)).text == unknown


async def test_recall_fact_answers_from_the_cache() -> None:
    rt = runtime()
    for text in ["my name is Ana", "I live in Lisbon", "I like jazz", "I love hiking and cooking",
                 "my favorite color is blue"]:
        assert await learn(rt, text)
    answers = {
        "what is my name?": "Your name is Ana.",
        "do you remember my name?": "Your name is Ana.",
        "where do I live?": "You live in Lisbon.",
        "what do I like?": "You like jazz, hiking and cooking.",
        "what is my favorite color?": "Your favorite color is blue.",
        "What's my name and where do I live?": "Your name is Ana. You live in Lisbon.",
    }
    for question, answer in answers.items():
        result = await run_action(FACTS, "RECALL_FACT", rt, question)
        assert result.text == answer
    assert (await run_action(FACTS, "RECALL_FACT", rt, "what is my name?", user="someone-else")).text == (
        "You have not told me your name yet.")


@pytest.mark.parametrize("text", ["my name is Ana", "hello", "what is 2+2?", "what time is it", "I live in Lisbon"])
async def test_recall_fact_ignores_other_messages(text: str) -> None:
    assert not await accepts(FACTS, "RECALL_FACT", text)


async def test_conversation_through_the_pipeline() -> None:
    plugins = load_order(["time", "calculator", "greeter"])
    assert [p.name for p in plugins] == ["time", "calculator", "facts", "greeter"]
    rt = runtime()
    assert await pipeline(plugins, rt, "what is my name?") == (["RECALL_FACT"], "You have not told me your name yet.")
    assert await pipeline(plugins, rt, "Hi, I'm Ana. I live in Lisbon.") == (["GREET"],
                                                                            "Hello from the greeter plugin, friend!")
    assert await pipeline(plugins, rt, "hello") == (["GREET"], "Hello from the greeter plugin, Ana!")
    assert await pipeline(plugins, rt, "what is my name?") == (["RECALL_FACT"], "Your name is Ana.")
    assert await pipeline(plugins, rt, "what is 6*7?") == (["CALCULATE"], "6*7 = 42")
    assert (await pipeline(plugins, rt, "what time is it?"))[0] == ["TIME"]
    assert rt.cache == {"facts:user-1:name": "Ana", "facts:user-1:city": "Lisbon"}


# --- the greeter package (installed with `pip install -e examples/plugin-package`) -----------


async def test_greeter_is_found_by_entry_point_and_needs_facts() -> None:
    greeter = resolve("greeter")
    assert greeter.name == "greeter"
    assert tuple(greeter.dependencies) == ("facts",)
    assert [a.name for a in greeter.actions] == ["GREET"]
    assert [p.name for p in load_order(["greeter"])] == ["facts", "greeter"]


@pytest.mark.parametrize(("text", "greeting"), [
    ("hello", True), ("Hello!", True), ("hi", True), ("hi there", True), ("Hey Eliza", True),
    ("Good morning", True), ("good  evening, Eliza", True), ("  ...hello?", True),
    ("this is high", False), ("say hello", False), ("history", False), ("good", False), ("", False),
])
async def test_greet_validate(text: str, greeting: bool) -> None:
    assert await accepts(resolve("greeter"), "GREET", text) is greeting


async def test_greet_uses_the_name_the_facts_cache_knows() -> None:
    greeter = resolve("greeter")
    rt = runtime()
    assert (await run_action(greeter, "GREET", rt, "hello")).text == "Hello from the greeter plugin, friend!"
    await learn(rt, "call me Ana")
    assert (await run_action(greeter, "GREET", rt, "good morning")).text == "Hello from the greeter plugin, Ana!"
    assert (await run_action(greeter, "GREET", rt, "hi", user="user-2")).text == (
        "Hello from the greeter plugin, friend!")
    state = State(values={"userName": "Bo"})
    assert (await run_action(greeter, "GREET", runtime(), "hi", state=state)).text == (
        "Hello from the greeter plugin, Bo!")
