"""Remote-read wire format: ``ReadRequest`` in; a ``ReadResponse`` (SAMPLES, snappy) or a stream of
``ChunkedReadResponse`` frames (STREAMED_XOR_CHUNKS, not compressed) out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from connector.prom import body, chunked, snappy
from connector.prom.series import Series
from prompb import remote_pb2

SAMPLES = remote_pb2.ReadRequest.SAMPLES
STREAMED_XOR_CHUNKS = remote_pb2.ReadRequest.STREAMED_XOR_CHUNKS
_HEADERS = {
    SAMPLES: {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"},
    # Prometheus' client matches this value exactly (one space after the semicolon).
    STREAMED_XOR_CHUNKS: {"Content-Type": "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"},
}
_NAMES = {SAMPLES: "samples", STREAMED_XOR_CHUNKS: "streamed_xor_chunks"}


def decode_read_request(headers: Mapping[str, str], raw: bytes, limit: int) -> remote_pb2.ReadRequest:
    body.content_type_params(headers)  # every Prometheus version sends snappy protobuf
    return body.decode(raw, limit, remote_pb2.ReadRequest)


def negotiate(accepted: Sequence[int]) -> int:
    """The response type to answer with: the first the client lists that this connector speaks."""
    return chunked.negotiate(accepted)


def headers(response_type: int) -> dict[str, str]:
    return dict(_HEADERS[response_type])


def response_type_name(response_type: int) -> str:
    return _NAMES[response_type]


def encode(response_type: int, results: Sequence[Sequence[Series]]) -> bytes:
    """The whole answer body: one result per query, in query order."""
    if response_type == STREAMED_XOR_CHUNKS:
        return b"".join(frame for i, series in enumerate(results) for frame in chunked.chunked_frames(i, series))
    return snappy.compress(encode_samples(results))


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
