"""The sustained benchmark's load generator, in a process of its own: ``python -m bench.loadgen``.

Prometheus-shaped remote write 1.0: a fixed population of series (the captured series of a
Prometheus scraping itself, 500 per target, ``instance`` per target), scraped target after target
at the offered rate, each scrape with its own timestamp and new values (counters grow, gauges
move), ``samples_per_request`` samples (one TimeSeries per sample) per snappy WriteRequest, as a
remote-write shard sends them. Bodies are encoded before the timed run, so building them costs the
run nothing, and every one of them is a new scrape: no two carry the same series at the same time.

Driven over a pipe, one JSON command a line: ``prepare`` builds the bodies, ``prime`` sends one
scrape of every series before the timed run (a long-running connector has seen its series),
``run`` sends them open loop (request ``k`` due at ``t0 + k / requests_per_second`` whatever
earlier ones took) or closed loop (each connection sends its next request when the previous one is
answered, until ``t0 + seconds``), over ``connections`` keep-alive connections, one thread each,
like Prometheus' shards, and answers each request's due, free, start and end times and status.
"""

from __future__ import annotations

import http.client
import json
import random
import struct
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from bench.common import WRITE_HEADERS, LabelSet, basic_auth, captured_label_sets, scrape_series
from connector.prom import snappy

SERIES_PER_TARGET = 500
_COUNTER_SUFFIXES = ("_total", "_count", "_sum", "_bucket")
_DOUBLE = struct.Struct("<d")


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _labels_field(labels: LabelSet) -> bytes:
    """``TimeSeries.labels`` (field 1, repeated ``Label{name = 1, value = 2}``) as wire bytes."""
    out = bytearray()
    for name, value in labels:
        name_bytes, value_bytes = name.encode(), value.encode()
        label = b"\x0a" + _varint(len(name_bytes)) + name_bytes + b"\x12" + _varint(len(value_bytes)) + value_bytes
        out += b"\x0a" + _varint(len(label)) + label
    return bytes(out)


