"""Talking to connector servers in the read tests: requests, answers, bit-exact values."""

from __future__ import annotations

import base64
import http.client
import struct
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from connector.app import Connector
from connector.prom import snappy
from prompb import remote_pb2
from tests import chunks_reference, doors
from tests.helpers import WRITE_HEADERS, float_bits
from tests.read import oracle

KEY_ID, SECRET = "AKIAREADTEST00000001", "read-test-secret-1"
DATABASE = "readdb"
READ_HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "Accept-Encoding": "snappy",
    "X-Prometheus-Remote-Read-Version": "0.1.0",
}


CHUNKED_TYPE = "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"


class Answer(doors.Answer):
    """An HTTP answer that can also decode itself as a remote-read response of either type."""

    def results(self, queries: int | None = None) -> list[dict[oracle.Labels, list[tuple[int, int]]]]:
        """Each query's series as {labels: [(time, value bits)]}, asserting the response's shape.

        A streamed answer has no frame for a query without series: ``queries`` says how many to expect.
        """
        assert self.status == 200, self.text
        if self.headers["content-type"] == CHUNKED_TYPE:
            assert "content-encoding" not in self.headers
            return _streamed_results(self.body, queries)
        assert self.headers["content-type"] == "application/x-protobuf"
        assert self.headers["content-encoding"] == "snappy"
        response = remote_pb2.ReadResponse.FromString(snappy.decompress(self.body, 1 << 30))
        assert queries is None or len(response.results) == queries
        decoded = []
        for result in response.results:
            series: dict[oracle.Labels, list[tuple[int, int]]] = {}
            for ts in result.timeseries:
                labels = tuple((label.name, label.value) for label in ts.labels)
                assert list(labels) == sorted(labels) and len({n for n, _ in labels}) == len(labels)
                assert labels not in series
                series[labels] = [(s.timestamp, float_bits(s.value)) for s in ts.samples]
                assert [t for t, _ in series[labels]] == sorted(t for t, _ in series[labels])
            decoded.append(series)
        return decoded


def _streamed_results(body: bytes, queries: int | None) -> list[dict[oracle.Labels, list[tuple[int, int]]]]:
    joined = chunks_reference.series_samples(chunks_reference.check_stream(body))
    count = queries if queries is not None else max((index + 1 for index, _ in joined), default=0)
    decoded: list[dict[oracle.Labels, list[tuple[int, int]]]] = [{} for _ in range(count)]
    for (index, labels), samples in joined.items():
        decoded[index][labels] = samples
    return decoded


def value_of_bits(raw: int) -> float:
    return float(struct.unpack(">d", raw.to_bytes(8, "big"))[0])


Bits = dict[oracle.Labels, list[tuple[int, int]]]


def as_bits(expected: Mapping[oracle.Labels, Sequence[tuple[int, float]]]) -> Bits:
    return {labels: [(t, float_bits(v)) for t, v in samples] for labels, samples in expected.items()}


def now_ms() -> int:
    return int(time.time() * 1000)


class Door:
    """POSTs to one connector server, with the store's key pair as Basic auth."""

    def __init__(self, url: str, connector: Connector) -> None:
        self.url = url
        self.connector = connector
        auth = base64.b64encode(f"{KEY_ID}:{SECRET}".encode()).decode()
        self.auth = {"Authorization": f"Basic {auth}"}

    def post(self, path: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
        try:
            conn.request("POST", path, body=body, headers=dict(headers))
            reply = conn.getresponse()
            return Answer(reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read())
        finally:
            conn.close()

    def write(self, request: remote_pb2.WriteRequest) -> Answer:
        body = snappy.compress(request.SerializeToString())
        return self.post("/write", body, {**WRITE_HEADERS, **self.auth})

    def read(self, request: remote_pb2.ReadRequest, headers: Mapping[str, str] | None = None) -> Answer:
        body = snappy.compress(request.SerializeToString())
        return self.post("/read", body, {**READ_HEADERS, **self.auth, **(headers or {})})

    @property
    def reader(self) -> Any:
        return self.connector.read_handler


def write_request(series: Mapping[oracle.Labels, Sequence[tuple[int, float]]]) -> remote_pb2.WriteRequest:
    request = remote_pb2.WriteRequest()
    for labels, samples in series.items():
        ts = request.timeseries.add()
        for name, value in sorted(labels):
            ts.labels.add(name=name, value=value)
        for t, v in samples:
            ts.samples.add(timestamp=t, value=v)
    return request


def read_request(*queries: tuple[Sequence[oracle.Match], int, int]) -> remote_pb2.ReadRequest:
    request = remote_pb2.ReadRequest()
    for matchers, start, end in queries:
        query = request.queries.add(start_timestamp_ms=start, end_timestamp_ms=end)
        for m in matchers:
            query.matchers.add(type=m.type, name=m.name, value=m.value)
    return request


def labels_of(**labels: str) -> oracle.Labels:
    return tuple(sorted(labels.items()))
