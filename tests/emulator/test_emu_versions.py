"""Version semantics: identity = (dimensions, measure name, time)."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.testing import make_record, now_ms, scalar_rows


def values(query: Any) -> list[list[str | None]]:
    return scalar_rows(query, 'SELECT instance, "measure_value::double" FROM "db"."tbl" ORDER BY instance')


def put(write: Any, *records: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        write.write_records(DatabaseName="db", TableName="tbl", Records=list(records))
    except write.exceptions.RejectedRecordsException as error:
        return error.response["RejectedRecords"]
    return []


def test_identical_record_is_accepted_again(write: Any, query: Any) -> None:
    rec = make_record(dims={"instance": "a"}, value="1.5")
    assert put(write, rec) == []
    assert put(write, rec) == []
    assert values(query) == [["a", "1.5"]]


def test_same_identity_different_value_is_rejected_with_existing_version(write: Any, query: Any) -> None:
    t = now_ms()
    put(write, make_record(time_ms=t, dims={"instance": "a"}, value="1"))
    (entry,) = put(write, make_record(time_ms=t, dims={"instance": "a"}, value="2"))
    assert entry["ExistingVersion"] == 1 and "version" in entry["Reason"]
    assert values(query) == [["a", "1.0"]]


def test_higher_version_replaces_and_lower_is_rejected(write: Any, query: Any) -> None:
    t = now_ms()
    put(write, make_record(time_ms=t, dims={"instance": "a"}, value="1"))
    assert put(write, make_record(time_ms=t, dims={"instance": "a"}, value="2", Version=5)) == []
    assert values(query) == [["a", "2.0"]]
    (entry,) = put(write, make_record(time_ms=t, dims={"instance": "a"}, value="2", Version=3))
    assert entry["ExistingVersion"] == 5 and "lower" in entry["Reason"]
    assert put(write, make_record(time_ms=t, dims={"instance": "a"}, value="2", Version=5)) == []


def test_other_records_of_the_call_are_written(write: Any, query: Any) -> None:
    t = now_ms()
    put(write, make_record(time_ms=t, dims={"instance": "a"}, value="1"))
    entries = put(
        write,
        make_record(time_ms=t, dims={"instance": "b"}, value="1"),
        make_record(time_ms=t, dims={"instance": "a"}, value="9"),
        make_record(time_ms=t, dims={"instance": "c"}, value="3"),
    )
    assert [e["RecordIndex"] for e in entries] == [1]
    assert values(query) == [["a", "1.0"], ["b", "1.0"], ["c", "3.0"]]


def test_conflict_inside_one_call(write: Any, query: Any) -> None:
    t = now_ms()
    entries = put(
        write,
        make_record(time_ms=t, dims={"instance": "a"}, value="1"),
        make_record(time_ms=t, dims={"instance": "a"}, value="1"),
        make_record(time_ms=t, dims={"instance": "a"}, value="2"),
        make_record(time_ms=t, dims={"instance": "a"}, value="3", Version=2),
    )
    assert [(e["RecordIndex"], e["ExistingVersion"]) for e in entries] == [(2, 1)]
    assert values(query) == [["a", "3.0"]]


@pytest.mark.parametrize("order", [("a", "b"), ("b", "a")])
def test_dimension_order_does_not_change_identity(write: Any, order: tuple[str, str]) -> None:
    t = now_ms()
    dims = {"instance": "x", "job": "y"}
    put(write, make_record(time_ms=t, dims=dims, value="1"))
    reordered = dict(reversed(list(dims.items()))) if order == ("b", "a") else dims
    assert put(write, make_record(time_ms=t, dims=reordered, value="2"))


def test_type_is_part_of_the_value(write: Any) -> None:
    t = now_ms()
    put(write, make_record(time_ms=t, value="1"))
    assert put(write, make_record(time_ms=t, value="1", MeasureValueType="BIGINT"))
    assert put(write, make_record(time_ms=t, value="1.0")) == []  # same double, other spelling
