"""A second real remote-write client: the OpenTelemetry Prometheus remote-write exporter.

The exporter runs in a subprocess (tests/e2e/otel_client.py explains why), writes a counter, a
gauge (with +Inf, -Inf and NaN values) and a histogram through the connector with basic auth, and
reports every series and sample it sent. What it sent must read back exactly (labels, millisecond
timestamps, value bits), both straight from the store with a Timestream Query and through the
connector's POST /read.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.prom import snappy
from prompb import remote_pb2, types_pb2
from tests import layout
from tests.tools import missing

from .compare import show
from .conftest import ACCESS_KEY_ID, DATABASE, SECRET_ACCESS_KEY, TABLE, Backend, running_connector
from .harness import basic_auth_header

pytestmark = pytest.mark.e2e

CLIENT = Path(__file__).with_name("otel_client.py")
OTEL_MODULE = "opentelemetry.exporter.prometheus_remote_write"
OTEL_PINS = (
    "opentelemetry-exporter-prometheus-remote-write==0.66b1 opentelemetry-api==1.45.2 opentelemetry-sdk==1.45.2 "
    "opentelemetry-semantic-conventions==0.66b2 python-snappy==0.7.3"
)
METRIC_PREFIX = "otel_e2e_"

SeriesKey = tuple[tuple[str, str], ...]
SeriesMap = dict[SeriesKey, list[tuple[int, str]]]


def _run_client(endpoint: str, username: str, password: str) -> dict[str, Any]:
    probe = subprocess.run([sys.executable, "-c", f"import {OTEL_MODULE}"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        missing(f"the OpenTelemetry remote-write exporter in {sys.executable}", f"pip install {OTEL_PINS}")
    env = {**os.environ, "OTEL_E2E_USERNAME": username, "OTEL_E2E_PASSWORD": password}
    env.pop("OTEL_RESOURCE_ATTRIBUTES", None)
    done = subprocess.run([sys.executable, str(CLIENT), endpoint], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, f"otel_client.py exited {done.returncode}\nstderr:\n{done.stderr[-3000:]}"
    return {**json.loads(done.stdout), "stderr": done.stderr}


@pytest.fixture(scope="module")
def otel_backend(store: object) -> Iterator[Backend]:
    """A connector of its own on the shared store, so reads here never warm the caches of the
    connector Prometheus uses (and the other way round), whatever order the tests run in."""
    with running_connector(store) as running:
        yield running


@pytest.fixture(scope="module")
def otel_sent(otel_backend: Backend) -> dict[str, Any]:
    return _run_client(f"{otel_backend.url}/write", ACCESS_KEY_ID, SECRET_ACCESS_KEY)


def expected_series(sent: dict[str, Any]) -> SeriesMap:
    series: SeriesMap = {}
    for export in sent["exports"]:
        for item in export["series"]:
            key = tuple(sorted((name, value) for name, value in item["labels"]))
            series.setdefault(key, []).extend((int(t), bits) for t, bits in item["samples"])
    for samples in series.values():
        samples.sort()
    return series


def _bits(value: float) -> str:
    return struct.pack(">d", value).hex()


def _diff(expected: SeriesMap, actual: SeriesMap) -> str:
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    differing = sorted(k for k in set(expected) & set(actual) if expected[k] != actual[k])
    lines = [f"{len(missing)} series missing, {len(extra)} unexpected, {len(differing)} with other samples"]
    lines += [f"  missing: {show(k)}" for k in missing[:5]]
    lines += [f"  unexpected: {show(k)} {actual[k][:3]}" for k in extra[:5]]
    for key in differing[:5]:
        lines.append(f"  differs: {show(key)}\n    sent:   {expected[key][:6]}\n    stored: {actual[key][:6]}")
    return "\n".join(lines)


def test_every_export_succeeded(otel_sent: dict[str, Any]) -> None:
    results = [export["result"] for export in otel_sent["exports"]]
    assert len(results) >= 3 and set(results) == {"SUCCESS"}, f"{results}\n{otel_sent['stderr'][-2000:]}"
    names = {dict(key)["__name__"] for key in expected_series(otel_sent)}
    assert names == {
        f"{METRIC_PREFIX}{n}" for n in ("requests", "temperature", "latency", "latency_sum", "latency_count")
    }


def stored_series(backend: Backend, names: set[str]) -> SeriesMap:
    """Rows of the given metrics, decoded by the tests' own reader of the table layout the README
    documents (tests/layout.py), not by the connector's schema module. The names are plain (no
    ``:``, none Timestream reserves), so the README says ``measure_name`` holds them verbatim."""
    quoted = ", ".join("'" + name.replace("'", "''") + "'" for name in sorted(names))
    sql = f'SELECT *, to_milliseconds(time) AS t_ms FROM "{DATABASE}"."{TABLE}" WHERE measure_name IN ({quoted})'
    client = backend.query_client()
    series: SeriesMap = {}
    token = None
    while True:
        page = client.query(QueryString=sql, **({"NextToken": token} if token else {}))
        columns = [c["Name"] for c in page["ColumnInfo"]]
        for row in page["Rows"]:
            cells = {c: d.get("ScalarValue") for c, d in zip(columns, row["Data"], strict=True)}
            metric, labels, t_ms, value_bits = layout.sample_of_row(cells)
            key = tuple(sorted({*labels, ("__name__", metric)}))
            series.setdefault(key, []).append((t_ms, _bits(layout.from_bits(value_bits))))
        token = page.get("NextToken")
        if not token:
            break
    for samples in series.values():
        samples.sort()
    return series


def test_store_holds_exactly_what_otel_sent(otel_sent: dict[str, Any], otel_backend: Backend) -> None:
    expected = expected_series(otel_sent)
    names = {dict(key)["__name__"] for key in expected}
    stored = stored_series(otel_backend, names)
    assert stored == expected, _diff(expected, stored)


def _remote_read(backend: Backend, start_ms: int, end_ms: int) -> SeriesMap:
    request = remote_pb2.ReadRequest()
    query = request.queries.add(start_timestamp_ms=start_ms, end_timestamp_ms=end_ms)
    query.matchers.add(type=types_pb2.LabelMatcher.RE, name="__name__", value=f"{METRIC_PREFIX}.*")
    http_request = urllib.request.Request(
        f"{backend.url}/read",
        data=snappy.compress(request.SerializeToString()),
        method="POST",
        headers={
            "Content-Type": "application/x-protobuf",
            "Content-Encoding": "snappy",
            "Accept-Encoding": "snappy",
            "X-Prometheus-Remote-Read-Version": "0.1.0",
            "Authorization": basic_auth_header(ACCESS_KEY_ID, SECRET_ACCESS_KEY),
        },
    )
    try:
        with urllib.request.urlopen(http_request, timeout=60) as response:
            content_type, body = response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"POST /read answered {exc.code}: {exc.read()[:500]!r}") from None
    assert content_type.startswith("application/x-protobuf"), content_type
    message = remote_pb2.ReadResponse.FromString(snappy.decompress(body, 1 << 30))
    assert len(message.results) == 1
    series: SeriesMap = {}
    for ts in message.results[0].timeseries:
        key = tuple(sorted((label.name, label.value) for label in ts.labels))
        assert key not in series, f"series {show(key)} returned twice"
        series[key] = [(s.timestamp, _bits(s.value)) for s in ts.samples]
    return series


def test_remote_read_returns_exactly_what_otel_sent(otel_sent: dict[str, Any], otel_backend: Backend) -> None:
    expected = expected_series(otel_sent)
    times = [t for samples in expected.values() for t, _ in samples]
    actual = _remote_read(otel_backend, min(times) - 1, max(times) + 1)
    assert actual == expected, _diff(expected, actual)


def test_export_without_credentials_is_refused(otel_backend: Backend, otel_sent: dict[str, Any]) -> None:
    """Basic auth is the only identity: the exporter without it gets 401 and reports FAILURE."""
    refused = _run_client(f"{otel_backend.url}/write", "", "")
    results = {export["result"] for export in refused["exports"]}
    assert results == {"FAILURE"}, results
    assert "401" in refused["stderr"], refused["stderr"][-2000:]
