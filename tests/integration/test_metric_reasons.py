"""The reason dimension of the sample metrics is bounded and still says something: each reason the
connector really gives (records.translate) and each rejection the embedded store really returns maps
to its own category, never "other"; any other text maps into the fixed list."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector import metrics
from connector.timestream.records import translate
from emulator.server import EmbeddedTimestream
from emulator.testing import boto3_clients
from prompb import types_pb2

KEY_ID, SECRET = "AKIAREASONSTEST00001", "reasons-secret"
NOW_MS = int(time.time() * 1000)
LONG = "x" * 3000


def series(labels: Sequence[tuple[str, str]], histogram: bool = False) -> types_pb2.TimeSeries:
    ts = types_pb2.TimeSeries()
    for name, value in labels:
        ts.labels.add(name=name, value=value)
    if histogram:
        ts.histograms.add(timestamp=NOW_MS)
    else:
        ts.samples.add(timestamp=NOW_MS, value=1.0)
    return ts


INVALID = {
    "no_metric_name": [("job", "a")],
    "empty_label_name": [("", "a"), ("__name__", "up")],
    "duplicate_label": [("__name__", "up"), ("job", "a"), ("job", "b")],
    "too_many_labels": [("__name__", "up"), *((f"l{i:03}", "v") for i in range(200))],
    "label_name_too_long": [("__name__", "up"), ("metric_name_" + "n" * 80, "v")],
    "label_value_too_long": [("__name__", "up"), ("job", LONG)],
    "series_too_large": [("__name__", "up"), *((f"l{i:02}", "v" * 40) for i in range(60))],
}


@pytest.mark.parametrize("expected", sorted(INVALID))
def test_each_invalid_reason_the_connector_gives_has_its_category(expected: str) -> None:
    (reason,) = translate([series(INVALID[expected])]).invalid
    assert metrics.invalid_reason(reason) == expected, reason


def test_native_histograms_have_their_category() -> None:
    (reason,) = translate([series([("__name__", "up"), ("job", "a")], histogram=True)]).invalid
    assert metrics.invalid_reason(reason) == "native_histogram"


@pytest.fixture(scope="module")
def write_client() -> Iterator[Any]:
    with EmbeddedTimestream(credentials={KEY_ID: SECRET}) as store:
        store.create_database_and_table("db", "tbl", memory_retention_hours=1)
        yield boto3_clients(store, KEY_ID, SECRET)[0]


def rejection(client: Any, *records: dict[str, Any]) -> str:
    try:
        client.write_records(DatabaseName="db", TableName="tbl", Records=list(records))
    except client.exceptions.RejectedRecordsException as exc:
        (rejected,) = exc.response["RejectedRecords"]
        return str(rejected["Reason"])
    raise AssertionError("the store accepted the records")


def record(time_ms: int, value: str) -> dict[str, Any]:
    return {"Dimensions": [{"Name": "job", "Value": "a"}], "MeasureName": "up", "MeasureValue": value,
            "MeasureValueType": "DOUBLE", "Time": str(time_ms), "TimeUnit": "MILLISECONDS"}


def test_rejections_from_the_store_have_their_category(write_client: Any) -> None:
    ahead = rejection(write_client, record(NOW_MS + 86_400_000, "1"))
    assert metrics.rejected_reason(ahead) == "outside_retention", ahead
    old = rejection(write_client, record(NOW_MS - 3 * 3_600_000, "1"))
    assert metrics.rejected_reason(old) == "outside_retention", old
    write_client.write_records(DatabaseName="db", TableName="tbl", Records=[record(NOW_MS - 1000, "1")])
    conflict = rejection(write_client, record(NOW_MS - 1000, "2"))
    assert metrics.rejected_reason(conflict) == "conflicting_version", conflict


KNOWN = {name for _, name in metrics.INVALID_REASONS} | {name for _, name in metrics.REJECTED_REASONS}


@given(st.text(max_size=300))
def test_any_text_maps_into_the_fixed_lists(text: str) -> None:
    assert metrics.invalid_reason(text) in KNOWN | {metrics.OTHER}
    assert metrics.rejected_reason(text) in KNOWN | {metrics.OTHER}


def test_a_quoted_label_does_not_change_the_category() -> None:
    reason = "label name longer than Timestream's 60 bytes: 'series without a metric name native histograms'"
    assert metrics.invalid_reason(reason) == "label_name_too_long"
