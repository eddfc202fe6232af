"""1.0 series shaped like what Prometheus sends, and bytes that only look like it, translate exactly as
the full prompb schema reads them: on a cold series cache and on a warm one.

Prometheus encodes a series as its label fields, then one ``Sample`` field at the very end (tag 0x12,
a one-byte length, 16 bytes, or 7 when the value 0.0 is omitted). A decoder that splits a series on
those tail bytes alone must fall back to the full parse for every other shape; this corpus is what
it must agree on. The reference is ``prometheus.WriteRequest`` decoded by protobuf, translated
without a cache. Its ``DecodeError`` and the connector's ``BadRequest`` (400) count as agreeing.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from connector.errors import BadRequest
from connector.prom import snappy
from connector.prom.write_v1 import decode_v1
from connector.timestream.records import Translation, translate
from connector.write import translate_v1, v1_series_cache
from prompb import remote_pb2, types_pb2
from tests.helpers import STALE_NAN, captured_writes, write_request
from tests.robustness import wire

LIMIT = 64 << 20
RAISES = "raises: DecodeError (reference) / BadRequest (connector)"
T = 1_700_000_000_000  # ms, a 6-byte varint: what every sample Prometheus sends today carries

# ---- wire pieces ------------------------------------------------------------------------------------


def value_field(value: float) -> bytes:
    return wire.tag(1, wire.I64) + struct.pack("<d", value)


def time_field(timestamp_ms: int) -> bytes:
    return wire.tag(2, wire.VARINT) + wire.varint(timestamp_ms)


def prom_sample(timestamp_ms: int, value: float) -> bytes:
    """A ``Sample`` field as Prometheus' gogo marshaller writes it: a zero value or timestamp is omitted."""
    return wire.ld(2, (value_field(value) if value != 0 else b"") + (time_field(timestamp_ms) if timestamp_ms else b""))


def raw_sample(payload: bytes) -> bytes:
    """A ``Sample`` field around an arbitrary payload."""
    return wire.ld(2, payload)


def payload_of(series_field: bytes) -> bytes:
    """The TimeSeries bytes inside a top-level ``timeseries`` field."""
    assert series_field[0] == 0x0A
    i = 1
    while series_field[i] & 0x80:
        i += 1
    return series_field[i + 1 :]


def tail_shaped(payload: bytes) -> bool:
    """Whether a series' last bytes are tag 0x12, a one-byte length n, then n bytes (the fast shape)."""
    end = len(payload)
    return any(end >= n + 2 and payload[end - n - 2 : end - n] == bytes([0x12, n]) for n in range(128))


# A 6-byte varint (1_649_405_853_793 ms) that is also valid UTF-8: E1 80 80 | C2 80 | 30.
UTF8_TIME = b"\xe1\x80\x80\xc2\x80\x30"
UTF8_TIME_MS = 1_649_405_853_793
# Label values that are, byte for byte, a valid Sample encoding (so a tail parse of them succeeds).
LOOKS_16 = b"\x09" + b"12345678" + b"\x10" + UTF8_TIME  # value + 6-byte timestamp, as Prometheus' 16
LOOKS_7 = b"\x10" + UTF8_TIME  # a timestamp alone, as Prometheus' 7 (value 0.0 omitted)
LOOKS_9 = b"\x09" + b"12345678"  # a value alone

NAME = wire.label("__name__", "node_cpu_seconds_total")
LABELS = (
    NAME
    + wire.label("cpu", "0")
    + wire.label("instance", "10.0.0.1:9100")
    + wire.label("job", "node")
    + wire.label("mode", "idle")
)
LABELS_PAIRS = [
    ("__name__", "node_cpu_seconds_total"),
    ("cpu", "0"),
    ("instance", "10.0.0.1:9100"),
    ("job", "node"),
    ("mode", "idle"),
]


# The well-formed series every warm-cache check starts from: the request that warms the cache.
WARM = wire.series(LABELS, prom_sample(T, 1.5))

EXEMPLAR = wire.ld(
    3,
    types_pb2.Exemplar(
        labels=[types_pb2.Label(name="trace_id", value="abc")], value=1.0, timestamp=T
    ).SerializeToString(),
)
HISTOGRAM = wire.ld(
    4,
    types_pb2.Histogram(
        count_int=3,
        sum=1.5,
        zero_threshold=1e-128,
        timestamp=T,
        positive_spans=[types_pb2.BucketSpan(offset=0, length=1)],
        positive_deltas=[3],
    ).SerializeToString(),
)
UNKNOWN_VARINT = wire.tag(5, wire.VARINT) + wire.varint(T)
UNKNOWN_LEN = wire.ld(6, b"anything")
UNKNOWN_I32 = wire.tag(7, wire.I32) + b"\x01\x02\x03\x04"
UNKNOWN_I64 = wire.tag(8, wire.I64) + struct.pack("<d", 1.5)
UNKNOWN_GROUP = wire.tag(9, wire.SGROUP) + UNKNOWN_VARINT + wire.tag(9, wire.EGROUP)
SAMPLES_AS_VARINT = wire.tag(2, wire.VARINT) + wire.varint(7)  # field 2 with the wrong wire type: unknown

# ---- the comparison ---------------------------------------------------------------------------------


def _view(result: Translation) -> tuple[object, ...]:
    records = [(r.dimensions, r.measure_name, r.time_ms, r.value, r.size) for r in result.records]
    return records, dict(result.invalid), dict(result.ignored)


def _reference(raw: bytes) -> object:
    try:
        return _view(translate(remote_pb2.WriteRequest.FromString(raw).timeseries))
    except DecodeError:
        return RAISES


