"""Timestream naming rules and quotas.

Pure functions that decide whether a name, value or timestamp is acceptable, so the write path
and the catalog enforce exactly the limits real Timestream enforces (see FACTS.md, "writing").
Problems with one record raise ``RecordProblem``: they become a ``RejectedRecords`` entry while
the rest of the call is still written.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

from emulator.errors import validation

MAX_RECORDS_PER_CALL = 100
MAX_DIMENSIONS_PER_TABLE = 128
MAX_MEASURE_NAMES_PER_TABLE = 8192
MAX_DIMENSION_NAME_BYTES = 60
MAX_MEASURE_NAME_BYTES = 256
MAX_DIMENSION_VALUE_BYTES = 2048
MAX_RECORD_BYTES = 2048
FUTURE_TOLERANCE_NS = 15 * 60 * 10**9
MEMORY_HOURS_RANGE = (1, 8766)
MAGNETIC_DAYS_RANGE = (1, 73000)
RESERVED_NAMES = frozenset({"measure_value", "ts_non_existent_col", "time"})
RESERVED_PREFIXES = ("ts_", "measure_name")
TIME_UNIT_NS = {"MILLISECONDS": 10**6, "SECONDS": 10**9, "MICROSECONDS": 10**3, "NANOSECONDS": 1}
SCALAR_TYPES = ("DOUBLE", "BIGINT", "VARCHAR", "BOOLEAN")
FIXED_VALUE_BYTES = {"DOUBLE": 8, "BIGINT": 8, "BOOLEAN": 1, "TIMESTAMP": 8}
# Names the embedded store cannot use as databases because DuckDB already owns them.
ENGINE_RESERVED_DATABASES = frozenset({"main", "temp", "system", "memory", "information_schema", "pg_catalog"})

_RESOURCE_NAME = re.compile(r"[a-zA-Z0-9_.-]{1,256}")
_DOUBLE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_BIGINT = re.compile(r"[+-]?\d+")
_INT64 = (-(2**63), 2**63 - 1)


class RecordProblem(Exception):
    """One record cannot be written; ``reason`` is what ``RejectedRecords`` reports."""

    def __init__(self, reason: str, existing_version: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.existing_version = existing_version


def utf8_len(text: str) -> int:
    """Quotas are in UTF-8 bytes, not characters (ASCII fast path: this runs per value)."""
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def check_resource_name(kind: str, name: object) -> str:
    """Database and table names: 1-256 characters of ``[a-zA-Z0-9_.-]``.

    The API model gives only the pattern; Terraform asks for at least 3 characters, which is
    not enforced here so that short names used in tests keep working.
    """
    if not isinstance(name, str) or not _RESOURCE_NAME.fullmatch(name):
        raise validation(f"Invalid {kind} name {name!r}: it must be 1-256 characters of [a-zA-Z0-9_.-].")
    return name


def check_database_name_for_engine(name: str) -> None:
    """Refuse the few names the DuckDB engine reserves (an emulator-only restriction)."""
    if name.lower() in ENGINE_RESERVED_DATABASES:
        raise validation(f"Database name {name!r} is reserved by the embedded store.")


def check_retention(memory_hours: object, magnetic_days: object) -> tuple[int, int]:
    """Memory store 1-8766 hours, magnetic store 1-73000 days."""
    memory = _bounded_int(memory_hours, MEMORY_HOURS_RANGE, "MemoryStoreRetentionPeriodInHours")
    magnetic = _bounded_int(magnetic_days, MAGNETIC_DAYS_RANGE, "MagneticStoreRetentionPeriodInDays")
    return memory, magnetic


def _bounded_int(value: object, bounds: tuple[int, int], what: str) -> int:
    low, high = bounds
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise validation(f"{what} must be between {low} and {high}, got {value!r}.")
    return value


def _reserved_problem(kind: str, name: str) -> str | None:
    lowered = name.lower()
    if lowered in RESERVED_NAMES:
        return f"{kind} name '{name}' is a reserved name and cannot be used."
    if lowered.startswith(RESERVED_PREFIXES):
        return f"{kind} name '{name}' cannot start with a reserved prefix ('ts_' or 'measure_name')."
    return None


def check_dimension_name(name: str) -> None:
    """Dimension names: at most 60 bytes, not reserved, no ':'."""
    problem = _dimension_name_problem(name)
    if problem:
        raise RecordProblem(problem)


@lru_cache(maxsize=8192)
def _dimension_name_problem(name: str) -> str | None:
    """Cached: a batch repeats the same few names hundreds of times."""
    if utf8_len(name) > MAX_DIMENSION_NAME_BYTES:
        return f"Dimension name '{name}' exceeds the maximum length of {MAX_DIMENSION_NAME_BYTES} bytes."
    if ":" in name:
        return f"Dimension name '{name}' contains ':', which is not allowed in dimension names."
    return _reserved_problem("Dimension", name)


def check_dimension_value(name: str, value: str) -> None:
    """Dimension values: non-empty, at most 2048 bytes."""
    if value == "":
        raise RecordProblem(f"Dimension '{name}' has an empty value; dimension values cannot be empty.")
    if len(value) * 4 > MAX_DIMENSION_VALUE_BYTES and utf8_len(value) > MAX_DIMENSION_VALUE_BYTES:
        raise RecordProblem(
            f"Value of dimension '{name}' exceeds the maximum length of {MAX_DIMENSION_VALUE_BYTES} bytes."
        )


def check_measure_name(name: str, allow_colon: bool) -> None:
    """Measure names: at most 256 bytes, not reserved; ':' only when the switch allows it."""
    problem = _measure_name_problem(name, allow_colon)
    if problem:
        raise RecordProblem(problem)


@lru_cache(maxsize=8192)
def _measure_name_problem(name: str, allow_colon: bool) -> str | None:
    if utf8_len(name) > MAX_MEASURE_NAME_BYTES:
        return f"Measure name '{name}' exceeds the maximum length of {MAX_MEASURE_NAME_BYTES} bytes."
    if not allow_colon and ":" in name:
        return f"Measure name '{name}' contains ':', which is not allowed in measure names."
    return _reserved_problem("Measure", name)


def parse_measure_value(value_type: str, text: str) -> tuple[float | int | str | bool, str]:
    """Parse a measure value; returns ``(value, canonical text)`` used for identity comparisons."""
    if value_type == "DOUBLE":
        return _parse_double(text)
    if value_type == "BIGINT":
        return _parse_bigint(text)
    if value_type == "BOOLEAN":
        if text.lower() not in ("true", "false"):
            raise RecordProblem(f"Measure value '{text}' is not a valid BOOLEAN.")
        flag = text.lower() == "true"
        return flag, "true" if flag else "false"
    if value_type == "VARCHAR":
        return text, text
    raise RecordProblem(f"MeasureValueType {value_type} is not supported by the embedded store.")


def _parse_double(text: str) -> tuple[float, str]:
    if not _DOUBLE.fullmatch(text):
        raise RecordProblem(f"Measure value '{text}' is not a valid DOUBLE (NaN and Infinity cannot be stored).")
    number = float(text)
    if not math.isfinite(number):
        raise RecordProblem(f"Measure value '{text}' is out of range for DOUBLE.")
    return number, repr(number)


def _parse_bigint(text: str) -> tuple[int, str]:
    if not _BIGINT.fullmatch(text):
        raise RecordProblem(f"Measure value '{text}' is not a valid BIGINT.")
    number = int(text)
    if not _INT64[0] <= number <= _INT64[1]:
        raise RecordProblem(f"Measure value '{text}' is out of range for BIGINT.")
    return number, str(number)


def value_bytes(value_type: str, text: str) -> int:
    """Bytes a measure value counts for size quotas and metering."""
    return FIXED_VALUE_BYTES.get(value_type) or utf8_len(text)


def time_to_ns(text: str, unit: str) -> int:
    """Convert ``Time`` in ``TimeUnit`` to epoch nanoseconds."""
    if not _BIGINT.fullmatch(text):
        raise RecordProblem(f"Time '{text}' is not a valid integer timestamp.")
    return int(text) * TIME_UNIT_NS[unit]


def check_time_window(time_ns: int, now_ns: int, memory_hours: int, magnetic_days: int, magnetic_writes: bool) -> bool:
    """Accept times from the retention start up to now + 15 minutes; returns True for the magnetic store."""
    memory_start = now_ns - memory_hours * 3600 * 10**9
    latest = now_ns + FUTURE_TOLERANCE_NS
    if memory_start <= time_ns <= latest:
        return False
    if magnetic_writes and now_ns - magnetic_days * 86400 * 10**9 <= time_ns < memory_start:
        return True
    store = "magnetic store" if magnetic_writes else "memory store"
    raise RecordProblem(
        f"The record timestamp {time_ns} ns is outside the time range of the {store} retention window "
        f"(must be within the retention period and at most 15 minutes in the future)."
    )
