"""Bad remote write 2.0 input through both front doors: a corpus of known-bad bodies, then Hypothesis.

As for 1.0 (``test_bad_input``): a client's mistake is a 4xx with a readable body, never a 5xx or an
exception. A 2.0 answer also always carries the three Written headers, and they never claim more
than was sent nor any histogram or exemplar (the connector stores neither). Hypothesis runs
derandomized: the same examples on every run and machine.
"""

from __future__ import annotations

import math

import hypothesis
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from connector.prom import snappy
from tests.doors import Answer, Door
from tests.helpers import STALE_NAN, WRITE_V2_HEADERS
from tests.robustness import wire
from tests.robustness.test_bad_input import (
    AUTH,
    FUZZ,
    VALID_RAW,
    _header_values,
    _junk_field,
    _timestamps,
    _valid_text,
    _values,
    assert_clean,
    now_ms,
)

WRITTEN = (
    "x-prometheus-remote-write-samples-written",
    "x-prometheus-remote-write-histograms-written",
    "x-prometheus-remote-write-exemplars-written",
)
FUZZ_V2 = hypothesis_settings(FUZZ, derandomize=True)


def post_v2(door: Door, raw: bytes, headers: dict[str, str] | None = None, compress: bool = True) -> Answer:
    body = snappy.compress(raw) if compress else raw
    return door("POST", "/write", {**WRITE_V2_HEADERS, **AUTH, **(headers or {})}, body)


def assert_v2_clean(answer: Answer, allowed: set[int], samples_sent: int | None = None) -> None:
    """``assert_clean``, and the Written headers a 2.0 sender relies on, with believable counts."""
    assert_clean(answer, allowed)
    samples, histograms, exemplars = (int(answer.headers[name]) for name in WRITTEN)
    assert histograms == 0 and exemplars == 0
    assert 0 <= samples <= (samples_sent if samples_sent is not None else samples)
    if answer.status == 204:
        assert samples_sent is None or samples == samples_sent


TABLE = wire.symbol("") + wire.symbol("__name__") + wire.symbol("robust_v2") + wire.symbol("job") + wire.symbol("x")
NAMED = wire.refs(1, 2, 3, 4)


def good(*parts: bytes) -> bytes:
    return wire.v2_series(NAMED, wire.v2_sample(now_ms(), 1.0), *parts)