def _ours(raw: bytes, cache: Any) -> object:
    try:
        return _view(translate_v1(decode_v1(snappy.compress(raw), LIMIT), cache))
    except BadRequest:
        return RAISES


def _short(body: bytes) -> str:
    text = body.hex()
    return text if len(text) <= 240 else f"{text[:120]}...{text[-120:]} ({len(body)} bytes)"


def check(*bodies: bytes) -> list[object]:
    """Each body agrees with the reference on a cold cache; then all through one cache in order, twice
    (every body after the others warmed it); then in reverse on a fresh cache; then all in one request."""
    expected = [_reference(body) for body in bodies]
    for i, (body, want) in enumerate(zip(bodies, expected, strict=True)):
        assert _ours(body, None) == want, f"body {i} on a cold cache: {_short(body)}"
    cache = v1_series_cache()
    for round_ in ("first", "second"):
        for i, (body, want) in enumerate(zip(bodies, expected, strict=True)):
            assert _ours(body, cache) == want, f"body {i}, {round_} round on one cache: {_short(body)}"
    cache = v1_series_cache()
    for i, (body, want) in reversed(list(enumerate(zip(bodies, expected, strict=True)))):
        assert _ours(body, cache) == want, f"body {i}, reverse order on one cache: {_short(body)}"
    together = b"".join(bodies)
    want = _reference(together)
    assert _ours(together, v1_series_cache()) == want, "all bodies as one request, cold"
    assert _ours(together, cache) == want, "all bodies as one request, warm"
    return expected


def records_of(view: object) -> list[tuple[object, ...]]:
    assert view != RAISES
    return view[0]  # type: ignore[index,no-any-return]


# ---- the Prometheus shape and its tails -------------------------------------------------------------

TIMESTAMPS = [
    0,
    1,
    127,
    128,
    2**14 - 1,
    2**14,
    2**21,
    2**28,
    2**35 - 1,
    2**35,
    10**12,
    T,
    1_795_387_160_930,  # the captured Prometheus requests' time
    2**42 - 1,
    2**42,
    2**49,
    2**56,
    2**63 - 1,
    -1,
    -T,
    -(2**63),
]


TAILS = {
    # 16 bytes: value then 6-byte timestamp, Prometheus' common shape; a wrong split loses or shifts it.
    "value_then_6_byte_time": value_field(1.5) + time_field(T),
    # 7 bytes: value 0.0 omitted; a parser that assumes 16 would read the prefix's last 9 bytes.
    "time_only_value_omitted": time_field(T),
    # 9 bytes: timestamp 0 omitted; the record's time must be 0, not garbage.
    "value_only_time_omitted": value_field(2.5),
    # 0 bytes (12 00): both omitted; still one sample (0.0 at time 0).
    "empty_sample": b"",
    # Fields reversed inside the sample; a fixed-offset reader would swap value and time.
    "time_then_value": time_field(T) + value_field(1.5),
    # The value twice: the last one wins.
    "value_twice": value_field(1.0) + value_field(2.0) + time_field(T),
    # The timestamp twice: the last one wins.
    "time_twice": value_field(1.0) + time_field(T) + time_field(T + 1),
    # An unknown varint field in the sample (16 + 2 bytes); skipped by protobuf.
    "unknown_varint_in_sample": value_field(1.5) + time_field(T) + wire.tag(3, wire.VARINT) + b"\x01",
    # An unknown LEN field in the sample; skipped.
    "unknown_len_in_sample": value_field(1.5) + wire.ld(4, b"xyz") + time_field(T),
    # The value sent as a varint (wrong wire type): unknown, so the value is 0.0.
    "value_as_varint": wire.tag(1, wire.VARINT) + wire.varint(5) + time_field(T),
    # The timestamp sent as fixed64 (wrong wire type): unknown, so the time is 0.
    "time_as_fixed64": value_field(1.5) + wire.tag(2, wire.I64) + struct.pack("<q", T),
    # A timestamp 1 written as an overlong 6-byte varint: 16 bytes like Prometheus', but time 1.
    "overlong_varint_time": value_field(1.5) + b"\x10\x81\x80\x80\x80\x80\x00",
    # An overlong tag for the timestamp (90 00): still field 2.
    "overlong_tag_in_sample": value_field(1.5) + b"\x90\x00" + wire.varint(T),
    # A group inside the sample: skipped as a whole.
    "group_in_sample": value_field(1.5) + wire.tag(5, wire.SGROUP) + wire.tag(5, wire.EGROUP) + time_field(T),
    # 127 bytes, the longest one-byte length: padded with an unknown field.
    "longest_one_byte_length": value_field(1.5) + time_field(T) + wire.ld(15, b"p" * 109),
    # 128 bytes: a two-byte length (12 80 01), not the fast shape.
    "two_byte_length": value_field(1.5) + time_field(T) + wire.ld(15, b"p" * 110),
    # 18 bytes: the sample itself ends in 12 10 + 16 bytes (a nested sample-shaped unknown field).
    "sample_shaped_unknown_inside": raw_sample(value_field(1.5) + time_field(T)),
    # -0.0 written out (Python's protobuf writes it; gogo omits it): the record keeps "-0.0".
    "negative_zero_written": value_field(-0.0) + time_field(T),
}


