"""What a WriteRecords call is billed, by Timestream's published formula (FACTS.md).

The backfill's ``--dry-run`` and the benchmarks price calls with this one function, so an estimate
and a measured figure can never follow two formulas.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

WRITE_UNIT_BYTES = 1024
_TIME_BYTES = 8
_DOUBLE_BYTES = 8


def formula_write_units(parameters: Mapping[str, Any]) -> tuple[int, int]:
    """(bytes, write units) of one call's parameters; assumes DOUBLE values.

    Per record: 8 B time + dimension names and values + measure name + 8 B value; whatever sits in
    CommonAttributes counts once per call; each call rounds up to whole KiB.
    """
    total = _size(parameters.get("CommonAttributes", {})) + sum(_size(r) for r in parameters["Records"])
    return total, -(-total // WRITE_UNIT_BYTES)


def _size(item: Mapping[str, Any]) -> int:
    total = _TIME_BYTES if "Time" in item else 0
    total += sum(len(d["Name"].encode()) + len(d["Value"].encode()) for d in item.get("Dimensions", ()))
    total += len(item["MeasureName"].encode()) if "MeasureName" in item else 0
    return total + (_DOUBLE_BYTES if "MeasureValue" in item else 0)
