"""HTTP transport: AWS JSON 1.0 requests in, JSON responses out.

Kept apart from the dispatch logic so the same ``Dispatcher`` could sit behind any server.
Admin routes (``/__admin/...``) and API calls (``POST /`` with ``X-Amz-Target``) share one port.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import uuid
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from emulator.payload import Payload, encode

ADMIN_PREFIX = "/__admin/"
AWS_JSON = "application/x-amz-json-1.0"


class Application(Protocol):
    """What the transport needs from the dispatcher."""

    def admin(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]: ...

    def api(self, method: str, target: str, headers: Message, body: bytes) -> tuple[int, Payload]: ...


class Server(ThreadingHTTPServer):
    """A threading HTTP server that knows its application."""

    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 overflows when a client opens dozens of connections at
    # once (the connector keeps 32 writes in flight): Linux then drops the SYN and the client
    # retries only after a 1 s timeout.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: Application) -> None:
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, RequestHandler)

    def process_request(self, request: socket.socket, client_address: tuple[str, int]) -> None:  # type: ignore[override]
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End kept-alive client connections so their handler threads exit (and free the store)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)


class RequestHandler(BaseHTTPRequestHandler):
    """One connection; HTTP/1.1 so boto3 can keep it alive."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: avoid the 40 ms delayed-ACK stall
    server: Server

    def do_POST(self) -> None:
        self._serve("POST")

    def do_GET(self) -> None:
        self._serve("GET")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith(ADMIN_PREFIX):
            self._send(*self.server.app.admin(method, self.path, body), "application/json")
        else:
            self._send(*self.server.app.api(method, self.path, self.headers, body), AWS_JSON)

    def _send(self, status: int, payload: Payload, content_type: str) -> None:
        data = encode(payload)
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            if status >= 300 and isinstance(payload, dict) and "__type" in payload:
                self.send_header("x-amzn-ErrorType", payload["__type"])
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. read timeout during a hang)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and benchmarks send many thousands of requests."""
