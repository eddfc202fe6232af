"""When to cut a query's time range into slices that Timestream answers concurrently.

A query's pages come one after another (each ``NextToken`` waits for the page before), so a
large answer is faster as several queries over adjacent time slices, read at once. But under
per-byte pricing each query is metered at least 10 MB, so slicing a small answer multiplies its
cost for nothing. A query's size is not known before it runs; the same selection is, though,
read again and again (dashboards refresh, rules re-evaluate). So the planner remembers how many
rows per millisecond each selection returned and slices only when that density predicts more
than ``rows_per_slice`` rows per slice. A selection never seen before runs as one query.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Hashable

from connector.timestream.read_sql import TimeRange

# About 10-20 MB of result JSON: past the per-query metering minimum, so a slice pays for itself.
ROWS_PER_SLICE = 100_000


def split(time_range: TimeRange, count: int) -> list[TimeRange]:
    """``count`` adjacent slices covering ``time_range`` exactly once, the last one closed."""
    span = time_range.end - time_range.start + 1
    count = max(1, min(count, span))
    if count == 1:
        return [time_range]
    bounds = [time_range.start + span * i // count for i in range(count)] + [time_range.end]
    slices = [TimeRange(bounds[i], bounds[i + 1], open_end=True) for i in range(count - 1)]
    return [*slices, TimeRange(bounds[-2], time_range.end, open_end=time_range.open_end)]


class SlicePlanner:
    """Remembers the row density of recent selections (least recently used beyond ``size``)."""

    def __init__(self, max_slices: int, rows_per_slice: int = ROWS_PER_SLICE, size: int = 1024) -> None:
        self._max_slices, self._rows_per_slice, self._size = max_slices, rows_per_slice, size
        self._lock = threading.Lock()
        self._density: OrderedDict[Hashable, float] = OrderedDict()

    def plan(self, key: Hashable, time_range: TimeRange) -> list[TimeRange]:
        with self._lock:
            density = self._density.get(key)
        if density is None:
            return [time_range]
        expected = density * (time_range.end - time_range.start + 1)
        return split(time_range, min(self._max_slices, math.ceil(expected / self._rows_per_slice)))

    def observe(self, key: Hashable, time_range: TimeRange, rows: int) -> None:
        with self._lock:
            self._density[key] = rows / (time_range.end - time_range.start + 1)
            self._density.move_to_end(key)
            while len(self._density) > self._size:
                self._density.popitem(last=False)
