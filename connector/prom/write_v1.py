"""Remote write 1.0 bodies (``prometheus.WriteRequest``), read with each series left encoded.

Prometheus encodes every sample as a series of its own: the label fields, then one ``Sample``
field. Such a series is split at that tail (``split_series``): the bytes before it key the series
cache and only the sample is parsed, so a warm process reads a series Prometheus resent without
decoding a label. Any other series is parsed whole (``parse_series``) and keyed by its labels' raw
encodings, a tuple of bytes built in C. Labels are decoded on a series-cache miss only, where a
split key is also proved to hold label fields alone (``RawLabelKeys.labels_of``). The wire format
is the one of ``prompb/remote.proto``; the ``prometheus.WriteRequest`` classes stay the reference
in tests.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
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


def decode_v1(raw: bytes, limit: int) -> write_raw_pb2.EncodedWriteRequest:
    """The 1.0 request in a snappy body, its series still encoded: 413 beyond ``limit``; 400 when
    corrupt or a 2.0 body. A series that does not parse is found when it is read (``parse_series``)."""
    message, size = body.decode_sized(raw, limit, write_raw_pb2.EncodedWriteRequest)
    refuse_foreign_fields(message, _V2_FIELDS, V2_PROTO, V1_PROTO)
    check_counts(len(message.timeseries), size, lambda: _sample_count(message))
    try:
        for metadata in message.metadata:  # not stored; but a corrupt one is a corrupt body
            _parse_metadata(metadata)
    except DecodeError as exc:
        raise BadRequest(f"body is not a valid {V1_PROTO} protobuf: metadata does not parse ({exc})") from None
    return message


def _sample_count(message: write_raw_pb2.EncodedWriteRequest) -> int:
    """The samples of every series (for a large body only: it parses them all)."""
    try:
        parsed = write_raw_pb2.WriteRequest.FromString(message.SerializeToString())
    except DecodeError as exc:
        raise BadRequest(f"body is not a valid {V1_PROTO} protobuf: {exc}") from None
    return sum(len(series.samples) for series in parsed.timeseries)


def decode_write_request(headers: Mapping[str, str], raw: bytes, limit: int) -> write_raw_pb2.EncodedWriteRequest:
    """A remote write 1.0 request; 415 unless its headers say 1.0."""
    if negotiate(headers) != V1_PROTO:
        raise UnsupportedMediaType(f"expected a {V1_PROTO} body (remote write 1.0)")
    return decode_v1(raw, limit)


# The tail of a series in Prometheus' encoding: the tag of TimeSeries.samples (field 2, length-
# delimited), then the Sample's length: 16 with its value (tag 0x09, 8 bytes) and its millisecond
# timestamp (tag 0x10, a 6-byte varint: the years 2004 to 2248), 7 when the value is 0.0 (omitted).
_SAMPLES_TAG = 0x12
_SAMPLE_LENGTHS = (16, 7)
# A longer series is parsed whole: the label bytes of a split series become a cache key.
MAX_SPLIT_BYTES = 4096


def split_series(encoded: Sequence[bytes]) -> Iterator[tuple[bytes | None, write_raw_pb2.Sample | None, bytes]]:
    """Each encoded series as (the bytes before its last field, the Sample that field holds, the
    series) if it ends in a Sample of Prometheus' usual lengths, else (None, None, the series).

    Whether those bytes hold label fields alone is the cache's to prove (``RawLabelKeys.labels_of``):
    a label value can end in bytes that look like a sample, and then they do not. The samples are
    parsed together: their fields, one after another, are a TimeSeries of samples alone.
    """
    keys: list[bytes | None] = []
    tails: list[bytes] = []
    for series in encoded:
        keys.append(None)
        size = len(series)
        if size > MAX_SPLIT_BYTES:
            continue
        for length in _SAMPLE_LENGTHS:
            start = size - length - 2
            if start >= 0 and series[start] == _SAMPLES_TAG and series[start + 1] == length:
                keys[-1] = series[:start]
                tails.append(series[start:])
                break
    try:
        samples = iter(_parse_series(b"".join(tails)).samples)
    except DecodeError:  # one of them is corrupt: every series is read whole, and that one refused
        keys = [None] * len(keys)
    for key, series in zip(keys, encoded, strict=True):
        yield (None, None, series) if key is None else (key, next(samples), series)


def parse_series(encoded: bytes) -> write_raw_pb2.TimeSeries:
    """An encoded series read whole; 400 when it, or an exemplar or histogram of it, does not parse
    (the body is corrupt). Those are counted, not stored, but a corrupt one is a corrupt body."""
    try:
        series = _parse_series(encoded)
        for exemplar in series.exemplars:
            _parse_exemplar(exemplar)
        for histogram in series.histograms:
            _parse_histogram(histogram)
    except DecodeError as exc:
        raise BadRequest(f"body is not a valid {V1_PROTO} protobuf: a series does not parse ({exc})") from None
    return series


class RawLabelKeys:
    """Each 1.0 series' cache key: its raw labels, or why the series is invalid (400 if one is malformed).

    A series with more labels than ``max_labels`` keeps only those it would store (non-empty
    values), so a hostile series of millions of empty labels never becomes a huge key.
    """

    def __init__(self, max_labels: int) -> None:
        self._max_labels = max_labels

    def labels_of(self, key: Key | bytes) -> Labels | str | None:
        """The (name, value) pairs a key stands for, or why that label set is invalid.

        A key of bytes (``split_series``) stands for labels only if those bytes hold complete label
        fields and nothing else; None if not: that series must be read whole.
        """
        if not isinstance(key, bytes):
            return labels_of(key)
        try:
            fields = _parse_decoded_series(key)  # every label decoded in one parse
        except DecodeError:  # not fields alone, or one that does not decode: the whole series tells
            return None
        labels = fields.labels
        if fields.samples or fields.exemplars or fields.histograms or len(labels) > self._max_labels:
            return None  # not labels alone, or more than could be stored (the whole series keeps those)
        return tuple([(label.name, label.value) for label in labels])

    def __call__(self, series: Any) -> Key | str:
        labels = series.labels
        if len(labels) <= self._max_labels:
            return tuple(labels)
        kept: list[bytes] = []
        problem = ""
        for raw in labels:
            name, value = _label(raw)  # every label decodes, or the body is malformed
            if problem:
                continue
            if not name:
                problem = "label with an empty name"
            elif value:
                kept.append(raw)
                if len(kept) > self._max_labels:
                    problem = f"more than {self._max_labels - 1} labels"
        return problem or tuple(kept)


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
_parse_series = write_raw_pb2.TimeSeries.FromString
_parse_decoded_series = types_pb2.TimeSeries.FromString
_parse_exemplar = types_pb2.Exemplar.FromString
_parse_metadata = types_pb2.MetricMetadata.FromString
_parse_histogram = types_pb2.Histogram.FromString


def _malformed(exc: DecodeError) -> BadRequest:
    """A label that does not decode (invalid UTF-8, a broken encoding) makes the body malformed, as
    when labels were decoded with the body: nothing of the request is written (``translate`` runs first)."""
    return BadRequest(f"body is not a valid {V1_PROTO} protobuf: a label does not decode ({exc})")
