"""Reading streamed XOR chunks: ``xor_chunk.decode_xor`` and ``chunked.read_frames``.

Every decoded chunk is checked twice: against what ``encode_xor`` was given, and against the
independent reference reader (tests/chunks_reference.py), which shares no code with either side.
Values are compared as 64-bit patterns, so NaN payloads and staleness markers must survive.
Prometheus' own chunks (2.42, spare bytes included) are read in tests/e2e/test_backfill.py.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.prom.chunked import StreamError, chunked_frames, decoded_series, frame, read_frames
from connector.prom.series import Sample, Series
from connector.prom.xor_chunk import ChunkError, decode_xor, encode_xor
from prompb import remote_pb2, types_pb2
from tests import chunks_reference as ref

PROPERTIES = settings(
    derandomize=True, deadline=None, database=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow]
)
STALE = 0x7FF0000000000002
SPECIAL_BITS = (
    STALE,
    0x7FF8000000000001,  # the NaN Prometheus' text parser makes
    0x7FF8000000000000,
    0xFFF8000000000000,
    0x7FF4000000000000,  # a signalling NaN
    0xFFFFFFFFFFFFFFFF,
    0x7FF0000000000000,  # +Inf
    0xFFF0000000000000,  # -Inf
    0x0000000000000000,
    0x8000000000000000,  # -0.0
    0x0000000000000001,  # the smallest subnormal
    0x7FEFFFFFFFFFFFFF,  # the largest double
)
# Delta-of-delta values at the edges of the 14-, 17- and 20-bit buckets, and beyond them.
DOD_EDGES = (0, 1, -1, 8192, 8193, -8191, -8192, 65536, 65537, -65535, -65536, 524288, 524289, -524287, -524288)


def bits(samples: Sequence[Sample]) -> list[tuple[int, int]]:
    values = [v for _, v in samples]
    patterns = struct.unpack(f"<{len(values)}Q", struct.pack(f"<{len(values)}d", *values))
    return list(zip([t for t, _ in samples], patterns, strict=True))


def from_bits(times: Sequence[int], patterns: Sequence[int]) -> list[Sample]:
    values = struct.unpack(f"<{len(patterns)}d", struct.pack(f"<{len(patterns)}Q", *patterns))
    return list(zip(times, values, strict=True))


@st.composite
def samples(draw: st.DrawFn, max_size: int = 240) -> list[Sample]:
    """Irregular ascending times (bucket edges, jitter, huge gaps) and values that repeat, flip a bit,
    jump to specials or to any pattern."""
    count = draw(st.integers(0, max_size))
    time = draw(st.integers(-(2**40), 2**40))
    step = st.one_of(
        st.just(15_000),
        st.integers(1, 40),
        st.sampled_from([15_000 + edge for edge in DOD_EDGES if edge > -15_000]),
        st.integers(1, 2**40),
    )
    value = draw(st.one_of(st.sampled_from(SPECIAL_BITS), st.integers(0, 2**64 - 1)))
    change = st.one_of(
        st.just(None),
        st.integers(0, 63),
        st.sampled_from(SPECIAL_BITS),
        st.integers(0, 2**64 - 1).map(lambda pattern: -pattern - 1),  # negative: "set this pattern"
    )
    times, patterns = [], []
    for _ in range(count):
        times.append(time)
        patterns.append(value)
        time += draw(step)
        how = draw(change)
        if isinstance(how, int) and 0 <= how < 64:
            value ^= 1 << how
        elif isinstance(how, int) and how < 0:
            value = -how - 1
        elif how is not None:
            value = how
    return from_bits(times, patterns)


@given(chunk=samples())
@PROPERTIES
def test_decode_reads_back_what_encode_wrote_bit_for_bit(chunk: list[Sample]) -> None:
    data = encode_xor(chunk)
    decoded = decode_xor(data)
    assert bits(decoded) == bits(chunk)
    assert bits(decoded) == ref.decode_xor(data).samples


@given(times=st.lists(st.integers(-(2**63), 2**63 - 1), max_size=60), data=st.data())
@PROPERTIES
def test_decode_wraps_time_arithmetic_at_64_bits(times: list[int], data: st.DataObject) -> None:
    """Times in any order, equal or far apart: deltas and their differences wrap as Prometheus' do."""
    patterns = data.draw(st.lists(st.integers(0, 2**64 - 1), min_size=len(times), max_size=len(times)))
    chunk = from_bits(times, patterns)
    assert bits(decode_xor(encode_xor(chunk))) == bits(chunk) == ref.decode_xor(encode_xor(chunk)).samples


def test_special_values_and_repeats_keep_their_payloads() -> None:
    patterns = [STALE, STALE, *SPECIAL_BITS, *reversed(SPECIAL_BITS), 0x7FF0000000000003, STALE]
    times = [1_000 * i + (7 if i % 3 else 0) for i in range(len(patterns))]
    decoded = decode_xor(encode_xor(from_bits(times, patterns)))
    assert [pattern for _, pattern in bits(decoded)] == patterns
    assert [t for t, _ in decoded] == times


