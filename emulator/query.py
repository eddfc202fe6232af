"""The Query operation: run Timestream SQL on DuckDB and serve its result page by page.

Queries run on their own DuckDB cursor inside a READ ONLY transaction (after ``dialect``
has refused anything but SELECT/WITH/DESCRIBE/SHOW), so no query can modify data, and every
page of a result reads the same snapshot. The cursor streams: each call fetches only the rows
of its page, rendered as JSON by DuckDB (``cells``), and the response is spliced together as
text. DuckDB errors become ``ValidationException`` with Timestream's wording where connectors
depend on it (``Column 'x' does not exist``); a call whose DuckDB work runs past the timeout is
interrupted. No lock is held while DuckDB works, so concurrent queries run side by side.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import duckdb

from emulator import dialect, introspection, rows
from emulator.cells import row_query
from emulator.errors import ApiError, validation
from emulator.pagination import PageCache
from emulator.payload import JsonText
from emulator.results import column_type
from emulator.store import Store
from emulator.stream import ResultStream
from emulator.watchdog import Watchdog

MIN_METERED_BYTES = 10 * 1024 * 1024
# AWS sends compact JSON: no space after separators.
_COMPACT = (",", ":")
# DuckDB computes a streaming result ahead into a buffer while pages are sent, 10 MiB by default.
# A few pages' worth keeps that overlap (1M rows page through as fast), makes the first page wait
# for less (tens of ms instead of ~50-100) and bounds the memory of each live result.
STREAM_BUFFER = "4MB"
_MISSING_COLUMN = re.compile(
    r'Referenced column "((?:[^"]|"")+)" not found|does not have a column named "((?:[^"]|"")+)"'
)
_MISSING_SCHEMA = re.compile(r'schema "((?:[^"]|"")+)" does not exist')
_MISSING_TABLE = re.compile(r"Table with name (.+?) does not exist")


class QueryEngine:
    """Executes queries and serves their pages."""

    def __init__(self, store: Store, timeout_seconds: float = 60.0) -> None:
        self._store = store
        self._watchdog = Watchdog(timeout_seconds)
        self._pages = PageCache()

    def query(self, body: dict[str, Any], principal: str) -> JsonText:
        """Answer one ``Query`` call (a first page, or the page a ``NextToken`` points at)."""
        query = body.get("QueryString")
        if not isinstance(query, str):
            raise validation("QueryString is required.")
        max_rows = _max_rows(body.get("MaxRows"))
        token = body.get("NextToken")
        if token is None:
            return JsonText(self._answer(self._open(query), max_rows, query, principal, None))
        serve = partial(self._answer, max_rows=max_rows, query=query, principal=principal, previous=str(token))
        return JsonText(self._pages.resume(str(token), query, principal, serve))

    def cancel(self, query_id: str) -> bool:
        """Release a query's result (``CancelQuery``); whether it was still being served."""
        return self._pages.cancel(query_id)

    def close(self) -> None:
        """Release every live result (their cursors must go before the database closes)."""
        self._pages.close()
        self._watchdog.close()

    def _open(self, query: str) -> ResultStream:
        """Start a query: its result, ready to be paged through."""
        statement = dialect.classify(query)
        query_id = uuid.uuid4().hex.upper()
        if statement.kind == "select":
            columns, source = self._select(statement.sql)
        else:
            columns, values = introspection.run(self._store, statement)
            source = rows.from_values(values, columns)
        return ResultStream(query_id, columns, source)

    def _answer(
        self, stream: ResultStream, max_rows: int | None, query: str, principal: str, previous: str | None
    ) -> str:
        """The next page's response text (``previous``: the token it answers); a failed result is released."""
        try:
            with self._guard(stream.interrupt):
                page = stream.next_page(max_rows)
        except BaseException:
            stream.close()
            raise
        token = None if stream.exhausted else self._pages.issue(stream, query, principal, previous)
        return _response(stream, page, token)

    def _select(self, sql: str) -> tuple[list[dict[str, Any]], rows.RowSource]:
        cursor = self._store.read_cursor()
        try:
            with self._guard(cursor.interrupt):
                cursor.execute(f"SET streaming_buffer_size = '{STREAM_BUFFER}'")
                cursor.execute("BEGIN TRANSACTION READ ONLY")
                _require_select(cursor, sql)
                relation = cursor.sql(sql)
                columns = [
                    {"Name": name, "Type": column_type(t)}
                    for name, t in zip(relation.columns, relation.types, strict=True)
                ]
                plan = row_query(sql, relation.types)
                cursor.execute(plan.sql)
        except BaseException:
            cursor.close()
            raise
        return columns, rows.from_cursor(cursor, plan, columns)

    @contextmanager
    def _guard(self, interrupt: Callable[[], None]) -> Iterator[None]:
        """DuckDB work with the query timeout, its errors as Timestream reports them."""
        try:
            with self._watchdog.guard(interrupt):
                yield
        except duckdb.InterruptException:
            seconds = self._watchdog.seconds
            raise ApiError("QueryExecutionException", f"Query timed out after {seconds:g} seconds.") from None
        except duckdb.Error as error:
            raise translate_error(error) from None


def _response(stream: ResultStream, page: list[str], token: str | None) -> str:
    """A ``Query`` response as JSON text, the page's rows spliced in as DuckDB rendered them."""
    head: dict[str, Any] = {
        "QueryId": stream.query_id,
        "ColumnInfo": stream.column_info,
        "QueryStatus": {
            "ProgressPercentage": 100.0,
            "CumulativeBytesScanned": stream.bytes_served,
            "CumulativeBytesMetered": max(MIN_METERED_BYTES, stream.bytes_served),
        },
    }
    if token is not None:
        head["NextToken"] = token
    return f'{json.dumps(head, separators=_COMPACT)[:-1]},"Rows":[{",".join(page)}]}}'


def _require_select(cursor: duckdb.DuckDBPyConnection, sql: str) -> None:
    statements = cursor.extract_statements(sql)
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise validation("Only SELECT queries are supported; queries cannot modify data.")


def _max_rows(value: object) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 1000:
        raise validation(f"MaxRows must be between 1 and 1000, got {value!r}.")
    return value


def translate_error(error: duckdb.Error) -> ApiError:
    """A DuckDB error as Timestream reports it (always ``ValidationException``)."""
    message = str(error)
    column = _MISSING_COLUMN.search(message)
    if column:
        name = (column.group(1) or column.group(2)).replace('""', '"')
        return validation(f"line 1:1: Column '{name}' does not exist")
    schema = _MISSING_SCHEMA.search(message)
    if schema:
        return validation(f"line 1:1: Database '{schema.group(1)}' does not exist")
    table = _MISSING_TABLE.search(message)
    if table:
        return validation(f"line 1:1: Table '{table.group(1).strip(chr(34))}' does not exist")
    return validation(message)
