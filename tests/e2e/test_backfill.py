"""``python -m connector backfill`` from a real Prometheus into the embedded store, end to end.

The source is Prometheus A of conftest.py: it has scraped the target (tests/e2e/target.py, whose
series appear and vanish, so A's TSDB holds staleness markers and NaNs) and itself every second,
and serves its history on ``/api/v1/read`` as streamed XOR chunks. The backfill runs as a child
process, as an operator runs it. What it wrote is read back through the connector's own read path
and must be exactly A's own SAMPLES answer for the range: the same series, timestamps and 64-bit
value patterns, and one row per sample (no duplicate, none missing), also after a SIGKILL midway
and a rerun.
"""

from __future__ import annotations

import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from connector.timestream.planning import plan_calls
from connector.timestream.records import SeriesCache, translate
from emulator.server import EmbeddedTimestream
from emulator.testing import boto3_clients
from prompb import types_pb2

from . import backfill_tools as tools
from .conftest import ACCESS_KEY_ID, DATABASE, SECRET_ACCESS_KEY, TABLE, PrometheusRun, running_connector

pytestmark = pytest.mark.e2e

STALE_NAN = 0x7FF0000000000002
PARSED_NAN = 0x7FF8000000000001
KILL_WAIT_S = 120.0


@dataclass(frozen=True)
class History:
    """What A has in ``[start_ms, end_ms)``: its own SAMPLES answer, the reference for every test."""

    source: str
    start_ms: int
    end_ms: int
    expected: tools.Answer

    @property
    def samples(self) -> int:
        return tools.sample_count(self.expected)

    @property
    def first_sample_ms(self) -> int:
        return min(samples[0][0] for samples in self.expected.values())

    def argv(self, *more: str) -> list[str]:
        return tools.argv(self.source, self.start_ms, self.end_ms, *more)


@pytest.fixture(scope="module")
def history(prometheus_run: PrometheusRun) -> History:
    # Seconds before now: every scrape and rule evaluation that can still add a sample has ended.
    end_ms = (int(time.time()) - 3) * 1000
    start_ms = (int(prometheus_run.a_ready) - 10) * 1000
    source = prometheus_run.a.url
    expected = tools.samples_answer(f"{source}/api/v1/read", tools.everything(start_ms, end_ms))
    patterns = {bits for samples in expected.values() for _, bits in samples}
    assert {STALE_NAN, PARSED_NAN} <= patterns, "A's history must hold staleness markers and NaNs"
    assert len(expected) > 20
    return History(source, start_ms, end_ms, expected)


def _assert_store_holds_exactly(data_dir: Path, history: History) -> None:
    """Read back through the connector (both answer types) and counted: exactly A's samples."""
    with tools.opened(data_dir) as store, running_connector(store) as backend:
        query = tools.everything(history.start_ms, history.end_ms)
        streamed = tools.streamed_answer(f"{backend.url}/read", query, auth=True)
        samples = tools.samples_answer(f"{backend.url}/read", query, auth=True)
        rows = tools.row_count(store)
    for name, got in (("streamed", streamed), ("samples", samples)):
        assert got.keys() == history.expected.keys(), name
        for labels, expected in history.expected.items():
            assert got[labels] == expected, (name, labels)
    assert rows == history.samples, "one row per sample: none missing, none twice"


