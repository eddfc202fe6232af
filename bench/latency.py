"""2. Wall time of one remote-write request against a store that takes 20 ms per WriteRecords call.

Concurrent: the connector core as deployed, ``Connector(settings).handle(request)`` with a real snappy
body and Basic auth (decode, translate, plan with CommonAttributes, ``write_concurrency`` calls in flight).
Sequential baseline, the official Go connector's way: the same decode and ``translate``, then the same
records in request order, 100 per call without CommonAttributes, one call after another
(``Writer(concurrency=1)``). Both use a client built by ``ClientCache`` and the same store process.

Requests: ~500 series per scrape (the captured series of a Prometheus scraping itself, with
job/instance/external labels), one TimeSeries per sample as Prometheus sends them, scrapes of 4
targets 250 ms apart; every request of the run has its own timestamps (2 h ago onwards), so no write
conflicts with another. Rounds alternate which layout goes first; the ratio is the median of rounds.

Also against ``bench.stub.NoopEndpoint``, which only waits 20 ms per call (target for 2,000 samples:
0.12x the sequential layout).
The embedded store spends ~20-30 ms of its own per 100-record call (validation in Python, DuckDB
lookup and insert under one lock), so against it the concurrent wall time is bounded by the store,
not by the connector; the no-op endpoint shows the connector's own share.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from bench.common import (
    ACCESS_KEY_ID,
    DATABASE,
    SECRET_ACCESS_KEY,
    WRITE_HEADERS,
    LabelSet,
    Row,
    Section,
    captured_label_sets,
    median,
    repeated_calls,
    scrape_request,
    scrapes_needed,
    settings_for,
    wall_seconds,
    write_request,
)
from bench.store import StoreProcess
from connector.app import Connector
from connector.auth import Identity
from connector.http import Headers
from connector.prom.write_v1 import decode_write_request
from connector.timestream.clients import ClientCache
from connector.timestream.writer import Writer
from connector.write import translate_v1

TABLE = "BenchLatency"
STEP_MS = 250


class _Timeline:
    """Hands out disjoint scrape time ranges, starting two hours ago."""

    def __init__(self) -> None:
        self.next_ms = (int(time.time()) - 2 * 3600) * 1000

    def take(self, scrapes: int) -> int:
        first = self.next_ms
        self.next_ms += scrapes * STEP_MS
        return first


def run(
    store: StoreProcess | None = None,
    sizes: Sequence[int] = (2000, 10_000),
    rounds: Sequence[int] = (5, 3),
    latency_ms: float = 20,
    series_per_scrape: int = 500,
) -> Section:
    own_store = store is None
    store = store or StoreProcess()
    section = Section("Request latency")
    try:
        store.create_table(TABLE, memory_retention_hours=24)
        timeline = _Timeline()
        label_sets = captured_label_sets()
        # The embedded store, as the issue asks: its own per-call work is part of every call.
        store.set_faults()
        bench = _Bench(store.url, label_sets, timeline, series_per_scrape)
        bench.warm()
        store.set_faults(latency_ms=latency_ms, operations=["WriteRecords"])
        for i, (size, repeats) in enumerate(zip(sizes, rounds, strict=True)):
            before = store.stats()["write_calls"]
            conc, seq = bench.measure(size, repeats)
            calls = (store.stats()["write_calls"] - before) // (2 * repeats)
            ratio = median(c / s for c, s in zip(conc, seq, strict=True))
            section.rows.append(
                Row(
                    f"Wall, {size:,}-sample request, embedded store +{latency_ms:.0f} ms/call",
                    1000 * median(conc),
                    "ms",
                    1000 * median(seq),
                    "sequential, no CommonAttributes",
                    ratio,
                    "ratio <= 0.20" if i == 0 else "",
                    ratio <= 0.2 if i == 0 else None,
                )
            )
            section.details.append(
                f"embedded store, {size} samples: {calls} calls per request each way, {repeats} rounds; ms concurrent "
                f"{_ms(conc)}; sequential {_ms(seq)}"
            )
        # The same against an endpoint that only waits: what the connector does when the far end
        # has the capacity Timestream has, i.e. the connector's own share of the wall time.
        noop = _Bench(store.noop_endpoint(latency_ms), label_sets, timeline, series_per_scrape, check=False)
        noop.warm()
        for i, (size, repeats) in enumerate(zip(sizes, rounds, strict=True)):
            conc, seq = noop.measure(size, repeats)
            ratio = median(c / s for c, s in zip(conc, seq, strict=True))
            section.rows.append(
                Row(
                    f"Wall, {size:,}-sample request, no-op endpoint {latency_ms:.0f} ms/call",
                    1000 * median(conc),
                    "ms",
                    1000 * median(seq),
                    "sequential, no CommonAttributes",
                    ratio,
                    "ratio <= 0.12" if i == 0 else "",
                    ratio <= 0.12 if i == 0 else None,
                    note="connector alone",
                )
            )
            section.details.append(f"no-op endpoint, {size} samples: ms concurrent {_ms(conc)}; sequential {_ms(seq)}")
        parts = []
        for size in sizes:
            n_calls = -(-size // 100)
            waves = -(-n_calls // bench.settings.write_concurrency)
            parts.append(
                f"{size}: {n_calls} calls, >= {waves * latency_ms:.0f} ms concurrent "
                f"(write_concurrency={bench.settings.write_concurrency}), {n_calls * latency_ms:.0f} ms sequential"
            )
        section.details.append("Floor set by the injected delay alone: " + "; ".join(parts))
        return section
    finally:
        store.set_faults()
        if own_store:
            store.stop()


def _ms(times: Sequence[float]) -> str:
    return ", ".join(f"{1000 * t:.0f}" for t in times)


class _Bench:
    """The two layouts against one endpoint, each with its own client built by ``ClientCache``."""

    def __init__(
        self, url: str, label_sets: list[LabelSet], timeline: _Timeline, series_per_scrape: int, check: bool = True
    ) -> None:
        self.settings = settings_for(url, TABLE)
        self.connector = Connector(self.settings)
        self.client = ClientCache(self.settings).write_client(Identity(ACCESS_KEY_ID, SECRET_ACCESS_KEY))
        self.writer = Writer(1, self.settings.max_attempts)
        self.headers = Headers(WRITE_HEADERS)
        self.label_sets = label_sets
        self.timeline = timeline
        self.series_per_scrape = series_per_scrape
        self.check = check

    def body(self, samples: int) -> bytes:
        first = self.timeline.take(scrapes_needed(samples, self.series_per_scrape))
        return scrape_request(self.label_sets, samples, first, self.series_per_scrape, step_ms=STEP_MS, seed=first)

    def concurrent(self, payload: bytes, samples: int) -> None:
        response = self.connector.handle(write_request(payload))
        written = response.headers.get("X-Prometheus-Remote-Write-Samples-Written")
        if response.status != 204 or written != str(samples):
            raise RuntimeError(f"connector answered {response.status}: {response.body[:300]!r}")

    def sequential(self, payload: bytes, samples: int) -> None:
        message = decode_write_request(self.headers, payload, self.settings.max_body_bytes)
        records = translate_v1(message).records
        deadline = time.monotonic() + self.settings.request_timeout
        result = self.writer.write(self.client, DATABASE, TABLE, repeated_calls(records), deadline)  # type: ignore[arg-type]
        if result.written != samples or result.failures or result.unfinished:
            raise RuntimeError(f"sequential baseline wrote {result.written} of {samples}: {result.failures[:1]}")

    def warm(self) -> None:
        """Client, connection pool and caches of both paths, before any timing."""
        size = self.series_per_scrape * 2
        for layout in (self.concurrent, self.sequential):
            for _ in range(2):
                layout(self.body(size), size)

    def measure(self, size: int, repeats: int) -> tuple[list[float], list[float]]:
        """Wall seconds per request, (concurrent, sequential); the order alternates round by round."""
        times: dict[str, list[float]] = {"concurrent": [], "sequential": []}
        for round_ in range(repeats):
            order = [("concurrent", self.concurrent), ("sequential", self.sequential)]
            for name, layout in order[:: -1 if round_ % 2 else 1]:
                payload = self.body(size)
                elapsed, _ = wall_seconds(lambda layout=layout, payload=payload: layout(payload, size))  # type: ignore[misc]
                times[name].append(elapsed)
        return times["concurrent"], times["sequential"]
