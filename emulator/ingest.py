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
from emulator.records import MergedRecord, WriteRequest
from emulator.store import VALUE_COLUMNS, Store, TableInfo, WriteBatch
from emulator.validation import RecordProblem


@dataclass(slots=True)
class Prepared:
    """A record that passed every check that does not depend on stored data."""

    index: int
    key: bytes
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
    """Write what can be written; returns the written records and the rejections, by index.

    Only in-memory work runs under ``store.lock`` (quotas, and versions against the table's
    index); the rows are then written by the store's group commit, together with those of any
    concurrent calls, and this returns once they are stored.
    """
    table = store.table(request.database, request.table)
    result = IngestResult()
    now_ns = time.time_ns()
    prepared: list[Prepared] = []
    for index, record in enumerate(request.records):
        try:
            prepared.append(prepare(index, record, table, allow_colon_in_measure_name, now_ns))
        except RecordProblem as problem:
            result.reject(index, problem)
    batch = None
    with store.lock:
        table = store.table(request.database, request.table)  # it may have been deleted meanwhile
        accepted = _apply_table_quotas(prepared, table, result)
        if accepted:
            batch = _resolve_versions(store, table, accepted, result)
    if batch is not None:
        store.commit(batch)
    result.rejected.sort(key=lambda entry: entry["RecordIndex"])
    return result


def prepare(index: int, record: MergedRecord, table: TableInfo, allow_colon: bool, now_ns: int) -> Prepared:
    """Check one merged record against names, quotas, value type and the time window."""
    key_prefix = _series(record.dimensions, record.measure_name, allow_colon)
    if record.measure_value is None:
        raise RecordProblem("MeasureValue is required for a record of a scalar MeasureValueType.")
    value, canonical = rules.parse_measure_value(record.value_type, record.measure_value)
    if record.size_bytes > rules.MAX_RECORD_BYTES:
        raise RecordProblem(f"Record size {record.size_bytes} bytes exceeds the maximum record size of 2 KB.")
    if record.time is None:
        raise RecordProblem("Time is required for a record.")
    time_ns = rules.time_to_ns(record.time, record.time_unit)
    magnetic = rules.check_time_window(time_ns, now_ns, table.memory_hours, table.magnetic_days, table.magnetic_writes)
    return Prepared(
        index,
        _digest(f"{key_prefix}{time_ns}]"),
        dict(record.dimensions),
        record.measure_name,  # type: ignore[arg-type]  # checked by _series
        record.value_type,
        value,
        f"{record.value_type}:{canonical}",
        time_ns,
        record.version,
        record.own_bytes,
        magnetic,
    )


# A batch of a scrape repeats the series (dimensions + measure name) of the previous one with a new
# time: their checks and most of their identity encoding are worked out once per series. Bounded:
# cleared when full, and only series whose text is short enough to be a valid record are kept.
_SERIES_CACHE: dict[tuple[Any, ...], tuple[str | None, str]] = {}
_SERIES_CACHE_SIZE = 1 << 14
_SERIES_CACHE_MAX_CHARS = 2 * rules.MAX_RECORD_BYTES


def _series(dimensions: tuple[tuple[str, str], ...], measure_name: str | None, allow_colon: bool) -> str:
    """Check dimensions and measure name; returns the identity-key text up to the time (cached)."""
    cache_key = (dimensions, measure_name, allow_colon)
    found = _SERIES_CACHE.get(cache_key)
    if found is None:
        found = _check_series(dimensions, measure_name, allow_colon)
        if found[0] is None and len(found[1]) <= _SERIES_CACHE_MAX_CHARS:
            if len(_SERIES_CACHE) >= _SERIES_CACHE_SIZE:
                _SERIES_CACHE.clear()
            _SERIES_CACHE[cache_key] = found
    problem, key_prefix = found
    if problem is not None:
        raise RecordProblem(problem)
    return key_prefix


