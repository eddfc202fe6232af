"""One keep-alive HTTP/1.1 connection that sends a whole request in one write and frames its answer with llhttp.

``http.client`` cost ~110 µs of CPU per WriteRecords exchange here: headers validated and sent one
by one, a buffered reader, and the answer's headers parsed into ``email`` message objects. A call
here is one prebuilt body with a handful of headers, so the exchange is one ``sendall`` and the
answer is read into a buffer and framed by llhttp (``httptools``, the parser uvicorn uses):
Content-Length and chunked answers, keep-alive as the server states it. ~40 µs a call.
"""

from __future__ import annotations

import socket
import ssl
from typing import NamedTuple

import httptools

# An answer to WriteRecords is a few hundred bytes; anything near this is not Timestream speaking.
MAX_ANSWER_BYTES = 16 * 1024 * 1024
_READ_SIZE = 64 * 1024


class Answer(NamedTuple):
    status: int
    headers: dict[str, str]  # names in lower case; a repeated header's values joined by ", "
    body: bytes


class Broken(Exception):
    """The connection failed before a whole answer arrived; ``answered`` says whether any byte did."""

    def __init__(self, reason: str, answered: bool) -> None:
        super().__init__(reason)
        self.answered = answered


class _Framing:
    """httptools' callbacks: collect one answer's headers and body."""

    __slots__ = ("parser", "headers", "chunks", "size", "keep_alive", "complete")

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.size = 0
        self.keep_alive = False
        self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        previous = self.headers.get(key)
        self.headers[key] = text if previous is None else f"{previous}, {text}"

    def on_headers_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()  # only valid until the message completes

    def on_body(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self.chunks.append(chunk)

    def on_message_complete(self) -> None:
        self.complete = True


class Connection:
    """A connected (TLS when asked) socket; ``exchange`` may be called again while ``reusable``."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = bytearray(_READ_SIZE)
        self.reusable = True

    @classmethod
    def open(
        cls, host: str, port: int, tls: ssl.SSLContext | None, connect_timeout: float, read_timeout: float
    ) -> Connection:
        """Raises ``TimeoutError`` or ``OSError`` as ``socket`` does when no connection is made."""
        sock = socket.create_connection((host, port), timeout=connect_timeout)
        try:
            if tls is not None:
                sock = tls.wrap_socket(sock, server_hostname=host)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            sock.settimeout(read_timeout)
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    def exchange(self, head: bytes, body: bytes) -> Answer:
        """Send ``head`` (request line and headers, blank line included) and ``body``; read the answer.

        Raises ``TimeoutError`` when the server is silent past the read timeout, ``Broken`` when the
        connection fails or the answer is malformed; after either the connection is not reusable.
        """
        framing = _Framing()
        answered = False
        try:
            self._sock.sendall(head + body)
            view = memoryview(self._buffer)
            while not framing.complete:
                count = self._sock.recv_into(self._buffer)
                if not count:
                    raise Broken("connection closed before a whole answer", answered)
                answered = True
                framing.parser.feed_data(view[:count])
                if framing.size > MAX_ANSWER_BYTES:
                    raise Broken(f"answer larger than {MAX_ANSWER_BYTES} bytes", answered)
        except TimeoutError:
            self.close()
            raise
        except httptools.HttpParserError as exc:
            self.close()
            raise Broken(f"malformed answer: {exc}", answered=True) from exc
        except OSError as exc:
            self.close()
            raise Broken(f"connection failed: {exc}", answered) from exc
        except Broken:
            self.close()
            raise
        if not framing.keep_alive:
            self.close()
        return Answer(framing.parser.get_status_code(), framing.headers, b"".join(framing.chunks))

    def close(self) -> None:
        self.reusable = False
        self._sock.close()
