"""5. Peak memory while the core handles one ~10 MB remote-write request.

The body is ~10 MB *compressed* (snappy block; label values are random base64, which snappy cannot
shrink, so it is about as large decompressed): ~500 captured series per scrape, each with a random
120-character ``trace_id`` label, one sample per series, scrapes 250 ms apart near now.

A fresh ``python -m bench.memory`` process imports the connector, builds ``Connector(settings)`` and
warms it with one small request (client, connection pool, writer threads), reads the body into
memory, then handles it through ``Connector.handle`` against the embedded store, which runs in
the store process so its memory is not counted. Reported: peak RSS (``VmHWM``; ``ru_maxrss`` is in
the details, but it inherits the parent's high-water mark across exec) minus the RSS just before
``handle`` (imports, warm client and the body already counted in the baseline), and, in a second
fresh process, the ``tracemalloc`` peak of ``handle`` (Python allocations only, not upb's
arena) against ``bench.stub.NoopEndpoint`` (tracemalloc slows the connector several-fold and the
embedded store ingests slowly; the connector's allocations do not depend on the far end). The
ratio is to the decompressed body size.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bench.common import ROOT, Row, Section, captured_label_sets, write_request
from bench.store import StoreProcess
from connector.prom import snappy
from prompb import remote_pb2

TABLE = "BenchMemory"
MB = 1024 * 1024


def big_body(target_bytes: int, first_ms: int, seed: int = 1) -> tuple[bytes, int, int]:
    """(snappy body of about ``target_bytes``, samples, decompressed bytes)."""
    label_sets = captured_label_sets()
    rng = random.Random(seed)

    def build(series: int) -> bytes:
        message = remote_pb2.WriteRequest()
        for i in range(series):
            labels: list[tuple[str, str]] = list(label_sets[i % len(label_sets)])
            labels.append(("trace_id", base64.b64encode(rng.randbytes(90)).decode()))
            labels.sort()
            entry = message.timeseries.add()
            for name, value in labels:
                entry.labels.add(name=name, value=value)
            entry.samples.add(timestamp=first_ms + (i // 500) * 250, value=rng.random() * 1e6)
        return message.SerializeToString()

    probe = 2000
    per_series = len(snappy.compress(build(probe))) / probe
    series = max(1, int(target_bytes / per_series))
    raw = build(series)
    return snappy.compress(raw), series, len(raw)


def _status_bytes(field: str) -> int:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process, from /proc/self/status."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _child(url: str, body_path: str, mode: str, out: str) -> None:
    """Runs in the fresh process: baseline, then one ``handle`` of the big body."""
    from bench.common import settings_for
    from connector.app import Connector

    # The embedded store ingests far slower than Timestream: give it time, the figure is memory.
    # The 10 MB request decompresses beyond the default MAX_BODY_BYTES: raise it for this measurement.
    connector = Connector(settings_for(url, TABLE, request_timeout=600.0, max_body_bytes=64 << 20))
    small = Path(body_path + ".small").read_bytes()
    warm = connector.handle(write_request(small))
    body = Path(body_path).read_bytes()
    request = write_request(body)
    gc.collect()
    time.sleep(0.05)
    baseline_rss = _status_bytes("VmRSS")
    baseline_hwm = _status_bytes("VmHWM")
    baseline_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if mode == "tracemalloc":
        tracemalloc.start()
    started = time.perf_counter()
    response = connector.handle(request)
    elapsed = time.perf_counter() - started
    result = {
        "warm_status": warm.status,
        "status": response.status,
        "written": response.headers.get("X-Prometheus-Remote-Write-Samples-Written"),
        "message": response.body[:300].decode("utf-8", "replace"),
        "baseline_rss": baseline_rss,
        "baseline_hwm": baseline_hwm,
        "baseline_maxrss": baseline_maxrss,
        "peak_rss": _status_bytes("VmHWM"),
        "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "seconds": elapsed,
    }
    if mode == "tracemalloc":
        result["traced_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    Path(out).write_text(json.dumps(result))


def _spawn(url: str, body_path: str, mode: str) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        proc = subprocess.run(
            [sys.executable, "-m", "bench.memory", url, body_path, mode, out.name],
            cwd=ROOT,
            env={**os.environ, "LOG_LEVEL": "WARNING"},
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"memory child ({mode}) failed: {proc.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(Path(out.name).read_text())
    if result["status"] != 204:
        raise RuntimeError(f"memory child ({mode}): connector answered {result['status']}: {result['message']}")
    return result


def run(store: StoreProcess | None = None, target_bytes: int = 10 * 1000 * 1000) -> Section:
    own_store = store is None
    store = store or StoreProcess()
    try:
        store.set_faults()
        store.create_table(TABLE, memory_retention_hours=24)
        first_ms = (int(time.time()) - 3600) * 1000
        body, samples, raw_bytes = big_body(target_bytes, first_ms)
        small, _, _ = big_body(20_000, first_ms - 60_000, seed=2)
        with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
            body_path = os.path.join(tmp, "body.snappy")
            Path(body_path).write_bytes(body)
            Path(body_path + ".small").write_bytes(small)
            rss = _spawn(store.url, body_path, "rss")
            # tracemalloc makes the connector several times slower; against the no-op endpoint the
            # run stays short, and the connector allocates the same either way.
            traced = _spawn(store.noop_endpoint(0), body_path, "tracemalloc")
    finally:
        if own_store:
            store.stop()
    def mib(value: Any) -> str:
        return f"{int(value) / MB:.1f}"

    growth = int(rss["peak_rss"]) - int(rss["baseline_rss"])
    section = Section("Memory")
    section.rows = [
        Row(
            f"Peak RSS growth, {len(body) / 1e6:.1f} MB compressed request",
            growth / MB,
            "MiB",
            raw_bytes / MB,
            "decompressed body MiB",
            growth / raw_bytes,
            note=f"{samples:,} samples",
        ),
        Row(
            "tracemalloc peak during handle (same request size)",
            int(traced["traced_peak"]) / MB,
            "MiB",
            raw_bytes / MB,
            "decompressed body MiB",
            int(traced["traced_peak"]) / raw_bytes,
            note="Python objects only",
        ),
    ]
    section.details.append(
        f"body {len(body):,} B compressed, {raw_bytes:,} B decompressed, {samples:,} samples (1 per series, "
        f"random 120-char trace_id label); RSS before handle {mib(rss['baseline_rss'])} MiB (peak so far "
        f"{mib(rss['baseline_hwm'])}), peak after {mib(rss['peak_rss'])} MiB (VmHWM; ru_maxrss "
        f"{mib(rss['baseline_maxrss'])} before, {mib(rss['maxrss'])} after: on Linux it keeps the high-water mark "
        "of the process that spawned the child across exec, so VmHWM, the same peak for this process's own "
        "memory, is used); "
        f"handle took {float(rss['seconds']):.1f} s against the embedded store (tracemalloc run, no-op endpoint: "
        f"{float(traced['seconds']):.1f} s); "
        "note: API Gateway + Lambda cap bodies at 6 MB, so this size only reaches the local server"
    )
    return section


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="child process of the memory benchmark")
    parser.add_argument("url")
    parser.add_argument("body")
    parser.add_argument("mode", choices=("rss", "tracemalloc"))
    parser.add_argument("out")
    args = parser.parse_args()
    _child(args.url, args.body, args.mode, args.out)
