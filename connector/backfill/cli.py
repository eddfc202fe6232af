"""``python -m connector backfill``: the arguments, their checks, and the run from start to summary.

Everything that can be wrong with the command (arguments, checkpoint, table, retention) is found
and reported with exit code 2 before the first sample is read or written. Imports stay light until
the command runs: ``connector.__main__`` builds this parser for every command.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from connector.config import Settings

if TYPE_CHECKING:
    from connector.backfill.checkpoint import Checkpoint, Identity
    from connector.backfill.source import RemoteReadSource
    from connector.backfill.target import Target

DEFAULT_WINDOW = "2h"
EXAMPLE = "python -m connector backfill --from http://prometheus:9090 --match '{job=\"node\"}' --start 30d"


class UsageError(Exception):
    """A command that cannot run as given: printed, exit code 2."""


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(
        "backfill",
        help="copy a Prometheus' history into the table through remote read",
        description="Read the source's history through its remote-read API, window by window, and write it "
        "into the configured table (DEFAULT_DATABASE / DEFAULT_TABLE) exactly as remote write would. "
        f"Example: {EXAMPLE}",
    )
    parser.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="URL",
        help="the source: http://prometheus:9090 (reads /api/v1/read) or a remote-read URL; "
        "http://user:password@host/... for Basic auth",
    )
    parser.add_argument(
        "--match",
        action="append",
        required=True,
        metavar="SELECTOR",
        help="series selector, e.g. '{job=\"node\"}' or up; repeat to select more (OR)",
    )
    parser.add_argument(
        "--start",
        required=True,
        help="RFC 3339 time, date (midnight UTC), Unix seconds, or a duration before now (30d, 6h)",
    )
    parser.add_argument("--end", default="now", help="as --start; default now (excluded)")
    parser.add_argument(
        "--window",
        default=DEFAULT_WINDOW,
        help=f"time read and written at once, and checkpointed (default {DEFAULT_WINDOW})",
    )
    parser.add_argument("--local", action="store_true", help="write to the embedded store instead of Amazon Timestream")
    parser.add_argument("--data", type=Path, default=None, help="data directory of the embedded store (with --local)")
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="checkpoint file (default .backfill-<hash>.json in the current directory)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="read everything, write nothing: report samples, series, calls and billed write units",
    )
    parser.add_argument(
        "--max-samples-per-second",
        type=_positive_float,
        default=None,
        metavar="N",
        help="limit the write rate (a token bucket in front of every call)",
    )
    parser.add_argument(
        "--concurrency",
        type=_bounded_int(1, 64),
        default=None,
        help="concurrent WriteRecords calls (default WRITE_CONCURRENCY, 32)",
    )
    parser.add_argument(
        "--retries",
        type=_bounded_int(0, 20),
        default=4,
        help="rounds of sending again calls that still fail after the writer's own retries (default 4)",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=300.0,
        help="seconds the source may stay silent while answering a window (default 300)",
    )


def main(args: argparse.Namespace, settings: Settings) -> int:
    try:
        return _run(args, settings)
    except UsageError as exc:
        print(f"backfill: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from connector.backfill.checkpoint import CheckpointError
    from connector.backfill.progress import Progress
    from connector.backfill.run import Backfill, Options
    from connector.backfill.summary import Totals
    from connector.backfill.times import format_duration, format_time
    from connector.backfill.windows import window_count, windows
    from connector.process import tune_garbage_collector

    tune_garbage_collector()
    if args.concurrency:  # the client's connection pool is sized from the settings too
        settings = dataclasses.replace(settings, write_concurrency=args.concurrency)
    now_ms = int(time.time() * 1000)
    start_ms, end_ms, window_ms = _range(args, now_ms)
    source, selections = _source(args)
    if args.data is not None and not args.local:
        raise UsageError("--data is the embedded store's directory: it needs --local")
    if args.local and args.data is None and not args.dry_run:
        raise UsageError("--local keeps the embedded store in memory without --data DIR: the data would be lost")
    try:
        checkpoint = _checkpoint(args, _identity(args, settings, source.url, selections, window_ms))
    except CheckpointError as exc:
        raise UsageError(str(exc)) from None
    count = window_count(start_ms, end_ms, window_ms)
    done_before = sum(1 for window in windows(start_ms, end_ms, window_ms) if checkpoint.covers(window))
    opened, note = (None, None) if args.dry_run else _checked_target(args, settings, start_ms, now_ms)
    try:
        print(
            f"backfill {' or '.join(args.match)} from {source.url} into {settings.database}.{settings.table} "
            f"{f'in {opened.name}' if opened else '(dry run: nothing is written)'}: "
            f"{format_time(start_ms)} .. {format_time(end_ms)}, {count} windows of {format_duration(window_ms)}, "
            f"{done_before} done before (checkpoint {checkpoint.path})" + (f"\nnote: {note}" if note else ""),
            flush=True,
        )
        options = Options(
            database=settings.database,
            table=settings.table,
            dry_run=args.dry_run,
            concurrency=settings.write_concurrency,
            max_attempts=settings.max_attempts,
            call_timeout=settings.call_timeout,
            retries=args.retries,
            max_samples_per_second=args.max_samples_per_second,
            series_cache_size=settings.series_cache_size,
        )
        totals = Totals(count)
        progress = Progress(sys.stderr, totals, count - done_before)
        began = time.monotonic()
        try:
            Backfill(source, opened, checkpoint, options).run(windows(start_ms, end_ms, window_ms), totals, progress)
        except KeyboardInterrupt:
            totals.stopped, totals.stop_code = "interrupted: rerun the same command to resume", 130
        print(totals.render(args.dry_run, time.monotonic() - began), flush=True)
        return totals.exit_code()
    finally:
        if opened is not None:
            opened.close()


def _checked_target(
    args: argparse.Namespace, settings: Settings, start_ms: int, now_ms: int
) -> tuple[Target, str | None]:
    """The opened target once its table can take the whole range, and a note for the operator if any."""
    from connector.backfill import retention, target
    from connector.local import DataDirectoryInUse

    try:
        opened = target.open_target(settings, args.local, args.data)
    except DataDirectoryInUse as exc:
        raise UsageError(str(exc)) from None
    try:
        table = target.describe(opened, settings.max_attempts)
        refused = retention.refusal(table, start_ms, now_ms)
        if refused:
            raise UsageError(refused)
    except target.TargetError as exc:
        opened.close()
        raise UsageError(str(exc)) from None
    except BaseException:
        opened.close()
        raise
    return opened, retention.magnetic_note(table, start_ms, now_ms)


def _range(args: argparse.Namespace, now_ms: int) -> tuple[int, int, int]:
    from connector.backfill.times import TimeError, parse_duration, parse_time
    from connector.backfill.windows import MAX_WINDOWS, window_count

    try:
        start_ms = parse_time(args.start, now_ms)
        end_ms = parse_time(args.end, now_ms)
        window_ms = parse_duration(args.window)
    except TimeError as exc:
        raise UsageError(str(exc)) from None
    if start_ms >= end_ms:
        raise UsageError(f"nothing to do: --start ({args.start}) is not before --end ({args.end})")
    if start_ms > now_ms:
        raise UsageError(f"--start ({args.start}) is in the future")
    if window_count(start_ms, end_ms, window_ms) > MAX_WINDOWS:
        raise UsageError(
            f"--window {args.window} cuts the range into more than {MAX_WINDOWS} windows: take a longer one"
        )
    return start_ms, end_ms, window_ms


def _source(args: argparse.Namespace) -> tuple[RemoteReadSource, tuple[str, ...]]:
    """The source, and its selectors in canonical spelling (for the checkpoint)."""
    from connector.backfill.selectors import SelectorError, parse_selector
    from connector.backfill.source import RemoteReadSource, read_url

    try:
        url, authorization = read_url(args.source)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        selectors = [parse_selector(text) for text in args.match]
    except SelectorError as exc:
        raise UsageError(f"bad --match: {exc}") from None
    source = RemoteReadSource(url, [s.matchers for s in selectors], authorization, timeout=args.timeout)
    return source, tuple(sorted({selector.canonical() for selector in selectors}))


def _identity(
    args: argparse.Namespace, settings: Settings, url: str, selections: tuple[str, ...], window_ms: int
) -> Identity:
    from connector.backfill.checkpoint import Identity
    from connector.backfill.target import target_key

    key = target_key(settings, args.local, args.data)
    return Identity(url, selections, key, settings.database, settings.table, window_ms)


def _checkpoint(args: argparse.Namespace, identity: Identity) -> Checkpoint:
    from connector.backfill.checkpoint import Checkpoint, default_path

    return Checkpoint.load(args.checkpoint or default_path(identity), identity)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above zero, got {text}")
    return value


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
        return value

    return parse
