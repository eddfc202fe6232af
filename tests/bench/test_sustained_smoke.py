"""The sustained-load benchmark on a tiny run: every process starts, every sample is accounted for.

No timing assertions: two seconds on a shared machine say nothing about speed; ``make bench`` measures.
"""

from __future__ import annotations

import math

from bench import sustained
from bench.loadgen import Population, build_bodies
from connector.prom import snappy
from prompb import remote_pb2


def test_bodies_are_prometheus_requests_of_new_scrapes() -> None:
    population = Population(1000, series_per_target=100)
    bodies = build_bodies(population, 3, 0, 1_800_000_000_000, 50.0, 200)
    messages = [remote_pb2.WriteRequest.FromString(snappy.decompress(body, 1 << 24)) for body in bodies]
    assert [len(m.timeseries) for m in messages] == [200, 200, 200]
    seen = set()
    for message in messages:
        for series in message.timeseries:
            labels = tuple((label.name, label.value) for label in series.labels)
            assert labels == tuple(sorted(labels)) and dict(labels)["__name__"]
            (sample,) = series.samples
            assert (labels, sample.timestamp) not in seen  # no series twice at one time
            seen.add((labels, sample.timestamp))
    # Request 1 holds scrapes 2 and 3 (targets 2 and 3), 50 ms apart.
    assert {s.samples[0].timestamp for s in messages[1].timeseries} == {1_800_000_000_100, 1_800_000_000_150}


def test_sustained_accounts_for_every_sample() -> None:
    runs = sustained.measure_all(
        seconds=2, warmup=0.5, rates=(1000,), ceiling_seconds=1, wide_series=None, series=1000, samples_per_request=500
    )
    assert len(runs) == 2
    for m in runs:
        assert m.sent > 0 and m.counted == m.sent, (m.sent, m.counted)
        assert m.statuses and all(200 <= status < 300 for status in m.statuses), m.statuses
        assert not m.errors and m.delivered
        assert m.describe_calls == 0  # a custom endpoint_url: botocore skips endpoint discovery
        assert m.cpu_s > 0 and m.cpu_pct > 0 and m.us_per_sample > 0
        assert m.peak_rss > 10 and all(rss > 10 for rss in m.rss_trace)
        assert m.latency_ms and all(math.isfinite(x) and x > 0 for x in m.latency_ms)
    open_loop = runs[0]
    assert open_loop.rate == 1000 and open_loop.lag_ms and open_loop.series == 1000
    section = sustained.section_for(runs, series=1000)
    assert len(section.rows) == 4 + 5 and section.details
    target_rows = [row for row in section.rows if row.target and row.target != "-"]
    assert all(row.passed is not None for row in target_rows)
    assert all(row.passed for row in section.rows if row.name.endswith("samples delivered"))