def test_the_corpus_is_what_its_names_say_and_its_warm_up_series_agrees() -> None:
    # If a corpus entry is not the size its name claims, the shape tests below test something else.
    assert {len(wire.varint(t)) for t in TIMESTAMPS} == set(range(1, 11))  # every varint length
    assert len(TAILS["value_then_6_byte_time"]) == 16
    assert len(TAILS["time_only_value_omitted"]) == 7
    assert len(TAILS["overlong_varint_time"]) == 16
    assert len(TAILS["longest_one_byte_length"]) == 127
    assert len(TAILS["two_byte_length"]) == 128
    assert prom_sample(T, 1.5) == b"\x12\x10" + TAILS["value_then_6_byte_time"]
    assert prom_sample(T, 0.0) == b"\x12\x07" + TAILS["time_only_value_omitted"]
    assert types_pb2.Sample.FromString(LOOKS_16).timestamp == UTF8_TIME_MS
    assert types_pb2.Sample.FromString(LOOKS_7).timestamp == UTF8_TIME_MS
    assert LOOKS_16.decode() and LOOKS_7.decode() and LOOKS_9.decode()  # usable as label values
    # And translate_v1 agrees with the reference on the warm-up series itself, with a record.
    assert len(records_of(check(WARM)[0])) == 1


@pytest.mark.parametrize("tail", TAILS.values(), ids=TAILS.keys())
def test_prometheus_labels_then_one_sample_of_any_encoding_translate_like_the_reference(tail: bytes) -> None:
    # A tail parsed alone could misread a sample the full parse reads otherwise (order, duplicates, unknowns).
    body = wire.series(LABELS, raw_sample(tail))
    expected = check(WARM, body)
    assert len(records_of(expected[1])) == 1


@pytest.mark.parametrize("value", [1.5, 0.0], ids=["value", "value_omitted"])
@pytest.mark.parametrize("timestamp", TIMESTAMPS, ids=[f"t={t}" for t in TIMESTAMPS])
def test_a_timestamp_of_any_varint_length_translates_like_the_reference(timestamp: int, value: float) -> None:
    # A sample of 0 to 20 bytes (not 16 or 7) must not be split at the wrong offset or read as 16 or 7.
    ours_encoding = wire.series(LABELS, prom_sample(timestamp, value))
    protobuf_encoding = write_request([(LABELS_PAIRS, [(timestamp, value)])])
    expected = check(WARM, ours_encoding, protobuf_encoding)
    assert [r[2] for r in records_of(expected[1])] == [timestamp]


def test_the_same_labels_with_a_new_tail_every_request_translate_like_the_reference() -> None:
    # A warm prefix must not pin the first request's sample (time, value, special series) to later ones.
    cache = v1_series_cache()
    values = [1.5, 0.0, -0.0, math.nan, STALE_NAN, math.inf, -math.inf, 2.5, 1e300, 5e-324]
    for i, (timestamp, value) in enumerate((t, v) for t in TIMESTAMPS for v in values):
        body = wire.series(LABELS, prom_sample(timestamp, value))
        want = _reference(body)
        assert _ours(body, cache) == want, f"request {i}: t={timestamp} value={value!r}"
        assert records_of(want)[0][2] == timestamp


SPECIALS = {
    "nan": math.nan,
    "staleness_marker": STALE_NAN,
    "nan_with_payload": struct.unpack("<d", struct.pack("<Q", 0x7FF8_0000_0000_0ABC))[0],
    "negative_nan": struct.unpack("<d", struct.pack("<Q", 0xFFF8_0000_0000_0000))[0],
    "plus_inf": math.inf,
    "minus_inf": -math.inf,
    "negative_zero": -0.0,
    "smallest_subnormal": 5e-324,
    "largest_double": 1.7976931348623157e308,
    "negative": -1.5,
}


@pytest.mark.parametrize("value", SPECIALS.values(), ids=SPECIALS.keys())
def test_special_values_in_a_prometheus_tail_translate_like_the_reference(value: float) -> None:
    # A non-finite value goes to its own special series: a tail parse must keep the exact bits.
    with_value = wire.series(LABELS, raw_sample(value_field(value) + time_field(T)))
    as_prometheus = wire.series(LABELS, prom_sample(T, value))
    # The same labels alternating between finite and special values across requests.
    check(WARM, with_value, as_prometheus, WARM, with_value)


# ---- bytes that look like the shape and are not -----------------------------------------------------

LOOKALIKE_VALUES = {
    # The last label's value field is itself 12 10 + 16 bytes, and those bytes parse as a Sample.
    "value_is_a_16_byte_sample": LOOKS_16,
    # 12 07 + 7 bytes that parse as a timestamp-only Sample.
    "value_is_a_7_byte_sample": LOOKS_7,
    # 12 09 + a value-only Sample.
    "value_is_a_9_byte_sample": LOOKS_9,
    # An empty value: the series ends in 12 00, an empty Sample's encoding.
    "empty_value": b"",
    # Any 16-byte value: 12 10 + 16 bytes that do not parse as a Sample.
    "plain_16_byte_value": b"0123456789abcdef",
    # A value whose own last 18 bytes are 12 10 + a Sample.
    "value_ending_in_a_sample_field": b"x" + b"\x12\x10" + LOOKS_16,
    # A value whose last 9 bytes are 12 07 + a timestamp-only Sample.
    "value_ending_in_a_7_byte_sample_field": b"abc" + b"\x12\x07" + LOOKS_7,
    # A 127-byte value (the longest one-byte length).
    "value_of_127_bytes": b"v" * 127,
}


@pytest.mark.parametrize("value", LOOKALIKE_VALUES.values(), ids=LOOKALIKE_VALUES.keys())
def test_a_series_without_samples_whose_last_label_looks_like_a_sample_tail(value: bytes) -> None:
    # The tail bytes are inside the last label: splitting there invents a sample and a broken prefix.
    labels_only = wire.series(NAME, wire.label("job", "node"), wire.label("zone", value))
    assert tail_shaped(payload_of(labels_only))
    # The same labels with a real sample after them: a genuine fast shape whose prefix holds the lookalike.
    with_sample = wire.series(NAME, wire.label("job", "node"), wire.label("zone", value), prom_sample(T, 4.0))
    with_7_byte_sample = wire.series(NAME, wire.label("job", "node"), wire.label("zone", value), prom_sample(T, 0.0))
    expected = check(WARM, labels_only, with_sample, with_7_byte_sample, labels_only)
    assert records_of(expected[1]) == []
    assert [r[3] for r in records_of(expected[2])] == ["4.0"]
    assert [r[3] for r in records_of(expected[3])] == ["0.0"]


