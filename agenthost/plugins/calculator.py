"""The `calculator` plugin: the CALCULATE action evaluates arithmetic found in a message.

Expressions are read by a small hand-written recursive-descent parser (never `eval`) that
knows only numbers, `+ - * / // % **`, `^` (power), unary `+`/`-` and parentheses, with
Python's precedence: `**` binds tighter than unary minus on its left (`-2**2 == -4`) and is
right-associative; the other binary operators are left-associative. Limits on expression
length, nesting depth, exponent size and the magnitude of every intermediate result keep
hostile input such as `9**9**9**9` from hanging the host or exhausting its memory.
"""

from __future__ import annotations

import dataclasses
import math
import re

from elizaos._plugin import Action, ActionResult, AgentRuntimeAPI, Message, Plugin, State

__all__ = [
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_EXPRESSION_LENGTH",
    "MAX_MAGNITUDE",
    "CalculationError",
    "calculate",
    "evaluate",
    "find_expression",
    "format_number",
    "parse",
    "plugin",
]

MAX_EXPRESSION_LENGTH = 200
"""Longest expression (in characters) the calculator reads."""
MAX_DEPTH = 32
"""Deepest nesting of parentheses and unary signs."""
MAX_EXPONENT = 10_000
"""Largest absolute exponent `**` accepts."""
MAX_MAGNITUDE = 10**100
"""Largest absolute value of any number, intermediate or final."""

Number = int | float

# Written with escapes: the multiplication, division and minus signs people paste in.
_SYMBOLS = {"\u00d7": "*", "\u00f7": "/", "\u2212": "-", "\u2013": "-", "^": "**"}
_TOKEN = re.compile(r"\s*(?:(?P<number>\d+\.?\d*|\.\d+)|(?P<op>\*\*|//|[-+*/%()]))")


