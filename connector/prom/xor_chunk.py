"""Prometheus' XOR chunk encoding (``tsdb/chunkenc``), byte for byte, in pure Python.

STREAMED_XOR_CHUNKS answers carry these bytes and Prometheus decodes them with its own iterator,
so the layout follows its appender exactly, down to the zero padding of the last byte. Values are
only ever handled as 64-bit patterns, so NaN payloads and staleness markers survive unchanged.

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
