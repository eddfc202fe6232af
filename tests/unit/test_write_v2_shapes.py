"""2.0 bodies of every shape the wire allows, and bytes that only look like one, translate through
``WriteHandler.translate_v2`` exactly as the full ``io.prometheus.write.v2.Request`` schema reads them:
on a cold handler, on the same handler again (warm), and on one handler shared by every body of the
module (warm with other requests' series, whose symbol tables differ: 2.0 indexes are request-relative).

Today's decoder reads the full schema; a faster one (say, ``labels_refs`` read as raw packed bytes
with a lean schema, kept only when nothing was dropped, the joined refs sliced back per series) must
fall back to the full parse for every shape it cannot read, and this corpus is what it must agree on.

The reference is today's path, written out: ``types_pb2.Request.FromString`` of the decompressed body,
the refusals ``decode_v2`` makes before translating (413 beyond 3/4 of the body limit; 400 for a body
protobuf cannot parse, top-level fields 1 to 3 of 1.0, a non-empty ``symbols[0]``, series without a
symbols table; 413 for too many series or samples), then ``translate`` on a fresh
``SeriesCache(labels_of=labels_of)`` with ``SymbolKeys(list(symbols), MAX_LABELS)``.

Agreement. Either both sides refuse the request with the same HTTP status: ``BadRequest`` (400; on the
reference side also protobuf's ``DecodeError``) or ``PayloadTooLarge`` (413), whatever their messages
say, since a refusal writes nothing. Or neither refuses and their translations are equal: the records
in order, each as (dimensions, measure name, time, value, metered size), and the ``invalid`` and
``ignored`` counters, reasons included (a reason is part of the 400 body the sender reads). Any other
exception on the connector's side is a failure, never an agreement.
"""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from google.protobuf.message import DecodeError
from google.protobuf.unknown_fields import UnknownFieldSet
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from connector.config import Settings
from connector.errors import BadRequest, PayloadTooLarge
from connector.prom import snappy
from connector.prom.write_codec import MAX_SAMPLES_PER_REQUEST, MAX_SERIES_PER_REQUEST
from connector.prom.write_v2 import V2_BODY_SHARE, SymbolKeys, labels_of
from connector.timestream.clients import ClientCache
from connector.timestream.records import SeriesCache, Translation, translate
from connector.write import MAX_LABELS, WriteHandler
from prompb.write.v2 import types_pb2
from tests.helpers import STALE_NAN
from tests.robustness import wire
from tests.robustness.wire import EGROUP, I32, I64, SGROUP, VARINT

SETTINGS = Settings()
T = 1_700_000_000_000  # ms: a 6-byte varint, as every sample Prometheus sends today
Outcome = tuple[Any, ...]

# ---- the two sides ----------------------------------------------------------------------------------


def handler(settings: Settings = SETTINGS) -> WriteHandler:
    return WriteHandler(settings, ClientCache(settings))


def translated(result: Translation) -> Outcome:
    records = tuple((r.series.dimensions, r.series.measure, r.time_ms, r.value, r.series.size) for r in result.records)
    return ("translated", records, dict(+result.invalid), dict(+result.ignored))


def reference(raw: bytes, limit: int = SETTINGS.max_body_bytes) -> Outcome:
    """Today's decode and translation of the decompressed body ``raw``, spelled out."""
    if len(raw) > int(limit * V2_BODY_SHARE):
        return ("refused", 413)
    try:
        message = types_pb2.Request.FromString(raw)
    except DecodeError:
        return ("refused", 400)
    if {1, 2, 3} & {field.field_number for field in UnknownFieldSet(message)}:
        return ("refused", 400)
    symbols = list(message.symbols)
    if symbols and symbols[0]:
        return ("refused", 400)
    if message.timeseries and not symbols:
        return ("refused", 400)
    if len(message.timeseries) > MAX_SERIES_PER_REQUEST:
        return ("refused", 413)
    if sum(len(ts.samples) for ts in message.timeseries) > MAX_SAMPLES_PER_REQUEST:
        return ("refused", 413)
    return translated(translate(message.timeseries, SeriesCache(labels_of=labels_of), SymbolKeys(symbols, MAX_LABELS)))


