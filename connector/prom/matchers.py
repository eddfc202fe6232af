"""Prometheus label matchers: the four kinds, and which series each selects (see ``regex``)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from connector.errors import BadRequest
from connector.prom.regex import Regex, compile_regex


class MatchType(enum.IntEnum):
    """Values as in ``prometheus.LabelMatcher.Type``."""

    EQ = 0
    NEQ = 1
    RE = 2
    NRE = 3


_SYMBOLS = {MatchType.EQ: "=", MatchType.NEQ: "!=", MatchType.RE: "=~", MatchType.NRE: "!~"}


@dataclass(frozen=True)
class Matcher:
    type: MatchType
    name: str
    value: str
    regex: Regex | None = None

    @classmethod
    def create(cls, type_: int, name: str, value: str, dot_all: bool = True) -> Matcher:
        """A matcher with its regex compiled; ``dot_all`` is Prometheus 3 semantics (2.x: False)."""
        try:
            kind = MatchType(type_)
        except ValueError:
            raise BadRequest(f"unknown label matcher type {type_} for label {name[:100]!r}") from None
        regex = None
        if kind in (MatchType.RE, MatchType.NRE):
            regex = compile_regex(value, dot_all, label=name)
        return cls(kind, name, value, regex)

    @property
    def matches_empty(self) -> bool:
        """Whether a series without this label (value "") is selected."""
        if self.type is MatchType.EQ:
            return self.value == ""
        if self.type is MatchType.NEQ:
            return self.value != ""
        assert self.regex is not None
        return self.regex.matches_empty == (self.type is MatchType.RE)

    def __str__(self) -> str:
        return f"{self.name}{_SYMBOLS[self.type]}{self.value!r}"
