"""A WriteRecords endpoint that stores nothing: it waits the injected latency and answers success.

It isolates the connector's concurrency from the embedded store's own per-call work (validation
and DuckDB statements serialized by the store's lock), the way the real service's capacity is not
the bottleneck of one request. It runs in the store's process (``bench.store``), never the connector's.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(self.server.latency_ms / 1000)  # type: ignore[attr-defined]
        target = self.headers.get("X-Amz-Target", "")
        answer: dict[str, Any]
        if target.endswith(".WriteRecords"):
            count = len(json.loads(body).get("Records", ()))
            answer = {"RecordsIngested": {"Total": count, "MemoryStore": count, "MagneticStore": 0}}
        elif target.endswith(".DescribeEndpoints"):
            address = f"127.0.0.1:{self.server.server_address[1]}"  # type: ignore[index]
            answer = {"Endpoints": [{"Address": address, "CachePeriodInMinutes": 1440}]}
        else:
            answer = {}
        payload = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


class NoopEndpoint(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, latency_ms: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.latency_ms = latency_ms
        threading.Thread(target=self.serve_forever, name="noop-endpoint", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"
