"""What the connector counts and times, for CloudWatch (EMF, on Lambda) and Prometheus (local server).

One table of metrics serves both, so a name means the same wherever the connector runs. Recording
imports nothing heavy (cold start): the front door installs a sink, the Lambda handler an
``EmfBuffer`` that it flushes after each invocation, the local server a ``PrometheusSink``; without
one, values are dropped. Every label takes values from a fixed set, never from request data:
each distinct value is a billed CloudWatch metric and a Prometheus series.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

NAMESPACE = "PrometheusTimestream"
SERVICE = "prometheus-timestream"
OTHER = "other"


@dataclass(frozen=True)
class Metric:
    """One measurement; ``dimension_sets`` are the CloudWatch dimension sets besides ``service``."""

    name: str  # CloudWatch name; the Prometheus name is ``prometheus``
    prometheus: str
    unit: str  # "Count", "Seconds" or "Bytes"
    help: str
    labels: tuple[str, ...] = ()
    dimension_sets: tuple[tuple[str, ...], ...] = ((),)
    seconds: bool = False  # one value per request: a histogram locally, a value list in EMF


def _by(label: str) -> dict[str, Any]:
    """A metric published as a total and broken down by ``label``."""
    return {"labels": (label,), "dimension_sets": ((), (label,))}


SAMPLES_RECEIVED = Metric("SamplesReceived", "samples_received", "Count", "Samples in remote-write requests.")
SAMPLES_WRITTEN = Metric("SamplesWritten", "samples_written", "Count", "Samples Timestream confirmed as stored.")
SAMPLES_INVALID = Metric(
    "SamplesInvalid", "samples_invalid", "Count", "Samples that can never be stored (answered 400).", **_by("reason")
)
SAMPLES_REJECTED = Metric(
    "SamplesRejected", "samples_rejected", "Count", "Samples Timestream rejected (answered 400).", **_by("reason")
)
SAMPLES_FAILED = Metric(
    "SamplesFailed", "samples_failed", "Count", "Samples not written this time (Prometheus resends).", **_by("reason")
)
WRITE_SECONDS = Metric("WriteSeconds", "write_duration_seconds", "Seconds", "Time to answer a write.", seconds=True)
WRITE_CALLS = Metric(
    "TimestreamWriteCalls", "timestream_write_calls", "Count", "WriteRecords calls made, retries included."
)
THROTTLES = Metric(
    "TimestreamThrottles",
    "timestream_throttles",
    "Count",
    "Timestream calls answered with throttling.",
    **_by("operation"),
)
RETRIES = Metric(
    "TimestreamRetries", "timestream_retries", "Count", "Timestream calls repeated after an error.", **_by("operation")
)
READ_REQUESTS = Metric("ReadRequests", "read_requests", "Count", "Remote reads answered.", **_by("response"))
READ_QUERIES = Metric("ReadQueries", "read_queries", "Count", "Queries in answered remote reads.")
READ_SERIES = Metric("ReadSeries", "read_series", "Count", "Series returned by remote reads.")
READ_SAMPLES = Metric("ReadSamples", "read_samples", "Count", "Samples returned by remote reads.")
READ_BYTES = Metric("ReadBytes", "read_response_bytes", "Bytes", "Bytes of remote-read response bodies.")
READ_SECONDS = Metric("ReadSeconds", "read_duration_seconds", "Seconds", "Time to answer a read.", seconds=True)
BYTES_SCANNED = Metric(
    "TimestreamBytesScanned", "timestream_bytes_scanned", "Bytes", "Bytes Timestream scanned for reads."
)
BYTES_METERED = Metric(
    "TimestreamBytesMetered", "timestream_bytes_metered", "Bytes", "Bytes Timestream billed for reads."
)
ANSWERS = Metric(
    "Answers",
    "answers",
    "Count",
    "HTTP answers by route and status class.",
    labels=("route", "status"),
    dimension_sets=(("status",), ("route", "status")),
)

METRICS = (
    SAMPLES_RECEIVED,
    SAMPLES_WRITTEN,
    SAMPLES_INVALID,
    SAMPLES_REJECTED,
    SAMPLES_FAILED,
    WRITE_SECONDS,
    WRITE_CALLS,
    THROTTLES,
    RETRIES,
    READ_REQUESTS,
    READ_QUERIES,
    READ_SERIES,
    READ_SAMPLES,
    READ_BYTES,
    READ_SECONDS,
    BYTES_SCANNED,
    BYTES_METERED,
    ANSWERS,
)

# Reasons -> a fixed category; anything unknown is "other". The connector's own reasons (records.py)
# are matched by how they begin, since the rest may quote a label; Timestream's by a phrase inside.
INVALID_REASONS = (
    ("series without a metric name", "no_metric_name"),
    ("label with an empty name", "empty_label_name"),
    ("duplicate label name", "duplicate_label"),
    ("more than", "too_many_labels"),
    ("label name longer", "label_name_too_long"),
    ("label value longer", "label_value_too_long"),
    ("series larger than", "series_too_large"),
    ("native histograms", "native_histogram"),
)
REJECTED_REASONS = (
    ("version", "conflicting_version"),
    ("maximum number", "table_quota"),
    ("timestamp", "outside_retention"),
    ("time range", "outside_retention"),
    ("retention", "outside_retention"),
)
# A failed call's ``Kind`` value -> reason; "deadline" is for calls unfinished when the answer was due.
FAILED_REASONS = {
    "throttled": "throttled",
    "retryable": "timestream_error",
    "unauthenticated": "unauthenticated",
    "forbidden": "forbidden",
    "missing": "table_missing",
    "invalid": "call_invalid",
}
DEADLINE = "deadline"
ROUTES = {"/write": "write", "/read": "read"}
RESPONSE_TYPES = {"samples": "samples", "streamed_xor_chunks": "chunks", "chunks": "chunks"}
OPERATIONS = ("write", "query")


def invalid_reason(text: str) -> str:
    """The fixed category of a reason the connector gave: request data never becomes a label value."""
    lowered = text.lower()
    return next((name for phrase, name in INVALID_REASONS if lowered.startswith(phrase)), OTHER)


def rejected_reason(text: str) -> str:
    """The fixed category of a reason Timestream gave for rejecting a record."""
    lowered = text.lower()
    return next((name for phrase, name in REJECTED_REASONS if phrase in lowered), OTHER)


class Sink(Protocol):
    def add(self, metric: Metric, value: float, labels: Mapping[str, str]) -> None: ...


_sink: Sink | None = None


def install(sink: Sink | None) -> Sink | None:
    """Make ``sink`` receive every value from now on; returns the one it replaces."""
    global _sink
    previous, _sink = _sink, sink
    return previous


def installed() -> Sink | None:
    return _sink


def _add(metric: Metric, value: float, **labels: str) -> None:
    sink = _sink
    if sink is not None:
        sink.add(metric, value, labels)


def record_write(
    *,
    samples: int,
    written: int,
    seconds: float,
    calls: int,
    invalid: Mapping[str, int],
    rejected: Mapping[str, int],
    failed: Iterable[tuple[str, int]],
    unfinished: int,
) -> None:
    """One answered remote write: samples by fate (reasons bounded), calls, throttles, duration.

    ``invalid`` / ``rejected``: counts by reason text; ``failed``: (failure kind, samples) per failed call.
    """
    _add(SAMPLES_RECEIVED, samples)
    _add(SAMPLES_WRITTEN, written)
    _add(WRITE_SECONDS, seconds)
    _add(WRITE_CALLS, calls)
    for text, count in invalid.items():
        _add(SAMPLES_INVALID, count, reason=invalid_reason(text))
    for text, count in rejected.items():
        _add(SAMPLES_REJECTED, count, reason=rejected_reason(text))
    for kind, count in failed:
        _add(SAMPLES_FAILED, count, reason=FAILED_REASONS.get(kind, OTHER))
        if kind == "throttled":  # the last attempt; earlier ones count in record_retry
            _add(THROTTLES, 1, operation="write")
    if unfinished:
        _add(SAMPLES_FAILED, unfinished, reason=DEADLINE)


def record_read(
    *,
    queries: int,
    series: int,
    samples: int,
    response_bytes: int,
    seconds: float,
    bytes_scanned: int = 0,
    bytes_metered: int = 0,
    response_type: str = "samples",
) -> None:
    """One answered remote read.

    ``bytes_scanned`` / ``bytes_metered``: the sums of ``QueryStatus.CumulativeBytesScanned`` and
    ``CumulativeBytesMetered`` over the request's queries (what reads cost on per-byte pricing).
    ``response_type``: ``"samples"`` or ``"streamed_xor_chunks"`` (any case; others count as "other").
    """
    _add(READ_REQUESTS, 1, response=RESPONSE_TYPES.get(response_type.lower(), OTHER))
    _add(READ_QUERIES, queries)
    _add(READ_SERIES, series)
    _add(READ_SAMPLES, samples)
    _add(READ_BYTES, response_bytes)
    _add(READ_SECONDS, seconds)
    _add(BYTES_SCANNED, bytes_scanned)
    _add(BYTES_METERED, bytes_metered)


def record_retry(operation: str, throttled: bool) -> None:
    """A Timestream call about to be repeated after an error; ``operation`` is "write" or "query"."""
    op = operation if operation in OPERATIONS else OTHER
    _add(RETRIES, 1, operation=op)
    if throttled:
        _add(THROTTLES, 1, operation=op)


def record_answer(path: str, status: int) -> None:
    """Every answer of the core by route and status class (2xx, 4xx, 5xx); health probes are not counted."""
    path = path.split("?", 1)[0].rstrip("/")
    if path == "/healthz":
        return
    route = ROUTES.get(path, OTHER)
    _add(ANSWERS, 1, route=route, status=f"{min(max(status // 100, 1), 5)}xx")


def flush() -> None:
    """Publish what the installed sink holds, if it publishes in batches (the Lambda handler calls this)."""
    sink = _sink
    if isinstance(sink, EmfBuffer):
        sink.flush()


# One EMF document holds at most 100 values of a metric; a Lambda invocation has one request.
_MAX_VALUES = 100


class EmfBuffer:
    """Values of one Lambda invocation, printed as CloudWatch EMF through Powertools on ``flush``.

    Counts are summed; durations keep each value (CloudWatch computes percentiles from them).
    Powertools is imported at the first flush, after the answer is built, never at import.
    """

    def __init__(self, namespace: str | None = None, service: str | None = None) -> None:
        self.namespace = namespace or os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or NAMESPACE
        self.service = service or os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE
        self._values: dict[tuple[Metric, tuple[tuple[str, str], ...]], list[float]] = {}
        self._lock = threading.Lock()

    def add(self, metric: Metric, value: float, labels: Mapping[str, str]) -> None:
        key = (metric, tuple(sorted(labels.items())))
        with self._lock:
            values = self._values.setdefault(key, [])
            if not metric.seconds:
                values[:] = [(values[0] if values else 0.0) + value]
            elif len(values) < _MAX_VALUES:
                values.append(value)

    def flush(self) -> None:
        """Print one EMF document per label combination; nothing when nothing was recorded."""
        with self._lock:
            taken, self._values = self._values, {}
        groups: dict[tuple[tuple[tuple[str, ...], ...], tuple[tuple[str, str], ...]], list[Any]] = {}
        for (metric, labels), values in taken.items():
            groups.setdefault((metric.dimension_sets, labels), []).append((metric, values))
        for (dimension_sets, labels), members in groups.items():
            self._print(dimension_sets, dict(labels), members)

    def _print(self, dimension_sets: tuple[tuple[str, ...], ...], labels: dict[str, str], members: list[Any]) -> None:
        from aws_lambda_powertools.metrics import EphemeralMetrics

        emf = EphemeralMetrics(namespace=self.namespace, service=self.service)
        first, *more = dimension_sets
        for name in first:
            emf.add_dimension(name=name, value=labels[name])
        for names in more:
            emf.add_dimensions(service=self.service, **{name: labels[name] for name in names})
        for metric, values in members:
            for value in values:
                emf.add_metric(name=metric.name, unit=metric.unit, value=value)
        emf.flush_metrics()


# Seconds: from a fast local write to a request that used its whole API Gateway budget.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class PrometheusSink:
    """The same metrics as ``prometheus_client`` collectors in a registry of their own, for ``/metrics``.

    Only the local server builds one: prometheus_client is not in the Lambda artifact.
    """

    PREFIX = "timestream_connector_"

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram, PlatformCollector, ProcessCollector

        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self._collectors: dict[Metric, Any] = {}
        for metric in METRICS:
            name, labels = self.PREFIX + metric.prometheus, metric.labels
            if metric.seconds:
                made: Any = Histogram(name, metric.help, labels, registry=self.registry, buckets=_BUCKETS)
            else:
                made = Counter(name, metric.help, labels, registry=self.registry)
            self._collectors[metric] = made

    def add(self, metric: Metric, value: float, labels: Mapping[str, str]) -> None:
        collector = self._collectors[metric]
        child = collector.labels(**labels) if metric.labels else collector
        if metric.seconds:
            child.observe(value)
        elif value > 0:
            child.inc(value)

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The body and its content type in the format the scraper accepts (OpenMetrics or text)."""
        from prometheus_client.exposition import choose_encoder

        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type
