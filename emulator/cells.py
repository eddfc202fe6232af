"""Timestream ``Datum`` JSON rendered by DuckDB, one SQL expression chosen per column type.

Shaping a million rows into Python dicts cell by cell takes tens of seconds; DuckDB renders the
same JSON text in well under one. So a query's rows are fetched through a wrapping SELECT that
turns each common scalar column into its ``{"ScalarValue": "..."}`` / ``{"NullValue": true}``
text. What DuckDB prints is what Timestream prints: DuckDB casts a DOUBLE to the shortest
round-trip text, character for character Python's ``repr`` (the tests check hard cases and
random bit patterns), so only NaN and infinities need Java's spelling; timestamps get 9
fraction digits, in UTC (the store's time zone). Other types (arrays, rows, dates, times,
intervals, decimals, ...) are fetched as values and formatted in Python by ``results``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from duckdb.sqltypes import DuckDBPyType

from emulator.results import TIMESTAMP_IDS

NULL_DATUM = '{"NullValue":true}'
_INTEGER_IDS = frozenset(
    {"tinyint", "smallint", "integer", "bigint", "hugeint", "utinyint", "usmallint", "uinteger", "ubigint", "uhugeint"}
)
_FLOAT_IDS = frozenset({"float", "double"})
_SOURCE = "__timestream_query"
_ROW = "__timestream_row"


@dataclass(frozen=True)
class RowQuery:
    """The SELECT that fetches a query's rows, and which cells Python still has to format.

    Without ``python_cells`` each fetched row is ``(row JSON text, its size in bytes)``;
    otherwise a row holds one value per column: Datum JSON text, or at the listed positions
    the raw value.
    """

    sql: str
    python_cells: tuple[int, ...]


def row_query(sql: str, types: Sequence[DuckDBPyType]) -> RowQuery:
    """Wrap ``sql`` so that DuckDB renders every cell it can (columns by position: names may repeat)."""
    cells: list[str] = []
    python_cells: list[int] = []
    for position, duck_type in enumerate(types, start=1):
        rendered = datum_sql(f"#{position}", duck_type)
        if rendered is None:
            python_cells.append(position - 1)
            rendered = _value_sql(f"#{position}", duck_type)
        cells.append(rendered)
    source = f"({sql}) AS {_SOURCE}"
    if python_cells:
        return RowQuery(f"SELECT {', '.join(cells)} FROM {source}", tuple(python_cells))
    row = "concat('{\"Data\":[', " + ", ',', ".join(cells) + ", ']}')"
    return RowQuery(f"SELECT {_ROW}, strlen({_ROW}) FROM (SELECT {row} AS {_ROW} FROM {source})", ())


def datum_sql(ref: str, duck_type: DuckDBPyType) -> str | None:
    """SQL rendering column ``ref`` as Datum JSON, or None for a type Python formats."""
    scalar = scalar_json_sql(ref, duck_type)
    if scalar is None:
        return None
    return f"CASE WHEN {ref} IS NULL THEN '{NULL_DATUM}' ELSE concat('{{\"ScalarValue\":', {scalar}, '}}') END"


def scalar_json_sql(ref: str, duck_type: DuckDBPyType) -> str | None:
    """SQL for the JSON string (quotes included) of a non-NULL value's Timestream text."""
    type_id = duck_type.id
    if type_id == "varchar":
        return f"to_json({ref})"  # escapes quotes, backslashes and control characters
    if type_id == "boolean":
        return f"CASE WHEN {ref} THEN '\"true\"' ELSE '\"false\"' END"
    if type_id in _INTEGER_IDS:
        return _quoted(f"CAST({ref} AS VARCHAR)")
    if type_id in _FLOAT_IDS:
        return _quoted(_double_text(f"CAST({ref} AS DOUBLE)"))  # a FLOAT prints as the double it widens to
    if type_id in TIMESTAMP_IDS:
        return _quoted(f"strftime({ref}, '%Y-%m-%d %H:%M:%S.%n')")
    return None


def _value_sql(ref: str, duck_type: DuckDBPyType) -> str:
    """How to select a column Python formats so that its value converts losslessly."""
    return f"CAST({ref} AS TIME)" if duck_type.id == "time with time zone" else ref


def _double_text(value: str) -> str:
    """Shortest round-trip text; NaN and infinities as Timestream (Java) spells them."""
    return (
        f"CASE WHEN isnan({value}) THEN 'NaN' WHEN {value} = 'Infinity'::DOUBLE THEN 'Infinity' "
        f"WHEN {value} = '-Infinity'::DOUBLE THEN '-Infinity' ELSE CAST({value} AS VARCHAR) END"
    )


def _quoted(text_sql: str) -> str:
    """A JSON string of text that never needs escaping (digits, signs, dates, letters)."""
    return f"concat('\"', {text_sql}, '\"')"
