"""Remote-read wire format: ``ReadRequest`` in, ``ReadResponse`` (SAMPLES) out, both snappy blocks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from google.protobuf.message import DecodeError

from connector.errors import BadRequest, UnsupportedMediaType
from connector.prom import snappy
from connector.timestream.series import Series
from prompb import remote_pb2

SAMPLES = remote_pb2.ReadRequest.SAMPLES
STREAMED_XOR_CHUNKS = remote_pb2.ReadRequest.STREAMED_XOR_CHUNKS
SAMPLES_HEADERS = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"}


def check_content_type(headers: Mapping[str, str]) -> None:
    """415 for anything but snappy-compressed protobuf (what every Prometheus version sends)."""
    content_type = headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/x-protobuf":
        raise UnsupportedMediaType(f"unsupported Content-Type {content_type[:100]!r}: expected application/x-protobuf")
    encoding = headers.get("content-encoding", "snappy").strip().lower()
    if encoding != "snappy":
        raise UnsupportedMediaType(f"unsupported Content-Encoding {encoding[:100]!r}: expected snappy")


def decode_read_request(headers: Mapping[str, str], body: bytes, limit: int) -> remote_pb2.ReadRequest:
    check_content_type(headers)
    raw = snappy.decompress(body, limit)
    try:
        return remote_pb2.ReadRequest.FromString(raw)
    except DecodeError as exc:
        raise BadRequest(f"body is not a valid prometheus.ReadRequest protobuf: {exc}") from None


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
