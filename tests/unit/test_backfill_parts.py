"""The backfill's parts one at a time: times, windows, checkpoint, retention check, rate limit,
progress, summary and exit codes, and the reading pipeline."""

from __future__ import annotations

import io
import json
import math
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.backfill import retention
from connector.backfill.checkpoint import Checkpoint, CheckpointError, Identity, default_path
from connector.backfill.progress import Progress
from connector.backfill.ratelimit import TokenBucket
from connector.backfill.run import _TimeSeries, batches, prefetched
from connector.backfill.summary import Part, Totals
from connector.backfill.times import TimeError, format_duration, format_time, parse_duration, parse_time
from connector.backfill.windows import Window, window_count, windows
from connector.prom.series import Series
from connector.timestream import schema
from connector.timestream.records import SeriesCache, translate

NOW = 1_780_272_000_000  # 2026-06-01T00:00:00Z
HOUR = 3_600_000
STALE = struct.unpack(">d", (0x7FF0000000000002).to_bytes(8, "big"))[0]
PROMETHEUS_NAN = struct.unpack(">d", (0x7FF8000000000001).to_bytes(8, "big"))[0]


# --- times -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2026-06-01", NOW),
        ("2026-06-01T00:00:00Z", NOW),
        ("2026-06-01t00:00:00z", NOW),
        ("2026-06-01T02:30:00+02:30", NOW),
        ("2026-06-01T00:00:00.123456789Z", NOW + 123),
        ("1780272000", NOW),
        ("1780272000.5", NOW + 500),
        ("now", NOW),
        ("30d", NOW - 30 * 24 * HOUR),
        ("6h", NOW - 6 * HOUR),
        ("1h30m", NOW - 90 * 60_000),
        ("500ms", NOW - 500),
        ("1969-12-31T23:59:59.999Z", -1),
    ],
)
def test_times(text: str, ms: int) -> None:
    assert parse_time(text, NOW) == ms


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-06-01T00:00:00", "no time zone"),
        ("yesterday", "not a time"),
        ("2026-13-01", "not a time"),
        ("6 hours", "not a time"),
        ("", "not a time"),
    ],
)
def test_bad_times(text: str, message: str) -> None:
    with pytest.raises(TimeError, match=message):
        parse_time(text, NOW)


@pytest.mark.parametrize(("text", "ms"), [("2h", 2 * HOUR), ("1w", 7 * 24 * HOUR), ("1y", 365 * 24 * HOUR),
                                         ("1h30m10s5ms", 5_410_005), ("90m", 90 * 60_000)])  # fmt: skip
