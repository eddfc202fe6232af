"""Remote write 2.0 through both front doors into the embedded store, checked with boto3 queries.

Every rule of the 2.0 path has a test here: negotiation by Content-Type, the symbols table and its
references, the label rules, what happens to start timestamps, metadata, exemplars and native
histograms, and the three Written headers on every answer, refusals included.
"""

from __future__ import annotations

import io
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from connector.config import Settings
from connector.invoke import main as invoke_main
from connector.prom import snappy
from connector.prom.write_codec import MAX_SAMPLES_PER_REQUEST
from emulator.server import EmbeddedTimestream
from prompb import remote_pb2
from prompb import types_pb2 as v1_types
from prompb.write.v2 import types_pb2
from tests.doors import Answer, Door
from tests.helpers import (
    STALE_NAN,
    WRITE_HEADERS,
    WRITE_V2_HEADERS,
    basic_auth,
    captured_metadata,
    captured_writes,
    count_samples,
    float_bits,
    to_v2,
    v2_body,
    write_body,
    write_request,
)
from tests.integration.test_write import AUTH, now_ms, stored_samples

ROOT = Path(__file__).resolve().parents[2]
SAMPLES, HISTOGRAMS, EXEMPLARS = (
    "x-prometheus-remote-write-samples-written",
    "x-prometheus-remote-write-histograms-written",
    "x-prometheus-remote-write-exemplars-written",
)


def post_v2(door: Door, body: bytes, headers: dict[str, str] | None = None, auth: bool = True) -> Answer:
    return door("POST", "/write", {**WRITE_V2_HEADERS, **(AUTH if auth else {}), **(headers or {})}, body)


def written(answer: Answer) -> tuple[int, int, int]:
    """The three Written counts; fails if any header is missing."""
    return int(answer.headers[SAMPLES]), int(answer.headers[HISTOGRAMS]), int(answer.headers[EXEMPLARS])


def raw_body(symbols: list[str], *series: dict[str, Any]) -> bytes:
    message = types_pb2.Request(symbols=symbols, timeseries=[types_pb2.TimeSeries(**s) for s in series])
    return snappy.compress(message.SerializeToString())


def rows(query: Any, metric: str, since: int = 0) -> Counter:  # type: ignore[type-arg]
    """Stored samples of ``metric`` from ``since`` on (ms): each door's test writes after its own start."""
    return stored_samples(query, f"measure_name = '{metric}' AND time >= from_milliseconds({since})")


@pytest.mark.parametrize("revision", ["rc3", "rc4"])
def test_every_captured_sample_arrives_exactly_once(door: Door, query: Any, revision: str) -> None:
    """Prometheus 2.42's traffic as a 2.0 sender of each revision sends it: metadata, start timestamps."""
    metadata, expected, latest = captured_metadata(), Counter(), 0
    for captured in captured_writes():
        v1 = captured.message()
        body = snappy.compress(to_v2(v1, metadata, start_ms=1, revision=revision).SerializeToString())
        answer = post_v2(door, body)
        samples = sum(len(ts.samples) for ts in v1.timeseries)
        assert answer.status == 204, answer.text
        assert written(answer) == (samples, 0, 0)
        latest = max(latest, count_samples(expected, v1.timeseries))
    assert sum(expected.values()) > 3000
    assert stored_samples(query, f"time <= from_milliseconds({latest})") == expected


def test_values_round_trip_bit_exactly_including_specials(door: Door, query: Any) -> None:
    values = [4e-7, 1e300, -0.0, 5e-324, 0.1 + 0.2, math.inf, -math.inf, float("nan"), STALE_NAN]
    t0 = now_ms()
    labels = [("__name__", "v2_lossless"), ("job", "it"), ("métrique.π", "значение")]
    answer = post_v2(door, v2_body([(labels, [(t0 + i, v) for i, v in enumerate(values)])]))
    assert answer.status == 204, answer.text
    assert written(answer) == (len(values), 0, 0)
    found = stored_samples(query, f"measure_name = 'v2_lossless' AND time >= from_milliseconds({t0})")
    others = frozenset({("job", "it"), ("métrique.π", "значение")})
    assert found == Counter(("v2_lossless", others, t0 + i, float_bits(v)) for i, v in enumerate(values))


@pytest.mark.parametrize("revision", ["rc3", "rc4"])
def test_start_timestamps_and_metadata_are_read_and_not_stored(door: Door, query: Any, revision: str) -> None:
    """No zero sample at the start time, no column for type, help or unit: only the samples sent."""
    t0, metric = now_ms(), f"v2_started_{revision}_total"
    labels = [("__name__", metric), ("run", str(t0))]  # each door's run its own series
    v1 = remote_pb2.WriteRequest.FromString(write_request([(labels, [(t0, 3.0)])]))
    meta = v1_types.MetricMetadata(type=v1_types.MetricMetadata.COUNTER, help="Requests served.", unit="requests")
    sent = to_v2(v1, {metric: meta}, start_ms=t0 - 60_000, revision=revision)
    answer = post_v2(door, snappy.compress(sent.SerializeToString()))
    assert answer.status == 204, answer.text
    found = stored_samples(query, f"measure_name = '{metric}' AND run = '{t0}'")
    assert found == Counter({(metric, frozenset({("run", str(t0))}), t0, float_bits(3.0)): 1})