CORPUS: dict[str, tuple[bytes, set[int]]] = {
    "empty request": (b"", {204}),
    "symbols only": (wire.symbol(""), {204}),
    "a 1.0 body": (VALID_RAW, {400}),
    "symbols[0] not empty": (wire.symbol("x") + wire.v2_series(wire.refs(0, 0), wire.v2_sample(now_ms(), 1.0)), {400}),
    "series without symbols": (wire.v2_series(wire.refs(1, 2), wire.v2_sample(now_ms(), 1.0)), {400}),
    "odd number of references": (TABLE + wire.v2_series(wire.refs(1, 2, 3), wire.v2_sample(now_ms(), 1.0)), {400}),
    "reference out of range": (TABLE + wire.v2_series(wire.refs(1, 2, 3, 50), wire.v2_sample(now_ms(), 1.0)), {400}),
    "reference beyond uint32": (
        TABLE + wire.v2_series(wire.refs(1, 2, 3, 1 << 40), wire.v2_sample(now_ms(), 1)),
        {400},
    ),
    "references not packed": (
        TABLE
        + wire.v2_series(*[wire.tag(1, wire.VARINT) + wire.varint(r) for r in (1, 2, 3, 4)], wire.v2_sample(1, 1)),
        {204, 400},
    ),
    "references as fixed32": (TABLE + wire.v2_series(wire.tag(1, wire.I32) + b"\x01\x00\x00\x00"), {204, 400}),
    "a million references in one series": (TABLE + wire.v2_series(wire.refs(*[1] * 1_000_000)), {204, 400}),
    "symbol not UTF-8": (TABLE + wire.symbol(b"\xff\xfe") + good(), {400}),
    "unsorted labels": (TABLE + wire.v2_series(wire.refs(3, 4, 1, 2), wire.v2_sample(now_ms(), 1.0)), {400}),
    "repeated label": (TABLE + wire.v2_series(wire.refs(1, 2, 3, 4, 3, 4), wire.v2_sample(now_ms(), 1.0)), {400}),
    "empty label value": (TABLE + wire.v2_series(wire.refs(1, 2, 3, 0), wire.v2_sample(now_ms(), 1.0)), {400}),
    "metadata reference out of range": (TABLE + good(wire.ld(5, wire.tag(3, wire.VARINT) + wire.varint(99))), {400}),
    "metadata type out of the enum": (TABLE + good(wire.ld(5, wire.tag(1, wire.VARINT) + wire.varint(77))), {204}),
    "exemplar only, as Prometheus sends exemplars": (
        TABLE
        + wire.v2_series(NAMED, wire.ld(4, wire.ld(1, wire.varint(3) + wire.varint(4)) + wire.tag(3, 0) + b"\x01")),
        {400},
    ),
    "exemplar with references out of range": (TABLE + good(wire.ld(4, wire.ld(1, wire.varint(77)))), {400}),
    "histogram with junk spans": (
        TABLE + wire.v2_series(NAMED, wire.ld(3, wire.ld(11, b"\x08\xff\xff\xff\xff\x0f") + wire.tag(1, 0) + b"\x05")),
        {400},
    ),
    "histogram and samples in one series": (TABLE + good(wire.ld(3, wire.tag(15, 0) + wire.varint(now_ms()))), {400}),
    "created timestamp (rc.3)": (TABLE + good(wire.tag(6, wire.VARINT) + wire.varint(now_ms() - 60_000)), {204}),
    "created timestamp sent as bytes": (TABLE + good(wire.ld(6, b"not a timestamp")), {204}),
    "start timestamp of -1 (rc.4)": (TABLE + wire.v2_series(NAMED, wire.v2_sample(now_ms(), 1.0, start_ms=-1)), {204}),
    "special values": (
        TABLE
        + b"".join(
            wire.v2_series(NAMED, wire.v2_sample(now_ms() + i, v))
            for i, v in enumerate((math.nan, math.inf, -math.inf, STALE_NAN, -0.0))
        ),
        {204},
    ),
    "timestamp of int64 max": (TABLE + wire.v2_series(NAMED, wire.v2_sample((1 << 63) - 1, 1.0)), {400}),
    "10000 empty series": (TABLE + wire.v2_series() * 10_000, {204}),
    "groups nested 10000 deep": (wire.tag(9, wire.SGROUP) * 10_000 + wire.tag(9, wire.EGROUP) * 10_000, {400}),
}


@pytest.mark.parametrize("name", list(CORPUS))
def test_malformed_2_0_bodies(door: Door, name: str) -> None:
    raw, allowed = CORPUS[name]
    answer = post_v2(door, raw)
    assert_v2_clean(answer, allowed)


@pytest.mark.parametrize(
    "body", [b"", b"\x05garbage-not-snappy", wire.varint(4 << 30) + b"\x00" * 16], ids=["empty", "bad", "4 GiB"]
)
def test_corrupt_compression_of_2_0_bodies(door: Door, body: bytes) -> None:
    assert_v2_clean(post_v2(door, body, compress=False), {400, 413})


# ---- Hypothesis -----------------------------------------------------------------------------------


@FUZZ_V2
@given(body=st.binary(max_size=2048))
def test_fuzz_random_2_0_bodies(door: Door, body: bytes) -> None:
    answer = post_v2(door, body, compress=False)
    hypothesis.event(f"status {answer.status}")
    assert_v2_clean(answer, {204, 400, 413})


@FUZZ_V2
@given(raw=st.binary(max_size=4096))
def test_fuzz_snappy_of_random_bytes_as_2_0(door: Door, raw: bytes) -> None:
    answer = post_v2(door, raw)
    hypothesis.event(f"status {answer.status}")
    assert_v2_clean(answer, {204, 400, 413})


