"""Rows to series across page boundaries, special values, and the remote-read wire format."""

from __future__ import annotations

import math
import random
import struct

import pytest

from connector.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from connector.http import Headers
from connector.prom import snappy
from connector.prom.read_codec import decode_read_request, encode_samples
from connector.prom.series import Series
from connector.timestream.read_sql import Layout
from connector.timestream.schema import STALE_NAN_BITS
from connector.timestream.series import SeriesBuilder
from prompb import remote_pb2
from tests.helpers import float_bits

HEADERS = Headers({"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"})


def layout(*labels: str, name: bool = False, special: bool = True) -> Layout:
    return Layout(labels, has_name=name, has_special=special, samples=True)


def key(*parts: str | None) -> str:
    """A series key as Timestream builds it (values here hold no ``|`` or ``\\``); NULL is ""."""
    return "|".join(part or "" for part in parts)


def row(name: str, labels: list[str | None], special: str | None, t: int, v: str) -> list[str]:
    """Cells for ``layout(*labels)`` (special column included)."""
    return [key(name, *labels), special or "", v, str(t)]


def flat(rows: list[list[str]]) -> list[str]:
    return [cell for r in rows for cell in r]


def test_rows_group_into_series_whatever_the_pages() -> None:
    rows = [row("up", ["a" if i % 2 else None, "x"], None, 1000 - i, f"{i}.5") for i in range(100)]
    random.Random(7).shuffle(rows)
    for page_size in (1, 3, 100):
        builder = SeriesBuilder(layout("job", "__u_6c2e6e"))
        builder.add([])  # an empty first page
        for start in range(0, len(rows), page_size):
            builder.add(flat(rows[start : start + page_size]))
        series = builder.series()
        assert [s.labels for s in series] == [
            (("__name__", "up"), ("job", "a"), ("l.n", "x")),
            (("__name__", "up"), ("l.n", "x")),
        ]
        for s in series:
            assert [t for t, _ in s.samples] == sorted(t for t, _ in s.samples)
            assert len(s.samples) == 50
        assert builder.samples == 100


def test_special_values_join_their_series_with_exact_bits() -> None:
    builder = SeriesBuilder(layout("job"))
    builder.add(flat([row("m", ["j"], None, 3, "1.5"), row("m", ["j"], "stale", 2, "0.0")]))
    builder.add(
        flat(
            [
                row("m", ["j"], "NaN", 1, "0.0"),
                row("m", ["j"], "+Inf", 4, "0.0"),
                row("m", ["j"], "-Inf", 5, "0.0"),
                row("m", ["j"], "nan:0x7ff8000000000123", 6, "0.0"),
                row("m", ["j"], None, 7, "0.0"),
            ]
        )
    )
    (series,) = builder.series()
    assert series.labels == (("__name__", "m"), ("job", "j"))
    values = [v for _, v in series.samples]
    assert [t for t, _ in series.samples] == [1, 2, 3, 4, 5, 6, 7]
    assert float_bits(values[0]) == 0x7FF8000000000001
    assert float_bits(values[1]) == STALE_NAN_BITS
    assert values[2] == 1.5 and values[3] == math.inf and values[4] == -math.inf
    assert float_bits(values[5]) == 0x7FF8000000000123
    assert float_bits(values[6]) == 0  # an ordinary 0.0 after specials stays 0.0


def test_doubles_parse_losslessly() -> None:
    builder = SeriesBuilder(layout(special=False))
    texts = ["0.1", "1e-300", "5e-324", "1.7976931348623157e+308", "-0.0", "1.0E-5", "123456789012345680000.0"]
    builder.add(flat([["m", t, str(i)] for i, t in enumerate(texts)]))  # a key of the measure name alone
    (series,) = builder.series()
    assert [float_bits(v) for _, v in series.samples] == [float_bits(float(t)) for t in texts]


def test_foreign_columns_are_labels_verbatim() -> None:
    builder = SeriesBuilder(layout("__u_zz", "job", special=False))
    builder.add([key("m", "a", ""), "1.0", "1"])
    assert builder.series()[0].labels == (("__name__", "m"), ("__u_zz", "a"))  # "" is the absent label


def test_true_names_come_from_the_name_column_and_merge_across_measures() -> None:
    builder = SeriesBuilder(layout("job", name=True, special=False))
    builder.add(
        [
            *[key("a_b", "a:b", "j"), "1.0", "2"],
            *[key("a:b", "", "j"), "2.0", "1"],  # the same series, stored by another writer
            *[key("a_b", "", "j"), "3.0", "1"],
        ]
    )
    assert [(s.labels, s.samples) for s in builder.series()] == [
        ((("__name__", "a:b"), ("job", "j")), [(1, 2.0), (2, 1.0)]),
        ((("__name__", "a_b"), ("job", "j")), [(1, 3.0)]),
    ]


def test_a_look_up_builds_series_without_samples() -> None:
    builder = SeriesBuilder(Layout(("job",), has_name=False, has_special=False, samples=False))
    builder.add([key("up", "a"), key("up", "b"), key("up", "a")])
    assert [(s.labels, s.samples) for s in builder.series()] == [
        ((("__name__", "up"), ("job", "a")), []),
        ((("__name__", "up"), ("job", "b")), []),
    ]


def test_samples_response_round_trips() -> None:
    stale = struct.unpack(">d", struct.pack(">Q", STALE_NAN_BITS))[0]
    results = [
        [Series((("__name__", "a"), ("job", "x")), [(1, 1.0), (2, stale)])],
        [],
        [Series((("__name__", "b"),), [(-5, -math.inf)])],
    ]
    response = remote_pb2.ReadResponse.FromString(encode_samples(results))
    assert len(response.results) == 3
    first = response.results[0].timeseries[0]
    assert [(label.name, label.value) for label in first.labels] == [("__name__", "a"), ("job", "x")]
    assert float_bits(first.samples[1].value) == STALE_NAN_BITS
    assert response.results[2].timeseries[0].samples[0].timestamp == -5
    assert not response.results[1].timeseries


def test_read_request_decoding_and_refusals() -> None:
    request = remote_pb2.ReadRequest(queries=[remote_pb2.Query(start_timestamp_ms=1, end_timestamp_ms=2)])
    body = snappy.compress(request.SerializeToString())
    assert decode_read_request(HEADERS, body, 1 << 20).queries[0].end_timestamp_ms == 2
    with pytest.raises(BadRequest):
        decode_read_request(HEADERS, b"\x10garbage-not-snappy", 1 << 20)
    with pytest.raises(BadRequest):
        decode_read_request(HEADERS, snappy.compress(b"\xff\xff\xff"), 1 << 20)
    with pytest.raises(BadRequest):
        decode_read_request(HEADERS, b"", 1 << 20)
    with pytest.raises(PayloadTooLarge):
        decode_read_request(HEADERS, body, 3)
    with pytest.raises(UnsupportedMediaType):
        decode_read_request(Headers({"Content-Type": "application/json"}), body, 1 << 20)
    with pytest.raises(UnsupportedMediaType):
        decode_read_request(Headers({"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}), body, 99)
