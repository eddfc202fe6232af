"""WriteRecords validation: quotas, names, values, time window, CommonAttributes."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.server import EmbeddedTimestream
from emulator.testing import boto3_clients, make_record, now_ms, scalar_rows

HOUR_MS = 3600 * 1000


def write_one(write: Any, rec: dict[str, Any], table: str = "tbl") -> list[dict[str, Any]]:
    """Write one record; returns its RejectedRecords entries ([] when written)."""
    try:
        write.write_records(DatabaseName="db", TableName=table, Records=[rec])
    except write.exceptions.RejectedRecordsException as error:
        return error.response["RejectedRecords"]
    return []


def count(query: Any) -> int:
    return int(str(scalar_rows(query, 'SELECT count(*) FROM "db"."tbl"')[0][0]))


def test_common_attributes_are_merged_into_every_record(write: Any, query: Any) -> None:
    t = now_ms()
    write.write_records(
        DatabaseName="db",
        TableName="tbl",
        CommonAttributes={
            "Dimensions": [{"Name": "job", "Value": "api"}],
            "MeasureName": "up",
            "Time": str(t),
            "MeasureValueType": "DOUBLE",
        },
        Records=[
            {"Dimensions": [{"Name": "instance", "Value": "a"}], "MeasureValue": "1"},
            {"Dimensions": [{"Name": "instance", "Value": "b"}], "MeasureValue": "0", "MeasureName": "down"},
        ],
    )
    got = scalar_rows(
        query,
        'SELECT job, instance, measure_name, to_milliseconds(time), "measure_value::double" '
        'FROM "db"."tbl" ORDER BY instance',
    )
    assert got == [["api", "a", "up", str(t), "1.0"], ["api", "b", "down", str(t), "0.0"]]


def test_dimension_in_both_common_and_record_is_validation_error(write: Any, query: Any) -> None:
    with pytest.raises(write.exceptions.ValidationException):
        write.write_records(
            DatabaseName="db",
            TableName="tbl",
            CommonAttributes={"Dimensions": [{"Name": "job", "Value": "api"}]},
            Records=[make_record(dims={"instance": "a"}), make_record(dims={"job": "other"})],
        )
    assert count(query) == 0  # nothing of the call is written


def test_more_than_100_records_is_validation_error(unchecked_write: Any, query: Any) -> None:
    records = [make_record(dims={"i": str(i)}) for i in range(101)]
    with pytest.raises(unchecked_write.exceptions.ValidationException):
        unchecked_write.write_records(DatabaseName="db", TableName="tbl", Records=records)
    assert count(query) == 0
    unchecked_write.write_records(DatabaseName="db", TableName="tbl", Records=records[:100])
    assert count(query) == 100


def test_unknown_database_or_table(write: Any) -> None:
    for database, table in (("nope", "tbl"), ("db", "nope")):
        with pytest.raises(write.exceptions.ResourceNotFoundException):
            write.write_records(DatabaseName=database, TableName=table, Records=[make_record()])


@pytest.mark.parametrize(
    "rec, fragment",
    [
        (make_record(dims={"d" * 61: "v"}), "d" * 61),
        (make_record(dims={"é" * 31: "v"}), "60 bytes"),  # 62 UTF-8 bytes, 31 characters
        (make_record(dims={"job": "v" * 2049}), "2048"),
        (make_record(measure="m" * 257), "256"),
        (make_record(measure="é" * 129), "256"),
        (make_record(dims={"measure_value": "v"}), "reserved"),
        (make_record(dims={"ts_non_existent_col": "v"}), "reserved"),
        (make_record(dims={"time": "v"}), "reserved"),
        (make_record(dims={"ts_x": "v"}), "prefix"),
        (make_record(dims={"measure_name_x": "v"}), "prefix"),
        (make_record(dims={"a:b": "v"}), "':'"),
        (make_record(measure="time"), "reserved"),
        (make_record(measure="ts_up"), "prefix"),
        (make_record(measure="measure_name2"), "prefix"),
        (make_record(dims={}), "At least one dimension"),
        (make_record(value="NaN"), "NaN"),
        (make_record(value="Infinity"), "DOUBLE"),
        (make_record(value="-inf"), "DOUBLE"),
        (make_record(value="1e999"), "out of range"),
        (make_record(value="abc"), "DOUBLE"),
        (make_record(value="1.5", MeasureValueType="BIGINT"), "BIGINT"),
        (make_record(value="9223372036854775808", MeasureValueType="BIGINT"), "BIGINT"),
        (make_record(value="yes", MeasureValueType="BOOLEAN"), "BOOLEAN"),
        (make_record(dims={"job": ""}), "empty"),
    ],
)
def test_record_rules_reject_only_the_bad_record(write: Any, query: Any, rec: dict[str, Any], fragment: str) -> None:
    good = make_record(dims={"instance": "ok"})
    with pytest.raises(write.exceptions.RejectedRecordsException) as error:
        write.write_records(DatabaseName="db", TableName="tbl", Records=[good, rec])
    (entry,) = error.value.response["RejectedRecords"]
    assert entry["RecordIndex"] == 1 and fragment in entry["Reason"]
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 419
    assert count(query) == 1  # the good record of the call is written


def test_limits_are_inclusive(write: Any, query: Any) -> None:
    t = now_ms()
    ok = [
        make_record(time_ms=t, dims={"d" * 60: "v"}),
        make_record(time_ms=t, dims={"job": "v" * 1700}),
        make_record(time_ms=t, measure="m" * 256),
        make_record(time_ms=t, value="-9223372036854775808", MeasureValueType="BIGINT", measure="big"),
        make_record(time_ms=t, value="TRUE", MeasureValueType="BOOLEAN", measure="flag"),
        make_record(time_ms=t, value="hello world", MeasureValueType="VARCHAR", measure="text"),
        make_record(time_ms=t, value="5e-324", measure="tiny"),
    ]
    write.write_records(DatabaseName="db", TableName="tbl", Records=ok)
    assert count(query) == len(ok)


def test_record_size_limit_is_2_kb(write: Any) -> None:
    # 8 (time) + 3 + 3 ("job") + 2 + 8 (double) + value bytes: exactly 2048 is accepted, 2049 is not.
    fixed = 8 + len("job") + len("up") + 8
    assert write_one(write, make_record(dims={"job": "v" * (2048 - fixed)})) == []
    (entry,) = write_one(write, make_record(dims={"job": "w" * (2049 - fixed)}))
    assert "2 KB" in entry["Reason"]


def test_128_dimension_names_per_table(write: Any) -> None:
    t = now_ms()
    for start in range(0, 128, 32):
        dims = {f"d{i}": "v" for i in range(start, start + 32)}
        write.write_records(DatabaseName="db", TableName="tbl", Records=[make_record(time_ms=t, dims=dims)])
    (entry,) = write_one(write, make_record(dims={"d_new": "v"}))
    assert "128" in entry["Reason"]
    assert write_one(write, make_record(dims={"d5": "x"})) == []  # existing names still work


def test_time_window_memory_store(write: Any) -> None:
    now = now_ms()
    assert write_one(write, make_record(time_ms=now - 6 * HOUR_MS + 60_000)) == []
    assert write_one(write, make_record(time_ms=now + 14 * 60_000)) == []
    assert "time range" in write_one(write, make_record(time_ms=now - 6 * HOUR_MS - 60_000))[0]["Reason"]
    assert "time range" in write_one(write, make_record(time_ms=now + 16 * 60_000))[0]["Reason"]


def test_magnetic_writes_accept_older_records(store: EmbeddedTimestream, write: Any) -> None:
    store.create_database_and_table(
        "db", "mag", memory_retention_hours=1, magnetic_retention_days=2, magnetic_writes=True
    )
    now = now_ms()
    day_ms = 24 * HOUR_MS
    result = write.write_records(
        DatabaseName="db", TableName="mag", Records=[make_record(time_ms=now - day_ms), make_record(time_ms=now)]
    )
    assert result["RecordsIngested"] == {"Total": 2, "MemoryStore": 1, "MagneticStore": 1}
    assert write_one(write, make_record(time_ms=now - 3 * day_ms), table="mag")  # beyond magnetic retention
    assert write_one(write, make_record(time_ms=now + 16 * 60_000), table="mag")  # future limit still applies


@pytest.mark.parametrize(
    "unit, scale",
    [("SECONDS", 1 / 1000), ("MILLISECONDS", 1), ("MICROSECONDS", 1000), ("NANOSECONDS", 1_000_000)],
)
def test_time_units(write: Any, query: Any, unit: str, scale: float) -> None:
    t = (now_ms() // 1000) * 1000
    write.write_records(
        DatabaseName="db", TableName="tbl", Records=[make_record(time_ms=int(t * scale), TimeUnit=unit)]
    )
    assert scalar_rows(query, 'SELECT to_milliseconds(time) FROM "db"."tbl"') == [[str(t)]]


def test_nanosecond_time_is_kept(write: Any, query: Any) -> None:
    t_ns = now_ms() * 1_000_000 + 123_456
    write.write_records(DatabaseName="db", TableName="tbl", Records=[make_record(time_ms=t_ns, TimeUnit="NANOSECONDS")])
    (row,) = scalar_rows(query, 'SELECT time, to_nanoseconds(time) FROM "db"."tbl"')
    assert row[1] == str(t_ns) and str(row[0]).endswith(str(t_ns)[-9:])


@pytest.mark.parametrize("allow", [True, False])
def test_colon_in_measure_name_switch(credentials: dict[str, str], allow: bool) -> None:
    with EmbeddedTimestream(credentials=credentials, allow_colon_in_measure_name=allow) as store:
        store.create_database_and_table("db", "tbl")
        write, _ = boto3_clients(store, *next(iter(credentials.items())))
        entries = write_one(write, make_record(measure="job:http_requests:rate5m"))
        if allow:
            assert entries == []
        else:
            assert "job:http_requests:rate5m" in entries[0]["Reason"]


def test_model_constraints_are_validation_errors(unchecked_write: Any) -> None:
    for bad in (
        make_record(MeasureValueType="FLOAT"),
        make_record(TimeUnit="DAYS"),
        make_record(Version=0),
        make_record(value="x" * 2049, MeasureValueType="VARCHAR"),
        {**make_record(), "Dimensions": [{"Name": "a", "Value": "1"}, {"Name": "a", "Value": "2"}]},
    ):
        with pytest.raises(unchecked_write.exceptions.ValidationException):
            unchecked_write.write_records(DatabaseName="db", TableName="tbl", Records=[bad])
