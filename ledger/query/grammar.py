"""The filter language of ``ledger query``: its tokens, its grammar and the parser.

The language is the one MLflow users know from ``search_runs``, with record fields and links::

    filter     := disjunct ("or" disjunct)*
    disjunct   := factor ("and" factor)*
    factor     := "not" factor | "(" filter ")" | predicate
    predicate  := field operator literal
                | field ["not"] "in" "(" literal ("," literal)* ")"
                | field ["not"] ("like" | "ilike") string
    operator   := "=" | "==" | "!=" | "<" | "<=" | ">" | ">="
    literal    := number | string | "true" | "false"
    order      := field ["asc" | "desc"] ("," field ["asc" | "desc"])*
    field      := segment ("." segment)*      a segment may carry a selector: metrics[sex=F]

Keywords are case-insensitive. Strings are quoted with ``'`` or ``"`` (a backslash escapes the
quote); a segment with other characters than letters, digits, ``_`` and ``-`` is quoted with
backticks (``metrics.`f1 score```).

A hand-written recursive-descent parser rather than a parsing library: the grammar is one
precedence ladder over six kinds of token, every error must name its column in words a user of
the command understands, and the parser is imported by a command whose whole budget at 10,000
records is half a second. Nothing is ever evaluated as Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ledger.errors import UsageError

Operator = Literal["=", "!=", "<", "<=", ">", ">="]
Value = str | float | bool
OPERATORS: dict[str, Operator] = {
    "=": "=",
    "==": "=",
    "!=": "!=",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
}
KEYWORDS = frozenset({"and", "or", "not", "in", "like", "ilike", "true", "false", "asc", "desc"})


class FilterSyntaxError(UsageError):
    """A filter, an order or a column list that does not parse: where, and what was expected."""

    def __init__(self, what: str, text: str, column: int, problem: str) -> None:
        super().__init__(f"{what} {text!r}: column {column + 1}: {problem}")
        self.column = column


# --- the tree -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """One step of a field: a name, and for ``metrics[sex=F]`` the selector's pair."""

    name: str
    selector: tuple[str, str] | None = None


@dataclass(frozen=True)
class Field:
    text: str
    segments: tuple[Segment, ...]
    column: int

    @property
    def head(self) -> str:
        return self.segments[0].name


@dataclass(frozen=True)
class Compare:
    field: Field
    operator: Operator
    value: Value
    value_column: int


@dataclass(frozen=True)
class Member:
    field: Field
    values: tuple[Value, ...]
    negated: bool
    value_columns: tuple[int, ...]


@dataclass(frozen=True)
class Like:
    field: Field
    pattern: str
    negated: bool
    case_insensitive: bool
    value_column: int


@dataclass(frozen=True)
class Not:
    operand: Expression


@dataclass(frozen=True)
class And:
    operands: tuple[Expression, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Expression, ...]


Predicate = Compare | Member | Like
Expression = Predicate | Not | And | Or


@dataclass(frozen=True)
class OrderKey:
    field: Field
    descending: bool


# --- tokens -------------------------------------------------------------------------------

TokenKind = Literal["field", "string", "number", "operator", "keyword", "(", ")", ",", "end"]


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str
    column: int
    value: Value | Field | None = None


