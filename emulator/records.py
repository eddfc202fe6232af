"""WriteRecords request parsing: shape checks and the CommonAttributes merge.

Anything the AWS API model itself forbids (wrong types, enums, list sizes, overlapping
dimension names) is a whole-request ``ValidationException``: AWS checks the model before it
looks at any record, so nothing of such a call is written. Semantic quota checks happen later,
per record (see ``validation.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulator.errors import validation
from emulator.validation import FIXED_VALUE_BYTES, MAX_RECORDS_PER_CALL, TIME_UNIT_NS, utf8_len, value_bytes

_VALUE_TYPES = ("DOUBLE", "BIGINT", "VARCHAR", "BOOLEAN", "TIMESTAMP", "MULTI")
_RECORD_KEYS = (
    "Dimensions",
    "MeasureName",
    "MeasureValue",
    "MeasureValueType",
    "Time",
    "TimeUnit",
    "Version",
    "MeasureValues",
)
_RECORD_KEY_SET = frozenset(_RECORD_KEYS)
_UNBOUNDED = 1 << 62
_STRING_LIMITS = (("MeasureName", _UNBOUNDED), ("MeasureValue", 2048), ("Time", 256))
_ENUMS = (("MeasureValueType", _VALUE_TYPES), ("TimeUnit", tuple(TIME_UNIT_NS)))
_ABSENT: Any = object()
_NO_DIMENSIONS: Any = object()


@dataclass(slots=True)
class MergedRecord:
    """One record with CommonAttributes applied; ``own_bytes`` is what it adds to the bill."""

    dimensions: tuple[tuple[str, str], ...]
    measure_name: str | None
    measure_value: str | None
    value_type: str
    time: str | None
    time_unit: str
    version: int
    own_bytes: int
    size_bytes: int  # for the 2 KB quota: time + dimensions + measure name + value


@dataclass(frozen=True)
class WriteRequest:
    """A shape-checked WriteRecords call."""

    database: str
    table: str
    records: list[MergedRecord]
    common_bytes: int


def parse_write_request(body: dict[str, Any]) -> WriteRequest:
    """Check the request against the API model and merge CommonAttributes into every record."""
    database, table = _required_str(body, "DatabaseName"), _required_str(body, "TableName")
    records = body.get("Records")
    if not isinstance(records, list) or not 1 <= len(records) <= MAX_RECORDS_PER_CALL:
        count = len(records) if isinstance(records, list) else 0
        raise validation(
            f"1 validation error detected: Value at 'records' failed to satisfy constraint: "
            f"Member must have length between 1 and {MAX_RECORDS_PER_CALL} (got {count})."
        )
    common = _check_record(body.get("CommonAttributes") or {}, "commonAttributes")
    checked = [_check_record(record, f"records.{i + 1}.member") for i, record in enumerate(records)]
    value_type = common.get("MeasureValueType", "DOUBLE")
    shared = _common(common)
    merged = [_merge(shared, record) for record in checked]
    return WriteRequest(database, table, merged, _metered_bytes(common, value_type, shared.dims_bytes))


def _required_str(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise validation(
            f"1 validation error detected: Value at '{key}' failed to satisfy constraint: Member must not be null."
        )
    return value


def _fail(path: str, what: str) -> None:
    raise validation(f"1 validation error detected: Value at '{path}' failed to satisfy constraint: {what}")


def _check_record(record: object, path: str) -> dict[str, Any]:
    """Model constraints of one ``Record`` structure (hot: runs for every record of every call)."""
    if not isinstance(record, dict):
        _fail(path, "Member must be a structure.")
    assert isinstance(record, dict)
    if not _RECORD_KEY_SET.issuperset(record):
        _fail(path, f"Unknown members {sorted(set(record) - _RECORD_KEY_SET)}.")
    dimensions = record.get("Dimensions", _NO_DIMENSIONS)
    if dimensions is not _NO_DIMENSIONS:
        _check_dimensions(dimensions, f"{path}.dimensions")
    get = record.get
    for key, high in _STRING_LIMITS:
        value = get(key, _ABSENT)
        if value is not _ABSENT and (value.__class__ is not str or not 1 <= len(value) <= high):
            _check_string(record, key, path, 1, high if high != _UNBOUNDED else None)
    for key, allowed in _ENUMS:
        value = get(key, _ABSENT)
        if value is not _ABSENT and value not in allowed:
            _check_enum(record, key, path, allowed)
    version = get("Version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 1):
        _fail(f"{path}.version", "Version must be 1 or greater.")
    return record


def _check_dimensions(dimensions: object, path: str) -> None:
    if not isinstance(dimensions, list) or len(dimensions) > 128:
        _fail(path, "Member must be a list of at most 128 dimensions.")
    assert isinstance(dimensions, list)
    seen: set[str] = set()
    for i, dim in enumerate(dimensions):
        if dim.__class__ is dict:
            name = dim.get("Name")
            if (
                name.__class__ is str
                and name
                and dim.get("Value").__class__ is str
                and dim.get("DimensionValueType", "VARCHAR") == "VARCHAR"
                and name not in seen
            ):
                seen.add(name)
                continue
        _dimension_problem(dim, f"{path}.{i + 1}.member", seen)


def _dimension_problem(dim: object, where: str, seen: set[str]) -> None:
    """The exact complaint about one dimension (the slow path of ``_check_dimensions``)."""
    if not isinstance(dim, dict) or not isinstance(dim.get("Name"), str) or not isinstance(dim.get("Value"), str):
        _fail(where, "Dimension must have a string Name and Value.")
    assert isinstance(dim, dict)
    if dim["Name"] == "":
        _fail(f"{where}.name", "Member must have length greater than or equal to 1.")
    if dim.get("DimensionValueType", "VARCHAR") != "VARCHAR":
        _fail(f"{where}.dimensionValueType", "Member must satisfy enum value set: [VARCHAR].")
    if dim["Name"] in seen:
        raise validation(f"A record must contain dimensions with unique names; '{dim['Name']}' is repeated.")
    seen.add(dim["Name"])


def _check_string(record: dict[str, Any], key: str, path: str, low: int, high: int | None) -> None:
    if key not in record:
        return
    value = record[key]
    if not isinstance(value, str) or len(value) < low or (high is not None and len(value) > high):
        bound = f"between {low} and {high}" if high else f"greater than or equal to {low}"
        _fail(f"{path}.{key[0].lower()}{key[1:]}", f"Member must have length {bound}.")


def _check_enum(record: dict[str, Any], key: str, path: str, allowed: tuple[str, ...]) -> None:
    if key in record and record[key] not in allowed:
        _fail(f"{path}.{key[0].lower()}{key[1:]}", f"Member must satisfy enum value set: [{', '.join(allowed)}].")


@dataclass(frozen=True)
class _Common:
    """CommonAttributes, with their dimensions and dimension bytes worked out once per call."""

    fields: dict[str, Any]
    dimensions: list[tuple[str, str]]
    names: frozenset[str]
    dims_bytes: int
    defaults: dict[str, Any]  # what a record that lacks the key gets: the common value or the API default


def _common(fields: dict[str, Any]) -> _Common:
    dims = [(d["Name"], d["Value"]) for d in fields.get("Dimensions", [])]
    defaults = {key: fields.get(key, default) for key, default in _MERGED_DEFAULTS}
    return _Common(fields, dims, frozenset(name for name, _ in dims), _dims_bytes(dims), defaults)


_MERGED_DEFAULTS = (
    ("MeasureValueType", "DOUBLE"),
    ("MeasureName", None),
    ("MeasureValue", None),
    ("Time", None),
    ("TimeUnit", "MILLISECONDS"),
    ("Version", 1),
)


def _dims_bytes(dims: list[tuple[str, str]]) -> int:
    return sum(utf8_len(name) + utf8_len(value) for name, value in dims)


def _merge(common: _Common, record: dict[str, Any]) -> MergedRecord:
    """Record fields override common ones; dimensions are the union and must not overlap."""
    raw_dims = record.get("Dimensions")
    own_dims = [(d["Name"], d["Value"]) for d in raw_dims] if raw_dims else []
    if common.names:
        overlap = common.names.intersection(name for name, _ in own_dims)
        if overlap:
            raise validation(f"Dimensions in CommonAttributes and records may not overlap: {sorted(overlap)}.")
    defaults = common.defaults
    get = record.get
    value_type = get("MeasureValueType", defaults["MeasureValueType"])
    measure_name = get("MeasureName", defaults["MeasureName"])
    measure_value = get("MeasureValue", defaults["MeasureValue"])
    # UTF-8 bytes of every own dimension name and value, counted at once (ASCII fast path)
    text = "".join([part for pair in own_dims for part in pair])
    own_dims_bytes = len(text) if text.isascii() else len(text.encode("utf-8"))
    fixed = FIXED_VALUE_BYTES.get(value_type)
    size = 8 + common.dims_bytes + own_dims_bytes + utf8_len(measure_name or "")
    size += fixed or utf8_len(measure_value or "")
    own = own_dims_bytes
    if "Time" in record:
        own += 8
    if "MeasureName" in record:
        own += utf8_len(measure_name)
    if "MeasureValue" in record:
        own += fixed or utf8_len(measure_value)
    return MergedRecord(
        tuple(common.dimensions + own_dims) if common.dimensions else tuple(own_dims),
        measure_name,
        measure_value,
        value_type,
        get("Time", defaults["Time"]),
        get("TimeUnit", defaults["TimeUnit"]),
        get("Version", defaults["Version"]),
        own,
        size,
    )


def _metered_bytes(part: dict[str, Any], value_type: str, dims_bytes: int) -> int:
    """Bytes the present attributes of a record (or of CommonAttributes) add to the metered size."""
    size = (8 if "Time" in part else 0) + dims_bytes + utf8_len(part.get("MeasureName", ""))
    if "MeasureValue" in part:
        size += value_bytes(part.get("MeasureValueType", value_type), part["MeasureValue"])
    return size
