"""The query runner against a scripted client: pages, retries, error statuses, the columns cache."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from connector.errors import HTTPError
from connector.timestream import query as runner
from connector.timestream.columns import ColumnCache, TableColumns


def client_error(code: str, status: int, message: str = "boom") -> ClientError:
    response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "Query")  # type: ignore[arg-type]


class Scripted:
    """Answers ``query`` calls from a list of pages or exceptions, recording what it was asked."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.calls: list[dict[str, Any]] = []
        self.cancelled: list[str] = []

    def query(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def cancel_query(self, QueryId: str) -> None:
        self.cancelled.append(QueryId)


def page(rows: list[list[str | None]], token: str | None = None, columns: list[str] | None = None) -> dict[str, Any]:
    cells = [[{"NullValue": True} if v is None else {"ScalarValue": v} for v in r] for r in rows]
    result: dict[str, Any] = {"QueryId": "q1", "Rows": [{"Data": data} for data in cells]}
    if columns is not None:
        result["ColumnInfo"] = [{"Name": name, "Type": {"ScalarType": "VARCHAR"}} for name in columns]
    if token:
        result["NextToken"] = token
    return result


def far() -> float:
    return time.monotonic() + 30


def test_every_page_is_read_even_after_an_empty_first_page() -> None:
    client = Scripted([page([], "t1", ["x"]), page([["a"]], "t2", ["x"]), page([["b"], ["c"]], None, ["x"])])
    pages = list(runner.run(client, "SELECT 1", far(), 3))
    assert [p.cells for p in pages] == [[], ["a"], ["b", "c"]]
    assert all(p.columns == ["x"] for p in pages)
    assert [c.get("NextToken") for c in client.calls] == [None, "t1", "t2"]
    assert all(c["QueryString"] == "SELECT 1" for c in client.calls)


def test_abandoned_queries_are_cancelled() -> None:
    client = Scripted([page([["a"]], "t1"), page([["b"]])])
    for _ in runner.run(client, "SELECT 1", far(), 3):
        break
    assert client.cancelled == ["q1"]


def test_throttling_is_retried_then_reported_as_503() -> None:
    client = Scripted([client_error("ThrottlingException", 400), page([["a"]])])
    assert len(list(runner.run(client, "q", far(), 3, sleep=lambda s: None))) == 1
    client = Scripted([client_error("ThrottlingException", 400)] * 3)
    with pytest.raises(HTTPError) as caught:
        list(runner.run(client, "q", far(), 3, sleep=lambda s: None))
    assert caught.value.status == 503 and caught.value.headers.get("Retry-After")
    assert len(client.calls) == 3


def test_query_pages_back_off_within_the_documented_bounds() -> None:
    """The retry loop writes use (tests/unit/test_writer.py proves growth and jitter): before
    retry n + 1 a page waits a draw from [0, min(2 s, 50 ms x 2^n)]; the sleeps are recorded."""
    sleeps: list[float] = []
    client = Scripted([client_error("ThrottlingException", 400)] * 3 + [page([["a"]])])
    assert len(list(runner.run(client, "q", far(), 4, sleep=sleeps.append))) == 1
    assert len(sleeps) == 3, sleeps
    assert all(0 <= s <= min(2.0, 0.05 * 2**n) for n, s in enumerate(sleeps, 1)), sleeps


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (client_error("InternalServerException", 500), 502),
        (client_error("UnrecognizedClientException", 400), 401),
        (client_error("InvalidSignatureException", 403), 401),
        (client_error("AccessDeniedException", 403), 403),
        (client_error("ValidationException", 400, "line 1:8: mismatched input"), 500),
    ],
)
def test_errors_become_statuses(error: ClientError, status: int) -> None:
    with pytest.raises(HTTPError) as caught:
        list(runner.run(Scripted([error, error]), "q", far(), 2, sleep=lambda s: None))
    assert caught.value.status == status
    assert ("Retry-After" in caught.value.headers) == (status >= 500 and status != 500)
    assert "boom" in caught.value.message or "mismatched" in caught.value.message


def test_missing_column_is_recognised() -> None:
    error = client_error("ValidationException", 400, "line 1:8: Column 'job' does not exist")
    with pytest.raises(runner.MissingColumn):
        list(runner.run(Scripted([error]), "q", far(), 3))


def test_deadline_stops_reading() -> None:
    with pytest.raises(HTTPError) as caught:
        list(runner.run(Scripted([page([["a"]])]), "q", time.monotonic() - 1, 3))
    assert caught.value.status == 504 and caught.value.headers.get("Retry-After")


def test_describe_finds_dimensions_and_doubles() -> None:
    rows: list[list[str | None]] = [
        ["job", "varchar", "DIMENSION"],
        ["__name__", "varchar", "DIMENSION"],
        ["measure_name", "varchar", "MEASURE_NAME"],
        ["time", "timestamp", "TIMESTAMP"],
        ["measure_value::double", "double", "MEASURE_VALUE"],
        ["measure_value::bigint", "bigint", "MEASURE_VALUE"],
    ]
    client = Scripted([page(rows[:2], "t"), page(rows[2:])])
    columns = runner.describe(client, "db", 'tb"l', far(), 3)
    assert columns.dimensions == {"job", "__name__"} and columns.has_double
    assert columns.names == {r[0] for r in rows}
    assert client.calls[0]["QueryString"] == 'DESCRIBE "db"."tb""l"'


def test_columns_cache_expires_per_key() -> None:
    now = [0.0]
    cache = ColumnCache(ttl=60, clock=lambda: now[0])
    columns = TableColumns(frozenset({"c1"}), True)
    assert cache.get("k") is None
    cache.put("k", columns)
    assert cache.get("k") == columns and cache.get("other") is None
    now[0] = 61
    assert cache.get("k") is None