def connector(on: WriteHandler, raw: bytes) -> Outcome:
    try:
        return translated(on.translate_v2(snappy.compress(raw)))
    except PayloadTooLarge:
        return ("refused", 413)
    except BadRequest:
        return ("refused", 400)


SHARED = handler()  # warm across every body of the module, in whatever order the tests run


def agree(raw: bytes) -> Outcome:
    """The reference's outcome, after checking the connector gives it cold, warm and shared-warm."""
    expected = reference(raw)
    fresh = handler()
    assert connector(fresh, raw) == expected, "cold handler"
    assert connector(fresh, raw) == expected, "the same handler again (warm)"
    assert connector(SHARED, raw) == expected, "a handler warm with other requests"
    return expected


# ---- wire pieces ------------------------------------------------------------------------------------


def request(symbols: list[str], *series: bytes) -> bytes:
    return b"".join(map(wire.symbol, symbols)) + b"".join(series)


ts = wire.v2_series
packed = wire.refs


def unpacked(*indexes: int) -> bytes:
    """Each ref its own varint field 1: legal for a packed repeated field, as protobuf must accept."""
    return b"".join(wire.tag(1, VARINT) + wire.varint(i) for i in indexes)


def packed_raw(*varints: bytes) -> bytes:
    """A packed ``labels_refs`` of varints encoded by hand (overlong ones, say)."""
    return wire.ld(1, b"".join(varints))


def overlong(n: int, extra: int) -> bytes:
    """``n`` as a varint ``extra`` bytes longer than needed: legal, and never what protobuf writes."""
    out = bytearray(wire.varint(n))
    out[-1] |= 0x80
    out += b"\x80" * (extra - 1) + b"\x00"
    return bytes(out)


def sample(timestamp_ms: int, value: float, start_ms: int = 0) -> bytes:
    return wire.v2_sample(timestamp_ms, value, start_ms)


def sample_raw(payload: bytes) -> bytes:
    return wire.ld(2, payload)


def f64(field: int, value: float) -> bytes:
    return wire.tag(field, I64) + struct.pack("<d", value)


def uvar(field: int, value: int) -> bytes:
    return wire.tag(field, VARINT) + wire.varint(value)


def meta(type_: int | None = 1, help_ref: int | None = None, unit_ref: int | None = None, extra: bytes = b"") -> bytes:
    parts = [uvar(number, v) for number, v in ((1, type_), (3, help_ref), (4, unit_ref)) if v is not None]
    return wire.ld(5, b"".join(parts) + extra)


def created(ms: int) -> bytes:
    return uvar(6, ms)


def exemplar(refs: list[int], value: float = 2.0, timestamp_ms: int = T) -> bytes:
    return wire.ld(4, packed(*refs) + f64(2, value) + uvar(3, timestamp_ms))


def histogram(count: int = 3, timestamp_ms: int = T) -> bytes:
    return wire.ld(3, uvar(1, count) + f64(3, 1.5) + uvar(15, timestamp_ms))


def unknowns(*numbers: int) -> bytes:
    """Unknown fields of every wire type (varint, 64-bit, length-delimited, 32-bit, group)."""
    out = b""
    for number in numbers:
        out += uvar(number, 7) + f64(number, 1.0) + wire.ld(number, b"\x08\x01") + wire.tag(number, I32) + b"abcd"
        out += wire.tag(number, SGROUP) + uvar(1, 3) + wire.tag(number, EGROUP)
    return out


# ---- the corpus -------------------------------------------------------------------------------------

SYM = [
    "",  # 0
    "__name__",  # 1
    "up",  # 2
    "job",  # 3
    "api",  # 4
    "zone",  # 5
    "a",  # 6
    "say \"hi\" 'there'",  # 7
    "ünïcødé ✓ 日本 🚀",  # 8
    "back\\slash\nnew\tline",  # 9
    "instance",  # 10
    "host:9090",  # 11
    "",  # 12: an empty symbol past 0 is legal
    "counter_total",  # 13
    "A help text",  # 14
    "seconds",  # 15
]
N = len(SYM)
UP = [1, 2, 3, 4]  # {__name__="up", job="api"}
OTHER = [1, 13, 5, 6]  # {__name__="counter_total", zone="a"}, the valid neighbour of every shape
ONE = sample(T, 1.5)

