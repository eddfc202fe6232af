"""8. The local server's own overhead: keep-alive requests and simultaneous connects.

``ConnectorServer`` on 127.0.0.1 in front of a stub core that answers every request at once with a
short text body (as an error or a small read answer is: headers and body go out in two writes), so
only the server and TCP are measured. Keep-alive: ``requests`` sequential small POSTs (1 KB body)
on one HTTP/1.1 connection (``http.client``), the median and p99 of each request's wall time; with
Nagle's algorithm on, the body's write waits for the client's delayed ACK of the headers (~40 ms).
Connects: ``connects`` threads released at once, each opening a connection and sending one POST;
counted are those whose connect and answer took 1 s or more (a SYN dropped for a full listen
backlog is retried after 1 s). Prometheus opens one connection per shard, all at start.
"""

from __future__ import annotations

import http.client
import statistics
import threading
import time

from bench.common import Row, Section, median
from connector.http import Request, Response
from connector.server import ConnectorServer

TARGET_P50_MS = 5.0
STALL_SECONDS = 1.0


class _StubCore:
    def handle(self, request: Request) -> Response:
        return Response.text(200, "ok: answered by the stub core")


def _keep_alive(host: str, port: int, requests: int) -> list[float]:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    body = b"x" * 1024
    seconds = []
    try:
        for _ in range(requests):
            start = time.perf_counter()
            conn.request("POST", "/write", body=body, headers={"Content-Type": "application/x-protobuf"})
            reply = conn.getresponse()
            reply.read()
            seconds.append(time.perf_counter() - start)
            assert reply.status == 200, reply.status
    finally:
        conn.close()
    return seconds


def _connects(host: str, port: int, connects: int) -> tuple[list[float], int]:
    """Each connect's wall time to its answer, and how many got no answer (reset or timed out)."""
    barrier = threading.Barrier(connects)
    seconds: list[float] = []
    failed = []
    lock = threading.Lock()

    def one() -> None:
        barrier.wait()
        start = time.perf_counter()
        conn = http.client.HTTPConnection(host, port, timeout=30)
        try:
            conn.request("POST", "/write", body=b"x", headers={"Content-Type": "application/x-protobuf"})
            conn.getresponse().read()
        except OSError:
            with lock:
                failed.append(1)
            return
        finally:
            conn.close()
        with lock:
            seconds.append(time.perf_counter() - start)

    threads = [threading.Thread(target=one) for _ in range(connects)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return seconds, len(failed)


def measure(requests: int = 200, connects: int = 32, rounds: int = 3) -> dict[str, float]:
    """The figures of one server, started here: p50/p99 keep-alive ms and the worst round's stalls."""
    server = ConnectorServer(("127.0.0.1", 0), _StubCore())  # type: ignore[arg-type]
    server.start_background()
    host, port = str(server.server_address[0]), int(server.server_address[1])
    try:
        _keep_alive(host, port, 5)  # warm up
        p50s, p99s, stalls, failures, slowest = [], [], [], [], []
        for _ in range(rounds):
            seconds = sorted(_keep_alive(host, port, requests))
            p50s.append(1000 * statistics.median(seconds))
            p99s.append(1000 * seconds[min(len(seconds) - 1, int(0.99 * len(seconds)))])
            connected, failed = _connects(host, port, connects)
            stalls.append(sum(1 for s in connected if s >= STALL_SECONDS) + failed)
            failures.append(failed)
            slowest.append(1000 * max(connected, default=0.0))
    finally:
        server.shutdown()
        server.server_close()
    return {
        "p50_ms": median(p50s),
        "p99_ms": median(p99s),
        "stalls": float(max(stalls)),  # failed connects (reset, no answer) count as stalls
        "failed": float(max(failures)),
        "slowest_connect_ms": max(slowest),
    }


def run(requests: int = 200, connects: int = 32, rounds: int = 3) -> Section:
    figures = measure(requests, connects, rounds)
    rows = [
        Row(
            f"Local server, keep-alive request p50 ({requests} sequential POSTs, one connection)",
            figures["p50_ms"],
            "ms",
            target=f"< {TARGET_P50_MS:.0f} ms",
            passed=figures["p50_ms"] < TARGET_P50_MS,
        ),
        Row(
            f"Local server, {connects} simultaneous connects answered within {STALL_SECONDS:.0f} s (worst round)",
            connects - figures["stalls"],
            "connects",
            target=f"{connects} of {connects} (0 stall >= {STALL_SECONDS:.0f} s)",
            passed=figures["stalls"] == 0,
            note=f"slowest connect {figures['slowest_connect_ms']:.0f} ms",
        ),
    ]
    details = [
        f"keep-alive p50 {figures['p50_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms (median of {rounds} rounds)",
        f"{connects} simultaneous connects: {figures['stalls']:.0f} took >= {STALL_SECONDS:.0f} s in the worst round; "
        f"{figures['failed']:.0f} of them reset or unanswered; slowest answered {figures['slowest_connect_ms']:.0f} ms",
        "before TCP_NODELAY and a backlog of 128 (stdlib defaults patched back; 2 cores, 2026-12-01): "
        "p50 44.0 ms, 24 of 32 connects stalled >= 1 s or were reset (16 reset)",
    ]
    return Section("Local server (connector/server.py)", rows, details)
