"""Snappy block-format bodies, with the declared size checked before any memory is committed."""

from __future__ import annotations

import cramjam

from connector.errors import BadRequest, PayloadTooLarge


def declared_length(data: bytes) -> int:
    """The uncompressed length a snappy block declares in its leading uvarint."""
    length = 0
    for shift, byte in zip(range(0, 35, 7), data[:5], strict=False):
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return length
    raise BadRequest("body is not snappy block format: bad length header")


def decompress(data: bytes, limit: int) -> bytes:
    """Decompress a snappy block; 413 when it would exceed ``limit`` bytes, 400 when corrupt."""
    if not data:
        raise BadRequest("empty body: expected a snappy-compressed protobuf message")
    size = declared_length(data)
    if size > limit:
        raise PayloadTooLarge(f"decompressed body would be {size} bytes, above the limit of {limit}")
    try:
        return bytes(cramjam.snappy.decompress_raw(data))
    except cramjam.DecompressionError as exc:
        raise BadRequest(f"body is not valid snappy block format: {exc}") from None


def compress(data: bytes) -> bytes:
    return bytes(cramjam.snappy.compress_raw(data))
