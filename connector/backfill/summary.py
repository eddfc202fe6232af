"""What a backfill did, counted as it goes, and the summary and exit code it ends with.

Exit codes: 0 only when every sample read was written (or, for a dry run, could be); 1 when some
were rejected, invalid or failed, or the run stopped early; 2 for usage and configuration errors and
refusals (``cli`` returns those before a ``Totals`` exists, or sets ``stop_code``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from connector.backfill.times import format_time
from connector.backfill.windows import Window

MAX_REASONS = 10


@dataclass
class Part:
    """The counts of one window so far; merged into ``Totals`` once the window ends."""

    samples: int = 0  # read from the source, inside the window
    written: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    invalid: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)  # samples of calls that failed for good, by reason
    calls: int = 0
    attempts: int = 0
    write_units: int = 0  # dry run: what the calls would be billed
    billed_bytes: int = 0
    fatal: str | None = None  # a failure no later window can escape (credentials, table gone)

    @property
    def complete(self) -> bool:
        """Every sample written or refused for a reason retrying cannot change."""
        return not self.failed and self.fatal is None


@dataclass
class Totals:
    windows: int  # in the range
    done: int = 0  # finished by this run
    skipped: int = 0  # finished before, by the checkpoint
    failed_windows: list[tuple[Window, str]] = field(default_factory=list)
    series_keys: set[int] = field(default_factory=set)
    whole: Part = field(default_factory=Part)
    stopped: str | None = None  # why the run ended before its last window
    stop_code: int = 1

    @property
    def series(self) -> int:
        return len(self.series_keys)

    def add(self, window: Window, part: Part) -> None:
        whole = self.whole
        whole.samples += part.samples
        whole.written += part.written
        whole.rejected.update(part.rejected)
        whole.invalid.update(part.invalid)
        whole.failed.update(part.failed)
        whole.calls += part.calls
        whole.attempts += part.attempts
        whole.write_units += part.write_units
        whole.billed_bytes += part.billed_bytes
        if part.complete:
            self.done += 1
        else:
            reasons = part.fatal or "; ".join(f"{count} samples: {reason}" for reason, count in part.failed.items())
            self.failed_windows.append((window, reasons))

    def exit_code(self) -> int:
        if self.stopped is not None:
            return self.stop_code
        whole = self.whole
        return 1 if whole.rejected or whole.invalid or whole.failed or self.failed_windows else 0

    def render(self, dry_run: bool, seconds: float) -> str:
        whole = self.whole
        lines = [
            f"windows: {self.windows} in the range, {self.done} done now, {self.skipped} skipped "
            f"(done before, by the checkpoint), {len(self.failed_windows)} failed",
            f"series: {self.series}",
        ]
        if dry_run:
            invalid = sum(whole.invalid.values())
            lines += [
                f"samples: {whole.samples} read, {invalid} invalid; nothing written (dry run)",
                f"would write {whole.samples - invalid} records in {whole.calls} WriteRecords calls: "
                f"{whole.billed_bytes} metered bytes, {whole.write_units} billed write units (1 KiB each)",
            ]
        else:
            lines.append(
                f"samples: {whole.samples} read, {whole.written} written, {sum(whole.rejected.values())} rejected, "
                f"{sum(whole.invalid.values())} invalid, {sum(whole.failed.values())} failed; "
                f"{whole.calls} WriteRecords calls ({whole.attempts} attempts)"
            )
        for title, counts in (("rejected", whole.rejected), ("invalid", whole.invalid), ("failed", whole.failed)):
            if counts:
                lines.append(f"{title}:")
                lines += [f"  {count:>9}  {reason}" for reason, count in counts.most_common(MAX_REASONS)]
                if len(counts) > MAX_REASONS:
                    lines.append(f"  ... and {len(counts) - MAX_REASONS} other reasons")
        if self.failed_windows:
            lines.append("failed windows (rerun the same command to retry them):")
            for window, reason in self.failed_windows[:MAX_REASONS]:
                lines.append(f"  {format_time(window.start_ms)} .. {format_time(window.end_ms)}: {reason}")
            if len(self.failed_windows) > MAX_REASONS:
                lines.append(f"  ... and {len(self.failed_windows) - MAX_REASONS} more")
        if self.stopped:
            lines.append(f"stopped early: {self.stopped}")
        counted = whole.samples if dry_run else whole.written
        rate = f", {counted / seconds:,.0f} samples/s" if seconds > 0 and counted else ""
        lines.append(f"took {seconds:.1f} s{rate}")
        return "\n".join(lines)
