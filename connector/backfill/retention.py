"""Whether the table can take samples as old as the backfill's range, from its ``DescribeTable``.

Timestream accepts a sample only within the memory-store retention (1 to 8766 hours before now),
or, when the table has magnetic-store writes enabled, within the magnetic-store retention. A
backfill past those limits would have every older sample rejected, one call after another: it is
refused before anything is written, with the command that changes the table.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from connector.backfill.times import format_time

MAX_MEMORY_HOURS = 8766
MAX_MAGNETIC_DAYS = 73000
# The memory store's edge moves on while the backfill runs: the oldest window must stay inside it.
MARGIN_MS = 15 * 60_000
_HOUR_MS = 3_600_000
_DAY_MS = 86_400_000


def refusal(table: Mapping[str, Any], start_ms: int, now_ms: int) -> str | None:
    """Why samples from ``start_ms`` on cannot all be written to ``table`` (a DescribeTable ``Table``),
    with what to change; None when they can."""
    retention = table.get("RetentionProperties") or {}
    memory_hours = int(retention.get("MemoryStoreRetentionPeriodInHours", 0))
    magnetic_days = int(retention.get("MagneticStoreRetentionPeriodInDays", 0))
    magnetic_writes = bool((table.get("MagneticStoreWriteProperties") or {}).get("EnableMagneticStoreWrites"))
    age_ms = now_ms - start_ms + MARGIN_MS
    if age_ms <= memory_hours * _HOUR_MS:
        return None
    name = f"{table.get('DatabaseName')}.{table.get('TableName')}"
    update = _update_table(table)
    since = f"the range starts at {format_time(start_ms)}, {_age(age_ms - MARGIN_MS)} ago"
    needed_days = -(-age_ms // _DAY_MS)
    if not magnetic_writes:
        lines = [
            f"refusing to write: {since}, older than the memory-store retention of table {name} "
            f"({memory_hours} h), and the table does not accept magnetic-store writes, so Timestream "
            "would reject every older sample.",
            "Enable magnetic-store writes:",
            f"  {update} --magnetic-store-write-properties EnableMagneticStoreWrites=true",
        ]
        if needed_days > magnetic_days:
            lines.append(f"and raise the magnetic-store retention to at least {needed_days} days (see below)")
        needed_hours = -(-age_ms // _HOUR_MS)
        if needed_hours <= MAX_MEMORY_HOURS:
            lines += [
                f"or raise the memory-store retention to at least {needed_hours} hours (costs more per GB stored):",
                f"  {update} --retention-properties "
                f"MemoryStoreRetentionPeriodInHours={needed_hours},MagneticStoreRetentionPeriodInDays={magnetic_days}",
            ]
        lines.append("or start the backfill later (--start).")
        return "\n".join(lines)
    if age_ms > magnetic_days * _DAY_MS:
        if needed_days > MAX_MAGNETIC_DAYS:
            return f"refusing to write: {since}, older than Timestream keeps any data ({MAX_MAGNETIC_DAYS} days)."
        return "\n".join(
            [
                f"refusing to write: {since}, older than the magnetic-store retention of table {name} "
                f"({magnetic_days} days): Timestream would reject every older sample.",
                "Raise the magnetic-store retention:",
                f"  {update} --retention-properties "
                f"MemoryStoreRetentionPeriodInHours={memory_hours},MagneticStoreRetentionPeriodInDays={needed_days}",
                "or start the backfill later (--start).",
            ]
        )
    return None


def magnetic_note(table: Mapping[str, Any], start_ms: int, now_ms: int) -> str | None:
    """A reminder that magnetic-store writes become queryable only after a while, when some will go there."""
    memory_hours = int((table.get("RetentionProperties") or {}).get("MemoryStoreRetentionPeriodInHours", 0))
    if now_ms - start_ms <= memory_hours * _HOUR_MS:
        return None
    return (
        f"samples older than {memory_hours} h go to the magnetic store: Timestream may take up to 6 hours "
        "before queries see them"
    )


def _update_table(table: Mapping[str, Any]) -> str:
    database = shlex.quote(str(table.get("DatabaseName")))
    name = shlex.quote(str(table.get("TableName")))
    return f"aws timestream-write update-table --database-name {database} --table-name {name}"


def _age(ms: int) -> str:
    if ms >= 2 * _DAY_MS:
        return f"{ms / _DAY_MS:.1f} days"
    return f"{ms / _HOUR_MS:.1f} hours"
