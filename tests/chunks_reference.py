"""An independent reader of STREAMED_XOR_CHUNKS answers, for tests: frames, CRC-32C, XOR chunk bits.

Written from the format description (FACTS.md, "Prometheus remote read") and sharing no code with
``connector.prom.chunked`` or ``connector.prom.xor_chunk``, so that a mistake in those cannot be
mirrored here. Slow on purpose: the CRC goes bit by bit and the chunk bits are read one field at a
time from one big integer. Values come back as their 64-bit patterns, to be compared exactly.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from prompb import remote_pb2, types_pb2

CASTAGNOLI_REFLECTED = 0x82F63B78
XOR = 1
MAX_CHUNK_SAMPLES = 120  # ours; Prometheus aims at 120 and cuts at 240 at the latest (tsdb/head_append.go)
_INT64 = 1 << 64

Labels = tuple[tuple[str, str], ...]
BitsSample = tuple[int, int]  # (milliseconds, the value's IEEE 754 bits)


def crc32c_bitwise(data: bytes) -> int:
    """CRC-32C straight from the reflected polynomial, one bit at a time."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ CASTAGNOLI_REFLECTED if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def _signed64(value: int) -> int:
    value %= _INT64
    return value - _INT64 if value >= 1 << 63 else value


class BitReader:
    """Reads fields of any width, most significant bit first, from a byte string."""

    def __init__(self, data: bytes) -> None:
        self._bits = int.from_bytes(data, "big")
        self.left = 8 * len(data)

    def read(self, width: int) -> int:
        if width > self.left:
            raise ValueError(f"chunk ends early: {width} bits wanted, {self.left} left")
        self.left -= width
        return (self._bits >> self.left) & ((1 << width) - 1)

    def rest(self) -> int:
        """The unread bits as one number (the padding, once every sample is read)."""
        return self._bits & ((1 << self.left) - 1)

    def uvarint(self) -> int:
        value, shift = 0, 0
        while True:
            byte = self.read(8)
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value
            if shift > 63:
                raise ValueError("varint longer than 10 bytes")

    def varint(self) -> int:
        raw = self.uvarint()
        return -(raw >> 1) - 1 if raw & 1 else raw >> 1


# Delta-of-delta buckets: number of leading 1 bits before the 0 (or 4 ones) -> width of the value.
_DOD_WIDTH = {1: 14, 2: 17, 3: 20}


def _read_dod(reader: BitReader) -> int:
    ones = 0
    while ones < 4 and reader.read(1):
        ones += 1
    if ones == 0:
        return 0
    if ones == 4:
        return _signed64(reader.read(64))
    width = _DOD_WIDTH[ones]
    raw = reader.read(width)
    # n bits hold -(2**(n-1) - 1) .. 2**(n-1): the pattern 2**(n-1) itself is positive.
    return raw - (1 << width) if raw > 1 << (width - 1) else raw


class _ValueReader:
    """XOR-coded values: each is the previous one with a window of bits flipped."""

    def __init__(self, first: int) -> None:
        self.value = first
        self.window: tuple[int, int] | None = None  # (significant bits, trailing zeros)
        self.last_width = 64  # bits of the last value field's payload; 0 for an unchanged value

    def next(self, reader: BitReader) -> int:
        if not reader.read(1):
            self.last_width = 0
            return self.value
        if reader.read(1):
            leading = reader.read(5)
            significant = reader.read(6) or 64
            trailing = 64 - leading - significant
            if trailing < 0:
                raise ValueError(f"bad value window: {leading} leading zeros, {significant} significant bits")
            self.window = (significant, trailing)
        if self.window is None:
            raise ValueError("a value reuses a bit window before any was set")
        significant, trailing = self.window
        self.value ^= reader.read(significant) << trailing
        self.last_width = significant
        return self.value


@dataclass(frozen=True)
class XorChunk:
    """A decoded XOR chunk and how its bytes end.

    Prometheus pads the last byte with zeros. Before 3.0 (fixed by prometheus#14854) its bit writer
    also left a spare zero byte when the stream ended on a byte boundary with a field written as
    whole bytes (a first value, or a value window of 8, 16 ... 64 bits).
    """

    samples: list[BitsSample]
    spare_byte: bool  # a zero byte follows the bits of the last sample and their padding
    ends_on_whole_bytes: bool  # the stream ends on a byte boundary with a whole-byte field


def decode_xor(data: bytes) -> XorChunk:
    """The samples of an XOR chunk; raises ValueError unless only zero padding and at most a spare byte follow."""
    if len(data) < 2:
        raise ValueError("an XOR chunk has a 2-byte header")
    count = int.from_bytes(data[:2], "big")
    reader = BitReader(data[2:])
    samples: list[BitsSample] = []
    if not count:
        return _ending(samples, reader, whole_bytes=False)
    time = reader.varint()
    values = _ValueReader(reader.read(64))
    samples.append((time, values.value))
    delta = 0
    for index in range(1, count):
        delta = reader.uvarint() if index == 1 else (delta + _read_dod(reader)) % _INT64
        time = _signed64(time + delta)
        samples.append((time, values.next(reader)))
    return _ending(samples, reader, whole_bytes=values.last_width > 0 and values.last_width % 8 == 0)


def _ending(samples: list[BitsSample], reader: BitReader, whole_bytes: bool) -> XorChunk:
    if reader.rest():
        raise ValueError(f"the {reader.left} bits after the last sample are not zero: {reader.rest():#x}")
    if reader.left > 8:
        raise ValueError(f"{reader.left} bits after the last sample")
    return XorChunk(samples, reader.left == 8, whole_bytes and reader.left % 8 == 0)


