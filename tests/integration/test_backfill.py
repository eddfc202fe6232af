"""The backfill command against the connector's own remote read as the source and an embedded store
as Amazon Timestream (endpoint override, default credential chain): both answer types, several
selectors, throttling, failures that leave windows unfinished, refusals and their exit codes.

Prometheus itself as the source, the embedded store through ``--local``, a SIGKILL midway and the
retention refusal are in tests/e2e/test_backfill.py.
"""

from __future__ import annotations

import dataclasses
import json
import re
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.__main__ import main
from connector.app import Connector
from connector.auth import Identity
from connector.backfill.selectors import parse_selector
from connector.backfill.source import RemoteReadSource, SourceError
from connector.backfill.windows import Window
from connector.config import Settings
from connector.prom.chunked import SAMPLES, STREAMED_XOR_CHUNKS
from connector.server import ConnectorServer
from connector.timestream.clients import ClientCache
from connector.timestream.planning import plan_calls
from connector.timestream.records import SeriesCache, translate
from connector.timestream.writer import Writer
from emulator.server import EmbeddedTimestream
from emulator.testing import boto3_clients, scalar_rows
from prompb import types_pb2

SOURCE_KEY, SOURCE_SECRET = "AKIABACKFILLSOURCE01", "backfill-source-secret"
TARGET_KEY, TARGET_SECRET = "AKIABACKFILLTARGET01", "backfill-target-secret"
DATABASE = "backfilldb"
HOUR_MS = 3_600_000
STALE = struct.unpack(">d", (0x7FF0000000000002).to_bytes(8, "big"))[0]
SERIES, STEP_MS, SAMPLES_EACH = 12, 10_000, 360  # an hour of 12 series


def _bits(value: float) -> int:
    return int(struct.unpack(">Q", struct.pack(">d", value))[0])


def _value(series: int, k: int) -> float:
    if k % 97 == 96:
        return STALE
    if k % 89 == 88:
        return (float("nan"), float("inf"), float("-inf"))[series % 3]
    return series * 1000 + k / 7


@dataclasses.dataclass(frozen=True)
class Source:
    url: str  # with the source's key pair as user:password
    start_ms: int
    end_ms: int
    samples: int


@pytest.fixture(scope="module")
def source() -> Iterator[Source]:
    """A connector serving remote read over a store holding an hour of varied series."""
    with EmbeddedTimestream(credentials={SOURCE_KEY: SOURCE_SECRET}) as store:
        store.create_database_and_table("sourcedb", "history", memory_retention_hours=24)
        settings = dataclasses.replace(
            Settings(), database="sourcedb", table="history", write_endpoint=store.url, query_endpoint=store.url
        )
        start_ms = (int(time.time() * 1000) - 2 * HOUR_MS) // STEP_MS * STEP_MS
        timeseries = []
        for i in range(SERIES):
            series = types_pb2.TimeSeries()
            labels = {"__name__": f"metric_{i % 3}", "job": "node" if i % 2 else "other", "instance": str(i)}
            for name, value in sorted(labels.items()):
                series.labels.add(name=name, value=value)
            for k in range(SAMPLES_EACH):
                series.samples.add(timestamp=start_ms + k * STEP_MS + i, value=_value(i, k))
            timeseries.append(series)
        calls = plan_calls(translate(timeseries, SeriesCache()).records)
        client = ClientCache(settings).write_client(Identity(SOURCE_KEY, SOURCE_SECRET))
        written = Writer(4, 2).write(client, "sourcedb", "history", calls, time.monotonic() + 120)
        assert written.written == SERIES * SAMPLES_EACH
        server = ConnectorServer(("127.0.0.1", 0), Connector(settings))
        server.start_background()
        try:
            url = server.url.replace("http://", f"http://{SOURCE_KEY}:{SOURCE_SECRET}@") + "/read"
            yield Source(url, start_ms, start_ms + SAMPLES_EACH * STEP_MS, SERIES * SAMPLES_EACH)
        finally:
            server.shutdown()
            server.server_close()