# ---- negotiation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    ["application/x-protobuf", "application/x-protobuf;proto=prometheus.WriteRequest"],
)
def test_1_0_content_types_still_decode_as_1_0(door: Door, query: Any, content_type: str) -> None:
    t0, ct = now_ms(), content_type.rpartition("=")[2][-7:]
    body = write_body([([("__name__", "v1_beside_v2"), ("ct", ct)], [(t0, 1.0)])])
    answer = door("POST", "/write", {**WRITE_HEADERS, **AUTH, "Content-Type": content_type}, body)
    assert answer.status == 204 and HISTOGRAMS not in answer.headers
    assert rows(query, "v1_beside_v2", t0)[("v1_beside_v2", frozenset({("ct", ct)}), t0, float_bits(1.0))] == 1


def test_an_unknown_message_is_415_naming_both_supported_ones(door: Door) -> None:
    answer = post_v2(door, v2_body([]), {"Content-Type": "application/x-protobuf;proto=io.prometheus.write.v3.Request"})
    assert answer.status == 415
    assert "prometheus.WriteRequest" in answer.text and "io.prometheus.write.v2.Request" in answer.text


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Encoding": "gzip"},
        {"Content-Encoding": "zstd"},
        {"Content-Type": "application/json;proto=io.prometheus.write.v2.Request"},
    ],
)
def test_a_2_0_request_in_an_unsupported_type_or_encoding_is_415_with_the_counts(
    door: Door, headers: dict[str, str]
) -> None:
    answer = post_v2(door, v2_body([([("__name__", "up"), ("job", "x")], [(now_ms(), 1.0)])]), headers)
    assert answer.status == 415 and written(answer) == (0, 0, 0)


def test_a_1_0_body_declared_2_0_is_400_and_nothing_is_written(door: Door, query: Any) -> None:
    body = write_body([([("__name__", "v1_as_v2"), ("job", "x")], [(now_ms(), 1.0)])])
    answer = post_v2(door, body)
    assert answer.status == 400 and written(answer) == (0, 0, 0)
    assert "prometheus.WriteRequest" in answer.text
    assert not rows(query, "v1_as_v2")


def test_a_2_0_body_declared_1_0_is_400_and_nothing_is_written(door: Door, query: Any) -> None:
    body = v2_body([([("__name__", "v2_as_v1"), ("job", "x")], [(now_ms(), 1.0)])])
    answer = door("POST", "/write", {**WRITE_HEADERS, **AUTH}, body)
    assert answer.status == 400 and "io.prometheus.write.v2.Request" in answer.text
    assert not rows(query, "v2_as_v1")


# ---- symbols, references, labels ------------------------------------------------------------------

SYMBOLS = ["", "__name__", "v2_refs", "job", "ok", "bad", "zone", "a"]


@pytest.mark.parametrize(
    ("refs", "reason"),
    [
        ([1, 2, 3, 5, 6], "odd number of label references"),
        ([1, 2, 3, 99], "label reference 99 outside the 8 symbols"),
        ([3, 5, 1, 2], "label names not sorted"),
        ([1, 2, 3, 5, 3, 7], "repeated label name 'job'"),
        ([1, 2, 3, 0], "empty value of label 'job'"),
    ],
)
def test_broken_series_are_400_naming_them_and_the_valid_ones_are_written(
    door: Door, query: Any, refs: list[int], reason: str
) -> None:
    t0 = now_ms()
    sample = [types_pb2.Sample(value=2.0, timestamp=t0)]
    body = raw_body(SYMBOLS, {"labels_refs": [1, 2, 3, 4], "samples": sample}, {"labels_refs": refs, "samples": sample})
    answer = post_v2(door, body)
    assert answer.status == 400 and written(answer) == (1, 0, 0)
    assert "1 of 2 samples could not be stored" in answer.text and reason in answer.text and "series" in answer.text
    assert (("v2_refs", frozenset({("job", "ok")}), t0, float_bits(2.0))) in rows(query, "v2_refs")


def test_symbols_not_starting_with_the_empty_string_are_400_and_nothing_is_written(door: Door, query: Any) -> None:
    body = raw_body(
        ["__name__", "v2_shifted", "job", "x"],
        {"labels_refs": [0, 1, 2, 3], "samples": [types_pb2.Sample(value=1.0, timestamp=now_ms())]},
    )
    answer = post_v2(door, body)
    assert answer.status == 400 and "symbols[0]" in answer.text and written(answer) == (0, 0, 0)
    assert not rows(query, "v2_shifted")


def test_a_label_set_1_0_accepts_is_still_refused_by_2_0(door: Door, query: Any) -> None:
    """1.0 sorts unsorted labels itself; 2.0 requires them sorted, whatever the series cache holds."""
    t0 = now_ms()
    labels = [("job", "lenient"), ("__name__", "v2_unsorted")]
    assert door("POST", "/write", {**WRITE_HEADERS, **AUTH}, write_body([(labels, [(t0, 1.0)])])).status == 204
    answer = post_v2(door, v2_body([(labels, [(t0 + 1, 1.0)])]))
    assert answer.status == 400 and "not sorted" in answer.text and written(answer) == (0, 0, 0)


