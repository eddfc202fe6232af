"""Raw protobuf and snappy bytes crafted by hand, to say exactly what is on the wire (and to lie)."""

from __future__ import annotations

import struct

VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int64 values are ten bytes on the wire, as protobuf writes them
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def tag(field: int, wire_type: int) -> bytes:
    return varint(field << 3 | wire_type)


def ld(field: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return tag(field, LEN) + varint(len(payload)) + payload


def label(name: bytes | str, value: bytes | str) -> bytes:
    """A ``TimeSeries.labels`` entry; bytes are sent verbatim (not necessarily UTF-8)."""
    name_b = name.encode() if isinstance(name, str) else name
    value_b = value.encode() if isinstance(value, str) else value
    return ld(1, ld(1, name_b) + ld(2, value_b))


def sample(timestamp_ms: int, value: float) -> bytes:
    """A ``TimeSeries.samples`` entry."""
    return ld(2, tag(1, I64) + struct.pack("<d", value) + tag(2, VARINT) + varint(timestamp_ms))


def series(*parts: bytes) -> bytes:
    """A ``WriteRequest.timeseries`` entry made of already encoded labels, samples, anything."""
    return ld(1, b"".join(parts))


def snappy_literal(data: bytes, declared: int | None = None) -> bytes:
    """Snappy block format by hand: a length header (true or not) and ``data`` as literal chunks."""
    out = bytearray(varint(len(data) if declared is None else declared))
    for i in range(0, len(data), 60):
        chunk = data[i : i + 60]
        out.append((len(chunk) - 1) << 2)  # literal tag, length-1 in the upper six bits
        out += chunk
    return bytes(out)


# ---- remote write 2.0 (io.prometheus.write.v2.Request) --------------------------------------------


def symbol(text: bytes | str) -> bytes:
    """A ``Request.symbols`` entry; bytes are sent verbatim (not necessarily UTF-8)."""
    return ld(4, text.encode() if isinstance(text, str) else text)


def refs(*indexes: int) -> bytes:
    """``TimeSeries.labels_refs``, packed as protobuf writes repeated scalars."""
    return ld(1, b"".join(varint(i) for i in indexes))


def v2_sample(timestamp_ms: int, value: float, start_ms: int = 0) -> bytes:
    """A ``TimeSeries.samples`` entry; ``start_ms`` is rc.4's ``Sample.start_timestamp``."""
    start = tag(3, VARINT) + varint(start_ms) if start_ms else b""
    return ld(2, tag(1, I64) + struct.pack("<d", value) + tag(2, VARINT) + varint(timestamp_ms) + start)


def v2_series(*parts: bytes) -> bytes:
    """A ``Request.timeseries`` entry made of already encoded refs, samples, anything."""
    return ld(5, b"".join(parts))
