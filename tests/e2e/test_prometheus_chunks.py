"""Our STREAMED_XOR_CHUNKS codec against Prometheus' own, byte for byte.

Prometheus A (conftest.py) serves remote read itself on ``/api/v1/read``. For one query over
everything A has scraped, its streamed answer is read with the independent reference decoder
(tests/chunks_reference.py) and must hold the same samples as its SAMPLES answer, compared as
64-bit patterns (NaN payloads and staleness markers included); ``encode_xor`` must rebuild each of
its chunks byte for byte; and ``chunked_frames`` on the SAMPLES answer must read back the same.

Prometheus 2.x differs from 3.x (and ``encode_xor``) in one place only: its bit writer leaves a
spare zero byte after some chunks (see ``chunks_reference.XorChunk``). The reference reader says
where 2.x must have left one, and the comparison requires exactly those bytes.
"""

from __future__ import annotations

import base64
import struct
import time
import urllib.request
from collections.abc import Sequence

import pytest

from connector.prom import snappy
from connector.prom.chunked import CONTENT_TYPE, STREAMED_XOR_CHUNKS, chunked_frames
from connector.prom.series import Series
from connector.prom.xor_chunk import encode_xor
from prompb import remote_pb2, types_pb2
from tests import chunks_reference as ref

from .conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY, PrometheusRun
from .harness import Prometheus

pytestmark = pytest.mark.e2e

STALE_NAN = 0x7FF0000000000002
PARSED_NAN = 0x7FF8000000000001  # what Prometheus' text parser makes of "NaN"
PROMETHEUS_CHUNK_SAMPLES = 240  # Prometheus cuts a head chunk at 120 samples if it can, at 240 at the latest

Answer = dict[ref.Labels, list[ref.BitsSample]]


def _query(run: PrometheusRun) -> remote_pb2.Query:
    """Every series A has, from before its start until a moment no scrape can still add to."""
    return remote_pb2.Query(
        start_timestamp_ms=int(run.a_ready * 1000) - 60_000,
        end_timestamp_ms=int(time.time() * 1000) - 3_000,
        matchers=[types_pb2.LabelMatcher(type=types_pb2.LabelMatcher.RE, name="__name__", value=".+")],
    )


def _remote_read(prometheus: Prometheus, query: remote_pb2.Query, accepted: Sequence[int]) -> tuple[str, bytes]:
    return _post_read(f"{prometheus.url}/api/v1/read", query, accepted, {})


def _post_read(
    url: str, query: remote_pb2.Query, accepted: Sequence[int], headers: dict[str, str]
) -> tuple[str, bytes]:
    """A snappy ReadRequest of one query POSTed to ``url``: the answer's Content-Type and body."""
    request = remote_pb2.ReadRequest(queries=[query], accepted_response_types=accepted)
    http_request = urllib.request.Request(
        url,
        data=snappy.compress(request.SerializeToString()),
        method="POST",
        headers={
            "Content-Type": "application/x-protobuf",
            "Content-Encoding": "snappy",
            "X-Prometheus-Remote-Read-Version": "0.1.0",
            **headers,
        },
    )
    with urllib.request.urlopen(http_request, timeout=60) as response:
        return response.headers["Content-Type"], response.read()


def _bits(values: Sequence[float]) -> tuple[int, ...]:
    return struct.unpack(f"<{len(values)}Q", struct.pack(f"<{len(values)}d", *values))


def _floats(patterns: Sequence[int]) -> tuple[float, ...]:
    return struct.unpack(f"<{len(patterns)}d", struct.pack(f"<{len(patterns)}Q", *patterns))


def _samples_answer(prometheus: Prometheus, query: remote_pb2.Query) -> list[Series]:
    content_type, body = _remote_read(prometheus, query, [])
    assert content_type == "application/x-protobuf"
    (result,) = remote_pb2.ReadResponse.FromString(snappy.decompress(body, 1 << 30)).results
    series = [
        Series(
            tuple((label.name, label.value) for label in ts.labels),
            [(sample.timestamp, sample.value) for sample in ts.samples],
        )
        for ts in result.timeseries
    ]
    return sorted(series, key=lambda one: one.labels)


def _as_bits(series: Sequence[Series]) -> Answer:
    answer: Answer = {}
    for one in series:
        times = [t for t, _ in one.samples]
        answer[one.labels] = list(zip(times, _bits([v for _, v in one.samples]), strict=True))
    return answer


