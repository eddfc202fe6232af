"""Write metering: bytes per record, common attributes once per call, 1 KiB units per call."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from emulator.server import EmbeddedTimestream
from emulator.testing import make_record, now_ms

MEASURE = "node_cpu_seconds_total"  # 22 bytes


def instance(i: int) -> str:
    return f"host-{i:02d}.example.com:9100"  # 24 bytes


def test_units_without_common_attributes(store: EmbeddedTimestream, write: Any) -> None:
    t = now_ms()
    records = [make_record(MEASURE, "1.5", t, {"job": "node-exporter", "instance": instance(i)}) for i in range(40)]
    write.write_records(DatabaseName="db", TableName="tbl", Records=records)
    # per record: time 8 + "job" 3 + "node-exporter" 13 + "instance" 8 + value 24 + measure 22 + double 8 = 86
    stats = store.stats()
    assert stats["billed_bytes"] == 40 * 86 == 3440
    assert stats["billed_write_units"] == 4  # ceil(3440 / 1024)
    assert stats["records_written"] == 40 and stats["write_calls"] == 1


def test_common_attributes_count_once_and_lower_the_units(store: EmbeddedTimestream, write: Any) -> None:
    t = now_ms()
    write.write_records(
        DatabaseName="db",
        TableName="tbl",
        CommonAttributes={
            "Dimensions": [{"Name": "job", "Value": "node-exporter"}],
            "MeasureName": MEASURE,
            "MeasureValueType": "DOUBLE",
            "Time": str(t),
        },
        Records=[
            {"Dimensions": [{"Name": "instance", "Value": instance(i)}], "MeasureValue": "1.5"} for i in range(40)
        ],
    )
    # common once: "job" 3 + "node-exporter" 13 + measure 22 + time 8 = 46
    # per record: "instance" 8 + value 24 + double 8 = 40
    stats = store.stats()
    assert stats["billed_bytes"] == 46 + 40 * 40 == 1646
    assert stats["billed_write_units"] == 2  # ceil(1646 / 1024), against 4 without common attributes


def test_units_round_up_per_call(store: EmbeddedTimestream, write: Any) -> None:
    for i in range(3):
        write.write_records(DatabaseName="db", TableName="tbl", Records=[make_record("up", "1", None, {"i": str(i)})])
    # each: 8 + "i" 1 + 1 + "up" 2 + 8 = 20 bytes, one unit per call
    assert (store.stats()["billed_bytes"], store.stats()["billed_write_units"]) == (60, 3)


def test_value_sizes_by_type(store: EmbeddedTimestream, write: Any) -> None:
    t = now_ms()
    write.write_records(
        DatabaseName="db",
        TableName="tbl",
        Records=[
            make_record("b", "true", t, {"k": "v"}, MeasureValueType="BOOLEAN"),  # 8 + 2 + 1 + 1 = 12
            make_record("n", "42", t, {"k": "v"}, MeasureValueType="BIGINT"),  # 8 + 2 + 1 + 8 = 19
            make_record("s", "héllo", t, {"k": "v"}, MeasureValueType="VARCHAR"),  # 8 + 2 + 1 + 6 = 17
        ],
    )
    assert store.stats()["billed_bytes"] == 12 + 19 + 17


def test_rejected_records_are_not_billed(store: EmbeddedTimestream, write: Any) -> None:
    with pytest.raises(write.exceptions.RejectedRecordsException):
        write.write_records(
            DatabaseName="db",
            TableName="tbl",
            Records=[make_record("up", "1", None, {"i": "1"}), make_record("up", "NaN")],
        )
    stats = store.stats()
    assert (stats["records_written"], stats["records_rejected"], stats["billed_bytes"]) == (1, 1, 20)


def test_all_rejected_call_bills_nothing(store: EmbeddedTimestream, write: Any) -> None:
    with pytest.raises(write.exceptions.RejectedRecordsException):
        write.write_records(DatabaseName="db", TableName="tbl", Records=[make_record("up", "NaN")])
    assert (store.stats()["billed_write_units"], store.stats()["write_calls"]) == (0, 1)


def test_stats_over_http_and_reset(store: EmbeddedTimestream, write: Any, query: Any) -> None:
    write.write_records(DatabaseName="db", TableName="tbl", Records=[make_record()])
    query.query(QueryString="SELECT 1")
    with urllib.request.urlopen(store.url + "/__admin/stats") as response:
        stats = json.load(response)
    assert stats["write_calls"] == 1 and stats["query_calls"] == 1 and stats["billed_write_units"] == 1
    request = urllib.request.Request(store.url + "/__admin/stats/reset", data=b"", method="POST")
    with urllib.request.urlopen(request) as response:
        assert json.load(response)["write_calls"] == 0
    assert store.stats()["calls_by_access_key"] == {}
