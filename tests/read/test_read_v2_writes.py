"""Remote write 2.0 in, remote read out: what a 2.0 sender writes through either door reads back bit
for bit, as the same data written with 1.0 does."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from connector.prom import snappy
from tests.doors import http_api_event, invoke, lambda_with
from tests.helpers import STALE_NAN, WRITE_V2_HEADERS, captured_metadata, captured_writes, to_v2
from tests.read import oracle
from tests.read.helpers import (
    READ_HEADERS,
    Answer,
    Door,
    as_bits,
    labels_of,
    now_ms,
    read_request,
    write_request,
)

World = dict[oracle.Labels, list[tuple[int, float]]]
EVERYTHING = [oracle.Match(oracle.RE, "__name__", ".+")]


@pytest.fixture(scope="module")
def door(door_for: Callable[..., Door]) -> Door:
    return door_for("v2_writes")


def post(door: Door, path: str, body: bytes, headers: dict[str, str], via_lambda: bool) -> Answer:
    if not via_lambda:
        return door.post(path, body, headers)
    with lambda_with(door.connector):
        got = invoke(http_api_event("POST", path, headers, body))
    return Answer(got.status, got.headers, got.body)


def write_v2(door: Door, request: object, via_lambda: bool) -> Answer:
    body = snappy.compress(request.SerializeToString())  # type: ignore[attr-defined]
    return post(door, "/write", body, {**WRITE_V2_HEADERS, **door.auth}, via_lambda)


def read_all(door: Door, start: int, end: int, via_lambda: bool) -> Answer:
    body = snappy.compress(read_request((EVERYTHING, start, end)).SerializeToString())
    return post(door, "/read", body, {**READ_HEADERS, **door.auth}, via_lambda)


def test_captured_traffic_written_as_2_0_reads_back_bit_for_bit(door: Door) -> None:
    """Prometheus 2.42's writes, moved to the last hour, sent as rc.3 and rc.4 senders would, half
    through the server and half through the Lambda handler; read back through both."""
    writes = [c.message() for c in captured_writes() if c.message().timeseries]
    latest = max(s.timestamp for w in writes for ts in w.timeseries for s in ts.samples)
    shift = now_ms() - 10 * 60 * 1000 - latest
    metadata, world = captured_metadata(), {}
    for i, request in enumerate(writes):
        for ts in request.timeseries:
            for sample in ts.samples:
                sample.timestamp += shift
            labels = tuple((label.name, label.value) for label in ts.labels)
            world.setdefault(labels, []).extend((s.timestamp, s.value) for s in ts.samples)
        revision = ("rc3", "rc4")[i % 2]
        answer = write_v2(
            door, to_v2(request, metadata, start_ms=latest + shift - 3600_000, revision=revision), i % 2 == 1
        )
        assert answer.status == 204, answer.text
    start, end = latest + shift - 3600_000, latest + shift
    for via_lambda in (False, True):
        assert read_all(door, start, end, via_lambda).results() == [
            as_bits(oracle.select(world, EVERYTHING, start, end))
        ]


def test_specials_and_unusual_names_written_as_2_0_read_back_bit_for_bit(door: Door) -> None:
    t = now_ms() - 5 * 60 * 1000
    values = [math.nan, STALE_NAN, math.inf, -math.inf, -0.0, 5e-324, 1e300, 0.1 + 0.2]
    world: World = {
        labels_of(__name__="v2_specials", job="round-trip"): [(t + i, v) for i, v in enumerate(values)],
        labels_of(__name__="job:v2_rule:rate5m", time="noon", ts_zone="z", **{"métrique.π": "✓"}): [(t, 2.5)],
    }
    for via_lambda in (False, True):
        assert write_v2(door, to_v2(write_request(world)), via_lambda).status == 204
    for name in ("v2_specials", "job:v2_rule:rate5m"):
        selector = [oracle.Match(oracle.EQ, "__name__", name)]
        expected = as_bits(oracle.select(world, selector, t, t + 100))
        for via_lambda in (False, True):
            body = snappy.compress(read_request((selector, t, t + 100)).SerializeToString())
            assert post(door, "/read", body, {**READ_HEADERS, **door.auth}, via_lambda).results() == [expected]