HIDDEN_TAILS = {
    # An unknown LEN field whose payload is a whole Sample field: the series ends in 12 10 + 16 bytes.
    "sample_inside_unknown_len_field": wire.ld(6, prom_sample(T, 1.5)),
    # The same with a 7-byte sample.
    "7_byte_sample_inside_unknown_len_field": wire.ld(6, prom_sample(T, 0.0)),
    # An exemplar whose payload ends in a sample-shaped (unknown to Exemplar) field.
    "sample_shaped_field_at_the_end_of_an_exemplar": wire.ld(3, wire.label("trace_id", "abc") + prom_sample(T, 1.5)),
    # A histogram whose payload ends in a sample-shaped (unknown to Histogram) field.
    "sample_shaped_field_at_the_end_of_a_histogram": wire.ld(
        4, wire.tag(1, wire.VARINT) + b"\x03" + prom_sample(T, 1.5)
    ),
    # A label whose value field is repeated, the second one 12 10 + a Sample (last wins: it is the value).
    "label_value_repeated_as_a_sample": wire.ld(1, wire.ld(1, b"zone") + wire.ld(2, b"a") + wire.ld(2, LOOKS_16)),
    # A label with an unknown LEN field holding a real sample field at its end.
    "label_with_a_trailing_unknown_sample": wire.ld(
        1, wire.ld(1, b"zone") + wire.ld(2, b"a") + wire.ld(9, prom_sample(T, 1.5))
    ),
    # 0x12 as the last byte of an unknown varint, then 0x10 (field 2 as a varint: unknown) and more
    # unknown fields: the last 18 bytes read 12 10 + a valid Sample, but no field here is a sample.
    "0x12_ending_an_unknown_varint": (
        wire.tag(5, wire.VARINT) + b"\x12" + b"\x10\x09" + b"\x28\x01" * 4 + b"\x10" + wire.varint(T)
    ),
    # A group whose contents end in a sample field, closed right after.
    "sample_inside_a_group": wire.tag(9, wire.SGROUP) + prom_sample(T, 1.5) + wire.tag(9, wire.EGROUP),
}


@pytest.mark.parametrize("hidden", HIDDEN_TAILS.values(), ids=HIDDEN_TAILS.keys())
def test_a_sample_tail_hidden_inside_another_field_is_not_a_sample(hidden: bytes) -> None:
    # A tail found inside an exemplar, histogram, label or unknown field must not become a record.
    body = wire.series(LABELS, hidden)
    then_real = wire.series(LABELS, hidden, prom_sample(T, 3.0))
    expected = check(WARM, body, then_real)
    assert records_of(expected[1]) == []
    assert [r[3] for r in records_of(expected[2])] == ["3.0"]


# ---- other structures -------------------------------------------------------------------------------

S1, S2 = prom_sample(T, 1.5), prom_sample(T + 15_000, 2.5)
STRUCTURES = {
    # The sample first, labels after: the tail is the last label's value (12 04 "idle").
    "sample_before_labels": [S1, LABELS],
    # The sample between labels.
    "sample_between_labels": [NAME, S1, wire.label("job", "node")],
    # Two samples: a prefix holding a sample is not labels only.
    "two_samples": [LABELS, S1, S2],
    # Two 7-byte samples.
    "two_7_byte_samples": [LABELS, prom_sample(T, 0.0), prom_sample(T + 1, 0.0)],
    # The same sample twice (same time): both are records.
    "same_sample_twice": [LABELS, S1, S1],
    # Three samples, the first before the labels.
    "samples_around_labels": [S1, LABELS, S2, S1],
    # An exemplar after the sample, as Prometheus orders them: not the fast shape.
    "exemplar_after_sample": [LABELS, S1, EXEMPLAR],
    # An exemplar before the sample: a prefix that is not labels only (it must be counted).
    "exemplar_before_sample": [LABELS, EXEMPLAR, S1],
    # A histogram after the sample.
    "histogram_after_sample": [LABELS, S1, HISTOGRAM],
    # A histogram before the sample: the prefix holds a histogram (counted invalid).
    "histogram_before_sample": [LABELS, HISTOGRAM, S1],
    # Exemplar and histogram both in the prefix.
    "exemplar_and_histogram_before_sample": [LABELS, EXEMPLAR, HISTOGRAM, S1],
    # Unknown fields of every wire type in the prefix: skipped, labels unchanged.
    "unknown_varint_before_sample": [LABELS, UNKNOWN_VARINT, S1],
    "unknown_len_before_sample": [LABELS, UNKNOWN_LEN, S1],
    "unknown_fixed32_before_sample": [LABELS, UNKNOWN_I32, S1],
    "unknown_fixed64_before_sample": [LABELS, UNKNOWN_I64, S1],
    "unknown_group_before_sample": [LABELS, UNKNOWN_GROUP, S1],
    "unknown_field_between_labels": [NAME, UNKNOWN_LEN, wire.label("job", "node"), S1],
    # An unknown field after the sample: the tail is not a sample.
    "unknown_after_sample": [LABELS, S1, UNKNOWN_VARINT],
    # Field 2 as a varint (wrong wire type, unknown) before the real sample.
    "samples_field_as_varint_before_sample": [LABELS, SAMPLES_AS_VARINT, S1],
    # An empty series: no labels, no samples.
    "empty_series": [],
    # Labels and no sample (the last label value 'idle' is 4 bytes: 12 04 + 4 bytes).
    "labels_only": [LABELS],
    # A sample and no labels: the prefix is empty (no metric name: invalid).
    "sample_only": [S1],
    # A 7-byte sample and no labels: a 9-byte series.
    "7_byte_sample_only": [prom_sample(T, 0.0)],
    # An empty sample and no labels: a 2-byte series.
    "empty_sample_only": [raw_sample(b"")],
    # Labels out of order.
    "unsorted_labels": [wire.label("job", "node"), NAME, wire.label("cpu", "0"), S1],
    # A label name twice (invalid).
    "duplicate_label_name": [NAME, wire.label("job", "a"), wire.label("job", "b"), S1],
    # An empty label name (invalid).
    "empty_label_name": [NAME, wire.label("", "x"), S1],
    # No __name__ (invalid).
    "no_metric_name": [wire.label("job", "node"), S1],
    # __name__ empty (invalid).
    "empty_metric_name": [wire.label("__name__", ""), wire.label("job", "node"), S1],
    # A label with name and value fields reversed inside it.
    "label_fields_reversed": [NAME, wire.ld(1, wire.ld(2, b"node") + wire.ld(1, b"job")), S1],
    # A label with an unknown field inside it.
    "label_with_unknown_field": [NAME, wire.ld(1, wire.ld(1, b"job") + wire.ld(2, b"node") + UNKNOWN_VARINT), S1],
    # A label with no value field at all, and an empty label message.
    "label_without_value_field": [NAME, wire.ld(1, wire.ld(1, b"job")), S1],
    "empty_label_message": [NAME, wire.ld(1, b""), S1],
    # A label name that is a Timestream-reserved dimension name.
    "reserved_dimension_name": [NAME, wire.label("measure_name", "x"), S1],
}


