"""Write metering and call counters.

Timestream bills writes per call in 1 KiB units of record bytes (8 B time + UTF-8 bytes of
dimension names and values + measure name + value bytes), and attributes sent in
``CommonAttributes`` are counted once per call. Only records that are actually ingested are
counted: rejected records are not stored, so this store does not bill them (the AWS pricing
page meters "data written"). A call whose records are all rejected is billed nothing.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

WRITE_UNIT_BYTES = 1024


def call_billed_bytes(common_bytes: int, written_own_bytes: list[int]) -> int:
    """Metered bytes of one call: common attributes once, plus each written record's own bytes."""
    if not written_own_bytes:
        return 0
    return common_bytes + sum(written_own_bytes)


def billed_write_units(billed_bytes: int) -> int:
    """Round one call's bytes up to whole 1 KiB write units."""
    return -(-billed_bytes // WRITE_UNIT_BYTES)


class Meter:
    """Thread-safe running totals served by ``GET /__admin/stats``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totals: Counter[str] = Counter()
        self._by_key: Counter[str] = Counter()
        self._by_operation: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            for counter in (self._totals, self._by_key, self._by_operation, self._faults):
                counter.clear()

    def count_call(self, access_key: str, operation: str) -> None:
        """An authenticated API call (counted even if a fault is injected afterwards)."""
        with self._lock:
            self._by_key[access_key] += 1
            self._by_operation[operation] += 1

    def count_fault(self, kind: str) -> None:
        """An injected fault, by kind (throttle, internal, hang)."""
        with self._lock:
            self._faults[kind] += 1

    def count_write(self, written: int, rejected: int, billed_bytes: int) -> None:
        """A WriteRecords call that reached the store."""
        with self._lock:
            self._totals["write_calls"] += 1
            self._totals["records_written"] += written
            self._totals["records_rejected"] += rejected
            self._totals["billed_bytes"] += billed_bytes
            self._totals["billed_write_units"] += billed_write_units(billed_bytes)

    def count_query(self) -> None:
        """A Query call (each page is a call)."""
        with self._lock:
            self._totals["query_calls"] += 1

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy of every counter."""
        with self._lock:
            names = (
                "write_calls",
                "records_written",
                "records_rejected",
                "billed_bytes",
                "billed_write_units",
                "query_calls",
            )
            stats: dict[str, Any] = {name: self._totals[name] for name in names}
            stats["calls_by_access_key"] = dict(self._by_key)
            stats["calls_by_operation"] = dict(self._by_operation)
            stats["faults_injected"] = dict(self._faults)
            return stats