# A symbol table past 16384 entries, so refs take 1, 2 and 3 bytes: names sort as their indexes do.
BIG = ["", "__name__", "up"] + [f"n{i:05d}" for i in range(3, 20_000)]

SERIES_SHAPES: dict[str, tuple[bytes, str]] = {
    # name: (one TimeSeries field over SYM, what it is: "records", "invalid", "ignored", "refused", "any";
    # "mixed" for a request: records beside invalid series)
    "plain": (ts(packed(*UP), ONE), "records"),
    "unicode and quotes": (ts(packed(1, 2, 10, 8, 3, 7, 5, 9), ONE), "records"),
    "unpacked refs": (ts(unpacked(*UP), ONE), "records"),
    "refs split in two packed fields": (ts(packed(1, 2), packed(3, 4), ONE), "records"),
    "refs split around the samples": (ts(packed(1, 2), ONE, packed(3, 4)), "records"),
    "packed then unpacked refs": (ts(packed(1, 2), unpacked(3, 4), ONE), "records"),
    "empty packed field before the refs": (ts(wire.ld(1, b""), packed(*UP), ONE), "records"),
    "overlong ref varints": (ts(packed_raw(overlong(1, 1), b"\x02", overlong(3, 4), overlong(4, 9)), ONE), "records"),
    "overlong unpacked ref": (ts(wire.tag(1, VARINT) + overlong(1, 3), packed(2, 3, 4), ONE), "records"),
    "ref above 2**32 truncated into range": (ts(packed(1, 2, 3, (1 << 32) + 4), ONE), "records"),
    "ref of 10 bytes (-1 as int64)": (ts(packed_raw(b"\x01\x02\x03", wire.varint(-1)), ONE), "invalid"),
    "ref varint of 11 bytes": (ts(packed_raw(b"\x01\x02\x03", b"\x84" + b"\x80" * 9 + b"\x00"), ONE), "refused"),
    "packed refs cut mid-varint": (ts(packed_raw(b"\x01\x02\x03\x84"), ONE), "refused"),
    "odd number of refs": (ts(packed(1, 2, 3), ONE), "invalid"),
    "one ref": (ts(packed(1), ONE), "invalid"),
    "zero refs": (ts(ONE), "invalid"),
    "zero refs, empty packed field": (ts(wire.ld(1, b""), ONE), "invalid"),
    "ref out of range": (ts(packed(1, 2, 3, N), ONE), "invalid"),
    "ref far out of range (5 bytes)": (ts(packed(1, 2, 3, (1 << 32) - 1), ONE), "invalid"),
    "ref out of range (2, 3, 4 bytes)": (ts(packed(1, 200, 3, 20_000), packed(1 << 22, 4), ONE), "invalid"),
    "130 label pairs": (ts(packed(1, 2, *[5, 6] * 129), ONE), "invalid"),
    "help_ref out of range": (ts(packed(*UP), ONE, meta(help_ref=N)), "invalid"),
    "unit_ref out of range": (ts(packed(*UP), ONE, meta(unit_ref=1 << 20)), "invalid"),
    "metadata refs in range": (ts(packed(*UP), ONE, meta(1, 14, 15)), "records"),
    "metadata before the refs": (ts(meta(2, 14, 15), ONE, packed(*UP)), "records"),
    "empty metadata": (ts(packed(*UP), ONE, wire.ld(5, b"")), "records"),
    "explicit zero metadata": (ts(packed(*UP), ONE, meta(0, 0, 0)), "records"),
    "duplicated metadata, merged out of range": (ts(packed(*UP), ONE, meta(help_ref=N), meta(unit_ref=15)), "invalid"),
    "duplicated metadata, last one wins": (ts(packed(*UP), ONE, meta(help_ref=N), meta(help_ref=14)), "records"),
    "unknown metric type": (ts(packed(*UP), ONE, meta(99, 14)), "records"),
    "created_timestamp": (ts(packed(*UP), ONE, created(T - 5000)), "records"),
    "explicit zero created_timestamp": (ts(packed(*UP), ONE, created(0)), "records"),
    "negative created_timestamp": (ts(packed(*UP), ONE, created(-1)), "records"),
    "sample with start_timestamp": (ts(packed(*UP), sample(T, 2.0, T - 60_000)), "records"),
    "several samples": (ts(packed(*UP), *[sample(T + i * 15_000, i * 0.5) for i in range(5)]), "records"),
    "zero samples": (ts(packed(*UP)), "any"),
    "special values": (
        ts(packed(*UP), *[sample(T + i, v) for i, v in enumerate([math.nan, STALE_NAN, math.inf, -math.inf, -0.0])]),
        "records",
    ),
    "NaN payloads": (
        ts(packed(*UP), *[sample_raw(wire.tag(1, I64) + struct.pack("<Q", 0x7FF8000000000000 + i)) for i in range(12)]),
        "records",
    ),
    "explicit zero sample fields": (ts(packed(*UP), sample_raw(f64(1, 0.0) + uvar(2, 0) + uvar(3, 0))), "records"),
    "empty sample": (ts(packed(*UP), sample_raw(b"")), "records"),
    "negative timestamp": (ts(packed(*UP), sample(-1, 1.0)), "records"),
    "sample fields reversed and repeated": (
        ts(packed(*UP), sample_raw(uvar(2, 5) + f64(1, 1.0) + uvar(2, T) + f64(1, 3.25))),
        "records",
    ),
    "exemplars": (ts(packed(*UP), ONE, exemplar([5, 6]), exemplar([10, 11], 3.0)), "ignored"),
    "exemplar with refs out of range": (ts(packed(*UP), ONE, exemplar([5, 1 << 20])), "ignored"),
    "histogram": (ts(packed(*UP), histogram()), "invalid"),
    "histogram and samples": (ts(packed(*UP), ONE, histogram(), histogram(5)), "invalid"),
    "exemplar and histogram on a broken series": (ts(packed(1, 2, 3), ONE, exemplar([5, 6]), histogram()), "invalid"),
    "empty exemplar and histogram": (ts(packed(*UP), ONE, wire.ld(4, b""), wire.ld(3, b"")), "ignored"),
    "corrupt exemplar": (ts(packed(*UP), ONE, wire.ld(4, b"\x0a\x05\x01")), "refused"),
    "corrupt histogram": (ts(packed(*UP), ONE, wire.ld(3, b"\x08")), "refused"),
    "exemplar that is not a message": (ts(packed(*UP), ONE, wire.ld(4, b"\xff\xff\xff")), "refused"),
    "unknown series fields": (ts(packed(*UP), unknowns(7, 99, 536_870_911), ONE), "records"),
    "unknown sample fields": (ts(packed(*UP), sample_raw(f64(1, 1.0) + uvar(2, T) + unknowns(4, 1000))), "records"),
    "unknown metadata fields": (ts(packed(*UP), ONE, meta(1, 14, 15, extra=unknowns(2, 5, 77))), "records"),
    "unknown exemplar fields": (ts(packed(*UP), ONE, wire.ld(4, packed(5, 6) + unknowns(9))), "ignored"),
    "unknown histogram fields": (ts(packed(*UP), wire.ld(3, uvar(1, 1) + unknowns(99))), "invalid"),
    "refs with the wrong wire type": (ts(f64(1, 1.0), packed(*UP), ONE), "records"),
    "samples with the wrong wire type": (ts(packed(*UP), uvar(2, 1), ONE), "records"),
    "metadata with the wrong wire type": (ts(packed(*UP), uvar(5, 3), ONE), "records"),
    "created_timestamp with the wrong wire type": (ts(packed(*UP), wire.ld(6, b"xx"), ONE), "records"),
    "unsorted labels": (ts(packed(3, 4, 1, 2), ONE), "invalid"),
    "repeated label name": (ts(packed(1, 2, 3, 4, 3, 6), ONE), "invalid"),
    "empty label value (index 0)": (ts(packed(1, 2, 3, 0), ONE), "invalid"),
    "empty label value (an empty symbol past 0)": (ts(packed(1, 2, 3, 12), ONE), "invalid"),
    "empty label name": (ts(packed(0, 4, 1, 2), ONE), "invalid"),
    "no metric name": (ts(packed(3, 4), ONE), "invalid"),
    "__name__ with an empty value": (ts(packed(1, 0, 3, 4), ONE), "invalid"),
    "empty series": (ts(), "any"),
    "group-wrapped junk in the series": (
        ts(packed(*UP), wire.tag(8, SGROUP) + ONE + wire.tag(8, EGROUP), ONE),
        "records",
    ),
    "series that is not a message": (wire.ld(5, b"\x0a\x09\x01"), "refused"),
    "truncated sample": (ts(packed(*UP), wire.ld(2, b"\x09\x00\x00")), "refused"),
}

