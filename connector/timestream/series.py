"""Query rows to Prometheus series: grouped in one pass whatever the page boundaries.

Rows arrive in no particular order and pages split series anywhere, so rows are grouped in a dict
keyed by the tuple of their label cells, and each series' samples are sorted once at the end.
Rows carrying ``__special_value__`` join the series of the same labels: it is a value, not a label.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from connector.prom.series import Labels, Sample, Series
from connector.timestream import schema

MEASURE_NAME = "measure_name"
DOUBLE_VALUE = "measure_value::double"


def column_label(column: str) -> str:
    """The label a dimension column holds; a name that is not our escaping is taken verbatim."""
    try:
        label = schema.label_name(column)
    except (ValueError, UnicodeDecodeError):
        return column
    return column if label is None else label


class SeriesBuilder:
    """Accumulates rows of ``SELECT *, to_milliseconds(time)``, laid out as ``columns`` says.

    ``dimensions`` names the columns that hold labels (with ``__name__``/``__special_value__``,
    which are not labels); other columns (``time``, ``measure_value::*``) are ignored.
    """

    def __init__(self, columns: Sequence[str], dimensions: Collection[str]) -> None:
        index = {name: i for i, name in enumerate(columns[:-1])}
        reserved = (schema.NAME_DIMENSION, schema.SPECIAL_DIMENSION)
        label_columns = [c for c in columns[:-1] if c in dimensions and c not in reserved]
        self._names = [column_label(c) for c in label_columns]
        self._has_name = schema.NAME_DIMENSION in index
        name_at = [index[schema.NAME_DIMENSION]] if self._has_name else []
        # A series is keyed by its cells: measure_name, [__name__], then the labels.
        self._key = [index[MEASURE_NAME], *name_at, *(index[c] for c in label_columns)]
        self._special = index.get(schema.SPECIAL_DIMENSION)
        self._value = index[DOUBLE_VALUE]
        self._time = len(columns) - 1
        self._groups: dict[tuple[str | None, ...], list[Sample]] = {}
        self.samples = 0
        self.label_chars = 0  # size of the label cells of the series seen, for response size estimates

    def add(self, rows: Iterable[Sequence[dict[str, Any]]]) -> None:
        key_at, special, value_at, time_at, groups = self._key, self._special, self._value, self._time, self._groups
        for data in rows:
            key = tuple([data[i].get("ScalarValue") for i in key_at])
            text = data[special].get("ScalarValue") if special is not None else None
            value = schema.decode_special(text) if text is not None else float(data[value_at]["ScalarValue"])
            samples = groups.get(key)
            if samples is None:
                groups[key] = samples = []
                self.label_chars += sum(len(cell) for cell in key if cell)
            samples.append((int(data[time_at]["ScalarValue"]), value))
            self.samples += 1

    def series(self) -> list[Series]:
        """Every series, sorted by labels, samples ascending by time."""
        merged: dict[Labels, list[Sample]] = {}
        for key, samples in self._groups.items():
            labels = self._labels(key)
            if labels in merged:  # one true name under two measure names, or two columns for one label
                merged[labels].extend(samples)
            else:
                merged[labels] = samples
        return [Series(labels, sorted(merged[labels], key=_time)) for labels in sorted(merged)]

    def _labels(self, key: tuple[str | None, ...]) -> Labels:
        labels: dict[str, str] = {}
        cells = key[2:] if self._has_name else key[1:]
        name = (key[1] if self._has_name else None) or key[0]
        if name:
            labels["__name__"] = name
        for label, value in zip(self._names, cells, strict=True):
            if value and label not in labels:  # NULL and "" are the absent label
                labels[label] = value
        return tuple(sorted(labels.items()))


def _time(sample: Sample) -> int:
    return sample[0]
