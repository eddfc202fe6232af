"""Random series written through POST /write read back through POST /read exactly as the oracle says.

Every example adds series to one table (a model of everything written is kept here), then asks
random selectors over everything written so far, with matchers of all four kinds on labels present
on some series only, on ``__name__`` (stand-in measure names included) and on a label never written.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Callable
from itertools import count

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prompb import remote_pb2
from tests.read import oracle
from tests.read.helpers import Door, as_bits, now_ms, read_request, write_request

METRICS = ["up", "http_requests_total", "job:rate:5m", "a_b", "a:b", "measure_namex"]
LABELS = ["job", "instance", "le", "time", "ts_x", "l.n", "__meta"]
ALPHABET = [*"ab'\"\\%_.*|()[]^$+?{}-é😀\n ", "\u212a"]
MIN_MS, MAX_MS = -(2**63), 2**63 - 1
SPECIALS = [
    math.nan,
    math.inf,
    -math.inf,
    -0.0,
    struct.unpack(">d", struct.pack(">Q", 0x7FF0000000000002))[0],  # staleness marker
    struct.unpack(">d", struct.pack(">Q", 0x7FF8000000000123))[0],  # NaN with another payload
]

label_values = st.text(alphabet=ALPHABET, min_size=1, max_size=4)
sample_values = st.one_of(st.floats(width=64), st.sampled_from(SPECIALS))
one_series = st.tuples(
    st.sampled_from(METRICS),
    st.dictionaries(st.sampled_from(LABELS), label_values, max_size=3),
    st.lists(sample_values, min_size=1, max_size=3),
)
literals = label_values.map(re.escape)
regexes = st.one_of(
    st.sampled_from(["", ".*", ".+", ".", "a.*", ".*b", "[ab]+", "[^a]*", "(?i)A.*", "\\d*", "a|", "(a|b)?"]),
    literals,
    st.tuples(literals, literals).map("|".join),
    literals.map(lambda text: text + ".*"),
    literals.map(lambda text: ".*" + text),
    literals.map(lambda text: "(" + text + ")?"),
)


@pytest.fixture(scope="module")
def door(door_for: Callable[..., Door]) -> Door:
    """The default column cache (60 s): label columns first written between reads must be noticed."""
    return door_for("property")


WORLD: dict[oracle.Labels, list[tuple[int, float]]] = {}
SLOTS = count()
ANSWERS = {"queries": 0, "with_series": 0, "streamed": 0}
BASE_MS = now_ms() - 50 * 60 * 1000


@st.composite
def matchers(draw: st.DrawFn, written: dict[oracle.Labels, list[tuple[int, float]]]) -> oracle.Match:
    """A matcher; equality values are often ones just written (drawn data only: no outside state)."""
    kind = draw(st.sampled_from([oracle.EQ, oracle.NEQ, oracle.RE, oracle.NRE]))
    name = draw(st.sampled_from([*LABELS, "__name__", "__name__", "never_written"]))
    if kind in (oracle.EQ, oracle.NEQ):
        present = sorted({v for labels in written for n, v in labels if n == name}) or ["x"]
        value = draw(st.one_of(st.just(""), st.sampled_from(present), label_values))
    else:
        value = draw(regexes)
    return oracle.Match(kind, name, value)


@st.composite
def time_ranges(draw: st.DrawFn, now: int) -> tuple[int, int]:
    """The whole time line (as /api/v1/series asks), or a range around recent slots (maybe empty)."""
    if draw(st.booleans()):
        return MIN_MS, MAX_MS
    start = draw(st.integers(-300, 8))
    return now + start, now + draw(st.integers(start - 3, 8))


@settings(
    max_examples=25,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(batch=st.lists(one_series, min_size=1, max_size=6), data=st.data())
def test_reads_return_exactly_what_prometheus_would_select(
    door: Door, batch: list[tuple[str, dict[str, str], list[float]]], data: st.DataObject
) -> None:
    slot_start = BASE_MS + next(SLOTS) * 10
    written: dict[oracle.Labels, list[tuple[int, float]]] = {}
    for metric, labels, values in batch:
        key = tuple(sorted({**labels, "__name__": metric}.items()))
        samples = written.setdefault(key, [])
        for value in values:
            samples.append((slot_start + len(samples), value))
    answer = door.write(write_request(written))
    assert answer.status == 204, answer.text
    for key, samples in written.items():
        WORLD.setdefault(key, []).extend(samples)

    queries = []
    for _ in range(data.draw(st.integers(1, 3))):
        selector = data.draw(st.lists(matchers(written), min_size=1, max_size=3))
        start, end = data.draw(time_ranges(slot_start))
        queries.append((selector, start, end))
    request = read_request(*queries)
    streamed = data.draw(st.booleans())  # both answer types, as Prometheus 2.x and >= 2.55 ask
    if streamed:
        request.accepted_response_types.extend([remote_pb2.ReadRequest.STREAMED_XOR_CHUNKS])
    results = door.read(request).results(len(queries))
    assert len(results) == len(queries)
    for (selector, start, end), got in zip(queries, results, strict=True):
        expected = as_bits(oracle.select(WORLD, selector, start, end))
        assert got == expected, f"selector {selector} [{start}, {end}] streamed={streamed}"
        ANSWERS["queries"] += 1
        ANSWERS["with_series"] += bool(got)
        ANSWERS["streamed"] += streamed


def test_the_property_was_not_vacuous() -> None:
    if not ANSWERS["queries"]:
        pytest.skip("the property test did not run")
    assert ANSWERS["with_series"] >= ANSWERS["queries"] // 10, ANSWERS
    assert 0 < ANSWERS["streamed"] < ANSWERS["queries"], ANSWERS