_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_SELECTOR_PART = re.compile(
    r"\s*(?:'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"|([^\]='\"]*[^\]='\"\s]))\s*"
)
_SPACE = re.compile(r"\s+")


class _Lexer:
    def __init__(self, what: str, text: str) -> None:
        self.what, self.text = what, text

    def error(self, column: int, problem: str) -> FilterSyntaxError:
        return FilterSyntaxError(self.what, self.text, column, problem)

    def tokens(self) -> list[Token]:
        text, at, found = self.text, 0, []
        while True:
            space = _SPACE.match(text, at)
            if space:
                at = space.end()
            if at == len(text):
                found.append(Token("end", "", at))
                return found
            token = self._token(at)
            found.append(token)
            at += len(token.text)

    def _token(self, at: int) -> Token:
        text, char = self.text, self.text[at]
        if char in "(),":
            return Token(char, char, at)  # type: ignore[arg-type]
        if char in "'\"":
            end, value = self._quoted(at, char)
            return Token("string", text[at:end], at, value)
        two = text[at : at + 2]
        if two in OPERATORS:
            return Token("operator", two, at)
        if char in OPERATORS:
            return Token("operator", char, at)
        if char == "!":
            raise self.error(at, "'!' alone is no operator; write != for 'not equal'")
        number = _NUMBER.match(text, at)
        if number and (char.isdigit() or char in "+-."):
            return Token("number", number.group(), at, float(number.group()))
        if char.isalpha() or char in "_`":
            return self._field_or_keyword(at)
        raise self.error(at, f"unexpected character {char!r}")

    def _quoted(self, at: int, quote: str) -> tuple[int, str]:
        """The end of the string starting at ``at``, and its value with escapes undone."""
        chars: list[str] = []
        i = at + 1
        while i < len(self.text):
            char = self.text[i]
            if char == "\\" and i + 1 < len(self.text):
                chars.append(self.text[i + 1])
                i += 2
                continue
            if char == quote:
                return i + 1, "".join(chars)
            chars.append(char)
            i += 1
        raise self.error(at, f"the string is not closed; end it with {quote}")

    def _field_or_keyword(self, at: int) -> Token:
        segments: list[Segment] = []
        i = at
        while True:
            name, i = self._segment_name(i)
            selector = None
            if i < len(self.text) and self.text[i] == "[":
                selector, i = self._selector(i)
            segments.append(Segment(name, selector))
            if i < len(self.text) and self.text[i] == ".":
                i += 1
                continue
            break
        raw = self.text[at:i]
        if len(segments) == 1 and segments[0].selector is None and raw.lower() in KEYWORDS:
            return Token("keyword", raw, at, raw.lower())
        return Token("field", raw, at, Field(raw, tuple(segments), at))

    def _segment_name(self, at: int) -> tuple[str, int]:
        if at < len(self.text) and self.text[at] == "`":
            end = self.text.find("`", at + 1)
            if end < 0:
                raise self.error(at, "the quoted name is not closed; end it with `")
            if end == at + 1:
                raise self.error(at, "an empty name between backticks")
            return self.text[at + 1 : end], end + 1
        name = _NAME.match(self.text, at)
        if not name:
            raise self.error(at, "expected a field name after '.'")
        return name.group(), name.end()

    def _selector(self, at: int) -> tuple[tuple[str, str], int]:
        """``[attribute=group]``: the subgroup a metric is taken in."""
        close = self.text.find("]", at)
        if close < 0:
            raise self.error(at, "the selector is not closed; write it as [attribute=group]")
        inside = self.text[at + 1 : close]
        attribute, equals, group = inside.partition("=")
        if not equals:
            raise self.error(at, "a selector names a subgroup as [attribute=group], e.g. [sex=F]")
        parts = []
        for part in (attribute, group):
            match = _SELECTOR_PART.fullmatch(part)
            if match is None or not part.strip():
                raise self.error(at, "a selector names a subgroup as [attribute=group]")
            quoted = match.group(1) if match.group(1) is not None else match.group(2)
            value = quoted if quoted is not None else match.group(3)
            parts.append(re.sub(r"\\(.)", r"\1", value))
        return (parts[0], parts[1]), close + 1


# --- the parser ---------------------------------------------------------------------------


class _Parser:
    def __init__(self, what: str, text: str) -> None:
        self.lexer = _Lexer(what, text)
        self.tokens = self.lexer.tokens()
        self.at = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.at]

    def _next(self) -> Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def _is(self, kind: TokenKind) -> bool:
        return self.tokens[self.at].kind == kind

    def _keyword(self, *words: str) -> bool:
        return self._is("keyword") and self.token.value in words

    def error(self, problem: str, token: Token | None = None) -> FilterSyntaxError:
        token = token or self.token
        found = "the end of the text" if token.kind == "end" else repr(token.text)
        return self.lexer.error(token.column, f"{problem}, found {found}")

    def expression(self) -> Expression:
        operands = [self.disjunct()]
        while self._keyword("or"):
            self._next()
            operands.append(self.disjunct())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def disjunct(self) -> Expression:
        operands = [self.factor()]
        while self._keyword("and"):
            self._next()
            operands.append(self.factor())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def factor(self) -> Expression:
        if self._keyword("not"):
            self._next()
            return Not(self.factor())
        if self._is("("):
            opened = self._next()
            inner = self.expression()
            if not self._is(")"):
                raise self.error(f"expected ')' to close the '(' at column {opened.column + 1}")
            self._next()
            return inner
        return self.predicate()

    def field(self) -> Field:
        token = self.token
        if token.kind != "field":
            raise self.error("expected a field such as metrics.auroc, kind or model")
        self._next()
        assert isinstance(token.value, Field)
        return token.value

    def predicate(self) -> Predicate:
        field = self.field()
        negated = False
        if self._keyword("not"):
            self._next()
            negated = True
            if not self._keyword("in", "like", "ilike"):
                raise self.error("expected in, like or ilike after 'not'")
        if self._keyword("in"):
            self._next()
            return self._member(field, negated)
        if self._keyword("like", "ilike"):
            word = self._next()
            pattern = self.token
            if pattern.kind != "string":
                raise self.error(f"expected a quoted pattern after {word.text}")
            self._next()
            assert isinstance(pattern.value, str)
            insensitive = word.value == "ilike"
            return Like(field, pattern.value, negated, insensitive, pattern.column)
        if not self._is("operator"):
            raise self.error("expected a comparison (= != < <= > >=), in, like or ilike")
        operator = OPERATORS[self._next().text]
        value, column = self.literal()
        return Compare(field, operator, value, column)

    def _member(self, field: Field, negated: bool) -> Member:
        if not self._is("("):
            raise self.error("expected '(' and a list of values after in")
        self._next()
        values, columns = [], []
        while True:
            value, column = self.literal()
            values.append(value)
            columns.append(column)
            if self._is(","):
                self._next()
                continue
            if self._is(")"):
                self._next()
                return Member(field, tuple(values), negated, tuple(columns))
            raise self.error("expected ',' or ')' in the list of values")

    def literal(self) -> tuple[Value, int]:
        token = self.token
        if token.kind in ("string", "number"):
            self._next()
            assert isinstance(token.value, str | float)
            return token.value, token.column
        if token.kind == "keyword" and token.value in ("true", "false"):
            self._next()
            return token.value == "true", token.column
        raise self.error("expected a value: a number, a 'quoted string', true or false")

    def order(self) -> list[OrderKey]:
        keys = []
        while True:
            field = self.field()
            descending = False
            if self._keyword("asc", "desc"):
                descending = self._next().value == "desc"
            keys.append(OrderKey(field, descending))
            if self._is(","):
                self._next()
                continue
            return keys

    def fields(self) -> list[Field]:
        found = [self.field()]
        while self._is(","):
            self._next()
            found.append(self.field())
        return found

    def finish(self, expected: str) -> None:
        if not self._is("end"):
            raise self.error(f"expected {expected} or the end")


def parse_filter(text: str) -> Expression:
    """The tree of a filter; FilterSyntaxError names the column of the first problem."""
    parser = _Parser("filter", text)
    if parser.token.kind == "end":
        raise parser.error("the filter is empty; expected a condition such as kind = 'model'")
    tree = parser.expression()
    parser.finish("and, or")
    return tree


def parse_order(text: str) -> list[OrderKey]:
    """``--order-by``: fields, each optionally followed by asc or desc."""
    parser = _Parser("order", text)
    keys = parser.order()
    parser.finish("',', asc, desc")
    return keys


def parse_fields(text: str) -> list[Field]:
    """``--columns``: fields separated by commas."""
    parser = _Parser("columns", text)
    found = parser.fields()
    parser.finish("','")
    return found


def predicates(tree: Expression) -> list[Predicate]:
    """Every predicate of a filter, left to right."""
    if isinstance(tree, Not):
        return predicates(tree.operand)
    if isinstance(tree, And | Or):
        return [p for operand in tree.operands for p in predicates(operand)]
    return [tree]