# Series over SYM that may share a request: every shape the connector does not refuse.
KEPT = {name: shape for name, (shape, kind) in SERIES_SHAPES.items() if kind != "refused"}


def big_table_request() -> bytes:
    refs_1 = packed(1, 2, 3, 100)  # 1-byte refs
    refs_2 = packed(1, 2, 3, 200, 16_383, 16_383)  # 2-byte refs
    refs_3 = packed(1, 2, 16_384, 16_385, 19_998, 19_999)  # 3-byte refs
    mixed = packed(1, 2, 127, 128, 16_383, 16_384)  # every boundary in one series
    return request(BIG, *(ts(r, ONE) for r in (refs_1, refs_2, refs_3, mixed)), ts(packed(1, 2, 3, 20_000), ONE))


def huge_table_request() -> bytes:
    """Refs of four bytes in range: 2**21 + 8 symbols, nearly all empty (legal past index 0)."""
    count = (1 << 21) + 8
    high = {1: "__name__", 2: "up", count - 4: "zzz_a", count - 3: "v", count - 2: "zzz_b", count - 1: "w"}
    symbols = b"".join(wire.symbol(high[i]) if i in high else b"\x22\x00" for i in range(count))
    series = ts(packed(1, 2, count - 4, count - 3, count - 2, count - 1), ONE), ts(packed(1, 2, count - 4, count), ONE)
    return symbols + b"".join(series)


