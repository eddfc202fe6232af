"""Remote write 2.0 bodies (``io.prometheus.write.v2.Request``): decoding and label resolution.

Every string is interned: a series names its labels by ``labels_refs``, (name, value) index pairs
into the request's ``symbols``. A series is keyed by its resolved strings, ``(n1, v1, n2, v2, ...)``:
one tuple, built in C, whose strings come once per request from the symbols table. The checks the
2.0 spec adds to 1.0 (names sorted and unique, no empty name or value) run once per label set, on a
series-cache miss.

Both spec revisions are read: rc.3 senders (Prometheus 2.54 to 3.7) put the start timestamp in
``TimeSeries.created_timestamp`` (field 6), rc.4 senders (3.8 on) in ``Sample.start_timestamp``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connector.errors import BadRequest
from connector.prom import body
from connector.prom.write_codec import V1_PROTO, V2_PROTO, check_counts, refuse_foreign_fields
from prompb.write.v2 import types_pb2

Key = tuple[str, ...]
Labels = tuple[tuple[str, str], ...]

# Fields 1 to 3 are reserved in 2.0 so that a 1.0 body never parses as a 2.0 one by accident.
_V1_FIELDS = frozenset({1, 2, 3})
_SHOWN_CHARS = 200
# The densest 2.0 body (empty series, two bytes each) costs the protobuf runtime ~41 bytes a byte,
# a 1.0 body at most ~29: a 2.0 body may use 3/4 of the decompressed limit, so that the memory bound
# stays the same. Interning makes 2.0 bodies about a third the size of 1.0 ones for the same data.
V2_BODY_SHARE = 0.75


def decode_v2(raw: bytes, limit: int) -> types_pb2.Request:
    """The 2.0 request in a snappy body: 413 beyond 3/4 of ``limit``; 400 when corrupt, 1.0 or unresolvable."""
    message, size = body.decode_sized(raw, int(limit * V2_BODY_SHARE), types_pb2.Request)
    refuse_foreign_fields(message, _V1_FIELDS, V1_PROTO, V2_PROTO)
    symbols = message.symbols
    if symbols and symbols[0]:
        raise BadRequest(f"symbols[0] must be the empty string, not {_shown(symbols[0])}: every reference is off")
    if message.timeseries and not symbols:
        raise BadRequest("the request has series but no symbols table: their labels cannot be resolved")
    check_counts(len(message.timeseries), size, lambda: sum(len(ts.samples) for ts in message.timeseries))
    return message


class SymbolKeys:
    """Each series' key in one request: its labels resolved against that request's symbols.

    ``max_labels`` caps the labels resolved for one series, so a hostile series never makes a huge
    key. References out of range, an odd number of them and metadata references out of range make
    the series invalid, with a reason that names it.
    """

    def __init__(self, symbols: Sequence[str], max_labels: int) -> None:
        self._symbols = list(symbols)
        self._size = len(self._symbols)
        self._max_refs = 2 * max_labels
        self._max_labels = max_labels

    def __call__(self, series: Any) -> Key | str:
        refs = series.labels_refs
        count = len(refs)
        if count & 1 or count > self._max_refs:
            return self._refs_problem(refs)
        try:
            key = tuple(map(self._symbols.__getitem__, refs))
        except IndexError:
            return self._refs_problem(refs)
        metadata = series.metadata
        if metadata.help_ref >= self._size or metadata.unit_ref >= self._size:
            return (
                f"metadata reference (help_ref {metadata.help_ref}, unit_ref {metadata.unit_ref}) outside the "
                f"{self._size} symbols of the request in series {describe(key)}"
            )
        return key

    def _refs_problem(self, refs: Sequence[int]) -> str:
        """Why a series' ``labels_refs`` cannot be resolved; only for invalid series, so not fast."""
        shown = f"labels_refs {_shown(list(refs[:16]))}{' ...' if len(refs) > 16 else ''}"
        if len(refs) > self._max_refs:
            return f"series with {len(refs) // 2} labels, more than the {self._max_labels} allowed ({shown})"
        if len(refs) & 1:
            return f"odd number of label references ({len(refs)}) in series with {shown}"
        outside = next(ref for ref in refs if ref >= self._size)
        return f"label reference {outside} outside the {self._size} symbols of the request in series with {shown}"


def labels_of(key: Key) -> Labels | str:
    """The (name, value) pairs of a 2.0 key, or which of the spec's label rules they break."""
    names = key[0::2]
    values = key[1::2]
    for index, name in enumerate(names):
        if not name:
            return f"empty label name in series {describe(key)}"
        if not values[index]:
            return f"empty value of label {_shown(name)} in series {describe(key)}"
        if index and name <= names[index - 1]:
            rule = "repeated label name" if name == names[index - 1] else "label names not sorted"
            return f"{rule} {_shown(name)} in series {describe(key)}"
    return tuple(zip(names, values, strict=True))


def describe(key: Key) -> str:
    """A series as Prometheus prints it, shortened: reasons name the series, never quote it whole."""
    pairs = ", ".join(f"{name}={value!r}" for name, value in zip(key[0::2], key[1::2], strict=False))
    text = "{" + pairs + "}"
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 4] + " ...}"


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:76] + " ..."
