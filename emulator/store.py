"""DuckDB-backed catalog of Timestream databases and tables.

Layout: each Timestream database is a DuckDB schema holding one *view* per table, named
exactly like the table, so Timestream SQL (``"db"."tbl"``) runs unchanged. The view shows the
Timestream columns in Timestream's order (dimensions, ``measure_name``, ``time``, then one
``measure_value::<type>`` column per type ever written). The rows live in a physical table
``"__emulator_data"."db/tbl"`` that also carries the hidden identity key, version and
canonical value used for version semantics; ``/`` cannot occur in Timestream names, so the
physical names never collide. Catalog metadata lives in ``"__emulator_meta"``.

Locks, always taken in this order: ``lock`` guards the catalog and each table's in-memory
version index (on the write path it is held only for in-memory work); ``_db_lock`` serializes
every statement on the shared write connection. WriteRecords rows are written by group commit
(``stage``, then ``commit``): one waiting call writes the batches of every call staged so far
with one append per table, atomically, so concurrent calls share DuckDB's per-statement cost
(milliseconds for a wide table) instead of queueing for one statement each. Reads use their own
cursors (DuckDB MVCC), so long queries do not block ingestion.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

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
_VALUE_TYPES = {column: value_type for value_type, (column, _) in VALUE_COLUMNS.items()}
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
    # identity key (16-byte digest) -> (version, typed value); None until first needed (see ``Store.versions``)
    versions: dict[bytes, tuple[int, str]] | None = field(default=None, repr=False, compare=False)
    appender: _Appender | None = field(default=None, repr=False, compare=False)  # used under ``_db_lock``

    @property
    def physical(self) -> str:
        """Quoted name of the table holding the rows."""
        return f"{quote_ident(DATA_SCHEMA)}.{quote_ident(self.database + '/' + self.name)}"

    @property
    def view(self) -> str:
        """Quoted Timestream-visible name."""
        return f"{quote_ident(self.database)}.{quote_ident(self.name)}"


class CommitError(RuntimeError):
    """The group commit that held a call's rows failed (answered as an internal error)."""


class StagedRow(Protocol):
    """What the write path stages per row (``ingest.Prepared``)."""

    key: bytes
    version: int
    typed_value: str
    measure_name: str
    time_ns: int
    dimensions: dict[str, str]
    value_type: str
    value: Any


