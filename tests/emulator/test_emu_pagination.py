"""Query pagination: MaxRows, the 1 MB page rule, NextToken validity."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.config import Config

from emulator.stream import PAGE_BYTES
from emulator.testing import boto3_clients, make_record, now_ms, scalar_rows


def fill(write: Any, count: int, payload_bytes: int = 0) -> None:
    """``count`` records of one series, 100 per call, each with a large dimension value."""
    base = now_ms() - count
    for start in range(0, count, 100):
        records = [
            make_record("m", str(i), base + i, {"blob": f"{i:06d}" + "x" * payload_bytes})
            for i in range(start, min(start + 100, count))
        ]
        write.write_records(DatabaseName="db", TableName="tbl", Records=records)


def pages(query: Any, sql: str, **kwargs: Any) -> list[dict[str, Any]]:
    found, token = [], None
    while True:
        page = query.query(QueryString=sql, **kwargs, **({"NextToken": token} if token else {}))
        found.append(page)
        token = page.get("NextToken")
        if not token:
            return found


def test_max_rows_pages(write: Any, query: Any) -> None:
    fill(write, 250)
    got = pages(query, 'SELECT measure_name, "measure_value::double" FROM "db"."tbl" ORDER BY time', MaxRows=100)
    assert [len(p["Rows"]) for p in got] == [100, 100, 50]
    values = [row["Data"][1]["ScalarValue"] for p in got for row in p["Rows"]]
    assert values == [repr(float(i)) for i in range(250)]
    assert len({p["QueryId"] for p in got}) == 1


def test_pages_are_at_most_1_mb(write: Any, query: Any) -> None:
    fill(write, 700, payload_bytes=1900)  # ~1.35 MB of dimension text
    got = pages(query, 'SELECT blob FROM "db"."tbl" ORDER BY time')
    assert len(got) == 2
    first = got[0]["Rows"]
    assert 0 < len(first) < 700
    assert len(json.dumps(first)) <= PAGE_BYTES * 1.02  # JSON adds a few bytes per value over the metered size
    assert sum(len(p["Rows"]) for p in got) == 700


def test_max_rows_bounds(query: Any, write: Any) -> None:
    fill(write, 3)
    assert len(query.query(QueryString='SELECT * FROM "db"."tbl"', MaxRows=1000)["Rows"]) == 3


@pytest.mark.parametrize("max_rows", [0, 1001])
def test_max_rows_out_of_range(store: Any, credentials: dict[str, str], max_rows: int) -> None:
    config = Config(parameter_validation=False, retries={"total_max_attempts": 1})
    _, query = boto3_clients(store, *next(iter(credentials.items())), config)
    with pytest.raises(query.exceptions.ValidationException):
        query.query(QueryString="SELECT 1", MaxRows=max_rows)


def test_bad_token(query: Any) -> None:
    with pytest.raises(query.exceptions.ValidationException, match="NextToken"):
        query.query(QueryString="SELECT 1", NextToken="not-a-token")


def test_token_is_bound_to_query_string_and_principal(write: Any, query: Any, other_clients: tuple[Any, Any]) -> None:
    fill(write, 5)
    sql = 'SELECT * FROM "db"."tbl"'
    token = query.query(QueryString=sql, MaxRows=2)["NextToken"]
    with pytest.raises(query.exceptions.ValidationException):
        query.query(QueryString=sql + " ", NextToken=token)
    with pytest.raises(query.exceptions.ValidationException):
        other_clients[1].query(QueryString=sql, NextToken=token)
    assert len(query.query(QueryString=sql, NextToken=token, MaxRows=2)["Rows"]) == 2


def test_result_is_computed_once(write: Any, query: Any) -> None:
    fill(write, 4)
    sql = 'SELECT "measure_value::double" FROM "db"."tbl" ORDER BY time'
    first = query.query(QueryString=sql, MaxRows=2)
    write.write_records(DatabaseName="db", TableName="tbl", Records=[make_record("m", "99", now_ms(), {"blob": "new"})])
    rest = query.query(QueryString=sql, NextToken=first["NextToken"], MaxRows=10)
    assert len(rest["Rows"]) == 2  # the page cache does not see later writes
    assert len(scalar_rows(query, sql)) == 5


def row_json_bytes(rows: list[dict[str, Any]]) -> int:
    """The size of rows as the store renders them (compact JSON)."""
    return sum(len(json.dumps(row, separators=(",", ":"), ensure_ascii=False).encode()) for row in rows)


@pytest.mark.parametrize(("max_rows", "count", "pad"), [(None, 12_000, 300), (999, 5_000, 0), (7, 2_100, 0)])
def test_every_row_is_served_once_within_the_page_limits(
    query: Any, max_rows: int | None, count: int, pad: int
) -> None:
    """Across batch boundaries and page cuts by rows and by bytes."""
    sql = f"SELECT i, repeat('x', {pad}) AS pad FROM range({count}) AS t(i)"
    got = pages(query, sql, **({"MaxRows": max_rows} if max_rows else {}))
    ids = [int(row["Data"][0]["ScalarValue"]) for page in got for row in page["Rows"]]
    assert sorted(ids) == list(range(count))
    assert all(page["Rows"] for page in got)  # no empty page, not even the last
    for page in got:
        assert len(page["Rows"]) <= (max_rows or count)
        assert row_json_bytes(page["Rows"]) <= PAGE_BYTES
    if max_rows is None:
        assert len(got) == -(-row_json_bytes([r for p in got for r in p["Rows"]]) // PAGE_BYTES)


def test_a_row_larger_than_a_page_is_served_alone(query: Any) -> None:
    got = pages(query, "SELECT repeat('x', 1500000) AS big FROM range(3)")
    assert [len(p["Rows"]) for p in got] == [1, 1, 1]


def test_empty_result(query: Any) -> None:
    page = query.query(QueryString="SELECT i FROM range(10) AS t(i) WHERE i > 10")
    assert page["Rows"] == [] and "NextToken" not in page and page["ColumnInfo"][0]["Name"] == "i"


def test_bytes_scanned_grow_with_the_rows_served(query: Any) -> None:
    got = pages(query, "SELECT i FROM range(3000) AS t(i)", MaxRows=1000)
    scanned = [p["QueryStatus"]["CumulativeBytesScanned"] for p in got]
    assert scanned == sorted(scanned) and scanned[-1] == row_json_bytes([r for p in got for r in p["Rows"]])
    assert all(p["QueryStatus"]["CumulativeBytesMetered"] == 10 * 1024 * 1024 for p in got)


def test_a_repeated_token_replays_its_page(query: Any) -> None:
    sql = "SELECT i FROM range(30) AS t(i)"
    first = query.query(QueryString=sql, MaxRows=10)
    second = query.query(QueryString=sql, NextToken=first["NextToken"], MaxRows=10)
    again = query.query(QueryString=sql, NextToken=first["NextToken"], MaxRows=10)
    assert again["Rows"] == second["Rows"] and again["NextToken"] == second["NextToken"]
    last = query.query(QueryString=sql, NextToken=second["NextToken"], MaxRows=10)
    assert "NextToken" not in last
    with pytest.raises(query.exceptions.ValidationException, match="NextToken"):  # the client has moved on
        query.query(QueryString=sql, NextToken=first["NextToken"], MaxRows=10)


def test_a_token_is_valid_for_five_uses(query: Any) -> None:
    sql = "SELECT i FROM range(30) AS t(i)"
    token = query.query(QueryString=sql, MaxRows=10)["NextToken"]
    for _ in range(5):
        assert len(query.query(QueryString=sql, NextToken=token, MaxRows=10)["Rows"]) == 10
    with pytest.raises(query.exceptions.ValidationException, match="NextToken"):
        query.query(QueryString=sql, NextToken=token, MaxRows=10)


def test_cancel_query_releases_the_result(query: Any) -> None:
    sql = "SELECT i FROM range(100) AS t(i)"
    first = query.query(QueryString=sql, MaxRows=10)
    assert "cancelled" in query.cancel_query(QueryId=first["QueryId"])["CancellationMessage"]
    with pytest.raises(query.exceptions.ValidationException, match="NextToken"):
        query.query(QueryString=sql, NextToken=first["NextToken"], MaxRows=10)
    assert "completed" in query.cancel_query(QueryId=first["QueryId"])["CancellationMessage"]


def test_an_error_while_paging_ends_the_result(query: Any) -> None:
    """DuckDB computes rows as pages fetch them, so a bad value can fail a later page."""
    sql = "SELECT CAST(CASE WHEN i < 50000 THEN '1' ELSE 'x' END AS INTEGER) AS n FROM range(60000) AS t(i)"
    served, token = 0, None
    with pytest.raises(query.exceptions.ValidationException, match="Conversion"):
        while True:
            page = query.query(QueryString=sql, MaxRows=1000, **({"NextToken": token} if token else {}))
            served += len(page["Rows"])
            token = page["NextToken"]
    assert served < 60000
    if token:
        with pytest.raises(query.exceptions.ValidationException, match="NextToken"):
            query.query(QueryString=sql, MaxRows=1000, NextToken=token)
