"""DuckDB-backed catalog of Timestream databases and tables.

Layout: each Timestream database is a DuckDB schema holding one *view* per table, named
exactly like the table, so Timestream SQL (``"db"."tbl"``) runs unchanged. The view shows the
Timestream columns in Timestream's order (dimensions, ``measure_name``, ``time``, then one
``measure_value::<type>`` column per type ever written). The rows live in a physical table
``"__emulator_data"."db/tbl"`` that also carries the hidden identity key, version and
canonical value used for version semantics; ``/`` cannot occur in Timestream names, so the
physical names never collide. Catalog metadata lives in ``"__emulator_meta"``.

All writes go through one connection under ``lock``; reads use their own cursors (DuckDB
MVCC), so long queries do not block ingestion.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from emulator import dialect
from emulator.dialect import quote_ident
from emulator.errors import conflict, not_found, validation
from emulator.validation import check_database_name_for_engine

DATA_SCHEMA = "__emulator_data"
META_SCHEMA = "__emulator_meta"
KEY_COLUMN = "__ts:key"
VERSION_COLUMN = "__ts:version"
VALUE_COLUMN = "__ts:value"
HIDDEN_COLUMNS = (KEY_COLUMN, VERSION_COLUMN, VALUE_COLUMN)
VALUE_COLUMNS = {
    "DOUBLE": ("measure_value::double", "DOUBLE"),
    "BIGINT": ("measure_value::bigint", "BIGINT"),
    "VARCHAR": ("measure_value::varchar", "VARCHAR"),
    "BOOLEAN": ("measure_value::boolean", "BOOLEAN"),
}
ACCOUNT_ID = "000000000000"
DATABASE_FILE = "timestream-emulator.duckdb"


@dataclass
class TableInfo:
    """Settings and current columns of one table (columns are mutated under the store lock)."""

    database: str
    name: str
    memory_hours: int
    magnetic_days: int
    magnetic_writes: bool
    created: float
    updated: float
    dimensions: list[str] = field(default_factory=list)
    value_columns: list[str] = field(default_factory=list)
    measure_names: set[str] = field(default_factory=set)

    @property
    def physical(self) -> str:
        """Quoted name of the table holding the rows."""
        return f"{quote_ident(DATA_SCHEMA)}.{quote_ident(self.database + '/' + self.name)}"

    @property
    def view(self) -> str:
        """Quoted Timestream-visible name."""
        return f"{quote_ident(self.database)}.{quote_ident(self.name)}"


@dataclass
class DatabaseInfo:
    """One Timestream database."""

    name: str
    kms_key_id: str
    created: float
    updated: float


class Store:
    """The catalog and the DuckDB connection; data dir ``None`` keeps everything in memory."""

    def __init__(self, data_dir: Path | None, region: str = "us-east-1") -> None:
        self.region = region
        self.lock = threading.RLock()
        path = ":memory:"
        if data_dir is not None:
            data_dir.mkdir(parents=True, exist_ok=True)
            path = str(data_dir / DATABASE_FILE)
        self._db = duckdb.connect(path)
        self._databases: dict[str, DatabaseInfo] = {}
        self._tables: dict[tuple[str, str], TableInfo] = {}
        self._setup()

    def _setup(self) -> None:
        self._db.execute("SET GLOBAL TimeZone = 'UTC'")
        for schema in (DATA_SCHEMA, META_SCHEMA):
            self._db.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
        self._db.execute(
            f"CREATE TABLE IF NOT EXISTS {quote_ident(META_SCHEMA)}.databases "
            "(name VARCHAR, kms_key_id VARCHAR, created DOUBLE, updated DOUBLE)"
        )
        self._db.execute(
            f"CREATE TABLE IF NOT EXISTS {quote_ident(META_SCHEMA)}.tables (database VARCHAR, name VARCHAR, "
            "memory_hours BIGINT, magnetic_days BIGINT, magnetic_writes BOOLEAN, created DOUBLE, updated DOUBLE)"
        )
        dialect.install_functions(self._db)
        self._load_catalog()
        # Queries must never touch the file system (read_csv, COPY, ATTACH ...).
        self._db.execute("SET enable_external_access = false")

    def _load_catalog(self) -> None:
        meta = quote_ident(META_SCHEMA)
        for name, kms, created, updated in self._db.execute(f"SELECT * FROM {meta}.databases").fetchall():
            self._databases[name] = DatabaseInfo(name, kms, created, updated)
        for row in self._db.execute(f"SELECT * FROM {meta}.tables").fetchall():
            info = TableInfo(row[0], row[1], int(row[2]), int(row[3]), bool(row[4]), row[5], row[6])
            self._load_columns(info)
            self._tables[(info.database, info.name)] = info

    def _load_columns(self, info: TableInfo) -> None:
        rows = self._db.execute(
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? ORDER BY column_index",
            [DATA_SCHEMA, f"{info.database}/{info.name}"],
        ).fetchall()
        fixed = {*HIDDEN_COLUMNS, "measure_name", "time"}
        for (column,) in rows:
            if column.startswith("measure_value::"):
                info.value_columns.append(column)
            elif column not in fixed:
                info.dimensions.append(column)
        names = self._db.execute(f"SELECT DISTINCT measure_name FROM {info.physical}").fetchall()
        info.measure_names = {name for (name,) in names}

    def close(self) -> None:
        """Flush and close the database file."""
        with self.lock:
            self._db.close()

    def read_cursor(self) -> duckdb.DuckDBPyConnection:
        """A new connection to the same database for one query (thread-confined)."""
        return self._db.cursor()

    def execute(self, sql: str, params: list[Any] | None = None) -> duckdb.DuckDBPyConnection:
        """Run a write-side statement on the shared connection (caller holds ``lock``)."""
        return self._db.execute(sql, params or [])

    # -- databases ---------------------------------------------------------------------------

    def database(self, name: str) -> DatabaseInfo:
        """Look a database up or raise ``ResourceNotFoundException``."""
        info = self._databases.get(name)
        if info is None:
            raise not_found(f"The database {name} does not exist.")
        return info

    def databases(self) -> list[DatabaseInfo]:
        """All databases, by name."""
        return sorted(self._databases.values(), key=lambda d: d.name)

    def create_database(self, name: str, kms_key_id: str | None = None) -> DatabaseInfo:
        """Create a database (a DuckDB schema); ``ConflictException`` if it exists."""
        check_database_name_for_engine(name)
        with self.lock:
            if name in self._databases:
                raise conflict(f"The database {name} already exists.")
            now = time.time()
            kms = kms_key_id or f"arn:aws:kms:{self.region}:{ACCOUNT_ID}:key/emulator"
            self._db.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(name)}")
            self._db.execute(
                f"INSERT INTO {quote_ident(META_SCHEMA)}.databases VALUES (?, ?, ?, ?)", [name, kms, now, now]
            )
            info = self._databases[name] = DatabaseInfo(name, kms, now, now)
            return info

    def delete_database(self, name: str) -> None:
        """Drop an empty database; AWS refuses to delete one that still has tables."""
        with self.lock:
            self.database(name)
            if self.tables(name):
                raise validation(f"The database {name} still has tables; delete them first.")
            self._db.execute(f"DROP SCHEMA IF EXISTS {quote_ident(name)} CASCADE")
            self._db.execute(f"DELETE FROM {quote_ident(META_SCHEMA)}.databases WHERE name = ?", [name])
            del self._databases[name]

    # -- tables ------------------------------------------------------------------------------

    def table(self, database: str, name: str) -> TableInfo:
        """Look a table up or raise ``ResourceNotFoundException``."""
        self.database(database)
        info = self._tables.get((database, name))
        if info is None:
            raise not_found(f"The table {name} does not exist.")
        return info

    def tables(self, database: str | None = None) -> list[TableInfo]:
        """Tables of one database (or all), sorted."""
        found = [t for t in self._tables.values() if database is None or t.database == database]
        return sorted(found, key=lambda t: (t.database, t.name))

    def create_table(
        self, database: str, name: str, memory_hours: int, magnetic_days: int, magnetic_writes: bool
    ) -> TableInfo:
        """Create the physical table and its view; ``ConflictException`` if it exists."""
        with self.lock:
            self.database(database)
            if (database, name) in self._tables:
                raise conflict(f"The table {name} already exists in database {database}.")
            now = time.time()
            info = TableInfo(database, name, memory_hours, magnetic_days, magnetic_writes, now, now)
            self._db.execute(
                f"CREATE TABLE {info.physical} ({quote_ident(KEY_COLUMN)} VARCHAR, "
                f"{quote_ident(VERSION_COLUMN)} BIGINT, {quote_ident(VALUE_COLUMN)} VARCHAR, "
                'measure_name VARCHAR, "time" TIMESTAMP_NS)'
            )
            self._db.execute(
                f"INSERT INTO {quote_ident(META_SCHEMA)}.tables VALUES (?, ?, ?, ?, ?, ?, ?)",
                [database, name, memory_hours, magnetic_days, magnetic_writes, now, now],
            )
            self._refresh_view(info)
            self._tables[(database, name)] = info
            return info

    def update_table(self, info: TableInfo, memory_hours: int, magnetic_days: int, magnetic_writes: bool) -> None:
        """Change retention and magnetic-write settings."""
        with self.lock:
            info.memory_hours, info.magnetic_days, info.magnetic_writes = memory_hours, magnetic_days, magnetic_writes
            info.updated = time.time()
            self._db.execute(
                f"UPDATE {quote_ident(META_SCHEMA)}.tables SET memory_hours = ?, magnetic_days = ?, "
                "magnetic_writes = ?, updated = ? WHERE database = ? AND name = ?",
                [memory_hours, magnetic_days, magnetic_writes, info.updated, info.database, info.name],
            )

    def delete_table(self, info: TableInfo) -> None:
        """Drop a table, its view and its rows."""
        with self.lock:
            self._db.execute(f"DROP VIEW IF EXISTS {info.view}")
            self._db.execute(f"DROP TABLE IF EXISTS {info.physical}")
            self._db.execute(
                f"DELETE FROM {quote_ident(META_SCHEMA)}.tables WHERE database = ? AND name = ?",
                [info.database, info.name],
            )
            del self._tables[(info.database, info.name)]

    def add_columns(self, info: TableInfo, dimensions: list[str], value_types: list[str]) -> None:
        """Add dimension and measure-value columns on first use (caller holds ``lock``)."""
        for name in dimensions:
            self._db.execute(f"ALTER TABLE {info.physical} ADD COLUMN {quote_ident(name)} VARCHAR")
            info.dimensions.append(name)
        for value_type in value_types:
            column, sql_type = VALUE_COLUMNS[value_type]
            self._db.execute(f"ALTER TABLE {info.physical} ADD COLUMN {quote_ident(column)} {sql_type}")
            info.value_columns.append(column)
        if dimensions or value_types:
            self._refresh_view(info)

    def _refresh_view(self, info: TableInfo) -> None:
        columns = [*info.dimensions, "measure_name", "time", *info.value_columns]
        select = ", ".join(quote_ident(c) for c in columns)
        self._db.execute(f"CREATE OR REPLACE VIEW {info.view} AS SELECT {select} FROM {info.physical}")


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
