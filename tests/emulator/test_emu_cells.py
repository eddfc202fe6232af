"""Cells as Timestream prints them, rendered by DuckDB (common scalars) or Python (the rest)."""

from __future__ import annotations

import json
import math
import random
import struct
from typing import Any

import duckdb

from emulator.cells import row_query
from emulator.results import format_timestamp_ns

HARD_DOUBLES = [
    5e-324,
    1.7976931348623157e308,
    0.1 + 0.2,
    1e22,
    1e-7,
    -0.0,
    123456789012345680.0,
    2.2250738585072014e-308,
    1e16,
    1e15,
    9007199254740993.0,
    0.0001,
    100.0,
]


def cells(query: Any, sql: str) -> list[dict[str, Any]]:
    """The cells of the only row of ``sql``."""
    rows = query.query(QueryString=sql)["Rows"]
    assert len(rows) == 1
    return rows[0]["Data"]  # type: ignore[no-any-return]


def scalars(query: Any, sql: str) -> list[str | None]:
    return [cell.get("ScalarValue") for cell in cells(query, sql)]


def first_column(query: Any, sql: str) -> list[str | None]:
    """The first cell of every row of one page."""
    return [row["Data"][0].get("ScalarValue") for row in query.query(QueryString=sql)["Rows"]]


def random_doubles(count: int) -> list[float]:
    """Finite doubles from random bit patterns: every exponent, subnormals included."""
    rng = random.Random(7)
    found: list[float] = []
    while len(found) < count:
        number = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if math.isfinite(number):
            found.append(number)
    return found


def test_doubles_print_as_python_repr(query: Any) -> None:
    numbers = HARD_DOUBLES + random_doubles(1500)
    values = ", ".join(f"('{number!r}')" for number in numbers)
    sql = f"SELECT CAST(x AS DOUBLE) FROM (VALUES {values}) AS t(x)"
    assert first_column(query, sql) == [repr(number) for number in numbers]


def test_non_finite_doubles_and_floats_spelled_as_timestream(query: Any) -> None:
    sql = "SELECT CAST('NaN' AS DOUBLE), CAST('Infinity' AS DOUBLE), CAST('-Infinity' AS DOUBLE), CAST(0.1 AS FLOAT)"
    float32 = struct.unpack("<f", struct.pack("<f", 0.1))[0]
    assert scalars(query, sql) == ["NaN", "Infinity", "-Infinity", repr(float32)]


def test_null_cells_of_every_kind(query: Any) -> None:
    types = ["VARCHAR", "DOUBLE", "BIGINT", "BOOLEAN", "TIMESTAMP", "TIMESTAMP_NS", "INTEGER[]", "DATE", "DECIMAL(9,2)"]
    sql = "SELECT " + ", ".join(f"CAST(NULL AS {t})" for t in types)
    assert cells(query, sql) == [{"NullValue": True}] * len(types)


def test_scalars(query: Any) -> None:
    sql = (
        "SELECT true, false, CAST(-170141183460469231731687303715884105727 AS HUGEINT) - 1, CAST(255 AS UTINYINT), "
        "TIMESTAMP '2024-01-02 03:04:05.123456', TIMESTAMP_MS '2024-01-02 03:04:05.123', "
        "TIMESTAMPTZ '2024-01-02 03:04:05+02', to_milliseconds(from_milliseconds(1700000000123))"
    )
    assert scalars(query, sql) == [
        "true",
        "false",
        "-170141183460469231731687303715884105728",
        "255",
        "2024-01-02 03:04:05.123456000",
        "2024-01-02 03:04:05.123000000",
        "2024-01-02 01:04:05.000000000",
        "1700000000123",
    ]


def test_timestamps_have_nine_fraction_digits_in_utc(query: Any) -> None:
    rng = random.Random(3)
    limit = 2**63 - 2  # DuckDB keeps the extremes of TIMESTAMP_NS for infinities
    nanos = [-limit, limit, 0, -1, 1, 999_999_999] + [rng.randint(-limit, limit) for _ in range(300)]
    values = ", ".join(f"({n})" for n in nanos)
    sql = f"SELECT from_nanoseconds(n) FROM (VALUES {values}) AS t(n)"
    assert first_column(query, sql) == [format_timestamp_ns(n) for n in nanos]


def test_text_escapes_round_trip(query: Any) -> None:
    text = 'quote " backslash \\ newline \n tab \t bell \x07 unit \x1f del \x7f é 中 😀 \u2028 </script>'
    literal = "'" + text.replace("'", "''") + "'"
    assert scalars(query, f"SELECT {literal}, {literal} || 'x'") == [text, text + "x"]


def test_python_formatted_types_beside_rendered_ones(query: Any) -> None:
    sql = (
        "SELECT 'a' AS s, [1.5, NULL] AS l, {'k': 'v', 'n': 2} AS r, DATE '2024-02-29' AS d, "
        "CAST(12.5 AS DECIMAL(9,2)) AS m, INTERVAL 90 MINUTE AS i, TIME '01:02:03' AS t, 0.5 AS x"
    )
    assert cells(query, sql) == [
        {"ScalarValue": "a"},
        {"ArrayValue": [{"ScalarValue": "1.5"}, {"NullValue": True}]},
        {"RowValue": {"Data": [{"ScalarValue": "v"}, {"ScalarValue": "2"}]}},
        {"ScalarValue": "2024-02-29"},
        {"ScalarValue": "12.5"},
        {"ScalarValue": "0 01:30:00.000000000"},
        {"ScalarValue": "01:02:03.000000000"},
        {"ScalarValue": "0.5"},
    ]


def test_the_connectors_columns_are_rendered_whole_by_duckdb() -> None:
    """The read query's columns need no Python per cell: each row comes out as one JSON text."""
    connection = duckdb.connect()
    sql = "SELECT 'x' AS job, NULL::VARCHAR AS pod, 'up' AS measure_name, now() AS time, 1.5::DOUBLE AS v, 7 AS ms"
    relation = connection.sql(sql)
    plan = row_query(sql, relation.types)
    assert plan.python_cells == ()
    text, size = connection.execute(plan.sql).fetchone()  # type: ignore[misc]
    assert size == len(text.encode()) and json.loads(text)["Data"][1] == {"NullValue": True}
    assert row_query("SELECT [1] AS l, 2 AS n", connection.sql("SELECT [1] AS l, 2 AS n").types).python_cells == (0,)
