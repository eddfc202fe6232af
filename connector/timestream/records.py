"""Prometheus series to Timestream records: one single-measure record per sample (layout in ``schema``).

Series are checked against Timestream's quotas here, once per label set (``SeriesCache``), so that
what cannot be stored is counted with its reason before any call; ``calls`` groups the records.
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain, count
from typing import Any, NamedTuple

from connector.timestream import schema

Dimensions = tuple[tuple[str, str], ...]
Labels = tuple[tuple[str, str], ...]
# What identifies a series' labels in the cache (1.0: its (name, value) pairs), or why it is invalid.
SeriesKey = Callable[[Any], Hashable | str]
# The (name, value) pairs a key stands for, or why that label set is invalid; None: the key does
# not stand for a label set alone (its series is read whole instead).
KeyLabels = Callable[[Any], Labels | str | None]
# Encoded series, each as (its cache key, its one sample, the series), or (None, None, the series)
# when it must be read whole.
Split = Callable[[Any], Iterable[tuple[Hashable | None, Any, Any]]]
HISTOGRAMS_NOT_STORED = "native histograms are not supported by this connector"
_DOUBLE_BYTES = 8
TIME_BYTES = 8
# Room kept in every record for the special-value dimension, so that any sample of a series fits.
_SPECIAL_ROOM = len(schema.SPECIAL_DIMENSION) + 22
_MAX_LABELS = schema.MAX_DIMENSIONS_PER_RECORD + 1  # the dimensions plus __name__
_MAX_SPECIALS = 8  # +Inf, -Inf, staleness, NaN and a few NaN payloads per series
_SERIALS = count(1)


@dataclass(slots=True)
class StoredSeries:
    """What every record of one series shares, worked out once per label set and cached with it.

    ``dimension_set`` lets a call find its common dimensions with set operations in C, and
    ``fragments`` keeps the series' part of a WriteRecords body per call layout (``calls``), so a
    warm series is serialized once, not once per sample. ``beyond`` keeps the dimensions it has
    beyond its scrape's shared ones, with those (``calls``): a target's scrape shares the same ones.
    """

    dimensions: Dimensions  # sorted by name
    measure: str
    # Metered bytes of one record on its own: time, measure name, dimensions and the 8-byte double.
    size: int
    dimension_set: frozenset[tuple[str, str]] = field(init=False, compare=False, repr=False)
    fragments: dict[Hashable, str] = field(init=False, compare=False, repr=False, default_factory=dict)
    beyond: tuple[frozenset[tuple[str, str]], frozenset[tuple[str, str]] | None] | None = field(
        init=False, compare=False, repr=False, default=None
    )
    _specials: dict[str, StoredSeries] = field(init=False, compare=False, repr=False, default_factory=dict)
    # Never shared by two objects, unlike an id: what a plan remembers series by (``planning``).
    serial: int = field(init=False, compare=False, repr=False, default_factory=_SERIALS.__next__)

    def __post_init__(self) -> None:
        self.dimension_set = frozenset(self.dimensions)

    def special(self, value: float) -> StoredSeries:
        """The series a non-finite value is stored under: these labels plus ``__special_value__``."""
        text = schema.encode_special(value)
        assert text is not None
        tagged = self._specials.get(text)
        if tagged is None:
            if len(self._specials) >= _MAX_SPECIALS:  # NaN payloads are many: a hostile sender varies them
                self._specials.clear()
            dimensions = tuple(sorted((*self.dimensions, (schema.SPECIAL_DIMENSION, text))))
            size = self.size + len(schema.SPECIAL_DIMENSION) + len(text)
            tagged = self._specials[text] = StoredSeries(dimensions, self.measure, size)
        return tagged


class Record(NamedTuple):
    """One sample as Timestream will store it (a tuple: cheap to build, one per sample)."""

    series: StoredSeries
    time_ms: int
    value: str  # the DOUBLE measure value as Timestream reads it

    @property
    def dimensions(self) -> Dimensions:
        return self.series.dimensions

    @property
    def measure_name(self) -> str:
        return self.series.measure

    @property
    def size(self) -> int:
        return self.series.size


def record(dimensions: Dimensions, measure: str, time_ms: int, value: str, size: int = 0) -> Record:
    """A record built from its parts, for callers that have no cached series (tests, tools)."""
    return Record(StoredSeries(dimensions, measure, size), time_ms, value)


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
    and quota checks. About 2 KB an entry (measured with its serialized part); cleared when full,
    which costs no more than no cache.
    """

    def __init__(self, size: int = 20_000, labels_of: KeyLabels | None = None) -> None:
        self._size = size
        # Keys are label pairs unless a protocol keys its series otherwise and checks its own rules.
        self._labels_of = labels_of
        self._bases: dict[Hashable, StoredSeries | str] = {}
        # A hit without a method call of our own (cleared in place, so this stays the dict's get).
        self.known = self._bases.get

    def base(self, key: Hashable) -> StoredSeries | str | None:
        """What the series of ``key`` shares, or why it is invalid; None if ``key`` names no label set."""
        base = self._bases.get(key)
        if base is None:
            labels = self._labels_of(key) if self._labels_of else key
            if labels is None:
                return None
            if len(self._bases) >= self._size:
                self._bases.clear()
            base = self._bases[key] = labels if isinstance(labels, str) else _series_base(labels)  # type: ignore[arg-type]
        return base


