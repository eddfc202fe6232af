"""One text cell per row that names the row's series, built by Timestream and decoded once per series.

A wide table gives every row a cell for each of its dimension columns, mostly NULL for any one
metric; parsing them and hashing them as a key cost more than the rest of a read. Instead a query
selects one key: the measure name and every label column joined by ``|``, each part escaped so it
holds no ``|`` (``\\`` becomes ``\\\\``, ``|`` becomes ``\\p``) and NULL made empty (for a label,
NULL and "" both mean absent). Splitting on ``|`` and unescaping gives the parts back exactly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from connector.timestream.sql import Concat, Expr, FunctionCall, Ident, Text

SEPARATOR = "|"
_ESCAPE = "\\"
_ESCAPED_SEPARATOR = "\\p"
_ESCAPES = re.compile(r"\\(.)", re.DOTALL)
_UNESCAPED = {"\\": "\\", "p": "|"}


def key_expression(columns: Sequence[str]) -> Expr:
    """The SQL of the key of ``columns``, in order."""
    parts: list[Expr] = []
    for i, column in enumerate(columns):
        if i:
            parts.append(Text(SEPARATOR))
        parts.append(_escaped(Ident(column)))
    return Concat(tuple(parts))


def _escaped(column: Ident) -> Expr:
    present = FunctionCall("coalesce", (column, Text("")))
    doubled = FunctionCall("replace", (present, Text(_ESCAPE), Text(_ESCAPE * 2)))
    return FunctionCall("replace", (doubled, Text(SEPARATOR), Text(_ESCAPED_SEPARATOR)))


def encode(values: Sequence[str | None]) -> str:
    """The key ``key_expression`` makes of these column values, built here (canned pages, tests)."""
    escaped = ((v or "").replace(_ESCAPE, _ESCAPE * 2).replace(SEPARATOR, _ESCAPED_SEPARATOR) for v in values)
    return SEPARATOR.join(escaped)


def decode(key: str) -> list[str]:
    """The parts of a key, as the columns held them ("" for NULL)."""
    parts = key.split(SEPARATOR)
    if _ESCAPE not in key:
        return parts
    return [_ESCAPES.sub(_unescape, part) if _ESCAPE in part else part for part in parts]


def _unescape(match: re.Match[str]) -> str:
    escaped = _UNESCAPED.get(match.group(1))
    if escaped is None:
        raise ValueError(f"a series key holds an unknown escape \\{match.group(1)}")
    return escaped
