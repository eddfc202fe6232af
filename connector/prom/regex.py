"""Prometheus regexes (Go RE2) rewritten for Timestream's ``regexp_like``.

Prometheus compiles a regex matcher as Go RE2 ``^(?:re)$`` (3.x: ``^(?s:re)$``). Timestream runs
Java regexes with "contains" semantics; the embedded store runs RE2. So the regex is parsed here
exactly as Go parses it (same syntax errors, same anchoring, even for ``a)|(b``) and emitted again
using only constructs that mean the same in Java and RE2: ``\\x{..}`` escapes, explicit code-point
classes (``.``, ``\\s``, POSIX and negated classes are expanded, so Java's ``&&``, nested ``[``,
line terminators and ``\\v`` in ``\\s`` never come into play), ``\\A``/``\\z`` instead of ``^``/``$``
(Java's ``$`` also matches before a final newline), non-capturing groups only, and case folding
done here with Unicode simple-folding orbits (Java's ``(?i)`` is ASCII-only). ``\\b``, ``\\B`` and
``(?m)`` anchors are kept only where no text the regex can match tells Java's reading from RE2's
(see ``_check_context_anchors``), else refused. Whether the regex matches the empty string decides
whether series without the label are selected.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from connector.errors import BadRequest

MAX_RUNE = 0x10FFFF
_MAX_REPEAT = 1000
_MAX_NESTING = 100
_MAX_LITERALS = 100

Ranges = tuple[tuple[int, int], ...]


class RegexError(BadRequest):
    """A regex Prometheus would refuse, or one Timestream cannot run with the same meaning."""


@dataclass(frozen=True)
class Regex:
    source: str
    pattern: str  # for regexp_like: carries its own anchors, same meaning in Java and RE2
    matches_empty: bool
    literals: frozenset[str] | None  # exactly the strings it matches, when that set is small
    matches_all: bool = False  # ``.*`` with dot-all: every value and the absent label
    matches_nonempty: bool = False  # ``.+`` with dot-all: every present label


def compile_regex(source: str, dot_all: bool = True, label: str = "") -> Regex:
    """Parse ``source`` as Prometheus does (Go RE2, anchored) and emit it for ``regexp_like``."""
    prefix = "^(?s:" if dot_all else "^(?:"
    where = f" for label {label[:100]!r}" if label else ""
    try:
        tree = _Parser(prefix + source + ")$").parse()
        _check_context_anchors(tree)
        repeat = _any_repeat(tree)
        return Regex(
            source,
            _emit(tree),
            _nullable(tree),
            _literals(tree),
            matches_all=repeat == 0,
            matches_nonempty=repeat == 1,
        )
    except _Invalid as exc:
        raise RegexError(f"invalid regex {source[:200]!r}{where}: {exc}") from None
    except RecursionError:
        raise RegexError(f"regex {source[:200]!r}{where} is nested too deeply") from None


class _Invalid(Exception):
    pass


# --- syntax tree --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Char:
    rune: int
    fold: bool


@dataclass(frozen=True)
class _Class:
    ranges: Ranges
    props: tuple[str, ...] = ()  # Java spellings such as \p{Lu}, \P{IsGreek}
    negated: bool = False


@dataclass(frozen=True)
class _Anchor:
    java: str  # \A, \z, (?m:^), (?m:$), \b, \B
    on_empty: bool  # whether it holds in the empty string


@dataclass(frozen=True)
class _Concat:
    items: tuple[_Node, ...]


@dataclass(frozen=True)
class _Alt:
    branches: tuple[_Node, ...]


@dataclass(frozen=True)
class _Group:
    inner: _Node


@dataclass(frozen=True)
class _Repeat:
    sub: _Node
    min: int
    max: int  # -1: unbounded
    greedy: bool


_Node = _Char | _Class | _Anchor | _Concat | _Alt | _Group | _Repeat

_BEGIN_TEXT = _Anchor(r"\A", True)
_END_TEXT = _Anchor(r"\z", True)
_BEGIN_LINE = _Anchor("(?m:^)", True)
_END_LINE = _Anchor("(?m:$)", True)
_WORD_BOUNDARY = _Anchor(r"\b", False)
_NO_WORD_BOUNDARY = _Anchor(r"\B", True)


# --- character sets -----------------------------------------------------------------------------


def _normalise(ranges: Iterable[tuple[int, int]]) -> Ranges:
    merged: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return tuple((lo, hi) for lo, hi in merged)


def _negate(ranges: Ranges) -> Ranges:
    result, next_lo = [], 0
    for lo, hi in ranges:
        if lo > next_lo:
            result.append((next_lo, lo - 1))
        next_lo = hi + 1
    if next_lo <= MAX_RUNE:
        result.append((next_lo, MAX_RUNE))
    return tuple(result)


def _chars(text: str) -> Ranges:
    return _normalise((ord(c), ord(c)) for c in text)


def _span(lo: str, hi: str) -> tuple[int, int]:
    return ord(lo), ord(hi)


_DIGIT = (_span("0", "9"),)
_WORD = _normalise([_span("0", "9"), _span("A", "Z"), _span("a", "z"), _span("_", "_")])
_PERL_SPACE = _chars("\t\n\f\r ")
_PERL = {"d": _DIGIT, "s": _PERL_SPACE, "w": _WORD}
_POSIX: dict[str, Ranges] = {
    "alnum": _normalise([_span("0", "9"), _span("A", "Z"), _span("a", "z")]),
    "alpha": _normalise([_span("A", "Z"), _span("a", "z")]),
    "ascii": ((0, 0x7F),),
    "blank": _chars("\t "),
    "cntrl": ((0, 0x1F), (0x7F, 0x7F)),
    "digit": _DIGIT,
    "graph": (_span("!", "~"),),
    "lower": (_span("a", "z"),),
    "print": (_span(" ", "~"),),
    "punct": _normalise([_span("!", "/"), _span(":", "@"), _span("[", "`"), _span("{", "~")]),
    "space": _chars("\t\n\v\f\r "),
    "upper": (_span("A", "Z"),),
    "word": _WORD,
    "xdigit": _normalise([_span("0", "9"), _span("A", "F"), _span("a", "f")]),
}


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_CATEGORIES = _words(
    "C Cc Cf Co Cs L Ll Lm Lo Lt Lu M Mc Me Mn N Nd Nl No P Pc Pd Pe Pf Pi Po Ps S Sc Sk Sm So Z Zl Zp Zs"
)
# Go's unicode.Scripts (Unicode 15): \p{Name} for any other name is a syntax error in Prometheus.
_SCRIPTS = _words(
    "Adlam Ahom Anatolian_Hieroglyphs Arabic Armenian Avestan Balinese Bamum Bassa_Vah Batak Bengali Bhaiksuki "
    "Bopomofo Brahmi Braille Buginese Buhid Canadian_Aboriginal Carian Caucasian_Albanian Chakma Cham Cherokee "
    "Chorasmian Common Coptic Cuneiform Cypriot Cypro_Minoan Cyrillic Deseret Devanagari Dives_Akuru Dogra "
    "Duployan Egyptian_Hieroglyphs Elbasan Elymaic Ethiopic Georgian Glagolitic Gothic Grantha Greek Gujarati "
    "Gunjala_Gondi Gurmukhi Han Hangul Hanifi_Rohingya Hanunoo Hatran Hebrew Hiragana Imperial_Aramaic Inherited "
    "Inscriptional_Pahlavi Inscriptional_Parthian Javanese Kaithi Kannada Katakana Kawi Kayah_Li Kharoshthi "
    "Khitan_Small_Script Khmer Khojki Khudawadi Lao Latin Lepcha Limbu Linear_A Linear_B Lisu Lycian Lydian "
    "Mahajani Makasar Malayalam Mandaic Manichaean Marchen Masaram_Gondi Medefaidrin Meetei_Mayek Mende_Kikakui "
    "Meroitic_Cursive Meroitic_Hieroglyphs Miao Modi Mongolian Mro Multani Myanmar Nabataean Nag_Mundari "
    "Nandinagari New_Tai_Lue Newa Nko Nushu Nyiakeng_Puachue_Hmong Ogham Ol_Chiki Old_Hungarian Old_Italic "
    "Old_North_Arabian Old_Permic Old_Persian Old_Sogdian Old_South_Arabian Old_Turkic Old_Uyghur Oriya Osage "
    "Osmanya Pahawh_Hmong Palmyrene Pau_Cin_Hau Phags_Pa Phoenician Psalter_Pahlavi Rejang Runic Samaritan "
    "Saurashtra Sharada Shavian Siddham SignWriting Sinhala Sogdian Sora_Sompeng Soyombo Sundanese Syloti_Nagri "
    "Syriac Tagalog Tagbanwa Tai_Le Tai_Tham Tai_Viet Takri Tamil Tangsa Tangut Telugu Thaana Thai Tibetan "
    "Tifinagh Tirhuta Toto Ugaritic Vai Vithkuqi Wancho Warang_Citi Yezidi Yi Zanabazar_Square"
)
# Go adds case-fold variants to these tables under (?i); Java cannot, so they are refused there.
_FOLD_SENSITIVE = frozenset({"L", "Ll", "Lt", "Lu", "M", "Mn", "Common", "Greek", "Inherited"})
_ESCAPES = {"a": 7, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11}


@lru_cache(maxsize=1)
def _orbits() -> dict[int, tuple[int, ...]]:
    """Unicode simple case-folding orbits (k, K, U+212A ...), from Python's one-rune case mappings.

    U+0131 (dotless i) is left out: its link to ``I`` is a Turkic-only folding that RE2 ignores.
    """
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    for rune in range(0x20000):
        if rune == 0x131:
            continue
        char = chr(rune)
        for other in (char.lower(), char.upper()):
            if len(other) == 1 and other != char and ord(other) != 0x131:
                a, b = root(rune), root(ord(other))
                if a != b:
                    parent[max(a, b)] = min(a, b)
    groups: dict[int, set[int]] = {}
    for rune in set(parent) | set(parent.values()):
        groups.setdefault(root(rune), set()).add(rune)
    return {rune: tuple(sorted(group)) for group in groups.values() for rune in group}


@lru_cache(maxsize=1)
def _cased() -> list[int]:
    return sorted(_orbits())


def _fold(ranges: Ranges) -> Ranges:
    """``ranges`` plus every case variant of the runes in it."""
    cased, orbits = _cased(), _orbits()
    extra: list[tuple[int, int]] = []
    for lo, hi in ranges:
        for index in range(bisect_left(cased, lo), bisect_right(cased, hi)):
            extra.extend((o, o) for o in orbits[cased[index]])
    return _normalise([*ranges, *extra]) if extra else ranges


# --- parser (mirrors Go's regexp/syntax with the Perl flags Prometheus uses) --------------------


@dataclass(frozen=True)
class _Flags:
    fold: bool = False  # i
    multiline: bool = False  # m
    dot_nl: bool = False  # s
    ungreedy: bool = False  # U


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.flags = _Flags()
        self.names: set[str] = set()
        self.depth = 0

    def parse(self) -> _Node:
        node = self._alternation()
        if self.pos < len(self.text):  # only a ')' stops the top level early
            raise _Invalid("unexpected ) (unbalanced parenthesis)")
        return node

    def _peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else ""

    def _rest(self) -> str:
        return self.text[self.pos :]

    def _alternation(self) -> _Node:
        branches = [self._concatenation()]
        while self._peek() == "|":
            self.pos += 1
            branches.append(self._concatenation())
        return branches[0] if len(branches) == 1 else _Alt(tuple(branches))

    def _concatenation(self) -> _Node:
        items: list[_Node] = []
        last_was_repeat = False
        while self._peek() not in ("", "|", ")"):
            start = self.pos
            repeat = self._repetition()
            if repeat is not None:
                low, high, greedy = repeat
                construct = self.text[start : self.pos]
                if last_was_repeat:
                    raise _Invalid(f"invalid nested repetition operator {construct!r}")
                if not items:
                    raise _Invalid(f"missing argument to repetition operator {construct!r}")
                repeated = _Repeat(items[-1], low, high, greedy)
                _check_repeat_size(repeated, construct)
                items[-1] = repeated
                last_was_repeat = True
                continue
            last_was_repeat = False
            atom = self._atom()
            if atom is not None:
                items.append(atom)
        return items[0] if len(items) == 1 else _Concat(tuple(items))

    def _repetition(self) -> tuple[int, int, bool] | None:
        char = self._peek()
        if char in ("*", "+", "?"):
            self.pos += 1
            low, high = {"*": (0, -1), "+": (1, -1), "?": (0, 1)}[char]
        elif char == "{":
            counted = _parse_counted(self._rest())
            if counted is None:
                return None  # not a repeat: '{' is a literal
            low, high, length = counted
            construct = self.text[self.pos : self.pos + length]
            if low < 0 or low > _MAX_REPEAT or high > _MAX_REPEAT or 0 <= high < low:
                raise _Invalid(f"invalid repeat count {construct!r}")
            self.pos += length
        else:
            return None
        greedy = not self.flags.ungreedy
        if self._peek() == "?":
            self.pos += 1
            greedy = not greedy
        if self._peek() == "+":
            raise _Invalid("possessive quantifiers (such as a*+) are not supported by RE2")
        return low, high, greedy

    def _atom(self) -> _Node | None:
        char = self._peek()
        if char == "(":
            return self._group()
        if char == "[":
            return self._class()
        if char == "\\":
            return self._escape_atom()
        self.pos += 1
        if char == ".":
            return _Class(((0, MAX_RUNE),)) if self.flags.dot_nl else _Class(_negate(((10, 10),)))
        if char == "^":
            return _BEGIN_LINE if self.flags.multiline else _BEGIN_TEXT
        if char == "$":
            return _END_LINE if self.flags.multiline else _END_TEXT
        return _Char(ord(char), self.flags.fold)

    # groups and flags

    def _group(self) -> _Node | None:
        start = self.pos
        self.pos += 1
        saved = self.flags
        if self._peek() == "?" and not self._group_prefix(start):
            return None  # (?flags): changes flags until the end of the enclosing group
        self.depth += 1
        if self.depth > _MAX_NESTING:
            raise _Invalid(f"groups nested more than {_MAX_NESTING} deep")
        inner = self._alternation()
        if self._peek() != ")":
            raise _Invalid("missing closing )")
        self.pos += 1
        self.depth -= 1
        self.flags = saved
        return _Group(inner)

    def _group_prefix(self, start: int) -> bool:
        """Consume what follows ``(?``; True when a group body follows, False for ``(?flags)``."""
        rest = self.text[start:]
        for prefix, what in (("(?=", "lookahead"), ("(?!", "negative lookahead"), ("(?<=", "lookbehind"),
                             ("(?<!", "negative lookbehind"), ("(?>", "atomic groups"), ("(?#", "comments"),
                             ("(?(", "conditionals")):  # fmt: skip
            if rest.startswith(prefix):
                raise _Invalid(f"{what} {prefix}...) is not supported by RE2")
        if rest.startswith("(?P<") or rest.startswith("(?<"):
            self._capture_name(rest, 4 if rest.startswith("(?P<") else 3)
            return True
        if rest.startswith("(?P"):
            raise _Invalid(f"invalid named capture {rest[:20]!r}")
        return self._flag_group()

    def _capture_name(self, rest: str, begin: int) -> None:
        end = rest.find(">")
        name = rest[begin:end] if end >= 0 else ""
        if end < 0 or not name or not all(c == "_" or (c.isascii() and c.isalnum()) for c in name):
            raise _Invalid(f"invalid named capture {rest[: max(end + 1, 20)]!r}")
        if name in self.names:
            raise _Invalid(f"duplicate capture group name {name!r}")
        self.names.add(name)
        self.pos += end

    def _flag_group(self) -> bool:
        self.pos += 1  # '?'
        flags = dict(vars(self.flags))
        names = {"i": "fold", "m": "multiline", "s": "dot_nl", "U": "ungreedy"}
        value, saw_flag, negated = True, False, False
        start = self.pos - 2
        while True:
            char = self._peek()
            self.pos += 1
            if char in names:
                flags[names[char]] = value
                saw_flag = True
            elif char == "-" and not negated:
                value, saw_flag, negated = False, False, True
            elif char in (":", ")") and not (negated and not saw_flag):
                self.flags = _Flags(**flags)
                return char == ":"
            else:
                raise _Invalid(f"invalid or unsupported Perl syntax {self.text[start : self.pos]!r}")

    # escapes

    def _escape_atom(self) -> _Node | None:
        nxt = self._peek(1)
        simple = {"A": _BEGIN_TEXT, "z": _END_TEXT, "b": _WORD_BOUNDARY, "B": _NO_WORD_BOUNDARY}
        if nxt in simple:
            self.pos += 2
            return simple[nxt]
        if nxt == "C":
            raise _Invalid(r"\C (any byte) is not supported")
        if nxt == "Q":
            return self._quoted()
        item = self._class_escape()
        if item is not None:
            return item
        return _Char(self._escape_rune(), self.flags.fold)

    def _quoted(self) -> _Node:
        self.pos += 2
        end = self.text.find(r"\E", self.pos)
        end = len(self.text) if end < 0 else end
        chars = tuple(_Char(ord(c), self.flags.fold) for c in self.text[self.pos : end])
        self.pos = min(end + 2, len(self.text))
        return _Concat(chars) if len(chars) != 1 else chars[0]

    def _class_escape(self) -> _Class | None:
        """``\\d \\D \\s \\S \\w \\W \\pX \\p{..} \\PX \\P{..}`` as a class, or None."""
        nxt = self._peek(1)
        if nxt.lower() in _PERL:
            self.pos += 2
            ranges = self._maybe_fold(_PERL[nxt.lower()])
            return _Class(_negate(ranges) if nxt.isupper() else ranges)
        if nxt in ("p", "P"):
            return self._unicode_class()
        return None

    def _unicode_class(self) -> _Class:
        start = self.pos
        negated = self._peek(1) == "P"
        self.pos += 2
        if self._peek() == "{":
            end = self.text.find("}", self.pos)
            if end < 0:
                raise _Invalid(f"invalid character class range {self.text[start : start + 20]!r}")
            name, self.pos = self.text[self.pos + 1 : end], end + 1
        else:
            name = self._peek()
            self.pos += 1
        if name.startswith("^"):
            negated, name = not negated, name[1:]
        return self._named_unicode(name, negated, self.text[start : self.pos])

    def _named_unicode(self, name: str, negated: bool, construct: str) -> _Class:
        if name == "Any":
            return _Class(() if negated else ((0, MAX_RUNE),))
        if name not in _CATEGORIES and name not in _SCRIPTS:
            raise _Invalid(f"invalid character class range {construct!r}")
        if self.flags.fold and name in _FOLD_SENSITIVE:
            raise _Invalid(f"{construct} under case-insensitive matching (?i) is not supported")
        java = name if name in _CATEGORIES else "Is" + name
        return _Class((), (("\\P{" if negated else "\\p{") + java + "}",))

    def _escape_rune(self) -> int:
        """A rune written as an escape (Go's parseEscape)."""
        start = self.pos
        self.pos += 1
        char = self._peek()
        if char == "":
            raise _Invalid("trailing backslash at end of expression")
        self.pos += 1
        if char in "01234567":
            return self._octal(char, start)
        if char == "x":
            return self._hex(start)
        if char in _ESCAPES:
            return _ESCAPES[char]
        if char.isascii() and not char.isalnum():
            return ord(char)
        construct = self.text[start : self.pos]
        if char in "89":
            raise _Invalid(f"backreferences such as {construct} are not supported by RE2")
        hint = " (RE2 has no \\Z; use \\z or $)" if char == "Z" else ""
        raise _Invalid(f"invalid escape sequence {construct!r}{hint}")

    def _octal(self, first: str, start: int) -> int:
        if first != "0" and self._peek() not in tuple("01234567"):
            raise _Invalid(f"backreferences such as {self.text[start : self.pos]} are not supported by RE2")
        value = int(first)
        for _ in range(2):
            if self._peek() not in tuple("01234567"):
                break
            value = value * 8 + int(self._peek())
            self.pos += 1
        return value

    def _hex(self, start: int) -> int:
        if self._peek() == "{":
            end = self.text.find("}", self.pos)
            digits = self.text[self.pos + 1 : end] if end >= 0 else ""
            self.pos = end + 1 if end >= 0 else self.pos
        else:
            digits = self.text[self.pos : self.pos + 2]
            self.pos += 2
            if len(digits) != 2:
                digits = ""
        try:
            if not digits or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise ValueError
            value = int(digits, 16)
        except ValueError:
            value = -1
        if not 0 <= value <= MAX_RUNE:
            raise _Invalid(f"invalid escape sequence {self.text[start : self.pos]!r}")
        return value

    # bracketed classes

    def _class(self) -> _Class:
        self.pos += 1
        negated = self._peek() == "^"
        if negated:
            self.pos += 1
        ranges: list[tuple[int, int]] = []
        props: list[str] = []
        first = True
        while first or self._peek() != "]":
            if self._peek() == "":
                raise _Invalid("missing closing ]")
            first = False
            self._class_item(ranges, props)
        self.pos += 1
        folded = self._maybe_fold(_normalise(ranges))
        if props:
            return _Class(folded, tuple(props), negated)
        return _Class(_negate(folded) if negated else folded)

    def _class_item(self, ranges: list[tuple[int, int]], props: list[str]) -> None:
        if self._rest().startswith("[:"):
            posix = self._posix_class()
            if posix is not None:
                ranges.extend(posix)
                return
        if self._peek() == "\\":
            item = self._class_escape()
            if item is not None:
                ranges.extend(item.ranges)
                props.extend(item.props)
                return
        lo = self._class_rune()
        hi = lo
        if self._peek() == "-" and self._peek(1) not in ("]", ""):
            self.pos += 1
            hi = self._class_rune()
            if hi < lo:
                raise _Invalid(f"invalid character class range {chr(lo) + '-' + chr(hi)!r}")
        ranges.extend(self._maybe_fold(((lo, hi),)))

    def _class_rune(self) -> int:
        if self._peek() == "\\":
            return self._escape_rune()
        char = self._peek()
        self.pos += 1
        return ord(char)

    def _posix_class(self) -> Ranges | None:
        end = self.text.find(":]", self.pos + 2)
        if end < 0:
            return None
        name = self.text[self.pos + 2 : end]
        negated = name.startswith("^")
        ranges = _POSIX.get(name.lstrip("^") if negated else name)
        if ranges is None:
            raise _Invalid(f"invalid character class range {self.text[self.pos : end + 2]!r}")
        self.pos = end + 2
        ranges = self._maybe_fold(ranges)
        return _negate(ranges) if negated else ranges

    def _maybe_fold(self, ranges: Ranges) -> Ranges:
        return _fold(ranges) if self.flags.fold else ranges


def _parse_counted(text: str) -> tuple[int, int, int] | None:
    """``{n}``, ``{n,}``, ``{n,m}`` at the start of ``text`` as (min, max, length); None if not one."""
    close = text.find("}")
    if close < 0:
        return None
    body = text[1:close]
    low_text, comma, high_text = body.partition(",")
    if not _is_count(low_text) or (comma and high_text and not _is_count(high_text)):
        return None
    low = _count(low_text)
    high = low if not comma else (-1 if not high_text else _count(high_text))
    if comma and high_text and high < 0:
        low = -1  # a too-large max makes the whole repeat invalid, as in Go
    return low, high, close + 1


def _is_count(text: str) -> bool:
    return text.isascii() and text.isdigit() and not (len(text) > 1 and text[0] == "0")


def _count(text: str) -> int:
    return -1 if len(text) > 8 else int(text)


def _check_repeat_size(node: _Repeat, construct: str) -> None:
    """Go refuses nested counted repeats whose product exceeds 1000 (``(a{100}){100}``)."""
    if (node.min >= 2 or node.max >= 2) and not _repeat_valid(node, _MAX_REPEAT):
        raise _Invalid(f"invalid repeat count {construct!r}: nested repeats exceed {_MAX_REPEAT}")


def _repeat_valid(node: _Node, budget: int) -> bool:
    if isinstance(node, _Repeat) and not (node.min in (0, 1) and node.max in (-1, 1) and node.max != 0):
        count = node.max if node.max >= 0 else node.min
        if count == 0:
            return True
        if count > budget:
            return False
        budget //= count
    return all(_repeat_valid(child, budget) for child in _children(node))


def _children(node: _Node) -> Sequence[_Node]:
    if isinstance(node, _Concat):
        return node.items
    if isinstance(node, _Alt):
        return node.branches
    if isinstance(node, _Group):
        return (node.inner,)
    if isinstance(node, _Repeat):
        return (node.sub,)
    return ()


# --- anchors Java reads differently --------------------------------------------------------------

_NON_ASCII: Ranges = ((0x80, MAX_RUNE),)
# Java's line terminators besides \n (without UNIX_LINES): \r, U+0085, U+2028, U+2029.
_JAVA_ONLY_NEWLINES: Ranges = ((0x0D, 0x0D), (0x85, 0x85), (0x2028, 0x2029))
_NEWLINES: Ranges = _normalise([(0x0A, 0x0A), *_JAVA_ONLY_NEWLINES])


def _check_context_anchors(tree: _Node) -> None:
    """Refuse anchors whose Java reading differs from RE2's on some text the regex can match.

    The pattern is anchored at both ends, so every character of a matching text is consumed by one
    of its atoms: when no atom can consume a character on which the engines disagree, they agree.

    - ``\\b``/``\\B``: RE2's word characters are ``[0-9A-Za-z_]``; Java 17's are every letter or
      digit (``é``, Greek letters, the Kelvin sign of ``(?i)k``) and combining marks. Exact when no atom
      matches a non-ASCII rune (ASCII word characters are the same in both); RE2 has no
      lookarounds to spell an ASCII boundary for Java in a pattern both engines run.
    - ``(?m)$`` and ``(?m)^``: Java also ends lines at \\r, U+0085, U+2028 and U+2029, and its
      ``(?m)^`` never matches at the end of the text (RE2's does, after a final \\n).
    """
    anchors = _anchors(tree)
    if anchors & {_WORD_BOUNDARY, _NO_WORD_BOUNDARY} and _may_consume(tree, _NON_ASCII):
        name = r"\b" if _WORD_BOUNDARY in anchors else r"\B"
        raise _Invalid(
            f"{name} (word boundary) in a regex that can match non-ASCII characters is not supported: "
            "RE2's word characters are ASCII-only, Timestream's Java regexes count all letters and digits"
        )
    if _BEGIN_LINE in anchors and _may_consume(tree, _NEWLINES):
        raise _Invalid(
            "(?m)^ in a regex that can match line breaks is not supported: Java and RE2 disagree on "
            "line starts (\\r, U+0085, U+2028, U+2029, and after a final \\n)"
        )
    if _END_LINE in anchors and _may_consume(tree, _JAVA_ONLY_NEWLINES):
        raise _Invalid(
            "(?m)$ in a regex that can match \\r, U+0085, U+2028 or U+2029 is not supported: "
            "Java ends lines there, RE2 only at \\n"
        )


def _anchors(node: _Node) -> set[_Anchor]:
    if isinstance(node, _Anchor):
        return {node}
    return {anchor for child in _children(node) for anchor in _anchors(child)}


def _may_consume(node: _Node, ranges: Ranges) -> bool:
    """Whether some atom of ``node`` may match a rune in ``ranges`` (``\\p{..}`` classes: assumed so)."""
    if isinstance(node, _Char):
        runes = _orbits().get(node.rune, (node.rune,)) if node.fold else (node.rune,)
        return any(_intersects(((r, r),), ranges) for r in runes)
    if isinstance(node, _Class):
        return bool(node.props) or _intersects(node.ranges, ranges)
    return any(_may_consume(child, ranges) for child in _children(node))


def _intersects(a: Ranges, b: Ranges) -> bool:
    return any(lo <= b_hi and b_lo <= hi for lo, hi in a for b_lo, b_hi in b)


# --- properties and emission --------------------------------------------------------------------


def _nullable(node: _Node) -> bool:
    """Whether ``node`` matches the empty string (as the whole input)."""
    if isinstance(node, _Char | _Class):
        return False
    if isinstance(node, _Anchor):
        return node.on_empty
    if isinstance(node, _Concat):
        return all(_nullable(item) for item in node.items)
    if isinstance(node, _Alt):
        return any(_nullable(branch) for branch in node.branches)
    if isinstance(node, _Group):
        return _nullable(node.inner)
    return node.min == 0 or _nullable(node.sub)


def _body(tree: _Node) -> _Node | None:
    """``re`` of a tree parsed from ``^(?:re)$``, unless ``re`` reached out of its group."""
    if not (isinstance(tree, _Concat) and len(tree.items) == 3):
        return None
    begin, group, end = tree.items
    if begin is not _BEGIN_TEXT or end is not _END_TEXT or not isinstance(group, _Group):
        return None
    return group.inner


def _literals(tree: _Node) -> frozenset[str] | None:
    """For ``^(?:a|bc)$`` the set {a, bc}: lets SQL use ``IN`` instead of a regex."""
    body = _body(tree)
    found = _strings(body) if body is not None else None
    return frozenset(found) if found is not None and len(found) <= _MAX_LITERALS else None


def _any_repeat(tree: _Node) -> int | None:
    """0 for ``.*`` and 1 for ``.+`` when ``.`` matches every rune; None otherwise."""
    body = _body(tree)
    while isinstance(body, _Group):
        body = body.inner
    if isinstance(body, _Repeat) and body.max == -1 and body.min in (0, 1) and body.sub == _Class(((0, MAX_RUNE),)):
        return body.min
    return None


def _strings(node: _Node) -> list[str] | None:
    if isinstance(node, _Char):
        return [chr(node.rune)] if not node.fold or len(_orbits().get(node.rune, ())) <= 1 else None
    if isinstance(node, _Group):
        return _strings(node.inner)
    if isinstance(node, _Alt):
        found: list[str] = []
        for branch in node.branches:
            part = _strings(branch)
            if part is None or len(found) + len(part) > _MAX_LITERALS:
                return None
            found.extend(part)
        return found
    if isinstance(node, _Concat):
        result = [""]
        for item in node.items:
            part = _strings(item)
            if part is None or len(result) * len(part) > _MAX_LITERALS:
                return None
            result = [a + b for a in result for b in part]
        return result
    return None


def _emit(node: _Node) -> str:
    if isinstance(node, _Char):
        orbit = _orbits().get(node.rune, ()) if node.fold else ()
        return _emit_class(_Class(_chars("".join(map(chr, orbit))))) if len(orbit) > 1 else _escape(node.rune)
    if isinstance(node, _Class):
        return _emit_class(node)
    if isinstance(node, _Anchor):
        return node.java
    if isinstance(node, _Concat):
        return "".join(_emit(item) for item in node.items)
    if isinstance(node, _Alt):
        return "|".join(_emit(branch) for branch in node.branches)
    if isinstance(node, _Group):
        return "(?:" + _emit(node.inner) + ")"
    return _emit_repeat(node)


def _emit_repeat(node: _Repeat) -> str:
    sub = _emit(node.sub)
    if not isinstance(node.sub, _Char | _Class | _Group):
        sub = "(?:" + sub + ")"
    if (node.min, node.max) == (0, -1):
        quantifier = "*"
    elif (node.min, node.max) == (1, -1):
        quantifier = "+"
    elif (node.min, node.max) == (0, 1):
        quantifier = "?"
    elif node.min == node.max:
        quantifier = f"{{{node.min}}}"
    else:
        quantifier = f"{{{node.min},{'' if node.max < 0 else node.max}}}"
    return sub + quantifier + ("" if node.greedy else "?")


def _emit_class(node: _Class) -> str:
    ranges, negated = node.ranges, node.negated
    if not node.props:
        complement = _negate(ranges)
        if 0 < len(complement) < len(ranges):
            ranges, negated = complement, True
    body = "".join(_escape(lo) if lo == hi else f"{_escape(lo)}-{_escape(hi)}" for lo, hi in ranges)
    body += "".join(node.props)
    if not body:  # the empty class: matches nothing, in Java and RE2 alike
        return "[^" + _escape(0) + "-" + _escape(MAX_RUNE) + "]"
    return ("[^" if negated else "[") + body + "]"


def _escape(rune: int) -> str:
    """Letters and digits as themselves, anything else as ``\\x{..}`` (read alike by Java and RE2)."""
    if rune < 0x80 and chr(rune).isalnum():
        return chr(rune)
    return f"\\x{{{rune:x}}}"