class Population:
    """``series`` distinct series in targets of ``series_per_target``; scrape ``j`` is target ``j % targets``."""

    def __init__(self, series: int, series_per_target: int = SERIES_PER_TARGET, seed: int = 0) -> None:
        captured = captured_label_sets()
        self.per_target = series_per_target
        self.targets = max(1, series // series_per_target)
        self._rng = random.Random(seed)
        self._labels: list[list[bytes]] = []
        self._counter: list[list[bool]] = []
        self._values: list[list[float]] = []
        for t in range(self.targets):
            sets = scrape_series(captured, series_per_target, f"10.{t // 62500}.{t // 250 % 250}.{t % 250 + 1}:9090")
            self._labels.append([_labels_field(labels) for labels in sets])
            names = [dict(labels)["__name__"] for labels in sets]
            self._counter.append([name.endswith(_COUNTER_SUFFIXES) for name in names])
            self._values.append([float(self._rng.randrange(1000)) for _ in sets])

    @property
    def series(self) -> int:
        return self.targets * self.per_target

    def scrape(self, j: int, time_ms: int) -> bytes:
        """The WriteRequest.timeseries entries (field 1) of scrape ``j``: every series of its target at ``time_ms``."""
        target = j % self.targets
        labels, counter, values = self._labels[target], self._counter[target], self._values[target]
        rng = self._rng
        stamp = b"\x10" + _varint(time_ms)
        sample_head = b"\x12" + _varint(9 + len(stamp))
        parts = []
        for s, label_bytes in enumerate(labels):
            if counter[s]:
                values[s] += rng.randrange(100)
                value = values[s]
            else:
                value = round(rng.random() * 1000, rng.randrange(7))
            series = label_bytes + sample_head + b"\x09" + _DOUBLE.pack(value) + stamp
            parts.append(b"\x0a" + _varint(len(series)) + series)
        return b"".join(parts)


def build_bodies(
    population: Population, requests: int, first_scrape: int, base_ms: int, scrape_ms: float, samples_per_request: int
) -> list[bytes]:
    """``requests`` snappy bodies of consecutive scrapes; scrape ``j`` is at ``base_ms + j * scrape_ms``."""
    per_request = max(1, samples_per_request // population.per_target)
    bodies = []
    for k in range(requests):
        scrapes = range(first_scrape + k * per_request, first_scrape + (k + 1) * per_request)
        raw = b"".join(population.scrape(j, base_ms + round(j * scrape_ms)) for j in scrapes)
        bodies.append(snappy.compress(raw))
    return bodies


class _Sender:
    """One keep-alive connection, reopened after a failure (counted as status 0)."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port = port
        self.headers = headers
        self.conn: http.client.HTTPConnection | None = None

    def post(self, body: bytes) -> tuple[int, str]:
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.conn.request("POST", "/write", body=body, headers=self.headers)
            reply = self.conn.getresponse()
            text = reply.read()
            return reply.status, "" if reply.status < 300 else text[:300].decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as exc:
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            return 0, f"{type(exc).__name__}: {exc}"

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def send(
    port: int,
    bodies: Sequence[bytes],
    connections: int,
    t0: float | None = None,
    period: float | None = None,
    stop_at: float | None = None,
) -> dict[str, Any]:
    """Send ``bodies`` in order over ``connections`` threads.

    Open loop when ``period`` is given: body ``k`` is due at ``t0 + k * period`` and starts then, or
    as soon as a connection is free. Closed loop otherwise: each connection sends the next body as
    soon as its previous one is answered, none started after ``stop_at``.
    Per request: due (None in closed loop), free (when its connection took it), start, end, status.
    """
    headers = {**WRITE_HEADERS, "Authorization": basic_auth()}
    lock = threading.Lock()
    taken = [0]
    results: list[list[Any] | None] = [None] * len(bodies)
    errors: dict[str, int] = {}
    cpu_before = time.process_time()

    def worker() -> None:
        sender = _Sender(port, headers)
        if t0 is not None and t0 > time.monotonic():
            time.sleep(t0 - time.monotonic())
        try:
            while True:
                with lock:
                    k = taken[0]
                    taken[0] += 1
                if k >= len(bodies):
                    return
                free = time.monotonic()
                due = None
                if period is not None and t0 is not None:
                    due = t0 + k * period
                    if due > free:
                        time.sleep(due - free)
                elif stop_at is not None and free >= stop_at:
                    return
                start = time.monotonic()
                status, error = sender.post(bodies[k])
                results[k] = [due, free, start, time.monotonic(), status]
                if error:
                    with lock:
                        errors[f"{status} {error}"] = errors.get(f"{status} {error}", 0) + 1
        finally:
            sender.close()

    threads = [threading.Thread(target=worker, name=f"shard-{i}", daemon=True) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "requests": [r for r in results if r is not None],
        "errors": errors,
        "cpu_seconds": time.process_time() - cpu_before,
    }


def _serve() -> None:
    """Child side: one JSON command per stdin line, one JSON answer per stdout line."""
    bodies: dict[str, list[bytes]] = {}
    population: Population | None = None
    for line in sys.stdin:
        command = json.loads(line)
        op = command.pop("op")
        try:
            if op == "prepare":
                began = time.perf_counter()
                if population is None or population.series != command["series"]:
                    population = Population(command["series"])
                spr = command["samples_per_request"]
                scrape_ms = 1000 * population.per_target / command["rate"]
                per_request = max(1, spr // population.per_target)
                prime_requests = -(-population.targets // per_request)
                # Priming scrapes come just before the timed ones: one scrape of every target.
                first = -prime_requests * per_request
                base_ms = command["base_ms"]
                bodies["prime"] = build_bodies(population, prime_requests, first, base_ms, scrape_ms, spr)
                bodies["run"] = build_bodies(population, command["requests"], 0, base_ms, scrape_ms, spr)
                sizes = [len(b) for b in bodies["run"]]
                result: Any = {
                    "series": population.series,
                    "targets": population.targets,
                    "samples_per_request": per_request * population.per_target,
                    "scrape_interval_s": population.targets * scrape_ms / 1000,
                    "bodies": len(sizes),
                    "mean_body_bytes": sum(sizes) / max(1, len(sizes)),
                    "build_seconds": time.perf_counter() - began,
                }
            elif op == "prime":
                result = send(command["port"], bodies["prime"], command["connections"])
            elif op == "run":
                period = command.get("period")
                result = send(
                    command["port"],
                    bodies["run"],
                    command["connections"],
                    command["t0"],
                    period,
                    command.get("stop_at"),
                )
            elif op == "stop":
                print(json.dumps({"result": None}), flush=True)
                return
            else:
                raise ValueError(f"unknown op {op!r}")
            print(json.dumps({"result": result}), flush=True)
        except Exception as exc:  # reported to the parent, which raises
            print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)


if __name__ == "__main__":
    _serve()