def many_labels_request() -> bytes:
    """129 labels (the most refs a series may have) and 128 dimensions, valid or beyond a quota."""
    names = list(range(3, 3 + 128))
    exact = packed(1, 2, *[x for n in names for x in (n, n)])
    beyond = packed(1, 2, *[x for n in [*names, 131] for x in (n, n)])
    return request(BIG, ts(exact, ONE), ts(beyond, ONE), ts(packed(1, 2), ONE))


REQUEST_SHAPES: dict[str, tuple[Callable[[], bytes], str]] = {
    "empty body": (lambda: b"", "any"),
    "symbols only": (lambda: request(SYM), "any"),
    "only an empty symbol": (lambda: request([""]), "any"),
    "refs of 1, 2 and 3 bytes": (big_table_request, "mixed"),
    "refs of 4 bytes": (huge_table_request, "mixed"),
    "129 labels": (many_labels_request, "mixed"),
    "last ref of the request out of range": (
        lambda: request(SYM, ts(packed(*UP), ONE), ts(packed(*OTHER), ONE), ts(packed(1, 2, 3, N), ONE)),
        "mixed",
    ),
    "last ref of the request out of range, unpacked": (
        lambda: request(SYM, ts(packed(*UP), ONE), ts(ONE, unpacked(1, 2, 3, N))),
        "mixed",
    ),
    "symbols after the series": (lambda: request([], ts(packed(*UP), ONE)) + request(SYM), "records"),
    "symbols between the series": (
        lambda: request(SYM[:5], ts(packed(*UP), ONE)) + request(SYM[5:], ts(packed(*OTHER), ONE)),
        "records",
    ),
    "unknown request fields": (
        lambda: unknowns(6, 15, 4096) + request(SYM, ts(packed(*UP), ONE)) + unknowns(7),
        "records",
    ),
    "symbols with the wrong wire type": (lambda: uvar(4, 1) + request(SYM, ts(packed(*UP), ONE)), "records"),
    "timeseries with the wrong wire type": (lambda: request(SYM, ts(packed(*UP), ONE)) + uvar(5, 1), "records"),
    "field 1 of 1.0 at the top": (lambda: request(SYM, ts(packed(*UP), ONE)) + wire.ld(1, b""), "refused"),
    "field 3 of 1.0 at the top, as a varint": (lambda: uvar(3, 1) + request(SYM, ts(packed(*UP), ONE)), "refused"),
    "symbols[0] not empty": (lambda: request(["x", *SYM[1:]], ts(packed(*UP), ONE)), "refused"),
    "no symbols, series without refs": (lambda: ts(ONE), "refused"),
    "no symbols, no series": (lambda: unknowns(9), "any"),
    "invalid UTF-8 symbol": (lambda: request(SYM) + wire.symbol(b"\xff\xfe") + ts(packed(*UP), ONE), "refused"),
    "truncated body": (lambda: request(SYM, ts(packed(*UP), ONE))[:-3], "refused"),
    "a 1.0 body": (lambda: wire.series(wire.label("__name__", "up"), wire.sample(T, 1.0)), "refused"),
    "every kept shape in one request": (lambda: request(SYM, *KEPT.values()), "mixed"),
    "every kept shape, reversed": (lambda: request(SYM, *reversed(KEPT.values())), "mixed"),
    "every shape, a corrupt one last": (
        lambda: request(SYM, *KEPT.values(), SERIES_SHAPES["corrupt exemplar"][0]),
        "refused",
    ),
    **{
        f"kept shapes shuffled ({seed})": (
            lambda seed=seed: request(SYM, *random.Random(seed).sample(list(KEPT.values()) * 2, 2 * len(KEPT))),
            "mixed",
        )
        for seed in range(3)
    },
}


