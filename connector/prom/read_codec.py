"""Remote-read wire format: ``ReadRequest`` in, ``ReadResponse`` (SAMPLES) out, both snappy blocks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from connector.prom import body, snappy
from connector.prom.series import Series
from prompb import remote_pb2

SAMPLES = remote_pb2.ReadRequest.SAMPLES
STREAMED_XOR_CHUNKS = remote_pb2.ReadRequest.STREAMED_XOR_CHUNKS
SAMPLES_HEADERS = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"}


def decode_read_request(headers: Mapping[str, str], raw: bytes, limit: int) -> remote_pb2.ReadRequest:
    body.content_type_params(headers)  # every Prometheus version sends snappy protobuf
    return body.decode(raw, limit, remote_pb2.ReadRequest)


def encode_samples(results: Iterable[Sequence[Series]]) -> bytes:
    """The uncompressed ``ReadResponse``: one ``QueryResult`` per query, in query order."""
    response = remote_pb2.ReadResponse()
    for series_list in results:
        result = response.results.add()
        for series in series_list:
            timeseries = result.timeseries.add()
            add_label = timeseries.labels.add
            for name, value in series.labels:
                add_label(name=name, value=value)
            add_sample = timeseries.samples.add
            for timestamp, sample_value in series.samples:
                add_sample(timestamp=timestamp, value=sample_value)
    return response.SerializeToString()


def compress(raw: bytes) -> bytes:
    return snappy.compress(raw)
