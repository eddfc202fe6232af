"""Query rows to Prometheus series: grouped in one pass whatever the page or slice boundaries.

Rows arrive in no particular order and pages split series anywhere, so rows are grouped by the
tuple of their key cells (measure name, true name, labels: the first cells of every row, see
``read_sql.Layout``). Times and values stay text until a series is complete, then convert in bulk;
each series is sorted once at the end. Rows carrying ``__special_value__`` join the series of the
same labels: it is a value, not a label.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Sequence

from connector.prom.series import Labels, Sample, Series
from connector.timestream import schema
from connector.timestream.read_sql import Layout


def column_label(column: str) -> str:
    """The label a dimension column holds; a name that is not our escaping is taken verbatim."""
    try:
        label = schema.label_name(column)
    except (ValueError, UnicodeDecodeError):
        return column
    return column if label is None else label


class _Group:
    __slots__ = ("specials", "times", "values")

    def __init__(self) -> None:
        self.times: list[str] = []
        self.values: list[str] = []
        self.specials: list[str] | None = None


class SeriesBuilder:
    """Accumulates the flat cells of pages laid out as ``layout`` says."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self._names = [column_label(c) for c in layout.labels]
        self._groups: dict[tuple[str, ...], _Group] = {}
        self.samples = 0
        self.label_chars = 0  # size of the label cells of the series seen, for response size estimates

    @property
    def series_count(self) -> int:
        return len(self._groups)

    def add(self, cells: Sequence[str]) -> None:
        """Rows of one page: ``layout.width`` cells each."""
        layout, width = self.layout, self.layout.width
        if not cells:
            return
        keys = self._keys(cells)
        groups = self._groups
        if not layout.samples:
            for key in keys:
                if key not in groups:
                    groups[key] = _Group()
                    self.label_chars += sum(map(len, key))
            return
        at = layout.key_width
        specials = cells[at::width] if layout.has_special else None
        values = cells[at + layout.has_special :: width]
        times = cells[at + layout.has_special + 1 :: width]
        for i, key in enumerate(keys):
            group = groups.get(key)
            if group is None:
                group = groups[key] = _Group()
                self.label_chars += sum(map(len, key))
            group.times.append(times[i])
            group.values.append(values[i])
            if specials is not None and (specials[i] or group.specials is not None):
                if group.specials is None:
                    group.specials = [""] * (len(group.times) - 1)
                group.specials.append(specials[i])
        self.samples += len(keys)

    def _keys(self, cells: Sequence[str]) -> list[tuple[str, ...]]:
        width, key_width = self.layout.width, self.layout.key_width
        if key_width == 1:
            return [(cell,) for cell in cells[::width]]
        return list(zip(*(cells[i::width] for i in range(key_width)), strict=True))

    def series(self) -> list[Series]:
        """Every series, sorted by labels, samples ascending by time."""
        merged: dict[Labels, list[Sample]] = {}
        for key, group in self._groups.items():
            labels = self._labels(key)
            samples = _samples(group)
            if labels in merged:  # one true name under two measure names, or two columns for one label
                merged[labels].extend(samples)
            else:
                merged[labels] = samples
        return [Series(labels, _sorted(merged[labels])) for labels in sorted(merged)]

    def _labels(self, key: tuple[str, ...]) -> Labels:
        labels: dict[str, str] = {}
        has_name = self.layout.has_name
        name = (key[1] if has_name else "") or key[0]
        if name:
            labels["__name__"] = name
        for label, value in zip(self._names, key[1 + has_name :], strict=True):
            if value and label not in labels:  # NULL and "" are the absent label
                labels[label] = value
        return tuple(sorted(labels.items()))


def _samples(group: _Group) -> list[Sample]:
    times = list(map(int, group.times))
    if group.specials is None:
        return list(zip(times, map(float, group.values), strict=True))
    return [
        (t, schema.decode_special(s) if s else float(v))
        for t, v, s in zip(times, group.values, group.specials, strict=True)
    ]


def _sorted(samples: list[Sample]) -> list[Sample]:
    """Ascending by time; most answers already are, so check before sorting."""
    if all(a[0] < b[0] for a, b in itertools.pairwise(samples)):
        return samples
    return sorted(samples, key=operator.itemgetter(0))
