"""The read handler with a scripted Timestream: early stop at the size limit, skipped queries."""

from __future__ import annotations

import random
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
from prompb import remote_pb2
from tests.read.test_query import Scripted, page

DESCRIBE = page(
    [
        ["job", "varchar", "DIMENSION"],
        ["measure_name", "varchar", "MEASURE_NAME"],
        ["time", "timestamp", "TIMESTAMP"],
        ["measure_value::double", "double", "MEASURE_VALUE"],
    ]
)
IDENTITY = Identity("AKIDSCRIPTED", "secret")
LAYOUT = ["job", "measure_name", "time", "measure_value::double", "_col4"]
STAMP = "2026-11-22 00:00:00.000000000"


class Clients:
    def __init__(self, client: Any) -> None:
        self.client = client

    def query_client(self, identity: Identity) -> Any:
        return self.client


def request(*queries: tuple[list[tuple[int, str, str]], int, int]) -> Request:
    message = remote_pb2.ReadRequest()
    for matchers, start, end in queries:
        query = message.queries.add(start_timestamp_ms=start, end_timestamp_ms=end)
        for type_, name, value in matchers:
            query.matchers.add(type=type_, name=name, value=value)
    headers = Headers({"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"})
    return Request("POST", "/read", headers, snappy.compress(message.SerializeToString()))


def handler(client: Scripted, limit: int | None = None) -> ReadHandler:
    settings = replace(Settings(), database="db", table="tbl")
    return ReadHandler(settings, Clients(client), max_response_bytes=limit)  # type: ignore[arg-type]


def rows(count: int, rng: random.Random) -> list[list[str | None]]:
    return [["j", "m", STAMP, repr(rng.random()), str(i)] for i in range(count)]


def test_reading_stops_once_the_answer_cannot_fit() -> None:
    rng = random.Random(1)
    pages = [page(rows(500, rng), f"t{i}", LAYOUT) for i in range(40)] + [page(rows(500, rng), None, LAYOUT)]
    client = Scripted([DESCRIBE, *pages])
    with pytest.raises(PayloadTooLarge) as caught:
        handler(client, limit=20_000).handle(request(([(0, "job", "j")], 0, 10**6)), IDENTITY, time.monotonic() + 30)
    assert "limit of 20000 bytes" in caught.value.message and "job='j'" in caught.value.message
    assert len(client.calls) < 10  # far fewer than the 42 pages
    assert client.cancelled == ["q1"]


def test_queries_that_cannot_match_never_reach_timestream() -> None:
    client = Scripted([DESCRIBE, DESCRIBE])
    response = handler(client).handle(
        request(([(0, "absent", "x")], 0, 10), ([(0, "job", "j")], 10, 5)), IDENTITY, time.monotonic() + 30
    )
    assert response.status == 200
    assert len(remote_pb2.ReadResponse.FromString(snappy.decompress(response.body, 1 << 20)).results) == 2
    # The column list is confirmed before a missing column rules a query out; start > end needs nothing.
    assert [c["QueryString"] for c in client.calls] == ['DESCRIBE "db"."tbl"'] * 2


def test_a_column_newer_than_the_cached_list_is_noticed_and_used() -> None:
    env = {"Data": [{"ScalarValue": v} for v in ("env", "varchar", "DIMENSION")]}
    fresh = {**DESCRIBE, "Rows": [*DESCRIBE["Rows"], env]}
    layout = ["env", *LAYOUT]
    data = page([["prod", "j", "m", STAMP, "1.5", "7"]], None, layout)
    client = Scripted([DESCRIBE, data, fresh, page([["prod", "j", "m", STAMP, "1.5", "7"]], None, layout)])
    response = handler(client).handle(request(([(1, "env", "dev")], 0, 10)), IDENTITY, time.monotonic() + 30)
    (series,) = remote_pb2.ReadResponse.FromString(snappy.decompress(response.body, 1 << 20)).results[0].timeseries
    assert [(lb.name, lb.value) for lb in series.labels] == [("__name__", "m"), ("env", "prod"), ("job", "j")]
    queries = [c["QueryString"] for c in client.calls]
    assert queries[2] == 'DESCRIBE "db"."tbl"' and '"env"' not in queries[1] and '"env"' in queries[3]


def test_results_keep_query_order() -> None:
    first = page([["j", "a", STAMP, "1.0", "1"]], None, LAYOUT)
    second = page([[None, "b", STAMP, "2.0", "2"]], None, LAYOUT)
    client = Scripted([DESCRIBE, first, second])
    response = handler(client).handle(
        request(([(0, "__name__", "a")], 0, 10), ([(0, "__name__", "b")], 0, 10)), IDENTITY, time.monotonic() + 30
    )
    results = remote_pb2.ReadResponse.FromString(snappy.decompress(response.body, 1 << 20)).results
    assert [[(lb.name, lb.value) for lb in r.timeseries[0].labels] for r in results] == [
        [("__name__", "a"), ("job", "j")],
        [("__name__", "b")],
    ]
