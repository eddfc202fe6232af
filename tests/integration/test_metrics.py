"""The connector's metrics through both front doors, counted against what was written.

- Lambda: the real handler, run by ``python -m connector invoke --local`` in a child process as on
  Lambda, prints EMF lines on stdout; they are parsed and summed per invocation.
- Local server: ``python -m connector serve --local`` in a child process; ``GET /metrics`` is
  scraped and parsed with prometheus_client's own text parser.

The same batch goes to both: two valid series (3 samples), one series with a duplicate label name
(2 samples, invalid) and one sample a day ahead (rejected by the store), then a valid batch.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from connector.local import LOCAL_ACCESS_KEY_ID, LOCAL_SECRET_ACCESS_KEY
from connector.prom import snappy
from prompb import remote_pb2, types_pb2
from tests.doors import http_api_event
from tests.helpers import WRITE_HEADERS, basic_auth, write_body
from tests.integration.serve_process import ROOT, serving

NOW_MS = int(time.time() * 1000)
FIRST = [
    ([("__name__", "up"), ("job", "a")], [(NOW_MS - 2000, 1.0), (NOW_MS - 1000, 1.0)]),
    ([("__name__", "up"), ("job", "b")], [(NOW_MS - 1000, 0.0)]),
    ([("__name__", "up"), ("job", "c"), ("job", "d")], [(NOW_MS - 2000, 1.0), (NOW_MS - 1000, 1.0)]),
    ([("__name__", "up"), ("job", "e")], [(NOW_MS + 86_400_000, 1.0)]),
]
SECOND = [([("__name__", "up"), ("job", "a")], [(NOW_MS, 1.0)])]
AUTH = {"Authorization": basic_auth(LOCAL_ACCESS_KEY_ID, LOCAL_SECRET_ACCESS_KEY)}
READ_HEADERS = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
                "X-Prometheus-Remote-Read-Version": "0.1.0"}
SERVICE = "metrics-test-stack"
# What Prometheus 2.42 sends when it scrapes: it prefers OpenMetrics.
PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
                     "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


def read_body() -> bytes:
    request = remote_pb2.ReadRequest()
    query = request.queries.add(start_timestamp_ms=NOW_MS - 60_000, end_timestamp_ms=NOW_MS)
    query.matchers.add(type=types_pb2.LabelMatcher.EQ, name="__name__", value="up")
    return snappy.compress(request.SerializeToString())


# ---- Lambda: EMF on stdout ------------------------------------------------------------------------

Values = dict[tuple[str, tuple[tuple[str, str], ...]], float]
DESCRIBED = re.compile(r"\.json: \d+ in \d+ ms$")  # invoke's line after each invocation


def emf_per_invocation(stdout: str) -> list[tuple[list[dict[str, Any]], Values]]:
    """(EMF documents, {(metric, dimensions): sum}) per invocation; `invoke` ends each with `FILE: STATUS`."""
    invocations: list[tuple[list[dict[str, Any]], Values]] = []
    documents: list[dict[str, Any]] = []
    for line in stdout.splitlines():
        if line.startswith('{"_aws"'):
            documents.append(json.loads(line))
        elif DESCRIBED.search(line):
            invocations.append((documents, emf_values(documents)))
            documents = []
    return invocations


def emf_values(documents: list[dict[str, Any]]) -> Values:
    """Each metric summed under each of its dimension sets, as CloudWatch aggregates it."""
    values: Values = defaultdict(float)
    for document in documents:
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        for dimensions in directive["Dimensions"]:
            key = tuple(sorted((name, document[name]) for name in dimensions))
            for metric in directive["Metrics"]:
                values[(metric["Name"], key)] += sum(document[metric["Name"]])
    return values


@pytest.fixture(scope="module")
def lambda_run(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[list[dict[str, Any]], Values]]:
    events = tmp_path_factory.mktemp("events")
    bodies = [("first-write", "/write", WRITE_HEADERS, write_body(FIRST)),
              ("second-write", "/write", WRITE_HEADERS, write_body(SECOND)),
              ("read", "/read", READ_HEADERS, read_body())]
    paths = []
    for name, path, headers, body in bodies:
        paths.append(events / f"{name}.json")
        event = http_api_event("POST", path, {**headers, **AUTH}, body, routeKey=f"POST {path}")
        paths[-1].write_text(json.dumps(event))
    env = {**os.environ, "POWERTOOLS_SERVICE_NAME": SERVICE, "AUTH_MODE": "basic", "AWS_EC2_METADATA_DISABLED": "true"}
    env.pop("POWERTOOLS_METRICS_NAMESPACE", None)
    run = subprocess.run([sys.executable, "-m", "connector", "invoke", *map(str, paths), "--local"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=120)
    invocations = emf_per_invocation(run.stdout)
    assert len(invocations) == 3, run.stdout[-3000:] + run.stderr[-3000:]
    return invocations


def total(name: str, **dimensions: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted({"service": SERVICE, **dimensions}.items()))


def test_emf_counts_match_the_first_write(lambda_run: list[tuple[list[dict[str, Any]], Values]]) -> None:
    documents, values = lambda_run[0]
    assert {d["_aws"]["CloudWatchMetrics"][0]["Namespace"] for d in documents} == {"PrometheusTimestream"}
    assert values[total("SamplesReceived")] == 6
    assert values[total("SamplesWritten")] == 3
    assert values[total("SamplesInvalid")] == 2
    assert values[total("SamplesInvalid", reason="duplicate_label")] == 2
    assert values[total("SamplesRejected")] == 1
    assert values[total("SamplesRejected", reason="outside_retention")] == 1
    assert values[total("Answers", status="4xx")] == 1
    assert values[total("Answers", route="write", status="4xx")] == 1
    assert values[total("TimestreamWriteCalls")] >= 1
    assert total("SamplesFailed") not in values
    (seconds,) = [d["WriteSeconds"] for d in documents if "WriteSeconds" in d]
    assert len(seconds) == 1 and seconds[0] > 0


def test_emf_is_per_invocation(lambda_run: list[tuple[list[dict[str, Any]], Values]]) -> None:
    """Flushed after each invocation: the second holds the second write only, the third the read."""
    _, second = lambda_run[1]
    assert second[total("SamplesReceived")] == second[total("SamplesWritten")] == 1
    assert second[total("Answers", route="write", status="2xx")] == 1
    assert total("SamplesInvalid") not in second
    _, read = lambda_run[2]
    assert read[total("Answers", route="read", status="2xx")] == 1
    assert total("SamplesReceived") not in read


def test_emf_reason_dimensions_come_from_the_fixed_lists(lambda_run: list[tuple[list[dict[str, Any]], Values]]) -> None:
    from connector import metrics

    allowed = ({n for _, n in metrics.INVALID_REASONS} | {n for _, n in metrics.REJECTED_REASONS}
               | set(metrics.FAILED_REASONS.values()) | {metrics.DEADLINE, metrics.OTHER})
    reasons = {d["reason"] for documents, _ in lambda_run for d in documents if "reason" in d}
    assert reasons and reasons <= allowed


# ---- Local server: GET /metrics -------------------------------------------------------------------


def post(url: str, path: str, headers: dict[str, str], body: bytes) -> int:
    request = urllib.request.Request(url + path, data=body, headers={**headers, **AUTH}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@pytest.fixture(scope="module")
def scraped() -> tuple[dict[tuple[str, tuple[tuple[str, str], ...]], float], str]:
    with serving(["--local"]) as served:
        assert post(served.url, "/write", WRITE_HEADERS, write_body(FIRST)) == 400
        assert post(served.url, "/write", WRITE_HEADERS, write_body(SECOND)) == 204
        assert post(served.url, "/read", READ_HEADERS, read_body()) == 200
        with urllib.request.urlopen(served.url + "/metrics", timeout=30) as reply:
            content_type, text = reply.headers["Content-Type"], reply.read().decode()
        as_prometheus = urllib.request.Request(served.url + "/metrics", headers={"Accept": PROMETHEUS_ACCEPT})
        with urllib.request.urlopen(as_prometheus, timeout=30) as reply:
            assert reply.headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
            openmetrics = reply.read().decode()
    assert openmetrics.endswith("# EOF\n")
    written = [s.value for f in openmetrics_families(openmetrics) for s in f.samples
               if s.name == "timestream_connector_samples_written_total"]
    assert written == [4]
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples, content_type


def scrape(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return "timestream_connector_" + name, tuple(sorted(labels.items()))


def test_metrics_endpoint_counts_what_was_written(scraped: tuple[dict[Any, float], str]) -> None:
    samples, content_type = scraped
    assert content_type.startswith("text/plain; version=0.0.4")
    assert samples[scrape("samples_received_total")] == 7
    assert samples[scrape("samples_written_total")] == 4
    assert samples[scrape("samples_invalid_total", reason="duplicate_label")] == 2
    assert samples[scrape("samples_rejected_total", reason="outside_retention")] == 1
    assert samples[scrape("write_duration_seconds_count")] == 2
    assert samples[scrape("timestream_write_calls_total")] >= 2
    assert not [key for key in samples if key[0] == "timestream_connector_samples_failed_total"]


def test_metrics_endpoint_counts_answers_by_route_and_status(scraped: tuple[dict[Any, float], str]) -> None:
    samples, _ = scraped
    answers = {dict(labels)["route"] + " " + dict(labels)["status"]: value
               for (name, labels), value in samples.items() if name == "timestream_connector_answers_total"}
    assert answers == {"write 4xx": 1, "write 2xx": 1, "read 2xx": 1}  # GET /metrics itself is not an answer


def test_metrics_endpoint_has_process_metrics(scraped: tuple[dict[Any, float], str]) -> None:
    samples, _ = scraped
    assert any(name == "process_resident_memory_bytes" for name, _ in samples)


def test_lambda_module_imports_neither_prometheus_client_nor_powertools_metrics(tmp_path: Path) -> None:
    """Cold start: what Lambda imports before the first request (``make bench`` times it)."""
    code = ("import sys, connector.handler as h; h.connector(); "
            "print(sorted(m for m in ('prometheus_client', 'aws_lambda_powertools.metrics') if m in sys.modules))")
    env = {**os.environ, "AWS_EC2_METADATA_DISABLED": "true"}
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_metrics_endpoint_counts_what_was_read(scraped: tuple[dict[Any, float], str]) -> None:
    """The one read selects `up` in the last minute: the written series of SECOND and of FIRST in range."""
    samples, _ = scraped
    assert samples[scrape("read_requests_total", response="samples")] == 1
    assert samples[scrape("read_queries_total")] == 1
    assert samples[scrape("read_series_total")] >= 1
    assert samples[scrape("read_samples_total")] >= samples[scrape("read_series_total")]
    assert samples[scrape("read_response_bytes_total")] > 0
    assert samples[scrape("timestream_bytes_metered_total")] >= 10 * 1024 * 1024  # Timestream's per-query minimum
