"""Databases, tables and endpoints through the Write API."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.server import EmbeddedTimestream


def test_create_and_describe_database_and_table(write: Any) -> None:
    created = write.create_database(DatabaseName="metrics")["Database"]
    assert created["DatabaseName"] == "metrics"
    assert created["Arn"].endswith(":database/metrics")
    table = write.create_table(
        DatabaseName="metrics",
        TableName="prom",
        RetentionProperties={"MemoryStoreRetentionPeriodInHours": 24, "MagneticStoreRetentionPeriodInDays": 365},
        MagneticStoreWriteProperties={"EnableMagneticStoreWrites": True},
    )["Table"]
    assert table["TableStatus"] == "ACTIVE"
    described = write.describe_table(DatabaseName="metrics", TableName="prom")["Table"]
    assert described["RetentionProperties"] == {
        "MemoryStoreRetentionPeriodInHours": 24,
        "MagneticStoreRetentionPeriodInDays": 365,
    }
    assert described["MagneticStoreWriteProperties"]["EnableMagneticStoreWrites"] is True
    assert write.describe_database(DatabaseName="metrics")["Database"]["TableCount"] == 1


def test_default_retention_is_6_hours_and_73000_days(write: Any) -> None:
    write.create_database(DatabaseName="d2")
    table = write.create_table(DatabaseName="d2", TableName="t2")["Table"]
    assert table["RetentionProperties"] == {
        "MemoryStoreRetentionPeriodInHours": 6,
        "MagneticStoreRetentionPeriodInDays": 73000,
    }
    assert table["MagneticStoreWriteProperties"]["EnableMagneticStoreWrites"] is False


def test_list_databases_and_tables(write: Any) -> None:
    write.create_database(DatabaseName="other")
    assert [d["DatabaseName"] for d in write.list_databases()["Databases"]] == ["db", "other"]
    assert [t["TableName"] for t in write.list_tables(DatabaseName="db")["Tables"]] == ["tbl"]
    first = write.list_databases(MaxResults=1)
    assert len(first["Databases"]) == 1 and first["NextToken"]


def test_conflicts_and_missing_resources(write: Any) -> None:
    with pytest.raises(write.exceptions.ConflictException):
        write.create_database(DatabaseName="db")
    with pytest.raises(write.exceptions.ConflictException):
        write.create_table(DatabaseName="db", TableName="tbl")
    with pytest.raises(write.exceptions.ResourceNotFoundException):
        write.describe_database(DatabaseName="nope")
    with pytest.raises(write.exceptions.ResourceNotFoundException):
        write.describe_table(DatabaseName="db", TableName="nope")
    with pytest.raises(write.exceptions.ResourceNotFoundException):
        write.create_table(DatabaseName="nope", TableName="tbl")


@pytest.mark.parametrize(
    "retention",
    [
        {"MemoryStoreRetentionPeriodInHours": 0, "MagneticStoreRetentionPeriodInDays": 1},
        {"MemoryStoreRetentionPeriodInHours": 8767, "MagneticStoreRetentionPeriodInDays": 1},
        {"MemoryStoreRetentionPeriodInHours": 1, "MagneticStoreRetentionPeriodInDays": 73001},
    ],
)
def test_retention_out_of_range_is_validation_error(unchecked_write: Any, retention: dict[str, int]) -> None:
    with pytest.raises(unchecked_write.exceptions.ValidationException):
        unchecked_write.create_table(DatabaseName="db", TableName="t3", RetentionProperties=retention)


def test_invalid_names_are_refused(write: Any) -> None:
    with pytest.raises(write.exceptions.ValidationException):
        write.create_database(DatabaseName="bad name")
    with pytest.raises(write.exceptions.ValidationException):
        write.create_table(DatabaseName="db", TableName="x" * 257)


def test_update_and_delete_table(write: Any) -> None:
    write.update_table(
        DatabaseName="db", TableName="tbl", MagneticStoreWriteProperties={"EnableMagneticStoreWrites": True}
    )
    assert write.describe_table(DatabaseName="db", TableName="tbl")["Table"]["MagneticStoreWriteProperties"][
        "EnableMagneticStoreWrites"
    ]
    with pytest.raises(write.exceptions.ValidationException):
        write.delete_database(DatabaseName="db")  # still has a table
    write.delete_table(DatabaseName="db", TableName="tbl")
    write.delete_database(DatabaseName="db")
    assert write.list_databases()["Databases"] == []


def test_describe_endpoints_on_both_services_returns_own_address(
    store: EmbeddedTimestream, clients: tuple[Any, Any]
) -> None:
    for client in clients:
        (endpoint,) = client.describe_endpoints()["Endpoints"]
        assert endpoint["Address"] == f"127.0.0.1:{store.port}"
        assert endpoint["CachePeriodInMinutes"] > 0


def test_create_database_and_table_is_idempotent(store: EmbeddedTimestream, write: Any) -> None:
    store.create_database_and_table("db", "tbl", memory_retention_hours=12, magnetic_writes=True)
    store.create_database_and_table("db", "tbl", memory_retention_hours=12, magnetic_writes=True)
    table = write.describe_table(DatabaseName="db", TableName="tbl")["Table"]
    assert table["RetentionProperties"]["MemoryStoreRetentionPeriodInHours"] == 12
    assert table["MagneticStoreWriteProperties"]["EnableMagneticStoreWrites"] is True


def test_unknown_operation(store: EmbeddedTimestream, write: Any) -> None:
    import botocore.exceptions

    write.meta.service_model.operation_model("DescribeEndpoints")  # sanity: model loaded
    with pytest.raises(botocore.exceptions.ClientError) as error:
        write.list_batch_load_tasks()
    assert error.value.response["Error"]["Code"] == "UnknownOperationException"