def check_kind(outcome: Outcome, kind: str, baseline: Outcome | None = None) -> None:
    """That a body is what its corpus entry says: so no entry quietly tests nothing."""
    if kind == "any":
        return
    if kind == "refused":
        assert outcome[0] == "refused"
        return
    assert outcome[0] == "translated", outcome
    _, records, invalid, ignored = outcome
    base_records, base_invalid = (len(baseline[1]), sum(baseline[2].values())) if baseline else (0, 0)
    if kind == "records":
        assert len(records) > base_records and sum(invalid.values()) == base_invalid, invalid
    elif kind == "invalid":
        assert sum(invalid.values()) > base_invalid
    elif kind == "mixed":  # valid series kept beside invalid ones
        assert records and invalid
    elif kind == "ignored":
        assert ignored.get("exemplars")


@pytest.mark.parametrize("name", list(SERIES_SHAPES))
def test_a_series_shape_between_valid_series_translates_as_the_full_schema_reads_it(name: str) -> None:
    shape, kind = SERIES_SHAPES[name]
    neighbours = ts(packed(*OTHER), ONE), ts(packed(*OTHER), sample(T + 1, 2.0))
    outcome = agree(request(SYM, neighbours[0], shape, neighbours[1]))
    check_kind(outcome, kind, baseline=reference(request(SYM, *neighbours)))
    agree(request(SYM, shape))  # alone, and the last series of its request
    agree(request(SYM, shape, shape))  # twice: the second is warm within the request


@pytest.mark.parametrize("name", list(REQUEST_SHAPES))
def test_a_request_shape_translates_as_the_full_schema_reads_it(name: str) -> None:
    build, kind = REQUEST_SHAPES[name]
    check_kind(agree(build()), kind)


def test_the_same_series_under_other_symbol_tables_on_one_handler() -> None:
    """Indexes are request-relative: the same refs are other labels, the same labels other refs."""
    on = handler()
    bodies = [
        request(["", "__name__", "up", "job", "a"], ts(packed(1, 2, 3, 4), ONE)),
        request(["", "__name__", "down", "job", "b"], ts(packed(1, 2, 3, 4), ONE)),  # same refs, other labels
        request(["", "job", "a", "__name__", "up"], ts(packed(3, 4, 1, 2), ONE)),  # same labels, other refs
        request(["", "a", "job", "up", "__name__"], ts(packed(4, 3, 2, 1), ONE)),
        request(["", "__name__", "up", "job"], ts(packed(1, 2, 3, 4), ONE)),  # the same refs, now out of range
        request(["", "__name__", "up", "job", "a", "x"], ts(packed(1, 2, 3, 4), ONE, meta(help_ref=5))),
        request(["", "__name__", "up", "job", "a"], ts(packed(1, 2, 3, 4), ONE, meta(help_ref=5))),  # now outside
        request(["", "__name__", "up", "job", ""], ts(packed(1, 2, 3, 4), ONE)),  # now an empty value
        request(["", "__name__", "up", "job", "a"], ts(packed(1, 2, 3, 4), ONE)),
    ]
    seen = set()
    for body in bodies * 2:
        expected = reference(body)
        assert connector(on, body) == expected
        seen.add(expected[1][0][:2] if expected[1] else None)
    assert len(seen) == 3  # {up, job=a}, {down, job=b} and the invalid ones


