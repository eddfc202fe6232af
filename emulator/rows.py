"""Sources of result rows as JSON text, a batch at a time.

A page asks its source for the next batch only when it has used up the last one, so a result
of any size holds one batch in Python, never the whole result. A DuckDB cursor streams too:
DuckDB computes rows a bounded buffer ahead of the fetches (blocking steps such as ORDER BY
aside), so the first page of any result is ready as soon as its rows are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import partial
from itertools import islice
from typing import Any, Protocol

import duckdb

from emulator.cells import RowQuery
from emulator.results import datum_json

Row = tuple[str, int]  # a row's ``{"Data": [...]}`` JSON text and its size in bytes
Formatter = Callable[[Any], str]


class RowSource(Protocol):
    """Where a result's rows come from."""

    def fetch(self, count: int) -> list[Row]:
        """Up to ``count`` next rows; an empty list once every row was fetched."""
        ...

    def interrupt(self) -> None:
        """Stop a fetch running in another thread (query timeout)."""
        ...

    def close(self) -> None:
        """Release the cursor and whatever it holds."""
        ...


class ValueSource(Protocol):
    """Rows of plain values: a DuckDB cursor, or ``ValueList``."""

    def fetchmany(self, size: int) -> list[Any]: ...

    def interrupt(self) -> None: ...

    def close(self) -> None: ...


class RenderedRows:
    """A cursor over ``RowQuery`` rows that DuckDB rendered whole, with their sizes."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection) -> None:
        self._cursor = cursor

    def fetch(self, count: int) -> list[Row]:
        return self._cursor.fetchmany(count)

    def interrupt(self) -> None:
        self._cursor.interrupt()

    def close(self) -> None:
        self._cursor.close()


class AssembledRows:
    """Rows whose cells are joined in Python, some of them formatted here (the slow, rare path)."""

    def __init__(self, values: ValueSource, formatters: Sequence[Formatter]) -> None:
        self._values = values
        self._formatters = formatters

    def fetch(self, count: int) -> list[Row]:
        return [self._row(values) for values in self._values.fetchmany(count)]

    def _row(self, values: Sequence[Any]) -> Row:
        cells = ",".join([format_cell(value) for format_cell, value in zip(self._formatters, values, strict=True)])
        text = f'{{"Data":[{cells}]}}'
        return text, len(text.encode("utf-8"))

    def interrupt(self) -> None:
        self._values.interrupt()

    def close(self) -> None:
        self._values.close()


class ValueList:
    """Rows computed in Python (DESCRIBE, SHOW), served like a cursor."""

    def __init__(self, rows: Iterable[Sequence[Any]]) -> None:
        self._rows = iter(rows)

    def fetchmany(self, size: int) -> list[Any]:
        return list(islice(self._rows, size))

    def interrupt(self) -> None:
        """Nothing runs outside the caller's thread."""

    def close(self) -> None:
        self._rows = iter(())


def from_cursor(cursor: duckdb.DuckDBPyConnection, plan: RowQuery, column_info: list[dict[str, Any]]) -> RowSource:
    """The source for a cursor that executed ``plan.sql``."""
    if not plan.python_cells:
        return RenderedRows(cursor)
    formatters: list[Formatter] = [str] * len(column_info)
    for position in plan.python_cells:
        formatters[position] = partial(datum_json, type_info=column_info[position]["Type"])
    return AssembledRows(cursor, formatters)


def from_values(rows: Iterable[Sequence[Any]], column_info: list[dict[str, Any]]) -> RowSource:
    """The source for rows of Python values, every cell formatted here."""
    return AssembledRows(ValueList(rows), [partial(datum_json, type_info=c["Type"]) for c in column_info])