def test_trailing_spare_byte_and_padding_are_ignored() -> None:
    """Prometheus 2.x leaves a zero byte after some chunks; its iterator reads only ``count`` samples."""
    chunk = from_bits([0, 1000, 2000], [0x3FF0000000000000, 0x4000000000000000, 0x4000000000000000])
    assert bits(decode_xor(encode_xor(chunk) + b"\x00")) == bits(chunk)


def test_empty_chunk() -> None:
    assert decode_xor(b"\x00\x00") == []


@given(chunk=samples(max_size=40).filter(bool))
@PROPERTIES
def test_every_truncation_is_an_error_naming_the_cut(chunk: list[Sample]) -> None:
    data = encode_xor(chunk)
    for cut in range(len(data)):
        with pytest.raises(ChunkError, match=r"ends|2-byte"):
            decode_xor(data[:cut])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00", "2-byte sample count"),
        (b"\x00\x01" + b"\xff" * 11, "longer than 10 bytes"),
        (b"\x00\x01" + b"\xff" * 9 + b"\x7f" + bytes(8), "overflows 64 bits"),
        # count 3: time 0, value 0, delta 1, then value bits "10" (reuse a window) before any window exists
        (b"\x00\x03\x00" + bytes(8) + b"\x01" + bytes([0b10000000]), "before any was set"),
        # count 2: time 0, value 0, delta 1, then "11", 31 leading zeros, 63 significant bits: 94 > 64
        (b"\x00\x02\x00" + bytes(8) + b"\x01" + (0b11_11111_111111 << 3).to_bytes(2, "big") + bytes(8), "more than 64"),
    ],
    ids=["short-header", "long-varint", "varint-overflow", "window-before-set", "window-too-wide"],
)
def test_impossible_fields_are_errors(data: bytes, message: str) -> None:
    with pytest.raises(ChunkError, match=message):
        decode_xor(data)


# --- frames --------------------------------------------------------------------------------------------


def _stream(series: Sequence[Series], query_index: int = 0) -> bytes:
    return b"".join(chunked_frames(query_index, series))


SERIES = [
    Series((("__name__", "up"), ("job", "a")), [(1_000 * i, float(i)) for i in range(300)]),  # three chunks
    Series((("__name__", "up"), ("job", "b")), from_bits([5, 6, 9], [STALE, 0x7FF8000000000001, STALE])),
    Series((("__name__", "empty"),), []),
]


def test_frames_read_back_series_and_samples() -> None:
    responses = list(read_frames(io.BytesIO(_stream(SERIES, query_index=2))))
    assert [response.query_index for response in responses] == [2, 2, 2]
    decoded = [one for response in responses for one in decoded_series(response)]
    assert [(series.labels, bits(series.samples), others) for series, others in decoded] == [
        (series.labels, bits(series.samples), 0) for series in SERIES
    ]


def test_a_stream_may_end_only_between_frames() -> None:
    stream = _stream(SERIES)
    boundaries = {0}
    for one in SERIES:
        boundaries.add(max(boundaries) + len(_stream([one])))
    for cut in range(len(stream)):
        reader = read_frames(io.BytesIO(stream[:cut]))
        if cut in boundaries:
            assert len(list(reader)) == sorted(boundaries).index(cut)
        else:
            with pytest.raises(StreamError, match="ends inside"):
                list(reader)


def test_a_flipped_bit_fails_the_crc() -> None:
    stream = bytearray(_stream(SERIES[:1]))
    stream[-1] ^= 0x01
    with pytest.raises(StreamError, match="CRC-32C"):
        list(read_frames(io.BytesIO(bytes(stream))))


def test_a_frame_above_the_limit_is_refused_before_it_is_read() -> None:
    stream = _stream(SERIES[:1])
    with pytest.raises(StreamError, match="above the limit of 100"):
        list(read_frames(io.BytesIO(stream), limit=100))


def test_histogram_chunks_are_counted_not_decoded() -> None:
    response = remote_pb2.ChunkedReadResponse()
    series = response.chunked_series.add(labels=[types_pb2.Label(name="__name__", value="h")])
    series.chunks.add(min_time_ms=0, max_time_ms=0, type=types_pb2.Chunk.HISTOGRAM, data=b"\x00\x01junk")
    series.chunks.add(min_time_ms=1, max_time_ms=1, type=types_pb2.Chunk.XOR, data=encode_xor([(1, 2.0)]))
    (frame_read,) = read_frames(io.BytesIO(frame(response.SerializeToString())))
    ((decoded, others),) = decoded_series(frame_read)
    assert decoded.samples == [(1, 2.0)] and others == 1


def test_frame_lengths_of_several_bytes() -> None:
    big = Series((("__name__", "x" * 300),), [(0, 1.0)])
    stream = _stream([big])
    assert stream[0] & 0x80  # the length prefix goes on into a second byte
    ((decoded, _),) = decoded_series(next(read_frames(io.BytesIO(stream))))
    assert decoded.labels == big.labels
