"""STREAMED_XOR_CHUNKS codec: XOR chunk bits, frames, negotiation.

Everything is read back with the independent reference reader (tests/chunks_reference.py), whose
own CRC-32C and bit reader share nothing with the code under test. Bit-exactness against a real
Prometheus is proven end to end in tests/e2e/test_prometheus_chunks.py; the chunks quoted below
come from Prometheus 2.42 so that the unit tests check it too.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.errors import BadRequest, PayloadTooLarge
from connector.prom import chunked
from connector.prom.chunked import (
    SAMPLES,
    STREAMED_XOR_CHUNKS,
    UnsupportedResponseType,
    chunked_frames,
    crc32c,
    frame,
    negotiate,
)
from connector.prom.series import Labels, Sample, Series
from connector.prom.xor_chunk import encode_xor
from prompb import remote_pb2
from tests import chunks_reference as ref

PROPERTIES = settings(
    derandomize=True, deadline=None, database=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow]
)

STALE = 0x7FF0000000000002
SPECIAL_BITS = (
    0x0000000000000000,  # +0.0
    0x8000000000000000,  # -0.0
    0x0000000000000001,  # smallest subnormal
    0x000FFFFFFFFFFFFF,  # largest subnormal
    0x7FF0000000000000,  # +Inf
    0xFFF0000000000000,  # -Inf
    0x7FF8000000000001,  # Prometheus' NaN
    STALE,  # staleness marker
    0x7FF8000000000000,  # the usual quiet NaN
    0xFFF8000000000000,  # negative NaN
    0x7FF4000000000000,  # signalling NaN payload
    0xFFFFFFFFFFFFFFFF,  # all ones (a NaN)
    0x3FF0000000000000,  # 1.0
    0x7FEFFFFFFFFFFFFF,  # largest double
)
# Delta-of-delta values at the edges of Prometheus' buckets (n bits hold -(2**(n-1) - 1) .. 2**(n-1)).
DOD_EDGES = (0, 1, -1, 8192, 8193, -8191, -8192, 65536, 65537, -65535, -65536, 524288, 524289, -524287, -524288)
INT64 = st.integers(-(2**63), 2**63 - 1)
BITS64 = st.integers(0, 2**64 - 1)
LABELS: Labels = (("__name__", "up"), ("job", "x"))


def floats(patterns: Sequence[int]) -> list[float]:
    return list(struct.unpack(f"<{len(patterns)}d", struct.pack(f"<{len(patterns)}Q", *patterns)))


def samples_of(times: Sequence[int], patterns: Sequence[int]) -> list[Sample]:
    return list(zip(times, floats(patterns), strict=True))


def regular(count: int, start: int = 1_700_000_000_000, step: int = 1000) -> list[Sample]:
    """``count`` samples of a random-looking gauge, ``step`` ms apart."""
    patterns = [0x4059000000000000 ^ ((i * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFF) for i in range(count)]
    return samples_of([start + i * step for i in range(count)], patterns)


# --- Hypothesis strategies ---------------------------------------------------------------------


@st.composite
def value_patterns(draw: st.DrawFn, count: int) -> list[int]:
    """Values as bit patterns: specials, random patterns, repeats, 1-bit flips, small increments."""
    step = st.one_of(
        st.just(("same", 0)),
        st.tuples(st.just("flip"), st.integers(0, 63)),
        st.tuples(st.just("set"), st.sampled_from(SPECIAL_BITS)),
        st.tuples(st.just("set"), BITS64),
        st.tuples(st.just("add"), st.integers(1, 2**20)),
    )
    value = draw(st.one_of(st.sampled_from(SPECIAL_BITS), BITS64))
    patterns = []
    for op, arg in draw(st.lists(step, min_size=count, max_size=count)):
        if op == "flip":
            value ^= 1 << arg
        elif op == "set":
            value = arg
        elif op == "add":
            value = (value + arg) % 2**64
        patterns.append(value)
    return patterns


@st.composite
def ascending_times(draw: st.DrawFn, count: int) -> list[int]:
    """Strictly ascending int64 times: regular, jittered, bucket edges, huge jumps, near +-2**62."""
    time = draw(st.one_of(st.sampled_from((-(2**62), 0, 2**62)), st.integers(-(2**62), 2**62)))
    delta = st.one_of(
        st.just(1000), st.integers(1, 30), st.sampled_from([10**7 + e for e in DOD_EDGES]), st.integers(1, 2**62)
    )
    times = []
    for step in draw(st.lists(delta, min_size=count, max_size=count)):
        if time >= 2**63:
            break
        times.append(time)
        time += step
    return times


@st.composite
def ascending_samples(draw: st.DrawFn, max_size: int = 300) -> list[Sample]:
    count = draw(st.integers(0, max_size))
    times = draw(ascending_times(count))
    return samples_of(times, draw(value_patterns(len(times))))


def bits_of(samples: Sequence[Sample]) -> list[ref.BitsSample]:
    values = [v for _, v in samples]
    patterns = struct.unpack(f"<{len(values)}Q", struct.pack(f"<{len(values)}d", *values))
    return list(zip([t for t, _ in samples], patterns, strict=True))


# --- CRC-32C and frames --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [(bytes(32), 0x8A9136AA), (b"\xff" * 32, 0x62A8AB43), (b"123456789", 0xE3069283), (b"", 0)],
    ids=["32-zeros", "32-ones", "123456789", "empty"],
)
@pytest.mark.parametrize("implementation", [crc32c, ref.crc32c_bitwise], ids=["connector", "reference"])
def test_crc32c_vectors(implementation: Callable[[bytes], int], data: bytes, expected: int) -> None:
    """RFC 3720 appendix B.4 (iSCSI) test vectors."""
    assert implementation(data) == expected


@given(data=st.binary(max_size=300))
@PROPERTIES
def test_crc32c_agrees_with_reference(data: bytes) -> None:
    assert crc32c(data) == ref.crc32c_bitwise(data)


def test_frame_layout() -> None:
    message = bytes(range(256)) + b"tail" * 20  # 336 bytes: a 2-byte length prefix
    framed = frame(message)
    assert framed[:2] == bytes([0xD0, 0x02])
    assert framed[2:6] == ref.crc32c_bitwise(message).to_bytes(4, "big")
    assert framed[6:] == message


def test_content_type_is_what_prometheus_clients_match() -> None:
    assert chunked.CONTENT_TYPE == "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"


# --- XOR chunks --------------------------------------------------------------------------------


@given(samples=ascending_samples())
@PROPERTIES
def test_xor_round_trip(samples: list[Sample]) -> None:
    decoded = ref.decode_xor(encode_xor(samples))
    assert decoded.samples == bits_of(samples)
    assert not decoded.spare_byte


@given(times=st.lists(INT64, max_size=150), data=st.data())
@PROPERTIES
def test_xor_round_trip_any_int64_times(times: list[int], data: st.DataObject) -> None:
    """Times in any order, equal or not: the time arithmetic wraps at 64 bits as Prometheus' does."""
    patterns = data.draw(st.lists(BITS64, min_size=len(times), max_size=len(times)))
    samples = samples_of(times, patterns)
    assert ref.decode_xor(encode_xor(samples)).samples == bits_of(samples)


