"""What the backfill relies on: retention settings as DescribeTable tells them, UpdateTable, a table
check that changes nothing, and identical records written again accepted (not rejected, not doubled)."""

from __future__ import annotations

from typing import Any

from emulator.server import EmbeddedTimestream
from emulator.testing import make_record, now_ms, scalar_rows


def test_table_exists_changes_nothing(store: EmbeddedTimestream, write: Any) -> None:
    write.update_table(
        DatabaseName="db",
        TableName="tbl",
        RetentionProperties={"MemoryStoreRetentionPeriodInHours": 2, "MagneticStoreRetentionPeriodInDays": 10},
    )
    assert store.table_exists("db", "tbl")
    assert not store.table_exists("db", "other") and not store.table_exists("nodb", "tbl")
    table = write.describe_table(DatabaseName="db", TableName="tbl")["Table"]
    assert table["RetentionProperties"] == {
        "MemoryStoreRetentionPeriodInHours": 2,
        "MagneticStoreRetentionPeriodInDays": 10,
    }
    assert table["MagneticStoreWriteProperties"] == {"EnableMagneticStoreWrites": False}


def test_update_table_keeps_what_it_is_not_given(write: Any) -> None:
    write.update_table(
        DatabaseName="db", TableName="tbl", MagneticStoreWriteProperties={"EnableMagneticStoreWrites": True}
    )
    write.update_table(
        DatabaseName="db",
        TableName="tbl",
        RetentionProperties={"MemoryStoreRetentionPeriodInHours": 12, "MagneticStoreRetentionPeriodInDays": 30},
    )
    table = write.describe_table(DatabaseName="db", TableName="tbl")["Table"]
    assert table["MagneticStoreWriteProperties"]["EnableMagneticStoreWrites"] is True
    assert table["RetentionProperties"]["MemoryStoreRetentionPeriodInHours"] == 12


def test_a_window_written_twice_is_accepted_and_stored_once(write: Any, query: Any) -> None:
    """A rerun of a backfill window sends the same calls again: every record is accepted, none doubled."""
    time_ms = now_ms()
    records = [
        make_record(value=str(i / 3), time_ms=time_ms - i * 1000, dims={"job": "j", "i": str(i)}) for i in range(50)
    ]
    for _ in range(2):
        answer = write.write_records(DatabaseName="db", TableName="tbl", Records=records)
        assert answer["RecordsIngested"]["Total"] == 50
    assert scalar_rows(query, 'SELECT COUNT(*) FROM "db"."tbl"') == [["50"]]
