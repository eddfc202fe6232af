"""9. Backfill throughput: a real Prometheus 2.42's history into the embedded store, samples per second.

Data set: ``bench.read.dataset`` (``series`` series of ``samples`` samples 1 s apart, ending now;
counters, gauges, specials), as OpenMetrics text (staleness markers become NaN there), a TSDB
block from ``promtool tsdb create-blocks-from openmetrics``, and a ``prometheus`` serving it on an
OS-chosen port. The backfill runs in this process as the command runs it (``connector.backfill.run``:
streamed XOR chunks from ``/api/v1/read``, ``translate``, ``plan_calls``, ``Writer``), windows of
``WINDOW_MS``, default concurrency, into a fresh table of the embedded store in its own process (the
shared bench store, as Timestream is another machine). Timed wall clock from the first request to
the last window's checkpoint; CPU is this process's (``time.process_time``, every thread: reading,
decoding, translating and the boto3 calls). Also a dry run (read, decode, translate, plan and
price; nothing written) to show what the reading side costs alone. Medians of ``rounds``; every
round must write every sample (the summary's counts are checked).
"""

from __future__ import annotations

import io
import shutil
import tempfile
import time
from pathlib import Path

from bench.common import ACCESS_KEY_ID, DATABASE, SECRET_ACCESS_KEY, Row, Section, median, settings_for
from bench.read import dataset, prometheus_serving
from bench.store import StoreProcess
from connector.auth import Identity
from connector.backfill.checkpoint import Checkpoint
from connector.backfill.checkpoint import Identity as BackfillIdentity
from connector.backfill.progress import Progress
from connector.backfill.run import Backfill, Options
from connector.backfill.selectors import parse_selector
from connector.backfill.source import RemoteReadSource
from connector.backfill.summary import Totals
from connector.backfill.target import Target, write_client
from connector.backfill.windows import window_count, windows

WINDOW_MS = 300_000


def one_run(
    port: int, store: StoreProcess, table: str, span: tuple[int, int], dry_run: bool, workdir: Path
) -> tuple[float, float, Totals]:
    """(wall seconds, CPU seconds, totals) of one backfill of ``span`` into ``table``."""
    selector = parse_selector('{__name__=~".+"}')
    source = RemoteReadSource(f"http://127.0.0.1:{port}/api/v1/read", [selector.matchers])
    settings = settings_for(store.url, table)
    target = Target(
        write_client(settings, Identity(ACCESS_KEY_ID, SECRET_ACCESS_KEY)), DATABASE, table, "bench", "bench"
    )
    identity = BackfillIdentity(source.url, (selector.canonical(),), f"bench {table}", DATABASE, table, WINDOW_MS)
    checkpoint = Checkpoint.load(workdir / f"{table}-{dry_run}.json", identity)
    options = Options(DATABASE, table, dry_run=dry_run, concurrency=settings.write_concurrency)
    totals = Totals(window_count(*span, WINDOW_MS))
    progress = Progress(io.StringIO(), totals, totals.windows, terminal=False)
    backfill = Backfill(source, None if dry_run else target, checkpoint, options)
    cpu, wall = time.process_time(), time.perf_counter()
    backfill.run(windows(*span, WINDOW_MS), totals, progress)
    return time.perf_counter() - wall, time.process_time() - cpu, totals


def run(store: StoreProcess, series: int = 200, samples: int = 1_000, rounds: int = 3) -> Section:
    section = Section("Backfill")
    if not shutil.which("prometheus") or not shutil.which("promtool"):
        section.details.append("prometheus/promtool not on PATH: backfill throughput not measured")
        return section
    data = dataset(series, samples, int(time.time()) * 1000)
    span = (data.first_ms, data.last_ms + 1)
    workdir = Path(tempfile.mkdtemp(prefix="bench-backfill-"))
    walls, cpus, dry_walls, dry_cpus = [], [], [], []
    try:
        with prometheus_serving(data, workdir) as (port, _, _):
            for round_ in range(rounds):
                table = f"backfill_{round_}"
                store.create_table(table)
                wall, cpu, totals = one_run(port, store, table, span, False, workdir)
                whole = totals.whole
                if whole.written != data.samples or totals.exit_code() != 0:
                    raise RuntimeError(f"round {round_}: {totals.render(False, wall)}")
                walls.append(wall)
                cpus.append(cpu)
                wall, cpu, dry = one_run(port, store, table, span, True, workdir)
                dry_walls.append(wall)
                dry_cpus.append(cpu)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    n = data.samples
    section.rows += [
        Row("Backfill: Prometheus 2.42 -> embedded store", n / median(walls), "samples/s",
            note=f"{series} series x {samples:,}"),
        Row("Backfill CPU per sample (backfill process)", median(cpus) / n * 1e6, "us"),
        Row("Backfill read only (dry run: read, decode, translate, plan)", n / median(dry_walls), "samples/s"),
    ]  # fmt: skip
    section.details += [
        f"data set: {series} series x {samples:,} samples = {n:,}, {totals.windows} windows of {WINDOW_MS // 1000} s",
        f"writes: {whole.calls:,} WriteRecords calls, {whole.attempts:,} attempts, {totals.series} series",
        f"dry run: {dry.whole.calls:,} calls priced at {dry.whole.write_units:,} write units "
        f"({dry.whole.billed_bytes:,} metered bytes, {dry.whole.billed_bytes / n:.1f} B/sample)",
        "wall s per round: " + ", ".join(f"{w:.2f}" for w in walls)
        + "; dry run: " + ", ".join(f"{w:.2f}" for w in dry_walls),
        "CPU s per round: " + ", ".join(f"{c:.2f}" for c in cpus)
        + "; dry run: " + ", ".join(f"{c:.2f}" for c in dry_cpus),
    ]  # fmt: skip
    return section
