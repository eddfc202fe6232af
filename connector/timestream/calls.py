"""Records to WriteRecords calls, grouped and cut where Timestream bills least.

Calls hold at most 100 records, and their ``CommonAttributes`` carry what the records of the call
share (the time of a scrape, its ``job``/``instance`` and external labels): Timestream bills common
attributes once per call, and a scrape's samples share most of their bytes.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from connector.timestream import schema
from connector.timestream.records import TIME_BYTES, Dimensions, Record, utf8_len

_KIB = 1024
# Records of one timestamp (one scrape) below this count are packed with others into shared calls.
_MIN_SCRAPE_RECORDS = 20


@dataclass(frozen=True, slots=True)
class WriteCall:
    """One WriteRecords call: the request parameters and the records it carries, in order."""

    records: Sequence[Record]
    common_dimensions: Dimensions
    common_time_ms: int | None
    common_measure: str | None

    def parameters(self, database: str, table: str) -> dict[str, Any]:
        common: dict[str, Any] = {"MeasureValueType": "DOUBLE", "TimeUnit": "MILLISECONDS"}
        if self.common_dimensions:
            common["Dimensions"] = [{"Name": n, "Value": v} for n, v in self.common_dimensions]
        if self.common_time_ms is not None:
            common["Time"] = str(self.common_time_ms)
        if self.common_measure is not None:
            common["MeasureName"] = self.common_measure
        shared = set(self.common_dimensions)
        return {
            "DatabaseName": database,
            "TableName": table,
            "CommonAttributes": common,
            "Records": [self._record(r, shared) for r in self.records],
        }

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


def plan_calls(records: Sequence[Record], per_call: int = schema.MAX_RECORDS_PER_CALL) -> list[WriteCall]:
    """Calls of up to ``per_call`` records, cut where billing is cheapest.

    A call never mixes scrapes (timestamps) unless they are tiny, so each call can share its time,
    ``job``, ``instance`` and external labels. Calls are cut just below a KiB boundary of billed
    bytes where that keeps them at least half full: Timestream rounds each call up to whole KiB.
    """
    ordered = sorted(records, key=_grouping_key)
    calls: list[WriteCall] = []
    small: list[Record] = []
    for group in _same_time_runs(ordered):
        if len(group) < _MIN_SCRAPE_RECORDS:
            small.extend(group)
        else:
            calls.extend(_split(group, per_call))
    calls.extend(_split(small, per_call))
    return calls


# Scrape first, then metric name: a call of one metric's series can share its measure name too.
_grouping_key = operator.itemgetter(2, 1)


def _same_time_runs(ordered: Sequence[Record]) -> Iterable[Sequence[Record]]:
    start = 0
    for index in range(1, len(ordered) + 1):
        if index == len(ordered) or ordered[index].time_ms != ordered[start].time_ms:
            yield ordered[start:index]
            start = index


def _split(records: Sequence[Record], per_call: int) -> list[WriteCall]:
    calls = []
    shared = _shared_bytes(records)
    start = 0
    while start < len(records):
        end = min(start + per_call, len(records))
        if end < len(records):
            end = _kib_cut(records, start, end, shared, per_call // 2)
        calls.append(_call(records[start:end]))
        start = end
    return calls


def _shared_bytes(records: Sequence[Record]) -> int:
    """Bytes every record of ``records`` shares (its common dimensions and, if equal, time)."""
    if not records:
        return 0
    common = set(records[0].dimensions)
    for record in records:
        common.intersection_update(record.dimensions)
    same_time = records[0].time_ms == records[-1].time_ms
    return sum(utf8_len(n) + utf8_len(v) for n, v in common) + (TIME_BYTES if same_time else 0)


def _kib_cut(records: Sequence[Record], start: int, end: int, shared: int, minimum: int) -> int:
    """The end of a call starting at ``start`` that stops just below a KiB boundary of billed bytes."""
    sizes = [records[i].size - shared for i in range(start, end)]
    total = sum(sizes) + shared
    boundary = total - total % _KIB
    cut = end
    while cut - start > minimum and total > boundary:
        cut -= 1
        total -= sizes[cut - start]
    return cut if total <= boundary else end


def _call(records: Sequence[Record]) -> WriteCall:
    first = records[0]
    common = set(first.dimensions)
    same_time = same_measure = True
    for record in records[1:]:
        if common:
            common.intersection_update(record.dimensions)
        same_time = same_time and record.time_ms == first.time_ms
        same_measure = same_measure and record.measure_name == first.measure_name
    return WriteCall(
        records=records,
        common_dimensions=tuple(sorted(common)),
        common_time_ms=first.time_ms if same_time else None,
        common_measure=first.measure_name if same_measure else None,
    )
