"""Fault injection: throttling, internal errors, latency and hangs, switchable at run time."""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError

from emulator import faults
from emulator.server import EmbeddedTimestream
from emulator.testing import boto3_clients, make_record, scalar_rows


def post_faults(store: EmbeddedTimestream, settings: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(store.url + "/__admin/faults", data=json.dumps(settings).encode(), method="POST")
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def test_throttle_rate_is_seeded_and_reproducible(store: EmbeddedTimestream, write: Any) -> None:
    post_faults(store, {"throttle": 0.3, "seed": 7, "operations": ["DescribeEndpoints"]})
    outcomes = []
    for _ in range(120):
        try:
            write.describe_endpoints()
            outcomes.append(False)
        except write.exceptions.ThrottlingException as error:
            assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
            outcomes.append(True)
    rng = random.Random(7)
    assert outcomes == [rng.random() < 0.3 for _ in range(120)]
    assert 20 <= sum(outcomes) <= 60
    assert store.stats()["faults_injected"] == {"throttle": sum(outcomes)}


def test_internal_error_writes_nothing(store: EmbeddedTimestream, write: Any, query: Any) -> None:
    store.set_faults(internal=1.0, operations=["WriteRecords"])
    with pytest.raises(write.exceptions.InternalServerException) as error:
        write.write_records(DatabaseName="db", TableName="tbl", Records=[make_record()])
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert scalar_rows(query, 'SELECT count(*) FROM "db"."tbl"') == [["0"]]  # Query is not faulted
    assert store.stats()["records_written"] == 0
    post_faults(store, {})
    write.write_records(DatabaseName="db", TableName="tbl", Records=[make_record()])
    assert store.stats()["records_written"] == 1


def test_latency(store: EmbeddedTimestream, write: Any, query: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The configured latency is slept before each faulted operation, and only before those."""
    slept: list[float] = []

    class Clock:  # the emulator's ``time``, its sleeps recorded (and still slept)
        def sleep(self, seconds: float) -> None:
            slept.append(seconds)
            time.sleep(seconds)

        def __getattr__(self, name: str) -> Any:
            return getattr(time, name)

    monkeypatch.setattr(faults, "time", Clock())
    store.set_faults(latency_ms=150, operations=["Query"])
    query.query(QueryString="SELECT 1")
    assert slept == [0.15]
    write.describe_endpoints()
    assert slept == [0.15], "an operation outside 'operations' was delayed"


def test_hang_trips_the_client_timeout_and_writes_nothing(
    store: EmbeddedTimestream, credentials: dict[str, str], query: Any
) -> None:
    store.set_faults(hang=1.0, hang_seconds=1.5, operations=["WriteRecords"])
    config = Config(read_timeout=0.3, connect_timeout=1, retries={"total_max_attempts": 1})
    impatient, _ = boto3_clients(store, *next(iter(credentials.items())), config)
    with pytest.raises(ReadTimeoutError):
        impatient.write_records(DatabaseName="db", TableName="tbl", Records=[make_record()])
    store.set_faults()
    assert store.stats()["faults_injected"] == {"hang": 1}
    assert scalar_rows(query, 'SELECT count(*) FROM "db"."tbl"') == [["0"]]


def test_admin_faults_get_and_validation(store: EmbeddedTimestream) -> None:
    applied = post_faults(
        store,
        {
            "throttle": 0.1,
            "internal": 0.05,
            "hang": 0.01,
            "hang_seconds": 40,
            "latency_ms": 20,
            "seed": 1,
            "operations": ["WriteRecords"],
        },
    )
    with urllib.request.urlopen(store.url + "/__admin/faults") as response:
        assert json.load(response) == applied
    assert applied["operations"] == ["WriteRecords"] and applied["throttle"] == 0.1
    for bad in ({"throttle": 2}, {"throttle": 0.6, "internal": 0.6}, {"unknown": 1}):
        with pytest.raises(urllib.error.HTTPError) as error:
            post_faults(store, bad)
        assert error.value.code == 400
    assert post_faults(store, {})["throttle"] == 0.0
