"""Remote write 1.0 bodies (``prometheus.WriteRequest``), read with each label left encoded.

A series is keyed by its labels' raw protobuf encodings (``prompb/write_raw.proto``): a tuple of
bytes built in C, so a warm process finds a series Prometheus resent without decoding any label
into strings. The labels are decoded on a series-cache miss only. The wire format is the one of
``prompb/remote.proto``; the ``prometheus.WriteRequest`` classes stay the reference in tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf.message import DecodeError

from connector.errors import BadRequest, UnsupportedMediaType
from connector.prom import body
from connector.prom.write_codec import V1_PROTO, V2_PROTO, check_counts, negotiate, refuse_foreign_fields
from prompb import types_pb2, write_raw_pb2

Key = tuple[bytes, ...]
Labels = tuple[tuple[str, str], ...]

# Top-level fields of 2.0 that 1.0 lacks: such a body was sent with the wrong Content-Type.
_V2_FIELDS = frozenset({4, 5})


def decode_v1(raw: bytes, limit: int) -> write_raw_pb2.WriteRequest:
    """The 1.0 request in a snappy body: 413 beyond ``limit``; 400 when corrupt or a 2.0 body."""
    message, size = body.decode_sized(raw, limit, write_raw_pb2.WriteRequest)
    refuse_foreign_fields(message, _V2_FIELDS, V2_PROTO, V1_PROTO)
    check_counts(message, size)
    return message


def decode_write_request(headers: Mapping[str, str], raw: bytes, limit: int) -> write_raw_pb2.WriteRequest:
    """A remote write 1.0 request; 415 unless its headers say 1.0."""
    if negotiate(headers) != V1_PROTO:
        raise UnsupportedMediaType(f"expected a {V1_PROTO} body (remote write 1.0)")
    return decode_v1(raw, limit)


class RawLabelKeys:
    """Each 1.0 series' cache key: its raw labels, or why the series is invalid (400 if one is malformed).

    A series with more labels than ``max_labels`` keeps only those it would store (non-empty
    values), so a hostile series of millions of empty labels never becomes a huge key.
    """

    def __init__(self, max_labels: int) -> None:
        self._max_labels = max_labels

    def __call__(self, series: Any) -> Key | str:
        labels = series.labels
        if len(labels) <= self._max_labels:
            return tuple(labels)
        kept = []
        for raw in labels:
            name, value = _label(raw)
            if not name:
                return "label with an empty name"
            if value:
                kept.append(raw)
                if len(kept) > self._max_labels:
                    return f"more than {self._max_labels - 1} labels"
        return tuple(kept)


def labels_of(key: Sequence[bytes]) -> Labels:
    """The (name, value) pairs a raw key stands for; 400 for a label that does not decode."""
    try:
        labels = [_parse_label(raw) for raw in key]
    except DecodeError as exc:
        raise _malformed(exc) from None
    return tuple([(label.name, label.value) for label in labels])


def _label(raw: bytes) -> tuple[str, str]:
    try:
        label = _parse_label(raw)
    except DecodeError as exc:
        raise _malformed(exc) from None
    return label.name, label.value


_parse_label = types_pb2.Label.FromString


def _malformed(exc: DecodeError) -> BadRequest:
    """A label that does not decode (invalid UTF-8, a broken encoding) makes the body malformed, as
    when labels were decoded with the body: nothing of the request is written (``translate`` runs first)."""
    return BadRequest(f"body is not a valid {V1_PROTO} protobuf: a label does not decode ({exc})")