@pytest.fixture
def target(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[EmbeddedTimestream]:
    """A store standing in for Amazon Timestream: the backfill finds it through the environment."""
    monkeypatch.setattr("connector.backfill.run.RETRY_PAUSE_CAP_SECONDS", 0.05)  # pauses between rounds
    with EmbeddedTimestream(credentials={TARGET_KEY: TARGET_SECRET}) as store:
        store.create_database_and_table(DATABASE, "copy", memory_retention_hours=24)
        for name, value in {
            "TIMESTREAM_WRITE_ENDPOINT": store.url,
            "AWS_ACCESS_KEY_ID": TARGET_KEY,
            "AWS_SECRET_ACCESS_KEY": TARGET_SECRET,
            "AWS_REGION": store.region,
            "AWS_EC2_METADATA_DISABLED": "true",
            "DEFAULT_DATABASE": DATABASE,
            "DEFAULT_TABLE": "copy",
            "TIMESTREAM_MAX_ATTEMPTS": "2",
            "LOG_LEVEL": "WARNING",
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        yield store


def _backfill(source: Source, *more: str, selectors: tuple[str, ...] = ('{job=~".+"}',)) -> list[str]:
    matches = [arg for selector in selectors for arg in ("--match", selector)]
    return ["backfill", "--from", source.url, *matches, "--start", f"{source.start_ms / 1000}",
            "--end", f"{source.end_ms / 1000}", "--window", "10m", *more]  # fmt: skip


def _rows(store: EmbeddedTimestream) -> int:
    _, query = boto3_clients(store, TARGET_KEY, TARGET_SECRET)
    ((count,),) = scalar_rows(query, f'SELECT COUNT(*) FROM "{DATABASE}"."copy"')
    return int(count or 0)


def _read_all(source: RemoteReadSource, start_ms: int, end_ms: int) -> dict[tuple[tuple[str, str], ...], list]:
    got: dict[tuple[tuple[str, str], ...], list] = {}
    for series, histograms in source.read(Window(start_ms, end_ms)):
        assert not histograms
        got.setdefault(series.labels, []).extend((t, _bits(v)) for t, v in series.samples)
    return got


def _source_client(source: Source, *selectors: str, accepted: tuple[int, ...]) -> RemoteReadSource:
    from connector.backfill.source import read_url

    url, authorization = read_url(source.url)
    return RemoteReadSource(url, [parse_selector(s).matchers for s in selectors], authorization, accepted=accepted)


def test_both_answer_types_read_the_same_samples_inside_the_window(source: Source) -> None:
    window = (source.start_ms + 7 * STEP_MS + 3, source.start_ms + 100 * STEP_MS)
    chunks = _read_all(_source_client(source, '{job=~".+"}', accepted=(STREAMED_XOR_CHUNKS, SAMPLES)), *window)
    samples = _read_all(_source_client(source, '{job=~".+"}', accepted=(SAMPLES,)), *window)
    assert chunks == samples and len(chunks) == SERIES
    times = [t for series in chunks.values() for t, _ in series]
    assert window[0] <= min(times) and max(times) < window[1], "the window is half-open"
    assert _bits(STALE) in {bits for series in chunks.values() for _, bits in series}


def test_several_selectors_select_each_series_once(source: Source) -> None:
    client = _source_client(source, "metric_0", '{job="node"}', accepted=(STREAMED_XOR_CHUNKS, SAMPLES))
    got = _read_all(client, source.start_ms, source.end_ms)
    names = {(dict(labels)["__name__"], dict(labels)["job"]) for labels in got}
    assert all(name == "metric_0" or job == "node" for name, job in names)
    assert len(got) == 8  # 4 of metric_0, 6 of job node, 2 of them both
    assert all(len(samples) == SAMPLES_EACH for samples in got.values()), "a series twice would double its samples"


def test_backfill_writes_every_sample_once_and_a_rerun_skips_it_all(
    source: Source, target: EmbeddedTimestream, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_backfill(source)) == 0
    out = capsys.readouterr().out
    assert f"samples: {source.samples} read, {source.samples} written, 0 rejected" in out
    assert _rows(target) == source.samples
    copy = _source_client(source, '{job=~".+"}', accepted=(STREAMED_XOR_CHUNKS,))
    target_settings = dataclasses.replace(
        Settings(), database=DATABASE, table="copy", write_endpoint=target.url, query_endpoint=target.url
    )
    server = ConnectorServer(("127.0.0.1", 0), Connector(target_settings))
    server.start_background()
    try:
        url = server.url.replace("http://", f"http://{TARGET_KEY}:{TARGET_SECRET}@") + "/read"
        copied = _source_client(dataclasses.replace(source, url=url), '{job=~".+"}', accepted=(STREAMED_XOR_CHUNKS,))
        assert _read_all(copied, source.start_ms, source.end_ms) == _read_all(copy, source.start_ms, source.end_ms)
    finally:
        server.shutdown()
        server.server_close()

    target.reset_stats()
    assert main(_backfill(source)) == 0
    out = capsys.readouterr().out
    windows = re.search(r"windows: (\d+) in the range, 0 done now, (\d+) skipped", out)
    assert windows and windows.group(1) == windows.group(2) and "samples: 0 read" in out, out
    assert target.stats()["write_calls"] == 0


def test_throttling_is_retried_until_everything_is_written(
    source: Source, target: EmbeddedTimestream, capsys: pytest.CaptureFixture[str]
) -> None:
    target.set_faults(throttle=0.5, seed=7, operations=["WriteRecords"])
    assert main(_backfill(source, "--retries", "12", "--concurrency", "4")) == 0
    out = capsys.readouterr().out
    assert f"{source.samples} written, 0 rejected, 0 invalid, 0 failed" in out
    assert target.stats()["faults_injected"]["throttle"] > 0
    assert _rows(target) == source.samples


def test_calls_that_keep_failing_leave_their_windows_unfinished(
    source: Source, target: EmbeddedTimestream, capsys: pytest.CaptureFixture[str]
) -> None:
    target.set_faults(throttle=1.0, operations=["WriteRecords"])
    assert main(_backfill(source, "--retries", "1", "--checkpoint", "state.json")) == 1
    out = capsys.readouterr().out
    assert "failed windows (rerun the same command to retry them):" in out
    assert "ThrottlingException" in out and f"{source.samples} failed" in out
    state = Path("state.json")
    done = json.loads(state.read_text())["done"] if state.exists() else []  # written once a window is done
    assert not any(start < source.end_ms and end > source.start_ms for start, end in done), done

    target.set_faults()
    assert main(_backfill(source, "--checkpoint", "state.json")) == 0
    assert f"{source.samples} written" in capsys.readouterr().out
    assert _rows(target) == source.samples


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--match": "up{job=}"}, "bad --match: expected a quoted value"),
        ({"--start": "yesterday"}, "'yesterday' is not a time"),
        ({"--window": "0s"}, "must be longer than zero"),
        ({"--from": "ftp://x"}, "--from must be an http(s) URL"),
        ({"--data": "d"}, "--data is the embedded store's directory: it needs --local"),
    ],
)
def test_usage_errors_exit_2_before_any_work(
    source: Source, target: EmbeddedTimestream, capsys: pytest.CaptureFixture[str], change: dict[str, str], message: str
) -> None:
    args = _backfill(source)
    for flag, value in change.items():
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert target.stats()["calls_by_operation"] == {}


