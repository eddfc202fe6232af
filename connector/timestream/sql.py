"""Timestream SQL as a small typed syntax tree: the only place that writes SQL text.

Nothing from a request is ever formatted into SQL text directly: label values and regexes become
``Text`` literals (quotes doubled), label names become ``Ident`` identifiers (double quotes doubled),
numbers are ``Int``. The statement's shape (its clauses, functions and operators) comes only from
this module, so no request can change it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from connector.errors import BadRequest


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
class Bool:
    value: bool

    def sql(self) -> str:
        return "TRUE" if self.value else "FALSE"


TRUE, FALSE = Bool(True), Bool(False)

Function = Literal["coalesce", "from_milliseconds", "to_milliseconds", "regexp_like", "replace"]


@dataclass(frozen=True)
class FunctionCall:
    function: Function
    args: tuple[Expr, ...]

    def sql(self) -> str:
        return f"{self.function}({', '.join(arg.sql() for arg in self.args)})"


@dataclass(frozen=True)
class Concat:
    """Text joined with ``||`` (NULL if any part is NULL, as in SQL)."""

    parts: tuple[Expr, ...]

    def sql(self) -> str:
        return "(" + " || ".join(part.sql() for part in self.parts) + ")"


@dataclass(frozen=True)
class Compare:
    left: Expr
    op: Literal["=", "<>", "<", "<=", ">="]
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


Expr = Ident | Text | Int | Bool | FunctionCall | Concat | Compare | InList | IsNull | Between | Not | And | Or


def conjunction(items: Iterable[Expr]) -> Expr:
    """AND of ``items`` with constants folded (FALSE if any is FALSE, TRUE dropped) and nested ANDs flattened."""
    kept: list[Expr] = []
    for item in items:
        if item == FALSE:
            return FALSE
        if isinstance(item, And):
            kept.extend(item.items)
        elif item != TRUE:
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
    distinct: bool = False

    def sql(self) -> str:
        table = f"{Ident(self.database).sql()}.{Ident(self.table).sql()}"
        columns = ", ".join(column.sql() for column in self.columns)
        distinct = "DISTINCT " if self.distinct else ""
        return f"SELECT {distinct}{columns} FROM {table} WHERE {self.where.sql()}"


def describe(database: str, table: str) -> str:
    return f"DESCRIBE {Ident(database).sql()}.{Ident(table).sql()}"