@pytest.mark.parametrize("parts", STRUCTURES.values(), ids=STRUCTURES.keys())
def test_series_structures_other_than_labels_then_one_sample_translate_like_the_reference(parts: list[bytes]) -> None:
    # Any field before the tail that is not a label (or any field after it) changes the records or counts.
    check(WARM, wire.series(*parts))


def test_a_warm_prefix_followed_by_other_tails_and_structures_translates_like_the_reference() -> None:
    # Request A warms LABELS; request B shares A's prefix bytes but its tail or structure differ.
    cache = v1_series_cache()
    variants = [
        [S2],
        [S1, S2],
        [EXEMPLAR, S1],
        [S1, EXEMPLAR],
        [HISTOGRAM, S1],
        [S1, HISTOGRAM],
        [UNKNOWN_LEN, S1],
        [S1, UNKNOWN_LEN],
        [raw_sample(TAILS["two_byte_length"])],
        [raw_sample(TAILS["time_then_value"])],
        [prom_sample(T, math.nan)],
        [prom_sample(T, 0.0)],
        [raw_sample(b"")],
        [],
        [wire.label("zone", LOOKS_16)],
        [wire.label("zone", LOOKS_16), S1],
        [wire.ld(6, S1)],
        [S1[:-1]],  # the sample's last byte cut: truncated
        [S1[:2] + S1[2:-1] + b"\x80"],  # the timestamp's last byte with its continuation bit: unterminated
    ]
    for i, extra in enumerate(variants):
        for body in (WARM, wire.series(LABELS, *extra), wire.series(LABELS, *extra)):
            want = _reference(body)
            assert _ours(body, cache) == want, f"variant {i}: {_short(body)}"


def test_a_label_set_encoded_several_ways_keys_each_encoding_right() -> None:
    # Different prefix bytes for the same labels (or the same bytes for different labels) must not mix.
    same_labels = [
        wire.series(LABELS, S1),
        wire.series(LABELS, UNKNOWN_VARINT, S1),
        wire.series(NAME, wire.ld(1, wire.ld(2, b"0") + wire.ld(1, b"cpu")), LABELS[len(NAME) + 10 :], S1),
        write_request([(LABELS_PAIRS, [(T, 1.5)])]),
    ]
    # Prefixes that differ from LABELS only in their last bytes.
    near = [
        wire.series(LABELS[:-1] + b"f", S1),  # mode=idlf: the prefix's last byte changed
        wire.series(LABELS + wire.label("zone", ""), S1),  # an empty-valued label added (not stored)
        wire.series(LABELS + wire.label("zone", "a"), S1),
        wire.series(LABELS[: len(LABELS) - len(wire.label("mode", "idle"))], S1),  # the last label gone
    ]
    expected = check(*same_labels, *near)
    records = [records_of(e) for e in expected]
    assert records[0] == records[1] == records[2] == records[3]
    assert records[4] != records[0] and records[6] != records[0] and records[7] != records[0]
    assert records[5] == records[0]


# ---- broken bytes -----------------------------------------------------------------------------------

BROKEN = {
    # The sample's length (16) runs past the end of the series by one byte.
    "sample_length_past_the_series": b"\x12\x10" + TAILS["value_then_6_byte_time"][:-1],
    # A 7-byte sample cut short.
    "7_byte_sample_cut_short": b"\x12\x07" + TAILS["time_only_value_omitted"][:-1],
    # The timestamp varint never terminates (its last byte keeps the continuation bit).
    "unterminated_time_varint": raw_sample(value_field(1.5) + b"\x10" + b"\xff" * 6),
    # A LEN field inside the sample claiming more bytes than the sample has.
    "len_field_overrunning_the_sample": raw_sample(value_field(1.5) + b"\x22\x09" + b"\x00" * 5),
    # A wire type 7 (invalid) inside the sample.
    "invalid_wire_type_in_sample": raw_sample(value_field(1.5) + b"\x17" + b"\x00" * 6),
    # Field number 0 inside the sample.
    "field_0_in_sample": raw_sample(value_field(1.5) + b"\x00" * 7),
    # An end-group with no start inside the sample.
    "stray_end_group_in_sample": raw_sample(value_field(1.5) + wire.tag(5, wire.EGROUP) + b"\x00" * 5),
    # A lone 0x12 at the end.
    "lone_sample_tag": b"\x12",
    # 0x12 and an unterminated length.
    "unterminated_sample_length": b"\x12\x80",
}