def test_xor_keeps_every_special_value_bit_for_bit() -> None:
    patterns = [*SPECIAL_BITS, *reversed(SPECIAL_BITS), STALE, STALE, 0x7FF0000000000003]
    samples = samples_of([1000 * i for i in range(len(patterns))], patterns)
    assert [v for _, v in ref.decode_xor(encode_xor(samples)).samples] == patterns


def test_xor_empty_and_single_sample_bytes() -> None:
    assert encode_xor([]) == b"\x00\x00"
    # count 1, zigzag varint of -1 (= 1), the 64 value bits
    assert encode_xor([(-1, 1.0)]) == b"\x00\x01\x01" + bytes.fromhex("3ff0000000000000")


def test_xor_refuses_more_samples_than_the_header_counts() -> None:
    with pytest.raises(ValueError, match="65535"):
        encode_xor([(t, 0.0) for t in range(65536)])


# Chunks Prometheus 2.42 wrote for the e2e target (labels, whether 2.x left its spare zero byte).
PROMETHEUS_CHUNKS = {
    "ephemeral-with-staleness-marker": (
        False,
        "000baedfae8fc6683ff0000000000000e807000030fd0000000000000008",
    ),
    "counter-spare-byte": (
        True,
        "0014e2a2bd8fc6684077100000000000e607e21d80029b809a9db08fd800280efff205800283e000a05bffc80e000a1d40e8"
        "3501a0547e81501a0d00",
    ),
    "alternating-nan": (
        False,
        "0014e2a2bd8fc6687ff8000000000001e607c5f7f4e00000000000300050000800000000000bfa74000000000015fd3e0000"
        "0000000a00ff000000000002000afe60000000000006fff2fe61000000000006000a0000800000000002000afe6180000000"
        "0006fff2fe62800000000006000a00018000000000017f31800000000002bf9900000000000140001000000000002fe64800"
        "0000000057f32c000000000028000e000000000005fccc00000000000afe67000000000004",
    ),
}


