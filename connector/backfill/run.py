"""The backfill loop: for each window, oldest first, read it, write it as remote write would, record it.

Records go through the connector's own path (``translate``, ``plan_calls``, ``Writer``): the same
table layout, lossless values, staleness markers, quotas and ``CommonAttributes``. A window is read
in batches of at most ``BATCH_SAMPLES`` samples, the next batch decoded in a thread while the last
one is written, so memory stays bounded however large the window. Each call is written on its
own, so that one which still fails after the writer's retries (throttling, 5xx, timeouts) can be
sent again by itself after a pause; a window enters the checkpoint only when every one of its
samples was written or refused for good (rejected, invalid).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from queue import Empty, Full, Queue
from typing import Any, NamedTuple, TypeVar

from connector.backfill.checkpoint import Checkpoint
from connector.backfill.progress import Progress
from connector.backfill.ratelimit import TokenBucket
from connector.backfill.source import RemoteReadSource, SeriesRead, SourceError
from connector.backfill.summary import Part, Totals
from connector.backfill.target import Target
from connector.backfill.windows import Window
from connector.prom.series import Series
from connector.timestream.calls import WriteCall
from connector.timestream.errors import Kind
from connector.timestream.metering import formula_write_units
from connector.timestream.planning import plan_calls
from connector.timestream.records import HISTOGRAMS_NOT_STORED, SeriesCache, translate
from connector.timestream.writer import Writer, WriteResult

BATCH_SAMPLES = 50_000
SOURCE_ATTEMPTS = 3
RETRY_PAUSE_CAP_SECONDS = 30.0
# A failure that every later call would meet too: the run stops instead of failing each window.
_FATAL = {
    Kind.UNAUTHENTICATED: "the credentials are not accepted",
    Kind.FORBIDDEN: "the credentials may not write to the table",
    Kind.MISSING: "the table is gone",
}
_RETRIED = (Kind.RETRYABLE, Kind.THROTTLED)
T = TypeVar("T")


@dataclass(frozen=True)
class Options:
    database: str
    table: str
    dry_run: bool = False
    concurrency: int = 32
    max_attempts: int = 4  # per call inside the writer (TIMESTREAM_MAX_ATTEMPTS)
    call_timeout: float = 10.0
    retries: int = 4  # rounds of sending again the calls that still failed, with pauses of 1, 2, 4 ... s
    max_samples_per_second: float | None = None
    series_cache_size: int = 20_000


class Backfill:
    def __init__(
        self,
        source: RemoteReadSource,
        target: Target | None,
        checkpoint: Checkpoint,
        options: Options,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if target is None and not options.dry_run:
            raise ValueError("only a dry run goes without a target")
        self.source = source
        self.target = target
        self.checkpoint = checkpoint
        self.options = options
        self._sleep = sleep
        self._cache = SeriesCache(options.series_cache_size)
        self._bucket = TokenBucket(options.max_samples_per_second) if options.max_samples_per_second else None
        self._writer = Writer(options.concurrency, options.max_attempts)
        self._pool = ThreadPoolExecutor(options.concurrency, thread_name_prefix="backfill-call")
        # One call's budget inside the writer: its attempts, each up to the call timeout, and their backoff.
        self._call_seconds = options.call_timeout * options.max_attempts + 2.0 * options.max_attempts

    def run(self, windows: Iterable[Window], totals: Totals, progress: Progress) -> Totals:
        """Every window not in the checkpoint, in order; stops early only when no later window can succeed."""
        try:
            for window in windows:
                if self.checkpoint.covers(window):
                    totals.skipped += 1
                    continue
                part = self._window(window, totals, progress)
                totals.add(window, part)
                if part.complete and not self.options.dry_run:
                    self.checkpoint.mark(window)
                progress.window(window, part)
                if part.fatal is not None:
                    totals.stopped = part.fatal
                    break
        except SourceError as exc:
            totals.stopped, totals.stop_code = str(exc), 1 if exc.retryable else 2
        finally:
            progress.close()
            self._pool.shutdown(wait=False, cancel_futures=True)
        return totals

    def _window(self, window: Window, totals: Totals, progress: Progress) -> Part:
        """One window read and written; read again from its start when the source fails midway
        (what was written of it is written again, identically)."""
        for attempt in range(1, SOURCE_ATTEMPTS + 1):
            part = Part()
            try:
                for batch in prefetched(batches(self.source.read(window), BATCH_SAMPLES)):
                    self._batch(batch, part, totals)
                    progress.batch(window, part)
                    if part.fatal is not None:
                        break
                return part
            except SourceError as exc:
                if not exc.retryable or attempt == SOURCE_ATTEMPTS:
                    raise
                self._sleep(min(RETRY_PAUSE_CAP_SECONDS, 2.0**attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _batch(self, batch: Sequence[SeriesRead], part: Part, totals: Totals) -> None:
        for series, histograms in batch:
            part.samples += len(series.samples)
            if histograms:
                part.invalid[HISTOGRAMS_NOT_STORED] += histograms
            totals.series_keys.add(hash(series.labels))
        translation = translate([_TimeSeries(series) for series, _ in batch], self._cache)
        part.invalid.update(translation.invalid)
        calls = plan_calls(translation.records)
        part.calls += len(calls)
        if self.options.dry_run:
            for call in calls:
                size, units = formula_write_units(call.parameters(self.options.database, self.options.table))
                part.billed_bytes += size
                part.write_units += units
        else:
            self._send(calls, part)

    def _send(self, calls: Sequence[WriteCall], part: Part) -> None:
        """Each call until it is written or refused for good, in up to ``retries`` more rounds."""
        pending = list(calls)
        for round_ in range(self.options.retries + 1):
            again = []
            for call, result in zip(pending, self._pool.map(self._one, pending), strict=True):
                part.written += result.written
                part.rejected.update(result.rejected)
                part.attempts += result.attempts
                if not (result.failures or result.unfinished):
                    continue
                kinds = {failure.kind for failure in result.failures}
                fatal = next((_FATAL[kind] for kind in kinds if kind in _FATAL), None)
                if fatal is not None:
                    part.fatal = f"{fatal}: {_reason(result)}"
                    part.failed[_reason(result)] += len(call.records)
                elif kinds <= set(_RETRIED) and round_ < self.options.retries:
                    again.append(call)
                else:
                    part.failed[_reason(result)] += len(call.records)
            if not again or part.fatal is not None:
                for call in again:
                    part.failed["not sent again after a failure that stopped the run"] += len(call.records)
                return
            self._sleep(min(RETRY_PAUSE_CAP_SECONDS, 2.0**round_))
            pending = again

    def _one(self, call: WriteCall) -> WriteResult:
        if self._bucket is not None:
            self._bucket.take(len(call.records))
        assert self.target is not None
        deadline = time.monotonic() + self._call_seconds
        return self._writer.write(self.target.client, self.target.database, self.target.table, [call], deadline)


def _reason(result: WriteResult) -> str:
    if result.failures:
        failure = result.failures[0]
        return f"{failure.code}: {failure.message}"[:200]
    return "no answer within the call's time budget"


class _Label(NamedTuple):
    name: str
    value: str


class _Sample(NamedTuple):
    timestamp: int
    value: float


class _TimeSeries:
    """A decoded series in the shape ``translate`` reads: remote write 1.0's ``TimeSeries``."""

    __slots__ = ("labels", "samples")
    exemplars: tuple[()] = ()
    histograms: tuple[()] = ()

    def __init__(self, series: Series) -> None:
        self.labels = [_Label(name, value) for name, value in series.labels]
        self.samples = list(map(_Sample._make, series.samples))