def test_a_missing_table_is_named(source: Source, target: EmbeddedTimestream, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.setenv("DEFAULT_TABLE", "nosuchtable")
    assert main(_backfill(source)) == 2
    err = capsys.readouterr().err
    assert "cannot describe table backfilldb.nosuchtable" in err and "ResourceNotFoundException" in err


def test_a_source_that_refuses_the_credentials_is_exit_2(
    source: Source, target: EmbeddedTimestream, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = dataclasses.replace(source, url=source.url.replace(SOURCE_SECRET, "wrong-secret"))
    assert main(_backfill(wrong)) == 2
    out = capsys.readouterr().out
    assert "stopped early:" in out and "answered 401" in out
    assert _rows(target) == 0


def test_an_unreachable_source_stops_the_run_with_exit_1(
    source: Source, target: EmbeddedTimestream, capsys: pytest.CaptureFixture[str]
) -> None:
    gone = dataclasses.replace(source, url="http://127.0.0.1:9/read")
    assert main(_backfill(gone)) == 1
    assert "cannot reach http://127.0.0.1:9/read" in capsys.readouterr().out


def test_a_checkpoint_of_another_backfill_is_refused(
    source: Source, target: EmbeddedTimestream, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_backfill(source, "--checkpoint", "shared.json", "--end", f"{(source.start_ms + 60_000) / 1000}")) == 0
    capsys.readouterr()
    assert main(_backfill(source, "--checkpoint", "shared.json", "--window", "5m")) == 2
    assert "belongs to another backfill (other window_ms)" in capsys.readouterr().err


def test_source_errors_say_whether_asking_again_helps(source: Source) -> None:
    refused = _source_client(dataclasses.replace(source, url=source.url.replace("/read", "/nowhere")), "up",
                             accepted=(SAMPLES,))  # fmt: skip
    with pytest.raises(SourceError) as error:
        list(refused.read(Window(source.start_ms, source.end_ms)))
    assert not error.value.retryable and "answered 404" in str(error.value)