@pytest.mark.parametrize("name", PROMETHEUS_CHUNKS)
def test_xor_rebuilds_chunks_prometheus_wrote(name: str) -> None:
    spare, hex_data = PROMETHEUS_CHUNKS[name]
    data = bytes.fromhex(hex_data)
    decoded = ref.decode_xor(data)
    assert decoded.spare_byte == spare
    rebuilt = encode_xor(samples_of([t for t, _ in decoded.samples], [v for _, v in decoded.samples]))
    assert rebuilt + b"\x00" * spare == data


def test_prometheus_chunks_quoted_hold_what_they_claim() -> None:
    def values(name: str) -> list[int]:
        return [v for _, v in ref.decode_xor(bytes.fromhex(PROMETHEUS_CHUNKS[name][1])).samples]

    assert values("ephemeral-with-staleness-marker")[-1] == STALE
    assert values("alternating-nan").count(0x7FF8000000000001) >= 6


@pytest.mark.parametrize(
    ("dod", "ones"),
    [
        (0, 0), (1, 1), (-1, 1), (8192, 1), (-8191, 1), (8193, 2), (-8192, 2), (65536, 2), (-65535, 2),
        (65537, 3), (-65536, 3), (524288, 3), (-524287, 3), (524289, 4), (-524288, 4), (2**40, 4), (-(2**40), 4),
    ],
)  # fmt: skip
def test_dod_bucket_edges(dod: int, ones: int) -> None:
    """Each delta-of-delta goes in the smallest of Prometheus' buckets that holds it, as two's complement."""
    samples = [(0, 0.0), (10**7, 0.0), (2 * 10**7 + dod, 0.0)]
    # count (2 bytes), varint 0 (1), first value (8), uvarint 10**7 (4): then the bit stream.
    bits = ref.BitReader(encode_xor(samples)[15:])
    assert bits.read(1) == 0  # second value unchanged
    prefix = bits.read(min(ones + 1, 4))
    assert prefix == (0b1111 if ones == 4 else ((1 << ones) - 1) << 1)
    width = (0, 14, 17, 20, 64)[ones]
    assert bits.read(width) == dod % (1 << width)
    assert bits.read(1) == 0  # third value unchanged
    assert bits.left < 8


def _value_fields(data: bytes, count: int) -> list[tuple[int, ...]]:
    """The value fields of a chunk of equally spaced samples whose first time and interval are 1-byte varints."""
    bits = ref.BitReader(data[2 + 1 + 8 + 1 :])
    fields: list[tuple[int, ...]] = []
    window = 0  # significant bits of the current window
    for index in range(1, count):
        if index > 1:
            assert bits.read(1) == 0  # delta-of-delta 0
        if not bits.read(1):
            fields.append((0b0,))
        elif not bits.read(1):
            fields.append((0b10, bits.read(window)))
        else:
            leading, written = bits.read(5), bits.read(6)
            window = written or 64
            fields.append((0b11, leading, written, bits.read(window)))
    assert bits.left < 8
    return fields


