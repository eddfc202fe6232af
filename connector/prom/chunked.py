"""STREAMED_XOR_CHUNKS remote-read answers: series as XOR chunks in CRC-checked, length-prefixed frames.

Prometheus' client (storage/remote/codec.go, ``chunkedSeriesSet.Next``) reads only the first
``ChunkedSeries`` of each frame and makes each frame a series of its own; nothing downstream merges
two consecutive series with the same labels (storage/merge.go merges across queriers only). So a
series is never split over frames, although the protocol allows it and Prometheus' own server does
once a series passes ``--storage.remote.read-max-bytes-in-frame`` (1 MiB): the client would see it
twice. Frames stay under 1 MiB for series of up to some 130,000 random full-precision samples (more
for typical metrics, whose values repeat or change little); a longer series
takes one larger frame, which the client reads up to its ``chunked_read_limit`` (50 MB by
default); a series beyond that is refused. A series without samples is sent with no chunks: the
client's iterator reads that as an empty series, just as a SAMPLES answer with no samples.

Reading such a stream (the backfill reads Prometheus' own ``/api/v1/read``): ``read_frames`` checks
each frame's length and CRC as it arrives, and ``decoded_series`` turns a frame's series into samples.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import BinaryIO

import google_crc32c

from connector.errors import BadRequest, PayloadTooLarge
from connector.prom.series import Sample, Series
from connector.prom.xor_chunk import decode_xor, encode_xor, uvarint
from prompb import remote_pb2, types_pb2

CONTENT_TYPE = "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"
SAMPLES = remote_pb2.ReadRequest.SAMPLES
STREAMED_XOR_CHUNKS = remote_pb2.ReadRequest.STREAMED_XOR_CHUNKS
SUPPORTED = (SAMPLES, STREAMED_XOR_CHUNKS)
SAMPLES_PER_CHUNK = 120  # where Prometheus aims to cut its head chunks
# The largest frame Prometheus' client reads unless configured otherwise (remote_read chunked_read_limit).
CLIENT_FRAME_LIMIT = 50_000_000
_CRC_BYTES = 4


class UnsupportedResponseType(BadRequest):
    """The client accepts no response type this connector can send."""


def negotiate(accepted: Sequence[int]) -> int:
    """The first of the client's accepted response types that is supported; SAMPLES if it lists none."""
    for response_type in accepted or (SAMPLES,):
        if response_type in SUPPORTED:
            return response_type
    supported = ", ".join(f"{remote_pb2.ReadRequest.ResponseType.Name(t)} ({t})" for t in SUPPORTED)
    raise UnsupportedResponseType(
        f"none of the accepted response types {list(accepted)} is supported; supported: {supported}"
    )


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum of every frame; ``zlib.crc32`` uses another polynomial."""
    return int(google_crc32c.value(data))


def frame(message: bytes) -> bytes:
    """One frame: the message's length as uvarint, its CRC-32C as 4 big-endian bytes, the message."""
    return uvarint(len(message)) + crc32c(message).to_bytes(_CRC_BYTES, "big") + message


def chunked_frames(query_index: int, series: Iterable[Series]) -> Iterator[bytes]:
    """The frames answering one query: one per series, in the order given (sorted by labels)."""
    for one in series:
        yield series_frame(query_index, one)


def series_frame(query_index: int, series: Series) -> bytes:
    """One series, all its chunks, in one frame; PayloadTooLarge past what clients read by default."""
    response = remote_pb2.ChunkedReadResponse(query_index=query_index)
    labels = [types_pb2.Label(name=name, value=value) for name, value in series.labels]
    response.chunked_series.add(labels=labels, chunks=list(_chunks(series.samples)))
    message = response.SerializeToString()
    if len(message) > CLIENT_FRAME_LIMIT:
        raise PayloadTooLarge(
            f"series {_describe(series.labels)} needs a {len(message)}-byte frame, above the {CLIENT_FRAME_LIMIT} "
            "bytes Prometheus reads by default (chunked_read_limit); narrow the time range"
        )
    return frame(message)


def _chunks(samples: Sequence[Sample]) -> Iterator[types_pb2.Chunk]:
    for start in range(0, len(samples), SAMPLES_PER_CHUNK):
        part = samples[start : start + SAMPLES_PER_CHUNK]
        yield types_pb2.Chunk(
            min_time_ms=part[0][0], max_time_ms=part[-1][0], type=types_pb2.Chunk.XOR, data=encode_xor(part)
        )


def _describe(labels: Sequence[tuple[str, str]]) -> str:
    return "{" + ", ".join(f"{name}={value!r}" for name, value in labels)[:300] + "}"


class StreamError(ValueError):
    """A streamed answer that ends inside a frame, fails a CRC, or holds a frame past the size limit."""


def read_frames(stream: BinaryIO, limit: int = CLIENT_FRAME_LIMIT) -> Iterator[remote_pb2.ChunkedReadResponse]:
    """Each frame of ``stream`` as it arrives, after checking its length and CRC-32C.

    A frame is read whole before it is parsed, so memory stays within ``limit`` bytes a frame
    however long the stream. A stream may end only between frames.
    """
    offset = index = 0
    while True:
        length, header = _frame_length(stream, offset)
        if length is None:
            return
        if length > limit:
            raise StreamError(f"frame {index} at byte {offset} declares {length} bytes, above the limit of {limit}")
        checksum = _exactly(stream, _CRC_BYTES, offset, "its CRC")
        message = _exactly(stream, length, offset, f"its {length}-byte message")
        if crc32c(message) != int.from_bytes(checksum, "big"):
            raise StreamError(
                f"frame {index} at byte {offset}: CRC-32C {crc32c(message):#010x}, "
                f"the frame says {int.from_bytes(checksum, 'big'):#010x}"
            )
        yield remote_pb2.ChunkedReadResponse.FromString(message)
        offset += header + _CRC_BYTES + length
        index += 1


def _frame_length(stream: BinaryIO, offset: int) -> tuple[int | None, int]:
    """The uvarint length of the next frame and its byte count; (None, 0) at the end of the stream."""
    value = shift = count = 0
    while True:
        byte = stream.read(1)
        if not byte:
            if count:
                raise StreamError(f"the stream ends inside the length of the frame at byte {offset}")
            return None, 0
        count += 1
        value |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return value, count
        shift += 7
        if shift > 63:
            raise StreamError(f"the frame at byte {offset} has a length longer than 10 bytes")


def _exactly(stream: BinaryIO, size: int, offset: int, what: str) -> bytes:
    parts = []
    missing = size
    while missing:
        part = stream.read(missing)
        if not part:
            raise StreamError(f"the stream ends inside {what} of the frame at byte {offset}")
        parts.append(part)
        missing -= len(part)
    return b"".join(parts)


def decoded_series(response: remote_pb2.ChunkedReadResponse) -> Iterator[tuple[Series, int]]:
    """Each series of a frame with the samples of its XOR chunks, and how many chunks of other
    types (native histograms) it had, which this connector cannot store."""
    for series in response.chunked_series:
        samples: list[Sample] = []
        others = 0
        for chunk in series.chunks:
            if chunk.type == types_pb2.Chunk.XOR:
                samples.extend(decode_xor(chunk.data))
            else:
                others += 1
        yield Series(tuple((label.name, label.value) for label in series.labels), samples), others
