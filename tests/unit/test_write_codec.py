import pytest

from connector.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from connector.prom import snappy
from connector.prom.write_codec import V1_PROTO, V2_PROTO, negotiate
from connector.prom.write_v1 import decode_write_request, parse_series
from tests.helpers import WRITE_HEADERS, v2_body, write_request


@pytest.mark.parametrize(
    ("content_type", "proto"),
    [
        ("application/x-protobuf", V1_PROTO),
        ("application/x-protobuf;proto=prometheus.WriteRequest", V1_PROTO),
        ('Application/X-Protobuf; proto="prometheus.WriteRequest"', V1_PROTO),
        ("application/x-protobuf;proto=io.prometheus.write.v2.Request", V2_PROTO),
        ('application/x-protobuf; PROTO="io.prometheus.write.v2.Request"', V2_PROTO),
    ],
)
def test_the_schema_comes_from_the_content_type(content_type: str, proto: str) -> None:
    assert negotiate({"content-type": content_type, "content-encoding": "snappy"}) == proto


@pytest.mark.parametrize(
    ("content_type", "encoding"),
    [
        ("application/x-protobuf;proto=io.prometheus.write.v2.request", "snappy"),
        ("application/x-protobuf;proto=io.prometheus.write.v3.Request", "snappy"),
        ("application/json;proto=io.prometheus.write.v2.Request", "snappy"),
        ("application/x-protobuf;proto=io.prometheus.write.v2.Request", "gzip"),
        ("application/json", "snappy"),
        ("", "snappy"),
        ("application/x-protobuf", "gzip"),
        ("application/x-protobuf", "zstd"),
    ],
)
def test_other_content_types_and_encodings_are_415(content_type: str, encoding: str) -> None:
    with pytest.raises(UnsupportedMediaType):
        negotiate({"content-type": content_type, "content-encoding": encoding})


def test_the_415_names_both_supported_messages() -> None:
    with pytest.raises(UnsupportedMediaType, match=f"{V1_PROTO}.*{V2_PROTO}"):
        negotiate({"content-type": "application/x-protobuf;proto=x.Y"})


def test_a_2_0_body_declared_as_1_0_is_400_not_an_empty_success() -> None:
    body = v2_body([([("__name__", "up"), ("job", "x")], [(7, 2.0)])])
    with pytest.raises(BadRequest, match=r"io\.prometheus\.write\.v2\.Request"):
        decode_write_request(_headers(), body, 1 << 20)


def _headers() -> dict[str, str]:
    return {k.lower(): v for k, v in WRITE_HEADERS.items()}


def test_corrupt_snappy_is_400() -> None:
    with pytest.raises(BadRequest, match="snappy"):
        decode_write_request(_headers(), b"\x10not snappy at all", 1 << 20)


def test_empty_body_is_400() -> None:
    with pytest.raises(BadRequest, match="empty"):
        decode_write_request(_headers(), b"", 1 << 20)


def test_truncated_protobuf_is_400() -> None:
    raw = write_request([([("__name__", "up"), ("job", "x")], [(1, 1.0)])])
    with pytest.raises(BadRequest, match="protobuf"):
        decode_write_request(_headers(), snappy.compress(raw[:-3]), 1 << 20)


def test_a_snappy_header_claiming_gigabytes_is_refused_before_decompressing() -> None:
    claim = bytes([0xFF, 0xFF, 0xFF, 0xFF, 0x0F]) + b"\x00" * 8  # declares 4 GiB
    with pytest.raises(PayloadTooLarge):
        decode_write_request(_headers(), claim, 64 << 20)


def test_valid_body_decodes() -> None:
    raw = write_request([([("__name__", "up"), ("job", "x")], [(7, 2.0)])])
    message = decode_write_request(_headers(), snappy.compress(raw), 1 << 20)
    assert parse_series(message.timeseries[0]).samples[0].timestamp == 7