def test_value_fields_clamp_leading_zeros_and_write_64_as_0() -> None:
    patterns = [0, 1, 1 << 63, 1 << 63, (1 << 63) ^ 0b110]
    fields = _value_fields(encode_xor(samples_of([0, 10, 20, 30, 40], patterns)), 5)
    assert fields == [
        (0b11, 31, 33, 1),  # 63 leading zeros, written as 31: a 33-bit window
        (0b11, 0, 0, (1 << 63) | 1),  # 64 significant bits, written as 0
        (0b0,),
        (0b10, 0b110),  # fits the 64-bit window
    ]


def test_value_fields_reuse_the_window_exactly_when_the_change_fits() -> None:
    patterns = [0, 0b1100, 0b1000, 0b1001, 0b1001 ^ (1 << 32), 0b1001 ^ (1 << 32) ^ (1 << 40), 0b1001 ^ (1 << 32)]
    fields = _value_fields(encode_xor(samples_of([10 * i for i in range(7)], patterns)), 7)
    assert fields == [
        (0b11, 31, 31, 0b11),  # 0b1100: leading zeros clamped to 31, 2 trailing: bits 2..32
        (0b10, 0b1),  # 0b0100 fits
        (0b11, 31, 33, 1),  # 0b0001 has fewer trailing zeros: new window, bits 0..32
        (0b10, 1 << 32),  # bit 32 is inside the window the clamp widened
        (0b11, 23, 1, 1),  # bit 40 is above it: new window
        (0b10, 1),  # the same bit again fits
    ]


# --- Frames of series ----------------------------------------------------------------------------


def read_back(stream: bytes, max_frame_bytes: int = 1 << 20) -> dict[Labels, list[ref.BitsSample]]:
    """The samples of each series of a one-query stream, after every check the reference makes."""
    decoded = ref.check_stream(stream, max_frame_bytes)
    return {labels: samples for (_, labels), samples in ref.series_samples(decoded).items()}


@pytest.mark.parametrize(
    ("count", "chunk_sizes"),
    [(0, []), (1, [1]), (2, [2]), (119, [119]), (120, [120]), (121, [120, 1]), (240, [120, 120]), (241, [120, 120, 1])],
)
def test_chunks_hold_at_most_120_samples(count: int, chunk_sizes: list[int]) -> None:
    samples = regular(count)
    stream = b"".join(chunked_frames(0, [Series(LABELS, samples)]))
    (series,) = ref.check_stream(stream)
    assert series.labels == LABELS
    assert [len(chunk.samples) for chunk in series.chunks] == chunk_sizes
    assert read_back(stream) == {LABELS: bits_of(samples)}


def test_series_without_samples_are_answered_in_order() -> None:
    first, second, third = (("__name__", "a"),), (("__name__", "b"),), (("__name__", "c"),)
    samples = regular(3)
    stream = b"".join(chunked_frames(2, [Series(first, []), Series(second, samples), Series(third, [])]))
    decoded = ref.check_stream(stream)
    assert [(s.query_index, s.labels, len(s.chunks)) for s in decoded] == [(2, first, 0), (2, second, 1), (2, third, 0)]


@pytest.mark.parametrize("query_index", [0, 1, 7, 2**40])
def test_every_frame_names_its_query(query_index: int) -> None:
    series = [Series((("__name__", name),), regular(300)) for name in ("a", "b")]
    decoded = ref.check_stream(b"".join(chunked_frames(query_index, series)))
    assert len(decoded) == 2
    assert {s.query_index for s in decoded} == {query_index}


def test_a_series_is_one_frame_whatever_its_size() -> None:
    """Prometheus' client makes every frame a series: a series split over frames would be read twice."""
    rng = random.Random(5)
    samples = [(1000 * i, rng.random()) for i in range(200_000)]  # about 1.6 MB of chunks
    (frame,) = list(chunked_frames(0, [Series(LABELS, samples)]))
    assert len(frame) > 1 << 20
    assert read_back(frame, chunked.CLIENT_FRAME_LIMIT) == {LABELS: bits_of(samples)}


