"""Results are fetched as pages need them, and their cursors are released when done."""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from emulator import pagination
from emulator.errors import ApiError
from emulator.pagination import PageCache
from emulator.query import QueryEngine
from emulator.rows import Row
from emulator.server import EmbeddedTimestream
from emulator.stream import FETCH_ROWS, PAGE_BYTES, ResultStream
from emulator.testing import boto3_clients, make_record, now_ms, scalar_rows


class CountingSource:
    """``count`` rows of ``size`` bytes each, made only when fetched."""

    def __init__(self, count: int, size: int = 100) -> None:
        self._rows: Iterator[int] = iter(range(count))
        self.size = size
        self.fetched = 0
        self.closed = 0

    def fetch(self, count: int) -> list[Row]:
        batch = [(str(i), self.size) for _, i in zip(range(count), self._rows, strict=False)]
        self.fetched += len(batch)
        return batch

    def interrupt(self) -> None:
        """Nothing to interrupt."""

    def close(self) -> None:
        self.closed += 1


def stream_of(source: CountingSource) -> ResultStream:
    return ResultStream("Q", [{"Name": "i", "Type": {"ScalarType": "BIGINT"}}], source)


def test_a_page_fetches_one_batch_not_the_result() -> None:
    source = CountingSource(1_000_000)
    stream = stream_of(source)
    served = 0
    for _ in range(50):
        served += len(stream.next_page(1000))
        assert source.fetched - served <= FETCH_ROWS
    assert served == 50_000 and not source.closed


def test_the_last_page_closes_the_source_and_no_empty_page_follows() -> None:
    source = CountingSource(2 * FETCH_ROWS)  # a multiple of the batch: the end shows only on the next fetch
    stream = stream_of(source)
    sizes = []
    while not stream.exhausted:
        sizes.append(len(stream.next_page(1000)))
    assert sum(sizes) == 2 * FETCH_ROWS and all(sizes) and source.closed == 1


def test_pages_without_max_rows_stop_at_the_byte_limit() -> None:
    source = CountingSource(100_000, size=1000)
    stream = stream_of(source)
    assert len(stream.next_page(None)) == PAGE_BYTES // 1000
    assert stream.bytes_served == PAGE_BYTES // 1000 * 1000


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def serve_page(stream: ResultStream) -> str:
    return ",".join(stream.next_page(10))


def test_an_expired_token_is_refused_and_its_cursor_released() -> None:
    clock = Clock()
    cache = PageCache(clock)
    source = CountingSource(100)
    token = cache.issue(stream_of(source), "q", "p")
    clock.now += pagination.TOKEN_TTL_SECONDS + 1
    with pytest.raises(ApiError, match="expired"):
        cache.resume(token, "q", "p", serve_page)
    assert source.closed == 1


def test_live_tokens_are_capped_oldest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pagination, "MAX_LIVE_TOKENS", 3)
    cache = PageCache()
    sources = [CountingSource(100) for _ in range(4)]
    tokens = [cache.issue(stream_of(source), "q", "p") for source in sources]
    assert [source.closed for source in sources] == [1, 0, 0, 0]
    with pytest.raises(ApiError, match="expired"):
        cache.resume(tokens[0], "q", "p", serve_page)
    assert cache.resume(tokens[3], "q", "p", serve_page).startswith("0,1,2")


def test_closing_releases_every_cursor() -> None:
    cache = PageCache()
    sources = [CountingSource(100) for _ in range(3)]
    for source in sources:
        cache.issue(stream_of(source), "q", "p")
    cache.close()
    assert [source.closed for source in sources] == [1, 1, 1]


def test_the_first_page_of_a_large_result_holds_one_page_in_memory(store: EmbeddedTimestream) -> None:
    """300,000 rows as dicts per cell would take hundreds of MB of Python objects."""
    engine = QueryEngine(store.store)
    sql = "SELECT i, 'label-' || (i % 100) AS pod, i * 0.37 AS v, now() AS t FROM range(300000) AS r(i)"
    engine.query({"QueryString": "SELECT 1"}, "p")  # DuckDB's first use of a function loads it
    tracemalloc.start()
    try:
        engine.query({"QueryString": sql, "MaxRows": 100}, "p")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        engine.close()
    assert peak < 4 * 1024 * 1024


def test_bulk_append_loads_rows_that_writes_and_queries_see(store: EmbeddedTimestream, write: Any, query: Any) -> None:
    info = store.store.table("db", "tbl")
    store.store.bulk_append(
        info,
        "SELECT 'pod-' || (i % 10) AS pod, 'up' AS measure_name, make_timestamp_ns(i * 1000000) AS time, "
        'i * 0.5 AS "measure_value::double" FROM range(5000) AS r(i)',
    )
    assert info.dimensions == ["pod"] and info.measure_names == {"up"}
    distinct = scalar_rows(query, 'SELECT DISTINCT pod, measure_name FROM "db"."tbl" ORDER BY pod')
    assert distinct == [[f"pod-{i}", "up"] for i in range(10)]
    assert scalar_rows(query, 'SELECT sum("measure_value::double") FROM "db"."tbl"') == [[repr(sum(range(5000)) * 0.5)]]
    write.write_records(DatabaseName="db", TableName="tbl", Records=[make_record("up", "1", now_ms(), {"pod": "new"})])
    assert scalar_rows(query, 'SELECT count(*) FROM "db"."tbl"') == [["5001"]]


def test_queries_run_side_by_side(credentials: dict[str, str]) -> None:
    """A long query on one thread does not hold up the pages of others."""
    with EmbeddedTimestream(credentials=credentials, query_timeout_seconds=3) as store:
        key = next(iter(credentials.items()))
        _, slow_client = boto3_clients(store, *key)
        outcome: list[str] = []

        def slow() -> None:
            try:
                slow_client.query(QueryString="SELECT count(*) FROM range(100000000000) AS r(x) WHERE x % 7 = 3")
            except slow_client.exceptions.QueryExecutionException:
                outcome.append("timed out")

        thread = threading.Thread(target=slow)
        thread.start()
        _, query = boto3_clients(store, *key)
        sql = "SELECT i FROM range(20000) AS t(i)"
        assert len(scalar_rows(query, sql, MaxRows=1000)) == 20000
        assert thread.is_alive()  # still running in DuckDB while the other query was paged through
        thread.join(timeout=120)
        assert not thread.is_alive() and outcome == ["timed out"]