@pytest.mark.parametrize("tail", BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_tail_after_good_labels_makes_both_raise(tail: bytes) -> None:
    # A tail parser that stops at 16 bytes or ignores the inner structure would accept a corrupt body.
    body = wire.series(LABELS, tail)
    assert check(WARM, body)[1] == RAISES


INCOMPLETE_PREFIXES = {
    # The last label cut by one byte: its length now swallows the sample's tag.
    "last_label_cut": LABELS[:-1],
    # A lone label tag before the sample: 0a 12 reads the sample's bytes as a label.
    "lone_label_tag": b"\x0a",
    # A varint tag with no value: the 0x12 becomes its value.
    "varint_tag_without_value": wire.tag(5, wire.VARINT),
    # A fixed64 tag: its 8 bytes swallow the sample's header and part of it.
    "fixed64_tag_without_value": wire.tag(5, wire.I64),
    # A fixed32 tag.
    "fixed32_tag_without_value": wire.tag(5, wire.I32),
    # A label whose length is exactly the sample field's 18 bytes: the sample is the label's payload.
    "label_length_covering_the_sample": b"\x0a\x12",
    # A label whose length covers the sample when the sample is the UTF-8 lookalike.
    "label_length_covering_a_lookalike": b"\x0a\x12",
    # A group opened and never closed.
    "unclosed_group": wire.tag(9, wire.SGROUP),
    # A LEN field whose length varint is unterminated.
    "unterminated_length": b"\x32\x80",
    # A lone continuation byte.
    "continuation_byte": b"\x80",
}


@pytest.mark.parametrize("name", INCOMPLETE_PREFIXES.keys())
def test_a_real_tail_after_bytes_that_are_not_a_complete_field_sequence(name: str) -> None:
    # The prefix must parse as whole fields on its own; otherwise the tail is not what the parse sees.
    prefix = INCOMPLETE_PREFIXES[name]
    sample = raw_sample(LOOKS_16) if name == "label_length_covering_a_lookalike" else S1
    good_start = wire.series(LABELS, prefix, sample)
    bare = wire.series(prefix, sample)
    assert tail_shaped(payload_of(bare))
    check(WARM, good_start, bare)


# ---- labels that do not decode ----------------------------------------------------------------------

BAD = wire.label("zone", b"\xff\xfe not utf-8")
BAD_UTF8 = {
    # In the first label value, before a 16-byte tail.
    "first_label_value": [wire.label("__name__", b"m\xc3"), wire.label("job", "node"), S1],
    # In the last label, right before the tail.
    "last_label_value": [LABELS, BAD, S1],
    # In a label name.
    "label_name": [NAME, wire.label(b"\xc3(", "x"), S1],
    # Before a 7-byte tail.
    "before_a_7_byte_tail": [LABELS, BAD, prom_sample(T, 0.0)],
    # In a series with two samples.
    "two_samples": [LABELS, BAD, S1, S2],
    # In a series with no sample at all.
    "no_sample": [LABELS, BAD],
    # The last label's value is both bad UTF-8 and sample-shaped (12 10 + 16 bytes of a real sample).
    "sample_shaped_bad_value": [NAME, wire.label("zone", TAILS["value_then_6_byte_time"])],
    # A surrogate encoded in UTF-8 (ED A0 80): invalid.
    "encoded_surrogate": [NAME, wire.label("zone", b"\xed\xa0\x80"), S1],
    # An overlong encoding of '/' (C0 AF): invalid.
    "overlong_utf8": [NAME, wire.label("zone", b"\xc0\xaf"), S1],
    # A label message that does not parse (its value's length runs past it).
    "label_not_a_message": [NAME, wire.ld(1, b"\x0a\x05ab"), S1],
    # Bad UTF-8 among many empty labels (more than the label limit, so they are filtered).
    "among_many_empty_labels": [NAME, *[wire.label(f"e{i:04d}", "") for i in range(300)], BAD, S1],
}


@pytest.mark.parametrize("parts", BAD_UTF8.values(), ids=BAD_UTF8.keys())
def test_a_label_that_does_not_decode_makes_the_whole_body_400_cold_and_warm(parts: list[bytes]) -> None:
    # A fast path must still decode every label it has not seen: nothing of such a body may be written.
    bad = wire.series(*parts)
    assert _reference(bad) == RAISES
    cache = v1_series_cache()
    for body in (bad, WARM + bad, bad + WARM, bad, WARM + bad):  # cold, then warm, then the same bad bytes again
        with pytest.raises(BadRequest):
            translate_v1(decode_v1(snappy.compress(body), LIMIT), cache)
    assert _ours(WARM, cache) == _reference(WARM)


# ---- many labels ------------------------------------------------------------------------------------

EMPTY_LABELS = [wire.label(f"e{i:04d}", "") for i in range(5000)]
MANY = {
    # 5000 empty labels then a 16-byte tail: the key keeps only the stored labels.
    "5000_empty_labels_16_byte_tail": [NAME, wire.label("job", "x"), *EMPTY_LABELS, wire.label("zz", "last"), S1],
    # The same with a 7-byte tail.
    "5000_empty_labels_7_byte_tail": [NAME, wire.label("job", "x"), *EMPTY_LABELS, prom_sample(T, 0.0)],
    # The same with no sample: the last empty label ends in 12 00 (an empty Sample's bytes).
    "5000_empty_labels_no_sample": [NAME, wire.label("job", "x"), *EMPTY_LABELS],
    # An empty name among many empty labels (invalid).
    "empty_name_among_many": [NAME, *EMPTY_LABELS[:200], wire.label("", "v"), S1],
    # 141 labels with values (invalid: more than Timestream's dimensions).
    "141_labels_with_values": [NAME, *[wire.label(f"l{i:03d}", "v") for i in range(140)], S1],
    # Exactly at the limits: 128 dimensions, 129 labels.
    "129_labels": [NAME, *[wire.label(f"l{i:03d}", "v") for i in range(128)], S1],
    # One more: 130 labels.
    "130_labels": [NAME, *[wire.label(f"l{i:03d}", "v") for i in range(129)], S1],
    # 129 labels of which one is empty: 128 stored, __name__ kept.
    "130_labels_one_empty": [NAME, wire.label("a", ""), *[wire.label(f"l{i:03d}", "v") for i in range(128)], S1],
    # 300 empty labels (more than the label limit, a few KB) then a 16-byte tail, then a 7-byte one.
    "300_empty_labels_16_byte_tail": [NAME, *EMPTY_LABELS[:300], wire.label("zz", "last"), S1],
    "300_empty_labels_7_byte_tail": [NAME, *EMPTY_LABELS[:300], prom_sample(T, 0.0)],
    # 300 empty labels and 129 with values after them (invalid), then a tail.
    "300_empty_then_129_valued_labels": [
        NAME,
        *EMPTY_LABELS[:300],
        *[wire.label(f"l{i:03d}", "v") for i in range(129)],
        S1,
    ],
    # Many empty labels and two samples.
    "many_empty_labels_two_samples": [NAME, *EMPTY_LABELS[:300], S1, S2],
    # Many empty labels with a sample before them.
    "many_empty_labels_sample_first": [S1, NAME, *EMPTY_LABELS[:300]],
}


@pytest.mark.parametrize("parts", MANY.values(), ids=MANY.keys())
def test_many_labels_and_many_empty_labels_translate_like_the_reference(parts: list[bytes]) -> None:
    # A prefix key of thousands of labels must apply the same label limits as the label-by-label key.
    check(WARM, wire.series(*parts))


def sized_series(size: int, tail: bytes) -> bytes:
    """A series of exactly ``size`` bytes: __name__, empty labels, a padding label, then ``tail``."""
    for empties in range(0, size // 8 + 1):
        base = NAME + b"".join(wire.label(f"e{i:04d}", "") for i in range(empties))
        need = size - len(base) - len(tail)
        for k in range(max(need, 0)):
            pad = wire.label("pad", "x" * k)
            if len(pad) == need:
                return wire.series(base, pad, tail)
            if len(pad) > need:
                break
    raise AssertionError(f"no series of {size} bytes")


SIZES = [80, 127, 128, 129, 255, 256, 2047, 2048, 4095, 4096, 4097, 4098, 8192, 16383, 16384, 16385]


@pytest.mark.parametrize("size", SIZES)
def test_series_of_sizes_around_length_boundaries_translate_like_the_reference(size: int) -> None:
    # A split that depends on the series' size (its length varint, a size cap) must not change the result.
    shaped = [sized_series(size, tail) for tail in (S1, prom_sample(T, 0.0))]
    lookalike = sized_series(size, wire.label("zone", LOOKS_16))  # no sample: the tail is a label value
    assert all(len(payload_of(body)) == size for body in [*shaped, lookalike])
    check(WARM, *shaped, lookalike, *shaped)


# ---- real Prometheus bytes --------------------------------------------------------------------------


def test_captured_prometheus_requests_translate_like_the_reference_cold_and_warm() -> None:
    # Real series (16- and 7-byte tails, metadata-only requests) through one cache, request after request.
    raws = [snappy.decompress(c.body, 1 << 30) for c in captured_writes()]
    expected = [_reference(raw) for raw in raws]
    assert sum(len(records_of(e)) for e in expected) > 4000
    for cache_size in (20_000, 7):  # 7: the cache fills and clears many times within each request
        cache = v1_series_cache(cache_size)
        for round_ in ("cold", "warm"):
            for c, raw, want in zip(captured_writes(), raws, expected, strict=True):
                assert _ours(raw, cache) == want, f"{c.name}, {round_}, a cache of {cache_size}"


# ---- mutations of well-formed series ----------------------------------------------------------------

label_names = st.sampled_from(["__name__", "job", "instance", "le", "a", "é", "zone", ""])
label_values = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6),
    st.sampled_from([LOOKS_16.decode(), LOOKS_7.decode(), LOOKS_9.decode(), "", "0123456789abcdef"]),
)
timestamps = st.one_of(
    st.integers(1_600_000_000_000, 1_900_000_000_000), st.sampled_from(TIMESTAMPS), st.integers(-(2**63), 2**63 - 1)
)
sample_values = st.one_of(st.floats(allow_nan=True), st.sampled_from([0.0, -0.0, STALE_NAN, 1.5]))
sample_fields = st.builds(
    lambda encode, t, v: encode(t, v),
    st.sampled_from(
        [
            prom_sample,
            wire.sample,
            lambda t, v: raw_sample(time_field(t) + value_field(v)),
        ]
    ),
    timestamps,
    sample_values,
)
extra_fields = st.sampled_from(
    [
        EXEMPLAR,
        HISTOGRAM,
        UNKNOWN_VARINT,
        UNKNOWN_LEN,
        UNKNOWN_I32,
        UNKNOWN_GROUP,
        SAMPLES_AS_VARINT,
        wire.ld(6, prom_sample(T, 1.5)),
        raw_sample(b""),
    ]
)
fragments = st.one_of(
    sample_fields,
    st.sampled_from([b"\x12\x10" + LOOKS_16, b"\x12\x07" + LOOKS_7, b"\x12\x00", b"\x12\x10", b"\x12", b"\x0a\x12"]),
    st.binary(max_size=20),
)


