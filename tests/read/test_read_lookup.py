"""Series look-ups (hint ``func="series"``) through the embedded store: one row per series, no samples."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connector.timestream import query
from tests.read import oracle
from tests.read.helpers import Door, labels_of, now_ms, read_request, write_request

M, EQ, RE = oracle.Match, oracle.EQ, oracle.RE
ALL = (-(2**63), 2**63 - 1)  # what /api/v1/series sends without start and end


@pytest.fixture
def rows_read(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Rows of every page the connector receives from the store."""
    counted: list[int] = []
    run = query.run

    def counting(*args: Any, **kwargs: Any) -> Iterator[Any]:
        for page in run(*args, **kwargs):
            if not page.columns or page.columns[0] != "Column":  # DESCRIBE answers are not data
                counted.append(page.rows)
            yield page

    monkeypatch.setattr(query, "run", counting)
    return counted


def test_a_look_up_over_many_samples_reads_one_row_per_series(
    door_for: Callable[..., Door], rows_read: list[int]
) -> None:
    door = door_for("lookups")
    start = now_ms() - 20 * 60 * 1000
    world = {
        labels_of(__name__="lookup_metric", instance=f"host-{i}", job="node"): [
            (start + t, float(t)) for t in range(200)
        ]
        for i in range(25)
    }
    assert door.write(write_request(world)).status == 204
    request = read_request(([M(EQ, "__name__", "lookup_metric"), M(RE, "instance", "host-.*")], *ALL))
    request.queries[0].hints.func = "series"
    (got,) = door.read(request).results(1)
    assert got == {labels: [] for labels in world}
    assert sum(rows_read) == 25  # 5,000 samples stored, one row read per series

    request.queries[0].hints.func = "rate"  # any other hint needs samples
    rows_read.clear()
    (with_samples,) = door.read(request).results(1)
    assert sum(len(samples) for samples in with_samples.values()) == 5000 and sum(rows_read) == 5000
