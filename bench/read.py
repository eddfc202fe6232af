"""6. Remote read at scale: a user's reads through ``serve --local``, CPU per sample, answer size.

Data set (all three parts): ``series`` series (100; 10 with ``--quick``) of ``samples`` samples each
(10,000; 2,000), 1 s apart, ending now (each series a few ms off the whole second, as scrape
targets are). Labels ``__name__``, ``job``, ``instance``, ``env``, ``region`` and, for the HTTP
counters, ``handler``/``method``/``code``. Values: a quarter near-constant integer counters (most
samples repeat the previous value), a quarter CPU-seconds counters (2 decimals), a quarter
random-walk byte gauges (multiples of 4096), a quarter random-walk float gauges (full precision).
Five series carry specials: a NaN, ``+Inf``, staleness markers.

(1) Through ``python -m connector serve --local`` (a subprocess on an OS-chosen loopback port,
embedded store in memory, ``MAX_READ_RESPONSE_BYTES`` 64 MiB): the data set is written through
``/write`` with Basic auth in requests of at most 100,000 samples (every one must be 204), then
timed wall clock, client side, request sent to body read: (a) the whole set with
``accepted_response_types=[STREAMED_XOR_CHUNKS, SAMPLES]``, 200 and complete (frames parsed, CRC-32C
checked, the 2-byte sample count of every XOR chunk summed: exactly every sample); (b) the last
1,000 s (a tenth) with both response types; (c) a series look-up over all time (``__name__=~".+"``,
±9.2e18 ms, ``hints.func="series"``): every series, no sample; (d) the whole set with SAMPLES only
(reported only). Figures are medians of the repeats; the first read of a selection is reported
apart (the connector's slice planner learns a selection's density on its first read and slices
the repeats into concurrent queries); a read refused twice is not repeated further. Server
process CPU (connector and embedded store share the process) is read from ``/proc/PID/stat``
around each read. Baseline of (b): the connector's own statement for it run as one query from the
bench process straight against the embedded store (boto3 client built by ``ClientCache``, pages
through ``pages.parse``), i.e. the store and the paging without grouping, encoding or HTTP answer;
its page bodies are kept for (2).

(2) Connector CPU per sample against canned pages, no network: the data set's records (the
connector's own ``translate``) as Timestream ``Query`` response bodies for the column layout the
connector selects (``read_sql.statement``), rows in time order, pages of at most 1,000 rows / 1 MB;
then ``pages.parse`` of every body + ``SeriesBuilder`` + ``read_codec.encode``, single thread,
``time.process_time``, medians of interleaved rounds. The baseline is the same path with botocore's
generic ``json`` parser (plus ``pages.from_parsed``) instead of ``pages.parse``, measured on a subset
of the pages. Also ``pages.parse`` on the embedded store's own pages of (1b), to show whether what
``serve --local`` serves takes the same path as the canned pages. A cProfile of one pass lists the
top costs.

(3) Answer size against Prometheus 2.42's own chunks: the data set as OpenMetrics text
(staleness markers cannot be written in text: they become NaN there), a TSDB block from
``promtool tsdb create-blocks-from openmetrics``, a ``prometheus`` serving that block (OS-chosen
port, stopped at the end), and its ``POST /api/v1/read`` for the same selector and range, both
STREAMED_XOR_CHUNKS and SAMPLES. The connector's stream for exactly the samples Prometheus
returned is ``read_codec.encode`` of them; the stream of (1a) is reported beside it.
"""

from __future__ import annotations

import contextlib
import cProfile
import gc
import http.client
import io
import json
import math
import os
import pstats
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.common import ROOT, Row, Section, median
from connector.auth import Identity
from connector.config import Settings
from connector.local import LOCAL_ACCESS_KEY_ID, LOCAL_SECRET_ACCESS_KEY
from connector.prom import read_codec, snappy
from connector.prom.chunked import crc32c
from connector.prom.matchers import Matcher
from connector.prom.series import Series
from connector.timestream import pages, query, schema, series_key
from connector.timestream.clients import ClientCache
from connector.timestream.columns import TableColumns
from connector.timestream.read_sql import TimeRange, clamp, selection, statement
from connector.timestream.records import translate
from connector.timestream.series import SeriesBuilder
from connector.timestream.sql import TRUE
from prompb import remote_pb2, types_pb2

STREAMED = read_codec.STREAMED_XOR_CHUNKS
SAMPLES = read_codec.SAMPLES
STALE_NAN = schema.bits_float(schema.STALE_NAN_BITS)
NAN = schema.bits_float(schema.CANONICAL_NAN_BITS)  # Prometheus' NaN (value.NormalNaN), not Python's
MAX_WRITE_SAMPLES = 100_000
READ_LIMIT = 64 * 1024 * 1024
LOOKUP_MS = 9_223_372_036_854_775_000  # what Prometheus sends for /api/v1/series without start/end
PAGE_ROWS = 1000
PAGE_BYTES = 1_000_000
DATABASE, TABLE = "BenchDatabase", "BenchRead"
READ_HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "Accept-Encoding": "snappy",
    "X-Prometheus-Remote-Read-Version": "0.1.0",
    "User-Agent": "Prometheus/2.55.1",
}
WRITE_HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
    "User-Agent": "Prometheus/2.55.1",
}


