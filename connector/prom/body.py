"""Request bodies both remote-write and remote-read share: snappy-compressed protobuf."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from connector.errors import BadRequest, UnsupportedMediaType
from connector.prom import snappy

PROTOBUF = "application/x-protobuf"
M = TypeVar("M", bound=Message)


def content_type_params(headers: Mapping[str, str]) -> dict[str, str]:
    """The Content-Type parameters of a snappy protobuf body; 415 for any other type or encoding."""
    content_type = headers.get("content-type", "")
    media, *params = (part.strip() for part in content_type.split(";"))
    if media.lower() != PROTOBUF:
        raise UnsupportedMediaType(f"unsupported Content-Type {content_type[:100]!r}: expected {PROTOBUF}")
    encoding = headers.get("content-encoding", "snappy").strip().lower()
    if encoding != "snappy":
        raise UnsupportedMediaType(f"unsupported Content-Encoding {encoding[:100]!r}: expected snappy")
    parsed = {}
    for param in params:
        key, _, value = param.partition("=")
        parsed[key.strip().lower()] = value.strip().strip('"')
    return parsed


def decode(body: bytes, limit: int, message_type: type[M]) -> M:
    """The message in a snappy block body: 413 beyond ``limit`` bytes, 400 when corrupt."""
    return decode_sized(body, limit, message_type)[0]


def decode_sized(body: bytes, limit: int, message_type: type[M]) -> tuple[M, int]:
    """``decode``'s message and the size of the protobuf it was read from."""
    raw = snappy.decompress(body, limit)
    try:
        return message_type.FromString(raw), len(raw)
    except DecodeError as exc:
        name = message_type.DESCRIPTOR.full_name
        raise BadRequest(f"body is not a valid {name} protobuf: {exc}") from None
