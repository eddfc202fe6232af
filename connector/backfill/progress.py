"""How far a backfill is: one line redrawn in place on a terminal, plain log lines otherwise.

A terminal gets a bar with samples, series, windows done of all, rate and time left, redrawn at most
a few times a second; a pipe or a file (CI, ``nohup``, a log collector) gets one line per window
and one every ``interval`` seconds inside long windows, so nothing is ever overwritten there.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from typing import TextIO

from connector.backfill.summary import Part, Totals
from connector.backfill.times import format_time
from connector.backfill.windows import Window

REDRAW_SECONDS = 0.2
BAR_WIDTH = 20


class Progress:
    def __init__(
        self,
        stream: TextIO,
        totals: Totals,
        todo: int,
        terminal: bool | None = None,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._totals = totals
        self._todo = todo  # windows this run has to do (not skipped)
        self._terminal = stream.isatty() if terminal is None else terminal
        self._interval = interval
        self._clock = clock
        self._started = clock()
        self._last = float("-inf")
        self._drawn = False

    def batch(self, window: Window, part: Part) -> None:
        """Samples of ``window`` went out (or, in a dry run, were counted)."""
        now = self._clock()
        if now - self._last >= (REDRAW_SECONDS if self._terminal else self._interval):
            self._show(self._line(part, window), now)

    def window(self, window: Window, part: Part) -> None:
        """``window`` ended (done or failed); its counts are in the totals already."""
        now = self._clock()
        if self._terminal:
            if now - self._last >= REDRAW_SECONDS:
                self._show(self._line(None, None), now)
            return
        state = "done" if part.complete else "FAILED"
        head = f"window {format_time(window.start_ms)} .. {format_time(window.end_ms)} {state}: {part.samples} samples"
        self._show(f"{head}; {self._line(None, None)}", now)

    def close(self) -> None:
        if self._terminal and self._drawn:
            self._show(self._line(None, None), self._clock())
            self._stream.write("\n")
            self._stream.flush()

    def _show(self, text: str, now: float) -> None:
        self._last = now
        if self._terminal:
            width = shutil.get_terminal_size((100, 20)).columns - 1
            self._stream.write("\r" + text[:width].ljust(width))
            self._drawn = True
        else:
            self._stream.write(text + "\n")
        self._stream.flush()

    def _line(self, part: Part | None, window: Window | None) -> str:
        totals = self._totals
        samples = totals.whole.samples + (part.samples if part else 0)
        ended = totals.done + len(totals.failed_windows)  # windows of this run behind us
        fraction = min(1.0, ended / self._todo) if self._todo else 1.0
        elapsed = self._clock() - self._started
        filled = round(fraction * BAR_WIDTH)
        rate = samples / elapsed if elapsed > 0 else 0.0
        parts = [
            f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}]" if self._terminal else "",
            f"windows {totals.done + totals.skipped}/{totals.windows}",
            f"{samples:,} samples",
            f"{totals.series:,} series",
            f"{rate:,.0f} samples/s",
            f"ETA {_clock_text(elapsed * (1 - fraction) / fraction) if fraction > 0 else '?'}",
        ]
        if window is not None:
            parts.append(f"at {format_time(window.start_ms)}")
        return " ".join(part for part in parts if part)


def _clock_text(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