# One symbol in twenty is raw bytes, usually not UTF-8 (which fails the whole parse): enough to probe.
_symbol_text = st.integers(0, 19).flatmap(lambda i: st.binary(min_size=1, max_size=24) if i == 19 else _valid_text)
_symbols = st.lists(_symbol_text, max_size=10).map(lambda texts: [b"", *texts])
# Stray fields of any number and wire type, in one place in eight: most requests still parse.
_stray: st.SearchStrategy[list[bytes]] = st.integers(0, 7).flatmap(
    lambda i: st.lists(_junk_field(), min_size=1, max_size=2) if i == 7 else st.just([])
)
_ref_lists = st.lists(st.integers(0, 14), max_size=10)


@st.composite
def _v2_requests(draw: st.DrawFn) -> tuple[bytes, int]:
    """Real-looking 2.0 requests: a symbols table (rarely without its empty first entry), series whose
    references mostly resolve, samples, exemplars, histograms, metadata and stray fields."""
    symbols = draw(st.one_of(_symbols, _symbols, _symbols, st.lists(_symbol_text, max_size=6)))
    parts = [wire.symbol(s) for s in symbols]
    sent = 0
    for _ in range(draw(st.integers(0, 5))):
        samples = draw(
            st.lists(st.builds(wire.v2_sample, _timestamps, _values, st.sampled_from([0, 0, 1, -1])), max_size=3)
        )
        sent += len(samples)
        extras = draw(
            st.lists(
                st.one_of(
                    st.builds(
                        lambda r, v: wire.ld(4, wire.ld(1, b"".join(map(wire.varint, r))) + wire.tag(2, wire.I64) + v),
                        _ref_lists,
                        st.binary(min_size=8, max_size=8),
                    ),
                    st.builds(
                        lambda t: wire.ld(3, wire.tag(1, 0) + wire.varint(2) + wire.tag(15, 0) + wire.varint(t)),
                        st.integers(0, 1 << 62),
                    ),
                    st.builds(
                        lambda k, h: wire.ld(5, wire.tag(1, 0) + wire.varint(k) + wire.tag(3, 0) + wire.varint(h)),
                        st.integers(0, 9),
                        st.integers(0, 14),
                    ),
                    st.builds(
                        lambda t: wire.tag(6, wire.VARINT) + wire.varint(t), st.integers(-(1 << 63), (1 << 63) - 1)
                    ),
                ),
                max_size=2,
            )
        )
        named = draw(st.sampled_from([[1, 2], [], [1]])) if len(symbols) > 2 else []
        refs = wire.refs(*named, *draw(_ref_lists))
        parts.append(wire.v2_series(refs, *samples, *extras, *draw(_stray)))
    return b"".join(parts + draw(_stray)), sent


@hypothesis_settings(FUZZ_V2, max_examples=150)
@given(request=_v2_requests(), truncate=st.integers(0, 9).map(lambda i: {8: 1, 9: 5}.get(i, 0)))
def test_fuzz_crafted_2_0_protobuf(door: Door, request: tuple[bytes, int], truncate: int) -> None:
    """Hostile symbols, references, timestamps, values and stray fields of every wire type."""
    raw, sent = request
    answer = post_v2(door, raw[: len(raw) - truncate])
    hypothesis.event(f"status {answer.status} {answer.text[:24]}")
    assert_v2_clean(answer, {204, 400, 413}, sent if not truncate else None)


@FUZZ_V2
@given(
    before=st.one_of(st.just("application/x-protobuf"), _header_values),
    after=_header_values,
    encoding=st.one_of(st.just("snappy"), st.just("SNAPPY "), _header_values),
    junk=st.binary(max_size=64),
)
def test_fuzz_2_0_headers_always_carry_the_counts(
    door: Door, before: str, after: str, encoding: str, junk: bytes
) -> None:
    """Whatever else the headers say, a request naming the 2.0 message is told what was written."""
    content_type = f"{before};proto=io.prometheus.write.v2.Request;{after}"
    answer = post_v2(door, TABLE + good() + junk, {"Content-Type": content_type, "Content-Encoding": encoding})
    hypothesis.event(f"status {answer.status}")
    assert_v2_clean(answer, {204, 400, 415}, 1)
