"""The WriteRecords path: per-record checks, table quotas, version semantics, bulk insert.

Record identity is (dimension names and values, measure name, time). Versions follow the
AWS documentation: a higher ``Version`` replaces the stored value (or just the version when
the value is the same); the same version with the same value is accepted as a no-op; the same
version with a different value, or any lower version, is rejected with ``ExistingVersion``.
Rejected records never stop the other records of the call from being written.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from emulator import validation as rules
from emulator.dialect import quote_ident
from emulator.records import MergedRecord, WriteRequest
from emulator.store import KEY_COLUMN, VALUE_COLUMN, VALUE_COLUMNS, VERSION_COLUMN, Store, TableInfo
from emulator.validation import RecordProblem


@dataclass(frozen=True)
class Prepared:
    """A record that passed every check that does not depend on stored data."""

    index: int
    key: str
    dimensions: dict[str, str]
    measure_name: str
    value_type: str
    value: Any
    typed_value: str
    time_ns: int
    version: int
    own_bytes: int
    magnetic: bool


@dataclass
class IngestResult:
    """What happened to each record of one call."""

    written: list[Prepared] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, index: int, problem: RecordProblem) -> None:
        """Add a ``RejectedRecords`` entry."""
        entry: dict[str, Any] = {"RecordIndex": index, "Reason": problem.reason}
        if problem.existing_version is not None:
            entry["ExistingVersion"] = problem.existing_version
        self.rejected.append(entry)


def ingest(store: Store, request: WriteRequest, allow_colon_in_measure_name: bool) -> IngestResult:
    """Write what can be written; returns the written records and the rejections, by index."""
    table = store.table(request.database, request.table)
    result = IngestResult()
    now_ns = time.time_ns()
    prepared: list[Prepared] = []
    for index, record in enumerate(request.records):
        try:
            prepared.append(prepare(index, record, table, allow_colon_in_measure_name, now_ns))
        except RecordProblem as problem:
            result.reject(index, problem)
    with store.lock:
        accepted = _apply_table_quotas(prepared, table, result)
        rows, replaced = _resolve_versions(store, table, accepted, result)
        _persist(store, table, rows, replaced)
    result.rejected.sort(key=lambda entry: entry["RecordIndex"])
    return result


def prepare(index: int, record: MergedRecord, table: TableInfo, allow_colon: bool, now_ns: int) -> Prepared:
    """Check one merged record against names, quotas, value type and the time window."""
    if not record.dimensions:
        raise RecordProblem("At least one dimension is required for a record.")
    for name, dimension_value in record.dimensions:
        rules.check_dimension_name(name)
        rules.check_dimension_value(name, dimension_value)
    if record.measure_name is None:
        raise RecordProblem("MeasureName is required for a record.")
    rules.check_measure_name(record.measure_name, allow_colon)
    if record.measure_value is None:
        raise RecordProblem("MeasureValue is required for a record of a scalar MeasureValueType.")
    value, canonical = rules.parse_measure_value(record.value_type, record.measure_value)
    if record.size_bytes > rules.MAX_RECORD_BYTES:
        raise RecordProblem(f"Record size {record.size_bytes} bytes exceeds the maximum record size of 2 KB.")
    if record.time is None:
        raise RecordProblem("Time is required for a record.")
    time_ns = rules.time_to_ns(record.time, record.time_unit)
    magnetic = rules.check_time_window(time_ns, now_ns, table.memory_hours, table.magnetic_days, table.magnetic_writes)
    dimensions = dict(record.dimensions)
    return Prepared(
        index=index,
        key=identity_key(dimensions, record.measure_name, time_ns),
        dimensions=dimensions,
        measure_name=record.measure_name,
        value_type=record.value_type,
        value=value,
        typed_value=f"{record.value_type}:{canonical}",
        time_ns=time_ns,
        version=record.version,
        own_bytes=record.own_bytes,
        magnetic=magnetic,
    )


def identity_key(dimensions: dict[str, str], measure_name: str, time_ns: int) -> str:
    """A fixed-size digest of the record identity (dimension order does not matter)."""
    payload = json.dumps([sorted(dimensions.items()), measure_name, time_ns], ensure_ascii=False)
    return hashlib.blake2b(payload.encode("utf-8"), digest_size=16).hexdigest()


def _apply_table_quotas(prepared: list[Prepared], table: TableInfo, result: IngestResult) -> list[Prepared]:
    """128 dimension names and 8192 measure names per table, counting this call's additions in order."""
    known = {name.lower(): name for name in table.dimensions}
    measures = set(table.measure_names)
    accepted = []
    for record in prepared:
        try:
            new_dims = _new_dimensions(record, known)
            if len(known) + len(new_dims) > rules.MAX_DIMENSIONS_PER_TABLE:
                raise RecordProblem(
                    f"The maximum number of dimensions per table ({rules.MAX_DIMENSIONS_PER_TABLE}) has been exceeded."
                )
            if record.measure_name not in measures and len(measures) >= rules.MAX_MEASURE_NAMES_PER_TABLE:
                raise RecordProblem(
                    f"The maximum number of measure names per table ({rules.MAX_MEASURE_NAMES_PER_TABLE}) "
                    "has been exceeded."
                )
        except RecordProblem as problem:
            result.reject(record.index, problem)
            continue
        known.update((name.lower(), name) for name in new_dims)
        measures.add(record.measure_name)
        accepted.append(record)
    return accepted


