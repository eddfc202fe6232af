"""Standalone HTTP server: the same core as the Lambda handler, behind the standard library's server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from connector import metrics
from connector.app import Connector
from connector.config import Settings
from connector.errors import BadRequest, HTTPError, PayloadTooLarge
from connector.http import Headers, Request, Response

# A remote-write batch is a few hundred KB; API Gateway allows 10 MB. Refuse more before reading it.
MAX_WIRE_BODY_BYTES = 10 * 1024 * 1024
# The local server is not bound by Lambda's 6 MB answers: its remote-read answers may be this large
# unless MAX_READ_RESPONSE_BYTES says otherwise (about 30M samples as XOR chunks, 6M as SAMPLES).
SERVER_MAX_READ_RESPONSE_BYTES = 64 * 1024 * 1024
_READ_TIMEOUT_SECONDS = 30
# An oversize body up to this size is read and discarded after its 413, so that the client, still
# sending, is not reset and can read the answer; a larger one is not worth the bandwidth: closed at once.
MAX_DISCARDED_BODY_BYTES = 64 * 1024 * 1024
_DISCARD_CHUNK_BYTES = 256 * 1024


def server_settings(settings: Settings, env: Mapping[str, str]) -> Settings:
    """``settings`` for the local server: its own, larger read answer limit unless one is configured."""
    if env.get("MAX_READ_RESPONSE_BYTES"):
        return settings
    return replace(settings, max_read_response_bytes=SERVER_MAX_READ_RESPONSE_BYTES)


class ConnectorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # Prometheus' shards connect at once: the default 5 makes them wait on SYN retries

    def __init__(self, address: tuple[str, int], connector: Connector) -> None:
        self.connector = connector
        self.metrics = _prometheus_sink()
        metrics.install(self.metrics)
        super().__init__(address, _RequestHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{port}"

    def start_background(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="connector-server", daemon=True)
        thread.start()
        return thread


class _RequestHandler(BaseHTTPRequestHandler):
    server: ConnectorServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else a header-then-body answer waits ~40 ms for a delayed ACK
    timeout = _READ_TIMEOUT_SECONDS

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0].rstrip("/") == "/metrics":
            self._send(_exposition(self.server.metrics, self.headers.get("Accept", "")))
            return
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        """Any other method (OPTIONS, TRACE, FOO) goes to the core too: 405/404, not http.server's 501."""
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _serve(self) -> None:
        body = self._read_body()
        if isinstance(body, HTTPError):  # the body is not read: the core logs and answers the refusal
            unread = Request(self.command, self.path, Headers(self.headers.items()), b"")
            response = self.server.connector.refuse(unread, body)
            self._send(response, close=True)
            if response.status == 413:
                self._discard_body()
            return
        request = Request(self.command, self.path, Headers(self.headers.items()), body)
        self._send(self.server.connector.handle(request))

    def _read_body(self) -> bytes | HTTPError:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return HTTPError("chunked bodies are not supported; send Content-Length", 411)
        raw = self.headers.get("Content-Length", "0")
        try:
            length = int(raw)
        except ValueError:
            return BadRequest(f"invalid Content-Length {raw[:40]!r}")
        if length < 0:
            return BadRequest("invalid negative Content-Length")
        if length > MAX_WIRE_BODY_BYTES:
            return PayloadTooLarge(f"body of {length} bytes exceeds the limit of {MAX_WIRE_BODY_BYTES} bytes")
        return self.rfile.read(length) if length else b""

    def _discard_body(self) -> None:
        """After a 413 (already sent, never parsed): end our side, then read the body the client is
        still sending, and drop it, so that closing does not reset the connection and destroy the
        answer in the client's buffers (it would see ``Broken pipe``, not the 413).

        Bounded by ``MAX_DISCARDED_BODY_BYTES`` (beyond, the connection closes at once, as before),
        by the socket timeout per chunk and by the same timeout overall; stops at the client's EOF.
        """
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            return
        if length > MAX_DISCARDED_BODY_BYTES:
            return
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)  # the client's read of the answer ends here
            deadline = time.monotonic() + _READ_TIMEOUT_SECONDS
            while length > 0 and time.monotonic() < deadline:
                chunk = self.rfile.read1(min(length, _DISCARD_CHUNK_BYTES))  # type: ignore[attr-defined]
                if not chunk:
                    return
                length -= len(chunk)
        except OSError:  # reset or timed out: nothing more to do for this client
            return

    def _send(self, response: Response, close: bool = False) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: object) -> None:
        """Access logs stay off: the core logs every request as JSON already."""


def _prometheus_sink() -> metrics.PrometheusSink | None:
    """The sink behind ``GET /metrics``; None where prometheus_client is not installed."""
    try:
        return metrics.PrometheusSink()
    except ImportError:
        return None


def _exposition(sink: metrics.PrometheusSink | None, accept: str) -> Response:
    if sink is None:
        return Response.text(501, "GET /metrics needs prometheus_client: pip install '.[server]'")
    body, content_type = sink.exposition(accept)
    return Response(200, body, {"Content-Type": content_type})
