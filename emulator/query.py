"""The Query operation: run Timestream SQL on DuckDB, shape and page the result.

Queries run on their own DuckDB cursor inside a READ ONLY transaction (after ``dialect``
has refused anything but SELECT/WITH/DESCRIBE/SHOW), so no query can modify data. DuckDB
errors become ``ValidationException`` with Timestream's wording where connectors depend on
it (``Column 'x' does not exist``); a query running past the timeout is interrupted.
"""

from __future__ import annotations

import re
import threading
import uuid
from typing import Any

import duckdb

from emulator import dialect, introspection
from emulator.errors import ApiError, validation
from emulator.pagination import PageCache, ResultSet
from emulator.results import column_type, datum, fetch_expression, row_size
from emulator.store import Store

MIN_METERED_BYTES = 10 * 1024 * 1024
_MISSING_COLUMN = re.compile(
    r'Referenced column "((?:[^"]|"")+)" not found|does not have a column named "((?:[^"]|"")+)"'
)
_MISSING_SCHEMA = re.compile(r'schema "((?:[^"]|"")+)" does not exist')
_MISSING_TABLE = re.compile(r"Table with name (.+?) does not exist")


class QueryEngine:
    """Executes queries and serves their pages."""

    def __init__(self, store: Store, timeout_seconds: float = 60.0) -> None:
        self._store = store
        self._timeout = timeout_seconds
        self._pages = PageCache()

    def query(self, body: dict[str, Any], principal: str) -> dict[str, Any]:
        """Answer one ``Query`` call (a first page, or the page a ``NextToken`` points at)."""
        query = body.get("QueryString")
        if not isinstance(query, str):
            raise validation("QueryString is required.")
        max_rows = _max_rows(body.get("MaxRows"))
        token = body.get("NextToken")
        if token is not None:
            result, offset = self._pages.resume(str(token), query, principal)
        else:
            result, offset = self.execute(query), 0
        rows, next_offset = result.page(offset, max_rows)
        response: dict[str, Any] = {
            "QueryId": result.query_id,
            "Rows": rows,
            "ColumnInfo": result.column_info,
            "QueryStatus": {
                "ProgressPercentage": 100.0,
                "CumulativeBytesScanned": result.bytes_scanned,
                "CumulativeBytesMetered": max(MIN_METERED_BYTES, result.bytes_scanned),
            },
        }
        if next_offset < len(result.rows):
            response["NextToken"] = self._pages.issue(result, next_offset, query, principal)
        return response

    def execute(self, query: str) -> ResultSet:
        """Run a query to completion and shape every row."""
        statement = dialect.classify(query)
        if statement.kind == "select":
            columns, raw = self._select(statement.sql)
        else:
            columns, raw = introspection.run(self._store, statement)
        rows = [{"Data": [datum(value, c["Type"]) for value, c in zip(values, columns, strict=True)]} for values in raw]
        sizes = [row_size(row["Data"]) for row in rows]
        return ResultSet(uuid.uuid4().hex.upper(), columns, rows, sizes, sum(sizes))

    def _select(self, sql: str) -> tuple[list[dict[str, Any]], list[tuple[Any, ...]]]:
        cursor = self._store.read_cursor()
        timer = threading.Timer(self._timeout, cursor.interrupt)
        try:
            cursor.execute("BEGIN TRANSACTION READ ONLY")
            _require_select(cursor, sql)
            relation = cursor.sql(sql)
            columns = [
                {"Name": name, "Type": column_type(t)} for name, t in zip(relation.columns, relation.types, strict=True)
            ]
            expressions = [fetch_expression(i, t) for i, t in enumerate(relation.types, start=1)]
            if any(e != f"#{i}" for i, e in enumerate(expressions, start=1)):
                sql = f"SELECT {', '.join(expressions)} FROM ({sql}) AS __timestream_query"
            timer.start()
            return columns, cursor.execute(sql).fetchall()
        except duckdb.InterruptException:
            raise ApiError("QueryExecutionException", f"Query timed out after {self._timeout:g} seconds.") from None
        except duckdb.Error as error:
            raise translate_error(error) from None
        finally:
            timer.cancel()
            cursor.close()


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