class CalculationError(ValueError):
    """The text is not an arithmetic expression, or it cannot be evaluated (the message says why)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Num:
    """A number literal."""

    value: Number


@dataclasses.dataclass(frozen=True, slots=True)
class Unary:
    """`+x` or `-x`."""

    op: str
    operand: Node


@dataclasses.dataclass(frozen=True, slots=True)
class Binary:
    """`left op right` with op one of `+ - * / // % **`."""

    op: str
    left: Node
    right: Node


Node = Num | Unary | Binary


def _normalise(text: str) -> str:
    for symbol, op in _SYMBOLS.items():
        text = text.replace(symbol, op)
    return text


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    end = len(text.rstrip())
    while pos < end:
        match = _TOKEN.match(text, pos)
        if match is None:
            bad = text[pos:].lstrip()[:1]
            raise CalculationError(f"unexpected character {bad!r}")
        tokens.append(match.group("number") or match.group("op"))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise CalculationError(f"expression is nested too deeply (limit {MAX_DEPTH})")

    def expression(self) -> Node:
        # expression := term (("+" | "-") term)*
        node = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            node = Binary(op, node, self.term())
        return node

    def term(self) -> Node:
        # term := unary (("*" | "/" | "//" | "%") unary)*
        node = self.unary()
        while self.peek() in ("*", "/", "//", "%"):
            op = self.take()
            node = Binary(op, node, self.unary())
        return node

    def unary(self) -> Node:
        # unary := ("+" | "-") unary | power
        if self.peek() in ("+", "-"):
            op = self.take()
            self.enter()
            operand = self.unary()
            self.depth -= 1
            return Unary(op, operand)
        return self.power()

    def power(self) -> Node:
        # power := atom ("**" unary)?   -- right-associative, and 2**-1 is allowed
        base = self.atom()
        if self.peek() == "**":
            self.take()
            self.enter()
            exponent = self.unary()
            self.depth -= 1
            return Binary("**", base, exponent)
        return base

    def atom(self) -> Node:
        # atom := NUMBER | "(" expression ")"
        token = self.peek()
        if token is None:
            raise CalculationError("expression ends too early")
        if token == "(":
            self.take()
            self.enter()
            node = self.expression()
            self.depth -= 1
            if self.peek() != ")":
                raise CalculationError("missing ')'")
            self.take()
            return node
        if token[0].isdigit() or token[0] == ".":
            self.take()
            return Num(_literal(token))
        raise CalculationError(f"unexpected {token!r}")


def _literal(token: str) -> Number:
    value: Number = float(token) if "." in token else int(token)
    if abs(value) > MAX_MAGNITUDE:
        raise CalculationError("number is too large")
    return value


def parse(text: str) -> Node:
    """Parse an arithmetic expression into a tree; raises `CalculationError` for anything else."""
    text = text.strip()
    if not text:
        raise CalculationError("empty expression")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise CalculationError(f"expression is too long (limit {MAX_EXPRESSION_LENGTH} characters)")
    text = _normalise(text)
    parser = _Parser(_tokenize(text))
    node = parser.expression()
    if parser.peek() is not None:
        raise CalculationError(f"unexpected {parser.peek()!r}")
    return node


def _checked(value: Number) -> Number:
    if isinstance(value, float) and not math.isfinite(value):
        raise CalculationError("result is too large")
    if abs(value) > MAX_MAGNITUDE:
        raise CalculationError("result is too large")
    return value


def _power(base: Number, exponent: Number) -> Number:
    if abs(exponent) > MAX_EXPONENT:
        raise CalculationError(f"exponent is too large (limit {MAX_EXPONENT})")
    if base == 0 and exponent < 0:
        raise CalculationError("cannot divide by zero")
    if base < 0 and not float(exponent).is_integer():
        raise CalculationError("cannot raise a negative number to a fractional power")
    # Estimate the size before computing: 10**100 has 101 digits, so anything with more is refused.
    if abs(base) > 1 and exponent > 0 and exponent * math.log10(abs(base)) > math.log10(MAX_MAGNITUDE) + 1:
        raise CalculationError("result is too large")
    try:
        result: Number = base**exponent
    except OverflowError:
        raise CalculationError("result is too large") from None
    except ZeroDivisionError:
        raise CalculationError("cannot divide by zero") from None
    return result


def _apply(op: str, left: Number, right: Number) -> Number:
    if op in ("/", "//", "%") and right == 0:
        raise CalculationError("cannot divide by zero")
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if op == "/":
        if isinstance(left, int) and isinstance(right, int) and left % right == 0:
            return left // right  # exact: keep integers exact
        return left / right
    if op == "//":
        return left // right
    if op == "%":
        return left % right
    if op == "**":
        return _power(left, right)
    raise CalculationError(f"unknown operator {op!r}")  # pragma: no cover - the parser makes none


def _evaluate(node: Node) -> Number:
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Unary):
        value = _evaluate(node.operand)
        return -value if node.op == "-" else value
    left = _evaluate(node.left)
    right = _evaluate(node.right)
    try:
        return _checked(_apply(node.op, left, right))
    except OverflowError:
        raise CalculationError("result is too large") from None


def evaluate(text: str) -> Number:
    """The value of an arithmetic expression; raises `CalculationError` (with a reason) if it has none."""
    return _evaluate(parse(text))


def format_number(value: Number) -> str:
    """Integers without ".0"; other floats to 12 significant digits ("0.3" for 0.1+0.2)."""
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = format(value, ".12g")
    return "0" if text == "-0" else text


def calculate(text: str) -> str:
    """`"<expression> = <value>"`, or `"Cannot calculate <expression>: <reason>."`."""
    expression = " ".join(text.split())
    try:
        return f"{expression} = {format_number(evaluate(text))}"
    except CalculationError as exc:
        return f"Cannot calculate {expression}: {exc}."


def _has_operation(node: Node) -> bool:
    if isinstance(node, Binary):
        return True
    return isinstance(node, Unary) and _has_operation(node.operand)


# Runs of characters an expression can be made of; the first one that parses and has an
# operation in it is the message's expression.
_CANDIDATE = re.compile(r"[0-9.()+\-*/%^\s\u00d7\u00f7\u2212\u2013]+")
_TRIGGER = re.compile(
    r"\b(?:what\s*(?:'s|s|\s+is|\s+are)|how\s+much\s+is|calculate|calc|compute|evaluate|solve|work\s+out"
    r"|math|maths|equals?)\b",
    re.IGNORECASE,
)


def find_expression(text: str) -> str | None:
    """The arithmetic expression a message asks about, or None.

    The message must either ask for it ("what is", "compute", "calculate", ...) or be the
    expression alone (optionally ending with "=" or "?"); the expression needs at least one
    operation, and must not be glued to a word (so "a+1" or "x2+3" are not arithmetic).
    """
    text = text.replace("\u2019", "'")
    asked = _TRIGGER.search(text) is not None
    for match in _CANDIDATE.finditer(text):
        raw = match.group()
        start = match.start() + len(raw) - len(raw.lstrip())
        end = match.end() - (len(raw) - len(raw.rstrip()))
        candidate = text[start:end].rstrip(". ")  # a trailing "." ends the sentence
        # Parentheses around the sentence are not the expression's: "(what is 2+3)".
        while candidate.endswith(")") and candidate.count(")") > candidate.count("("):
            candidate = candidate[:-1].rstrip(". ")
            end = start + len(candidate)
        while candidate.startswith("(") and candidate.count("(") > candidate.count(")"):
            candidate = candidate[1:].lstrip()
            start = end - len(candidate)
        if not candidate or not any(c.isdigit() for c in candidate):
            continue
        before = text[start - 1] if start > 0 else " "
        after = text[end] if end < len(text) else " "
        if before.isalnum() or before in "_'\"" or after.isalnum() or after in "_'\"":
            continue
        if not asked and text.strip().rstrip("=?!. ") != candidate:
            continue
        try:
            node = parse(candidate)
        except CalculationError:
            continue
        if _has_operation(node):
            return candidate
    return None


async def validate(runtime: AgentRuntimeAPI, message: Message, state: State) -> bool:
    """Accepts messages containing an arithmetic expression (see `find_expression`)."""
    return find_expression(message.text) is not None


async def handle(runtime: AgentRuntimeAPI, message: Message, state: State) -> ActionResult:
    """Answers "<expression> = <value>", or says why the expression cannot be calculated."""
    expression = find_expression(message.text)
    if expression is None:
        return ActionResult(text="I could not find an arithmetic expression in your message.", success=False)
    try:
        value = evaluate(expression)
    except CalculationError as exc:
        return ActionResult(text=f"Cannot calculate {' '.join(expression.split())}: {exc}.", success=False,
                            data={"expression": expression, "error": str(exc)})
    shown = format_number(value)
    return ActionResult(text=f"{' '.join(expression.split())} = {shown}",
                        data={"expression": expression, "result": shown})


plugin: Plugin = Plugin(
    name="calculator",
    description="Lets the agent do exact arithmetic safely instead of guessing at numbers.",
    actions=(
        Action(
            name="CALCULATE",
            description=(
                "Evaluates an arithmetic expression in the user's message (numbers, + - * / // % ** or ^, "
                "and parentheses) and replies with the result."
            ),
            handler=handle,
            validate=validate,
            similes=("MATH", "COMPUTE", "ARITHMETIC", "CALCULATOR", "EVALUATE"),
            examples=(
                (("user", "What is 12*(3+4)?"), ("agent", "12*(3+4) = 84")),
                (("user", "Compute 2^10"), ("agent", "2^10 = 1024")),
            ),
        ),
    ),
)
"""The calculator plugin (entry point `calculator`)."""
