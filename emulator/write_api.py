"""Timestream Write API operations: request JSON in, response JSON out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulator.errors import ApiError, validation
from emulator.ingest import ingest
from emulator.metering import Meter, call_billed_bytes
from emulator.payload import Payload
from emulator.records import parse_write_request
from emulator.store import ACCOUNT_ID, DatabaseInfo, Store, TableInfo
from emulator.validation import check_resource_name, check_retention

Handler = Callable[[dict[str, Any], str], Payload]
DEFAULT_MEMORY_HOURS = 6
DEFAULT_MAGNETIC_DAYS = 73000
ENDPOINT_CACHE_MINUTES = 1440


@dataclass
class WriteApi:
    """The write-side operations, bound to one store."""

    store: Store
    meter: Meter
    address: Callable[[], str]
    allow_colon_in_measure_name: bool = True

    def operations(self) -> dict[str, Handler]:
        """Operation name -> handler."""
        return {
            "CreateDatabase": self.create_database,
            "DescribeDatabase": self.describe_database,
            "ListDatabases": self.list_databases,
            "DeleteDatabase": self.delete_database,
            "CreateTable": self.create_table,
            "DescribeTable": self.describe_table,
            "ListTables": self.list_tables,
            "UpdateTable": self.update_table,
            "DeleteTable": self.delete_table,
            "WriteRecords": self.write_records,
            "DescribeEndpoints": self.describe_endpoints,
        }

    def describe_endpoints(self, body: dict[str, Any], principal: str) -> dict[str, Any]:
        """This server is its own (only) endpoint, for both services."""
        return {"Endpoints": [{"Address": self.address(), "CachePeriodInMinutes": ENDPOINT_CACHE_MINUTES}]}

    def create_database(self, body: dict[str, Any], principal: str) -> dict[str, Any]:
        name = check_resource_name("database", body.get("DatabaseName"))
        info = self.store.create_database(name, body.get("KmsKeyId"))
        return {"Database": describe_database(info, 0, self.store.region)}

    def describe_database(self, body: dict[str, Any], principal: str) -> dict[str, Any]:
        info = self.store.database(str(body.get("DatabaseName")))
        return {"Database": describe_database(info, len(self.store.tables(info.name)), self.store.region)}

    def list_databases(self, body: dict[str, Any], principal: str) -> dict[str, Any]:
        items = [
            describe_database(d, len(self.store.tables(d.name)), self.store.region) for d in self.store.databases()
        ]
        return _paged("Databases", items, body)

    def delete_database(self, body: dict[str, Any], principal: str) -> dict[str, Any]:
        self.store.delete_database(str(body.get("DatabaseName")))
        return {}

    def create_table(self, body: dict[str, Any], principal: str) -> dict[str, Any]:
        database = check_resource_name("database", body.get("DatabaseName"))
        table = check_resource_name("table", body.get("TableName"))
        memory, magnetic = _retention(body.get("RetentionProperties"))
        info = self.store.create_table(database, table, memory, magnetic, _magnetic_writes(body))
        return {"Table": describe_table(info, self.store.region)}

    def describe_table(self, body: dict[str, Any], principal: str) -> dict[str, Any]:
        info = self.store.table(str(body.get("DatabaseName")), str(body.get("TableName")))
        return {"Table": describe_table(info, self.store.region)}

    def list_tables(self, body: dict[str, Any], principal: str) -> dict[str, Any]:
        database = body.get("DatabaseName")
        if database is not None:
            self.store.database(str(database))
        items = [describe_table(t, self.store.region) for t in self.store.tables(database)]
        return _paged("Tables", items, body)

    def update_table(self, body: dict[str, Any], principal: str) -> dict[str, Any]:
        info = self.store.table(str(body.get("DatabaseName")), str(body.get("TableName")))
        memory, magnetic = info.memory_hours, info.magnetic_days
        if body.get("RetentionProperties") is not None:
            memory, magnetic = _retention(body["RetentionProperties"])
        writes = _magnetic_writes(body) if "MagneticStoreWriteProperties" in body else info.magnetic_writes
        self.store.update_table(info, memory, magnetic, writes)
        return {"Table": describe_table(info, self.store.region)}

    def delete_table(self, body: dict[str, Any], principal: str) -> dict[str, Any]:
        self.store.delete_table(self.store.table(str(body.get("DatabaseName")), str(body.get("TableName"))))
        return {}

    def write_records(self, body: dict[str, Any], principal: str) -> dict[str, Any]:
        """Write what is valid; any rejection is reported as one ``RejectedRecordsException``."""
        request = parse_write_request(body)
        result = ingest(self.store, request, self.allow_colon_in_measure_name)
        billed = call_billed_bytes(request.common_bytes, [r.own_bytes for r in result.written])
        self.meter.count_write(len(result.written), len(result.rejected), billed)
        if result.rejected:
            # AWS answers RejectedRecordsException with HTTP 419 (seen in SDK error dumps).
            raise ApiError(
                "RejectedRecordsException",
                "One or more records have been rejected. See RejectedRecords for details.",
                419,
                RejectedRecords=result.rejected,
            )
        magnetic = sum(1 for r in result.written if r.magnetic)
        ingested = {
            "Total": len(result.written),
            "MemoryStore": len(result.written) - magnetic,
            "MagneticStore": magnetic,
        }
        return {"RecordsIngested": ingested}


def describe_database(info: DatabaseInfo, table_count: int, region: str) -> dict[str, Any]:
    """The ``Database`` structure of the Write API."""
    return {
        "Arn": f"arn:aws:timestream:{region}:{ACCOUNT_ID}:database/{info.name}",
        "DatabaseName": info.name,
        "TableCount": table_count,
        "KmsKeyId": info.kms_key_id,
        "CreationTime": info.created,
        "LastUpdatedTime": info.updated,
    }


def describe_table(info: TableInfo, region: str) -> dict[str, Any]:
    """The ``Table`` structure of the Write API."""
    return {
        "Arn": f"arn:aws:timestream:{region}:{ACCOUNT_ID}:database/{info.database}/table/{info.name}",
        "TableName": info.name,
        "DatabaseName": info.database,
        "TableStatus": "ACTIVE",
        "RetentionProperties": {
            "MemoryStoreRetentionPeriodInHours": info.memory_hours,
            "MagneticStoreRetentionPeriodInDays": info.magnetic_days,
        },
        "CreationTime": info.created,
        "LastUpdatedTime": info.updated,
        "MagneticStoreWriteProperties": {"EnableMagneticStoreWrites": info.magnetic_writes},
        "Schema": {"CompositePartitionKey": [{"Type": "MEASURE"}]},
    }


def _retention(raw: object) -> tuple[int, int]:
    if raw is None:
        return DEFAULT_MEMORY_HOURS, DEFAULT_MAGNETIC_DAYS
    if not isinstance(raw, dict):
        raise validation("RetentionProperties must be a structure.")
    return check_retention(raw.get("MemoryStoreRetentionPeriodInHours"), raw.get("MagneticStoreRetentionPeriodInDays"))


def _magnetic_writes(body: dict[str, Any]) -> bool:
    properties = body.get("MagneticStoreWriteProperties") or {}
    return bool(properties.get("EnableMagneticStoreWrites", False))


def _paged(key: str, items: list[dict[str, Any]], body: dict[str, Any]) -> dict[str, Any]:
    """List pagination with a plain offset token."""
    try:
        start = int(body.get("NextToken") or 0)
    except ValueError:
        raise validation("The NextToken is invalid.") from None
    size = int(body.get("MaxResults") or 20)
    response: dict[str, Any] = {key: items[start : start + size]}
    if start + size < len(items):
        response["NextToken"] = str(start + size)
    return response
