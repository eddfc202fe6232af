"""Concurrent time slices through the embedded store: the merged answer is the unsliced one, exactly."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.timestream.read_sql import TimeRange
from connector.timestream.slices import split
from prompb import remote_pb2
from tests.read import oracle
from tests.read.helpers import Door, as_bits, labels_of, now_ms, read_request, write_request

M, EQ = oracle.Match, oracle.EQ
BASE = now_ms() - 30 * 60 * 1000
SPAN = 10_000
RUNS = itertools.count()


class Sliced:
    """Makes the connector's planner cut every read of the test's selection into ``count`` slices."""

    def __init__(self, door: Door, count: int) -> None:
        self.door, self.count = door, count

    def __enter__(self) -> None:
        planner = self.door.reader.slices
        self.saved = planner.plan
        planner.plan = lambda key, time_range: split(time_range, self.count)

    def __exit__(self, *exc: object) -> None:
        self.door.reader.slices.plan = self.saved


@settings(max_examples=15, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    offsets=st.lists(st.integers(0, SPAN), min_size=1, max_size=60, unique=True),
    count=st.integers(2, 9),
    streamed=st.booleans(),
)
def test_sliced_reads_equal_the_truth_with_samples_on_every_boundary(
    door_for: Callable[..., Door], offsets: list[int], count: int, streamed: bool
) -> None:
    door = door_for("slices")
    run = next(RUNS)  # a series of its own per example
    start, end = BASE, BASE + SPAN
    boundaries = {s.start - BASE for s in split(TimeRange(start, end), count)}
    times = sorted({*offsets, *boundaries, *(b - 1 for b in boundaries if b), SPAN})
    world = {labels_of(__name__="sliced", run=str(run)): [(BASE + t, t * 0.25) for t in times]}
    assert door.write(write_request(world)).status == 204
    request = read_request(([M(EQ, "__name__", "sliced"), M(EQ, "run", str(run))], start, end))
    if streamed:
        request.accepted_response_types.append(remote_pb2.ReadRequest.STREAMED_XOR_CHUNKS)
    with Sliced(door, count):
        assert door.read(request).results(1) == [as_bits(world)]
