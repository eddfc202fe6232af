"""Timestream SQL for remote-read queries, built from typed expressions.

Nothing from a request is ever formatted into SQL text directly: label values and regexes become
``Text`` literals (quotes doubled), label names become ``Ident`` identifiers (double quotes doubled),
numbers are ``Int``. The statement's shape (its clauses, functions and operators) comes only from
this module, so no request can change it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from connector.errors import BadRequest
from connector.prom.matchers import Matcher, MatchType
from connector.timestream import schema

# Timestream's query string limit, in characters.
MAX_QUERY_CHARS = 262_144
# Timestamps Timestream accepts (1677-09-21 .. 2262-04-11): nanoseconds in a signed 64-bit integer.
MIN_TIME_MS = -9_223_372_036_854
MAX_TIME_MS = 9_223_372_036_854

MEASURE_NAME = "measure_name"
TIME = "time"
DOUBLE_VALUE = "measure_value::double"


class UnsafeValue(BadRequest):
    """A value SQL cannot carry safely (NUL): refused rather than altered."""


# --- expressions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ident:
    name: str

    def sql(self) -> str:
        _check(self.name, "name")
        return '"' + self.name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Text:
    value: str

    def sql(self) -> str:
        _check(self.value, "value")
        return "'" + self.value.replace("'", "''") + "'"


@dataclass(frozen=True)
class Int:
    value: int

    def sql(self) -> str:
        return str(int(self.value))


@dataclass(frozen=True)
class Star:
    def sql(self) -> str:
        return "*"


@dataclass(frozen=True)
class Bool:
    value: bool

    def sql(self) -> str:
        return "TRUE" if self.value else "FALSE"


TRUE, FALSE = Bool(True), Bool(False)

Function = Literal["coalesce", "from_milliseconds", "to_milliseconds", "regexp_like"]


@dataclass(frozen=True)
class Call:
    function: Function
    args: tuple[Expr, ...]

    def sql(self) -> str:
        return f"{self.function}({', '.join(arg.sql() for arg in self.args)})"


@dataclass(frozen=True)
class Compare:
    left: Expr
    op: Literal["=", "<>"]
    right: Expr

    def sql(self) -> str:
        return f"{self.left.sql()} {self.op} {self.right.sql()}"


@dataclass(frozen=True)
class InList:
    expr: Expr
    values: tuple[Expr, ...]
    negated: bool = False

    def sql(self) -> str:
        items = ", ".join(value.sql() for value in self.values)
        return f"{self.expr.sql()} {'NOT IN' if self.negated else 'IN'} ({items})"


@dataclass(frozen=True)
class IsNull:
    expr: Expr
    negated: bool = False

    def sql(self) -> str:
        return f"{self.expr.sql()} IS {'NOT NULL' if self.negated else 'NULL'}"


@dataclass(frozen=True)
class Between:
    expr: Expr
    low: Expr
    high: Expr

    def sql(self) -> str:
        return f"{self.expr.sql()} BETWEEN {self.low.sql()} AND {self.high.sql()}"


@dataclass(frozen=True)
class Not:
    expr: Expr

    def sql(self) -> str:
        return f"NOT ({self.expr.sql()})"


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]

    def sql(self) -> str:
        return " AND ".join(f"({item.sql()})" for item in self.items) if self.items else "TRUE"


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]

    def sql(self) -> str:
        return " OR ".join(f"({item.sql()})" for item in self.items) if self.items else "FALSE"


Expr = Star | Ident | Text | Int | Bool | Call | Compare | InList | IsNull | Between | Not | And | Or


def conjunction(items: Iterable[Expr]) -> Expr:
    """AND of ``items`` with constants folded: FALSE if any is FALSE, TRUE items dropped."""
    kept: list[Expr] = []
    for item in items:
        if item == FALSE:
            return FALSE
        if item != TRUE:
            kept.append(item)
    return kept[0] if len(kept) == 1 else And(tuple(kept))


def disjunction(items: Iterable[Expr]) -> Expr:
    """OR of ``items`` with constants folded."""
    kept: list[Expr] = []
    for item in items:
        if item == TRUE:
            return TRUE
        if item != FALSE:
            kept.append(item)
    return kept[0] if len(kept) == 1 else Or(tuple(kept))


def texts(values: Iterable[str]) -> tuple[Text, ...]:
    return tuple(Text(value) for value in sorted(set(values)))


def _check(text: str, what: str) -> None:
    if "\x00" in text:
        raise UnsafeValue(f"a label {what} containing NUL (\\x00) cannot be queried")


@dataclass(frozen=True)
class Select:
    columns: tuple[Expr, ...]
    database: str
    table: str
    where: Expr

    def sql(self) -> str:
        table = f"{Ident(self.database).sql()}.{Ident(self.table).sql()}"
        columns = ", ".join(column.sql() for column in self.columns)
        return f"SELECT {columns} FROM {table} WHERE {self.where.sql()}"


def describe(database: str, table: str) -> str:
    return f"DESCRIBE {Ident(database).sql()}.{Ident(table).sql()}"


# --- remote-read queries ------------------------------------------------------------------------


@dataclass(frozen=True)
class TableColumns:
    """What a table holds, from ``DESCRIBE``: decides which matchers need SQL at all."""

    dimensions: frozenset[str]  # every dimension column, reserved ones included
    has_double: bool  # a ``measure_value::double`` column exists
    names: frozenset[str] = frozenset()  # every column, to notice a stale list in a result

    @property
    def has_name(self) -> bool:
        return schema.NAME_DIMENSION in self.dimensions

    def lacks_column_for(self, matchers: Sequence[Matcher]) -> bool:
        """Whether a missing column alone rules out a match (a fresher list might not)."""
        if not self.has_double:
            return True
        return any(
            m.name != "__name__" and not m.matches_empty and schema.dimension_name(m.name) not in self.dimensions
            for m in matchers
        )


def read_query(
    database: str, table: str, columns: TableColumns, matchers: Sequence[Matcher], start_ms: int, end_ms: int
) -> str | None:
    """The SELECT answering one remote-read query, or None when no series can match.

    It selects ``*`` (and the time in milliseconds last) rather than the known columns: the
    result's column list then shows any label column first written after ``columns`` was read.
    Rows are only those with a double, so other ``measure_value::*`` columns come back NULL.
    """
    start, end = max(start_ms, MIN_TIME_MS), min(end_ms, MAX_TIME_MS)
    if start > end or not columns.has_double:
        return None
    time_range = Between(Ident(TIME), _from_ms(start), _from_ms(end))
    where = conjunction(
        [time_range, IsNull(Ident(DOUBLE_VALUE), negated=True), *(condition(m, columns) for m in matchers)]
    )
    if where == FALSE:
        return None
    selected = (Star(), Call("to_milliseconds", (Ident(TIME),)))
    text = Select(selected, database, table, where).sql()
    if len(text) > MAX_QUERY_CHARS:
        raise BadRequest(f"the matchers make a query of {len(text)} characters, above Timestream's {MAX_QUERY_CHARS}")
    return text


def _from_ms(value: int) -> Call:
    return Call("from_milliseconds", (Int(value),))


def name_expr(columns: TableColumns) -> Expr:
    """The true metric name: ``__name__`` when a stand-in ``measure_name`` needed it, else the measure."""
    if columns.has_name:
        return Call("coalesce", (Ident(schema.NAME_DIMENSION), Ident(MEASURE_NAME)))
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
        selected = Call("regexp_like", (column, Text(regex.pattern)))
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
    selected = Call("regexp_like", (name_expr(columns), Text(regex.pattern)))
    return selected if positive else Not(selected)


def _name_in(names: frozenset[str], columns: TableColumns) -> Expr:
    if not names:
        return FALSE
    if not columns.has_name:  # no stand-ins were ever written: measure_name is the name
        return _in_list(Ident(MEASURE_NAME), names)
    stored = {stored for name in names for stored in schema.stored_measure_names(name)}
    return conjunction([_in_list(Ident(MEASURE_NAME), stored), _in_list(name_expr(columns), names)])
