"""Prometheus' selector semantics in plain Python: the reference the connector's answers must equal.

Independent of the connector's code on purpose: regexes run on Python's ``re`` (tests use only
syntax that Python, RE2 and Java read alike), fully anchored with ``fullmatch``, and a missing
label has the value "".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

EQ, NEQ, RE, NRE = 0, 1, 2, 3

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Match:
    type: int
    name: str
    value: str


def value_of(labels: Mapping[str, str], name: str) -> str:
    return labels.get(name, "")


def matches(matcher: Match, labels: Mapping[str, str], dot_all: bool = True) -> bool:
    value = value_of(labels, matcher.name)
    if matcher.type == EQ:
        return value == matcher.value
    if matcher.type == NEQ:
        return value != matcher.value
    found = re.fullmatch(matcher.value, value, re.DOTALL if dot_all else 0) is not None
    return found if matcher.type == RE else not found


def select(
    series: Mapping[Labels, Sequence[tuple[int, float]]],
    matchers: Iterable[Match],
    start_ms: int,
    end_ms: int,
    dot_all: bool = True,
) -> dict[Labels, list[tuple[int, float]]]:
    """Series selected by every matcher, with their samples in [start, end]; none without samples."""
    matchers = list(matchers)
    result: dict[Labels, list[tuple[int, float]]] = {}
    for labels, samples in series.items():
        as_dict = dict(labels)
        if all(matches(m, as_dict, dot_all) for m in matchers):
            kept = sorted(((t, v) for t, v in samples if start_ms <= t <= end_ms), key=lambda s: s[0])
            if kept:
                result[labels] = kept
    return result
