"""Result shaping in Python: DuckDB types as Timestream ``ColumnInfo``, values as ``Datum``.

Timestream returns every value as a string: doubles in their shortest round-trip form (so no
precision is lost), timestamps as ``YYYY-MM-DD hh:mm:ss.fffffffff`` in UTC, NULL as
``{"NullValue": true}``. Common scalar columns are rendered by DuckDB instead (``cells``); this
formats the rest: arrays, rows, dates, times, intervals, decimals, and DESCRIBE/SHOW answers.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from decimal import Decimal
from typing import Any, cast

from duckdb.sqltypes import DuckDBPyType

_SCALAR_TYPES = {
    "boolean": "BOOLEAN",
    "tinyint": "INTEGER",
    "smallint": "INTEGER",
    "integer": "INTEGER",
    "utinyint": "INTEGER",
    "usmallint": "INTEGER",
    "bigint": "BIGINT",
    "hugeint": "BIGINT",
    "uinteger": "BIGINT",
    "ubigint": "BIGINT",
    "uhugeint": "BIGINT",
    "float": "DOUBLE",
    "double": "DOUBLE",
    "decimal": "DOUBLE",
    "date": "DATE",
    "time": "TIME",
    "time with time zone": "TIME",
    "interval": "INTERVAL_DAY_TO_SECOND",
    "null": "UNKNOWN",
}
TIMESTAMP_IDS = frozenset(
    {"timestamp", "timestamp_ns", "timestamp_ms", "timestamp_s", "timestamp with time zone", "timestamp_tz"}
)
_EPOCH = dt.datetime(1970, 1, 1)


def column_type(duck_type: DuckDBPyType) -> dict[str, Any]:
    """A Timestream ``Type`` structure for a DuckDB type (arrays and rows recursively)."""
    type_id = duck_type.id
    if type_id in ("list", "array"):
        return {"ArrayColumnInfo": {"Type": column_type(cast(DuckDBPyType, dict(duck_type.children)["child"]))}}
    if type_id == "struct":
        return {
            "RowColumnInfo": [
                {"Name": name, "Type": column_type(cast(DuckDBPyType, child))} for name, child in duck_type.children
            ]
        }
    if type_id in TIMESTAMP_IDS:
        return {"ScalarType": "TIMESTAMP"}
    return {"ScalarType": _SCALAR_TYPES.get(type_id, "VARCHAR")}


def datum_json(value: Any, type_info: dict[str, Any]) -> str:
    """A ``Datum`` as compact JSON text."""
    return json.dumps(datum(value, type_info), separators=(",", ":"))


def datum(value: Any, type_info: dict[str, Any]) -> dict[str, Any]:
    """One Timestream ``Datum`` for a fetched value of the given ``Type``."""
    if value is None:
        return {"NullValue": True}
    if "ArrayColumnInfo" in type_info:
        child = type_info["ArrayColumnInfo"]["Type"]
        return {"ArrayValue": [datum(item, child) for item in value]}
    if "RowColumnInfo" in type_info:
        fields = type_info["RowColumnInfo"]
        values = list(value.values()) if isinstance(value, dict) else list(value)
        return {"RowValue": {"Data": [datum(v, f["Type"]) for v, f in zip(values, fields, strict=True)]}}
    return {"ScalarValue": scalar_text(value)}


def scalar_text(value: Any) -> str:
    """Timestream's text for a scalar value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (float, Decimal)):
        return format_double(float(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        return format_timestamp_ns(_datetime_ns(value))
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return f"{value:%H:%M:%S}.{value.microsecond * 1000:09d}"
    if isinstance(value, dt.timedelta):
        return format_interval(value)
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


def format_double(number: float) -> str:
    """Shortest round-trip text; non-finite values spelled as Timestream (Java) spells them."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    return repr(number)


def format_timestamp_ns(epoch_ns: int) -> str:
    """``YYYY-MM-DD hh:mm:ss.fffffffff`` (UTC) for epoch nanoseconds."""
    seconds, nanos = divmod(epoch_ns, 10**9)
    moment = _EPOCH + dt.timedelta(seconds=seconds)
    return f"{moment:%Y-%m-%d %H:%M:%S}.{nanos:09d}"


def format_interval(delta: dt.timedelta) -> str:
    """``d hh:mm:ss.fffffffff`` as Timestream prints INTERVAL_DAY_TO_SECOND."""
    sign = "-" if delta < dt.timedelta(0) else ""
    delta = abs(delta)
    hours, rest = divmod(delta.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{sign}{delta.days} {hours:02d}:{minutes:02d}:{seconds:02d}.{delta.microseconds * 1000:09d}"


def _datetime_ns(value: dt.datetime) -> int:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    delta = value - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000
