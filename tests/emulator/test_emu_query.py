"""Query: Timestream SQL on the store, result shape, errors, read-only guarantee."""

from __future__ import annotations

import re
import struct
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.server import EmbeddedTimestream
from emulator.testing import boto3_clients, make_record, now_ms, scalar_rows

TIME_FORMAT = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{9}")


@pytest.fixture
def seeded(write: Any) -> int:
    """Four records of two series plus one of another metric; returns the base time (ms)."""
    t = now_ms() - 60_000
    write.write_records(
        DatabaseName="db",
        TableName="tbl",
        Records=[
            make_record("up", "1", t, {"job": "api", "instance": "a"}),
            make_record("up", "0", t + 1000, {"job": "api", "instance": "a"}),
            make_record("up", "1", t, {"job": "db", "instance": "b", "env": "prod-eu"}),
            make_record("up", "0.5", t + 1000, {"job": "db", "instance": "b", "env": "prod-eu"}),
            make_record("cpu", "12", t, {"instance": "c"}, MeasureValueType="BIGINT"),
        ],
    )
    return t


def test_select_star_shape(query: Any, seeded: int) -> None:
    result = query.query(QueryString='SELECT * FROM "db"."tbl" WHERE measure_name = \'up\' ORDER BY instance, time')
    names = [c["Name"] for c in result["ColumnInfo"]]
    assert names[-4:] == ["measure_name", "time", "measure_value::double", "measure_value::bigint"]
    assert set(names[:-4]) == {"job", "instance", "env"}
    types = {c["Name"]: c["Type"]["ScalarType"] for c in result["ColumnInfo"]}
    assert types == {
        "job": "VARCHAR",
        "instance": "VARCHAR",
        "env": "VARCHAR",
        "measure_name": "VARCHAR",
        "time": "TIMESTAMP",
        "measure_value::double": "DOUBLE",
        "measure_value::bigint": "BIGINT",
    }
    first = dict(zip(names, result["Rows"][0]["Data"], strict=True))
    assert first["env"] == {"NullValue": True} and first["measure_value::bigint"] == {"NullValue": True}
    assert TIME_FORMAT.fullmatch(first["time"]["ScalarValue"])
    assert first["measure_value::double"] == {"ScalarValue": "1.0"}
    assert result["QueryStatus"]["ProgressPercentage"] == 100.0
    assert result["QueryId"] and "NextToken" not in result


def test_connector_style_queries(query: Any, seeded: int) -> None:
    t = seeded
    sql = (
        f'SELECT * FROM "db"."tbl" WHERE "measure_name" = \'up\' AND "time" BETWEEN from_milliseconds({t}) '
        f'AND from_milliseconds({t + 1000}) AND ("job" IS NULL OR "job" <> \'x\') '
        "AND regexp_like(\"instance\", '^(?:a|b)$') AND NOT regexp_like(coalesce(\"env\", ''), '^(?:prod.*)$') "
        'ORDER BY "measure_name", "time"'
    )
    assert len(scalar_rows(query, sql)) == 2  # only instance a: b is prod
    got = scalar_rows(
        query,
        'SELECT "job", "instance", measure_name, to_milliseconds(time) AS t, "measure_value::double" '
        "FROM \"db\".\"tbl\" WHERE measure_name = 'up' AND job = 'db' ORDER BY time",
    )
    assert got == [["db", "b", "up", str(t), "1.0"], ["db", "b", "up", str(t + 1000), "0.5"]]


