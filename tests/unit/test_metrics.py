"""connector.metrics: the EMF buffer Lambda flushes (real Powertools output, parsed) and the recording
rules both sinks share."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from connector import metrics


@pytest.fixture
def emf() -> Iterator[metrics.EmfBuffer]:
    buffer = metrics.EmfBuffer(namespace="TestNamespace", service="test-stack")
    previous = metrics.install(buffer)
    yield buffer
    metrics.install(previous)


def printed(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def test_counts_are_summed_and_durations_kept(emf: metrics.EmfBuffer, capsys: pytest.CaptureFixture[str]) -> None:
    for seconds in (0.5, 0.25):
        metrics.record_read(queries=1, series=2, samples=30, response_bytes=100, seconds=seconds,
                            bytes_scanned=1000, bytes_metered=10_485_760, response_type="streamed_xor_chunks")
    metrics.flush()
    documents = printed(capsys)
    (totals,) = [d for d in documents if "ReadSamples" in d]
    assert totals["ReadSamples"] == [60.0] and totals["ReadQueries"] == [2.0]
    assert totals["TimestreamBytesMetered"] == [20_971_520.0]
    assert sorted(totals["ReadSeconds"]) == [0.25, 0.5]
    (directive,) = totals["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "TestNamespace" and directive["Dimensions"] == [["service"]]
    units = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert units["ReadSeconds"] == "Seconds" and units["ReadBytes"] == "Bytes" and units["ReadSeries"] == "Count"
    (by_type,) = [d for d in documents if "ReadRequests" in d]
    assert by_type["response"] == "chunks" and by_type["ReadRequests"] == [2.0]
    assert by_type["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"], ["service", "response"]]


def test_flush_empties_the_buffer_and_prints_nothing_when_empty(
    emf: metrics.EmfBuffer, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics.record_answer("/write", 204)
    metrics.flush()
    assert len(printed(capsys)) == 1
    metrics.flush()
    assert capsys.readouterr().out == ""


def test_answers_by_route_and_status_class(emf: metrics.EmfBuffer, capsys: pytest.CaptureFixture[str]) -> None:
    for path, status in (("/write/", 204), ("/write?x=1", 503), ("/read", 413), ("/nowhere", 404), ("/healthz", 200)):
        metrics.record_answer(path, status)
    metrics.flush()
    seen = {(d["route"], d["status"]): d["Answers"] for d in printed(capsys)}
    assert seen == {("write", "2xx"): [1.0], ("write", "5xx"): [1.0], ("read", "4xx"): [1.0], ("other", "4xx"): [1.0]}


def test_answers_are_published_by_status_and_by_route_and_status(
    emf: metrics.EmfBuffer, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics.record_answer("/read", 502)
    metrics.flush()
    (document,) = printed(capsys)
    assert document["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["status", "service"],
                                                                    ["service", "route", "status"]]
    assert (document["service"], document["route"], document["status"]) == ("test-stack", "read", "5xx")


def test_retries_and_throttles_by_operation(emf: metrics.EmfBuffer, capsys: pytest.CaptureFixture[str]) -> None:
    metrics.record_retry("query", throttled=True)
    metrics.record_retry("query", throttled=False)
    metrics.record_retry("DescribeEndpoints", throttled=False)
    metrics.flush()
    seen = {d["operation"]: (d.get("TimestreamRetries"), d.get("TimestreamThrottles")) for d in printed(capsys)}
    assert seen == {"query": ([2.0], [1.0]), "other": ([1.0], None)}


def test_a_duration_list_is_capped_at_what_one_emf_document_holds(
    emf: metrics.EmfBuffer, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(150):
        metrics.record_read(queries=1, series=0, samples=0, response_bytes=0, seconds=0.1)
    metrics.flush()
    (totals,) = [d for d in printed(capsys) if "ReadSeconds" in d]
    assert len(totals["ReadSeconds"]) == 100 and totals["ReadQueries"] == [150.0]


def test_without_a_sink_nothing_is_recorded(capsys: pytest.CaptureFixture[str]) -> None:
    previous = metrics.install(None)
    try:
        metrics.record_answer("/write", 204)
        metrics.flush()
    finally:
        metrics.install(previous)
    assert capsys.readouterr().out == ""


def test_every_metric_has_distinct_names_and_bounded_labels() -> None:
    count = len(metrics.METRICS)
    assert len({m.name for m in metrics.METRICS}) == len({m.prometheus for m in metrics.METRICS}) == count
    for metric in metrics.METRICS:
        assert set().union(*metric.dimension_sets) == set(metric.labels), metric.name
        assert metric.unit in ("Count", "Seconds", "Bytes")