def _new_dimensions(record: Prepared, known: dict[str, str]) -> list[str]:
    """Dimension names the table has not seen; DuckDB column names are case-insensitive."""
    new = []
    for name in record.dimensions:
        existing = known.get(name.lower())
        if existing is None:
            new.append(name)
        elif existing != name:
            raise RecordProblem(
                f"Dimension name '{name}' differs only in case from existing dimension '{existing}' "
                "(not supported by the embedded store)."
            )
    return new


def _resolve_versions(
    store: Store, table: TableInfo, records: list[Prepared], result: IngestResult
) -> tuple[dict[str, Prepared], set[str]]:
    """Apply version semantics against stored rows and earlier records of the same call."""
    stored = _lookup(store, table, records)
    final: dict[str, Prepared] = {}
    for record in records:
        pending = final.get(record.key)
        current = (pending.version, pending.typed_value) if pending else stored.get(record.key)
        try:
            changed = _decide(current, record)
        except RecordProblem as problem:
            result.reject(record.index, problem)
            continue
        result.written.append(record)
        if changed:
            final[record.key] = record
    replaced = {key for key in final if key in stored}
    return final, replaced


def _decide(current: tuple[int, str] | None, record: Prepared) -> bool:
    """True when the record must be stored, False for an accepted no-op; raises on a conflict."""
    if current is None:
        return True
    version, typed_value = current
    if record.version > version:
        return True
    if record.version == version and record.typed_value == typed_value:
        return False
    if record.version == version:
        raise RecordProblem(
            "A record already exists with the same time, dimensions, measure name, and record version. "
            "A higher record version must be specified in order to update the measure value.",
            existing_version=version,
        )
    raise RecordProblem(
        f"The record version {record.version} is lower than the existing version {version}. "
        "A higher version is required to update the measure value.",
        existing_version=version,
    )


def _lookup(store: Store, table: TableInfo, records: list[Prepared]) -> dict[str, tuple[int, str]]:
    """Stored (version, typed value) for the identities in this call, narrowed by time."""
    if not records:
        return {}
    times = [r.time_ns for r in records]
    key, version, value = (quote_ident(c) for c in (KEY_COLUMN, VERSION_COLUMN, VALUE_COLUMN))
    rows = store.execute(
        f"SELECT {key}, {version}, {value} FROM {table.physical} "
        f'WHERE "time" BETWEEN make_timestamp_ns($1) AND make_timestamp_ns($2) '
        f"AND {key} IN (SELECT unnest($3::VARCHAR[]))",
        [min(times), max(times), list({r.key for r in records})],
    ).fetchall()
    return {key: (version, value) for key, version, value in rows}


def _persist(store: Store, table: TableInfo, rows: dict[str, Prepared], replaced: set[str]) -> None:
    """Add missing columns, drop replaced rows, then insert everything in one statement."""
    if not rows:
        return
    records = list(rows.values())
    new_dims = sorted({name for r in records for name in r.dimensions} - set(table.dimensions))
    have = set(table.value_columns)
    new_types = [
        t for t in VALUE_COLUMNS if VALUE_COLUMNS[t][0] not in have and any(r.value_type == t for r in records)
    ]
    store.add_columns(table, new_dims, new_types)
    if replaced:
        store.execute(
            f"DELETE FROM {table.physical} WHERE {quote_ident(KEY_COLUMN)} IN (SELECT unnest($1::VARCHAR[]))",
            [list(replaced)],
        )
    _insert(store, table, records)
    table.measure_names.update(r.measure_name for r in records)


def _insert(store: Store, table: TableInfo, records: list[Prepared]) -> None:
    """One INSERT ... SELECT unnest(...) per call: far faster than executemany in DuckDB."""
    columns: list[tuple[str, str, list[Any]]] = [
        (KEY_COLUMN, "VARCHAR", [r.key for r in records]),
        (VERSION_COLUMN, "BIGINT", [r.version for r in records]),
        (VALUE_COLUMN, "VARCHAR", [r.typed_value for r in records]),
        ("measure_name", "VARCHAR", [r.measure_name for r in records]),
        ("time", "BIGINT", [r.time_ns for r in records]),
    ]
    used_dims = sorted({name for r in records for name in r.dimensions})
    columns += [(name, "VARCHAR", [r.dimensions.get(name) for r in records]) for name in used_dims]
    for value_type in sorted({r.value_type for r in records}):
        column, sql_type = VALUE_COLUMNS[value_type]
        columns.append((column, sql_type, [r.value if r.value_type == value_type else None for r in records]))
    names = ", ".join(quote_ident(name) for name, _, _ in columns)
    selects = []
    for i, (name, sql_type, _) in enumerate(columns, start=1):
        expression = f"unnest(${i}::{sql_type}[])"
        selects.append(f"make_timestamp_ns({expression})" if name == "time" else expression)
    store.execute(
        f"INSERT INTO {table.physical} ({names}) SELECT {', '.join(selects)}", [values for _, _, values in columns]
    )
