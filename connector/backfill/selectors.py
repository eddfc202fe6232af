"""``--match`` series selectors, as PromQL writes them, into remote-read label matchers.

``up``, ``{job="node"}``, ``node_cpu_seconds_total{mode!="idle",cpu=~"0|1"}``: a metric name and/or
matchers in braces with ``=``, ``!=``, ``=~`` or ``!~``. Values are double- or single-quoted with
Go's escapes (as PromQL unquotes them: ``\\n``, ``\\"``, ``\\x41``, ``\\101``, ``\\u00e9``,
``\\U0001F600``...) or backquoted and raw. Quoted names (``{"my.metric", "a.b"="c"}``, Prometheus 3)
are read too. Regexes go to the source as written: the source's RE2 is the one that judges them.
"""

from __future__ import annotations

from dataclasses import dataclass

from prompb import types_pb2

_OPERATORS = {"=~": types_pb2.LabelMatcher.RE, "!~": types_pb2.LabelMatcher.NRE, "!=": types_pb2.LabelMatcher.NEQ}
_SYMBOLS = {
    types_pb2.LabelMatcher.EQ: "=",
    types_pb2.LabelMatcher.NEQ: "!=",
    types_pb2.LabelMatcher.RE: "=~",
    types_pb2.LabelMatcher.NRE: "!~",
}
_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}
_HEX = frozenset("0123456789abcdefABCDEF")
_QUOTES = "\"'`"


class SelectorError(ValueError):
    """A selector that is not PromQL; the message shows where reading stopped."""


@dataclass(frozen=True)
class Selector:
    """One ``--match``: its text and its matchers, the metric name first."""

    text: str
    matchers: tuple[types_pb2.LabelMatcher, ...]

    def canonical(self) -> str:
        """The matchers in one spelling, so ``up`` and ``{__name__="up"}`` name the same selection."""
        parts = sorted(f"{m.name}{_SYMBOLS[m.type]}{m.value!r}" for m in self.matchers)
        return "{" + ",".join(parts) + "}"


def parse_selector(text: str) -> Selector:
    """The matchers of a series selector; ``SelectorError`` pointing at the first character that is wrong."""
    return Selector(text, tuple(_Parser(text).selector()))


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, problem: str, at: int | None = None) -> SelectorError:
        where = self.pos if at is None else at
        return SelectorError(f"{problem} at character {where + 1} of {self.text!r}\n  {self.text}\n  {' ' * where}^")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_space(self) -> None:
        while self.peek().isspace():
            self.pos += 1

    def selector(self) -> list[types_pb2.LabelMatcher]:
        self.skip_space()
        metric = self.identifier(metric=True) if _starts_name(self.peek(), metric=True) else None
        self.skip_space()
        matchers: list[types_pb2.LabelMatcher] = []
        if self.peek() == "{":
            self.pos += 1
            metric = self.braces(metric, matchers)
        self.skip_space()
        if self.pos < len(self.text):
            hint = ' (--match takes a series selector such as up or {job="node"}, not an expression)'
            raise self.fail(f"unexpected {self.peek()!r}" + (hint if self.peek() in "[(+-*/" else ""))
        if metric is None and not matchers:
            raise self.fail("a selector needs a metric name or a matcher in braces", 0)
        if metric is not None:
            matchers.insert(0, types_pb2.LabelMatcher(type=types_pb2.LabelMatcher.EQ, name="__name__", value=metric))
        return matchers

    def braces(self, metric: str | None, matchers: list[types_pb2.LabelMatcher]) -> str | None:
        """Matchers up to the closing brace; a quoted name standing alone is the metric name."""
        while True:
            self.skip_space()
            if self.peek() == "}":
                self.pos += 1
                return metric
            start = self.pos
            if self.peek() and self.peek() in _QUOTES:
                name = self.string()
                self.skip_space()
                if self.peek() in (",", "}"):
                    if metric is not None:
                        raise self.fail("a second metric name", start)
                    metric = name
                    self.separator()
                    continue
            elif _starts_name(self.peek(), metric=False):
                name = self.identifier(metric=False)
            else:
                raise self.fail("expected a label name" if self.peek() else "missing '}'")
            self.skip_space()
            kind = self.operator()
            self.skip_space()
            if not self.peek() or self.peek() not in _QUOTES:
                raise self.fail("expected a quoted value (\"...\", '...' or `...`)")
            matchers.append(types_pb2.LabelMatcher(type=kind, name=name, value=self.string()))
            self.separator()

    def separator(self) -> None:
        self.skip_space()
        if self.peek() == ",":
            self.pos += 1
        elif self.peek() != "}":
            raise self.fail("expected ',' or '}'" if self.peek() else "missing '}'")

    def identifier(self, metric: bool) -> str:
        start = self.pos
        while self.pos < len(self.text) and _in_name(self.text[self.pos], metric):
            self.pos += 1
        return self.text[start : self.pos]

    def operator(self) -> int:
        two = self.text[self.pos : self.pos + 2]
        if two in _OPERATORS:
            self.pos += 2
            return _OPERATORS[two]
        if two[:1] == "=":
            self.pos += 1
            return int(types_pb2.LabelMatcher.EQ)
        raise self.fail("expected one of =, !=, =~, !~")

    def string(self) -> str:
        """A quoted string, unquoted as Go's ``strconv.Unquote`` (PromQL's rules)."""
        quote = self.text[self.pos]
        start = self.pos
        self.pos += 1
        if quote == "`":
            end = self.text.find("`", self.pos)
            if end < 0:
                raise self.fail("unterminated raw string", start)
            value = self.text[self.pos : end].replace("\r", "")
            self.pos = end + 1
            return value
        out = bytearray()
        while True:
            char = self.peek()
            if not char or char == "\n":
                raise self.fail("unterminated string", start)
            self.pos += 1
            if char == quote:
                break
            if char == "\\":
                self.escape(quote, out)
            else:
                out += _utf8(char, self)
        try:
            return out.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail("the escapes in this string do not make valid UTF-8", start) from None

    def escape(self, quote: str, out: bytearray) -> None:
        at = self.pos - 1
        char = self.peek()
        self.pos += 1
        if char in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[char])
        elif char == quote:
            out += char.encode()
        elif char == "x":
            out.append(self.digits(2, 16, at))
        elif char and char in "01234567":
            self.pos -= 1
            value = self.digits(3, 8, at)
            if value > 255:
                raise self.fail("an octal escape above \\377", at)
            out.append(value)
        elif char in ("u", "U"):
            code = self.digits(4 if char == "u" else 8, 16, at)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise self.fail("an escape that is not a Unicode code point", at)
            out += chr(code).encode("utf-8")
        else:
            raise self.fail(f"unknown escape \\{char}" if char else "unterminated string", at)

    def digits(self, count: int, base: int, at: int) -> int:
        digits = self.text[self.pos : self.pos + count]
        allowed = _HEX if base == 16 else frozenset("01234567")
        if len(digits) < count or not set(digits) <= allowed:
            raise self.fail(f"an escape needs {count} {'hex' if base == 16 else 'octal'} digits", at)
        self.pos += count
        return int(digits, base)


def _utf8(char: str, parser: _Parser) -> bytes:
    try:
        return char.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: argv bytes that were not UTF-8
        raise parser.fail("a character that is not valid UTF-8", parser.pos - 1) from None


def _starts_name(char: str, metric: bool) -> bool:
    return bool(char) and (char.isascii() and (char.isalpha() or char == "_" or (metric and char == ":")))


def _in_name(char: str, metric: bool) -> bool:
    return _starts_name(char, metric) or (char.isascii() and char.isdigit())
