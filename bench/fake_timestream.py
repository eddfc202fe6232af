"""A fast fake Timestream write endpoint in a process of its own: ``python -m bench.fake_timestream``.

One asyncio thread, HTTP/1.1 keep-alive, no framework: it reads a request's head and body, answers
``WriteRecords`` with ``RecordsIngested`` = the number of records in the body (parsed as JSON, so
a malformed body is seen) and ``DescribeEndpoints`` with its own address, and counts both. Cheap
enough to sit beside the connector on two cores: it only parses the JSON it receives.

Control (same port): ``GET /__stats`` answers the counts and this process' CPU seconds as JSON,
``POST /__reset`` zeroes the counts. The first line on stdout is ``{"port": P}``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

WRITE_TARGET = "Timestream_20181101.WriteRecords"
DESCRIBE_TARGET = "Timestream_20181101.DescribeEndpoints"
_MAX_HEAD = 64 * 1024


class Counts:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.write_calls = 0
        self.records = 0
        self.describe_calls = 0
        self.bad_requests = 0
        self.connections = 0

    def as_dict(self) -> dict[str, Any]:
        return {**vars(self), "cpu_seconds": time.process_time()}


def _answer(status: str, payload: bytes, content_type: str = "application/x-amz-json-1.0") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(payload)}\r\n\r\n"
    return head.encode("ascii") + payload


def _error(kind: str, message: str) -> bytes:
    return _answer("400 Bad Request", json.dumps({"__type": kind, "message": message}).encode())


class _Connection(asyncio.Protocol):
    def __init__(self, counts: Counts, port: int) -> None:
        self.counts = counts
        self.port = port
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.counts.connections += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > _MAX_HEAD:
                    self.transport.close()
                return
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            total = end + 4 + int(headers.get("content-length") or 0)
            if len(self.buffer) < total:
                return
            body = bytes(self.buffer[end + 4 : total])
            del self.buffer[:total]
            self.transport.write(self.respond(lines[0], headers.get("x-amz-target", ""), body))

    def respond(self, request_line: str, target: str, body: bytes) -> bytes:
        counts = self.counts
        if target == WRITE_TARGET:
            try:
                records = len(json.loads(body)["Records"])
            except (ValueError, KeyError, TypeError) as exc:
                counts.bad_requests += 1
                return _error("ValidationException", f"unreadable WriteRecords body: {exc}")
            counts.write_calls += 1
            counts.records += records
            ingested = {"RecordsIngested": {"Total": records, "MemoryStore": records, "MagneticStore": 0}}
            return _answer("200 OK", json.dumps(ingested).encode())
        if target == DESCRIBE_TARGET:
            counts.describe_calls += 1
            endpoint = {"Endpoints": [{"Address": f"127.0.0.1:{self.port}", "CachePeriodInMinutes": 1440}]}
            return _answer("200 OK", json.dumps(endpoint).encode())
        path = request_line.split(" ")[1] if request_line.count(" ") >= 2 else ""
        if path == "/__stats":
            return _answer("200 OK", json.dumps(counts.as_dict()).encode(), "application/json")
        if path == "/__reset":
            counts.reset()
            return _answer("200 OK", b"{}", "application/json")
        counts.bad_requests += 1
        return _error("UnknownOperationException", f"not served here: {target or request_line}")

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    counts = Counts()
    ports: list[int] = []
    server = await loop.create_server(
        lambda: _Connection(counts, ports[0]), "127.0.0.1", 0, backlog=128, reuse_address=True
    )
    ports.append(server.sockets[0].getsockname()[1])
    print(json.dumps({"port": ports[0]}), flush=True)
    # Ends when the parent closes our stdin (or dies).
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


if __name__ == "__main__":
    asyncio.run(_serve())
