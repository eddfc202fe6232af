"""Write metrics through the OpenTelemetry Prometheus remote-write exporter; print what it sent.

Runs in its own interpreter (see test_otel_remote_write.py): the exporter ships generated
protobuf modules for the ``prometheus`` proto package, and the connector's ``prompb`` modules
register the same symbols, so the two cannot be imported into one process.

Usage: ``python otel_client.py ENDPOINT`` with ``OTEL_E2E_USERNAME`` / ``OTEL_E2E_PASSWORD`` in
the environment (empty username: no basic_auth). Prints one JSON document on stdout:
``{"exports": [{"result": "SUCCESS", "series": [{"labels": [[name, value], ...],
"samples": [[timestamp_ms, "value bits as 16 hex digits"], ...]}]}]}``.
"""

from __future__ import annotations

import json
import math
import os
import struct
import sys
import time
from typing import Any

import snappy
from opentelemetry.exporter.prometheus_remote_write import PrometheusRemoteWriteMetricsExporter
from opentelemetry.exporter.prometheus_remote_write.gen.remote_pb2 import WriteRequest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExportResult, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

ROUNDS = 3


class RecordingExporter(PrometheusRemoteWriteMetricsExporter):
    """The real exporter; it also keeps every series it sent and the result of each export."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.exports: list[dict[str, Any]] = []

    def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        sent = self._translate_data(metrics_data) if metrics_data else []
        # Record what goes on the wire: the message as the receiver will parse it.
        wire = WriteRequest.FromString(snappy.decompress(self._build_message(sent))) if sent else WriteRequest()
        result = super().export(metrics_data, timeout_millis, **kwargs)
        self.exports.append({"result": result.name, "series": [_series(ts) for ts in wire.timeseries]})
        return result


def _series(ts: Any) -> dict[str, Any]:
    return {
        "labels": [[label.name, label.value] for label in ts.labels],
        "samples": [[s.timestamp, struct.pack(">d", s.value).hex()] for s in ts.samples],
    }


def main(endpoint: str) -> int:
    username = os.environ.get("OTEL_E2E_USERNAME", "")
    password = os.environ.get("OTEL_E2E_PASSWORD", "")
    auth = {"username": username, "password": password} if username else None
    exporter = RecordingExporter(endpoint=endpoint, basic_auth=auth, timeout=20)
    # A long interval: exports happen exactly when force_flush() and shutdown() ask for them.
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    resource = Resource.create({"service.name": "e2e-otel", "deployment.environment": 'lab "ü" \\ q'})
    provider = MeterProvider(metric_readers=[reader], resource=resource)
    meter = provider.get_meter("e2e")

    requests = meter.create_counter("otel_e2e_requests", description="requests served")
    temperature = meter.create_gauge("otel_e2e_temperature", description="a gauge with non-finite values too")
    latency = meter.create_histogram(
        "otel_e2e_latency", description="a histogram", explicit_bucket_boundaries_advisory=[0.005, 0.1, 1.0, 2.5]
    )
    for round_ in range(ROUNDS):
        requests.add(3, {"code": "200"})
        requests.add(1 + round_, {"code": "500", "path": "/it's_100%"})
        temperature.set(21.5 + round_ / 3, {"room": "Zürich ☃"})
        temperature.set(math.inf if round_ % 2 == 0 else -math.inf, {"room": "sun"})
        temperature.set(math.nan, {"room": "void"})
        temperature.set(-0.0, {"room": "freezer"})
        for value in (0.001, 0.07 * (round_ + 1), 0.3, 4.2):
            latency.record(value, {"handler": "/a"})
        provider.force_flush()
        time.sleep(0.02)  # distinct millisecond timestamps for every round
    provider.shutdown()
    json.dump({"exports": exporter.exports}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