def translate(
    timeseries: Iterable[Any],
    cache: SeriesCache | None = None,
    key: SeriesKey | None = None,
    into: Translation | None = None,
) -> Translation:
    """Records for every storable sample of ``timeseries`` (added to ``into``, if given).

    A series is anything with ``samples`` (each with ``timestamp`` and ``value``), ``histograms`` and
    ``exemplars``. ``key`` names its labels for ``cache``: by default 1.0's ``TimeSeries.labels`` as
    pairs; 2.0 passes its own, with a cache that knows what its keys stand for.
    """
    result = into if into is not None else Translation()
    append = result.records.append
    isfinite = math.isfinite
    cache = cache or SeriesCache()
    known, lookup = cache.known, cache.base
    key_of = key or _label_pairs
    new_record = tuple.__new__  # Record's own constructor is a Python function: too slow per sample
    for series in timeseries:
        if series.exemplars:
            result.ignored["exemplars"] += len(series.exemplars)
        pairs = key_of(series)
        base = pairs if isinstance(pairs, str) else known(pairs) or lookup(pairs)
        if isinstance(base, str):
            result.invalid[base] += len(series.samples) + len(series.histograms)
            continue
        assert base is not None, "a series' own key always names its labels"
        for sample in series.samples:
            value = sample.value
            if isfinite(value):
                append(new_record(Record, (base, sample.timestamp, repr(value))))
            else:
                append(Record(base.special(value), sample.timestamp, "0.0"))
        if series.histograms:
            result.invalid[HISTOGRAMS_NOT_STORED] += len(series.histograms)
    return result


def translate_encoded(
    encoded: Iterable[Any], cache: SeriesCache, split: Split, parse: Callable[[Any], Any], key: SeriesKey
) -> Translation:
    """``translate`` for series still encoded, as Prometheus sends them: one sample each.

    ``split`` gives each series as (a cache key, its one sample, the series), or (None, None, the
    series). A split series costs a look-up and its sample; one not split, or whose key the cache
    does not take for a label set, is ``parse``d and translated whole, in its place.
    """
    result = Translation()
    append = result.records.append
    isfinite = math.isfinite
    known, lookup = cache.known, cache.base
    new_record = tuple.__new__
    for series_key, sample, series in split(encoded):
        if series_key is not None:
            base = known(series_key) or lookup(series_key)
            if isinstance(base, str):
                result.invalid[base] += 1
                continue
            if base is not None:
                value = sample.value
                if isfinite(value):
                    append(new_record(Record, (base, sample.timestamp, repr(value))))
                else:
                    append(Record(base.special(value), sample.timestamp, "0.0"))
                continue
        translate((parse(series),), cache, key, result)
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


def _series_base(labels: Sequence[tuple[str, str]]) -> StoredSeries | str:
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
    measure = sys.intern(measure)  # one object per metric: sorting and grouping compare identities
    if needs_name_dimension or not dimensions:
        dimensions.append((schema.NAME_DIMENSION, metric))
    dimensions.sort()
    size = _record_size(dimensions, measure)
    return size if isinstance(size, str) else StoredSeries(tuple(dimensions), measure, size)


def _label_names_problem(labels: Sequence[tuple[str, str]]) -> str | None:
    counts = Counter(name for name, _ in labels)
    if "" in counts:
        return "label with an empty name"
    duplicates = sorted(name for name, count in counts.items() if count > 1)
    return f"duplicate label name {duplicates[0]!r}" if duplicates else None


def utf8_len(text: str) -> int:
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
    size = TIME_BYTES + _DOUBLE_BYTES + utf8_len(measure + "".join(chain.from_iterable(dimensions)))
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
