import pytest

from connector.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from connector.prom import snappy
from connector.prom.write_codec import check_content_type, decode_write_request
from tests.helpers import WRITE_HEADERS, write_request


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-protobuf",
        "application/x-protobuf;proto=prometheus.WriteRequest",
        'Application/X-Protobuf; proto="prometheus.WriteRequest"',
    ],
)
def test_remote_write_1_content_types_are_accepted(content_type: str) -> None:
    check_content_type({"content-type": content_type, "content-encoding": "snappy"})


@pytest.mark.parametrize(
    ("content_type", "encoding"),
    [
        ("application/x-protobuf;proto=io.prometheus.write.v2.Request", "snappy"),
        ("application/json", "snappy"),
        ("", "snappy"),
        ("application/x-protobuf", "gzip"),
        ("application/x-protobuf", "zstd"),
    ],
)
def test_other_content_types_and_encodings_are_415(content_type: str, encoding: str) -> None:
    with pytest.raises(UnsupportedMediaType):
        check_content_type({"content-type": content_type, "content-encoding": encoding})


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
    assert message.timeseries[0].samples[0].timestamp == 7