def test_frames_stay_under_1_mib_up_to_130000_random_values() -> None:
    """README: under 1 MiB up to some 130,000 samples of random full-precision values."""
    rng = random.Random(6)
    (frame,) = list(chunked_frames(0, [Series(LABELS, [(1000 * i, rng.random()) for i in range(130_000)])]))
    assert len(frame) < 1 << 20, len(frame)


def test_a_series_past_what_clients_read_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    (frame,) = list(chunked_frames(0, [Series(LABELS, regular(1000))]))
    monkeypatch.setattr(chunked, "CLIENT_FRAME_LIMIT", len(frame) - 10)
    with pytest.raises(PayloadTooLarge, match="chunked_read_limit"):
        list(chunked_frames(0, [Series(LABELS, regular(1000))]))


label_values = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)


@st.composite
def sorted_series(draw: st.DrawFn) -> list[Series]:
    names = draw(st.lists(label_values, min_size=1, max_size=5, unique=True))
    series = []
    for name in names:
        extra = draw(st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), label_values, max_size=2))
        labels = tuple(sorted({**extra, "__name__": name}.items()))
        series.append(Series(labels, draw(ascending_samples(max_size=260))))
    return sorted(series, key=lambda one: one.labels)


@given(series=sorted_series())
@settings(PROPERTIES, max_examples=100)
def test_frames_read_back_exactly(series: list[Series]) -> None:
    stream = b"".join(chunked_frames(1, series))
    assert len(ref.read_stream(stream)) == len(series)  # one frame per series
    assert read_back(stream) == {s.labels: bits_of(s.samples) for s in series}
    assert [s.labels for s in ref.read_stream(stream) if not s.chunks] == [s.labels for s in series if not s.samples]


# --- Negotiation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accepted", "chosen"),
    [
        ([], SAMPLES),
        ([SAMPLES], SAMPLES),
        ([STREAMED_XOR_CHUNKS], STREAMED_XOR_CHUNKS),
        ([STREAMED_XOR_CHUNKS, SAMPLES], STREAMED_XOR_CHUNKS),
        ([SAMPLES, STREAMED_XOR_CHUNKS], SAMPLES),
        ([7, STREAMED_XOR_CHUNKS], STREAMED_XOR_CHUNKS),
        ([7, SAMPLES, STREAMED_XOR_CHUNKS], SAMPLES),
    ],
)
def test_negotiate_takes_the_first_supported_type(accepted: list[int], chosen: int) -> None:
    assert negotiate(accepted) == chosen


def test_negotiate_reads_a_decoded_request() -> None:
    """Unknown enum values survive protobuf decoding (open enums) and are skipped."""
    wire = remote_pb2.ReadRequest(accepted_response_types=[STREAMED_XOR_CHUNKS, SAMPLES]).SerializeToString()
    assert negotiate(remote_pb2.ReadRequest.FromString(wire).accepted_response_types) == STREAMED_XOR_CHUNKS
    unknown = remote_pb2.ReadRequest.FromString(bytes([0x10, 0x07, 0x10, 0x01])).accepted_response_types
    assert list(unknown) == [7, 1]
    assert negotiate(unknown) == STREAMED_XOR_CHUNKS
    assert negotiate(remote_pb2.ReadRequest().accepted_response_types) == SAMPLES


@pytest.mark.parametrize("accepted", [[7], [2, 3, 7]])
def test_negotiate_refuses_when_nothing_is_supported(accepted: list[int]) -> None:
    with pytest.raises(UnsupportedResponseType) as caught:
        negotiate(accepted)
    assert isinstance(caught.value, BadRequest)
    assert caught.value.status == 400
    assert str(accepted) in caught.value.message
    assert "SAMPLES (0)" in caught.value.message and "STREAMED_XOR_CHUNKS (1)" in caught.value.message
