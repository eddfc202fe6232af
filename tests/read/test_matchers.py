"""RE2 regexes as Prometheus reads them, emitted for Java (Timestream) and RE2 (embedded store)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connector.errors import BadRequest
from connector.prom.matchers import Matcher, MatchType
from connector.prom.regex import RegexError, compile_regex
from tests.read.regex_engines import JAVA, java_find, re2_find
from tests.tools import missing

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


def test_emitted_patterns_match_like_go_on_java(tmp_path: Path) -> None:
    if JAVA is None:
        missing("java (Timestream's regex engine is Java's)", "apt-get install -y default-jre-headless")
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


# RE2 sources whose emitted pattern must match like RE2 itself on Java (and on RE2): the reference
# is DuckDB's RE2 running the source as Prometheus wraps it. Around \b, \B, Perl classes, (?i) and
# \p{..}, where Java 17 reads a plain copy of the source differently (Unicode word characters for
# \b, ASCII-only (?i) without UNICODE_CASE, and so on).
ENGINE_CASES = [
    r"\bfoo\b", r"foo\b", r"\bfoo", r"\b", r"\B", r"\B\B", r"\b\B", r"a\bb", r"a\Bb", r"a\b b", r"a \bb",
    r"\Bx", r"x\B", r"\b_", r"-\b", r"\B-", r"[a-z -]*\b[a-z -]*", r"[ -~]*\bfoo\b[ -~]*", r"(?:\b|x)+",
    r"(?:a\B)*", r"[\x00-\x7f]+\b", r"\bFOO|\bbar\B", r"\b[[:alnum:]]+\b", r"(?i)\bfoo\b",
    r"\w+", r"\W+", r"\s+", r"\S+", r"\d+", r"\D+", r"[\w\s]+", r"[^\w]", r"[\W\d]+", r"[^\S]", r"[\D\d]",
    r"(?i)\w+", r"(?i)\W", r"\pL+", r"\p{L}", r"\PL+", r"\p{Greek}+", r"\P{Greek}", r"\p{Lu}", r"\p{Nd}+",
    r"[\p{Greek}a]+", r"[^\p{Greek}]", r"\p{Latin}+",
    "(?i)é", "(?i)É", "(?i)k", "(?i)K", "(?i)\u212a", "(?i)s", "(?i)ß", "(?i)ǅ", "(?i)[a-zé]+", "(?i)\u03c3",
    "(?i)[^k]", "(?i)[[:upper:]]", "(?i)ω", "(?i)\u2126", "(?i)[k-l]", "(?i)ǆ", "(?i)i", "(?i)\u0131", "(?i)İ",
    "(?i)foo", "(?i)ΣΑΣ", "(?i)[^é]", "é", "É", r"(?i)\x{e9}", r"(?i)\Qé\E",
    "(?m)^a$", "(?m)^[a-z]+$", "(?m)a$\n", "(?m)(?:a$\n)+",
]  # fmt: skip
ENGINE_TEXTS = [
    "", "foo", "FOO", "bar", "é", "éfoo", "fooé", "é foo", "a b", "ab", "a-b", "a_b", "_", "-", "x", "xx",
    " foo ", "É", "k", "K", "\u212a", "kK\u212a", "s", "S", "\u017f", "ß", "\u1e9e", "\u03c3", "ς", "Σ", "ΣΑΣ",
    "\u03c3\u03b1ς", "\u03b1", "\u03b1\u03b2\u03b3", "Ω", "ω", "\u2126", "1", "123", "\u0661", "\u00a0",
    "\u2028", "\u3000", "\t", "\x0b",
    "\r", "\n", "a\u0301", "\u0301", "ǅ", "ǆ", "Ǆ", "abc", "ABC", "aéb", "foo\u03b1", "a\nb", "a\r\nb", "a\n",
    "i", "I", "\u0131", "İ", "l", "L", "😀", "foo bar", "a1_Z", "fooÉ", "foo-bar",
]  # fmt: skip
# The reference's own answers, written out: RE2 as Go runs it for Prometheus.
ENGINE_SPOT_CHECKS = [
    (r"é\b", "é", False), (r"\bé", "é", False), (r"foo\b", "fooé", False), (r"foo\bé", "fooé", True),
    (r"\w", "é", False), (r"\W", "é", True), (r"\d", "\u0661", False), (r"\s", "\u00a0", False),
    (r"\s", "\x0b", False), (r"\S", "\u3000", True), ("(?i)é", "É", True), ("(?i)k", "\u212a", True),
    ("(?i)s", "\u017f", True), ("(?i)i", "\u0131", False), (r"\pL", "é", True), (r"\p{Greek}", "\u03b1", True),
    (r"\p{Greek}", "a", False), ("(?i)ß", "\u1e9e", True), ("(?i)\u03c3", "ς", True),
]  # fmt: skip
# Constructs whose exact meaning Java cannot be given in a pattern RE2 also runs: a 400 naming them.
ENGINE_REFUSED = {
    r"é\b": r"\b", r"\bé": r"\b", r"foo\bé": r"\b", r".*\bfoo\b.*": r"\b", r"\B.": r"\B", r"\b\pL": r"\b",
    r"(?i)\bk": r"\b", r"(?i)\bs\b": r"\b", r"[^a]\b": r"\b", r"\b\w\W": r"\b", "(?m)^.*$": "(?m)^",
    "(?m)a$\r": "(?m)$", "(?m)a$\u2028": "(?m)$", "(?m)a\n^": "(?m)^", r"(?m)\n^": "(?m)^", "(?m)a$\n^b": "(?m)^",
    "(?m)a$.": "(?m)$", r"(?i)\p{Greek}": "case-insensitive", r"(?i)\pL": "case-insensitive",
}  # fmt: skip


def _re2_ready(pattern: str) -> str:
    """As the embedded store rewrites it (emulator/dialect.py): RE2 names scripts without ``Is``."""
    return re.sub(r"\\([pP])\{Is", r"\\\1{", pattern)


def test_engine_cases_match_like_re2_on_java_and_re2(tmp_path: Path) -> None:
    if JAVA is None:
        missing("java (Timestream's regex engine is Java's)", "apt-get install -y default-jre-headless")
    reference = re2_find([(f"^(?s:{source})$", text) for source, text, _ in ENGINE_SPOT_CHECKS])
    assert reference == [want for _, _, want in ENGINE_SPOT_CHECKS]
    cases, emitted = [], []
    for source in [*ENGINE_CASES, *ENGINE_REFUSED]:  # refused ones too: should they compile, they must agree
        for dot_all in (True, False):
            try:
                emitted.append(compile_regex(source, dot_all).pattern)
            except RegexError:
                assert source in ENGINE_REFUSED, f"{source!r} (dot_all={dot_all}) refused"
                continue
            cases.append((source, dot_all))
    wrapped = [("^(?s:" if dot_all else "^(?:") + source + ")$" for source, dot_all in cases]
    spots = [(compile_regex(s).pattern, text, want) for s, text, want in ENGINE_SPOT_CHECKS if s not in ENGINE_REFUSED]
    expected = re2_find([(p, s) for p in wrapped for s in ENGINE_TEXTS])
    on_re2 = re2_find([(_re2_ready(p), s) for p in emitted for s in ENGINE_TEXTS])
    on_java = java_find([(p, s) for p in emitted for s in ENGINE_TEXTS] + [(p, s) for p, s, _ in spots], tmp_path)
    size = len(ENGINE_TEXTS)
    for index, ((source, dot_all), pattern) in enumerate(zip(cases, emitted, strict=True)):
        want = expected[index * size : (index + 1) * size]
        java = [g == "1" for g in on_java[index * size : (index + 1) * size]]
        re2 = on_re2[index * size : (index + 1) * size]
        for engine, got in (("java", java), ("re2", re2)):
            wrong = [s for s, g, e in zip(ENGINE_TEXTS, got, want, strict=True) if g != e]
            assert not wrong, f"{source!r} (dot_all={dot_all}) as {pattern!r} on {engine} disagrees on {wrong!r}"
    spot_java = [g == "1" for g in on_java[len(cases) * size :]]
    assert spot_java == [want for _, _, want in spots]


@pytest.mark.parametrize(("source", "construct"), ENGINE_REFUSED.items())
def test_constructs_java_reads_differently_are_refused(source: str, construct: str) -> None:
    for dot_all in (True, False):
        with pytest.raises(RegexError) as caught:
            compile_regex(source, dot_all, label="job")
        assert caught.value.status == 400
        assert construct in caught.value.message and "'job'" in caught.value.message


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
