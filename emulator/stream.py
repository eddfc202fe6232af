"""A query result served page by page, its rows fetched only as pages need them.

Pages follow Timestream: at most ``MaxRows`` rows (1-1000) and at most ``PAGE_BYTES`` of rows'
JSON, yet at least one row, so paging always progresses. Each row is served exactly once, in
order; the rows of one page are fetched while it is built, one batch ahead at most, so the time
to page through a result grows with its rows and its memory does not.
"""

from __future__ import annotations

import sys
from bisect import bisect_right
from itertools import accumulate
from operator import itemgetter
from typing import Any

from emulator.rows import Row, RowSource

PAGE_BYTES = 1024 * 1024
FETCH_ROWS = 2048
_text, _size = itemgetter(0), itemgetter(1)


class ResultStream:
    """One query's rows on their way out; not thread-safe (``pagination`` serialises pages)."""

    def __init__(self, query_id: str, column_info: list[dict[str, Any]], source: RowSource) -> None:
        self.query_id = query_id
        self.column_info = column_info
        self.bytes_served = 0
        self._source: RowSource | None = source
        self._rows: list[Row] = []
        self._next = 0  # first row of ``_rows`` not served yet

    @property
    def exhausted(self) -> bool:
        """Every row was served (and the source is closed)."""
        return self._source is None and self._next >= len(self._rows)

    def next_page(self, max_rows: int | None) -> list[str]:
        """The JSON text of the next page's rows."""
        limit = max_rows or sys.maxsize
        page: list[str] = []
        room = PAGE_BYTES
        while len(page) < limit and self._ready():
            batch = self._rows[self._next : self._next + limit - len(page)]
            ends = list(accumulate(map(_size, batch)))
            fit = bisect_right(ends, room) or (0 if page else 1)
            if not fit:
                break
            page += map(_text, batch[:fit])
            self._next += fit
            room -= ends[fit - 1]
            self.bytes_served += ends[fit - 1]
            if fit < len(batch):
                break
        self._ready()  # look ahead, so that ``exhausted`` is exact and no page after the last is empty
        return page

    def _ready(self) -> bool:
        """Whether a row is waiting, fetching the next batch once the last one is served."""
        if self._next < len(self._rows):
            return True
        if self._source is None:
            return False
        self._rows, self._next = self._source.fetch(FETCH_ROWS), 0
        if not self._rows:
            self.close()
        return bool(self._rows)

    def interrupt(self) -> None:
        """Stop a fetch in progress (called from a timer thread)."""
        source = self._source
        if source is not None:
            source.interrupt()

    def close(self) -> None:
        """Release the source; rows not served yet are dropped."""
        if self._source is not None:
            self._source.close()
        self._source = None
        self._rows, self._next = [], 0