@dataclass
class WriteBatch:
    """Rows of one WriteRecords call, staged under ``lock`` and written by ``Store.commit``.

    ``replaced`` are identity keys whose stored row goes first; their times lie within
    ``replaced_times`` (identity includes the time, so the old row has the new row's time).
    """

    table: TableInfo
    rows: Sequence[StagedRow]
    replaced: list[bytes] = field(default_factory=list)
    replaced_times: tuple[int, int] = (0, 0)
    done: bool = False
    error: BaseException | None = None


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
        self._db_lock = threading.Lock()
        self._pending: list[WriteBatch] = []
        self._pending_lock = threading.Lock()
        self._commit_turn = threading.Condition(threading.Lock())
        self._leading = False  # a caller of ``commit`` is writing a group
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
        with self.lock, self._db_lock:
            self._flush_pending()
            for info in self._tables.values():
                info.appender = None
            self._db.close()

    def read_cursor(self) -> duckdb.DuckDBPyConnection:
        """A new connection to the same database for one query (used by one thread at a time)."""
        return self._db.cursor()

    # -- write path ----------------------------------------------------------------------------

    def versions(self, info: TableInfo) -> dict[bytes, tuple[int, str]]:
        """The table's identity -> (version, typed value) index, loaded from the rows on first use.

        Caller holds ``lock``. Written rows are added by the write path as it stages them, so
        finding a stored version never needs SQL (nor a scan that grows with the table).
        """
        if info.versions is None:
            key, version, value = (quote_ident(c) for c in (KEY_COLUMN, VERSION_COLUMN, VALUE_COLUMN))
            with self._db_lock:
                self._flush_pending()  # staged rows of other calls must be in the table first
                rows = self._db.execute(f"SELECT {key}, {version}, {value} FROM {info.physical}").fetchall()
                names = self._db.execute(f"SELECT DISTINCT measure_name FROM {info.physical}").fetchall()
            info.versions = {bytes.fromhex(k): (v, typed) for k, v, typed in rows}
            info.measure_names = {name for (name,) in names}  # (after a failed commit: without its names)
        return info.versions

    def stage(self, batch: WriteBatch) -> None:
        """Queue one call's rows for the next group commit (caller holds ``lock``, to keep call order)."""
        with self._pending_lock:
            self._pending.append(batch)

    def commit(self, batch: WriteBatch) -> None:
        """Return once ``batch`` is written: by this thread, with every batch staged so far, or by another.

        At most one caller writes at a time (the leader); the others wait for it and then find their
        batch written too, or lead the next group. Concurrent calls thus share one append each.
        """
        with self._commit_turn:
            while not batch.done and self._leading:
                self._commit_turn.wait()
            lead = not batch.done
            self._leading = self._leading or lead
        if lead:
            try:
                with self._db_lock:
                    self._flush_pending()
            finally:
                with self._commit_turn:
                    self._leading = False
                    self._commit_turn.notify_all()
        if batch.error is not None:
            raise CommitError(f"Storing the rows of {batch.table.view} failed.") from batch.error

    def _flush_pending(self) -> None:
        """Write every staged batch, atomically: deletes, then one append per table (holds ``_db_lock``)."""
        with self._pending_lock:
            batches, self._pending = self._pending, []
        if not batches:
            return
        by_table: dict[int, list[WriteBatch]] = {}
        for batch in batches:
            by_table.setdefault(id(batch.table), []).append(batch)
        # One statement needs no explicit transaction (and saves its BEGIN and COMMIT round trips).
        several = len(by_table) > 1 or any(b.replaced for b in batches)
        try:
            if several:
                self._db.execute("BEGIN TRANSACTION")
            for group in by_table.values():
                self._write_group(group)
            if several:
                self._db.execute("COMMIT")
        except BaseException as error:
            if several:
                with contextlib.suppress(duckdb.Error):
                    self._db.execute("ROLLBACK")
            for batch in batches:
                batch.table.versions = None  # rebuilt from the rows that really are stored
                batch.error = error
        finally:
            for batch in batches:
                batch.done = True

    def _write_group(self, batches: list[WriteBatch]) -> None:
        """The staged batches of one table, in call order: drop replaced rows, then append the new ones."""
        table = batches[0].table
        replaced = [b for b in batches if b.replaced]
        if replaced:
            times = [t for b in replaced for t in b.replaced_times]
            # The time bounds let DuckDB skip row groups by their min/max instead of reading every key.
            self._db.execute(
                f'DELETE FROM {table.physical} WHERE "time" BETWEEN make_timestamp_ns($1) AND make_timestamp_ns($2) '
                f"AND {quote_ident(KEY_COLUMN)} IN (SELECT unnest($3::VARCHAR[]))",
                [min(times), max(times), [key.hex() for b in replaced for key in b.replaced]],
            )
        if len(batches) == 1:
            rows = batches[0].rows
        else:  # a later call of the group may replace a row an earlier one wrote: keep the last
            final: dict[bytes, StagedRow] = {}
            for batch in batches:
                for row in batch.rows:
                    final[row.key] = row
            rows = list(final.values())
        if rows:
            self._append(table, rows)

    def _append(self, table: TableInfo, rows: Sequence[StagedRow]) -> None:
        """DuckDB's appender, kept per table: about half the cost per value of binding lists to an INSERT."""
        columns = (KEY_COLUMN, VERSION_COLUMN, VALUE_COLUMN, "measure_name", "time", *table.dimensions)
        columns += tuple(table.value_columns)
        if table.appender is None or table.appender.columns != columns:
            table.appender = _Appender(self._db, table, columns)
        appender = table.appender
        position = appender.position
        value_at = appender.value_at
        blank = appender.blank
        times = _TimestampText()
        values: list[list[Any]] = []
        for row in rows:
            # Most rows carry a few of the table's dimensions: fill those, the rest stay NULL.
            line = blank.copy()
            line[0:5] = row.key.hex(), row.version, row.typed_value, row.measure_name, times(row.time_ns)
            for name, value in row.dimensions.items():
                line[position[name]] = value
            line[value_at[row.value_type]] = row.value
            values.append(line)
        try:
            appender.appender.append_rows(values)
            appender.appender.flush()
        except BaseException:
            table.appender = None  # it may still hold some of the rows
            raise

    def bulk_append(self, info: TableInfo, select: str) -> None:
        """Append the rows of a SELECT in one statement: millions of rows in seconds (tests, benchmarks).

        The SELECT yields Timestream columns: dimensions, ``measure_name``, ``time`` and
        ``measure_value::<type>``; missing columns are added. Each row gets an identity key of
        its own, not WriteRecords' record identity, so a later write of the same record adds a
        row rather than a version.
        """
        with self._db_lock:
            columns = self._db.sql(select).columns
        fixed = {*_VALUE_TYPES, "measure_name", "time"}
        with self.lock:
            dimensions = [c for c in columns if c not in fixed and c not in info.dimensions]
            value_types = [_VALUE_TYPES[c] for c in columns if c in _VALUE_TYPES and c not in info.value_columns]
            self.add_columns(info, dimensions, value_types)
            with self._db_lock:
                self._flush_pending()
                self._db.execute(
                    f"INSERT INTO {info.physical} BY NAME SELECT *, {_loaded_hidden(columns)} FROM ({select})"
                )
                names = self._db.execute(f"SELECT DISTINCT measure_name FROM {info.physical}").fetchall()
            info.versions = None  # rebuilt from the rows on the next write
            info.measure_names = {name for (name,) in names}

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
            with self._db_lock:
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
            with self._db_lock:
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
            info = TableInfo(database, name, memory_hours, magnetic_days, magnetic_writes, now, now, versions={})
            with self._db_lock:
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
            with self._db_lock:
                self._db.execute(
                    f"UPDATE {quote_ident(META_SCHEMA)}.tables SET memory_hours = ?, magnetic_days = ?, "
                    "magnetic_writes = ?, updated = ? WHERE database = ? AND name = ?",
                    [memory_hours, magnetic_days, magnetic_writes, info.updated, info.database, info.name],
                )

    def delete_table(self, info: TableInfo) -> None:
        """Drop a table, its view and its rows."""
        with self.lock:
            with self._db_lock:
                self._flush_pending()  # calls staged before the delete still get their answer
                self._db.execute(f"DROP VIEW IF EXISTS {info.view}")
                self._db.execute(f"DROP TABLE IF EXISTS {info.physical}")
                self._db.execute(
                    f"DELETE FROM {quote_ident(META_SCHEMA)}.tables WHERE database = ? AND name = ?",
                    [info.database, info.name],
                )
            del self._tables[(info.database, info.name)]

    def add_columns(self, info: TableInfo, dimensions: list[str], value_types: list[str]) -> None:
        """Add dimension and measure-value columns on first use (caller holds ``lock``).

        Columns are added at once (not with the rows' group commit) so that ``dimensions`` and
        ``value_columns`` always name columns that exist; a column without rows yet is harmless.
        """
        if not dimensions and not value_types:
            return
        with self._db_lock:
            for name in dimensions:
                self._db.execute(f"ALTER TABLE {info.physical} ADD COLUMN {quote_ident(name)} VARCHAR")
                info.dimensions.append(name)
            for value_type in value_types:
                column, sql_type = VALUE_COLUMNS[value_type]
                self._db.execute(f"ALTER TABLE {info.physical} ADD COLUMN {quote_ident(column)} {sql_type}")
                info.value_columns.append(column)
            self._refresh_view(info)

    def _refresh_view(self, info: TableInfo) -> None:
        columns = [*info.dimensions, "measure_name", "time", *info.value_columns]
        select = ", ".join(quote_ident(c) for c in columns)
        self._db.execute(f"CREATE OR REPLACE VIEW {info.view} AS SELECT {select} FROM {info.physical}")


