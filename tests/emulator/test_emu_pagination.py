"""Query pagination: MaxRows, the 1 MB page rule, NextToken validity."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.config import Config

from emulator.pagination import PAGE_BYTES
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