def _clipped(decoded: list[ref.StreamedSeries], query: remote_pb2.Query) -> Answer:
    """Samples inside the query's range: Prometheus streams whole chunks."""
    start, end = query.start_timestamp_ms, query.end_timestamp_ms
    return {
        labels: [(t, v) for t, v in samples if start <= t <= end]
        for (_, labels), samples in ref.series_samples(decoded).items()
    }


@pytest.fixture(scope="module")
def answers(prometheus_run: PrometheusRun) -> tuple[remote_pb2.Query, bytes, list[Series]]:
    """A's streamed answer and its SAMPLES answer to the same query."""
    query = _query(prometheus_run)
    content_type, stream = _remote_read(prometheus_run.a, query, [STREAMED_XOR_CHUNKS])
    assert content_type == CONTENT_TYPE
    return query, stream, _samples_answer(prometheus_run.a, query)


def test_prometheus_stream_equals_its_samples_answer(answers: tuple[remote_pb2.Query, bytes, list[Series]]) -> None:
    query, stream, samples = answers
    decoded = ref.check_stream(stream, max_chunk_samples=PROMETHEUS_CHUNK_SAMPLES, prometheus2=True)
    expected = _as_bits(samples)
    assert _clipped(decoded, query) == expected
    patterns = {v for series in expected.values() for _, v in series}
    assert {STALE_NAN, PARSED_NAN} <= patterns, "the target's staleness markers and NaNs are missing"
    assert len(expected) > 20


def test_encode_xor_rebuilds_prometheus_chunks(answers: tuple[remote_pb2.Query, bytes, list[Series]]) -> None:
    _, stream, _ = answers
    decoded = ref.check_stream(stream, max_chunk_samples=PROMETHEUS_CHUNK_SAMPLES, prometheus2=True)
    chunks = [(series.labels, chunk) for series in decoded for chunk in series.chunks]
    assert len(chunks) > 20
    for labels, chunk in chunks:
        times = [t for t, _ in chunk.samples]
        values = _floats([v for _, v in chunk.samples])
        assert encode_xor(list(zip(times, values, strict=True))) + b"\x00" * chunk.spare_byte == chunk.data, labels


def test_chunked_frames_read_back(answers: tuple[remote_pb2.Query, bytes, list[Series]]) -> None:
    _, _, samples = answers
    stream = b"".join(chunked_frames(3, samples))
    decoded = ref.check_stream(stream)
    assert {series.query_index for series in decoded} == {3}
    assert len(decoded) == len(samples), "one frame per series"
    joined = {labels: got for (_, labels), got in ref.series_samples(decoded).items()}
    assert joined == _as_bits(samples)


def _connector_read(run: PrometheusRun, query: remote_pb2.Query, accepted: Sequence[int]) -> tuple[str, bytes]:
    credentials = base64.b64encode(f"{ACCESS_KEY_ID}:{SECRET_ACCESS_KEY}".encode()).decode()
    headers = {"User-Agent": "Prometheus/2.55.0", "Authorization": f"Basic {credentials}"}
    return _post_read(f"{run.backend.url}/read", query, accepted, headers)


def test_the_connectors_stream_holds_exactly_what_prometheus_has(prometheus_run: PrometheusRun) -> None:
    """What A remote-wrote, streamed back by the connector, equals A's own samples bit for bit."""
    query = remote_pb2.Query(
        start_timestamp_ms=prometheus_run.window_start * 1000,
        end_timestamp_ms=prometheus_run.window_end * 1000,  # before the cut: all of it was remote-written
        matchers=[types_pb2.LabelMatcher(type=types_pb2.LabelMatcher.RE, name="__name__", value=".+")],
    )
    content_type, stream = _connector_read(prometheus_run, query, [STREAMED_XOR_CHUNKS, remote_pb2.ReadRequest.SAMPLES])
    assert content_type == CONTENT_TYPE
    decoded = ref.check_stream(stream)
    got = {labels: samples for (_, labels), samples in ref.series_samples(decoded).items()}
    expected = _as_bits(_samples_answer(prometheus_run.a, query))
    assert len(expected) > 20 and got.keys() == expected.keys()
    for labels, samples in expected.items():
        assert got[labels] == samples, labels
    patterns = {v for series in got.values() for _, v in series}
    assert {STALE_NAN, PARSED_NAN} <= patterns, "staleness markers and NaNs must come back bit for bit"
