"""Remote-write request bodies: content negotiation and decoding.

The schema is chosen from Content-Type, as the remote-write 2.0 spec requires: a 2.0 body parsed
with the 1.0 schema would decode to an empty message without error and its data would be lost.
"""

from __future__ import annotations

from collections.abc import Mapping

from connector.errors import PayloadTooLarge, UnsupportedMediaType
from connector.prom import body
from prompb import remote_pb2

V1_PROTO = "prometheus.WriteRequest"

# The work a request makes (records, calls, memory) follows its series and samples, not its size:
# 200 KB of snappy can decompress to millions of empty samples. Prometheus sends at most
# max_samples_per_send (2000 by default) per request; refuse far more before translating anything.
MAX_SERIES_PER_REQUEST = 200_000
MAX_SAMPLES_PER_REQUEST = 200_000


def check_content_type(headers: Mapping[str, str]) -> None:
    """415 for anything but remote-write 1.0 protobuf with snappy content encoding."""
    proto = body.content_type_params(headers).get("proto", V1_PROTO)
    if proto != V1_PROTO:
        raise UnsupportedMediaType(
            f"unsupported remote-write message {proto[:100]!r}: this endpoint accepts {V1_PROTO}"
            " (remote write 1.0); configure protobuf_message: prometheus.WriteRequest"
        )


def decode_write_request(headers: Mapping[str, str], raw: bytes, limit: int) -> remote_pb2.WriteRequest:
    check_content_type(headers)
    message = body.decode(raw, limit, remote_pb2.WriteRequest)
    _check_counts(message)
    return message


def _check_counts(message: remote_pb2.WriteRequest) -> None:
    """413 for more series or samples than one request may carry (Prometheus drops such a batch)."""
    advice = "lower queue_config.max_samples_per_send"
    series = len(message.timeseries)
    if series > MAX_SERIES_PER_REQUEST:
        raise PayloadTooLarge(f"{series} series in one request, above the limit of {MAX_SERIES_PER_REQUEST}: {advice}")
    samples = sum(len(ts.samples) for ts in message.timeseries)
    if samples > MAX_SAMPLES_PER_REQUEST:
        raise PayloadTooLarge(
            f"{samples} samples in one request, above the limit of {MAX_SAMPLES_PER_REQUEST}: {advice}"
        )
