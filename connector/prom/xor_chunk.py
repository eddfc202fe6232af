"""Prometheus' XOR chunk encoding (``tsdb/chunkenc``), byte for byte, in pure Python, and its decoding.

STREAMED_XOR_CHUNKS answers carry these bytes and Prometheus decodes them with its own iterator,
so the layout follows its appender exactly, down to the zero padding of the last byte. Values are
only ever handled as 64-bit patterns, so NaN payloads and staleness markers survive unchanged.
``decode_xor`` reads chunks a remote-read source streams (the backfill reads Prometheus' own).

The read path budgets a few microseconds per sample in total, so the bit stream is built in one
Python int per chunk with one shift per sample, and the regular cases (same interval, same value,
a value change inside the previous bit window) take the shortest paths.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from connector.prom.series import Sample

MAX_SAMPLES = 0xFFFF  # the sample count is a 2-byte header
_MASK64 = (1 << 64) - 1
_SIGN64 = 1 << 63


def encode_xor(samples: Sequence[Sample]) -> bytes:
    """The chunk bytes Prometheus' XOR appender holds after appending ``samples`` in order.

    Timestamps are int64 milliseconds; time arithmetic wraps at 64 bits as Prometheus' does.
    """
    count = len(samples)
    if count > MAX_SAMPLES:
        raise ValueError(f"an XOR chunk holds at most {MAX_SAMPLES} samples, got {count}")
    if not count:
        return b"\x00\x00"
    times, values = zip(*samples, strict=True)
    patterns = struct.unpack(f"<{count}Q", struct.pack(f"<{count}d", *values))
    first = times[0]
    head = count.to_bytes(2, "big") + uvarint(((first << 1) ^ (first >> 63)) & _MASK64)
    head += patterns[0].to_bytes(8, "big")
    if count == 1:
        return head
    # The first two samples' fields end on byte boundaries: only what follows is a bit stream.
    head += uvarint((times[1] - first) & _MASK64)
    stream, width = _bit_stream(times, patterns)
    padding = -width % 8
    return head + (stream << padding).to_bytes((width + padding) >> 3, "big")


def uvarint(value: int) -> bytes:
    """``value`` (0 <= value < 2**64) as a protobuf / Go unsigned varint."""
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _bit_stream(times: Sequence[int], patterns: Sequence[int]) -> tuple[int, int]:
    """The bits after the second timestamp, as (bits, bit count): the value of sample 2, then
    a delta-of-delta and a value per later sample.

    A value change is stored in the window of significant bits of the last explicitly sized
    change when it fits (``outside`` masks the bits it must not have), else with a new window.
    """
    value = patterns[1]
    changed = value ^ patterns[0]
    if changed:
        stream, width, outside, trailing, significant = _new_window(changed)
    else:
        stream, width, outside, trailing, significant = 0, 1, _MASK64, 0, 0
    last_time = times[1]
    last_delta = last_time - times[0]
    for time, pattern in zip(times[2:], patterns[2:], strict=True):
        delta = time - last_time
        dod = delta - last_delta
        last_time, last_delta = time, delta
        changed = pattern ^ value
        value = pattern
        if not dod:
            if not changed:
                stream <<= 2
                width += 2
                continue
            prefix, prefix_width = 0, 1
        elif -8191 <= dod <= 8192:
            prefix, prefix_width = 0x8000 | (dod & 0x3FFF), 16
        else:
            prefix, prefix_width = _wide_dod(dod)
        if not changed:
            stream = (stream << (prefix_width + 1)) | (prefix << 1)
            width += prefix_width + 1
        elif not changed & outside:
            shift = prefix_width + 2 + significant
            stream = (stream << shift) | (((prefix << 2) | 0b10) << significant) | (changed >> trailing)
            width += shift
        else:
            field, field_width, outside, trailing, significant = _new_window(changed)
            shift = prefix_width + field_width
            stream = (stream << shift) | (prefix << field_width) | field
            width += shift
    return stream, width


def _wide_dod(dod: int) -> tuple[int, int]:
    """A delta-of-delta outside the 14-bit bucket as (bits, bit count), after 64-bit wrapping.

    Each bucket of n bits holds -(2**(n-1) - 1) .. 2**(n-1), as Prometheus' ``bitRange``.
    """
    dod = ((dod + _SIGN64) & _MASK64) - _SIGN64
    if not dod:
        return 0, 1
    if -8191 <= dod <= 8192:
        return 0x8000 | (dod & 0x3FFF), 16
    if -65535 <= dod <= 65536:
        return (0b110 << 17) | (dod & 0x1FFFF), 20
    if -524287 <= dod <= 524288:
        return (0b1110 << 20) | (dod & 0xFFFFF), 24
    return (0b1111 << 64) | (dod & _MASK64), 68


def _new_window(changed: int) -> tuple[int, int, int, int, int]:
    """``11``, 5 bits of leading zeros, 6 of significant-bit count, then the significant bits.

    Leading zeros are clamped to 31 to fit 5 bits (the window then starts higher than needed) and
    a count of 64 is written as 0. Returns the field, its width, and the new window as a mask of
    the bits outside it, its trailing-zero count and its width.
    """
    leading = min(64 - changed.bit_length(), 31)
    trailing = (changed & -changed).bit_length() - 1
    significant = 64 - leading - trailing
    field = (((0b11 << 5 | leading) << 6 | (significant & 0x3F)) << significant) | (changed >> trailing)
    outside = _MASK64 ^ (((1 << significant) - 1) << trailing)
    return field, 13 + significant, outside, trailing, significant


class ChunkError(ValueError):
    """XOR chunk bytes that end before their last sample, or hold a field no encoder writes."""


def decode_xor(data: bytes) -> list[Sample]:
    """The samples of an XOR chunk, in order, each value bit for bit as encoded.

    What follows the last sample (zero padding, or the spare zero byte Prometheus 2.x leaves after
    some chunks) is ignored, as Prometheus' own iterator ignores it. ``ChunkError`` names what is
    missing when the bytes end early.
    """
    if len(data) < 2:
        raise ChunkError(f"an XOR chunk starts with a 2-byte sample count, got {len(data)} bytes")
    count = int.from_bytes(data[:2], "big")
    if not count:
        return []
    zigzag, pos = _uvarint_at(data, 2, "the first timestamp")
    time = (zigzag >> 1) ^ -(zigzag & 1)
    if pos + 8 > len(data):
        raise ChunkError(f"an XOR chunk of {count} samples ends inside its first value")
    times = [time]
    patterns = [int.from_bytes(data[pos : pos + 8], "big")]
    if count > 1:
        delta, pos = _uvarint_at(data, pos + 8, "the second timestamp")
        rest = data[pos:]
        _read_stream(int.from_bytes(rest, "big"), 8 * len(rest), count, delta, times, patterns)
    values = struct.unpack(f">{count}d", struct.pack(f">{count}Q", *patterns))
    return list(zip(times, values, strict=True))


def _uvarint_at(data: bytes, pos: int, what: str) -> tuple[int, int]:
    """The unsigned varint at ``pos`` and the position after it."""
    value = shift = 0
    while pos < len(data):
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if value > _MASK64:
                raise ChunkError(f"{what} of an XOR chunk overflows 64 bits")
            return value, pos
        shift += 7
        if shift > 63:
            raise ChunkError(f"{what} of an XOR chunk is a varint longer than 10 bytes")
    raise ChunkError(f"an XOR chunk ends inside {what}")


def _read_stream(bits: int, left: int, count: int, delta: int, times: list[int], patterns: list[int]) -> None:
    """Append samples 2..count read from the bit stream ``bits`` (``left`` bits long, most significant first).

    Sample 2 has its time delta already (``delta``) and only a value here; each later one has a
    delta-of-delta (``0`` | ``10``+14 | ``110``+17 | ``1110``+20 | ``1111``+64 bits) and then a value.
    """
    time = times[0]
    value = patterns[0]
    trailing = significant = -1  # no value window yet
    for index in range(1, count):
        if index > 1:
            if left < 1:
                raise _ended(index, count, "delta-of-delta")
            if not (bits >> (left - 1)) & 1:
                left -= 1
            else:
                dod, left = _delta_of_delta(bits, left, index, count)
                delta = (delta + dod) & _MASK64
        time = ((time + delta + _SIGN64) & _MASK64) - _SIGN64
        if left < 1:
            raise _ended(index, count, "value")
        left -= 1
        if (bits >> left) & 1:
            if left < 1:
                raise _ended(index, count, "value")
            left -= 1
            if (bits >> left) & 1:  # a new window: 5 bits of leading zeros, 6 of significant-bit count
                if left < 11:
                    raise _ended(index, count, "value window")
                left -= 11
                header = (bits >> left) & 0x7FF
                significant = header & 0x3F or 64
                trailing = 64 - (header >> 6) - significant
                if trailing < 0:
                    raise ChunkError(
                        f"sample {index + 1} of an XOR chunk has {header >> 6} leading zeros and "
                        f"{significant} significant bits, more than 64"
                    )
            elif significant < 0:
                raise ChunkError(f"sample {index + 1} of an XOR chunk reuses a value window before any was set")
            if left < significant:
                raise _ended(index, count, "value")
            left -= significant
            value ^= ((bits >> left) & ((1 << significant) - 1)) << trailing
        times.append(time)
        patterns.append(value)


# Delta-of-delta prefixes after the first 1 bit: (prefix bits in all, payload bits).
_DOD_BUCKETS = ((2, 14), (3, 17), (4, 20))


def _delta_of_delta(bits: int, left: int, index: int, count: int) -> tuple[int, int]:
    """A non-zero delta-of-delta starting at the stream's next bit (a 1), and the bits left after it."""
    for prefix, width in _DOD_BUCKETS:
        if left < prefix:
            break
        if not (bits >> (left - prefix)) & 1:  # the bucket's terminating 0
            if left - prefix < width:
                break
            left -= prefix + width
            raw = (bits >> left) & ((1 << width) - 1)
            # n bits hold -(2**(n-1) - 1) .. 2**(n-1): larger patterns are negative.
            return (raw - (1 << width) if raw > 1 << (width - 1) else raw), left
    else:
        if left >= 68:
            left -= 68
            raw = (bits >> left) & _MASK64
            return raw - (1 << 64) if raw & _SIGN64 else raw, left
    raise _ended(index, count, "delta-of-delta")


def _ended(index: int, count: int, field: str) -> ChunkError:
    return ChunkError(f"an XOR chunk of {count} samples ends inside the {field} of sample {index + 1}")
