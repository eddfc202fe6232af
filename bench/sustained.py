"""9. Sustained load: the connector as its own process, fed open loop at fixed rates for minutes.

Three processes besides this one. The connector, ``python -m connector serve`` exactly as deployed
locally (``LOG_LEVEL=INFO``: one JSON log line per request, ``GET /metrics`` on), its Timestream
write client pointed at ``bench.fake_timestream`` by ``TIMESTREAM_WRITE_ENDPOINT``, which answers
every ``WriteRecords`` at once and counts the records it parsed. ``bench.loadgen`` sends Prometheus-
shaped remote write 1.0: 2,000 samples a request, a fixed population of 10,000 series (20 targets of
the 500 captured series of a Prometheus scraping itself) scraped target after target with new
timestamps and values, over 8 keep-alive connections like Prometheus' shards. Every body is built
before its run.

Each rate has a fresh connector process: it is started, primed with one scrape of every series (a
long-running connector has seen its series), then fed open loop: request ``k`` is due at
``t0 + k * 2000 / rate`` whatever earlier ones took. The first ``warmup`` seconds are not measured;
then, over ``seconds``: the connector's CPU (utime + stime from ``/proc/<pid>/stat``, all its
threads) per second of wall time (% of one core) and per sample processed (samples counted by
their share of each request's send-to-answer time inside the window), ``VmRSS`` every second and
``VmHWM`` (the peak of the process' whole life, priming included) from ``/proc/<pid>/status``, the
growth of RSS from 10% of the window to its end, and each request's latency (send to answer; in
the details also from its due time, which counts the wait for a free connection). Start lag is
how late requests started against their due time; "generator late" is the part of it when a
connection was free (the generator's own delay, not the connector's backpressure). Delivery: the
samples of every request sent (warm-up included) against the records the fake endpoint counted,
and every status 2xx.

Rates 1k, 5k, 10k (the AWS Distro for OpenTelemetry collector's published soak figures for
scrape + remote write are the baselines: 4.3 / 24.1 / 45.2% CPU, 96 / 741 / 1,372 MB) and 50k
samples/s; then 10k samples/s over 150,000 series (a 15 s scrape interval, more series than
``SERIES_CACHE_SIZE`` holds), and the ceiling of one process: 8 connections closed loop (each sends
its next request when the last is answered). MB are 10^6 bytes. The machine has 2 cores shared by
the connector, the fake endpoint, the generator and other work: their CPU is in the details.
``python -m bench.sustained [--seconds S] [--rates 1000,10000] [--profile FILE] [--connector-root DIR]``
runs this alone; ``--profile`` runs the connector under a cProfile per thread (CPU time) and prints
its top costs per sample; ``--connector-root`` runs the connector of another tree, e.g. ``git archive HEAD``.
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import json
import math
import os
import pstats
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bench import report
from bench.common import DATABASE, ROOT, Row, Section
from bench.read import _Process, process_cpu

SAMPLES_PER_REQUEST = 2000
CONNECTIONS = 8
SERIES = 10_000
WIDE_SERIES = 150_000  # 10k samples/s at a 15 s scrape interval
RATES = (1000, 5000, 10_000, 50_000)
# The AWS Distro for OpenTelemetry collector's soak test: samples/s -> (% CPU, MB RSS).
COLLECTOR = {1000: (4.3, 96.0), 5000: (24.1, 741.0), 10_000: (45.2, 1372.0)}
TARGET_RATE = 10_000
TARGET_CPU_PCT = 10.0
TARGET_RSS_MB = 120.0
TARGET_P99_MS = 500.0
MB = 1_000_000
TABLE = "BenchSustained"
# Closed loop: bodies built for at most this rate over the run (the generator stops when they run out).
CEILING_BUILD_RATE = 100_000


def status_bytes(pid: int, name: str) -> int:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of ``pid``."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {name} in /proc/{pid}/status")


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class _Child:
    """A helper process speaking one JSON line each way; its stderr goes to a temporary log."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.name = " ".join(args)
        self.log = tempfile.NamedTemporaryFile(prefix="bench-sustained-", suffix=".log", delete=False)  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=env or {**os.environ, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self.pid = self.proc.pid

    @property
    def stdout(self) -> IO[str]:
        assert self.proc.stdout is not None
        return self.proc.stdout

    def send(self, op: str, **arguments: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **arguments}) + "\n")
        self.proc.stdin.flush()

    def read(self) -> Any:
        line = self.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name} ended unexpectedly; its log:\n{self.log_tail()}")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"{self.name}: {reply['error']}")
        return reply.get("result", reply)

    def command(self, op: str, **arguments: Any) -> Any:
        self.send(op, **arguments)
        return self.read()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "".join(Path(self.log.name).read_text(errors="replace").splitlines(True)[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        os.unlink(self.log.name)


class FakeEndpoint(_Child):
    def __init__(self) -> None:
        super().__init__(["-m", "bench.fake_timestream"])
        self.port = int(self.read()["port"])
        self.url = f"http://127.0.0.1:{self.port}"

    def _get(self, path: str) -> dict[str, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path)
            return json.loads(conn.getresponse().read())  # type: ignore[no-any-return]
        finally:
            conn.close()

    def stats(self) -> dict[str, Any]:
        return self._get("/__stats")

    def reset(self) -> None:
        self._get("/__reset")


class ConnectorProcess(_Process):
    """``python -m connector serve`` against ``endpoint`` on a port it picks; ``profile``: under this
    module's per-thread profiler; ``root``: the connector of another source tree (e.g. ``git archive
    HEAD``), with this one's venv."""

    def __init__(self, endpoint: str, profile: str | None = None, root: Path | None = None) -> None:
        serve = ["serve", "--host", "127.0.0.1", "--port", "0"]
        launcher = ["-m", "bench.sustained", "--profiled-connector", profile] if profile else ["-m", "connector"]
        env = {
            **os.environ,
            "TIMESTREAM_WRITE_ENDPOINT": endpoint,
            "TIMESTREAM_QUERY_ENDPOINT": endpoint,
            "DEFAULT_DATABASE": DATABASE,
            "DEFAULT_TABLE": TABLE,
            "AWS_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "LOG_LEVEL": "INFO",  # as deployed: one JSON line per request
        }
        if root is not None:
            if profile:
                raise ValueError("--profile runs this tree's bench.sustained: not with --connector-root")
            env["PYTHONPATH"] = os.pathsep.join([str(root), str(root / "proto")])
        super().__init__([sys.executable, *launcher, *serve], env, cwd=root or ROOT)
        self.pid = self.proc.pid
        self.port = 0
        try:
            self.wait_for(self._listening, "the connector", timeout=30)
        except BaseException:
            self.stop()
            raise

    def _listening(self) -> bool:
        for line in self.output().splitlines():
            if line.startswith("connector listening on "):
                self.port = int(line.split()[3].rsplit(":", 1)[1])
                return True
        return False


@dataclass
class Measured:
    """One run: what the processes did inside the measured window, and the delivery of the whole run."""

    label: str
    rate: float | None  # offered samples/s; None in closed loop
    series: int
    scrape_interval_s: float
    window_s: float
    cpu_s: float
    achieved: float  # samples/s processed inside the window
    peak_rss: float
    rss_growth: float
    latency_ms: list[float]
    from_due_ms: list[float]
    lag_ms: list[float]
    late_ms: list[float]
    sent: int
    counted: int
    statuses: Counter[int]
    errors: dict[str, int]
    generator_cpu_pct: float
    fake_cpu_pct: float
    describe_calls: int
    write_calls: int
    cpu_trace: list[float] = field(default_factory=list)
    rss_trace: list[float] = field(default_factory=list)
    primed: int = 0  # samples sent before the run (one scrape of every series)
    build: dict[str, Any] = field(default_factory=dict)

    @property
    def cpu_pct(self) -> float:
        return 100 * self.cpu_s / self.window_s

    @property
    def us_per_sample(self) -> float:
        return 1e6 * self.cpu_s / max(1.0, self.achieved * self.window_s)

    @property
    def delivered(self) -> bool:
        return self.sent == self.counted and set(self.statuses) <= set(range(200, 300)) and not self.errors

    def p(self, values: list[float], q: float) -> float:
        return _percentile(values, q)


class _Trace:
    """Samples a process' CPU seconds and RSS once a second (and at the window's edges) from this process."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.points: list[tuple[float, float, int]] = []

    def sample(self) -> tuple[float, float, int]:
        point = (time.monotonic(), process_cpu(self.pid), status_bytes(self.pid, "VmRSS"))
        self.points.append(point)
        return point


class Bench:
    def __init__(self, connections: int = CONNECTIONS, profile: str | None = None, root: Path | None = None) -> None:
        self.connections = connections
        self.profile = profile
        self.root = root
        self.fake = FakeEndpoint()
        self.generator = _Child(["-m", "bench.loadgen"])

    def close(self) -> None:
        self.generator.stop()
        self.fake.stop()

    def measure(
        self,
        label: str,
        rate: float | None,
        seconds: float,
        warmup: float,
        series: int = SERIES,
        samples_per_request: int = SAMPLES_PER_REQUEST,
    ) -> Measured:
        build_rate = rate or CEILING_BUILD_RATE
        requests = max(1, math.ceil((warmup + seconds) * build_rate / samples_per_request))
        build = self.generator.command(
            "prepare",
            series=series,
            rate=build_rate,
            requests=requests,
            samples_per_request=samples_per_request,
            base_ms=int(time.time() * 1000),
        )
        spr = int(build["samples_per_request"])
        connector = ConnectorProcess(self.fake.url, self.profile, self.root)
        try:
            primed = self.generator.command("prime", port=connector.port, connections=min(4, self.connections))
            if any(r[4] // 100 != 2 for r in primed["requests"]):
                raise RuntimeError(f"priming failed: {primed['errors']}; connector log:\n{connector.tail()}")
            self.fake.reset()
            t0 = time.monotonic() + 0.3
            start, end = t0 + warmup, t0 + warmup + seconds
            if rate:
                self.generator.send("run", port=connector.port, connections=self.connections, t0=t0, period=spr / rate)
            else:
                self.generator.send("run", port=connector.port, connections=self.connections, t0=t0, stop_at=end)
            trace, helpers = _Trace(connector.pid), [_Trace(self.generator.pid), _Trace(self.fake.pid)]
            marks = sorted({t0 + i for i in range(int(warmup + seconds) + 1)} | {start, end})
            edges: dict[str, tuple[float, float, int]] = {}
            result = None
            for mark in marks:
                wait = max(0.0, mark - time.monotonic())
                if result is None and select.select([self.generator.stdout], [], [], wait)[0]:
                    result = self.generator.read()  # all answered (open loop: the window still runs to its end)
                if rate:
                    time.sleep(max(0.0, mark - time.monotonic()))
                closed_early = result is not None and not rate  # closed loop out of bodies: the window ends
                if mark in (start, end) or closed_early:
                    for helper in helpers:
                        helper.sample()
                    edges.setdefault("start" if mark == start else "end", trace.sample())
                else:
                    trace.sample()
                if closed_early:
                    edges.setdefault("end", trace.points[-1])
                    break
            if result is None:
                result = self.generator.read()
            peak = status_bytes(connector.pid, "VmHWM")
        finally:
            connector.stop()
        cpu_of = [100 * (h.points[-1][1] - h.points[0][1]) for h in helpers]
        return self._measured(
            label, rate, build, result, trace, edges, cpu_of, peak, spr, len(primed["requests"]) * spr
        )

    def _measured(
        self,
        label: str,
        rate: float | None,
        build: dict[str, Any],
        result: dict[str, Any],
        trace: _Trace,
        edges: dict[str, tuple[float, float, int]],
        helper_cpu: list[float],
        peak: int,
        spr: int,
        primed: int,
    ) -> Measured:
        (t_start, cpu_start, _), (t_end, cpu_end, rss_end) = edges["start"], edges["end"]
        window = t_end - t_start
        requests = result["requests"]
        processed = 0.0
        for _due, _free, begin, finish, _status in requests:
            overlap = min(finish, t_end) - max(begin, t_start)
            if overlap > 0:
                processed += spr * overlap / max(finish - begin, 1e-9)
        if rate:
            measured = [r for r in requests if t_start <= r[0] < t_end]
        else:
            measured = [r for r in requests if t_start <= r[2] < t_end]
        inside = [p for p in trace.points if t_start <= p[0] <= t_end]
        early = [p[2] for p in inside if p[0] <= t_start + 0.1 * window] or [inside[0][2]]
        stats = self.fake.stats()
        cpu_points = [
            (b[1] - a[1]) / max(1e-9, b[0] - a[0]) for a, b in zip(trace.points, trace.points[1:], strict=False)
        ]
        return Measured(
            label=label,
            rate=rate,
            series=int(build["series"]),
            scrape_interval_s=float(build["scrape_interval_s"]),
            window_s=window,
            cpu_s=cpu_end - cpu_start,
            achieved=processed / window,
            peak_rss=peak / MB,
            rss_growth=(rss_end - max(early)) / MB,
            latency_ms=[1000 * (r[3] - r[2]) for r in measured],
            from_due_ms=[1000 * (r[3] - r[0]) for r in measured] if rate else [],
            lag_ms=[1000 * (r[2] - r[0]) for r in measured] if rate else [],
            late_ms=[1000 * (r[2] - max(r[0], r[1])) for r in measured] if rate else [],
            sent=spr * len(requests),
            counted=int(stats["records"]),
            statuses=Counter(int(r[4]) for r in requests),
            errors=result["errors"],
            generator_cpu_pct=helper_cpu[0] / window,
            fake_cpu_pct=helper_cpu[1] / window,
            primed=primed,
            describe_calls=int(stats["describe_calls"]),
            write_calls=int(stats["write_calls"]),
            cpu_trace=[100 * c for c in cpu_points],
            rss_trace=[p[2] / MB for p in trace.points],
            build=build,
        )


def _rate_text(rate: float) -> str:
    return f"{rate / 1000:g}k"


def _row(name: str, figure: float, unit: str, limit: float | None, collector: float | None) -> Row:
    """A row against the collector's figure (when there is one) and the issue's limit (when it applies)."""
    return Row(
        name,
        figure,
        unit,
        collector,
        "ADOT collector" if collector else "",
        figure / collector if collector else None,
        f"<= {limit:.0f}{'' if unit == '%' else ' '}{unit}" if limit is not None else "",
        figure <= limit if limit is not None else None,
    )


def rows_for(m: Measured, targets: bool) -> list[Row]:
    """The table rows of one run; ``targets``: the issue's targets apply (10k samples/s)."""
    collector = COLLECTOR.get(int(m.rate or 0)) if m.series == SERIES else None
    lag99 = m.p(m.lag_ms, 0.99) if m.lag_ms else 0.0
    late99 = m.p(m.late_ms, 0.99) if m.late_ms else 0.0
    offered = m.rate or m.achieved
    kept = m.achieved >= 0.98 * offered
    behind = "" if late99 < 50 else f"; GENERATOR BEHIND SCHEDULE: late p99 {late99:.0f} ms"
    if not kept:  # the connector fell behind: requests waited for a free connection (start lag)
        behind += f"; NOT SUSTAINED: {m.achieved / offered:.0%} of the offered rate, start lag p99 {lag99 / 1000:.1f} s"
    prefix = f"Sustained {_rate_text(m.rate)} samples/s" if m.rate else "Ceiling of one process"
    prefix += f", {m.label}" if m.label else ""
    limits = (TARGET_CPU_PCT, TARGET_RSS_MB, TARGET_P99_MS) if targets else (None, None, None)
    cpu = _row(f"{prefix}: connector CPU (% of one core)", m.cpu_pct, "%", limits[0], collector and collector[0])
    cpu.note = f"{m.us_per_sample:.1f} µs/sample"
    rss = _row(f"{prefix}: peak RSS", m.peak_rss, "MB", limits[1], collector and collector[1])
    rss.note = f"{m.rss_growth:+.1f} MB from 10% of the run to its end"
    latency = _row(f"{prefix}: latency p99", m.p(m.latency_ms, 0.99), "ms", limits[2], None)
    latency.note = f"p50 {m.p(m.latency_ms, 0.5):.0f} ms" + (f"; start lag p99 {lag99:.0f} ms" if m.rate else "")
    statuses = ", ".join(f"{n} x {s}" for s, n in sorted(m.statuses.items()))
    delivery = Row(
        f"{prefix}: samples delivered",
        m.counted,
        "samples",
        m.sent,
        "sent",
        m.counted / m.sent if m.sent else None,
        "all, every status 2xx" + (", rate kept" if targets else ""),
        m.delivered and (kept or not targets),
        note=f"{statuses}; {m.achieved:,.0f} samples/s{behind}",
    )
    if m.rate:
        return [cpu, rss, latency, delivery]
    throughput = Row(f"{prefix}: samples/s answered", m.achieved, "samples/s", note=f"{m.cpu_pct:.0f}% CPU")
    return [throughput, cpu, rss, latency, delivery]


def details_for(m: Measured) -> list[str]:
    offered = f"{m.rate:,.0f} samples/s open loop" if m.rate else f"closed loop, {CONNECTIONS} connections"
    lines = [
        f"{m.label or _rate_text(m.rate or 0)}: {offered}, {m.series:,} series (scrape interval "
        f"{m.scrape_interval_s:g} s), {m.window_s:.1f} s measured; {m.build['bodies']} bodies of "
        f"{m.build['mean_body_bytes'] / 1000:.0f} kB built in {m.build['build_seconds']:.1f} s",
        f"  connector CPU {m.cpu_pct:.1f}% of one core = {m.us_per_sample:.1f} µs/sample at "
        f"{m.achieved:,.0f} samples/s; VmHWM {m.peak_rss:.1f} MB, RSS growth {m.rss_growth:+.1f} MB",
        f"  latency ms p50 {m.p(m.latency_ms, 0.5):.1f} p90 {m.p(m.latency_ms, 0.9):.1f} "
        f"p99 {m.p(m.latency_ms, 0.99):.1f} max {max(m.latency_ms, default=0):.1f} over {len(m.latency_ms)} requests",
    ]
    if m.rate:
        lines.append(
            f"  from due time p99 {m.p(m.from_due_ms, 0.99):.1f} ms; start lag p50 {m.p(m.lag_ms, 0.5):.1f} "
            f"p99 {m.p(m.lag_ms, 0.99):.1f} max {max(m.lag_ms, default=0):.1f} ms; generator late (a connection "
            f"was free) p99 {m.p(m.late_ms, 0.99):.1f} max {max(m.late_ms, default=0):.1f} ms"
        )
    lines += [
        f"  delivered {m.counted:,} of {m.sent:,} samples sent; statuses {dict(m.statuses)}; "
        f"errors {m.errors or 'none'}; "
        f"{m.write_calls:,} WriteRecords calls ({m.counted / max(1, m.write_calls):.1f} records each), "
        f"{m.describe_calls} DescribeEndpoints",
        f"  CPU of the generator {m.generator_cpu_pct:.1f}%, of the fake endpoint {m.fake_cpu_pct:.1f}% of one core",
        "  connector CPU %/s: " + " ".join(f"{c:.0f}" for c in m.cpu_trace),
        "  connector RSS MB/s: " + " ".join(f"{r:.0f}" for r in m.rss_trace),
    ]
    return lines


def measure_all(
    seconds: float = 30,
    warmup: float = 3,
    rates: Sequence[float] = RATES,
    ceiling_seconds: float = 20,
    wide_series: int | None = WIDE_SERIES,
    series: int = SERIES,
    samples_per_request: int = SAMPLES_PER_REQUEST,
    connections: int = CONNECTIONS,
    profile: str | None = None,
    root: Path | None = None,
) -> list[Measured]:
    """Every run, each with a fresh connector process: the rates, the wide population, the ceiling."""
    bench = Bench(connections, profile, root)
    try:
        runs = [bench.measure("", rate, seconds, warmup, series, samples_per_request) for rate in rates]
        if wide_series:
            runs.append(bench.measure(f"{wide_series:,} series", TARGET_RATE, seconds, warmup, wide_series))
        if ceiling_seconds:
            label = f"{connections} connections, closed loop"
            runs.append(bench.measure(label, None, ceiling_seconds, warmup, series, samples_per_request))
    finally:
        bench.close()
    return runs


def section_for(runs: Sequence[Measured], series: int = SERIES) -> Section:
    section = Section("Sustained load (python -m connector serve, fake Timestream endpoint)")
    for m in runs:
        section.rows += rows_for(m, targets=m.rate == TARGET_RATE and m.series == series)
        section.details += details_for(m)
    section.details.append(
        "ADOT collector soak (published, scrape + remote write): 1k/s 4.3% CPU 96 MB; 5k/s 24.1% 741 MB; "
        "10k/s 45.2% 1,372 MB"
    )
    return section


def run(**options: Any) -> Section:
    """The section for ``make bench``; ``options`` as ``measure_all``'s."""
    return section_for(measure_all(**options), options.get("series", SERIES))


# --- profiling the connector (bench only: nothing of this is in connector/) ------------------------


def _profiled_connector(out: str, argv: list[str]) -> None:
    """Run ``python -m connector <argv>`` with a cProfile in every thread; merged into ``out`` at exit."""
    import runpy

    profilers: list[cProfile.Profile] = []
    bootstrap = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]

    def profiled(self: threading.Thread) -> None:
        profiler = cProfile.Profile(time.thread_time)  # this thread's CPU time: waiting costs nothing
        profilers.append(profiler)
        profiler.enable()
        try:
            bootstrap(self)
        finally:
            profiler.disable()

    threading.Thread._bootstrap_inner = profiled  # type: ignore[attr-defined]
    sys.argv = ["connector", *argv]
    try:
        runpy.run_module("connector", run_name="__main__")
    except SystemExit:
        pass
    finally:
        stats = None
        for profiler in list(profilers):
            profiler.create_stats()
            if stats is None:
                stats = pstats.Stats(profiler)
            else:
                stats.add(profiler)
        if stats is not None:
            stats.dump_stats(out)


def print_profile(path: str, samples: int, top: int = 25) -> None:
    """The merged profile's top functions by own CPU time, and the connector's own by cumulative time."""
    stats = pstats.Stats(path)
    entries = list(stats.stats.items())  # type: ignore[attr-defined]
    total = sum(value[2] for _, value in entries)
    print(
        f"\nprofile of the connector, CPU time of every thread: {1e6 * total / samples:.1f} µs/sample under "
        f"cProfile (which inflates it), {samples:,} samples (priming included)"
    )

    def show(title: str, chosen: list[Any]) -> None:
        print(title)
        for (filename, line, name), value in chosen[:top]:
            where = filename.replace(str(ROOT) + "/", "").replace(sys.prefix + "/", "")
            own, cum = (1e6 * value[i] / samples for i in (2, 3))
            print(f"  {own:6.2f} own {cum:6.2f} cum µs/sample {value[1]:>9,} calls  {where}:{line}({name})")

    show("top by own time:", sorted(entries, key=lambda item: item[1][2], reverse=True))
    ours = [e for e in entries if e[0][0].startswith((str(ROOT) + "/connector", "connector/"))]
    show("connector functions by cumulative time:", sorted(ours, key=lambda item: item[1][3], reverse=True))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--profiled-connector"]:
        _profiled_connector(argv[1], argv[2:])
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.sustained", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--rates", default=",".join(str(r) for r in RATES))
    parser.add_argument("--ceiling-seconds", type=float, default=20)
    parser.add_argument("--wide-series", type=int, default=WIDE_SERIES, help="0: skip the 150k-series run")
    parser.add_argument("--profile", default="", help="write the connector's merged cProfile here (last run's)")
    parser.add_argument("--connector-root", type=Path, help="run the connector of this source tree instead")
    args = parser.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",") if r]
    runs = measure_all(
        args.seconds,
        args.warmup,
        rates,
        args.ceiling_seconds,
        args.wide_series or None,
        profile=args.profile or None,
        root=args.connector_root,
    )
    section = section_for(runs)
    print(report.text_table(section.rows))
    print(f"\n{section.title}:")
    for line in section.details:
        print(f"  {line}")
    if args.profile and runs:
        print_profile(args.profile, runs[-1].sent + runs[-1].primed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
