"""The time windows a backfill reads one at a time, oldest first.

Windows are aligned to multiples of their size since the epoch, so two runs of the same command
cut the same windows even when ``--start`` and ``--end`` are relative (``30d``, now) and have moved:
a rerun recognises what its predecessor finished. Only the first and last are cut shorter.
Each window is half-open, ``[start, end)``: a sample on a boundary belongs to exactly one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

# More windows than this is a mistake (a window of seconds over years): refused before any work.
MAX_WINDOWS = 1_000_000


class Window(NamedTuple):
    start_ms: int  # inclusive
    end_ms: int  # exclusive

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


def window_count(start_ms: int, end_ms: int, size_ms: int) -> int:
    """How many windows ``windows`` yields."""
    if end_ms <= start_ms:
        return 0
    first = start_ms - start_ms % size_ms
    return -(-(end_ms - first) // size_ms)


def windows(start_ms: int, end_ms: int, size_ms: int) -> Iterator[Window]:
    """``[start_ms, end_ms)`` cut at multiples of ``size_ms``, in time order."""
    if size_ms <= 0:
        raise ValueError(f"a window must last at least 1 ms, got {size_ms}")
    cut = start_ms - start_ms % size_ms
    while cut < end_ms:
        yield Window(max(cut, start_ms), min(cut + size_ms, end_ms))
        cut += size_ms
