"""Prometheus series to Timestream WriteRecords calls.

Each sample becomes one single-measure record (layout in ``schema``). Records are grouped into calls
of at most 100 whose ``CommonAttributes`` carry what the records of the call share (the time of a
scrape, its ``job``/``instance`` and external labels): Timestream bills common attributes once per
call, and a scrape's samples share most of their bytes.
"""

from __future__ import annotations

import math
import operator
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, NamedTuple

from connector.timestream import schema

Dimensions = tuple[tuple[str, str], ...]
Labels = tuple[tuple[str, str], ...]
# What identifies a series' labels in the cache (1.0: its (name, value) pairs), or why it is invalid.
SeriesKey = Callable[[Any], Hashable | str]
# The (name, value) pairs a key stands for, or why that label set is invalid.
KeyLabels = Callable[[Any], Labels | str]
HISTOGRAMS_NOT_STORED = "native histograms are not supported by this connector"
_DOUBLE_BYTES = 8
_TIME_BYTES = 8
# Room kept in every record for the special-value dimension, so that any sample of a series fits.
_SPECIAL_ROOM = len(schema.SPECIAL_DIMENSION) + 22
_KIB = 1024
_MAX_LABELS = schema.MAX_DIMENSIONS_PER_RECORD + 1  # the dimensions plus __name__
# Records of one timestamp (one scrape) below this count are packed with others into shared calls.
_MIN_SCRAPE_RECORDS = 20


class Record(NamedTuple):
    """One sample as Timestream will store it; ``dimensions`` sorted by name (a tuple: cheap to build)."""

    dimensions: Dimensions
    measure_name: str
    time_ms: int
    value: str
    # Metered bytes of the record on its own: time, measure name, dimensions and the 8-byte double.
    size: int = 0


@dataclass
class Translation:
    records: list[Record] = field(default_factory=list)
    # Samples that can never be stored, by reason: the request gets 400 after the rest is written.
    invalid: Counter[str] = field(default_factory=Counter)
    # Parts of the request that are not samples and are knowingly not stored (exemplars, ...).
    ignored: Counter[str] = field(default_factory=Counter)


class SeriesCache:
    """What each label set maps to, kept across requests of a process.

    Prometheus resends the same series every scrape, so a warm process skips name mapping, sorting
    and quota checks. About 1 KB an entry; cleared when full, which costs no more than no cache.
    """

    def __init__(self, size: int = 20_000, labels_of: KeyLabels | None = None) -> None:
        self._size = size
        # Keys are label pairs unless a protocol keys its series otherwise and checks its own rules.
        self._labels_of = labels_of
        self._bases: dict[Hashable, tuple[Dimensions, str, int] | str] = {}

    def base(self, key: Hashable) -> tuple[Dimensions, str, int] | str:
        base = self._bases.get(key)
        if base is None:
            if len(self._bases) >= self._size:
                self._bases.clear()
            labels = self._labels_of(key) if self._labels_of else key
            base = self._bases[key] = labels if isinstance(labels, str) else _series_base(labels)  # type: ignore[arg-type]
        return base


def translate(timeseries: Iterable[Any], cache: SeriesCache | None = None, key: SeriesKey | None = None) -> Translation:
    """Records for every storable sample of ``timeseries``.

    A series is anything with ``samples`` (each with ``timestamp`` and ``value``), ``histograms`` and
    ``exemplars``. ``key`` names its labels for ``cache``: by default 1.0's ``TimeSeries.labels`` as
    pairs; 2.0 passes its own, with a cache that knows what its keys stand for.
    """
    result = Translation()
    append = result.records.append
    isfinite = math.isfinite
    lookup = (cache or SeriesCache()).base
    key_of = key or _label_pairs
    for series in timeseries:
        if series.exemplars:
            result.ignored["exemplars"] += len(series.exemplars)
        pairs = key_of(series)
        base = pairs if isinstance(pairs, str) else lookup(pairs)
        if isinstance(base, str):
            result.invalid[base] += len(series.samples) + len(series.histograms)
            continue
        dimensions, measure, size = base
        for sample in series.samples:
            value = sample.value
            if isfinite(value):
                append(Record(dimensions, measure, sample.timestamp, repr(value), size))
            else:
                append(_special_record(base, sample.timestamp, value))
        if series.histograms:
            result.invalid[HISTOGRAMS_NOT_STORED] += len(series.histograms)
    return result


