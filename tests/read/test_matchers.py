"""RE2 regexes as Prometheus reads them, emitted for Java (Timestream) and RE2 (embedded store)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connector.errors import BadRequest
from connector.prom.matchers import Matcher, MatchType
from connector.prom.regex import RegexError, compile_regex
from tests.read.regex_engines import JAVA, java_find, re2_find

# (RE2 source, the same language in Python syntax): Python's fullmatch is the reference.
CORPUS = [
    ("", ""),
    ("a", "a"),
    ("abc", "abc"),
    ("a|b", "a|b"),
    ("a|", "a|"),
    ("|a", "|a"),
    (".*", ".*"),
    (".+", ".+"),
    ("a.*", "a.*"),
    (".*a", ".*a"),
    ("a?", "a?"),
    ("[abc]", "[abc]"),
    ("[^abc]", "[^abc]"),
    ("[a-c]+", "[a-c]+"),
    ("(a|b)*c", "(a|b)*c"),
    ("a{2}", "a{2}"),
    ("a{1,3}", "a{1,3}"),
    ("a{2,}", "a{2,}"),
    ("a{,2}", "a\\{,2\\}"),
    ("a{", "a\\{"),
    (r"\d+", "[0-9]+"),
    (r"\w+", "[0-9A-Za-z_]+"),
    (r"\s", "[\t\n\f\r ]"),
    (r"\S+", "[^\t\n\f\r ]+"),
    (r"\D", "[^0-9]"),
    ("(?i)abc", "(?i)abc"),
    ("(?i)k", "[kK\u212a]"),
    ("(?i)s", "[sS\u017f]"),
    ("(?i)[a-c]", "[a-cA-C]"),
    ("(?i)[^k]", "[^kK\u212a]"),
    ("(?i)é", "[éÉ]"),
    ("(?i:a)b", "[aA]b"),
    ("x*?", "x*?"),
    ("[[:alpha:]]+", "[A-Za-z]+"),
    ("[[:^digit:]]", "[^0-9]"),
    ("[[:space:]]", "[\t\n\v\f\r ]"),
    (r"\.", r"\."),
    (r"\$", r"\$"),
    (r"a\|b", r"a\|b"),
    (r"[\]]", r"[\]]"),
    ("[]a]", r"[\]a]"),
    ("[a-]", "[a-]"),
    ("[-a]", "[-a]"),
    (r"\x41", "A"),
    (r"\x{1F600}", "\U0001f600"),
    (r"\101", "A"),
    (r"\Qa.b\E", r"a\.b"),
    ("(?s).", "(?s:.)"),
    ("(?-s).", "[^\n]"),
    ("^a", "a"),
    ("a$", "a"),
    (r"\Aa\z", "a"),
    ("(?:ab)+", "(?:ab)+"),
    ("(?P<n>a)b", "(?P<n>a)b"),
    ("(?<n>a)b", "(?P<n>a)b"),
    (r"\bfoo\b", "foo"),
    (r"[\d\s]", "[0-9\t\n\f\r ]"),
    (r"[\D]", "[^0-9]"),
    ("é", "é"),
    ("[é-ú]", "[é-ú]"),
    (r"\n", "\n"),
    (r"a\nb", "a\nb"),
    ("(a)|b", "(a)|b"),
    ("a)|(b", "(?s:a.*|.*b)"),
    ("[&&[]+", r"[&\[]+"),
    ("[a&&b]", "[a&b]"),
    (r"[\[\]]", r"[\[\]]"),
    ("(x*)*", "(x*)*"),
    ("(?U)a+", "a+"),
    ("(?i)ǅ", "[Ǆǅǆ]"),
    ("(?m)^a$", "a"),
    ("[^\n]", "[^\n]"),
    ("\\\\", "\\\\"),
    ("'", "'"),
    ('"', '"'),
    ("(?i)Ω", "[ΩωΩ]"),
]
STRINGS = [
    "", "a", "b", "c", "ab", "abc", "A", "ABC", "aBc", "k", "K", "\u212a", "s", "S", "\u017f", "x\ny", "\n",
    "a\n", "1", "123", " ", "\t", "\x0b", "é", "É", "ü", "😀", "a.b", "axb", "foo", "foo bar", "[&&]", "[", "&",
    "-", "]", "$", "\u03b1", "Ω", "ω", "Ω", "aa", "aaa", "aaaa", "\r", "\u0085", "\u2028", "a\r", "_", "a|b", "x",
    "xx", "bc", "cab", "zzb", "azz", "ǅ", "ǆ", "Ǆ", "\\", "'", '"', "a\nb", "\u0661", "\u00a0",
]  # fmt: skip


def _python_expected(python: str, dot_all: bool) -> list[bool]:
    flags = re.DOTALL if dot_all else 0
    return [re.fullmatch(python, s, flags) is not None for s in STRINGS]


def _cases() -> list[tuple[str, bool, str, list[bool]]]:
    cases = []
    for source, python in CORPUS:
        for dot_all in (True, False):
            regex = compile_regex(source, dot_all)
            cases.append((source, dot_all, regex.pattern, _python_expected(python, dot_all)))
    return cases


def test_emitted_patterns_match_like_go_on_re2() -> None:
    cases = _cases()
    pairs = [(pattern, s) for _, _, pattern, _ in cases for s in STRINGS]
    found = re2_find(pairs)
    for index, (source, dot_all, pattern, expected) in enumerate(cases):
        got = found[index * len(STRINGS) : (index + 1) * len(STRINGS)]
        wrong = [s for s, g, e in zip(STRINGS, got, expected, strict=True) if g != e]
        assert not wrong, f"{source!r} (dot_all={dot_all}) as {pattern!r} disagrees on {wrong!r}"


# Constructs Python's re cannot express: expected answers written out.
UNICODE_CASES = {
    r"\pL+": {"abc": True, "é": True, "\u03b1": True, "1": False, "": False},
    r"\p{Greek}": {"\u03b1": True, "a": False},
    r"\PL": {"1": True, "a": False},
    r"[\p{Nd}x]+": {"1x2": True, "\u0661": True, "y": False},
    r"[^\p{L}]": {"1": True, "a": False},
    r"\p{^Greek}": {"a": True, "\u03b1": False},
    r"\p{Any}+": {"a\nb": True, "": False},
    r"(?i)\p{Nd}": {"1": True, "a": False},
}


@pytest.mark.skipif(JAVA is None, reason="no java on this machine")
def test_emitted_patterns_match_like_go_on_java(tmp_path: Path) -> None:
    cases = _cases()
    pairs = [(pattern, s) for _, _, pattern, _ in cases for s in STRINGS]
    unicode_expected = []
    for source, table in UNICODE_CASES.items():
        for text, want in table.items():
            pairs.append((compile_regex(source).pattern, text))
            unicode_expected.append(("1" if want else "0", source, text))
    found = java_find(pairs, tmp_path)
    for index, (source, dot_all, pattern, expected) in enumerate(cases):
        got = found[index * len(STRINGS) : (index + 1) * len(STRINGS)]
        wrong = [s for s, g, e in zip(STRINGS, got, expected, strict=True) if g != ("1" if e else "0")]
        assert not wrong, f"{source!r} (dot_all={dot_all}) as {pattern!r} disagrees on {wrong!r}"
    tail = found[len(cases) * len(STRINGS) :]
    assert [(g, s, t) for g, (_, s, t) in zip(tail, unicode_expected, strict=True)] == unicode_expected


def test_general_categories_on_re2() -> None:
    pattern = compile_regex(r"[\p{L}\p{Nd}]+").pattern
    assert re2_find([(pattern, "é1\u03b1"), (pattern, "-")]) == [True, False]


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("a(?=b)", "lookahead"),
        ("a(?!b)", "negative lookahead"),
        ("(?<=a)b", "lookbehind"),
        ("(?<!a)b", "negative lookbehind"),
        ("(?>a)", "atomic"),
        (r"(a)\1", "backreferences"),
        (r"\8", "backreferences"),
        (r"a\Z", r"\Z"),
        ("a**", "nested repetition"),
        ("a{2}*", "nested repetition"),
        ("*a", "missing argument"),
        ("a|*", "missing argument"),
        ("(*)", "missing argument"),
        ("a*+", "possessive"),
        ("(a", "missing closing )"),
        ("a)", "unexpected )"),
        ("[a", "missing closing ]"),
        ("[z-a]", "invalid character class range"),
        (r"\p{Nope}x", "invalid character class range"),
        (r"\p{lu}", "invalid character class range"),
        ("[[:nope:]]", "invalid character class range"),
        ("a{1001}", "invalid repeat count"),
        ("a{3,2}", "invalid repeat count"),
        ("(a{100}){100}", "invalid repeat count"),
        ("(?P<n>a)(?P<n>b)", "duplicate capture group name"),
        ("(?P<>a)", "invalid named capture"),
        ("(?P<a-b>x)", "invalid named capture"),
        ("(?P=n)", "invalid named capture"),
        ("(?x)a", "invalid or unsupported Perl syntax"),
        ("(?i-)a", "invalid or unsupported Perl syntax"),
        ("(?", "missing closing )"),
        ("(?z", "invalid or unsupported Perl syntax"),
        (r"\C", r"\C"),
        (r"\k<n>", "invalid escape"),
        (r"\u0041", "invalid escape"),
        (r"\xZZ", "invalid escape"),
        (r"\x{110000}", "invalid escape"),
        ("a\\", "missing closing )"),  # ^(?:a\)$: the wrapper's ) is escaped, as in Prometheus
        (r"\Qa.b", "missing closing )"),  # \Q runs to the end, over the wrapper's )
        (r"[\b]", "invalid escape"),
        (r"(?i)\p{Lu}", "case-insensitive"),
        ("(" * 101 + ")" * 101, "nested more than"),
    ],
)
def test_invalid_regexes_are_refused_naming_the_construct(source: str, reason: str) -> None:
    with pytest.raises(RegexError) as caught:
        compile_regex(source, label="job")
    assert caught.value.status == 400
    assert reason in caught.value.message
    assert "'job'" in caught.value.message


@pytest.mark.parametrize("source", ["a{,5}", "{", "a{x}", "a{01}", "(?)", "(?i)", "x{0}", "(?:)", "^*", "\\z*"])
def test_valid_oddities_are_accepted(source: str) -> None:
    compile_regex(source)


def test_literal_alternations_and_shortcuts() -> None:
    assert compile_regex("a|bc|").literals == frozenset({"a", "bc", ""})
    assert compile_regex("(?:x|y)(?:1|2)").literals == frozenset({"x1", "x2", "y1", "y2"})
    assert compile_regex(r"a\.b").literals == frozenset({"a.b"})
    assert compile_regex("a.b").literals is None
    assert compile_regex("(?i)a").literals is None
    assert compile_regex("(?i)1").literals == frozenset({"1"})
    assert compile_regex("a)|(b").literals is None
    assert compile_regex(".*").matches_all and not compile_regex(".*", dot_all=False).matches_all
    assert compile_regex(".+").matches_nonempty and not compile_regex(".+").matches_all
    assert not compile_regex("a.*").matches_all


def test_output_has_only_portable_characters() -> None:
    pattern = compile_regex('it\'s "x" \x00\n\u2028😀').pattern
    assert pattern.isascii() and pattern.isprintable()
    assert "'" not in pattern and '"' not in pattern


@pytest.mark.parametrize(
    ("type_", "value", "empty"),
    [(MatchType.EQ, "", True), (MatchType.EQ, "x", False), (MatchType.NEQ, "", False), (MatchType.NEQ, "x", True),
     (MatchType.RE, "x|", True), (MatchType.RE, "x", False), (MatchType.NRE, "x|", False), (MatchType.NRE, "x", True),
     (MatchType.RE, ".*", True), (MatchType.RE, ".+", False)],
)  # fmt: skip
def test_missing_label_is_the_empty_value(type_: MatchType, value: str, empty: bool) -> None:
    assert Matcher.create(type_, "l", value).matches_empty is empty


def test_unknown_matcher_type_is_a_bad_request() -> None:
    with pytest.raises(BadRequest):
        Matcher.create(7, "l", "x")