def _check_series(
    dimensions: tuple[tuple[str, str], ...], measure_name: str | None, allow_colon: bool
) -> tuple[str | None, str]:
    """(first problem, or None; identity-key text up to the time) of one series."""
    try:
        if not dimensions:
            raise RecordProblem("At least one dimension is required for a record.")
        for name, dimension_value in dimensions:
            rules.check_dimension_name(name)
            rules.check_dimension_value(name, dimension_value)
        if measure_name is None:
            raise RecordProblem("MeasureName is required for a record.")
        rules.check_measure_name(measure_name, allow_colon)
    except RecordProblem as problem:
        return problem.reason, ""
    # The identity's JSON without the time and the closing bracket: "[[...], \"name\", "
    return None, _KEY_ENCODER.encode([sorted(dict(dimensions).items()), measure_name])[:-1] + ", "


# A record's identity is the digest of the JSON of [sorted dimensions, measure name, time in ns]
# (dimension order does not matter), stored in hex in the hidden key column: keep the encoding, or
# data written before a change would no longer match the records that rewrite it (``prepare``
# builds the text in two parts).
_KEY_ENCODER = json.JSONEncoder(ensure_ascii=False)  # exactly json.dumps(..., ensure_ascii=False), built once


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def _apply_table_quotas(prepared: list[Prepared], table: TableInfo, result: IngestResult) -> list[Prepared]:
    """128 dimension names and 8192 measure names per table, counting this call's additions in order."""
    known = {name.lower(): name for name in table.dimensions}
    exact = set(table.dimensions)  # the same names, for the usual case: a record with known dimensions only
    measures = table.measure_names
    added: set[str] = set()  # measure names of this call the table does not have yet
    accepted = []
    for record in prepared:
        try:
            new_dims = [] if exact.issuperset(record.dimensions) else _new_dimensions(record, known)
            if len(known) + len(new_dims) > rules.MAX_DIMENSIONS_PER_TABLE:
                raise RecordProblem(
                    f"The maximum number of dimensions per table ({rules.MAX_DIMENSIONS_PER_TABLE}) has been exceeded."
                )
            measure = record.measure_name
            if (
                measure not in measures
                and measure not in added
                and len(measures) + len(added) >= rules.MAX_MEASURE_NAMES_PER_TABLE
            ):
                raise RecordProblem(
                    f"The maximum number of measure names per table ({rules.MAX_MEASURE_NAMES_PER_TABLE}) "
                    "has been exceeded."
                )
        except RecordProblem as problem:
            result.reject(record.index, problem)
            continue
        if new_dims:
            known.update((name.lower(), name) for name in new_dims)
            exact.update(new_dims)
        if measure not in measures:
            added.add(measure)
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
) -> WriteBatch | None:
    """Apply version semantics against the table's index (stored and staged rows) and earlier records of
    the same call; stage what must be stored and record it in the index (caller holds ``store.lock``)."""
    stored = store.versions(table)
    final: dict[bytes, Prepared] = {}
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
    if not final:
        return None
    rows = list(final.values())
    replaced = [key for key in final if key in stored]
    _add_columns(store, table, rows)
    for row in rows:
        stored[row.key] = (row.version, row.typed_value)
    table.measure_names.update(r.measure_name for r in rows)
    batch = WriteBatch(table, rows)
    if replaced:
        times = [final[key].time_ns for key in replaced]
        batch.replaced, batch.replaced_times = replaced, (min(times), max(times))
    store.stage(batch)
    return batch


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


def _add_columns(store: Store, table: TableInfo, rows: list[Prepared]) -> None:
    """Dimension and measure-value columns the rows need and the table does not have yet."""
    have_dims = set(table.dimensions)
    new_dims = sorted(
        {name for r in rows if not have_dims.issuperset(r.dimensions) for name in r.dimensions} - have_dims
    )
    have = set(table.value_columns)
    types = {r.value_type for r in rows}
    new_types = [t for t in VALUE_COLUMNS if VALUE_COLUMNS[t][0] not in have and t in types]
    store.add_columns(table, new_dims, new_types)