def test_durations(text: str, ms: int) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize("text", ["0s", "", "2", "h", "30m1h", "1.5h", "-1h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(TimeError):
        parse_duration(text)


def test_formatting() -> None:
    assert format_time(NOW) == "2026-06-01T00:00:00Z"
    assert format_time(NOW + 7) == "2026-06-01T00:00:00.007Z"
    assert format_duration(2 * HOUR) == "2h" and format_duration(5_410_005) == "1h30m10s5ms"


# --- windows ---------------------------------------------------------------------------------------


def test_windows_are_aligned_half_open_and_cover_the_range_once() -> None:
    start, end = NOW + 25 * 60_000, NOW + 3 * HOUR + 7
    cut = list(windows(start, end, HOUR))
    assert cut == [
        Window(start, NOW + HOUR),
        Window(NOW + HOUR, NOW + 2 * HOUR),
        Window(NOW + 2 * HOUR, NOW + 3 * HOUR),
        Window(NOW + 3 * HOUR, end),
    ]
    assert window_count(start, end, HOUR) == len(cut)
    assert sum(w.duration_ms for w in cut) == end - start


def test_a_rerun_with_a_later_relative_range_cuts_the_same_inner_windows() -> None:
    first = set(windows(NOW - 30 * 24 * HOUR + 1234, NOW + 1234, 2 * HOUR))
    later = set(windows(NOW - 30 * 24 * HOUR + 1234 + 600_000, NOW + 1234 + 600_000, 2 * HOUR))
    assert len(first & later) == len(first) - 2  # only the first and the last differ


@pytest.mark.parametrize(("start", "end", "size"), [(0, 0, 5), (5, 4, 5), (-7, 3, 5), (0, 10, 5), (1, 11, 5)])
def test_window_count_matches_windows(start: int, end: int, size: int) -> None:
    assert window_count(start, end, size) == len(list(windows(start, end, size)))


# --- checkpoint ------------------------------------------------------------------------------------


IDENTITY = Identity("http://p:9090/api/v1/read", ('{job="node"}',), "local:/data", "db", "tbl", 2 * HOUR)


def test_checkpoint_resumes_what_was_finished(tmp_path: Path) -> None:
    path = default_path(IDENTITY, tmp_path)
    assert path.name.startswith(".backfill-") and path.suffix == ".json"
    first = Checkpoint.load(path, IDENTITY)
    assert not first.covers(Window(0, 10))
    for window in (Window(0, 10), Window(20, 30), Window(10, 20), Window(40, 50)):
        first.mark(window)
    assert json.loads(path.read_text())["done"] == [[0, 30], [40, 50]], "merged ranges"
    again = Checkpoint.load(path, IDENTITY)
    assert again.covers(Window(0, 10)) and again.covers(Window(5, 30)) and again.covers(Window(40, 50))
    assert not again.covers(Window(25, 45)) and not again.covers(Window(50, 51))
    assert list(tmp_path.iterdir()) == [path], "no temporary file left behind"


def test_checkpoint_is_replaced_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that dies halfway leaves the previous file whole."""
    path = tmp_path / "cp.json"
    checkpoint = Checkpoint.load(path, IDENTITY)
    checkpoint.mark(Window(0, 10))

    def dies(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(json, "dump", dies)
    with pytest.raises(OSError):
        checkpoint.mark(Window(10, 20))
    assert json.loads(path.read_text())["done"] == [[0, 10]]


@pytest.mark.parametrize("field", ["source", "target", "table", "window_ms"])
def test_a_checkpoint_of_another_backfill_is_refused(tmp_path: Path, field: str) -> None:
    path = tmp_path / "cp.json"
    Checkpoint.load(path, IDENTITY).mark(Window(0, 10))
    other = Identity(**{**IDENTITY.__dict__, field: 1 if field == "window_ms" else "other"})
    with pytest.raises(CheckpointError, match=f"belongs to another backfill \\(other {field}\\)"):
        Checkpoint.load(path, other)


def test_a_file_that_is_no_checkpoint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    path.write_text("{not json")
    with pytest.raises(CheckpointError, match="not a backfill checkpoint"):
        Checkpoint.load(path, IDENTITY)


# --- retention -------------------------------------------------------------------------------------


def table(memory_hours: int, magnetic_days: int, magnetic_writes: bool) -> dict[str, object]:
    return {
        "DatabaseName": "PrometheusDatabase",
        "TableName": "Prometheus Metrics",
        "RetentionProperties": {
            "MemoryStoreRetentionPeriodInHours": memory_hours,
            "MagneticStoreRetentionPeriodInDays": magnetic_days,
        },
        "MagneticStoreWriteProperties": {"EnableMagneticStoreWrites": magnetic_writes},
    }


def test_a_range_inside_the_memory_store_is_accepted() -> None:
    assert retention.refusal(table(6, 73000, False), NOW - 5 * HOUR, NOW) is None
    assert retention.magnetic_note(table(6, 73000, False), NOW - 5 * HOUR, NOW) is None


def test_older_than_memory_without_magnetic_writes_is_refused_with_the_commands() -> None:
    text = retention.refusal(table(6, 365, False), NOW - 30 * 24 * HOUR, NOW)
    assert text is not None
    update = "aws timestream-write update-table --database-name PrometheusDatabase --table-name 'Prometheus Metrics'"
    assert f"{update} --magnetic-store-write-properties EnableMagneticStoreWrites=true" in text
    assert (
        "30.0 days ago, older than the memory-store retention of table PrometheusDatabase.Prometheus Metrics (6 h)"
        in text
    )
    assert "MemoryStoreRetentionPeriodInHours=721,MagneticStoreRetentionPeriodInDays=365" in text  # 15 min margin


def test_the_edge_of_the_memory_store_keeps_a_margin() -> None:
    assert retention.refusal(table(6, 73000, False), NOW - 6 * HOUR + retention.MARGIN_MS, NOW) is None
    assert retention.refusal(table(6, 73000, False), NOW - 6 * HOUR + retention.MARGIN_MS - 1, NOW) is not None


def test_older_than_a_year_cannot_move_to_memory_retention() -> None:
    text = retention.refusal(table(6, 73000, False), NOW - 400 * 24 * HOUR, NOW)
    assert text is not None and "EnableMagneticStoreWrites=true" in text
    assert "MemoryStoreRetentionPeriodInHours=" not in text, "beyond the 8766 h maximum"


def test_magnetic_writes_accept_the_range_and_note_the_delay() -> None:
    assert retention.refusal(table(6, 365, True), NOW - 30 * 24 * HOUR, NOW) is None
    note = retention.magnetic_note(table(6, 365, True), NOW - 30 * 24 * HOUR, NOW)
    assert note is not None and "6 hours" in note


def test_older_than_the_magnetic_retention_is_refused() -> None:
    text = retention.refusal(table(6, 30, True), NOW - 45 * 24 * HOUR, NOW)
    assert text is not None and "older than the magnetic-store retention" in text
    assert "MemoryStoreRetentionPeriodInHours=6,MagneticStoreRetentionPeriodInDays=46" in text
    assert retention.refusal(table(6, 73000, True), NOW - 73001 * 24 * HOUR, NOW) is not None


# --- rate limit ------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_bucket_holds_the_average_rate_even_below_one_call() -> None:
    clock = FakeClock()
    bucket = TokenBucket(50, clock, clock.sleep)
    waits = [bucket.take(100) for _ in range(5)]
    assert waits == [0.0, 1.0, 2.0, 2.0, 2.0]  # the first second's tokens, then each call waits off the debt
    clock.now += 60  # an idle minute earns one second of tokens only (and one call's debt)
    assert [bucket.take(50), bucket.take(50), bucket.take(1)] == [0.0, 0.0, pytest.approx(1.0)]


def test_the_bucket_lets_a_burst_of_one_second_through() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1000, clock, clock.sleep)
    assert [bucket.take(100) for _ in range(10)] == [0.0] * 10
    assert bucket.take(100) == pytest.approx(0.0) and bucket.take(1) == pytest.approx(0.1)


# --- progress and summary ---------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_redraws_one_line() -> None:
    clock = FakeClock()
    stream = Terminal()
    totals = Totals(windows=4)
    progress = Progress(stream, totals, todo=4, clock=clock)
    for index in range(4):
        clock.now += 1
        part = Part(samples=1000, written=1000)
        progress.batch(Window(index, index + 1), part)
        totals.series_keys.add(index)
        totals.add(Window(index, index + 1), part)
        progress.window(Window(index, index + 1), part)
    progress.close()
    text = stream.getvalue()
    assert "\n" not in text[:-1] and text.endswith("\n") and text.count("\r") >= 4
    last = text.rsplit("\r", 1)[1]
    assert "[####################] windows 4/4 4,000 samples 4 series 1,000 samples/s ETA 0:00:00" in last


def test_progress_elsewhere_logs_a_line_per_window_and_every_interval() -> None:
    clock = FakeClock()
    stream = io.StringIO()
    totals = Totals(windows=2)
    progress = Progress(stream, totals, todo=2, clock=clock, interval=10)
    progress.batch(Window(0, 1), Part(samples=5))  # the first batch is shown
    clock.now += 5
    progress.batch(Window(0, 1), Part(samples=10))  # within the interval: quiet
    clock.now += 6
    progress.batch(Window(0, 1), Part(samples=20))
    totals.add(Window(0, 1), Part(samples=30))
    progress.window(Window(0, 1), Part(samples=30))
    progress.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and "\r" not in stream.getvalue()
    assert lines[0].startswith("windows 0/2 5 samples") and lines[1].startswith("windows 0/2 20 samples")
    assert lines[2].startswith("window 1970-01-01T00:00:00Z .. 1970-01-01T00:00:00.001Z done: 30 samples;")
    assert "ETA 0:00:11" in lines[2]  # half the windows in 11 s


def test_exit_codes() -> None:
    assert Totals(1).exit_code() == 0
    for part in (Part(rejected={"old": 1}), Part(invalid={"x": 1}), Part(failed={"Throttling": 3})):  # type: ignore[arg-type]
        totals = Totals(1)
        totals.add(Window(0, 1), part)
        assert totals.exit_code() == 1
    stopped = Totals(1)
    stopped.stopped, stopped.stop_code = "source refused", 2
    assert stopped.exit_code() == 2


def test_summary_lists_reasons_and_failed_windows() -> None:
    totals = Totals(3, skipped=1)
    totals.add(Window(0, 1000), Part(samples=10, written=8, rejected={"too old": 2}, calls=1, attempts=1))  # type: ignore[arg-type]
    totals.add(Window(1000, 2000), Part(samples=5, failed={"ThrottlingException: slow down": 5}, calls=1, attempts=8))  # type: ignore[arg-type]
    text = totals.render(dry_run=False, seconds=2.0)
    assert "windows: 3 in the range, 1 done now, 1 skipped (done before, by the checkpoint), 1 failed" in text
    assert "samples: 15 read, 8 written, 2 rejected, 0 invalid, 5 failed; 2 WriteRecords calls (9 attempts)" in text
    assert "rejected:\n          2  too old" in text
    assert "1970-01-01T00:00:01Z .. 1970-01-01T00:00:02Z: 5 samples: ThrottlingException: slow down" in text
    assert text.endswith("took 2.0 s, 4 samples/s")


# --- the reading pipeline ----------------------------------------------------------------------------


def test_decoded_series_translate_as_remote_write_series_do() -> None:
    """Labels, timestamps and every special value (the staleness marker's payload included) as 1.0 writes them."""
    labels = (("__name__", "up"), ("job", "node"))
    samples = [(1, 1.5), (2, STALE), (3, PROMETHEUS_NAN), (4, math.inf), (5, -math.inf), (6, math.nan)]
    records = translate([_TimeSeries(Series(labels, samples))], SeriesCache()).records
    assert [(r.time_ms, r.value, dict(r.dimensions).get(schema.SPECIAL_DIMENSION)) for r in records] == [
        (1, "1.5", None),
        (2, "0.0", "stale"),
        (3, "0.0", "NaN"),
        (4, "0.0", "+Inf"),
        (5, "0.0", "-Inf"),
        (6, "0.0", "nan:0x7ff8000000000000"),  # another payload, kept too
    ]
    assert {r.measure_name for r in records} == {"up"}


def test_batches_never_split_a_series() -> None:
    reads = [(Series((("a", str(i)),), [(t, 0.0) for t in range(n)]), 0) for i, n in enumerate([3, 3, 5, 1, 1])]
    grouped = list(batches(iter(reads), 5))
    assert [[len(series.samples) for series, _ in batch] for batch in grouped] == [[3, 3], [5], [1, 1]]


def test_prefetched_hands_over_in_order_and_raises_where_the_producer_did() -> None:
    def produce() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("source broke")

    got = []
    with pytest.raises(ValueError, match="source broke"):
        for item in prefetched(produce()):
            got.append(item)
    assert got == [1, 2]


def test_a_consumer_that_stops_early_stops_and_closes_the_producer() -> None:
    closed = threading.Event()

    def produce() -> Iterator[int]:
        try:
            yield from range(1_000_000)
        finally:
            closed.set()

    for item in prefetched(produce()):
        if item == 3:
            break
    assert closed.wait(5)


def test_samples_of_whole_chunks_outside_the_window_are_dropped() -> None:
    """Prometheus streams whole TSDB chunks: what lies before or at the window's end belongs to its neighbours."""
    from connector.backfill.source import _clipped

    series = Series((("__name__", "up"),), [(9, 1.0), (10, 2.0), (19, 3.0), (20, 4.0)])
    only_outside = Series((("__name__", "gone"),), [(20, 1.0)])
    kept = list(_clipped(iter([(0, series, 0), (0, only_outside, 0)]), Window(10, 20)))
    assert kept == [(0, Series(series.labels, [(10, 2.0), (19, 3.0)]), 0)]
