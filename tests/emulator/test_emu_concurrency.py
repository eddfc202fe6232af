"""Concurrent calls overlap: writes keep version semantics, a failed group commit writes nothing, paged
queries each get their own rows."""

from __future__ import annotations

import threading
import time
from functools import partial
from typing import Any

import pytest
from botocore.config import Config

from emulator.server import EmbeddedTimestream
from emulator.testing import boto3_clients, make_record, now_ms, scalar_rows

CALLS = 20
RECORDS = 100


def run_concurrently(work: list[Any]) -> tuple[float, list[BaseException]]:
    """Run the callables at once (released together by a barrier); (wall seconds, errors)."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(work) + 1)

    def run(job: Any) -> None:
        barrier.wait(timeout=60)
        try:
            job()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(job,)) for job in work]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=60)
    started = time.perf_counter()
    for thread in threads:
        thread.join(timeout=30)
    return time.perf_counter() - started, errors


def test_injected_latency_overlaps_across_concurrent_calls(
    store: EmbeddedTimestream, credentials: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """20 calls of 100 records, each delayed by injected latency: the delay of each call ends only
    once all 20 are delayed at the same moment (a barrier stands in for the sleep), which a store
    that served calls one after another could never reach: each would wait out the barrier's
    bound and fail. Causal, not timed."""
    from emulator import faults

    key = next(iter(credentials.items()))
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"}, max_pool_connections=CALLS, read_timeout=30
    )
    write, query = boto3_clients(store, *key, config)
    together = threading.Barrier(CALLS)

    class Clock:
        def sleep(self, seconds: float) -> None:
            together.wait(timeout=10)

        def __getattr__(self, name: str) -> object:
            return getattr(time, name)

    monkeypatch.setattr(faults, "time", Clock())
    store.set_faults(latency_ms=100, operations=["WriteRecords"])
    base = now_ms() - 60_000

    def call(worker: int) -> Any:
        records = [
            make_record("m", str(i), base + i, {"worker": str(worker), "series": str(i % 7)}) for i in range(RECORDS)
        ]
        return lambda: write.write_records(DatabaseName="db", TableName="tbl", Records=records)

    _, errors = run_concurrently([call(worker) for worker in range(CALLS)])
    store.set_faults()
    assert errors == []
    assert not together.broken, "the calls were never all delayed at once: the store serialised them"
    assert scalar_rows(query, 'SELECT count(*) FROM "db"."tbl"') == [[str(CALLS * RECORDS)]]
    assert store.stats()["records_written"] == CALLS * RECORDS


def test_concurrent_versions_of_the_same_records(store: EmbeddedTimestream, credentials: dict[str, str]) -> None:
    """Writers racing on the same identities: one row each, holding the highest version ever sent."""
    key = next(iter(credentials.items()))
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"}, max_pool_connections=8)
    write, query = boto3_clients(store, *key, config)
    t = now_ms() - 60_000
    writers, rounds, identities = 8, 6, 40
    rejected: list[int] = []

    def writer(worker: int) -> Any:
        def run() -> None:
            for round_ in range(rounds):
                version = round_ * writers + worker + 1  # unique per call; the last round holds the highest
                records = [
                    make_record("m", str(version), t, {"instance": str(i)}, Version=version) for i in range(identities)
                ]
                try:
                    write.write_records(DatabaseName="db", TableName="tbl", Records=records)
                except write.exceptions.RejectedRecordsException as error:
                    entries = error.response["RejectedRecords"]
                    assert all(e["ExistingVersion"] > version for e in entries)
                    rejected.append(len(entries))

        return run

    _, errors = run_concurrently([writer(worker) for worker in range(writers)])
    assert errors == []
    highest = float(rounds * writers)
    rows = scalar_rows(
        query, 'SELECT instance, count(*), max("measure_value::double") FROM "db"."tbl" GROUP BY instance'
    )
    assert sorted(rows) == sorted([[str(i), "1", str(highest)] for i in range(identities)])
    stats = store.stats()
    assert stats["records_rejected"] == sum(rejected)
    assert stats["records_written"] + stats["records_rejected"] == writers * rounds * identities


def test_a_failed_commit_writes_nothing_and_later_calls_see_the_stored_rows(
    store: EmbeddedTimestream, write: Any, query: Any, monkeypatch: Any
) -> None:
    t = now_ms()
    write.write_records(DatabaseName="db", TableName="tbl", Records=[make_record("up", "1", t, {"job": "a"})])
    inner = store.store

    def broken(*args: Any) -> None:
        raise RuntimeError("disk full (simulated)")

    monkeypatch.setattr(inner, "_append", broken)
    failing = [make_record("up", "2", t, {"job": "a"}, Version=2), make_record("up", "1", t, {"job": "b"})]
    with pytest.raises(write.exceptions.InternalServerException):
        write.write_records(DatabaseName="db", TableName="tbl", Records=failing)
    monkeypatch.undo()
    rows = 'SELECT job, "measure_value::double" FROM "db"."tbl" ORDER BY job'
    assert scalar_rows(query, rows) == [["a", "1.0"]]
    # the version index forgot the failed call: the stored row still has version 1
    with pytest.raises(write.exceptions.RejectedRecordsException) as error:
        write.write_records(DatabaseName="db", TableName="tbl", Records=[make_record("up", "3", t, {"job": "a"})])
    assert error.value.response["RejectedRecords"][0]["ExistingVersion"] == 1
    write.write_records(DatabaseName="db", TableName="tbl", Records=failing)
    assert scalar_rows(query, rows) == [["a", "2.0"], ["b", "1.0"]]


def test_concurrent_time_slices_and_series_look_ups(store: EmbeddedTimestream, credentials: dict[str, str]) -> None:
    """The connector's read pattern: slices of one range paged at once, beside a DISTINCT over the labels."""
    store.store.bulk_append(
        store.store.table("db", "tbl"),
        "SELECT 'pod-' || (i % 20) AS pod, 'up' AS measure_name, make_timestamp_ns(i * 1000000) AS time, "
        'CAST(i AS DOUBLE) AS "measure_value::double" FROM range(40000) AS r(i)',
    )
    found: dict[int, list[list[str | None]]] = {}
    bounds = [(i * 10_000, i * 10_000 + 9_999) for i in range(4)]

    def page_slice(index: int) -> None:
        low, high = bounds[index]
        sql = (
            'SELECT pod, "measure_value::double", to_milliseconds(time) FROM "db"."tbl" '
            f"WHERE time BETWEEN from_milliseconds({low}) AND from_milliseconds({high}) AND pod <> 'none'"
        )
        found[index] = scalar_rows(boto3_clients(store, *next(iter(credentials.items())))[1], sql, MaxRows=1000)

    def look_up() -> None:
        sql = 'SELECT DISTINCT pod, measure_name FROM "db"."tbl" WHERE time >= from_milliseconds(0)'
        found[-1] = scalar_rows(boto3_clients(store, *next(iter(credentials.items())))[1], sql)

    _, errors = run_concurrently([partial(page_slice, i) for i in range(4)] + [look_up])
    assert not errors
    for index, (low, high) in enumerate(bounds):
        assert sorted(int(str(ms)) for _, _, ms in found[index]) == list(range(low, high + 1))
        assert all(value == repr(float(str(ms))) for _, value, ms in found[index])
    assert sorted(str(pod) for pod, _ in found[-1]) == sorted(f"pod-{i}" for i in range(20))