@dataclass(frozen=True)
class Chunk:
    min_time: int
    max_time: int
    type: int
    samples: list[BitsSample]
    data: bytes
    spare_byte: bool  # see XorChunk
    ends_on_whole_bytes: bool


@dataclass(frozen=True)
class StreamedSeries:
    """One ChunkedSeries of one frame; ``frame_bytes`` is the frame's size on the wire."""

    query_index: int
    labels: Labels
    chunks: list[Chunk]
    frame_index: int
    frame_bytes: int
    series_in_frame: int


def _uvarint_at(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data):
            raise ValueError("stream ends inside a frame length")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def _frames(stream: bytes) -> Iterator[tuple[bytes, int]]:
    """Each frame's message and size on the wire, after checking its CRC-32C."""
    pos = 0
    while pos < len(stream):
        length, body = _uvarint_at(stream, pos)
        end = body + 4 + length
        if end > len(stream):
            raise ValueError(f"frame at byte {pos} wants {length} bytes, the stream ends first")
        expected = int.from_bytes(stream[body : body + 4], "big")
        message = stream[body + 4 : end]
        actual = crc32c_bitwise(message)
        if actual != expected:
            raise ValueError(f"frame at byte {pos}: CRC-32C {actual:#010x}, header says {expected:#010x}")
        yield message, end - pos
        pos = end


def _chunk(chunk: types_pb2.Chunk) -> Chunk:
    decoded = decode_xor(chunk.data) if chunk.type == XOR else XorChunk([], False, False)
    return Chunk(
        chunk.min_time_ms,
        chunk.max_time_ms,
        chunk.type,
        decoded.samples,
        chunk.data,
        decoded.spare_byte,
        decoded.ends_on_whole_bytes,
    )


def read_stream(stream: bytes) -> list[StreamedSeries]:
    """Every series of every frame, in stream order, with its chunks decoded."""
    result = []
    for frame_index, (message, size) in enumerate(_frames(stream)):
        response = remote_pb2.ChunkedReadResponse.FromString(message)
        for series in response.chunked_series:
            labels = tuple((label.name, label.value) for label in series.labels)
            chunks = [_chunk(chunk) for chunk in series.chunks]
            count = len(response.chunked_series)
            result.append(StreamedSeries(response.query_index, labels, chunks, frame_index, size, count))
    return result


def _check_chunk(labels: Labels, chunk: Chunk, max_samples: int, prometheus2: bool) -> None:
    where = f"{labels} chunk [{chunk.min_time}, {chunk.max_time}]"
    assert chunk.type == XOR, f"{where}: type {chunk.type}, not XOR"
    assert chunk.spare_byte == (prometheus2 and chunk.ends_on_whole_bytes), f"{where}: spare byte {chunk.spare_byte}"
    assert 1 <= len(chunk.samples) <= max_samples, f"{where}: {len(chunk.samples)} samples"
    times = [t for t, _ in chunk.samples]
    assert times == sorted(set(times)), f"{where}: times not strictly ascending"
    assert (times[0], times[-1]) == (chunk.min_time, chunk.max_time), f"{where}: samples span {times[0]}..{times[-1]}"


def _check_series(series: StreamedSeries, max_frame_bytes: int, max_samples: int, prometheus2: bool) -> None:
    assert series.frame_bytes <= max_frame_bytes, f"frame {series.frame_index}: {series.frame_bytes} bytes"
    assert series.series_in_frame == 1, f"frame {series.frame_index}: {series.series_in_frame} series"
    names = [name for name, _ in series.labels]
    assert names == sorted(set(names)), f"labels not sorted and unique: {series.labels}"
    for chunk in series.chunks:
        _check_chunk(series.labels, chunk, max_samples, prometheus2)


def check_stream(
    stream: bytes, max_frame_bytes: int = 1 << 20, max_chunk_samples: int = MAX_CHUNK_SAMPLES, prometheus2: bool = False
) -> list[StreamedSeries]:
    """``read_stream``, asserting what every streamed answer must hold.

    One series per frame (Prometheus' client reads only the first), frames within the limit, series
    sorted by labels within a query (a series may go on in the next frames), chunks XOR, in time
    order without overlap, 1 to ``max_chunk_samples`` samples each, min/max times those of the first/last sample, and
    chunk bytes that end as Prometheus >= 3.0 ends them (as 2.x does with ``prometheus2``).
    """
    decoded = read_stream(stream)
    previous: StreamedSeries | None = None
    for series in decoded:
        _check_series(series, max_frame_bytes, max_chunk_samples, prometheus2)
        if previous is not None and previous.query_index == series.query_index:
            assert previous.labels <= series.labels, f"{series.labels} after {previous.labels}"
            if previous.labels == series.labels and previous.chunks and series.chunks:
                assert previous.chunks[-1].max_time < series.chunks[0].min_time, f"{series.labels}: frames overlap"
        else:
            assert previous is None or previous.query_index < series.query_index, "queries out of order"
        for before, after in itertools.pairwise(series.chunks):
            assert before.max_time < after.min_time, f"{series.labels}: chunks overlap or out of order"
        previous = series
    return decoded


def series_samples(decoded: list[StreamedSeries]) -> dict[tuple[int, Labels], list[BitsSample]]:
    """(query index, labels) -> all samples, joining a series' frames and chunks."""
    joined: dict[tuple[int, Labels], list[BitsSample]] = {}
    for series in decoded:
        samples = joined.setdefault((series.query_index, series.labels), [])
        for chunk in series.chunks:
            samples.extend(chunk.samples)
    return joined
