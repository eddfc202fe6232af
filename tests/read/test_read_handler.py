"""The read handler with a scripted Timestream: size limit, skipped queries, fresh columns, slices."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import replace
from typing import Any

import pytest

from connector.auth import Identity
from connector.config import Settings
from connector.errors import PayloadTooLarge
from connector.http import Headers, Request
from connector.prom import snappy
from connector.read import ReadHandler
from connector.timestream.columns import TableColumns
from prompb import remote_pb2
from tests.read.test_query import page

COLUMNS = [
    ["job", "varchar", "DIMENSION"],
    ["measure_name", "varchar", "MEASURE_NAME"],
    ["time", "timestamp", "TIMESTAMP"],
    ["measure_value::double", "double", "MEASURE_VALUE"],
]
IDENTITY = Identity("AKIDSCRIPTED", "secret")
LAYOUT = ["_col0", "measure_value::double", "_col2"]  # the series key, the value, the time


class Table:
    """A thread-safe fake query client: DESCRIBE from ``columns``, other statements from ``answer``."""

    def __init__(self, answer: Any, columns: list[list[str]] | None = None) -> None:
        self.answer, self.columns = answer, columns or COLUMNS
        self.statements: list[str] = []
        self.cancelled: list[str] = []
        self._lock = threading.Lock()
        self._pages: dict[str, list[dict[str, Any]]] = {}

    def query_client(self, identity: Identity) -> Table:
        return self

    def query(self, QueryString: str, NextToken: str | None = None) -> dict[str, Any]:
        with self._lock:
            if NextToken is None:
                self.statements.append(QueryString)
                if QueryString.startswith("DESCRIBE"):
                    return page(self.columns)  # type: ignore[arg-type]
                self._pages[QueryString] = list(self.answer(QueryString))
            return self._pages[QueryString].pop(0)

    def cancel_query(self, QueryId: str) -> None:
        self.cancelled.append(QueryId)

    @property
    def data_statements(self) -> list[str]:
        return [s for s in self.statements if not s.startswith("DESCRIBE")]


def request(*queries: tuple[list[tuple[int, str, str]], int, int], func: str = "") -> Request:
    message = remote_pb2.ReadRequest()
    for matchers, start, end in queries:
        query = message.queries.add(start_timestamp_ms=start, end_timestamp_ms=end)
        if func:
            query.hints.func = func
        for type_, name, value in matchers:
            query.matchers.add(type=type_, name=name, value=value)
    headers = Headers({"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"})
    return Request("POST", "/read", headers, snappy.compress(message.SerializeToString()))


def handler(table: Table, limit: int | None = None) -> ReadHandler:
    settings = replace(Settings(), database="db", table="tbl", max_read_response_bytes=limit or 4_500_000)
    return ReadHandler(settings, table)  # type: ignore[arg-type]


def rows(count: int, rng: random.Random, start: int = 0) -> list[list[str | None]]:
    return [["m|j", repr(rng.random()), str(start + i)] for i in range(count)]


def results(response: Any) -> Any:
    return remote_pb2.ReadResponse.FromString(snappy.decompress(response.body, 1 << 30)).results


def deadline() -> float:
    return time.monotonic() + 30


def test_reading_stops_once_the_answer_cannot_fit() -> None:
    rng = random.Random(1)
    pages = [page(rows(500, rng), f"t{i}", LAYOUT) for i in range(40)] + [page(rows(500, rng), None, LAYOUT)]
    table = Table(lambda _: pages)
    with pytest.raises(PayloadTooLarge) as caught:
        handler(table, limit=20_000).handle(request(([(0, "job", "j")], 0, 10**6)), IDENTITY, deadline())
    assert "limit of 20000 bytes" in caught.value.message and "job='j'" in caught.value.message
    (statement,) = table.data_statements
    assert len(table._pages[statement]) > 30  # far fewer than the 41 pages were read
    assert table.cancelled == ["q1"]


def test_queries_that_cannot_match_never_reach_timestream() -> None:
    table = Table(lambda _: pytest.fail("no data statement expected"))
    response = handler(table).handle(
        request(([(0, "absent", "x")], 0, 10), ([(0, "job", "j")], 10, 5)), IDENTITY, deadline()
    )
    assert response.status == 200 and len(results(response)) == 2
    assert table.statements == ['DESCRIBE "db"."tbl"']


def test_a_column_newer_than_the_cached_list_is_noticed_and_used() -> None:
    def answer(text: str) -> list[dict[str, Any]]:
        if '"env"' in text:  # the key holds measure_name|env|job
            return [page([["m|prod|j", "1.5", "7"]], None, LAYOUT)]
        return [page([["m|j", "1.5", "7"]], None, LAYOUT)]

    table = Table(answer, [*COLUMNS, ["env", "varchar", "DIMENSION"]])
    reader = handler(table)
    reader.columns.put((IDENTITY, "db", "tbl"), TableColumns(frozenset({"job"}), True))  # cached before env
    response = reader.handle(request(([(1, "env", "dev")], 0, 10)), IDENTITY, deadline())
    (series,) = results(response)[0].timeseries
    assert [(lb.name, lb.value) for lb in series.labels] == [("__name__", "m"), ("env", "prod"), ("job", "j")]
    assert ['"env"' in s for s in table.data_statements] == [False, True]


def test_results_keep_query_order() -> None:
    answers = {
        "'a'": [page([["a|j", "1.0", "1"]], None, LAYOUT)],
        "'b'": [page([["b|", "2.0", "2"]], None, LAYOUT)],
    }
    table = Table(lambda text: next(v for k, v in answers.items() if k in text))
    response = handler(table).handle(
        request(([(0, "__name__", "a")], 0, 10), ([(0, "__name__", "b")], 0, 10)), IDENTITY, deadline()
    )
    assert [[(lb.name, lb.value) for lb in r.timeseries[0].labels] for r in results(response)] == [
        [("__name__", "a"), ("job", "j")],
        [("__name__", "b")],
    ]


def test_a_series_look_up_reads_labels_only_and_returns_series_without_samples() -> None:
    table = Table(lambda _: [page([["up|a"], ["up|b"]], None, ["_col0"])])
    response = handler(table).handle(request(([(0, "__name__", "up")], 0, 10), func="series"), IDENTITY, deadline())
    (statement,) = table.data_statements
    assert statement.startswith("SELECT DISTINCT (") and "to_milliseconds" not in statement
    timeseries = results(response)[0].timeseries
    assert [[(lb.name, lb.value) for lb in ts.labels] for ts in timeseries] == [
        [("__name__", "up"), ("job", "a")],
        [("__name__", "up"), ("job", "b")],
    ]
    assert all(len(ts.samples) == 0 for ts in timeseries)


def test_a_selection_that_returned_many_rows_is_read_next_time_in_concurrent_slices() -> None:
    span = 400_000  # one sample per millisecond in [0, span)

    def answer(text: str) -> list[dict[str, Any]]:
        low = int(text.split("from_milliseconds(")[1].split(")")[0])
        high = int(text.split("from_milliseconds(")[2].split(")")[0])
        inclusive = "BETWEEN" in text
        times = range(low, min(high + inclusive, span))
        cells = [["m|j", str(t * 0.5), str(t)] for t in times]
        return [
            page(cells[i : i + 50_000], None if i + 50_000 >= len(cells) else f"t{i}", LAYOUT)
            for i in range(0, max(len(cells), 1), 50_000)
        ]

    table = Table(answer)
    reader = handler(table, limit=1 << 30)
    first = reader.handle(request(([(0, "job", "j")], 0, span - 1)), IDENTITY, deadline())
    assert len(table.data_statements) == 1
    second = reader.handle(request(([(0, "job", "j")], 0, span - 1)), IDENTITY, deadline())
    slices = table.data_statements[1:]
    assert len(slices) == 4  # 400,000 rows at 100,000 per slice
    assert results(first) == results(second)
    (series,) = results(second)[0].timeseries
    assert [s.timestamp for s in series.samples] == list(range(span))


def test_the_size_limit_counts_the_queries_already_answered() -> None:
    """Each query alone fits; together they do not, and the second stops early instead of reading on."""
    rng = random.Random(2)
    pages = {"'a'": [page(rows(500, rng), f"t{i}", LAYOUT) for i in range(40)] + [page(rows(500, rng), None, LAYOUT)]}
    pages["'b'"] = [page(rows(500, rng), f"t{i}", LAYOUT) for i in range(40)] + [page(rows(500, rng), None, LAYOUT)]
    one_alone = handler(Table(lambda text: pages["'a'"]), limit=1 << 30).handle(
        request(([(0, "__name__", "a")], 0, 10**6)), IDENTITY, deadline()
    )
    limit = int(len(one_alone.body) * 1.5)
    table = Table(lambda text: next(v for k, v in pages.items() if k in text))
    with pytest.raises(PayloadTooLarge) as caught:
        handler(table, limit=limit).handle(
            request(([(0, "__name__", "a")], 0, 10**6), ([(0, "__name__", "b")], 0, 10**6)), IDENTITY, deadline()
        )
    assert f"limit of {limit} bytes" in caught.value.message and "query 2" in caught.value.message
    second = next(s for s in table.data_statements if "'b'" in s)
    assert len(table._pages[second]) > 10  # the second query stopped well before its last page
