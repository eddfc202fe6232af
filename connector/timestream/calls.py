"""WriteRecords calls: their parameters, their bodies, and the bytes Timestream bills for them.

Calls hold at most 100 records, and their ``CommonAttributes`` carry what the records of the call
share (the time of a scrape, its ``job``/``instance`` and external labels): Timestream bills common
attributes once per call, and a scrape's samples share most of their bytes. Where calls are cut is
``planning``'s.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from json.encoder import encode_basestring_ascii
from typing import Any, TypeVar

from connector.timestream.records import TIME_BYTES, Dimensions, Record, StoredSeries, utf8_len

KIB = 1024  # Timestream bills each call in whole KiB
Pairs = frozenset[tuple[str, str]]  # (dimension name, value) pairs


@dataclass(frozen=True, slots=True)
class WriteCall:
    """One WriteRecords call: the request parameters and the records it carries, in order."""

    records: Sequence[Record]
    common_dimensions: Dimensions
    common_time_ms: int | None
    common_measure: str | None

    def parameters(self, database: str, table: str) -> dict[str, Any]:
        """The call's parameters as botocore takes them (the reference ``body`` must match)."""
        shared = set(self.common_dimensions)
        return {**self._head(database, table), "Records": [self._record(r, shared) for r in self.records]}

    def body(self, database: str, table: str) -> bytes:
        """The call's AWS JSON 1.0 body: ``parameters`` as JSON, with each series' part serialized once.

        A series' own dimensions and measure name depend only on what the call shares, so their JSON
        is kept on the series per call layout; a record adds its value and, if not shared, its time.
        """
        layout = _layout(frozenset(self.common_dimensions), self.common_measure is None)
        shared, with_measure = layout
        head = self._open_head(database, table)
        parts: list[str] = []
        append = parts.append
        if self.common_time_ms is None:
            for series, time_ms, value in self.records:
                prefix = series.fragments.get(layout) or _fragment(series, layout, shared, with_measure)
                append(f'{prefix}{value}","Time":"{time_ms}"}}')
        else:
            for series, _, value in self.records:
                prefix = series.fragments.get(layout) or _fragment(series, layout, shared, with_measure)
                append(f'{prefix}{value}"}}')
        return f'{head},"Records":[{",".join(parts)}]}}'.encode()

    def _head(self, database: str, table: str, with_time: bool = True) -> dict[str, Any]:
        common: dict[str, Any] = {"MeasureValueType": "DOUBLE", "TimeUnit": "MILLISECONDS"}
        if self.common_dimensions:
            common["Dimensions"] = [{"Name": n, "Value": v} for n, v in self.common_dimensions]
        if self.common_measure is not None:
            common["MeasureName"] = self.common_measure
        if with_time and self.common_time_ms is not None:
            common["Time"] = str(self.common_time_ms)
        return {"DatabaseName": database, "TableName": table, "CommonAttributes": common}

    def _open_head(self, database: str, table: str) -> str:
        """The body's JSON before its records, the request's object left open: serialized once per
        table and shared attributes (a target's calls repeat them), with each call's own time."""
        key = (database, table, self.common_dimensions, self.common_measure)
        head = _HEADS.get(key)
        if head is None:
            if len(_HEADS) >= _MAX_HEADS:
                _HEADS.clear()
            head = _HEADS[key] = _dumps(self._head(database, table, with_time=False))[:-2]
        time = "" if self.common_time_ms is None else f',"Time":"{self.common_time_ms}"'
        return f"{head}{time}}}"

    def _record(self, record: Record, shared: set[tuple[str, str]]) -> dict[str, Any]:
        item: dict[str, Any] = {"MeasureValue": record.value}
        own = [{"Name": n, "Value": v} for n, v in record.dimensions if (n, v) not in shared]
        if own:
            item["Dimensions"] = own
        if self.common_measure is None:
            item["MeasureName"] = record.measure_name
        if self.common_time_ms is None:
            item["Time"] = str(record.time_ms)
        return item


# Heads without their time, as many as a table's distinct shared attributes: bounded like layouts.
_HEADS: dict[tuple[str, str, Dimensions, str | None], str] = {}
_MAX_HEADS = 65_536


