"""Time slices: every millisecond of a range in exactly one slice; slicing only after a large answer."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.timestream.read_sql import TimeRange
from connector.timestream.slices import SlicePlanner, split


def holds(time_range: TimeRange, t: int) -> bool:
    return time_range.start <= t < time_range.end or (not time_range.open_end and t == time_range.end)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    start=st.integers(-(10**12), 10**12),
    span=st.integers(0, 10**6),
    count=st.integers(1, 64),
    probes=st.lists(st.integers(0, 10**6), max_size=20),
)
def test_slices_cover_the_range_exactly_once(start: int, span: int, count: int, probes: list[int]) -> None:
    whole = TimeRange(start, start + span)
    slices = split(whole, count)
    assert 1 <= len(slices) <= min(count, span + 1)
    bounds = {s.start for s in slices} | {s.end for s in slices}
    # Samples on every boundary, just beside it, at the ends and at random points inside.
    times = {whole.start, whole.end, *(b + d for b in bounds for d in (-1, 0, 1)), *(start + p for p in probes)}
    for t in times:
        inside = whole.start <= t <= whole.end
        assert sum(holds(s, t) for s in slices) == (1 if inside else 0), (t, slices)


def test_a_selection_is_sliced_only_after_it_returned_many_rows() -> None:
    planner = SlicePlanner(max_slices=8, rows_per_slice=1000)
    day = TimeRange(0, 86_400_000 - 1)
    assert planner.plan("sel", day) == [day]  # never seen: one query
    planner.observe("sel", day, rows=500)
    assert planner.plan("sel", day) == [day]  # small: stays one query (each query is metered 10 MB at least)
    planner.observe("sel", day, rows=3500)
    assert len(planner.plan("sel", day)) == 4
    assert len(planner.plan("sel", TimeRange(0, 2 * 86_400_000 - 1))) == 7  # twice the range, twice the rows
    assert len(planner.plan("sel", TimeRange(0, 10 * 86_400_000))) == 8  # capped
    assert planner.plan("other", day) == [day]
