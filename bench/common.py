"""Shared pieces: result rows, captured traffic, synthetic requests, the Go connector's call layout."""

from __future__ import annotations

import base64
import json
import random
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from captured import Captured
from captured import writes as captured_writes
from connector.config import Settings
from connector.http import Headers, Request
from connector.prom import snappy
from connector.timestream import schema
from connector.timestream.metering import formula_write_units  # noqa: F401 - the one formula, re-exported
from connector.timestream.records import Record
from prompb import remote_pb2

ROOT = Path(__file__).resolve().parents[1]

ACCESS_KEY_ID = "AKIABENCHMARK0000000"
SECRET_ACCESS_KEY = "bench-secret-access-key"
DATABASE = "BenchDatabase"
WRITE_HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
    "User-Agent": "Prometheus/2.42.0+ds",
}

LabelSet = tuple[tuple[str, str], ...]


@dataclass
class Row:
    """One line of the results table. ``ratio`` is figure/baseline unless the module says otherwise."""

    name: str
    figure: float
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    ratio: float | None = None
    target: str = ""  # human text, e.g. "<= 3"
    passed: bool | None = None  # None: reported only, no target
    note: str = ""

    @property
    def status(self) -> str:
        if self.passed is None:
            return "INFO"
        return "PASS" if self.passed else "MISS"


@dataclass
class Section:
    """What one benchmark module hands back: table rows and free-text details for RESULTS.md."""

    title: str
    rows: list[Row] = field(default_factory=list)
    details: list[str] = field(default_factory=list)


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def cpu_seconds(fn: Callable[[], Any]) -> float:
    """Process CPU time of one call of ``fn`` (this process is single-threaded while it runs)."""
    start = time.process_time()
    fn()
    return time.process_time() - start


def wall_seconds(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def basic_auth(key_id: str = ACCESS_KEY_ID, secret: str = SECRET_ACCESS_KEY) -> str:
    return "Basic " + base64.b64encode(f"{key_id}:{secret}".encode()).decode()


def write_request(body: bytes, headers: dict[str, str] | None = None) -> Request:
    """A remote-write request as the front doors hand it to ``Connector.handle``."""
    all_headers = {**(headers or WRITE_HEADERS), "Authorization": basic_auth()}
    return Request("POST", "/write", Headers(all_headers), body)


def settings_for(url: str, table: str, **overrides: Any) -> Settings:
    return replace(Settings(), write_endpoint=url, query_endpoint=url, database=DATABASE, table=table, **overrides)


# --- captured Prometheus traffic ------------------------------------------------------------------


def sample_count(message: remote_pb2.WriteRequest) -> int:
    return sum(len(series.samples) for series in message.timeseries)


def shift_to_now(captured: Sequence[Captured], end_ms: int) -> list[Captured]:
    """The same requests with every timestamp moved by one offset so the latest one is ``end_ms``."""
    messages = [c.message() for c in captured]
    latest = max((s.timestamp for m in messages for ts in m.timeseries for s in ts.samples), default=end_ms)
    offset = end_ms - latest
    shifted = []
    for item, message in zip(captured, messages, strict=True):
        for series in message.timeseries:
            for sample in series.samples:
                sample.timestamp += offset
        shifted.append(Captured(item.name, snappy.compress(message.SerializeToString()), item.headers))
    return shifted


def captured_label_sets() -> list[LabelSet]:
    """Every distinct series of the captured traffic (a Prometheus scraping itself: ~470 series)."""
    seen: dict[LabelSet, None] = {}
    for item in captured_writes():
        for series in item.message().timeseries:
            seen.setdefault(tuple((label.name, label.value) for label in series.labels), None)
    return list(seen)


# --- synthetic requests ---------------------------------------------------------------------------


def scrape_series(label_sets: Sequence[LabelSet], count: int, instance: str) -> list[LabelSet]:
    """``count`` distinct series of one target: captured label sets with ``instance`` replaced.

    Beyond the captured set, copies get a ``shard`` label so every series stays distinct.
    """
    result = []
    for i in range(count):
        labels = dict(label_sets[i % len(label_sets)])
        labels["instance"] = instance
        labels.setdefault("job", "prometheus")
        if i >= len(label_sets):
            labels["shard"] = str(i // len(label_sets))
        result.append(tuple(sorted(labels.items())))
    return result


def scrape_request(
    label_sets: Sequence[LabelSet],
    samples: int,
    first_ms: int,
    series_per_scrape: int = 500,
    instances: int = 4,
    step_ms: int = 250,
    seed: int = 0,
) -> bytes:
    """A snappy WriteRequest of ``samples`` samples as Prometheus sends them: one TimeSeries per sample.

    Scrape ``j`` is ``series_per_scrape`` series of target ``j % instances`` at ``first_ms + j * step_ms``;
    every scrape has its own timestamp, so requests built with disjoint time ranges never overlap.
    """
    rng = random.Random(seed)
    message = remote_pb2.WriteRequest()
    targets = [scrape_series(label_sets, series_per_scrape, f"10.0.0.{t + 1}:9090") for t in range(instances)]
    j = 0
    while len(message.timeseries) < samples:
        timestamp = first_ms + j * step_ms
        for labels in targets[j % instances][: samples - len(message.timeseries)]:
            series = message.timeseries.add()
            for name, value in labels:
                series.labels.add(name=name, value=value)
            series.samples.add(timestamp=timestamp, value=round(rng.random() * 1000, rng.randint(0, 6)))
        j += 1
    return snappy.compress(message.SerializeToString())


def scrapes_needed(samples: int, series_per_scrape: int = 500) -> int:
    return -(-samples // series_per_scrape)


# --- the official Go connector's layout -----------------------------------------------------------


class RepeatedCall:
    """A WriteRecords call as the official Go connector makes it: no CommonAttributes, every record
    carries its own Dimensions, MeasureName, MeasureValueType, Time and TimeUnit.

    Duck-types ``connector.timestream.calls.WriteCall`` for ``Writer.write`` (``records``, ``parameters``,
    ``body``).
    """

    __slots__ = ("records",)

    def __init__(self, records: Sequence[Record]) -> None:
        self.records = records

    def parameters(self, database: str, table: str) -> dict[str, Any]:
        return {
            "DatabaseName": database,
            "TableName": table,
            "Records": [
                {
                    "Dimensions": [{"Name": n, "Value": v} for n, v in record.dimensions],
                    "MeasureName": record.measure_name,
                    "MeasureValue": record.value,
                    "MeasureValueType": "DOUBLE",
                    "Time": str(record.time_ms),
                    "TimeUnit": "MILLISECONDS",
                }
                for record in self.records
            ],
        }

    def body(self, database: str, table: str) -> bytes:
        return json.dumps(self.parameters(database, table), separators=(",", ":")).encode()


def repeated_calls(records: Sequence[Record], per_call: int = schema.MAX_RECORDS_PER_CALL) -> list[RepeatedCall]:
    """The records in request order, ``per_call`` per call (no regrouping)."""
    return [RepeatedCall(records[i : i + per_call]) for i in range(0, len(records), per_call)]