# A JSON string as ``json.dumps`` writes one (ASCII, escaped), without its per-call machinery.
_string = encode_basestring_ascii


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), check_circular=False)


T = TypeVar("T", bound=Hashable)
_MAX_INTERNED = 65_536


def interned(value: T, table: dict[T, T]) -> T:
    """The one object ``table`` keeps for values equal to ``value``: equal ones then compare by
    identity. Bounded, as a hostile sender could vary them (a cleared table costs look-ups again,
    never a wrong answer)."""
    known = table.get(value)
    if known is None:
        if len(table) >= _MAX_INTERNED:
            table.clear()
        known = table[value] = value
    return known


# One object per call layout: a series' fragments are then found by identity, where equal layouts
# of different objects would compare their sets of dimensions on every record. Layouts are as many
# as a target's calls share different dimensions.
_LAYOUTS: dict[tuple[Pairs, bool], tuple[Pairs, bool]] = {}


def _layout(shared: Pairs, with_measure: bool) -> tuple[Pairs, bool]:
    return interned((shared, with_measure), _LAYOUTS)


# A series meets few call layouts (usually one: its target's job and instance): more means churn.
_MAX_FRAGMENTS = 8


def _fragment(series: StoredSeries, layout: Hashable, shared: Pairs, with_measure: bool) -> str:
    """The JSON of a record of ``series`` up to its value's text: ``{"Dimensions":[...],...,"MeasureValue":"``."""
    own = [f'{{"Name":{_string(n)},"Value":{_string(v)}}}' for n, v in series.dimensions if (n, v) not in shared]
    text = "{"
    if own:
        text += f'"Dimensions":[{",".join(own)}],'
    if with_measure:
        text += f'"MeasureName":{_string(series.measure)},'
    text += '"MeasureValue":"'
    if len(series.fragments) >= _MAX_FRAGMENTS:
        series.fragments.clear()
    series.fragments[layout] = text
    return text


def common_dimensions(records: Sequence[Record], floor: Pairs = frozenset()) -> Pairs:
    """The (name, value) pairs on every record; ``floor``: pairs known to be on every one of them.

    Only pairs on both the first and the last record can be common, and beyond the floor (the
    scrape's ``job``, ``instance`` and external labels) usually none are: most calls need two
    look-ups, not one intersection per record.
    """
    candidates = (records[0].series.dimension_set & records[-1].series.dimension_set) - floor
    if not candidates:
        return floor
    for dimensions in map(_dimension_set, records):
        if not candidates <= dimensions:  # a subset test allocates nothing; most records pass it
            candidates = candidates & dimensions
            if not candidates:
                return floor
    return floor | candidates


_dimension_set = operator.attrgetter("series.dimension_set")
_size = operator.attrgetter("series.size")


def call_of(records: Sequence[Record], floor: Pairs = frozenset()) -> WriteCall:
    """The call of ``records``, sorted by time, then measure; ``floor`` as in ``common_dimensions``."""
    first, last = records[0], records[-1]
    same_time = first.time_ms == last.time_ms
    if same_time:  # sorted by measure within one time: the ends tell
        same_measure = first.series.measure == last.series.measure
    else:
        same_measure = len({r.series.measure for r in records}) == 1
    return WriteCall(
        records=records,
        common_dimensions=tuple(sorted(common_dimensions(records, floor))),
        common_time_ms=first.time_ms if same_time else None,
        common_measure=first.series.measure if same_measure else None,
    )


def dimension_bytes(dimensions: Iterable[tuple[str, str]]) -> int:
    return utf8_len("".join(chain.from_iterable(dimensions)))


def shared_bytes(call: WriteCall) -> int:
    """What a call's records share, metered once: common dimensions, time and measure name."""
    shared = dimension_bytes(call.common_dimensions)
    shared += TIME_BYTES if call.common_time_ms is not None else 0
    return shared + (utf8_len(call.common_measure) if call.common_measure is not None else 0)


def billed_bytes(call: WriteCall, shared: int | None = None) -> int:
    """The bytes Timestream meters for a call: what its records share once, then each one's own part."""
    shared = shared_bytes(call) if shared is None else shared
    return shared + sum(map(_size, call.records)) - len(call.records) * shared
