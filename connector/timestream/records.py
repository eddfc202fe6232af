"""Prometheus series to Timestream WriteRecords calls.

Each sample becomes one single-measure record (layout in ``schema``). Records are grouped into calls
of at most 100 whose ``CommonAttributes`` carry what the records of the call share (the time of a
scrape, its ``job``/``instance`` and external labels): Timestream bills common attributes once per
call, and a scrape's samples share most of their bytes.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from connector.timestream import schema

Dimensions = tuple[tuple[str, str], ...]
_DOUBLE_BYTES = 8
_TIME_BYTES = 8


class Record(NamedTuple):
    """One sample as Timestream will store it; ``dimensions`` sorted by name (a tuple: cheap to build)."""

    dimensions: Dimensions
    measure_name: str
    time_ms: int
    value: str


@dataclass
class Translation:
    records: list[Record] = field(default_factory=list)
    # Samples that can never be stored, by reason: the request gets 400 after the rest is written.
    invalid: Counter[str] = field(default_factory=Counter)
    # Parts of the request that are not samples and are knowingly not stored (exemplars, ...).
    ignored: Counter[str] = field(default_factory=Counter)


def translate(timeseries: Iterable[Any]) -> Translation:
    """Records for every storable sample of ``timeseries`` (protobuf ``prometheus.TimeSeries``)."""
    result = Translation()
    append = result.records.append
    isfinite = math.isfinite
    for series in timeseries:
        base = _series_base(series.labels)
        if isinstance(base, str):
            result.invalid[base] += len(series.samples) + len(series.histograms)
            continue
        dimensions, measure = base
        for sample in series.samples:
            value = sample.value
            if isfinite(value):
                append(Record(dimensions, measure, sample.timestamp, repr(value)))
            else:
                append(_special_record(dimensions, measure, sample.timestamp, value))
        if series.histograms:
            result.invalid["native histograms are not supported by this connector"] += len(series.histograms)
        if series.exemplars:
            result.ignored["exemplars"] += len(series.exemplars)
    return result


def _series_base(labels: Iterable[Any]) -> tuple[Dimensions, str] | str:
    """The dimensions and measure name shared by a series' samples, or the reason it is invalid."""
    metric = ""
    seen: set[str] = set()
    dimensions: list[tuple[str, str]] = []
    to_dimension = schema.dimension_name
    for label in labels:
        name = label.name
        if not name or name in seen:
            return f"duplicate label name {name!r}" if name else "label with an empty name"
        seen.add(name)
        value = label.value
        if name == "__name__":
            metric = value
        elif value:  # an empty value means the label is absent, as in Prometheus
            dimensions.append((to_dimension(name), value))
    if not metric:
        return "series without a metric name (__name__)"
    measure, needs_name_dimension = schema.measure_name(metric)
    if needs_name_dimension or not dimensions:
        dimensions.append((schema.NAME_DIMENSION, metric))
    dimensions.sort()
    problem = _quota_problem(dimensions, measure)
    return problem if problem else (tuple(dimensions), measure)


def _quota_problem(dimensions: Sequence[tuple[str, str]], measure: str) -> str | None:
    """Why a series cannot be stored within Timestream's quotas, or None."""
    if len(dimensions) > schema.MAX_DIMENSIONS_PER_RECORD:
        return f"more than {schema.MAX_DIMENSIONS_PER_RECORD} labels"
    if _certainly_fits(dimensions, measure):
        return None
    size = _TIME_BYTES + _DOUBLE_BYTES + len(measure.encode())
    for name, value in dimensions:
        name_bytes = len(name.encode())
        value_bytes = len(value.encode())
        if name_bytes > schema.MAX_DIMENSION_NAME_BYTES:
            label = schema.label_name(name) or name
            return f"label name longer than Timestream's {schema.MAX_DIMENSION_NAME_BYTES} bytes: {label[:80]!r}"
        if value_bytes > schema.MAX_DIMENSION_VALUE_BYTES:
            return f"label value longer than Timestream's {schema.MAX_DIMENSION_VALUE_BYTES} bytes"
        size += name_bytes + value_bytes
    # The special-value dimension may add up to 40 bytes; keep room so every sample fits.
    if size + 40 > schema.MAX_RECORD_BYTES:
        return f"series larger than Timestream's {schema.MAX_RECORD_BYTES}-byte record limit"
    return None


def _certainly_fits(dimensions: Sequence[tuple[str, str]], measure: str) -> bool:
    """Fast path: at 4 bytes per character at most, the series is within every byte quota."""
    chars = len(measure)
    for name, value in dimensions:
        if len(name) * 4 > schema.MAX_DIMENSION_NAME_BYTES:
            return False
        chars += len(name) + len(value)
    return chars * 4 + _TIME_BYTES + _DOUBLE_BYTES + 40 <= schema.MAX_RECORD_BYTES


def _special_record(dimensions: Dimensions, measure: str, time_ms: int, value: float) -> Record:
    special = schema.encode_special(value)
    assert special is not None
    tagged = tuple(sorted((*dimensions, (schema.SPECIAL_DIMENSION, special))))
    return Record(tagged, measure, time_ms, "0.0")


@dataclass(frozen=True, slots=True)
class Call:
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


def plan_calls(records: Sequence[Record], per_call: int = schema.MAX_RECORDS_PER_CALL) -> list[Call]:
    """Calls of up to ``per_call`` records, ordered so neighbours share time and dimensions."""
    ordered = sorted(records, key=_grouping_key)
    return [_call(ordered[i : i + per_call]) for i in range(0, len(ordered), per_call)]


def _grouping_key(record: Record) -> tuple[int, Dimensions, str]:
    return record.time_ms, record.dimensions, record.measure_name


def _call(records: Sequence[Record]) -> Call:
    first = records[0]
    common = set(first.dimensions)
    same_time = same_measure = True
    for record in records[1:]:
        if common:
            common.intersection_update(record.dimensions)
        same_time = same_time and record.time_ms == first.time_ms
        same_measure = same_measure and record.measure_name == first.measure_name
    return Call(
        records=records,
        common_dimensions=tuple(sorted(common)),
        common_time_ms=first.time_ms if same_time else None,
        common_measure=first.measure_name if same_measure else None,
    )