def test_timestream_functions(query: Any, seeded: int) -> None:
    assert scalar_rows(query, 'SELECT count(*) FROM "db"."tbl" WHERE time > ago(1h)') == [["5"]]
    assert scalar_rows(query, 'SELECT count(*) FROM "db"."tbl" WHERE time > ago(1ms)') == [["0"]]
    assert scalar_rows(query, 'SELECT count(*) FROM "db"."tbl" WHERE time <= now() AND time > now() - 15m') == [["5"]]
    (row,) = scalar_rows(query, 'SELECT bin(time, 1m) AS b FROM "db"."tbl" WHERE instance = \'c\'')
    assert str(row[0]).endswith(":00.000000000")
    assert scalar_rows(query, "SELECT regexp_like('abc', 'b'), regexp_like('abc', '^b$')") == [["true", "false"]]
    assert scalar_rows(query, "SELECT from_milliseconds(1700000000123)") == [["2023-11-14 22:13:20.123000000"]]


def test_aggregates_group_by_order_by_limit(query: Any, seeded: int) -> None:
    got = scalar_rows(
        query,
        'SELECT instance, avg("measure_value::double") AS a, count(*) AS n FROM "db"."tbl" '
        "WHERE measure_name = 'up' GROUP BY instance ORDER BY instance LIMIT 1",
    )
    assert got == [["a", "0.5", "2"]]
    info = query.query(QueryString='SELECT count(*) AS n, max(time) AS m, 1.5 AS d, true AS b, 7 AS i FROM "db"."tbl"')[
        "ColumnInfo"
    ]
    assert [c["Type"]["ScalarType"] for c in info] == ["BIGINT", "TIMESTAMP", "DOUBLE", "BOOLEAN", "INTEGER"]


def test_string_literal_quote_escaping(write: Any, query: Any) -> None:
    write.write_records(DatabaseName="db", TableName="tbl", Records=[make_record(dims={"job": 'it\'s "quoted"'})])
    assert scalar_rows(query, 'SELECT job FROM "db"."tbl" WHERE job = \'it\'\'s "quoted"\'') == [['it\'s "quoted"']]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.floats(allow_nan=False, allow_infinity=False),
        min_size=1,
        max_size=100,
        unique_by=lambda f: struct.pack("<d", f),
    )
)
def test_doubles_are_lossless(write: Any, query: Any, numbers: list[float]) -> None:
    base = now_ms() - 1000
    tag = str(base) + str(len(numbers)) + repr(numbers[0])
    records = [make_record("v", repr(x), base - i, {"run": tag}) for i, x in enumerate(numbers)]
    write.write_records(DatabaseName="db", TableName="tbl", Records=records)
    got = scalar_rows(query, f'SELECT "measure_value::double" FROM "db"."tbl" WHERE run = \'{tag}\' ORDER BY time DESC')
    assert [float(str(v)) for (v,) in got] == numbers
    assert [v for (v,) in got] == [repr(x) for x in numbers]


def test_special_doubles_print_shortest(write: Any, query: Any) -> None:
    specials = ["5e-324", "0.30000000000000004", "1.7976931348623157e+308", "-0.0", "1e+22", "123456789.125"]
    base = now_ms()
    write.write_records(
        DatabaseName="db", TableName="tbl", Records=[make_record("s", v, base - i) for i, v in enumerate(specials)]
    )
    got = scalar_rows(query, 'SELECT "measure_value::double" FROM "db"."tbl" ORDER BY time DESC')
    assert [v for (v,) in got] == specials


def test_describe(query: Any, seeded: int) -> None:
    got = scalar_rows(query, 'DESCRIBE "db"."tbl"')
    kinds = {name: (typ, kind) for name, typ, kind in got}
    assert kinds["job"] == ("varchar", "DIMENSION")
    assert kinds["measure_name"] == ("varchar", "MEASURE_NAME")
    assert kinds["time"] == ("timestamp", "TIMESTAMP")
    assert kinds["measure_value::double"] == ("double", "MEASURE_VALUE")
    assert "measure_value::varchar" not in kinds
    info = query.query(QueryString='DESCRIBE "db"."tbl"')["ColumnInfo"]
    assert [c["Name"] for c in info] == ["Column", "Type", "Timestream attribute type"]