# --- the data set ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataSet:
    series: list[Series]  # sorted by labels
    first_ms: int
    last_ms: int

    @property
    def samples(self) -> int:
        return sum(len(s.samples) for s in self.series)


def dataset(series_count: int, samples: int, end_ms: int, seed: int = 0) -> DataSet:
    rng = random.Random(seed)
    handlers = ("/api/v1/query", "/api/v1/write", "/metrics", "/healthz", "/api/v1/read")
    result = []
    for k in range(series_count):
        kind = k % 4
        host = f"10.0.{k // 40}.{k % 40 + 1}:9100"
        labels = {"job": ("node", "api", "db")[k % 3], "instance": host, "env": "prod", "region": "eu-west-1"}
        if kind == 0:
            labels |= {
                "__name__": "http_requests_total",
                "handler": handlers[k // 4 % 5],
                "method": ("GET", "POST")[k // 20 % 2],
                "code": ("200", "500", "404")[k // 40 % 3],
            }
        elif kind == 1:
            labels |= {"__name__": "process_cpu_seconds_total", "shard": str(k // 4)}
        elif kind == 2:
            labels |= {"__name__": "node_memory_Active_bytes", "shard": str(k // 4)}
        else:
            labels |= {"__name__": "node_hwmon_temp_celsius", "chip": f"platform_coretemp_{k // 4}", "sensor": "temp1"}
        offset = (k * 7) % 1000  # scrape phase of the target
        last = end_ms - 1000 + offset
        times = [last - (samples - 1 - i) * 1000 for i in range(samples)]
        values = _values(kind, samples, rng)
        _specials(k, values, rng)
        result.append(Series(tuple(sorted(labels.items())), list(zip(times, values, strict=True))))
    result.sort(key=lambda s: s.labels)
    return DataSet(result, min(s.samples[0][0] for s in result), max(s.samples[-1][0] for s in result))


def _values(kind: int, n: int, rng: random.Random) -> list[float]:
    values: list[float] = []
    if kind == 0:  # near-constant counter
        v = float(rng.randrange(1000, 100_000))
        for _ in range(n):
            v += rng.choice((0, 0, 0, 0, 0, 0, 0, 1, 1, 3))
            values.append(v)
    elif kind == 1:  # CPU seconds: grows a little each second
        v = rng.uniform(100, 10_000)
        for _ in range(n):
            v = round(v + rng.uniform(0, 0.05), 2)
            values.append(v)
    elif kind == 2:  # memory bytes
        v = float(rng.randrange(1 << 28, 1 << 32) & ~4095)
        for _ in range(n):
            v = max(4096.0, v + 4096 * rng.randint(-50, 50))
            values.append(v)
    else:  # temperature: full-precision random walk
        v = rng.uniform(30, 60)
        for _ in range(n):
            v += rng.gauss(0, 0.1)
            values.append(v)
    return values


def _specials(k: int, values: list[float], rng: random.Random) -> None:
    n = len(values)
    if k == 3:
        values[n // 2] = NAN
    elif k == 6:
        values[n // 3] = math.inf
    elif k in (5, 9):  # a target down for a while: one staleness marker, then it comes back
        for i in rng.sample(range(1, n - 1), 3):
            values[i] = STALE_NAN
    elif k == 8:
        values[-1] = STALE_NAN  # the series ended


def write_bodies(data: DataSet, max_samples: int = MAX_WRITE_SAMPLES) -> list[bytes]:
    """Snappy WriteRequests of at most ``max_samples`` samples, every series a time window each."""
    per_series = max(1, max_samples // len(data.series))
    length = max(len(s.samples) for s in data.series)
    bodies = []
    for start in range(0, length, per_series):
        message = remote_pb2.WriteRequest()
        for one in data.series:
            ts = message.timeseries.add()
            for name, value in one.labels:
                ts.labels.add(name=name, value=value)
            for t, v in one.samples[start : start + per_series]:
                ts.samples.add(timestamp=t, value=v)
        bodies.append(snappy.compress(message.SerializeToString()))
    return bodies


def in_range(data: DataSet, start_ms: int, end_ms: int) -> int:
    return sum(1 for s in data.series for t, _ in s.samples if start_ms <= t <= end_ms)


# --- remote-read requests and answers -------------------------------------------------------------


def read_body(start_ms: int, end_ms: int, accepted: Sequence[int], func: str = "") -> bytes:
    request = remote_pb2.ReadRequest(accepted_response_types=list(accepted))
    q = request.queries.add(start_timestamp_ms=start_ms, end_timestamp_ms=end_ms)
    q.matchers.add(type=types_pb2.LabelMatcher.RE, name="__name__", value=".+")
    if func:
        q.hints.func = func
        q.hints.start_ms, q.hints.end_ms = start_ms, end_ms
    return snappy.compress(request.SerializeToString())


@dataclass
class Answer:
    series: int = 0
    samples: int = 0
    frames: int = 0
    largest_frame: int = 0
    chunks: int = 0
    largest_chunk: int = 0  # samples
    labels: list[tuple[tuple[str, str], ...]] = field(default_factory=list)


def read_stream(body: bytes) -> Answer:
    """Every frame of a STREAMED_XOR_CHUNKS body, CRC-checked; XOR chunks counted by their header."""
    answer = Answer()
    at, previous = 0, None
    while at < len(body):
        start = at
        length, shift = 0, 0
        while True:
            byte = body[at]
            at += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        crc = int.from_bytes(body[at : at + 4], "big")
        message = body[at + 4 : at + 4 + length]
        if len(message) != length or crc32c(message) != crc:
            raise ValueError(f"frame {answer.frames} at byte {at}: truncated or bad CRC-32C")
        answer.frames += 1
        at += 4 + length
        answer.largest_frame = max(answer.largest_frame, at - start)
        for series in remote_pb2.ChunkedReadResponse.FromString(message).chunked_series:
            labels = tuple((label.name, label.value) for label in series.labels)
            if labels != previous:
                answer.series += 1
                answer.labels.append(labels)
                previous = labels
            for chunk in series.chunks:
                if chunk.type != types_pb2.Chunk.XOR:
                    raise ValueError(f"chunk of type {chunk.type}, expected XOR")
                count = int.from_bytes(chunk.data[:2], "big")
                answer.chunks += 1
                answer.samples += count
                answer.largest_chunk = max(answer.largest_chunk, count)
    return answer


def read_samples(body: bytes) -> tuple[Answer, remote_pb2.ReadResponse]:
    response = remote_pb2.ReadResponse.FromString(snappy.decompress(body, 1 << 31))
    answer = Answer()
    for result in response.results:
        for ts in result.timeseries:
            answer.series += 1
            answer.samples += len(ts.samples)
            answer.labels.append(tuple((label.name, label.value) for label in ts.labels))
    return answer, response


def parse_answer(content_type: str, body: bytes) -> Answer:
    if content_type.startswith("application/x-streamed-protobuf"):
        return read_stream(body)
    return read_samples(body)[0]


# --- processes ------------------------------------------------------------------------------------


def process_cpu(pid: int) -> float:
    """utime + stime of ``pid``, seconds (all its threads)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Process:
    """A child process with its output in a temporary log; always stopped by ``stop``."""

    def __init__(self, argv: Sequence[str], env: dict[str, str] | None = None, cwd: Path = ROOT) -> None:
        self.log = tempfile.NamedTemporaryFile(prefix="bench-read-", suffix=".log", delete=False)  # noqa: SIM115
        self.proc = subprocess.Popen(
            list(argv), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT
        )

    def output(self) -> str:
        with open(self.log.name, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def wait_for(self, ready: Callable[[], bool], what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{what} exited with {self.proc.returncode}; its log:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} not ready after {timeout:.0f} s; its log:\n{self.tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        os.unlink(self.log.name)


class LocalServer(_Process):
    """``python -m connector serve --local`` on a port the OS picks, embedded store in memory."""

    def __init__(self) -> None:
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "WARNING",
            "MAX_READ_RESPONSE_BYTES": str(READ_LIMIT),
            "DEFAULT_DATABASE": DATABASE,
            "DEFAULT_TABLE": TABLE,
        }
        super().__init__(
            [sys.executable, "-m", "connector", "serve", "--local", "--host", "127.0.0.1", "--port", "0"], env
        )
        self.url = self.store_url = ""
        try:
            self.wait_for(self._listening, "the connector")
        except BaseException:
            self.stop()
            raise
        host, port = self.url.removeprefix("http://").rsplit(":", 1)
        self.connection = http.client.HTTPConnection(host, int(port), timeout=120)

    def _listening(self) -> bool:
        for line in self.output().splitlines():
            if line.startswith("connector listening on "):
                self.url = line.split()[3]
                store = line.partition("embedded store at ")[2]
                self.store_url = store.split()[0].rstrip(",;)") if store else ""
                return True
        return False

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes, float]:
        """Status, Content-Type, body and wall seconds of one request on the kept-alive connection."""
        auth = "Basic " + _b64(f"{LOCAL_ACCESS_KEY_ID}:{LOCAL_SECRET_ACCESS_KEY}")
        started = time.perf_counter()
        self.connection.request("POST", path, body, {**headers, "Authorization": auth})
        response = self.connection.getresponse()
        data = response.read()
        return response.status, response.getheader("Content-Type", ""), data, time.perf_counter() - started

    def cpu(self) -> float:
        return process_cpu(self.proc.pid)

    def stop(self) -> None:
        connection = getattr(self, "connection", None)
        if connection is not None:
            connection.close()
        super().stop()


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


# --- (1) through serve --local --------------------------------------------------------------------


@dataclass
class Timed:
    name: str
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    def summary(self) -> str:
        walls = ", ".join(f"{w:.2f}" for w in self.walls)
        cpus = ", ".join(f"{c:.2f}" for c in self.cpus)
        statuses = sorted(set(self.statuses))
        return f"{self.name}: statuses {statuses}, wall s {walls} (first, then repeats); server CPU s {cpus}"


def timed_reads(server: LocalServer, name: str, body: bytes, rounds: int, keep: bool = False) -> Timed:
    timed = Timed(name)
    for _ in range(rounds):
        gc.collect()
        cpu = server.cpu()
        status, content_type, data, wall = server.post("/read", body, READ_HEADERS)
        timed.cpus.append(server.cpu() - cpu)
        timed.walls.append(wall)
        timed.statuses.append(status)
        timed.sizes.append(len(data))
        if status == 200:
            timed.answers.append(parse_answer(content_type, data))
            if keep and not timed.bodies:
                timed.bodies.append(data)
        else:
            timed.messages.append(data[:300].decode("utf-8", "replace"))
            if len(timed.messages) >= 2:
                break  # a read refused twice (deadline, limit) will not change: spare the machine
    return timed


def repeat_median(timed: Timed) -> float:
    """Median of the repeats (the first read of a selection is reported apart), or of all if one."""
    return median(timed.walls[1:] or timed.walls)


def complete(timed: Timed, series: int, samples: int) -> bool:
    return (
        bool(timed.statuses)
        and all(s == 200 for s in timed.statuses)
        and all(a.series == series and a.samples == samples for a in timed.answers)
    )


def served_reads(data: DataSet, rounds: int, section: Section) -> tuple[bytes | None, list[bytes]]:
    """Part (1); returns the streamed body of (a) for part (3) and the store's pages of (b) for part (2)."""
    server = LocalServer()
    try:
        bodies = write_bodies(data)
        began = time.perf_counter()
        cpu = server.cpu()
        statuses = []
        for body in bodies:
            status, _, answer, _ = server.post("/write", body, WRITE_HEADERS)
            statuses.append(status)
            if status != 204:
                raise RuntimeError(f"write answered {status}: {answer[:300]!r}")
        write_wall, write_cpu = time.perf_counter() - began, server.cpu() - cpu
        section.details.append(
            f"wrote {data.samples:,} samples ({len(data.series)} series) in {len(bodies)} requests, "
            f"statuses {sorted(set(statuses))}, {write_wall:.1f} s wall, server CPU {write_cpu:.1f} s"
        )
        n_series, n_samples = len(data.series), data.samples
        whole = (data.first_ms, data.last_ms)
        window_ms = max(1, len(data.series[0].samples) // 10) * 1000  # a tenth: every series 1 s apart
        tail = (data.last_ms - window_ms + 1, data.last_ms)
        tail_samples = in_range(data, *tail)

        a = timed_reads(server, "(a) all, streamed", read_body(*whole, [STREAMED, SAMPLES]), rounds, keep=True)
        b_stream = timed_reads(server, "(b) tail, streamed", read_body(*tail, [STREAMED, SAMPLES]), rounds + 2)
        b_samples = timed_reads(server, "(b) tail, samples", read_body(*tail, [SAMPLES]), rounds + 2)
        c = timed_reads(
            server, "(c) series look-up", read_body(-LOOKUP_MS, LOOKUP_MS, [STREAMED, SAMPLES], "series"), rounds + 2
        )
        d = timed_reads(server, "(d) all, samples only", read_body(*whole, [SAMPLES]), rounds)
        direct = direct_query(server, *tail)
    finally:
        server.stop()

    label = f"{n_series} series x {n_samples // n_series:,}"
    one_query = "1 query paged here, no connector"
    section.rows += [
        _wall_row(f"Read {n_samples:,} samples ({label}), streamed, serve --local", a, 10.0, n_series, n_samples),
        Row(
            "  (a) first read of the selection [one query, before slicing]",
            a.walls[0],
            "s",
            note=f"status {a.statuses[0]}",
        ),
        _wall_row(
            f"Read {tail_samples:,} samples (last {window_ms // 1000:,} s), streamed",
            b_stream,
            1.0,
            n_series,
            tail_samples,
            direct.wall,
            one_query,
        ),
        _wall_row(
            f"Read {tail_samples:,} samples (last {window_ms // 1000:,} s), SAMPLES",
            b_samples,
            1.0,
            n_series,
            tail_samples,
            direct.wall,
            one_query,
        ),
        _wall_row(f"Series look-up, all time ({n_series} series, {n_samples:,} samples stored)", c, 1.0, n_series, 0),
    ]
    d_ok = complete(d, n_series, n_samples)
    d_note = f"status {sorted(set(d.statuses))}" + ("" if d_ok else ", incomplete or refused")
    section.rows.append(Row(f"Read {n_samples:,} samples, SAMPLES only", repeat_median(d), "s", note=d_note))
    section.details.append(
        f"(b)'s statement as one query paged from the bench process (boto3 + pages.parse, no connector): "
        f"{direct.rows:,} rows in {len(direct.bodies)} pages, {direct.wall:.2f} s wall; "
        f"the server process (the embedded store) used {direct.server_cpu:.2f} s CPU meanwhile"
    )
    for t in (a, b_stream, b_samples, c, d):
        section.details.append(t.summary())
        if t.answers:
            x = t.answers[-1]
            section.details.append(
                f"    {t.sizes[-1]:,} B, {x.series} series, {x.samples:,} samples"
                + (
                    f", {x.frames} frames (largest {x.largest_frame:,} B), {x.chunks:,} chunks "
                    f"(at most {x.largest_chunk} samples)"
                    if x.frames
                    else ""
                )
                + (f", {t.sizes[-1] / x.samples:.2f} B/sample" if x.samples else "")
            )
        for message in t.messages[:1]:
            section.details.append(f"    answer: {message}")
    return (a.bodies[0] if a.bodies else None), direct.bodies


@dataclass
class Direct:
    wall: float  # seconds, this process paging the query
    server_cpu: float  # seconds of the server process meanwhile: the embedded store's share
    rows: int
    bodies: list[bytes]  # the store's page bodies, as the connector receives them


def direct_query(server: LocalServer, start_ms: int, end_ms: int) -> Direct:
    """The connector's statement for the selection, run as one query from this process straight
    against the embedded store (boto3 client built as the connector builds it, connector page parser)."""
    settings = replace(
        Settings(), query_endpoint=server.store_url, write_endpoint=server.store_url, database=DATABASE, table=TABLE
    )
    client = ClientCache(settings).query_client(Identity(LOCAL_ACCESS_KEY_ID, LOCAL_SECRET_ACCESS_KEY))
    bodies: list[bytes] = []

    def keep(response_dict: dict[str, Any], **_: Any) -> None:
        if response_dict.get("status_code") == 200 and isinstance(response_dict.get("body"), bytes):
            bodies.append(response_dict["body"])

    client.meta.events.register_first("before-parse.timestream-query.Query", keep)
    deadline = time.monotonic() + 600
    columns = query.describe(client, DATABASE, TABLE, deadline, settings.max_attempts)
    where = selection(columns, [Matcher.create(types_pb2.LabelMatcher.RE, "__name__", ".+")])
    time_range = clamp(start_ms, end_ms)
    assert time_range is not None
    text = statement(DATABASE, TABLE, columns, where, time_range, samples=True).text
    rows = 0
    gc.collect()
    cpu = server.cpu()
    began = time.perf_counter()
    for page in query.run(client, text, deadline, settings.max_attempts):
        rows += page.rows
    return Direct(time.perf_counter() - began, server.cpu() - cpu, rows, bodies)


def parse_cost(bodies: Sequence[bytes]) -> float:
    """CPU µs per row of ``pages.parse`` over ``bodies``."""
    gc.collect()
    rows = 0
    began = time.process_time()
    for body in bodies:
        rows += pages.parse(body).rows
    return 1e6 * (time.process_time() - began) / max(1, rows)


def _wall_row(
    name: str, timed: Timed, target: float, series: int, samples: int, baseline: float | None = None, label: str = ""
) -> Row:
    figure = repeat_median(timed)
    ok = complete(timed, series, samples)
    return Row(
        name,
        figure,
        "s",
        baseline=baseline,
        baseline_label=label,
        ratio=figure / baseline if baseline else None,
        target=f"<= {target:g} s, 200, complete",
        passed=ok and figure <= target,
        note="" if ok else f"statuses {sorted(set(timed.statuses))}, INCOMPLETE or not 200",
    )


# --- (2) CPU per sample against canned pages ------------------------------------------------------


def canned_pages(data: DataSet) -> tuple[list[bytes], Any]:
    """Query response bodies as Timestream returns them, for the layout the connector selects."""
    message = remote_pb2.WriteRequest()
    for one in data.series:
        ts = message.timeseries.add()
        for name, value in one.labels:
            ts.labels.add(name=name, value=value)
        for t, v in one.samples:
            ts.samples.add(timestamp=t, value=v)
    records = translate(message.timeseries).records
    dimensions = frozenset(name for r in records for name, _ in r.dimensions)
    columns = TableColumns(dimensions, True, dimensions | {"measure_name", "time", "measure_value::double"})
    stmt = statement(DATABASE, TABLE, columns, TRUE, TimeRange(data.first_ms, data.last_ms), samples=True)
    layout = stmt.layout
    names, types = ["_col0"], ["VARCHAR"]  # the series key
    if layout.has_special:
        names.append(schema.SPECIAL_DIMENSION)
        types.append("VARCHAR")
    names += ["measure_value::double", f"_col{len(names) + 1}"]
    types += ["DOUBLE", "BIGINT"]
    column_info = json.dumps(
        [{"Name": n, "Type": {"ScalarType": t}} for n, t in zip(names, types, strict=True)], separators=(",", ":")
    )
    records.sort(key=lambda r: r.time_ms)  # as a time-ordered scan returns them
    null = '{"NullValue":true}'

    def cell(text: str | None) -> str:
        return null if text is None else '{"ScalarValue":' + json.dumps(text) + "}"

    rows = []
    for r in records:
        dims = {**dict(r.dimensions), "measure_name": r.measure_name}
        cells = [cell(series_key.encode([dims.get(c) for c in layout.key_columns]))]
        if layout.has_special:
            cells.append(cell(dims.get(schema.SPECIAL_DIMENSION)))
        cells += [cell(r.value), cell(str(r.time_ms))]
        rows.append('{"Data":[' + ",".join(cells) + "]}")
    bodies = []
    query_id = "AEDQCANNEDBENCHQUERY0000000000000000000000000000000000"
    scanned = 0
    i = 0
    while i < len(rows):
        j, size = i, 0
        while j < len(rows) and j - i < PAGE_ROWS and size + len(rows[j]) < PAGE_BYTES - 4096:
            size += len(rows[j]) + 1
            j += 1
        scanned += size
        token = f',"NextToken":"AYABe{j:012d}CannedNextTokenForTheBenchmarkOnly=="' if j < len(rows) else ""
        status = (
            f'{{"ProgressPercentage":{100 * j / len(rows):.1f},"CumulativeBytesScanned":{scanned},'
            f'"CumulativeBytesMetered":{max(scanned, 10_000_000)}}}'
        )
        bodies.append(
            f'{{"QueryId":"{query_id}","Rows":[{",".join(rows[i:j])}],"ColumnInfo":{column_info},'
            f'"QueryStatus":{status}{token}}}'.encode()
        )
        i = j
    return bodies, layout


def streamed_path(bodies: Sequence[bytes], layout: Any) -> int:
    builder = SeriesBuilder(layout)
    for body in bodies:
        builder.add(pages.parse(body).cells)
    return len(read_codec.encode(STREAMED, [builder.series()]))


def stages(bodies: Sequence[bytes], layout: Any) -> dict[str, float]:
    clock = time.process_time
    spent = dict.fromkeys(("parse", "group", "encode streamed", "encode samples"), 0.0)
    builder = SeriesBuilder(layout)
    for body in bodies:
        t0 = clock()
        page = pages.parse(body)
        t1 = clock()
        builder.add(page.cells)
        t2 = clock()
        spent["parse"] += t1 - t0
        spent["group"] += t2 - t1
    t0 = clock()
    series = builder.series()
    t1 = clock()
    read_codec.encode(STREAMED, [series])
    t2 = clock()
    read_codec.encode(SAMPLES, [series])
    t3 = clock()
    spent["group"] += t1 - t0
    spent["encode streamed"] += t2 - t1
    spent["encode samples"] += t3 - t2
    return spent


def botocore_parse(bodies: Sequence[bytes]) -> list[pages.Page]:
    import botocore.parsers
    import botocore.session

    model = botocore.session.get_session().get_service_model("timestream-query")
    shape = model.operation_model("Query").output_shape
    parser = botocore.parsers.create_parser("json")
    return [
        pages.from_parsed(parser.parse({"status_code": 200, "headers": {}, "body": body}, shape)) for body in bodies
    ]


def cpu_per_sample(data: DataSet, rounds: int, section: Section, store_pages: Sequence[bytes] = ()) -> None:
    bodies, layout = canned_pages(data)
    n = data.samples
    subset = bodies[: max(1, len(bodies) // 10)]
    subset_rows = sum(pages.parse(b).rows for b in subset)
    # Same cells either way: the comparison is fair.
    fast, slow = [pages.parse(b) for b in subset[:3]], botocore_parse(subset[:3])
    if [p.cells for p in fast] != [p.cells for p in slow]:
        raise RuntimeError("pages.parse and botocore disagree on the canned pages")
    section.details.append(
        f"canned pages: {len(bodies)} bodies, {sum(map(len, bodies)) / len(bodies) / 1e3:.0f} kB and "
        f"{n // len(bodies)} rows each on average, {layout.width} columns ({', '.join(layout.labels)} "
        f"+ measure_name, special, value, time); botocore on {len(subset)} of them ({subset_rows:,} rows)"
    )
    clock = time.process_time
    totals: list[float] = []
    split: list[dict[str, float]] = []
    boto: list[float] = []
    fast_subset: list[float] = []
    for _ in range(rounds):
        gc.collect()
        t0 = clock()
        streamed_path(bodies, layout)
        totals.append((clock() - t0) / n)
        gc.collect()
        split.append({k: v / n for k, v in stages(bodies, layout).items()})
        gc.collect()
        t0 = clock()
        for b in subset:
            pages.parse(b)
        fast_subset.append((clock() - t0) / subset_rows)
        t0 = clock()
        botocore_parse(subset)
        boto.append((clock() - t0) / subset_rows)
    us = 1e6
    total = median(totals) * us
    stage = {k: median(s[k] for s in split) * us for k in split[0]}
    boto_us, fast_us = median(boto) * us, median(fast_subset) * us
    baseline = total - stage["parse"] + boto_us
    section.rows.append(
        Row(
            "CPU/sample read: parse + group + encode, streamed (canned pages)",
            total,
            "us",
            baseline=baseline,
            baseline_label="same with botocore's parser",
            ratio=total / baseline,
            target="<= 3 µs",
            passed=total <= 3.0,
        )
    )
    samples_total = stage["parse"] + stage["group"] + stage["encode samples"]
    section.rows.append(
        Row(
            "CPU/sample read: parse + group + encode, SAMPLES (snappy)",
            samples_total,
            "us",
            baseline=total,
            baseline_label="streamed",
            ratio=samples_total / total,
        )
    )
    for name in ("parse", "group", "encode streamed", "encode samples"):
        section.rows.append(Row(f"  stage: {name}", stage[name], "us"))
    section.rows.append(
        Row(
            "CPU/row: pages.parse",
            fast_us,
            "us",
            baseline=boto_us,
            baseline_label="botocore json parser",
            ratio=fast_us / boto_us,
        )
    )
    if store_pages:
        store_us = median(parse_cost(store_pages) for _ in range(rounds))
        section.rows.append(
            Row(
                "CPU/row: pages.parse on the embedded store's own pages of (b)",
                store_us,
                "us",
                baseline=fast_us,
                baseline_label="canned pages",
                ratio=store_us / fast_us,
            )
        )
        first = store_pages[0]
        rows_at = first.find(b'"Rows"')
        size = sum(map(len, store_pages)) / len(store_pages) / 1e3
        section.details.append(
            f"embedded store's pages of (b): {len(store_pages)}, {size:.0f} kB each on average; "
            f"the first begins {first[:40]!r}, its rows {first[rows_at : rows_at + 24]!r}"
        )
    section.details.append(
        f"{n:,} samples, {rounds} rounds; µs/sample per round: "
        + ", ".join(f"{t * us:.2f}" for t in totals)
        + "; botocore µs/row per round: "
        + ", ".join(f"{t * us:.1f}" for t in boto)
    )
    section.details.append("cProfile of the streamed path, own time (the profiler inflates small Python functions):")
    section.details += [f"  {line}" for line in hotspots(lambda: streamed_path(bodies, layout))]


def hotspots(fn: Callable[[], Any], top: int = 12) -> list[str]:
    profiler = cProfile.Profile()
    profiler.runcall(fn)
    stats = pstats.Stats(profiler, stream=io.StringIO())
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values())
    ranked = sorted(raw.items(), key=lambda item: item[1][2], reverse=True)
    lines = []
    for (path, line, func), (_, calls, tottime, cumtime, _) in ranked[:top]:
        where = path.rsplit("/site-packages/", 1)[-1].rsplit(str(ROOT) + "/", 1)[-1]
        lines.append(f"{100 * tottime / total:5.1f}%  {func} ({where}:{line}), {calls} calls, cum {cumtime:.2f} s")
    return lines


# --- (3) answer size against Prometheus' own chunks -----------------------------------------------


def openmetrics(data: DataSet) -> Iterator[str]:
    """The data set as OpenMetrics text, each metric family contiguous; staleness markers become NaN."""
    by_name: dict[str, list[Series]] = {}
    for one in data.series:
        by_name.setdefault(dict(one.labels)["__name__"], []).append(one)
    for name, family in by_name.items():
        for one in family:
            labels = ",".join(f'{k}="{_om_escape(v)}"' for k, v in one.labels if k != "__name__")
            prefix = f"{name}{{{labels}}} "
            yield "".join(f"{prefix}{_om_value(v)} {t // 1000}.{t % 1000:03d}\n" for t, v in one.samples)
    yield "# EOF\n"


def _om_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _om_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def post_prometheus(port: int, body: bytes) -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request("POST", "/api/v1/read", body, READ_HEADERS)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def _ready(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            connection.request("GET", "/-/ready")
            return connection.getresponse().status == 200
        finally:
            connection.close()
    except OSError:
        return False


@contextlib.contextmanager
def prometheus_serving(data: DataSet, workdir: Path) -> Iterator[tuple[int, float, list[str]]]:
    """A ``prometheus`` serving ``data`` from the TSDB block ``promtool`` makes of its OpenMetrics text,
    in ``workdir``: (its port, seconds promtool took, the block directories); stopped on exit."""
    text = workdir / "data.om.txt"
    with open(text, "w", encoding="utf-8") as out:
        out.writelines(openmetrics(data))
    blocks = workdir / "tsdb"
    began = time.perf_counter()
    made = subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", "-q", str(text), str(blocks)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if made.returncode != 0:
        raise RuntimeError(f"promtool failed ({made.returncode}): {made.stderr[-2000:]}")
    built = time.perf_counter() - began
    config = workdir / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1h\n", encoding="utf-8")
    port = free_port()
    server = _Process(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={blocks}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=30d",
        ],
        env={**os.environ},
        cwd=workdir,
    )
    try:
        server.wait_for(lambda: _ready(port), "prometheus", timeout=90)
        yield port, built, sorted(p.name for p in blocks.iterdir() if p.is_dir())
    finally:
        server.stop()


def prometheus_sizes(data: DataSet, served_stream: bytes | None, section: Section) -> None:
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if not prometheus or not promtool:
        section.details.append("prometheus/promtool not on PATH: answer-size comparison skipped")
        section.rows.append(
            Row(
                "Streamed bytes vs Prometheus' own chunks [prometheus missing]",
                math.nan,
                "x",
                target="<= 1.2x",
                passed=False,
            )
        )
        return
    workdir = Path(tempfile.mkdtemp(prefix="bench-read-prom-"))
    try:
        with prometheus_serving(data, workdir) as (port, built, block_dirs):
            whole = (data.first_ms, data.last_ms)
            status, ctype, stream = post_prometheus(port, read_body(*whole, [STREAMED]))
            if status != 200 or not ctype.startswith("application/x-streamed-protobuf"):
                raise RuntimeError(f"prometheus streamed read answered {status} {ctype}: {stream[:300]!r}")
            status, ctype, samples_body = post_prometheus(port, read_body(*whole, [SAMPLES]))
            if status != 200:
                raise RuntimeError(f"prometheus SAMPLES read answered {status}: {samples_body[:300]!r}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    prom_stream = read_stream(stream)
    prom_samples, response = read_samples(samples_body)
    theirs = [
        Series(tuple((label.name, label.value) for label in ts.labels), [(s.timestamp, s.value) for s in ts.samples])
        for ts in response.results[0].timeseries
    ]
    same = _same_samples(theirs, data)
    ours_stream = read_codec.encode(STREAMED, [theirs])
    ours_samples = read_codec.encode(SAMPLES, [theirs])
    ours = read_stream(ours_stream)
    n = prom_samples.samples
    complete_ = prom_stream.samples == n == data.samples and ours.samples == n and same
    ratio = len(ours_stream) / len(stream)
    section.rows.append(
        Row(
            f"Streamed answer bytes, {n:,} samples (connector encoding of Prometheus' samples)",
            len(ours_stream) / 1e6,
            "MB",
            baseline=len(stream) / 1e6,
            baseline_label="Prometheus 2.42 /api/v1/read chunks",
            ratio=ratio,
            target="ratio <= 1.2",
            passed=complete_ and ratio <= 1.2,
            note="" if complete_ else "samples differ",
        )
    )
    if served_stream is not None:
        section.rows.append(
            Row(
                "  the same through serve --local, (a)",
                len(served_stream) / 1e6,
                "MB",
                baseline=len(stream) / 1e6,
                baseline_label="Prometheus",
                ratio=len(served_stream) / len(stream),
            )
        )
    section.rows.append(Row("  bytes/sample: connector streamed", len(ours_stream) / n, "B"))
    section.rows.append(Row("  bytes/sample: Prometheus streamed", len(stream) / n, "B"))
    section.rows.append(
        Row(
            "  bytes/sample: connector SAMPLES (snappy)",
            len(ours_samples) / n,
            "B",
            baseline=len(samples_body) / n,
            baseline_label="Prometheus SAMPLES",
            ratio=len(ours_samples) / len(samples_body),
        )
    )
    section.details += [
        f"promtool built {len(block_dirs)} block(s) in {built:.1f} s from {data.samples:,} samples",
        f"Prometheus stream: {len(stream):,} B, {prom_stream.frames} frames, {prom_stream.chunks:,} chunks "
        f"(at most {prom_stream.largest_chunk} samples), {prom_stream.series} series, {prom_stream.samples:,} samples",
        f"connector stream of the same samples: {len(ours_stream):,} B, {ours.frames} frames, {ours.chunks:,} chunks",
        f"SAMPLES answers: Prometheus {len(samples_body):,} B, connector {len(ours_samples):,} B; Prometheus' samples "
        f"{'equal' if same else 'DIFFER from'} the data set bit for bit (staleness markers read as NaN)",
    ]


def _bits(value: float) -> int:
    return int.from_bytes(struct.pack(">d", value), "big")


def _same_samples(theirs: Sequence[Series], data: DataSet) -> bool:
    nan = schema.CANONICAL_NAN_BITS
    expected = {
        s.labels: [(t, nan if _bits(v) == schema.STALE_NAN_BITS else _bits(v)) for t, v in s.samples]
        for s in data.series
    }
    got = {s.labels: [(t, _bits(v)) for t, v in s.samples] for s in theirs}
    return got == expected


# --- entry point ----------------------------------------------------------------------------------


def run(series: int = 100, samples: int = 10_000, rounds: int = 3, cpu_rounds: int = 3) -> Section:
    section = Section("Remote read")
    data = dataset(series, samples, int(time.time()) * 1000)
    section.details.append(
        f"data set: {len(data.series)} series x {samples:,} samples = {data.samples:,}, "
        f"{data.first_ms} .. {data.last_ms} ms"
    )
    stream, store_pages = served_reads(data, rounds, section)
    cpu_per_sample(data, cpu_rounds, section, store_pages)
    prometheus_sizes(data, stream, section)
    return section