def test_backfill_copies_prometheus_history_bit_for_bit(history: History, tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = tools.run(history.argv("--window", "10s", "--local", "--data", str(data)), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    numbers = tools.summary_numbers(done.stdout)
    assert numbers["samples read"] == numbers["samples written"] == history.samples, done.stdout
    assert numbers["samples rejected"] == numbers["samples invalid"] == numbers["samples failed"] == 0
    assert numbers["windows failed"] == 0 and numbers["windows done"] == numbers["windows in"] > 3
    assert list(tmp_path.glob(".backfill-*.json")), "the default checkpoint goes to the current directory"
    _assert_store_holds_exactly(data, history)


def test_a_killed_backfill_resumes_without_duplicates_or_gaps(history: History, tmp_path: Path) -> None:
    data, checkpoint = tmp_path / "data", tmp_path / "checkpoint.json"
    args = history.argv("--window", "2s", "--local", "--data", str(data), "--checkpoint", str(checkpoint))
    # Slow enough that the kill lands midway: ~100 samples a second against some 100 series a second.
    process = tools.start([*args, "--max-samples-per-second", "100", "--concurrency", "2"], tmp_path)
    try:
        deadline = time.monotonic() + KILL_WAIT_S
        # Past the first window with data: that window is in the store and the checkpoint both.
        while not any(end > history.first_sample_ms + 2000 for _, end in tools.finished_ranges(checkpoint)):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no window finished in time"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    finished = tools.finished_ranges(checkpoint)
    assert finished and finished != [[history.start_ms, history.end_ms]], "killed before the end"
    with tools.opened(data) as store:
        assert 0 < tools.row_count(store) < history.samples

    again = tools.run(args, tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    numbers = tools.summary_numbers(again.stdout)
    assert numbers["windows skipped"] >= 1, again.stdout
    assert numbers["windows done"] + numbers["windows skipped"] == numbers["windows in"]
    assert tools.finished_ranges(checkpoint) == [[history.start_ms, history.end_ms]]
    _assert_store_holds_exactly(data, history)


def test_a_range_older_than_memory_retention_is_refused_before_any_write(history: History, tmp_path: Path) -> None:
    data = tmp_path / "data"
    with EmbeddedTimestream(data_dir=data, credentials={ACCESS_KEY_ID: SECRET_ACCESS_KEY}) as store:
        store.create_database_and_table(DATABASE, TABLE, memory_retention_hours=1, magnetic_writes=False)
    args = tools.argv(history.source, history.start_ms - 2 * 3_600_000, history.end_ms, "--local", "--data", str(data))
    refused = tools.run(args, tmp_path)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "memory-store retention of table e2e_database.e2e_metrics (1 h)" in refused.stderr
    command = "aws timestream-write update-table --database-name e2e_database --table-name e2e_metrics"
    assert f"{command} --magnetic-store-write-properties EnableMagneticStoreWrites=true" in refused.stderr
    assert re.search(r"--retention-properties MemoryStoreRetentionPeriodInHours=\d+,", refused.stderr)  # or this
    with tools.opened(data) as store:
        assert tools.row_count(store) == 0
        write, _ = boto3_clients(store, ACCESS_KEY_ID, SECRET_ACCESS_KEY)
        table = write.describe_table(DatabaseName=DATABASE, TableName=TABLE)["Table"]
        assert table["MagneticStoreWriteProperties"]["EnableMagneticStoreWrites"] is False, "the table is untouched"
        # What the message says to do lifts the refusal.
        write.update_table(
            DatabaseName=DATABASE, TableName=TABLE, MagneticStoreWriteProperties={"EnableMagneticStoreWrites": True}
        )
    accepted = tools.run(args, tmp_path)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "go to the magnetic store" in accepted.stdout


def test_records_the_store_rejects_give_exit_code_1_and_their_reason(history: History, tmp_path: Path) -> None:
    data = tmp_path / "data"
    labels, samples = next((k, v) for k, v in history.expected.items() if dict(k)["__name__"] == "e2e_requests_total")
    with EmbeddedTimestream(data_dir=data, credentials={ACCESS_KEY_ID: SECRET_ACCESS_KEY}) as store:
        store.create_database_and_table(DATABASE, TABLE, memory_retention_hours=24, magnetic_writes=True)
        # The table already holds another value for one of the samples (same series and time).
        series = types_pb2.TimeSeries(labels=[types_pb2.Label(name=n, value=v) for n, v in labels])
        series.samples.add(timestamp=samples[0][0], value=-12345.5)
        (call,) = plan_calls(translate([series], SeriesCache()).records)
        write, _ = boto3_clients(store, ACCESS_KEY_ID, SECRET_ACCESS_KEY)
        write.write_records(**call.parameters(DATABASE, TABLE))
    done = tools.run(history.argv("--window", "20s", "--local", "--data", str(data)), tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    numbers = tools.summary_numbers(done.stdout)
    assert numbers["samples rejected"] == 1 and numbers["samples written"] == history.samples - 1, done.stdout
    assert re.search(r"rejected:\n\s+1\s+A record already exists", done.stdout), done.stdout
    assert numbers["windows failed"] == 0, "a rejection is final: the window is done"


def test_dry_run_bills_what_the_writes_are_metered(history: History, tmp_path: Path) -> None:
    """Through the AWS path (default credential chain, endpoint override), against a store that meters."""
    with EmbeddedTimestream(credentials={ACCESS_KEY_ID: SECRET_ACCESS_KEY}) as store:
        store.create_database_and_table(DATABASE, TABLE, memory_retention_hours=24)
        env = tools.command_env(
            TIMESTREAM_WRITE_ENDPOINT=store.url,
            AWS_ACCESS_KEY_ID=ACCESS_KEY_ID,
            AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
            AWS_REGION=store.region,
        )
        dry = tools.run(history.argv("--window", "10s", "--dry-run"), tmp_path, env)
        assert dry.returncode == 0, dry.stdout + dry.stderr
        assert store.stats()["calls_by_operation"] == {}, "a dry run calls nothing"
        units = int(re.search(r"(\d+) billed write units", dry.stdout).group(1))  # type: ignore[union-attr]
        assert f"would write {history.samples} records" in dry.stdout
        real = tools.run(history.argv("--window", "10s"), tmp_path, env)
        assert real.returncode == 0, real.stdout + real.stderr
        stats = store.stats()
        assert stats["records_written"] == history.samples
        assert stats["billed_write_units"] == units > 0
        assert stats["calls_by_operation"]["DescribeTable"] == 1
