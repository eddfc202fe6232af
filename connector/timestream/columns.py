"""What a table holds, from ``DESCRIBE``, and a short-lived cache of it per identity and table.

Reads select the table's columns by name (not ``*``), so the list decides which labels a series
gets back: a read therefore confirms its cached list with a fresh ``DESCRIBE`` running beside its
first query (see ``connector.read``), and the cache only lets that query start without waiting.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from connector.timestream import schema
from connector.timestream.statuses import deadline_error

MEASURE_NAME = "measure_name"
TIME = "time"
DOUBLE_VALUE = "measure_value::double"

# How long a DESCRIBE result may stand in for a fresh one while that one is on its way.
COLUMNS_TTL_SECONDS = 60.0


@dataclass(frozen=True)
class TableColumns:
    """The columns of a table: decides which matchers need SQL at all and what a read selects."""

    dimensions: frozenset[str]  # every dimension column, reserved ones included
    has_double: bool  # a ``measure_value::double`` column exists
    names: frozenset[str] = frozenset()  # every column

    @property
    def has_name(self) -> bool:
        return schema.NAME_DIMENSION in self.dimensions

    @property
    def has_special(self) -> bool:
        return schema.SPECIAL_DIMENSION in self.dimensions

    @property
    def label_columns(self) -> tuple[str, ...]:
        """Dimension columns holding labels, in a fixed order (``__name__`` and specials excluded)."""
        reserved = (schema.NAME_DIMENSION, schema.SPECIAL_DIMENSION)
        return tuple(sorted(c for c in self.dimensions if c not in reserved))


def from_describe(rows: Sequence[Sequence[str]]) -> TableColumns:
    """Columns from ``DESCRIBE`` rows (``Column``, ``Type``, ``Timestream attribute type``)."""
    names: set[str] = set()
    dimensions: set[str] = set()
    for cells in rows:
        name, kind = cells[0], (cells[2] if len(cells) > 2 else "")
        if not name:
            continue
        names.add(name)
        if kind == "DIMENSION" or (not kind and looks_like_dimension(name)):
            dimensions.add(name)
    return TableColumns(frozenset(dimensions), DOUBLE_VALUE in names, frozenset(names))


def looks_like_dimension(name: str) -> bool:
    """For a column ``DESCRIBE`` gave no attribute type: the reserved columns are known by name."""
    return name not in (TIME, MEASURE_NAME) and not name.startswith("measure_value::")


class ColumnCache:
    """Columns per (identity, database, table) for ``ttl`` seconds.

    Keyed by identity too: key pairs of different AWS accounts see different tables of one name.
    """

    def __init__(self, ttl: float = COLUMNS_TTL_SECONDS, size: int = 256, clock: Callable[[], float] = time.monotonic):
        self._ttl, self._size, self._clock = ttl, size, clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[float, TableColumns]] = OrderedDict()

    def get(self, key: Hashable) -> TableColumns | None:
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or self._clock() - entry[0] >= self._ttl:
            return None
        return entry[1]

    def put(self, key: Hashable, columns: TableColumns) -> None:
        with self._lock:
            self._entries[key] = (self._clock(), columns)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


class RequestColumns:
    """The column list of one request: the cached one to start at once, then the one a concurrent
    ``DESCRIBE`` returns (``fresh``), which replaces it in the cache."""

    def __init__(self, cache: ColumnCache, key: Hashable, fresh: Future[TableColumns], deadline: float) -> None:
        self.key, self._cache, self._fresh, self._deadline = key, cache, fresh, deadline
        self._columns = cache.get(key)

    def current(self) -> TableColumns:
        """The cached list while the fresh one is on its way; the fresh one once known."""
        return self._columns if self._columns is not None else self.confirmed()

    def confirmed(self) -> TableColumns:
        try:
            columns = self._fresh.result(timeout=max(0.0, self._deadline - time.monotonic()))
        except TimeoutError:
            raise deadline_error("Timestream did not describe the table in time; retry") from None
        if columns != self._columns:
            self._cache.put(self.key, columns)
            self._columns = columns
        return columns