class _Appender:
    """A DuckDB appender for all of a table's columns, with where each dimension and value type goes.

    Creating one costs about a millisecond, so each table keeps its own until its columns change
    (DuckDB binds the columns again at every flush, so a reused appender never writes stale ones).
    """

    def __init__(self, db: duckdb.DuckDBPyConnection, table: TableInfo, columns: tuple[str, ...]) -> None:
        self.columns = columns
        self.appender = db.appender(table.physical, columns=list(columns))
        index = {name: i for i, name in enumerate(columns)}
        self.position = {name: index[name] for name in table.dimensions}
        self.value_at = {t: index[column] for t, (column, _) in VALUE_COLUMNS.items() if column in index}
        self.blank: list[Any] = [None] * len(columns)


class _TimestampText:
    """Epoch nanoseconds as the text the appender casts to TIMESTAMP_NS (exact; cached per second)."""

    def __init__(self) -> None:
        self._texts: dict[int, str] = {}  # the rows of a scrape share their time
        self._seconds: dict[int, str] = {}

    def __call__(self, time_ns: int) -> str:
        text = self._texts.get(time_ns)
        if text is None:
            seconds, fraction = divmod(time_ns, 1_000_000_000)
            whole = self._seconds.get(seconds)
            if whole is None:
                whole = self._seconds[seconds] = (_EPOCH + dt.timedelta(seconds=seconds)).isoformat(sep=" ")
            text = self._texts[time_ns] = f"{whole}.{fraction:09d}"
        return text


_EPOCH = dt.datetime(1970, 1, 1)


def _loaded_hidden(columns: Sequence[str]) -> str:
    """The hidden columns of bulk-appended rows: a random key, version 1, the typed value."""
    typed = ", ".join(
        f"'{_VALUE_TYPES[c]}:' || CAST({quote_ident(c)} AS VARCHAR)" for c in columns if c in _VALUE_TYPES
    )
    return (
        f"replace(CAST(uuid() AS VARCHAR), '-', '') AS {quote_ident(KEY_COLUMN)}, "
        f"1 AS {quote_ident(VERSION_COLUMN)}, coalesce({typed}) AS {quote_ident(VALUE_COLUMN)}"
    )