def batches(reads: Iterator[SeriesRead], size: int) -> Iterator[list[SeriesRead]]:
    """Series grouped into lists of about ``size`` samples (a series is never split)."""
    batch: list[SeriesRead] = []
    samples = 0
    for read in reads:
        batch.append(read)
        samples += len(read[0].samples)
        if samples >= size:
            yield batch
            batch, samples = [], 0
    if batch:
        yield batch


def prefetched(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """``items`` produced in a thread of their own, at most ``depth`` ahead of the consumer.

    An exception in the producer is raised here, in order; a consumer that stops early makes the
    producer stop (and close ``items``) at its next item.
    """
    queue: Queue[tuple[bool, Any]] = Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[bool, Any]) -> bool:
        while not stop.is_set():
            try:
                queue.put(entry, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((False, None))
        except BaseException as exc:  # handed to the consumer, which raises it
            put((False, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="backfill-read", daemon=True)
    thread.start()
    try:
        while True:
            try:
                more, value = queue.get(timeout=0.1)
            except Empty:
                if not thread.is_alive() and queue.empty():
                    raise RuntimeError("the reading thread ended without a word") from None
                continue
            if not more:
                if value is not None:
                    raise value
                return
            yield value
    finally:
        stop.set()
        # The producer sees ``stop`` at its next item; one blocked in a slow read is a daemon left to end.
        thread.join(timeout=1.0)