# ---- exemplars and native histograms --------------------------------------------------------------


def test_exemplars_are_refused_after_the_samples_are_written(door: Door, query: Any) -> None:
    t0 = now_ms()
    symbols = ["", "__name__", "v2_exemplars", "job", "x", "trace_id", "abc"]
    exemplar = types_pb2.Exemplar(labels_refs=[5, 6], value=0.25, timestamp=t0)
    body = raw_body(
        symbols,
        {"labels_refs": [1, 2, 3, 4], "samples": [types_pb2.Sample(value=7.0, timestamp=t0)], "exemplars": [exemplar]},
        {"labels_refs": [1, 2, 3, 4], "exemplars": [exemplar]},  # how Prometheus sends exemplars: a series of their own
    )
    answer = post_v2(door, body)
    assert answer.status == 400 and written(answer) == (1, 0, 0)
    assert "2 exemplars could not be stored" in answer.text and "send_exemplars" in answer.text
    assert rows(query, "v2_exemplars", t0) == Counter(
        {("v2_exemplars", frozenset({("job", "x")}), t0, float_bits(7.0)): 1}
    )


def test_native_histograms_are_refused_after_the_samples_are_written(door: Door, query: Any) -> None:
    t0 = now_ms()
    symbols = ["", "__name__", "v2_histograms", "job", "x", "kind", "float"]
    histogram = types_pb2.Histogram(count_int=4, sum=2.5, schema=3, timestamp=t0, start_timestamp=t0 - 1000)
    body = raw_body(
        symbols,
        {"labels_refs": [1, 2, 3, 4], "histograms": [histogram, histogram]},
        {"labels_refs": [1, 2, 3, 4, 5, 6], "samples": [types_pb2.Sample(value=1.0, timestamp=t0)]},
    )
    answer = post_v2(door, body)
    assert answer.status == 400 and written(answer) == (1, 0, 0)
    assert "2 of 3 samples could not be stored" in answer.text and "native histograms" in answer.text
    assert sum(rows(query, "v2_histograms", t0).values()) == 1


# ---- the Written headers on every answer ----------------------------------------------------------


def test_missing_auth_is_401_with_the_counts(door: Door) -> None:
    answer = post_v2(door, v2_body([([("__name__", "up"), ("job", "x")], [(now_ms(), 1.0)])]), auth=False)
    assert answer.status == 401 and written(answer) == (0, 0, 0)
    assert answer.headers["www-authenticate"].startswith("Basic")


def test_an_unknown_key_pair_is_401_from_timestream_with_the_counts(door: Door) -> None:
    headers = {"Authorization": basic_auth("AKIAUNKNOWNKEY000000", "whatever")}
    answer = post_v2(door, v2_body([([("__name__", "up"), ("job", "x")], [(now_ms(), 1.0)])]), headers)
    assert answer.status == 401 and written(answer) == (0, 0, 0)


def test_too_many_samples_is_413_with_the_counts(door: Door) -> None:
    t0 = now_ms()
    samples = [types_pb2.Sample(value=1.0, timestamp=t0 + i) for i in range(MAX_SAMPLES_PER_REQUEST + 1)]
    answer = post_v2(
        door, raw_body(["", "__name__", "big", "job", "x"], {"labels_refs": [1, 2, 3, 4], "samples": samples})
    )
    assert answer.status == 413 and written(answer) == (0, 0, 0)


def test_corrupt_snappy_is_400_with_the_counts(door: Door) -> None:
    answer = post_v2(door, b"\x05garbage-not-snappy")
    assert answer.status == 400 and "snappy" in answer.text and written(answer) == (0, 0, 0)


def test_throttling_is_503_with_retry_after_and_the_counts(door: Door, store: EmbeddedTimestream) -> None:
    store.set_faults(throttle=1.0, operations=["WriteRecords"])
    answer = post_v2(door, v2_body([([("__name__", "up"), ("job", "x")], [(now_ms(), 1.0)])]))
    assert answer.status == 503 and answer.headers.get("retry-after") and written(answer) == (0, 0, 0)


def test_an_empty_request_is_204_with_the_counts(door: Door) -> None:
    answer = post_v2(door, snappy.compress(b""))
    assert answer.status == 204 and written(answer) == (0, 0, 0)


# ---- the Lambda events ----------------------------------------------------------------------------


def test_the_2_0_events_invoke_against_the_embedded_store(tmp_path: Path) -> None:
    out = io.StringIO()
    events = [ROOT / "events" / name for name in ("write-v2.json", "write-v2-rest.json")]
    assert invoke_main(events, Settings(), local=True, data_dir=tmp_path, out=out) == 0, out.getvalue()
    text = out.getvalue()
    assert text.count(": 204 in ") == 2, text
    assert text.count("X-Prometheus-Remote-Write-Samples-Written: 469") == 2
    assert text.count("X-Prometheus-Remote-Write-Exemplars-Written: 0") == 2