def _label_pairs(series: Any) -> tuple[tuple[str, str], ...] | str:
    """A 1.0 series' (name, value) pairs, or why it is invalid.

    A series with more labels than Timestream has dimensions keeps only the labels it would store,
    so a hostile series of millions of empty labels is never copied.
    """
    labels = series.labels
    if len(labels) <= _MAX_LABELS:
        return tuple([(label.name, label.value) for label in labels])
    kept = []
    for label in labels:
        name, value = label.name, label.value
        if not name:
            return "label with an empty name"
        if value:
            kept.append((name, value))
            if len(kept) > _MAX_LABELS:
                return f"more than {schema.MAX_DIMENSIONS_PER_RECORD} labels"
    return tuple(kept)


def _series_base(labels: Sequence[tuple[str, str]]) -> tuple[Dimensions, str, int] | str:
    """Dimensions, measure name and metered size shared by a series' samples, or why it is invalid."""
    metric = ""
    previous = ""
    checked = False
    dimensions: list[tuple[str, str]] = []
    to_dimension = schema.dimension_name
    for name, value in labels:
        if name <= previous and not checked:  # labels arrive sorted: only unsorted ones need a closer look
            problem = _label_names_problem(labels)
            if problem:
                return problem
            checked = True
        previous = name
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
    size = _record_size(dimensions, measure)
    return size if isinstance(size, str) else (tuple(dimensions), measure, size)


def _label_names_problem(labels: Sequence[tuple[str, str]]) -> str | None:
    counts = Counter(name for name, _ in labels)
    if "" in counts:
        return "label with an empty name"
    duplicates = sorted(name for name, count in counts.items() if count > 1)
    return f"duplicate label name {duplicates[0]!r}" if duplicates else None


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def _record_size(dimensions: Sequence[tuple[str, str]], measure: str) -> int | str:
    """Metered bytes of a record of this series, or why it breaks one of Timestream's quotas."""
    if len(dimensions) > schema.MAX_DIMENSIONS_PER_RECORD:
        return f"more than {schema.MAX_DIMENSIONS_PER_RECORD} labels"
    for name, value in dimensions:
        # At most 4 bytes a character: only long names and values can break a byte quota.
        if len(name) * 4 > schema.MAX_DIMENSION_NAME_BYTES or len(value) * 4 > schema.MAX_DIMENSION_VALUE_BYTES:
            problem = _dimension_problem(name, value)
            if problem:
                return problem
    size = _TIME_BYTES + _DOUBLE_BYTES + _utf8_len(measure + "".join(chain.from_iterable(dimensions)))
    if size + _SPECIAL_ROOM > schema.MAX_RECORD_BYTES:
        return f"series larger than Timestream's {schema.MAX_RECORD_BYTES}-byte record limit"
    return size


def _dimension_problem(name: str, value: str) -> str | None:
    if len(name.encode("utf-8")) > schema.MAX_DIMENSION_NAME_BYTES:
        label = schema.label_name(name) or name
        return f"label name longer than Timestream's {schema.MAX_DIMENSION_NAME_BYTES} bytes: {label[:80]!r}"
    if len(value.encode("utf-8")) > schema.MAX_DIMENSION_VALUE_BYTES:
        return f"label value longer than Timestream's {schema.MAX_DIMENSION_VALUE_BYTES} bytes"
    return None


def _special_record(base: tuple[Dimensions, str, int], time_ms: int, value: float) -> Record:
    dimensions, measure, size = base
    special = schema.encode_special(value)
    assert special is not None
    tagged = tuple(sorted((*dimensions, (schema.SPECIAL_DIMENSION, special))))
    return Record(tagged, measure, time_ms, "0.0", size + len(schema.SPECIAL_DIMENSION) + len(special))


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
    """Calls of up to ``per_call`` records, cut where billing is cheapest.

    A call never mixes scrapes (timestamps) unless they are tiny, so each call can share its time,
    ``job``, ``instance`` and external labels. Calls are cut just below a KiB boundary of billed
    bytes where that keeps them at least half full: Timestream rounds each call up to whole KiB.
    """
    ordered = sorted(records, key=_grouping_key)
    calls: list[Call] = []
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


def _split(records: Sequence[Record], per_call: int) -> list[Call]:
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
    return sum(_utf8_len(n) + _utf8_len(v) for n, v in common) + (_TIME_BYTES if same_time else 0)


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