def test_the_whole_corpus_in_sequence_on_one_handler() -> None:
    """Every body after every other on one handler, forwards then backwards: no request leaks into the next."""
    bodies = [request(SYM, shape) for shape, _ in SERIES_SHAPES.values()]
    bodies += [build() for name, (build, _) in REQUEST_SHAPES.items() if name != "refs of 4 bytes"]
    expected = [reference(body) for body in bodies]
    on = handler()
    for body, outcome in [*zip(bodies, expected, strict=True), *reversed(list(zip(bodies, expected, strict=True)))]:
        assert connector(on, body) == outcome


def test_decode_time_refusals_agree() -> None:
    """413 beyond 3/4 of the body limit, and for too many series or samples, whatever reads the body."""
    small = replace(SETTINGS, max_body_bytes=4096)
    body = request(SYM, *[ts(packed(*UP), sample(T + i, 1.0)) for i in range(200)])
    for raw in (body[:3072], body[:3073], body):
        assert len(raw) <= 3072 or reference(raw, 4096) == ("refused", 413)
        assert connector(handler(small), raw) == reference(raw, 4096)
    too_many_series = request(SYM) + ts() * (MAX_SERIES_PER_REQUEST + 1)
    too_many_samples = request(SYM, ts(packed(*UP), *[sample_raw(b"")] * (MAX_SAMPLES_PER_REQUEST + 1)))
    spread_samples = request(
        SYM, *[ts(packed(*UP), sample_raw(b""), sample_raw(b""))] * (MAX_SAMPLES_PER_REQUEST // 2 + 1)
    )
    for raw in (too_many_series, too_many_samples, spread_samples):
        assert reference(raw) == ("refused", 413)
        assert connector(handler(), raw) == ("refused", 413)


# ---- Hypothesis: random well-formed requests, mutated field by field and byte by byte ---------------

TEXTS = st.sampled_from(["", "a", "b", "job", "zone", "x" * 40, 'q"uote', "ü✓", "日本", "\\n", "\x00", "le", "0.5"])


@st.composite
def requests(draw: Any) -> bytes:
    names = sorted(set(draw(st.lists(TEXTS, max_size=6))) - {""} | {"__name__"})
    values = draw(st.lists(TEXTS, min_size=1, max_size=6))
    symbols = ["", *names, *values]
    order = [0, *draw(st.permutations(range(1, len(symbols))))]  # where each symbol sits in the table
    if draw(st.integers(0, 9)) == 0:
        symbols.insert(draw(st.integers(0, len(symbols))), draw(TEXTS))  # sometimes, symbols[0] not empty
        order = list(range(len(symbols)))
    table = [symbols[i] for i in order]
    where = {i: order.index(i) for i in range(len(symbols))}
    size = len(table)
    reach = draw(st.sampled_from([size, size + 1, size + 200, 1 << 14, 1 << 32]))
    ref = st.integers(0, reach)

    exotic = draw(st.integers(0, 2)) == 0  # exemplars, histograms, unknown fields: only in some requests
    series = []
    for _ in range(draw(st.integers(0, 6))):
        chosen = sorted(draw(st.sets(st.sampled_from(names), max_size=len(names))) | {"__name__"})
        refs = [
            x
            for name in chosen
            for x in (where[1 + names.index(name)], where[1 + len(names) + draw(st.integers(0, len(values) - 1))])
        ]
        breakage = draw(st.sampled_from(["none"] * 6 + ["swap", "drop", "out", "repeat", "random"]))
        if breakage == "swap" and len(refs) >= 4:
            refs[0:2], refs[2:4] = refs[2:4], refs[0:2]
        elif breakage == "drop" and refs:
            refs.pop(draw(st.integers(0, len(refs) - 1)))
        elif breakage == "out":
            refs.append(draw(ref))
        elif breakage == "repeat":
            refs += refs[:2]
        elif breakage == "random":
            refs = draw(st.lists(ref, max_size=8))
        encoding = draw(st.sampled_from(["packed"] * 8 + ["unpacked", "split", "overlong", "none"]))
        if encoding == "packed" or (encoding == "split" and len(refs) < 2):
            ref_fields = [packed(*refs)] if refs or draw(st.booleans()) else []
        elif encoding == "unpacked":
            ref_fields = [unpacked(*refs)]
        elif encoding == "split":
            cut = draw(st.integers(1, len(refs) - 1))
            ref_fields = [packed(*refs[:cut]), packed(*refs[cut:])]
        elif encoding == "overlong":
            ref_fields = [packed_raw(*(overlong(r, draw(st.integers(1, 3))) for r in refs))]
        else:
            ref_fields = []
        values_st = st.one_of(st.floats(), st.sampled_from([math.nan, STALE_NAN, math.inf, -math.inf, 0.0, -0.0]))
        times = st.one_of(st.just(T), st.integers(-(1 << 63), (1 << 63) - 1), st.integers(0, 1 << 45))
        canonical = draw(st.integers(0, 3)) > 0  # as protobuf writes them; else explicit zero fields
        samples = []
        for _ in range(draw(st.integers(0, 3))):
            fields = {
                "timestamp": draw(times),
                "value": draw(values_st),
                "start_timestamp": draw(st.sampled_from([0, 0, T - 1, -5])),
            }
            samples.append(
                wire.ld(2, types_pb2.Sample(**fields).SerializeToString())
                if canonical
                else sample(
                    **{
                        "timestamp_ms": fields["timestamp"],
                        "value": fields["value"],
                        "start_ms": fields["start_timestamp"],
                    }
                )
            )
        other = []
        if draw(st.booleans()):
            fields = {
                "type": draw(st.integers(0, 7)),
                "help_ref": draw(st.sampled_from([0, 1, size - 1, size])),
                "unit_ref": draw(st.sampled_from([0, size - 1, size, 1 << 20])),
            }
            other.append(
                wire.ld(5, types_pb2.Metadata(**fields).SerializeToString()) if canonical else meta(*fields.values())
            )
        if draw(st.integers(0, 3)) == 0:
            other.append(created(draw(times)))
        if exotic and draw(st.integers(0, 9)) == 0:
            other.append(exemplar([where[1], 1]))
        if exotic and draw(st.integers(0, 9)) == 0:
            other.append(histogram())
        if exotic and draw(st.integers(0, 9)) == 0:
            other.append(unknowns(draw(st.sampled_from([7, 8, 99]))))
        if exotic and draw(st.integers(0, 6)) == 0:
            other.append(meta(None, draw(st.sampled_from([0, size])), None))  # a second metadata field, merged
        parts = [*ref_fields, *samples, *other]
        if draw(st.booleans()):
            parts = draw(st.permutations(parts))
        series.append(ts(*parts))
    body = b"".join(map(wire.symbol, table))
    if draw(st.booleans()):  # symbols interleaved with series: still one table
        at = draw(st.integers(0, len(series)))
        body = b"".join(series[:at]) + body + b"".join(series[at:])
    else:
        body += b"".join(series)
    if draw(st.integers(0, 5)) == 0:
        body += unknowns(draw(st.sampled_from([6, 15, 1, 3])))
    return body


@st.composite
def mutated(draw: Any) -> bytes:
    body = bytearray(draw(requests()))
    for _ in range(draw(st.sampled_from([0, 0, 0, 0, 1, 1, 2, 4]))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        if not body:
            break
        at = draw(st.integers(0, len(body) - 1))
        if kind == "flip":
            body[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            body[at] = draw(st.sampled_from([0x00, 0x01, 0x08, 0x0A, 0x12, 0x22, 0x2A, 0x7F, 0x80, 0xFF]))
        elif kind == "insert":
            body[at:at] = draw(st.binary(min_size=1, max_size=3))
        elif kind == "delete":
            del body[at]
        else:
            del body[at:]
    return bytes(body)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_random_requests_and_mutations_translate_as_the_full_schema_reads_them(raw: bytes) -> None:
    outcome = agree(raw)
    event(outcome[0] if outcome[0] == "refused" else "translated, records" if outcome[1] else "translated, none")
