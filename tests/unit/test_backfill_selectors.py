"""``--match`` selectors into remote-read matchers: PromQL's syntax, Go's string escapes, readable errors."""

from __future__ import annotations

import pytest

from connector.backfill.selectors import SelectorError, parse_selector
from prompb import types_pb2

EQ, NEQ, RE, NRE = (types_pb2.LabelMatcher.EQ, types_pb2.LabelMatcher.NEQ, types_pb2.LabelMatcher.RE,
                    types_pb2.LabelMatcher.NRE)  # fmt: skip


def matchers(text: str) -> list[tuple[str, int, str]]:
    return [(m.name, m.type, m.value) for m in parse_selector(text).matchers]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{job="node"}', [("job", EQ, "node")]),
        ("up", [("__name__", EQ, "up")]),
        ("up{}", [("__name__", EQ, "up")]),
        (
            'node_cpu_seconds_total{mode!="idle",cpu=~"0|1"}',
            [("__name__", EQ, "node_cpu_seconds_total"), ("mode", NEQ, "idle"), ("cpu", RE, "0|1")],
        ),
        ('{__name__!~"go_.*", job=~".+",}', [("__name__", NRE, "go_.*"), ("job", RE, ".+")]),
        ("job:http_requests:rate5m", [("__name__", EQ, "job:http_requests:rate5m")]),
        ('  up { job = "a" , instance != "b" }  ', [("__name__", EQ, "up"), ("job", EQ, "a"), ("instance", NEQ, "b")]),
        ('{a="1", a="2"}', [("a", EQ, "1"), ("a", EQ, "2")]),  # PromQL keeps both; they AND
        ('{job=""}', [("job", EQ, "")]),
        ('{"my.metric", "label.name"="v"}', [("__name__", EQ, "my.metric"), ("label.name", EQ, "v")]),
    ],
)
def test_selectors(text: str, expected: list[tuple[str, int, str]]) -> None:
    assert matchers(text) == expected


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        (r'"a\"b"', 'a"b'),
        (r"'it\'s'", "it's"),
        ("'say \"hi\"'", 'say "hi"'),
        (r'"tab\there\nnew"', "tab\there\nnew"),
        (r'"\a\b\f\r\v"', "\a\b\f\r\v"),
        (r'"\x41\102\u00e9\U0001F600"', "ABé😀"),
        (r'"\xc3\xa9"', "é"),  # bytes that make UTF-8 together
        ("`raw \\n \"quoted\" 'too'`", "raw \\n \"quoted\" 'too'"),
        ("`carriage\r\nreturn`", "carriage\nreturn"),  # Go drops \r from raw strings
        ('"Zürich ☃"', "Zürich ☃"),
    ],
)
def test_string_escapes_follow_go(literal: str, value: str) -> None:
    assert matchers(f"{{path={literal}}}") == [("path", EQ, value)]


def test_backslash_d_is_kept_for_the_regex() -> None:
    assert matchers(r'{code=~"5\\d\\d"}') == [("code", RE, r"5\d\d")]


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("{}", "needs a metric name or a matcher", 1),
        ("", "needs a metric name or a matcher", 1),
        ('up{job="x}', "unterminated string", 8),
        ("up{job=node}", "expected a quoted value", 8),
        ('up{job~"x"}', "expected one of =, !=, =~, !~", 7),
        ('up{job="a" x="b"}', "expected ',' or '}'", 12),
        ('up{job="a"', "missing '}'", 11),
        ('up{9job="a"}', "expected a label name", 4),
        ('up{job:x="a"}', "expected one of", 7),  # no colons in label names
        ("rate(up[5m])", "not an expression", 5),
        ("up[5m]", "not an expression", 3),
        ('up{job="a"} offset 5m', "unexpected 'o'", 13),
        (r'{a="\q"}', r"unknown escape \q", 5),
        (r'{a="\'"}', r"unknown escape \'", 5),  # Go: \' only inside single quotes
        (r"{a='\"'}", 'unknown escape \\"', 5),
        (r'{a="\x4"}', "2 hex digits", 5),
        (r'{a="\400"}', "above \\377", 5),
        (r'{a="\ud800"}', "not a Unicode code point", 5),
        (r'{a="\xff"}', "not make valid UTF-8", 4),
        ('{a="line\nbreak"}', "unterminated string", 4),
        ("{a=`open}", "unterminated raw string", 4),
        ('{"m1", "m2"}', "a second metric name", 8),
        ('up{"m2"}', "a second metric name", 4),
    ],
)
def test_errors_point_at_the_problem(text: str, message: str, column: int) -> None:
    with pytest.raises(SelectorError) as error:
        parse_selector(text)
    assert message in str(error.value)
    assert f"at character {column} of" in str(error.value)
    caret_line = str(error.value).splitlines()[-1]
    assert caret_line.index("^") - 2 == column - 1, str(error.value)


def test_canonical_spelling_names_the_same_selection() -> None:
    assert parse_selector("up").canonical() == parse_selector(' {__name__ = "up"} ').canonical()
    assert parse_selector('up{a="1",b="2"}').canonical() == parse_selector("up{b='2',a=`1`}").canonical()
    assert parse_selector('up{a="1"}').canonical() != parse_selector('up{a=~"1"}').canonical()
