"""Query rows to Prometheus series: grouped in one pass whatever the page or slice boundaries.

Rows arrive in no particular order and pages split series anywhere, so rows are grouped by their
series key (``series_key``: one cell naming the measure, true name and labels). Times and values
stay text until a series is complete, then convert in bulk; each series is sorted once at the end.
Rows carrying ``__special_value__`` join the series of the same labels: it is a value, not a label.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

from connector.prom.series import Labels, Sample, Series
from connector.timestream import schema, series_key
from connector.timestream.read_sql import Layout


def column_label(column: str) -> str:
    """The label a dimension column holds; a name that is not our escaping is taken verbatim."""
    try:
        label = schema.label_name(column)
    except (ValueError, UnicodeDecodeError):
        return column
    return column if label is None else label


class SeriesBuilder:
    """Accumulates the flat cells of pages laid out as ``layout`` says."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self._names = [column_label(c) for c in layout.labels]
        # Per series key: its time and value texts, in arrival order.
        self._groups: dict[str, tuple[list[str], list[str]]] = {}
        # Per series key with special values: time text -> special text (rare, so kept apart).
        self._specials: dict[str, dict[str, str]] = {}
        self.samples = 0
        self.label_chars = 0  # size of the keys of the series seen, for response size estimates

    @property
    def series_count(self) -> int:
        return len(self._groups)

    def add(self, cells: Sequence[str]) -> None:
        """Rows of one page: ``layout.width`` cells each, the series key first."""
        if not cells:
            return
        layout, width, groups = self.layout, self.layout.width, self._groups
        keys = cells[::width]
        if not layout.samples:
            for key in keys:
                if key not in groups:
                    groups[key] = ([], [])
                    self.label_chars += len(key)
            return
        at = 1 + layout.has_special
        values, times = cells[at::width], cells[at + 1 :: width]
        for key, time_text, value in zip(keys, times, values, strict=True):
            group = groups.get(key)
            if group is None:
                group = groups[key] = ([], [])
                self.label_chars += len(key)
            group[0].append(time_text)
            group[1].append(value)
        if layout.has_special:
            self._add_specials(keys, times, cells[1::width])
        self.samples += len(keys)

    def _add_specials(self, keys: Sequence[str], times: Sequence[str], specials: Sequence[str]) -> None:
        if not any(specials):
            return
        for key, time_text, special in zip(keys, times, specials, strict=True):
            if special:
                self._specials.setdefault(key, {})[time_text] = special

    def series(self) -> list[Series]:
        """Every series, sorted by labels, samples ascending by time."""
        merged: dict[Labels, list[Sample]] = {}
        for key, (times, values) in self._groups.items():
            labels = self._labels(key)
            samples = _samples(times, values, self._specials.get(key))
            if labels in merged:  # one true name under two measure names, or two columns for one label
                merged[labels] = sorted(merged[labels] + samples, key=operator.itemgetter(0))
            else:
                merged[labels] = samples
        return [Series(labels, merged[labels]) for labels in sorted(merged)]

    def _labels(self, key: str) -> Labels:
        parts = series_key.decode(key)
        if len(parts) != len(self.layout.key_columns):
            raise ValueError(f"a series key has {len(parts)} parts for {len(self.layout.key_columns)} columns")
        has_name = self.layout.has_name
        labels: dict[str, str] = {}
        name = (parts[1] if has_name else "") or parts[0]
        if name:
            labels["__name__"] = name
        for label, value in zip(self._names, parts[1 + has_name :], strict=True):
            if value and label not in labels:  # NULL and "" are the absent label
                labels[label] = value
        return tuple(sorted(labels.items()))


def _samples(times: list[str], values: list[str], specials: dict[str, str] | None) -> list[Sample]:
    """One series' samples, ascending by time (most answers already are: checked before sorting)."""
    stamps = list(map(int, times))
    numbers = list(map(float, values))
    if specials:
        for i, time_text in enumerate(times):
            special = specials.get(time_text)
            if special:
                numbers[i] = schema.decode_special(special)
    samples = list(zip(stamps, numbers, strict=True))
    if all(map(operator.lt, stamps, stamps[1:])):
        return samples
    return sorted(samples, key=operator.itemgetter(0))