def test_show_measures_tables_databases(query: Any, seeded: int) -> None:
    result = query.query(QueryString='SHOW MEASURES FROM "db"."tbl"')
    measures = {row["Data"][0]["ScalarValue"]: row["Data"] for row in result["Rows"]}
    assert measures["cpu"][1] == {"ScalarValue": "bigint"}
    dims = [d["RowValue"]["Data"][0]["ScalarValue"] for d in measures["up"][2]["ArrayValue"]]
    assert sorted(dims) == ["env", "instance", "job"]
    assert scalar_rows(query, 'SHOW MEASURES FROM "db"."tbl" LIKE \'c%\'')[0][0] == "cpu"
    assert scalar_rows(query, 'SHOW TABLES FROM "db"') == [["tbl"]]
    assert scalar_rows(query, "SHOW DATABASES") == [["db"]]


def test_missing_column_is_validation_error(query: Any, seeded: int) -> None:
    with pytest.raises(query.exceptions.ValidationException, match="Column 'nope' does not exist"):
        query.query(QueryString='SELECT "nope" FROM "db"."tbl"')
    with pytest.raises(query.exceptions.ValidationException, match="Column 'measure_value::varchar' does not exist"):
        query.query(QueryString='SELECT "measure_value::varchar" FROM "db"."tbl"')


def test_missing_column_on_empty_table(query: Any) -> None:
    with pytest.raises(query.exceptions.ValidationException, match="Column 'job' does not exist"):
        query.query(QueryString='SELECT * FROM "db"."tbl" WHERE "job" = \'x\'')
    assert scalar_rows(query, 'SELECT * FROM "db"."tbl"') == []


def test_unknown_table_or_database(query: Any) -> None:
    for sql in ('SELECT * FROM "db"."nope"', 'SELECT * FROM "nope"."tbl"', 'DESCRIBE "db"."nope"'):
        with pytest.raises(query.exceptions.ValidationException, match="does not exist"):
            query.query(QueryString=sql)


def test_syntax_error(query: Any) -> None:
    with pytest.raises(query.exceptions.ValidationException, match="syntax error"):
        query.query(QueryString='SELECT FROM WHERE "db"."tbl"')


@pytest.mark.parametrize(
    "sql",
    [
        'DELETE FROM "db"."tbl"',
        'INSERT INTO "db"."tbl" (measure_name) VALUES (\'x\')',
        'UPDATE "db"."tbl" SET measure_name = \'x\'',
        'DROP TABLE "db"."tbl"',
        'CREATE TABLE "db"."x" (a INT)',
        'SELECT 1; DELETE FROM "db"."tbl"',
        'WITH x AS (SELECT 1) DELETE FROM "db"."tbl"',
        "COPY (SELECT 1) TO '/tmp/x.csv'",
        "ATTACH '/tmp/x.duckdb' AS x",
        "SELECT * FROM read_csv('/etc/hostname')",
        "PRAGMA version",
        "SET threads = 1",
    ],
)
def test_queries_cannot_modify_data_or_touch_files(query: Any, seeded: int, sql: str) -> None:
    with pytest.raises(query.exceptions.ValidationException):
        query.query(QueryString=sql)
    assert scalar_rows(query, 'SELECT count(*) FROM "db"."tbl"') == [["5"]]


def test_query_timeout_interrupts(credentials: dict[str, str]) -> None:
    with EmbeddedTimestream(credentials=credentials, query_timeout_seconds=0.2) as store:
        _, query = boto3_clients(store, *next(iter(credentials.items())))
        started = time.perf_counter()
        with pytest.raises(query.exceptions.QueryExecutionException, match="timed out"):
            query.query(QueryString="SELECT count(*) FROM range(100000000000) AS r(x) WHERE x % 7 = 3")
        assert time.perf_counter() - started < 10


def test_cancel_query_answers(query: Any) -> None:
    assert "completed" in query.cancel_query(QueryId="abc")["CancellationMessage"]