@st.composite
def well_formed_series(draw: st.DrawFn) -> list[bytes]:
    """A series' fields as Prometheus orders them: __name__ and labels (usually sorted), samples, then
    perhaps an exemplar or a histogram."""
    pairs = draw(st.lists(st.tuples(label_names, label_values), max_size=5))
    if draw(st.booleans()):
        pairs = sorted(set(pairs))
    if draw(st.integers(0, 9)):  # mostly a metric name first, so that most series make records
        pairs.insert(0, ("__name__", draw(st.sampled_from(["up", "m", "node_cpu_seconds_total"]))))
    fields = [wire.label(name, value) for name, value in pairs]
    count = draw(st.one_of(st.just(1), st.integers(0, 3)))  # mostly one sample, as Prometheus sends
    fields += [draw(sample_fields) for _ in range(count)]
    fields += draw(st.lists(st.sampled_from([EXEMPLAR, HISTOGRAM]), max_size=1))
    return fields


def _at(fields: list[bytes], i: int) -> int:
    return i % len(fields)


field_mutations = st.one_of(
    # Swap two fields (a sample among labels, a label after the sample).
    st.tuples(st.just("swap"), st.integers(0, 20), st.integers(0, 20)),
    # Duplicate a field in place; "last" duplicates the tail sample.
    st.tuples(st.just("dup"), st.integers(0, 20)),
    st.tuples(st.just("dup_last")),
    # Drop a field.
    st.tuples(st.just("drop"), st.integers(0, 20)),
    # Move the last field (the sample) to the front.
    st.tuples(st.just("last_first")),
    # Insert a field (exemplar, histogram, unknown, a sample inside an unknown field) anywhere.
    st.tuples(st.just("insert"), st.integers(0, 20), extra_fields),
    # Insert another sample anywhere.
    st.tuples(st.just("insert"), st.integers(0, 20), sample_fields),
)
byte_mutations = st.one_of(
    # Replace the last k bytes with the last j bytes of a fragment (another sample, a lookalike, noise).
    st.tuples(st.just("splice"), st.integers(0, 24), fragments, st.integers(0, 24)),
    # Cut the last k bytes.
    st.tuples(st.just("truncate"), st.integers(1, 20)),
    # Append a fragment.
    st.tuples(st.just("append"), fragments),
    # Overwrite one byte near the end.
    st.tuples(st.just("flip"), st.integers(1, 24), st.integers(0, 255)),
)


