"""How Prometheus series map onto Timestream records, in both directions.

The layout is the official Go connector's: ``measure_name`` is the metric name, every other label
is a VARCHAR dimension named after the label, the value is a DOUBLE. Tables it wrote read back
unchanged. Where that layout cannot hold a sample, this module adds reserved dimensions whose names
start with ``__`` (a prefix Prometheus reserves, so no scraped label can carry one):

* ``__name__``: the true metric name, when ``measure_name`` cannot hold it verbatim (it has ``:``,
  a name prefix Timestream reserves, more than 256 bytes) or when the series has no other label
  (Timestream needs at least one dimension). ``measure_name`` then holds a storable stand-in.
* ``__special_value__``: the value of a sample that Timestream cannot store as a DOUBLE: ``NaN``,
  ``+Inf``, ``-Inf``, ``stale`` (the staleness marker) or ``nan:0x...`` for any other NaN payload.
  The record's ``measure_value::double`` is then 0.
* ``__l_<name>`` / ``__u_<hex>``: a label whose name Timestream cannot take as a dimension name
  (reserved, ``ts_`` or ``measure_name`` prefix, a ``__`` prefix, or characters beyond
  ``[A-Za-z0-9_]``); the first form keeps legacy-valid names readable, the second is hex of the
  UTF-8 name. Both decode back exactly.
"""

from __future__ import annotations

import math
import re
import struct
from functools import lru_cache

NAME_DIMENSION = "__name__"
SPECIAL_DIMENSION = "__special_value__"
LEGACY_LABEL_PREFIX = "__l_"
UTF8_LABEL_PREFIX = "__u_"

MAX_MEASURE_NAME_BYTES = 256
MAX_DIMENSION_NAME_BYTES = 60
MAX_DIMENSION_VALUE_BYTES = 2048
MAX_RECORD_BYTES = 2048
MAX_DIMENSIONS_PER_RECORD = 128
MAX_RECORDS_PER_CALL = 100

_RESERVED_NAMES = frozenset({"measure_value", "ts_non_existent_col", "time", "measure_name"})
_RESERVED_PREFIXES = ("ts_", "measure_name")
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

STALE_NAN_BITS = 0x7FF0000000000002
CANONICAL_NAN_BITS = 0x7FF8000000000001
_STALE = "stale"


def _is_reserved(name: str) -> bool:
    lowered = name.lower()
    return lowered in _RESERVED_NAMES or lowered.startswith(_RESERVED_PREFIXES)


@lru_cache(maxsize=65536)
def dimension_name(label_name: str) -> str:
    """The dimension name that stores ``label_name`` (verbatim whenever Timestream allows it)."""
    if _PLAIN_NAME.match(label_name):
        if label_name.startswith("__") or _is_reserved(label_name):
            return LEGACY_LABEL_PREFIX + label_name
        return label_name
    return UTF8_LABEL_PREFIX + label_name.encode("utf-8").hex()


def label_name(dimension: str) -> str | None:
    """The label a dimension column holds, or None for the reserved ``__name__``/special columns."""
    if dimension.startswith(LEGACY_LABEL_PREFIX):
        return dimension[len(LEGACY_LABEL_PREFIX) :]
    if dimension.startswith(UTF8_LABEL_PREFIX):
        return bytes.fromhex(dimension[len(UTF8_LABEL_PREFIX) :]).decode("utf-8")
    if dimension in (NAME_DIMENSION, SPECIAL_DIMENSION):
        return None
    return dimension


@lru_cache(maxsize=65536)
def measure_name(metric_name: str) -> tuple[str, bool]:
    """The ``measure_name`` for a metric and whether the true name must also go in ``__name__``.

    ``:`` in measure names is not confirmed to be accepted by Timestream, so recording-rule names
    are stored with ``_`` in its place and their true name in the ``__name__`` dimension.
    """
    storable = ":" not in metric_name and not _is_reserved(metric_name)
    if storable and len(metric_name.encode("utf-8")) <= MAX_MEASURE_NAME_BYTES:
        return metric_name, False
    stand_in = metric_name.replace(":", "_")
    if _is_reserved(stand_in):
        stand_in = "_" + stand_in
    return _truncate_utf8(stand_in, MAX_MEASURE_NAME_BYTES), True


def stored_measure_names(metric_name: str) -> tuple[str, ...]:
    """Every ``measure_name`` under which rows of ``metric_name`` may be stored (for read pushdown)."""
    stand_in, _ = measure_name(metric_name)
    return (metric_name,) if stand_in == metric_name else (metric_name, stand_in)


def _truncate_utf8(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", errors="ignore")


def float_bits(value: float) -> int:
    return int.from_bytes(struct.pack(">d", value), "big")


def bits_float(bits: int) -> float:
    return struct.unpack(">d", bits.to_bytes(8, "big"))[0]


def encode_special(value: float) -> str | None:
    """The ``__special_value__`` text for a non-finite value, or None for a finite one."""
    if math.isfinite(value):
        return None
    if value == math.inf:
        return "+Inf"
    if value == -math.inf:
        return "-Inf"
    bits = float_bits(value)
    if bits == STALE_NAN_BITS:
        return _STALE
    if bits == CANONICAL_NAN_BITS:
        return "NaN"
    return f"nan:{bits:#018x}"


def decode_special(text: str) -> float:
    """The exact float a ``__special_value__`` text stands for; ValueError for an unknown text."""
    if text == "+Inf":
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == _STALE:
        return bits_float(STALE_NAN_BITS)
    if text == "NaN":
        return bits_float(CANONICAL_NAN_BITS)
    if text.startswith("nan:"):
        return bits_float(int(text[4:], 16))
    raise ValueError(f"unknown special value {text!r}")
