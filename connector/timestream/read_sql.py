"""The SQL answering a remote-read query: exact Prometheus matcher semantics as WHERE conditions.

Every statement names its columns (never ``*``): the labels, the metric name, and for samples the
value and the time in milliseconds, in the order ``Layout`` describes. A series look-up selects
the label columns only, ``DISTINCT``, so it costs one row per series instead of one per sample.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from connector.errors import BadRequest
from connector.prom.matchers import Matcher, MatchType
from connector.timestream import schema, series_key
from connector.timestream.columns import DOUBLE_VALUE, MEASURE_NAME, TIME, TableColumns
from connector.timestream.sql import (
    FALSE,
    TRUE,
    Between,
    Bool,
    Compare,
    Expr,
    FunctionCall,
    Ident,
    InList,
    Int,
    IsNull,
    Not,
    Select,
    Text,
    conjunction,
    disjunction,
    texts,
)

# Timestream's query string limit, in characters.
MAX_QUERY_CHARS = 262_144
# Timestamps Timestream accepts (1677-09-21 .. 2262-04-11): nanoseconds in a signed 64-bit integer.
MIN_TIME_MS = -9_223_372_036_854
MAX_TIME_MS = 9_223_372_036_854


@dataclass(frozen=True)
class TimeRange:
    """Milliseconds from ``start`` to ``end``; ``end`` itself is excluded when ``open_end``.

    A query's own range is closed at both ends, as Prometheus asks; slices of it are half-open
    except the last, so that a row on a boundary (even one stored with sub-millisecond time)
    belongs to exactly one slice.
    """

    start: int
    end: int
    open_end: bool = False

    def condition(self) -> Expr:
        low, high = _from_ms(self.start), _from_ms(self.end)
        if self.open_end:
            return conjunction([Compare(Ident(TIME), ">=", low), Compare(Ident(TIME), "<", high)])
        return Between(Ident(TIME), low, high)


@dataclass(frozen=True)
class Layout:
    """The columns a statement selects, in order: the series key (``series_key``), then for samples
    [special value], the value and the time in milliseconds."""

    labels: tuple[str, ...]  # the label columns the key holds, after measure_name and [__name__]
    has_name: bool
    has_special: bool
    samples: bool

    @property
    def key_columns(self) -> tuple[str, ...]:
        return (MEASURE_NAME, *([schema.NAME_DIMENSION] if self.has_name else []), *self.labels)

    @property
    def width(self) -> int:
        return 1 + (self.has_special + 2 if self.samples else 0)

    def columns(self) -> tuple[Expr, ...]:
        selected: list[Expr] = [series_key.key_expression(self.key_columns)]
        if self.samples:
            if self.has_special:
                selected.append(Ident(schema.SPECIAL_DIMENSION))
            selected += [Ident(DOUBLE_VALUE), FunctionCall("to_milliseconds", (Ident(TIME),))]
        return tuple(selected)


@dataclass(frozen=True)
class Statement:
    text: str
    layout: Layout


def clamp(start_ms: int, end_ms: int) -> TimeRange | None:
    """The part of a requested range Timestream can hold, or None if nothing is left."""
    start, end = max(start_ms, MIN_TIME_MS), min(end_ms, MAX_TIME_MS)
    return TimeRange(start, end) if start <= end else None


def selection(columns: TableColumns, matchers: Sequence[Matcher]) -> Expr:
    """The WHERE conditions of a query but its time range; FALSE when no series can match."""
    if not columns.has_double:
        return FALSE
    return conjunction([IsNull(Ident(DOUBLE_VALUE), negated=True), *(condition(m, columns) for m in matchers)])


def statement(
    database: str, table: str, columns: TableColumns, where: Expr, time_range: TimeRange, samples: bool
) -> Statement:
    """The SELECT of rows (``samples``) or of distinct series matching ``where`` in ``time_range``."""
    layout = Layout(columns.label_columns, columns.has_name, columns.has_special, samples)
    condition_ = conjunction([time_range.condition(), where])
    text = Select(layout.columns(), database, table, condition_, distinct=not samples).sql()
    if len(text) > MAX_QUERY_CHARS:
        raise BadRequest(f"the matchers make a query of {len(text)} characters, above Timestream's {MAX_QUERY_CHARS}")
    return Statement(text, layout)


def _from_ms(value: int) -> FunctionCall:
    return FunctionCall("from_milliseconds", (Int(value),))


def name_expr(columns: TableColumns) -> Expr:
    """The true metric name: ``__name__`` when a stand-in ``measure_name`` needed it, else the measure."""
    if columns.has_name:
        return FunctionCall("coalesce", (Ident(schema.NAME_DIMENSION), Ident(MEASURE_NAME)))
    return Ident(MEASURE_NAME)


def condition(matcher: Matcher, columns: TableColumns) -> Expr:
    """The WHERE condition selecting exactly the series ``matcher`` selects in Prometheus."""
    if matcher.name == "__name__":
        return _name_condition(matcher, columns)
    column = schema.dimension_name(matcher.name)
    if column not in columns.dimensions:  # never written: every series has the empty value
        return TRUE if matcher.matches_empty else FALSE
    return _label_condition(matcher, Ident(column))


def _label_condition(matcher: Matcher, column: Ident) -> Expr:
    kind, value, regex = matcher.type, matcher.value, matcher.regex
    if kind is MatchType.EQ:
        return IsNull(column) if value == "" else Compare(column, "=", Text(value))
    if kind is MatchType.NEQ:
        if value == "":
            return IsNull(column, negated=True)
        return disjunction([IsNull(column), Compare(column, "<>", Text(value))])
    assert regex is not None
    if regex.matches_all:
        selected: Expr = TRUE
    elif regex.matches_nonempty:
        selected = IsNull(column, negated=True)
    elif regex.literals is not None:
        selected = _in_list(column, regex.literals - {""})
    else:
        selected = FunctionCall("regexp_like", (column, Text(regex.pattern)))
    empty = regex.matches_empty
    if kind is MatchType.RE:  # NULL (absent) fails every comparison, so add it when "" matches
        return disjunction([IsNull(column), selected]) if empty else selected
    return conjunction([IsNull(column, negated=True), _negate(selected)]) if empty else _or_null(column, selected)


def _or_null(column: Ident, selected: Expr) -> Expr:
    return disjunction([IsNull(column), _negate(selected)])


def _negate(expr: Expr) -> Expr:
    if isinstance(expr, Bool):
        return Bool(not expr.value)
    if isinstance(expr, InList):
        return InList(expr.expr, expr.values, not expr.negated)
    if isinstance(expr, IsNull):
        return IsNull(expr.expr, not expr.negated)
    if isinstance(expr, Compare):
        return Compare(expr.left, "<>" if expr.op == "=" else "=", expr.right)
    return Not(expr)


def _in_list(column: Expr, values: Iterable[str]) -> Expr:
    items = texts(values)
    if not items:
        return FALSE
    return Compare(column, "=", items[0]) if len(items) == 1 else InList(column, items)


def _name_condition(matcher: Matcher, columns: TableColumns) -> Expr:
    """``__name__`` is never empty; equality also narrows ``measure_name`` so Timestream can prune."""
    kind, value, regex = matcher.type, matcher.value, matcher.regex
    names: frozenset[str] | None = None
    if kind in (MatchType.EQ, MatchType.NEQ):
        names = frozenset({value})
    elif regex is not None:
        if regex.matches_all or regex.matches_nonempty:
            return TRUE if kind is MatchType.RE else FALSE
        names = regex.literals
    positive = kind in (MatchType.EQ, MatchType.RE)
    if names is not None:
        names = frozenset(n for n in names if n)
        return _name_in(names, columns) if positive else _negate(_in_list(name_expr(columns), names))
    assert regex is not None
    selected = FunctionCall("regexp_like", (name_expr(columns), Text(regex.pattern)))
    return selected if positive else Not(selected)


def _name_in(names: frozenset[str], columns: TableColumns) -> Expr:
    if not names:
        return FALSE
    if not columns.has_name:  # no stand-ins were ever written: measure_name is the name
        return _in_list(Ident(MEASURE_NAME), names)
    stored = {stored for name in names for stored in schema.stored_measure_names(name)}
    return conjunction([_in_list(Ident(MEASURE_NAME), stored), _in_list(name_expr(columns), names)])