def mutate(fields: list[bytes], field_steps: list[tuple[Any, ...]], byte_steps: list[tuple[Any, ...]]) -> bytes:
    fields = list(fields)
    for step in field_steps:
        kind = step[0]
        if kind == "insert":
            fields.insert(step[1] % (len(fields) + 1), step[2])
        elif not fields:
            continue
        elif kind == "swap":
            i, j = _at(fields, step[1]), _at(fields, step[2])
            fields[i], fields[j] = fields[j], fields[i]
        elif kind == "dup":
            i = _at(fields, step[1])
            fields.insert(i, fields[i])
        elif kind == "dup_last":
            fields.append(fields[-1])
        elif kind == "drop":
            del fields[_at(fields, step[1])]
        elif kind == "last_first":
            fields.insert(0, fields.pop())
    payload = b"".join(fields)
    for step in byte_steps:
        kind = step[0]
        if kind == "splice":
            _, k, fragment, j = step
            payload = payload[: max(len(payload) - k, 0)] + fragment[max(len(fragment) - j, 0) :]
        elif kind == "truncate":
            payload = payload[: max(len(payload) - step[1], 0)]
        elif kind == "append":
            payload += step[1]
        elif kind == "flip" and payload:
            i = max(len(payload) - step[1], 0)
            payload = payload[:i] + bytes([step[2]]) + payload[i + 1 :]
    return wire.ld(1, payload)


@settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
@given(
    st.lists(
        st.tuples(
            well_formed_series(),
            st.lists(field_mutations, max_size=3),
            st.one_of(st.just([]), st.lists(byte_mutations, max_size=2)),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_mutated_prometheus_series_translate_like_the_reference_or_both_raise(
    drawn: list[tuple[list[bytes], list[tuple[Any, ...]], list[tuple[Any, ...]]]],
) -> None:
    # A mutation that keeps a Prometheus-looking tail (spliced, duplicated, moved) must not fool the split.
    original = b"".join(wire.ld(1, b"".join(fields)) for fields, _, _ in drawn)
    series = [mutate(fields, field_steps, byte_steps) for fields, field_steps, byte_steps in drawn]
    mutated = b"".join(series)
    want_original, want_mutated = _reference(original), _reference(mutated)
    event("both raise" if want_mutated == RAISES else "records" if records_of(want_mutated) else "no records")
    prometheus_tail = any(payload_of(s)[-18:-16] == b"\x12\x10" or payload_of(s)[-9:-7] == b"\x12\x07" for s in series)
    event("a Prometheus-shaped tail (12 10 / 12 07)" if prometheus_tail else "another tail")
    assert _ours(mutated, None) == want_mutated, "cold"
    cache = v1_series_cache()
    for step, (body, want) in enumerate(
        [(original, want_original), (mutated, want_mutated), (mutated, want_mutated), (original, want_original)]
    ):
        assert _ours(body, cache) == want, f"step {step} on one cache"
