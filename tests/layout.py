"""The table layout as README.md ("Table layout") documents it, read and written apart from the code.

Tests that check what reached the store decode rows with this module, never with
``connector/timestream/schema.py``: if the connector's layout drifted from the documented one, its
own decoder would drift with it and such a test would still pass. Everything here comes from the
README's text and Prometheus' own constants (the NaN and staleness-marker bit patterns), so a
change to the layout must change the README, this module and the connector together.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Mapping
from typing import Any

MEASURE_NAME, TIME, DOUBLE = "measure_name", "time", "measure_value::double"
NAME_COLUMN = "__name__"  # the true metric name, when measure_name holds a stand-in
SPECIAL_COLUMN = "__special_value__"  # the text of a value a DOUBLE cannot hold
LEGACY_PREFIX, UTF8_PREFIX = "__l_", "__u_"

# Prometheus' value.NormalNaN and value.StaleNaN (model/value/value.go).
NORMAL_NAN_BITS = 0x7FF8000000000001
STALE_NAN_BITS = 0x7FF0000000000002

# Label names Timestream reserves, compared without case (README: `time`, `ts_*`, `measure_name*`, `__*`).
_RESERVED = ("time", "measure_value")
_RESERVED_PREFIXES = ("ts_", "measure_name")
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

Sample = tuple[str, frozenset[tuple[str, str]], int, int]  # (metric, other labels, time ms, value bits)


def bits(value: float) -> int:
    return int.from_bytes(struct.pack(">d", value), "big")


def from_bits(raw: int) -> float:
    return float(struct.unpack(">d", raw.to_bytes(8, "big"))[0])


# ---- reading ------------------------------------------------------------------------------------


def label_of_column(column: str) -> str:
    """The label a dimension column holds: ``__l_<name>`` verbatim, ``__u_<hex of UTF-8>``, else itself."""
    if column.startswith(LEGACY_PREFIX):
        return column[len(LEGACY_PREFIX) :]
    if column.startswith(UTF8_PREFIX):
        return bytes.fromhex(column[len(UTF8_PREFIX) :]).decode("utf-8")
    return column


def special_value(text: str) -> float:
    """The float a ``__special_value__`` cell stands for, bit for bit."""
    named = {"+Inf": bits(math.inf), "-Inf": bits(-math.inf), "NaN": NORMAL_NAN_BITS, "stale": STALE_NAN_BITS}
    if text in named:
        return from_bits(named[text])
    assert text.startswith("nan:0x") and len(text) == 22, f"undocumented {SPECIAL_COLUMN} {text!r}"
    return from_bits(int(text[len("nan:0x") :], 16))


def sample_of_row(row: Mapping[str, Any], time_column: str = "t_ms") -> Sample:
    """(metric, other labels, time in ms, value bits) of one row of ``SELECT *, to_milliseconds(time) AS t_ms``.

    NULL cells are labels the row's series does not have.
    """
    metric, special, labels = row[MEASURE_NAME], None, {}
    for column, cell in row.items():
        if cell is None or column in (MEASURE_NAME, TIME, time_column) or column.startswith("measure_value::"):
            continue
        if column == NAME_COLUMN:
            metric = cell
        elif column == SPECIAL_COLUMN:
            special = cell
        else:
            name = label_of_column(column)
            assert name not in labels, f"two columns hold label {name!r}: {row}"
            labels[name] = cell
    value = special_value(special) if special is not None else float(row[DOUBLE])
    if special is not None:
        assert float(row[DOUBLE]) == 0, f"a special value's DOUBLE is 0: {row}"
    return metric, frozenset(labels.items()), int(row[time_column]), bits(value)


# ---- writing (rows as the connector would write them, for read tests) ---------------------------


def _reserved(name: str) -> bool:
    lowered = name.lower()
    return lowered in _RESERVED or lowered.startswith(_RESERVED_PREFIXES)


def column_of_label(name: str) -> str:
    if not _PLAIN.match(name):
        return UTF8_PREFIX + name.encode("utf-8").hex()
    if name.startswith("__") or _reserved(name):
        return LEGACY_PREFIX + name
    return name


def record(labels: Mapping[str, str], time_ms: int, value: float) -> dict[str, Any]:
    """A WriteRecords record of one sample, laid out as the README says (names needing no stand-in
    longer than 256 bytes: this writer does not cut them)."""
    metric = labels["__name__"]
    dimensions = {column_of_label(k): v for k, v in labels.items() if k != "__name__" and v != ""}
    measure = metric
    if ":" in metric or _reserved(metric) or not dimensions:
        measure = metric.replace(":", "_")
        measure = "_" + measure if _reserved(measure) else measure
        dimensions[NAME_COLUMN] = metric
    text = repr(value) if math.isfinite(value) else "0"
    if not math.isfinite(value):
        raw = bits(value)
        names = {bits(math.inf): "+Inf", bits(-math.inf): "-Inf", NORMAL_NAN_BITS: "NaN", STALE_NAN_BITS: "stale"}
        dimensions[SPECIAL_COLUMN] = names.get(raw, f"nan:{raw:#018x}")
    return {
        "Dimensions": [{"Name": k, "Value": v, "DimensionValueType": "VARCHAR"} for k, v in dimensions.items()],
        "MeasureName": measure,
        "MeasureValue": text,
        "MeasureValueType": "DOUBLE",
        "Time": str(time_ms),
        "TimeUnit": "MILLISECONDS",
    }
